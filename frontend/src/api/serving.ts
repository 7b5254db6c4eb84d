// Serving endpoints (issue 12): the API's shapes, typed by hand from the contract until the
// generated schema has them, with their calls and TanStack Query hooks. When gen:api knows
// /api/v1/endpoints/, replace these types with names for the generated ones (as ./models.ts
// does) and move the calls to the typed client.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { isChanging } from "../lib/endpointState";
import { ApiError, client, pendingClient, postForStream, unwrap } from "./client";
import type { ModelVersion } from "./models";

// --- Shapes -------------------------------------------------------------------------------

export type EndpointState = "pending" | "deploying" | "ready" | "degraded" | "failed" | "stopped";
export type EndpointRuntime = "ray-serve" | "vllm";
export type RevisionState = "pending" | "deploying" | "ready" | "failed" | "retired";

/** What an endpoint (or one revision) serves: a registered version, or a path and entry point. */
export interface EndpointSource {
  model_version: number | null;
  /** The registered model's name; "" when served from a path. */
  model: string;
  version: number | null;
  checkpoint: number | null;
  /** The job that produced the checkpoint. */
  job: number | null;
  uri: string;
  entry_point: string;
}

/** Per replica. */
export interface EndpointResources {
  cpus: number;
  gpus: number;
  accelerator_model: string;
  memory_gb: number;
}

export interface EndpointReplicas {
  min: number;
  max: number;
  running: number;
  target_ongoing_requests: number;
  scale_to_zero: boolean;
}

/** One revision's share of the requests. */
export interface TrafficShare {
  revision: number;
  number: number;
  percent: number;
  state: RevisionState;
}

export interface MetricsPoint {
  at: string;
  requests_per_s: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  /** A fraction of requests, 0 to 1. */
  error_rate: number;
  tokens_per_s: number;
  replicas: number;
}

/** Money as decimal strings in `currency`; null where there is no price (then `note` says why). */
export interface EndpointCost {
  currency: string;
  so_far: string;
  per_1k_requests: string | null;
  per_1k_tokens: string | null;
  price_per_replica_hour: string | null;
  replica_hours: number;
  priced: boolean;
  note: string;
}

export interface Endpoint {
  id: number;
  team: string;
  name: string;
  cluster: string;
  runtime: EndpointRuntime;
  state: EndpointState;
  state_reason: string;
  /** "" until first deployed. */
  url: string;
  openai_base_url: string;
  /** What clients pass as `model`. */
  model_name: string;
  source: EndpointSource;
  resources: EndpointResources;
  replicas: EndpointReplicas;
  /** What its deployment job holds in quota now. */
  gpus_held: number;
  cpus_held: number;
  /** The deployment job (kind "deployment"). */
  job: number | null;
  job_state: string;
  priority_class: string;
  traffic: TrafficShare[];
  latest: MetricsPoint | null;
  cost: EndpointCost;
  created_by: string;
  created_at: string;
  updated_at: string;
}

export interface EndpointRevision {
  id: number;
  number: number;
  state: RevisionState;
  traffic_percent: number;
  source: EndpointSource;
  config: Record<string, unknown>;
  message: string;
  created_by: string;
  created_at: string;
  ready_at: string | null;
  retired_at: string | null;
}

export interface EndpointToken {
  id: number;
  name: string;
  prefix: string;
  created_by: string;
  created_at: string;
  revoked_at: string | null;
}

/** A token as it is issued: the secret is in this answer only. */
export interface IssuedEndpointToken {
  id: number;
  name: string;
  prefix: string;
  token: string;
}

export interface EndpointEvent {
  id: number;
  kind: string;
  message: string;
  created_at: string;
}

export interface EndpointMetrics {
  points: MetricsPoint[];
  totals: { requests: number; errors: number; tokens: number };
}

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

/** Either `model_version`, or `model_uri` (and optionally `entry_point`). */
export interface ModelSourceRequest {
  model_version?: number;
  model_uri?: string;
  entry_point?: string;
}

