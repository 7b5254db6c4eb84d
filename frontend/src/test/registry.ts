// Model registry answers shaped like the API's (issue 11's contract), for the pages' tests.

export function makeModel(overrides: Record<string, unknown> = {}) {
  return {
    id: 3,
    team: "demo",
    name: "tiny-lora",
    description: "",
    created_at: new Date(Date.now() - 3600_000).toISOString(),
    versions: 2,
    latest_version: { id: 12, version: 2, stage: "staging" },
    production_version: 11,
    ...overrides,
  };
}

export function makeVersion(overrides: Record<string, unknown> = {}) {
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
    stage: "production",
    promoted_by: "alice",
    promoted_at: new Date(Date.now() - 600_000).toISOString(),
    created_by: "alice",
    created_at: new Date(Date.now() - 1800_000).toISOString(),
    ...overrides,
  };
}

export function makeLineage(overrides: Record<string, unknown> = {}) {
  return {
    version: makeVersion(),
    checkpoint: { id: 5, step: 100, uri: "file:///data/teams/demo/jobs/7/step-00000100/", state: "complete" },
    attempt: { id: "4f1c0a3e-0000-4000-8000-000000000002", number: 2, state: "succeeded" },
    job: { id: 7, name: "tune-tiny", kind: "fine_tuning", state: "succeeded" },
    base_model: { version: null, uri: "file:///models/tiny-llama" },
    derived_jobs: [],
    endpoints: [],
    ...overrides,
  };
}
