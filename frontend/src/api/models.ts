// Names for the generated schema's types, so pages do not spell out components["schemas"].
// Enums are reached through the fields that use them (Job["state"]), not by their component
// names, which drf-spectacular derives and may rename.
import type { components, operations } from "./generated/schema";

type Schemas = components["schemas"];

export type Me = Schemas["Me"];
export type Team = Schemas["Team"];
export type Cluster = Schemas["Cluster"];
export type Job = Schemas["Job"];
export type JobDetail = Schemas["JobDetail"];
export type Attempt = Schemas["Attempt"];
export type JobEvent = Schemas["JobEvent"];
export type JobLog = Schemas["JobLog"];
export type JobCreateRequest = Schemas["JobCreateRequest"];
export type RuntimeEnv = NonNullable<JobCreateRequest["runtime_env"]>;
export type Resources = Schemas["ResourcesRead"];
export type ApiToken = Schemas["ApiToken"];
export type IssuedToken = Schemas["IssuedToken"];
export type ApiTokenCreateRequest = Schemas["ApiTokenCreateRequest"];
export type PaginatedJobList = Schemas["PaginatedJobList"];
export type PaginatedApiTokenList = Schemas["PaginatedApiTokenList"];

export type JobState = Job["state"];
export type JobKind = Job["kind"];
export type TokenScope = ApiToken["scope"];

export type JobListQuery = NonNullable<operations["jobs_list"]["parameters"]["query"]>;

export type Node = Schemas["Node"];
export type NodeState = Node["state"];
export type InterconnectDomain = Schemas["InterconnectDomain"];
export type Accelerator = Schemas["Accelerator"];
export type AcceleratorState = Accelerator["state"];
export type AcceleratorSummary = Schemas["AcceleratorSummary"];
export type AcceleratorModelSummary = Schemas["AcceleratorModelSummary"];
export type NetworkFabric = Schemas["NetworkFabric"];
export type StorageBackend = Schemas["StorageBackend"];
export type NodeListQuery = NonNullable<operations["nodes_list"]["parameters"]["query"]>;

export type PlanSpec = Schemas["PlanSpecRequest"];
export type PlanModel = Schemas["ModelInputRequest"];
export type PlanArchitecture = Schemas["ArchitectureRequest"];
export type PlanWorkload = Schemas["WorkloadRequest"];
export type PlanMode = PlanWorkload["mode"];
export type PlanHardware = Schemas["HardwareInputRequest"];
export type Estimate = Schemas["Estimate"];
export type Breakdown = Schemas["Breakdown"];
export type Recommendation = Schemas["Recommendation"];
export type PlannerOptions = Schemas["PlannerOptions"];
export type PlannerPool = Schemas["Pool"];
export type KnownModel = Schemas["KnownModel"];
export type JobPlan = Schemas["JobPlan"];

export type QueueEntry = Schemas["QueueEntry"];
export type PaginatedQueueEntryList = Schemas["PaginatedQueueEntryList"];
export type QueueListQuery = NonNullable<operations["queue_list"]["parameters"]["query"]>;
export type Quota = Schemas["Quota"];
export type QuotaChanges = Schemas["PatchedQuotaRequest"];
export type SchedulingPool = Schemas["SchedulingPool"];
export type PriorityClass = Schemas["PriorityClass"];
export type Cohort = Schemas["Cohort"];
export type TeamPolicy = Schemas["TeamPolicy"];

// --- Issue 11, written by hand from its API contract until the generated schema has them ------
// (checkpoints, job metrics, the model registry, job templates). Replace each with its
// Schemas[...] name once `npm run gen:api` produces it.

/** A job's rule for which checkpoints to keep, as it asked for it; a key left out takes the team's default. */
export interface CheckpointPolicy {
  keep_latest?: number | null;
  keep_best?: number | null;
  best_metric?: string;
  best_mode?: "min" | "max";
}

/** The fields issue 11 adds to an attempt: why it failed, and where it resumed from. */
export interface AttemptResume {
  failure_evidence?: string;
  resume_step?: number | null;
  resume_uri?: string;
}

/** The fields issue 11 adds to a job; optional, so a server without them still renders. */
export interface JobCheckpointing {
  checkpoint_policy?: CheckpointPolicy | null;
  retry_on_error?: boolean;
}

export type CheckpointState = "writing" | "complete" | "deleted";

export interface Checkpoint {
  id: number;
  job: number;
  job_name: string;
  team: string;
  attempt: string | null;
  attempt_number: number | null;
  step: number;
  uri: string;
  state: CheckpointState;
  bytes: number | null;
  file_count: number | null;
  /** In the contract, not in the serializer in progress: unused here. */
  sha256?: string;
  metrics: Record<string, number>;
  final: boolean;
  created_at: string;
  completed_at: string | null;
  deleted_at: string | null;
  deletion_reason: string;
  retained_because: string;
  model_versions: number[];
}

export interface Paginated<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export interface MetricSeries {
  name: string;
  /** [step, value], steps ascending. */
  points: [number, number][];
  downsampled: boolean;
  /** Raw points before downsampling. */
  count: number;
}

export interface JobMetrics {
  job: number;
  series: MetricSeries[];
}

export type ModelStage = "none" | "staging" | "production" | "archived";

export interface RegisteredModel {
  id: number;
  team: string;
  name: string;
  description: string;
  created_at: string;
  versions: number;
  latest_version: { id: number; version: number; stage: ModelStage } | null;
  production_version: number | null;
}

export interface ModelVersion {
  id: number;
  model: number;
  model_name: string;
  team: string;
  version: number;
  checkpoint: number | null;
  /** The source checkpoint's step (null: registered from a URI). */
  checkpoint_step?: number | null;
  uri: string;
  base_model: { version: number | null; name: string; uri: string };
  job: number | null;
  metrics: Record<string, number>;
  description?: string;
  stage: ModelStage;
  promoted_by: string | null;
  promoted_at: string | null;
  created_by: string | null;
  created_at: string;
}

export interface Lineage {
  version: ModelVersion;
  checkpoint: Checkpoint | null;
  attempt: { id: string; number: number; state: string; resume_step?: number | null } | null;
  job: { id: number; name: string; kind: string; state: string; team?: string } | null;
  base_model: { version: ModelVersion | null; uri: string };
  derived_jobs: { id: number; name: string; state: string }[];
  /** Not served yet by anything: the contract leaves the items' shape open. */
  endpoints: { id: number | string; name?: string; state?: string }[];
}

export interface TemplateParameter {
  name: string;
  /** "integer", "number" or "string" (anything else is edited as text). */
  type: string;
  default: unknown;
  help: string;
  required: boolean;
  minimum?: number | null;
  maximum?: number | null;
}

export interface JobTemplate {
  id: string;
  slug: string;
  kind: string;
  title: string;
  description?: string;
  parameters: TemplateParameter[];
}

export interface TemplateResources {
  cpus?: number;
  gpus?: number;
  accelerator_model?: string;
  memory_gb?: number;
}

export interface TemplatePlanRequest {
  team: string;
  resources?: TemplateResources;
  parameters: Record<string, unknown>;
}

export interface TemplateSubmitRequest extends TemplatePlanRequest {
  cluster?: string;
  name?: string;
  priority_class?: string;
  max_retries?: number;
  checkpoint_policy?: CheckpointPolicy;
}
