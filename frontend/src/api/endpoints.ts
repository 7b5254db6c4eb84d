// Every call the dashboard makes. Pages use these through the hooks in ./queries.ts.
import { ApiError, client, unwrap } from "./client";
import type {
  ApiTokenCreateRequest,
  PromotionStage,
  TemplatePlanRequest,
  TemplateSubmitRequest,
  JobCreateRequest,
  JobKind,
  JobListQuery,
  JobState,
  Me,
  NodeJobsQuery,
  NodeListQuery,
  PlanSpec,
  QueueListQuery,
  QuotaChanges,
} from "./models";

/** Selects list every team and cluster on one page. */
const ALL = 500;
/** Rows per page of the inventory's tables (nodes of a cluster, storage, fabrics). */
export const INVENTORY_PAGE_SIZE = 25;
/** Pending jobs per page of the queue. */
export const QUEUE_PAGE_SIZE = 50;
/** Models per page of the registry. */
export const MODELS_PAGE_SIZE = 25;
/** Points per series the training chart asks for (the server downsamples to this). */
export const METRICS_MAX_POINTS = 500;

export interface JobFilters {
  state?: string;
  kind?: string;
  team?: string;
  cluster?: string;
  /** Part of the name, or the start of the id. */
  search?: string;
  /** Only the caller's own jobs. */
  mine?: boolean;
  /** DRF's ordering: "created_at", "-cost", … */
  ordering?: string;
  page?: number;
  page_size?: number;
}

function jobListQuery(filters: JobFilters): JobListQuery {
  const query: JobListQuery = {};
  if (filters.state) query.state = [filters.state as JobState];
  if (filters.kind) query.kind = filters.kind as JobKind;
  if (filters.team) query.team = filters.team;
  if (filters.cluster) query.cluster = filters.cluster;
  if (filters.search) query.search = filters.search;
  if (filters.mine) query.mine = "true";
  if (filters.ordering) query.ordering = filters.ordering;
  if (filters.page) query.page = filters.page;
  if (filters.page_size) query.page_size = filters.page_size;
  return query;
}

