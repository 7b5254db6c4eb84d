import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { vi } from "vitest";

export interface MockResponse {
  status?: number;
  body?: unknown;
}

/** A handler may return a Response as it is (a stream of server-sent events, say). */
export type Handler = (url: URL, init: { method: string; body: unknown; headers: Headers }) => MockResponse | Response;

export interface RecordedCall {
  method: string;
  url: URL;
  body: unknown;
  headers: Headers;
}

/**
 * Replaces global fetch with a router: keys are "METHOD /path/" (query ignored), values a
 * response or a function of the request. Unknown routes answer 404. Returns the call log.
 */
export function mockApi(routes: Record<string, MockResponse | Handler>) {
  const calls: RecordedCall[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : null;
    const url = new URL(request ? request.url : String(input), "http://localhost");
    const method = (request?.method ?? init?.method ?? "GET").toUpperCase();
    const headers = new Headers(request?.headers ?? init?.headers);
    const rawBody = request ? await request.text() : (init?.body as string | undefined);
    const body = rawBody ? JSON.parse(rawBody) : undefined;
    calls.push({ method, url, body, headers });
    const route = routes[`${method} ${url.pathname}`];
    const result = typeof route === "function" ? route(url, { method, body, headers }) : route;
    if (result instanceof Response) return result;
    const status = result?.status ?? (route ? 200 : 404);
    const payload = result ? result.body : { detail: "Not found." };
    return new Response(status === 204 || payload === undefined ? null : JSON.stringify(payload), {
      status,
      headers: { "Content-Type": "application/json" },
    });
  });
  vi.stubGlobal("fetch", fetchMock);
  return { calls, fetchMock };
}

export function LocationProbe() {
  const location = useLocation();
  return <div data-testid="location">{location.pathname + location.search}</div>;
}

/**
 * Renders `ui` at `route` inside a router and a fresh query client (one that never retries,
 * unless the test passes the app's own); other paths render their path.
 */
export function renderPage(
  ui: ReactElement,
  { route = "/", path = "*", client }: { route?: string; path?: string; client?: QueryClient } = {},
) {
  const queryClient =
    client ?? new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  const result = render(
    <QueryClientProvider client={queryClient}>
      <MemoryRouter initialEntries={[route]}>
        <Routes>
          <Route path={path} element={ui} />
          <Route path="*" element={<p>elsewhere</p>} />
        </Routes>
        <LocationProbe />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return { ...result, queryClient };
}

export function makeJob(overrides: Record<string, unknown> = {}) {
  return {
    id: 1,
    name: "train-llama",
    team: "demo",
    cluster: "local-ray",
    kind: "training",
    state: "running",
    state_reason: "",
    entrypoint: "python train.py",
    runtime_env: {},
    resources: { cpus: 1, gpus: 0, accelerator_model: "", accelerator_models: [], min_gpu_memory_gb: null, memory_gb: 1 },
    accepted_pools: [],
    max_retries: 0,
    runtime: "process",
    max_runtime_seconds: null,
    priority: 0,
    priority_class: null,
    pool: null,
    queue_position: null,
    pending_reason: "",
    estimated_start_at: null,
    estimate_confidence: "",
    estimate_basis: "",
    submitted_by: "alice",
    created_at: new Date(Date.now() - 5 * 60_000).toISOString(),
    updated_at: new Date().toISOString(),
    started_at: null,
    finished_at: null,
    nodes: [],
    ...overrides,
  };
}

export function page<T>(results: T[], extra: Partial<{ count: number; next: string | null; previous: string | null }> = {}) {
  return { count: results.length, next: null, previous: null, results, ...extra };
}
