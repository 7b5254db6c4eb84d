// Model registry answers typed as the generated schema's, for the pages' tests: a fixture that
// drifts from the API fails the typecheck.
import type { Checkpoint, Lineage, ModelVersion, RegisteredModel } from "../api/models";

export function makeModel(overrides: Partial<RegisteredModel> = {}): RegisteredModel {
  return {
    id: 3,
    team: "demo",
    name: "tiny-lora",
    description: "",
    created_at: new Date(Date.now() - 3600_000).toISOString(),
    versions: 2,
    latest_version: { id: 12, version: 2, stage: "staging" },
    production_version: { id: 11, version: 1, stage: "production" },
    ...overrides,
  };
}

export function makeVersion(overrides: Partial<ModelVersion> = {}): ModelVersion {
  return {
    id: 11,
    model: 3,
    model_name: "tiny-lora",
    team: "demo",
    version: 1,
    checkpoint: 5,
    checkpoint_step: 100,
    uri: "file:///data/teams/demo/jobs/7/step-00000100/",
    base_model: { version: null, name: "tiny-llama v1", uri: "file:///models/tiny-llama" },
    job: 7,
    metrics: { loss: 1.23 },
    description: "",
    stage: "production",
    promoted_by: "alice",
    promoted_at: new Date(Date.now() - 600_000).toISOString(),
    created_by: "alice",
    created_at: new Date(Date.now() - 1800_000).toISOString(),
    ...overrides,
  };
}

export function makeCheckpoint(overrides: Partial<Checkpoint> = {}): Checkpoint {
  const created = new Date(Date.now() - 2400_000).toISOString();
  return {
    id: 5,
    job: 7,
    job_name: "tune-tiny",
    team: "demo",
    attempt: "4f1c0a3e-0000-4000-8000-000000000002",
    attempt_number: 2,
    step: 100,
    uri: "file:///data/teams/demo/jobs/7/step-00000100/",
    state: "complete",
    bytes: 2048,
    file_count: 3,
    sha256: "",
    metrics: { loss: 1.23 },
    final: true,
    created_at: created,
    completed_at: created,
    deleted_at: null,
    deletion_reason: "",
    retained_because: "registered as a model version",
    model_versions: [11],
    ...overrides,
  };
}

export function makeLineage(overrides: Partial<Lineage> = {}): Lineage {
  return {
    version: makeVersion(),
    checkpoint: makeCheckpoint(),
    attempt: { id: "4f1c0a3e-0000-4000-8000-000000000002", number: 2, state: "succeeded", resume_step: null },
    job: { id: 7, name: "tune-tiny", kind: "fine_tuning", state: "succeeded", team: "demo" },
    base_model: { version: null, uri: "file:///models/tiny-llama" },
    derived_jobs: [],
    endpoints: [],
    ...overrides,
  };
}