export interface EndpointCreateRequest extends ModelSourceRequest {
  team: string;
  name: string;
  cluster?: string;
  runtime?: EndpointRuntime;
  config?: Record<string, unknown>;
  cpus: number;
  gpus: number;
  accelerator_model: string;
  memory_gb: number;
  min_replicas: number;
  max_replicas: number;
  target_ongoing_requests: number;
  scale_to_zero: boolean;
  priority_class?: string;
}

export type CreatedEndpoint = Endpoint & { token: IssuedEndpointToken };

export interface EndpointChanges {
  min_replicas?: number;
  max_replicas?: number;
  target_ongoing_requests?: number;
  scale_to_zero?: boolean;
}

export interface RevisionCreateRequest extends ModelSourceRequest {
  config?: Record<string, unknown>;
  /** 1 to 100; under 100 is a canary beside the serving revision. */
  traffic_percent?: number;
}

export interface EndpointFilters {
  team?: string;
  state?: string;
  cluster?: string;
  page?: number;
}

// --- Calls --------------------------------------------------------------------------------

export const ENDPOINTS_PAGE_SIZE = 25;
/** Revisions, events and tokens per page of an endpoint's tables. */
export const ENDPOINT_TABLE_PAGE_SIZE = 20;
/** Selects list every choice on one page. */
const ALL = 500;

/** An endpoint's page asks this often while it is pending, deploying or degraded… */
export const ENDPOINT_CHANGING_REFRESH_MS = 2000;
/** …and this often otherwise: a ready endpoint's traffic, replicas and cost still move. */
export const ENDPOINT_REFRESH_MS = 10_000;

type Call = Promise<{ data?: unknown; error?: unknown; response: Response }>;

/** A call through pendingClient, typed by hand (above) until the schema has it. */
function pending<T>(call: Call): Promise<T> {
  return unwrap(call) as Promise<T>;
}

const path = (id: number) => ({ params: { path: { id } } });

export const servingApi = {
  endpoints: (filters: EndpointFilters) => {
    const query: Record<string, string | number> = { page_size: ENDPOINTS_PAGE_SIZE };
    for (const [key, value] of Object.entries(filters)) if (value) query[key] = value;
    return pending<Page<Endpoint>>(pendingClient.GET("/api/v1/endpoints/", { params: { query } }));
  },

  endpoint: (id: number) => pending<Endpoint>(pendingClient.GET("/api/v1/endpoints/{id}/", path(id))),

  create: (body: EndpointCreateRequest, idempotencyKey?: string) =>
    pending<CreatedEndpoint>(
      pendingClient.POST("/api/v1/endpoints/", {
        body,
        params: { header: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {} },
      }),
    ),

  update: (id: number, changes: EndpointChanges) =>
    pending<Endpoint>(pendingClient.PATCH("/api/v1/endpoints/{id}/", { ...path(id), body: changes })),

  stop: (id: number) => pending<Endpoint>(pendingClient.POST("/api/v1/endpoints/{id}/stop/", path(id))),

  start: (id: number) => pending<Endpoint>(pendingClient.POST("/api/v1/endpoints/{id}/start/", path(id))),

  remove: (id: number) => pending<void>(pendingClient.DELETE("/api/v1/endpoints/{id}/", path(id))),

  revisions: (id: number, page: number) =>
    pending<Page<EndpointRevision>>(
      pendingClient.GET("/api/v1/endpoints/{id}/revisions/", {
        params: { path: { id }, query: { page, page_size: ENDPOINT_TABLE_PAGE_SIZE } },
      }),
    ),

  createRevision: (id: number, body: RevisionCreateRequest) =>
    pending<EndpointRevision>(pendingClient.POST("/api/v1/endpoints/{id}/revisions/", { ...path(id), body })),

  promoteRevision: (id: number, revision: number) =>
    pending<EndpointRevision>(
      pendingClient.POST("/api/v1/endpoints/{id}/revisions/{rev}/promote/", { params: { path: { id, rev: revision } } }),
    ),

  rollback: (id: number) => pending<Endpoint>(pendingClient.POST("/api/v1/endpoints/{id}/rollback/", path(id))),

  /** The endpoint's measurements between `from` and `to`, oldest first. */
  metrics: (id: number, from: Date, to: Date) =>
    pending<EndpointMetrics>(
      pendingClient.GET("/api/v1/endpoints/{id}/metrics/", {
        params: { path: { id }, query: { from: from.toISOString(), to: to.toISOString() } },
      }),
    ),

  /** Newest first. */
  events: (id: number, page: number) =>
    pending<Page<EndpointEvent>>(
      pendingClient.GET("/api/v1/endpoints/{id}/events/", {
        params: { path: { id }, query: { page, page_size: ENDPOINT_TABLE_PAGE_SIZE } },
      }),
    ),

  tokens: (id: number, page: number) =>
    pending<Page<EndpointToken>>(
      pendingClient.GET("/api/v1/endpoints/{id}/tokens/", {
        params: { path: { id }, query: { page, page_size: ENDPOINT_TABLE_PAGE_SIZE } },
      }),
    ),

  createToken: (id: number, name: string) =>
    pending<EndpointToken & IssuedEndpointToken>(
      pendingClient.POST("/api/v1/endpoints/{id}/tokens/", { ...path(id), body: { name } }),
    ),

  revokeToken: (id: number, token: number) =>
    pending<EndpointToken>(
      pendingClient.POST("/api/v1/endpoints/{id}/tokens/{tid}/revoke/", { params: { path: { id, tid: token } } }),
    ),

  /**
   * Sends a prompt to the endpoint through Paddock (the dashboard holds no endpoint token) and
   * returns the OpenAI streaming chunks as they come; 409 when it is not ready.
   */
  tryIt: (id: number, body: { prompt: string; max_tokens: number }, signal?: AbortSignal) =>
    postForStream(`/api/v1/endpoints/${id}/try/`, body, signal),

  /** A team's registered model versions, newest first, on one page (the form's choices). */
  teamVersions: async (team: string): Promise<ModelVersion[]> =>
    (await unwrap(client.GET("/api/v1/model-versions/", { params: { query: { team, page_size: ALL } } }))).results,
};

