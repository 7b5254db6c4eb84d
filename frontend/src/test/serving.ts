// Serving answers typed as ../api/serving's (the contract's) shapes, for the pages' tests: a
// fixture that drifts from the types fails the typecheck.
import type {
  Endpoint,
  EndpointEvent,
  EndpointMetrics,
  EndpointRevision,
  EndpointSource,
  EndpointToken,
  MetricsPoint,
} from "../api/serving";

const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000).toISOString();

export function makeSource(overrides: Partial<EndpointSource> = {}): EndpointSource {
  return {
    model_version: 3,
    model: "tiny-llama",
    version: 1,
    checkpoint: 7,
    job: 5,
    uri: "/data/teams/demo/jobs/5/step-00000100",
    entry_point: "paddock.serving.model:CausalLM",
    ...overrides,
  };
}

export function makePoint(overrides: Partial<MetricsPoint> = {}): MetricsPoint {
  return {
    at: minutesAgo(1),
    requests_per_s: 3.2,
    p50_ms: 41,
    p95_ms: 80,
    p99_ms: 95,
    error_rate: 0,
    tokens_per_s: 51,
    replicas: 1,
    ...overrides,
  };
}

export function makeEndpoint(overrides: Partial<Endpoint> = {}): Endpoint {
  return {
    id: 12,
    team: "demo",
    name: "tiny-chat",
    cluster: "local",
    runtime: "ray-serve",
    state: "ready",
    state_reason: "",
    url: "http://127.0.0.1:8700/demo/tiny-chat",
    openai_base_url: "http://127.0.0.1:8700/demo/tiny-chat/v1",
    model_name: "tiny-chat",
    source: makeSource(),
    resources: { cpus: 1, gpus: 0, accelerator_model: "", memory_gb: 0 },
    replicas: { min: 1, max: 2, running: 1, target_ongoing_requests: 2, scale_to_zero: false },
    gpus_held: 0,
    cpus_held: 2,
    job: 41,
    job_state: "running",
    priority_class: "",
    traffic: [{ revision: 3, number: 1, percent: 100, state: "ready" }],
    latest: makePoint(),
    cost: {
      currency: "USD",
      so_far: "3.11",
      per_1k_requests: "0.0123",
      per_1k_tokens: "0.0009",
      price_per_replica_hour: "2.49",
      replica_hours: 1.25,
      priced: true,
      note: "",
    },
    created_by: "alice",
    created_at: minutesAgo(90),
    updated_at: minutesAgo(1),
    ...overrides,
  };
}

export function makeRevision(overrides: Partial<EndpointRevision> = {}): EndpointRevision {
  return {
    id: 3,
    number: 1,
    state: "ready",
    traffic_percent: 100,
    source: makeSource(),
    config: {},
    message: "",
    created_by: "alice",
    created_at: minutesAgo(90),
    ready_at: minutesAgo(85),
    retired_at: null,
    ...overrides,
  };
}

export function makeEndpointToken(overrides: Partial<EndpointToken> = {}): EndpointToken {
  return { id: 1, name: "default", prefix: "pde_ab12", created_by: "alice", created_at: minutesAgo(90), revoked_at: null, ...overrides };
}

export function makeEndpointEvent(overrides: Partial<EndpointEvent> = {}): EndpointEvent {
  return { id: 1, kind: "state_changed", message: "Ready: 1 replica answers", created_at: minutesAgo(85), ...overrides };
}

export function makeMetrics(points: MetricsPoint[] = [makePoint({ at: minutesAgo(2) }), makePoint()]): EndpointMetrics {
  return { points, totals: { requests: 10, errors: 1, tokens: 640 } };
}