export const api = {
  csrf: () => unwrap(client.GET("/api/v1/auth/csrf/")),

  login: (username: string, password: string) =>
    unwrap(client.POST("/api/v1/auth/login/", { body: { username, password } })),

  logout: () => unwrap(client.POST("/api/v1/auth/logout/")),

  /** The signed-in user, or null when the session is anonymous. */
  me: async (): Promise<Me | null> => {
    try {
      return await unwrap(client.GET("/api/v1/auth/me/"));
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return null;
      throw error;
    }
  },

  teams: async () =>
    (await unwrap(client.GET("/api/v1/teams/", { params: { query: { page_size: ALL } } }))).results,

  clusters: async () =>
    (await unwrap(client.GET("/api/v1/clusters/", { params: { query: { page_size: ALL } } }))).results,

  jobs: (filters: JobFilters) => unwrap(client.GET("/api/v1/jobs/", { params: { query: jobListQuery(filters) } })),

  job: (id: number) => unwrap(client.GET("/api/v1/jobs/{id}/", { params: { path: { id } } })),

  createJob: (body: JobCreateRequest, idempotencyKey?: string) =>
    unwrap(
      client.POST("/api/v1/jobs/", {
        body,
        params: { header: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {} },
      }),
    ),

  cancelJob: (id: number) => unwrap(client.POST("/api/v1/jobs/{id}/cancel/", { params: { path: { id } } })),

  /** Cancels several jobs; each id comes back with its own outcome. */
  cancelJobs: (ids: number[]) => unwrap(client.POST("/api/v1/jobs/cancel/", { body: { ids } })),

  jobLogs: (id: number, offset: number, attempt?: number) =>
    unwrap(
      client.GET("/api/v1/jobs/{id}/logs/", {
        params: { path: { id }, query: attempt === undefined ? { offset } : { offset, attempt } },
      }),
    ),

  /** The whole stored log of a job's attempt (the latest when omitted), as a file download. */
  jobLogDownloadUrl: (id: number, attempt?: number) =>
    `/api/v1/jobs/${id}/logs/download/${attempt === undefined ? "" : `?attempt=${attempt}`}`,

  tokens: (page: number) => unwrap(client.GET("/api/v1/tokens/", { params: { query: { page } } })),

  createToken: (body: ApiTokenCreateRequest) => unwrap(client.POST("/api/v1/tokens/", { body })),

  revokeToken: (id: number) =>
    unwrap(client.POST("/api/v1/tokens/{id}/revoke/", { params: { path: { id } } })),

  nodes: (query: NodeListQuery) => unwrap(client.GET("/api/v1/nodes/", { params: { query } })),

  node: (id: number) => unwrap(client.GET("/api/v1/nodes/{id}/", { params: { path: { id } } })),

  /** The caller's teams' attempts on a node: those on it now first, then the finished ones. */
  nodeJobs: (node: number, query: NodeJobsQuery) =>
    unwrap(client.GET("/api/v1/nodes/{node_id}/jobs/", { params: { path: { node_id: node }, query } })),

  /** Every GPU of one node (a node has a handful; ALL is far above any). */
  nodeAccelerators: async (node: number) =>
    (await unwrap(client.GET("/api/v1/accelerators/", { params: { query: { node, page_size: ALL } } }))).results,

  acceleratorSummary: (cluster?: string) =>
    unwrap(client.GET("/api/v1/accelerators/summary/", { params: { query: cluster ? { cluster } : {} } })),

  storageBackends: (page: number) =>
    unwrap(client.GET("/api/v1/storage-backends/", { params: { query: { page, page_size: INVENTORY_PAGE_SIZE } } })),

  networkFabrics: (page: number) =>
    unwrap(client.GET("/api/v1/network-fabrics/", { params: { query: { page, page_size: INVENTORY_PAGE_SIZE } } })),

  /** Known models, pools and accelerators, and the modes and precisions the planner takes. */
  plannerOptions: () => unwrap(client.GET("/api/v1/planner/options/")),

  planEstimate: (spec: PlanSpec) => unwrap(client.POST("/api/v1/planner/estimate/", { body: spec })),

  /** The caller's teams' pending jobs in queue order (priority, then age), with why each waits. */
  queue: (query: QueueListQuery) => unwrap(client.GET("/api/v1/queue/", { params: { query } })),

  /** Every pool of the caller's organisations' clusters, with capacity and use now. */
  pools: async () =>
    (await unwrap(client.GET("/api/v1/pools/", { params: { query: { page_size: ALL } } }))).results,

  /** The quotas of the caller's organisations' teams (ordered by pool, then team), with use now. */
  quotas: () => unwrap(client.GET("/api/v1/quotas/", { params: { query: { page_size: ALL } } })),

  updateQuota: (id: number, changes: QuotaChanges) =>
    unwrap(client.PATCH("/api/v1/quotas/{id}/", { params: { path: { id } }, body: changes })),

  /** The cohorts of the caller's organisations: members, switches and fair sharing. */
  cohorts: async () =>
    (await unwrap(client.GET("/api/v1/cohorts/", { params: { query: { page_size: ALL } } }))).results,

  /** Teams' own preemption policies (Kueue's ClusterQueue preemption), by team. */
  teamPolicies: async () =>
    (await unwrap(client.GET("/api/v1/team-policies/", { params: { query: { page_size: ALL } } }))).results,

  /** The priority classes of the caller's organisations, highest first. */
  priorityClasses: async () =>
    (await unwrap(client.GET("/api/v1/priority-classes/", { params: { query: { page_size: ALL } } }))).results,
  /** A job's metrics, one series per name, downsampled by the server to `maxPoints` each. */
  jobMetrics: (job: number, maxPoints = METRICS_MAX_POINTS) =>
    unwrap(client.GET("/api/v1/job-metrics/", { params: { query: { job, max_points: maxPoints } } })),

  /** Every checkpoint of one job (kept and deleted), on one page. */
  jobCheckpoints: async (job: number) =>
    (await unwrap(client.GET("/api/v1/checkpoints/", { params: { query: { job, page_size: ALL } } }))).results,

  models: (page: number) =>
    unwrap(client.GET("/api/v1/models/", { params: { query: { page, page_size: MODELS_PAGE_SIZE } } })),

  model: (id: number) => unwrap(client.GET("/api/v1/models/{id}/", { params: { path: { id } } })),

  /** Every version of one model, on one page. */
  modelVersions: async (model: number) =>
    (await unwrap(client.GET("/api/v1/model-versions/", { params: { query: { model, page_size: ALL } } }))).results,

  modelVersion: (id: number) => unwrap(client.GET("/api/v1/model-versions/{id}/", { params: { path: { id } } })),

  promoteVersion: (id: number, stage: PromotionStage) =>
    unwrap(client.POST("/api/v1/model-versions/{id}/promote/", { params: { path: { id } }, body: { stage } })),

  archiveVersion: (id: number) =>
    unwrap(client.POST("/api/v1/model-versions/{id}/archive/", { params: { path: { id } } })),

  versionLineage: (id: number) =>
    unwrap(client.GET("/api/v1/model-versions/{id}/lineage/", { params: { path: { id } } })),

  jobTemplates: () => unwrap(client.GET("/api/v1/job-templates/")),

  /** The planner's estimate for a template's job (the same answer as the planner's estimate). */
  planTemplate: (slug: string, body: TemplatePlanRequest) =>
    unwrap(client.POST("/api/v1/job-templates/{slug}/plan/", { params: { path: { slug } }, body })),

  submitTemplate: (slug: string, body: TemplateSubmitRequest, idempotencyKey?: string) =>
    unwrap(
      client.POST("/api/v1/job-templates/{slug}/submit/", {
        params: { path: { slug }, header: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {} },
        body,
      }),
    ),
};