// --- Queries ------------------------------------------------------------------------------

export const servingKeys = {
  endpoints: (filters: EndpointFilters) => ["endpoints", filters] as const,
  /** Everything of one endpoint starts with this key, so invalidating it refreshes the page. */
  endpoint: (id: number) => ["endpoint", id] as const,
  revisions: (id: number, page: number) => ["endpoint", id, "revisions", page] as const,
  events: (id: number, page: number) => ["endpoint", id, "events", page] as const,
  tokens: (id: number, page: number) => ["endpoint", id, "tokens", page] as const,
  metrics: (id: number, windowMinutes: number) => ["endpoint", id, "metrics", windowMinutes] as const,
  teamVersions: (team: string) => ["model-versions", { team }] as const,
};

const refreshFor = (changing: boolean) => (changing ? ENDPOINT_CHANGING_REFRESH_MS : ENDPOINT_REFRESH_MS);

/** Fast while any listed endpoint is changing, else slower; never off. */
export function useEndpoints(filters: EndpointFilters) {
  return useQuery({
    queryKey: servingKeys.endpoints(filters),
    queryFn: () => servingApi.endpoints(filters),
    refetchInterval: (query) => refreshFor(Boolean(query.state.data?.results.some((e) => isChanging(e.state)))),
    placeholderData: keepPreviousData,
  });
}

/** A 404 is an answer (no such endpoint, or not the caller's), not a failure worth retrying. */
function retryUnlessAnswered(count: number, error: unknown): boolean {
  if (error instanceof ApiError && (error.status === 404 || error.status === 401 || error.status === 403)) return false;
  return count < 2;
}

/**
 * One endpoint, polled every 2 s while it is pending, deploying or degraded and every 10 s
 * otherwise; polling never stops, so a page left open stays current.
 */
export function useEndpoint(id: number) {
  return useQuery({
    queryKey: servingKeys.endpoint(id),
    queryFn: () => servingApi.endpoint(id),
    refetchInterval: (query) => refreshFor(isChanging(query.state.data?.state)),
    retry: retryUnlessAnswered,
  });
}

/** Revisions and events move at the endpoint's pace: pass whether it is changing. */
export function useEndpointRevisions(id: number, page: number, { changing }: { changing: boolean }) {
  return useQuery({
    queryKey: servingKeys.revisions(id, page),
    queryFn: () => servingApi.revisions(id, page),
    refetchInterval: refreshFor(changing),
    placeholderData: keepPreviousData,
  });
}

