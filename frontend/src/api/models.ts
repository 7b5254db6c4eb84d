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
export type BulkCancelOutcome = Schemas["BulkCancelOutcome"];
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
export type SubmittableKind = JobCreateRequest["kind"];
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
export type PlacementShare = Schemas["PlacementShare"];
export type NodeAttempt = Schemas["NodeAttempt"];
export type NodeJobsQuery = NonNullable<operations["nodes_jobs_list"]["parameters"]["query"]>;

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

// Checkpoints, job metrics, the model registry and job templates (issue 11).
export type Checkpoint = Schemas["Checkpoint"];
export type CheckpointState = Checkpoint["state"];
/** A job's rule for which checkpoints to keep, as it asked for it; a key left out takes the team's default. */
export type CheckpointPolicy = Schemas["CheckpointPolicy"];
export type JobMetrics = Schemas["JobMetrics"];
/** One metric's points as [step, value], steps ascending. */
export type MetricSeries = Schemas["MetricSeries"];
export type RegisteredModel = Schemas["Model"];
export type VersionRef = Schemas["VersionRef"];
export type ModelVersion = Schemas["ModelVersion"];
export type ModelStage = ModelVersion["stage"];
/** The stages a version can be promoted to (archiving has its own call). */
export type PromotionStage = Schemas["StageRequest"]["stage"];
export type Lineage = Schemas["Lineage"];
export type JobTemplate = Schemas["Template"];
export type TemplateParameter = Schemas["Parameter"];
export type TemplateSubmitRequest = Schemas["TemplateSubmitRequest"];
/** The plan call takes the same body as the submit. */
export type TemplatePlanRequest = TemplateSubmitRequest;