export function useEndpointEvents(id: number, page: number, { changing }: { changing: boolean }) {
  return useQuery({
    queryKey: servingKeys.events(id, page),
    queryFn: () => servingApi.events(id, page),
    refetchInterval: refreshFor(changing),
    placeholderData: keepPreviousData,
  });
}

/** Tokens change only when someone creates or revokes one (both refresh the list). */
export function useEndpointTokens(id: number, page: number) {
  return useQuery({
    queryKey: servingKeys.tokens(id, page),
    queryFn: () => servingApi.tokens(id, page),
    placeholderData: keepPreviousData,
  });
}

/** The last `windowMinutes` of measurements, the window moving with each poll. */
export function useEndpointMetrics(id: number, windowMinutes: number) {
  return useQuery({
    queryKey: servingKeys.metrics(id, windowMinutes),
    queryFn: () => {
      const to = new Date();
      return servingApi.metrics(id, new Date(to.getTime() - windowMinutes * 60_000), to);
    },
    refetchInterval: ENDPOINT_REFRESH_MS,
    placeholderData: keepPreviousData,
  });
}

/** Only fetched once a team is chosen (enabled). */
export function useTeamVersions(team: string) {
  return useQuery({
    queryKey: servingKeys.teamVersions(team),
    queryFn: () => servingApi.teamVersions(team),
    enabled: team !== "",
    staleTime: 60_000,
  });
}

// --- Mutations ----------------------------------------------------------------------------

export function useCreateEndpoint(idempotencyKey: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: EndpointCreateRequest) => servingApi.create(body, idempotencyKey),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["endpoints"] }),
  });
}

/** After a change: the answer is shown at once, then the endpoint and its tables are asked anew. */
function useRefreshEndpoint(id: number) {
  const queryClient = useQueryClient();
  return (updated?: Endpoint) => {
    if (updated) queryClient.setQueryData(servingKeys.endpoint(id), updated);
    void queryClient.invalidateQueries({ queryKey: servingKeys.endpoint(id) });
    void queryClient.invalidateQueries({ queryKey: ["endpoints"] });
  };
}

export function useUpdateEndpoint(id: number) {
  const refresh = useRefreshEndpoint(id);
  return useMutation({ mutationFn: (changes: EndpointChanges) => servingApi.update(id, changes), onSuccess: refresh });
}

export function useStopEndpoint(id: number) {
  const refresh = useRefreshEndpoint(id);
  return useMutation({ mutationFn: () => servingApi.stop(id), onSuccess: refresh });
}

export function useStartEndpoint(id: number) {
  const refresh = useRefreshEndpoint(id);
  return useMutation({ mutationFn: () => servingApi.start(id), onSuccess: refresh });
}

/** The endpoint's own queries are dropped, so nothing polls a deleted endpoint. */
export function useDeleteEndpoint(id: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => servingApi.remove(id),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: servingKeys.endpoint(id) });
      void queryClient.invalidateQueries({ queryKey: ["endpoints"] });
    },
  });
}

export function useCreateRevision(id: number) {
  const refresh = useRefreshEndpoint(id);
  return useMutation({
    mutationFn: (body: RevisionCreateRequest) => servingApi.createRevision(id, body),
    onSuccess: () => refresh(),
  });
}

export function usePromoteRevision(id: number) {
  const refresh = useRefreshEndpoint(id);
  return useMutation({ mutationFn: (revision: number) => servingApi.promoteRevision(id, revision), onSuccess: () => refresh() });
}

export function useRollback(id: number) {
  const refresh = useRefreshEndpoint(id);
  return useMutation({ mutationFn: () => servingApi.rollback(id), onSuccess: refresh });
}

export function useCreateEndpointToken(id: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (name: string) => servingApi.createToken(id, name),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["endpoint", id, "tokens"] }),
  });
}

export function useRevokeEndpointToken(id: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (token: number) => servingApi.revokeToken(id, token),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["endpoint", id, "tokens"] }),
  });
}
