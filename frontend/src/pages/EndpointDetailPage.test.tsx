import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { Endpoint } from "../api/serving";
import {
  makeEndpoint,
  makeEndpointEvent,
  makeEndpointToken,
  makeMetrics,
  makePoint,
  makeRevision,
  makeSource,
} from "../test/serving";
import { mockApi, page, renderPage, type Handler, type MockResponse } from "../test/utils";
import { createQueryClient } from "../queryClient";
import { EndpointDetailPage } from "./EndpointDetailPage";

// jsdom has no canvas: stand in for Chart.js and keep what the page gave it.
const { charts } = vi.hoisted(() => ({
  charts: [] as { data: { datasets: { label: string; data: { x: number; y: number }[] }[] } }[],
}));
vi.mock("chart.js", () => {
  class Chart {
    static register = () => undefined;
    data: unknown;
    constructor(_canvas: unknown, config: { data: unknown }) {
      this.data = config.data;
      charts.push(this as never);
    }
    update() {}
    destroy() {}
  }
  return { Chart, LineController: {}, LineElement: {}, PointElement: {}, LinearScale: {}, Legend: {}, Tooltip: {} };
});

const canary = makeEndpoint({
  traffic: [
    { revision: 3, number: 1, percent: 80, state: "ready" },
    { revision: 4, number: 2, percent: 20, state: "ready" },
  ],
});
const revisions = [
  makeRevision({
    id: 4,
    number: 2,
    traffic_percent: 20,
    source: makeSource({ model_version: 5, version: 2, checkpoint: 9, job: 6 }),
    message: "canary of v2",
  }),
  makeRevision(),
];

/** The endpoint's routes; its tables are empty unless a test gives them. */
function mockEndpoint(endpoint: Endpoint | (() => Endpoint), routes: Record<string, MockResponse | Handler> = {}) {
  return mockApi({
    "GET /api/v1/endpoints/12/": () => ({ body: typeof endpoint === "function" ? endpoint() : endpoint }),
    "GET /api/v1/endpoints/12/revisions/": { body: page([]) },
    "GET /api/v1/endpoints/12/events/": { body: page([]) },
    "GET /api/v1/endpoints/12/tokens/": { body: page([]) },
    "GET /api/v1/endpoints/12/metrics/": { body: makeMetrics([]) },
    "GET /api/v1/model-versions/": { body: page([]) },
    ...routes,
  });
}

const renderEndpoint = () => renderPage(<EndpointDetailPage />, { route: "/endpoints/12", path: "/endpoints/:id" });

/** An event stream the test feeds by hand, to see the page render each piece as it comes. */
function controlledStream() {
  const encoder = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  return {
    response: () => new Response(stream, { status: 200, headers: { "Content-Type": "text/event-stream" } }),
    send: (text: string) => controller.enqueue(encoder.encode(text)),
    close: () => controller.close(),
  };
}

describe("EndpointDetailPage", () => {
  it("shows the state, the URLs, the lineage a click away, the deployment job, replicas and cost", async () => {
    mockEndpoint(makeEndpoint({ state: "degraded", state_reason: "1 of 2 replicas answers" }));
    renderEndpoint();

    const state = await screen.findByTestId("endpoint-state");
    expect(state).toHaveTextContent("degraded");
    expect(state).toHaveClass("badge-active");
    expect(screen.getByTestId("endpoint-state-reason")).toHaveTextContent("1 of 2 replicas answers");
    expect(screen.getByTestId("endpoint-url")).toHaveTextContent("http://127.0.0.1:8700/demo/tiny-chat");
    expect(screen.getByTestId("endpoint-openai-url")).toHaveTextContent("http://127.0.0.1:8700/demo/tiny-chat/v1");
    expect(screen.getByTestId("endpoint-model-name")).toHaveTextContent("tiny-chat");
    expect(screen.getByRole("button", { name: "Copy OpenAI base URL" })).toBeInTheDocument();

    const lineage = screen.getByTestId("endpoint-lineage");
    expect(within(lineage).getByRole("link", { name: "tiny-llama v1" })).toHaveAttribute("href", "/model-versions/3");
    expect(lineage).toHaveTextContent("checkpoint #7");
    expect(within(lineage).getByRole("link", { name: "job #5" })).toHaveAttribute("href", "/jobs/5");
    const job = screen.getByTestId("endpoint-job");
    expect(within(job).getByRole("link", { name: "job #41" })).toHaveAttribute("href", "/jobs/41");
    expect(job).toHaveTextContent("running");

    expect(screen.getByTestId("replicas-running")).toHaveTextContent("1");
    expect(screen.getByTestId("replicas-min")).toHaveTextContent("1");
    expect(screen.getByTestId("replicas-max")).toHaveTextContent("2");
    expect(screen.getByTestId("cost-so-far")).toHaveTextContent("USD 3.11");
    expect(screen.getByTestId("cost-per-1k-requests")).toHaveTextContent("USD 0.0123");
    expect(screen.getByTestId("cost-per-1k-tokens")).toHaveTextContent("USD 0.0009");
    expect(screen.getByTestId("cost-basis")).toHaveTextContent("USD 2.49 per replica-hour × 1.25 replica-hours");
  });

  it("says why an endpoint has no price", async () => {
    const cost = { ...makeEndpoint().cost, priced: false, per_1k_requests: null, per_1k_tokens: null, price_per_replica_hour: null, note: "Pool cpu has no price." };
    mockEndpoint(makeEndpoint({ cost }));
    renderEndpoint();
    expect(await screen.findByTestId("cost-note")).toHaveTextContent("Not priced: Pool cpu has no price.");
    expect(screen.getByTestId("cost-per-1k-tokens")).toHaveTextContent("no price");
  });

  it("says at once, without retrying, that an endpoint does not exist", async () => {
    const { calls } = mockApi({ "GET /api/v1/endpoints/12/": { status: 404, body: { detail: "Not found." } } });
    // The app's own client, which retries other failures twice, a second apart and more.
    renderPage(<EndpointDetailPage />, { route: "/endpoints/12", path: "/endpoints/:id", client: createQueryClient() });
    expect(await screen.findByText(/Endpoint not found/, {}, { timeout: 500 })).toBeInTheDocument();
    expect(screen.queryByText("Loading endpoint…")).not.toBeInTheDocument();
    expect(calls.filter((c) => c.url.pathname === "/api/v1/endpoints/12/")).toHaveLength(1);
  });

  it("shows the traffic split and the revisions, and promotes a canary and rolls back", async () => {
    const { calls } = mockEndpoint(canary, {
      "GET /api/v1/endpoints/12/revisions/": { body: page(revisions) },
      "POST /api/v1/endpoints/12/revisions/4/promote/": { body: { ...revisions[0], traffic_percent: 100 } },
      "POST /api/v1/endpoints/12/rollback/": { body: makeEndpoint() },
    });
    vi.spyOn(window, "confirm").mockReturnValue(true);
    renderEndpoint();

    const bar = (await screen.findByTestId("traffic")).querySelector(".traffic-bar")!;
    expect(bar).toHaveAccessibleName("Traffic split: revision 1: 80 %, revision 2: 20 %");
    expect(screen.getByTestId("traffic-1")).toHaveStyle({ width: "80%" });
    expect(screen.getByTestId("traffic-2")).toHaveStyle({ width: "20%" });
    expect(screen.getByTestId("traffic-2")).toHaveTextContent("#2 · 20 %");

    const canaryRow = await screen.findByTestId("revision-2");
    expect(within(canaryRow).getByTestId("revision-traffic")).toHaveTextContent("20 %");
    expect(canaryRow).toHaveTextContent("canary of v2");
    expect(within(canaryRow).getByRole("link", { name: "tiny-llama v2" })).toHaveAttribute("href", "/model-versions/5");
    expect(within(canaryRow).getByText("ready")).toHaveClass("badge-ready");
    // The serving revision already takes all it can: nothing to promote.
    expect(within(screen.getByTestId("revision-1")).queryByRole("button", { name: /Promote/ })).not.toBeInTheDocument();

    const user = userEvent.setup();
    await user.click(within(canaryRow).getByRole("button", { name: "Promote revision 2" }));
    await waitFor(() => expect(calls.some((c) => c.method === "POST" && c.url.pathname.endsWith("/revisions/4/promote/"))).toBe(true));

    await user.click(screen.getByRole("button", { name: "Roll back" }));
    await waitFor(() => expect(calls.some((c) => c.method === "POST" && c.url.pathname === "/api/v1/endpoints/12/rollback/")).toBe(true));
  });

  it("starts a canary of a registered version with a share of the traffic", async () => {
    const { calls } = mockEndpoint(makeEndpoint(), {
      "GET /api/v1/endpoints/12/revisions/": { body: page([makeRevision()]) },
      "GET /api/v1/model-versions/": { body: page([]) },
      "POST /api/v1/endpoints/12/revisions/": { status: 201, body: makeRevision({ id: 5, number: 2, state: "pending", traffic_percent: 10 }) },
    });
    renderEndpoint();
    const user = userEvent.setup();
    expect(await screen.findByRole("button", { name: "Roll back" })).toBeDisabled();
    await user.click(screen.getByRole("button", { name: "Canary" }));
    const form = screen.getByRole("form", { name: "New revision" });
    await user.click(within(form).getByLabelText("A model directory and entry point"));
    await user.type(within(form).getByLabelText("Model URI"), "/models/tiny-v2");
    await user.click(within(form).getByRole("button", { name: "Start canary" }));
    await waitFor(() => expect(screen.queryByRole("form", { name: "New revision" })).not.toBeInTheDocument());
    expect(calls.find((c) => c.method === "POST")!.body).toEqual({
      model_uri: "/models/tiny-v2",
      entry_point: "paddock.serving.model:CausalLM",
      traffic_percent: 10,
    });
  });

  it("streams Try it's answer onto the page as it arrives, sending the CSRF header", async () => {
    document.cookie = "csrftoken=csrf-123; path=/";
    const sse = controlledStream();
    const { calls } = mockEndpoint(makeEndpoint(), { "POST /api/v1/endpoints/12/try/": () => sse.response() });
    renderEndpoint();
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Prompt"), "Say hello");
    await user.clear(screen.getByLabelText("Max tokens"));
    await user.type(screen.getByLabelText("Max tokens"), "16");
    await user.click(screen.getByRole("button", { name: "Send" }));

    sse.send('data: {"choices":[{"text":"Hello"}]}\n\n');
    await waitFor(() => expect(screen.getByTestId("try-output")).toHaveTextContent(/^Hello$/));
    expect(screen.getByTestId("try-status")).toHaveTextContent("Streaming…");
    expect(screen.getByRole("button", { name: "Stop streaming" })).toBeInTheDocument();

    sse.send('data: {"choices":[{"text":", wor"}]}\n\ndata: {"choices":[{"text":"ld"}]}\n\ndata: [DONE]\n\n');
    await waitFor(() => expect(screen.getByTestId("try-status")).toHaveTextContent("Done."));
    expect(screen.getByTestId("try-output").textContent).toBe("Hello, world");

    const post = calls.find((c) => c.url.pathname === "/api/v1/endpoints/12/try/")!;
    expect(post.method).toBe("POST");
    expect(post.body).toEqual({ prompt: "Say hello", max_tokens: 16 });
    expect(post.headers.get("X-CSRFToken")).toBe("csrf-123");
  });

  it("stops streaming when asked, and shows nothing sent after", async () => {
    const sse = controlledStream();
    mockEndpoint(makeEndpoint(), { "POST /api/v1/endpoints/12/try/": () => sse.response() });
    renderEndpoint();
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Prompt"), "Count");
    await user.click(screen.getByRole("button", { name: "Send" }));
    sse.send('data: {"choices":[{"delta":{"content":"one"}}]}\n\n');
    await waitFor(() => expect(screen.getByTestId("try-output")).toHaveTextContent("one"));

    await user.click(screen.getByRole("button", { name: "Stop streaming" }));
    expect(screen.getByTestId("try-status")).toHaveTextContent("Stopped.");
    sse.send('data: {"choices":[{"delta":{"content":" two"}}]}\n\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(screen.getByTestId("try-output").textContent).toBe("one");
    expect(screen.getByRole("button", { name: "Send" })).toBeEnabled();
  });

  it("says why Try it was refused", async () => {
    mockEndpoint(makeEndpoint(), {
      "POST /api/v1/endpoints/12/try/": { status: 409, body: { detail: "Endpoint tiny-chat is not ready." } },
    });
    renderEndpoint();
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Prompt"), "hi");
    await user.click(screen.getByRole("button", { name: "Send" }));
    expect(await within(screen.getByTestId("try-it")).findByRole("alert")).toHaveTextContent("Endpoint tiny-chat is not ready.");
  });

  it("scales the replicas, and deletes after asking", async () => {
    let endpoint = makeEndpoint();
    const { calls } = mockEndpoint(() => endpoint, {
      "PATCH /api/v1/endpoints/12/": (_url, { body }) => {
        const changes = body as { min_replicas: number; max_replicas: number };
        endpoint = makeEndpoint({ replicas: { ...endpoint.replicas, min: changes.min_replicas, max: changes.max_replicas } });
        return { body: endpoint };
      },
      "DELETE /api/v1/endpoints/12/": { status: 204 },
    });
    const confirm = vi.spyOn(window, "confirm").mockReturnValueOnce(false).mockReturnValue(true);
    renderEndpoint();
    const user = userEvent.setup();

    await user.click(await screen.findByRole("button", { name: "Scale" }));
    const form = screen.getByRole("form", { name: "Scale" });
    await user.clear(within(form).getByLabelText("Min replicas"));
    await user.type(within(form).getByLabelText("Min replicas"), "2");
    await user.clear(within(form).getByLabelText("Max replicas"));
    await user.type(within(form).getByLabelText("Max replicas"), "4");
    await user.click(within(form).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(screen.getByTestId("replicas-max")).toHaveTextContent("4"));
    expect(calls.find((c) => c.method === "PATCH")!.body).toEqual({
      min_replicas: 2,
      max_replicas: 4,
      target_ongoing_requests: 2,
      scale_to_zero: false,
    });

    await user.click(screen.getByRole("button", { name: "Delete" }));
    expect(confirm).toHaveBeenCalledTimes(1);
    expect(calls.some((c) => c.method === "DELETE")).toBe(false);
    await user.click(screen.getByRole("button", { name: "Delete" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent(/^\/endpoints$/));
    expect(calls.filter((c) => c.method === "DELETE")).toHaveLength(1);
  });

  it("stops a ready endpoint and offers to start it again", async () => {
    let state: Endpoint["state"] = "ready";
    mockEndpoint(() => makeEndpoint({ state }), {
      "POST /api/v1/endpoints/12/stop/": () => {
        state = "stopped";
        return { body: makeEndpoint({ state: "stopped", gpus_held: 0 }) };
      },
    });
    vi.spyOn(window, "confirm").mockReturnValue(true);
    renderEndpoint();
    await userEvent.click(await screen.findByRole("button", { name: "Stop" }));
    await waitFor(() => expect(screen.getByTestId("endpoint-state")).toHaveTextContent("stopped"));
    expect(screen.getByRole("button", { name: "Start" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Send" })).toBeDisabled();
  });

  it("lists, creates (shown once) and revokes the endpoint's tokens", async () => {
    let tokens = [makeEndpointToken()];
    const { calls } = mockEndpoint(makeEndpoint(), {
      "GET /api/v1/endpoints/12/tokens/": () => ({ body: page(tokens) }),
      "POST /api/v1/endpoints/12/tokens/": (_url, { body }) => {
        const made = makeEndpointToken({ id: 2, name: (body as { name: string }).name, prefix: "pde_cd34" });
        tokens = [made, ...tokens];
        return { status: 201, body: { ...made, token: "pde_cd34_SECRET" } };
      },
      "POST /api/v1/endpoints/12/tokens/1/revoke/": () => {
        tokens = tokens.map((t) => (t.id === 1 ? { ...t, revoked_at: new Date().toISOString() } : t));
        return { body: tokens.find((t) => t.id === 1) };
      },
    });
    vi.spyOn(window, "confirm").mockReturnValue(true);
    renderEndpoint();
    const user = userEvent.setup();

    expect(await screen.findByTestId("endpoint-token-1")).toHaveTextContent("pde_ab12…");
    await user.type(screen.getByLabelText("Token name"), "ci");
    await user.click(screen.getByRole("button", { name: "Create token" }));
    expect(await screen.findByTestId("new-endpoint-token-value")).toHaveValue("pde_cd34_SECRET");
    expect(screen.getByTestId("new-endpoint-token")).toHaveTextContent("It will not be shown again.");
    expect(await screen.findByTestId("endpoint-token-2")).toHaveTextContent("ci");
    expect(calls.find((c) => c.method === "POST" && c.url.pathname.endsWith("/tokens/"))!.body).toEqual({ name: "ci" });

    await user.click(screen.getByRole("button", { name: "Revoke default" }));
    await waitFor(() => expect(screen.getByTestId("endpoint-token-1")).toHaveTextContent("revoked"));
    await user.click(screen.getByRole("button", { name: "I have saved it" }));
    expect(screen.queryByText("pde_cd34_SECRET")).not.toBeInTheDocument();
  });

  it("draws latency and throughput over the window, with the error rate, and lists the events", async () => {
    charts.length = 0;
    const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
    const { calls } = mockEndpoint(makeEndpoint(), {
      "GET /api/v1/endpoints/12/metrics/": {
        body: makeMetrics([makePoint({ at: at(2), p95_ms: 70 }), makePoint({ at: at(1), p95_ms: 90, error_rate: 0.1 })]),
      },
      "GET /api/v1/endpoints/12/events/": {
        body: page([makeEndpointEvent({ id: 2, kind: "revision_ready", message: "Revision 1 serves 100 %" }), makeEndpointEvent()]),
      },
    });
    renderEndpoint();

    await waitFor(() => expect(charts).toHaveLength(4));
    const latency = charts[0]!.data.datasets;
    expect(latency.map((d) => d.label)).toEqual(["p50", "p95", "p99"]);
    expect(latency[1]!.data.map((p) => p.y)).toEqual([70, 90]);
    expect(latency[1]!.data[0]!.x).toBeCloseTo(-2, 0);
    expect(charts[1]!.data.datasets[0]!.label).toBe("requests/s");
    expect(charts[2]!.data.datasets[0]!.label).toBe("tokens/s");
    expect(charts[3]!.data.datasets[0]!.data.map((p) => p.y)).toEqual([0, 10]);
    expect(screen.getByTestId("health-error-rate")).toHaveTextContent("1 (10 %)");

    const query = calls.find((c) => c.url.pathname.endsWith("/metrics/"))!.url.searchParams;
    expect(Date.parse(query.get("to")!) - Date.parse(query.get("from")!)).toBe(60 * 60_000);

    const events = screen.getByTestId("endpoint-events");
    expect(within(events).getByText("revision ready")).toBeInTheDocument();
    expect(events).toHaveTextContent("Revision 1 serves 100 %");
  });

  it("polls every 2 s while deploying and every 10 s once ready, never stopping", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let state: Endpoint["state"] = "deploying";
    const { calls } = mockEndpoint(() => makeEndpoint({ state }));
    renderEndpoint();
    expect(await screen.findByTestId("endpoint-state")).toHaveTextContent("deploying");
    const endpointCalls = () => calls.filter((c) => c.url.pathname === "/api/v1/endpoints/12/").length;

    state = "ready";
    await vi.advanceTimersByTimeAsync(2100);
    await waitFor(() => expect(screen.getByTestId("endpoint-state")).toHaveTextContent("ready"));
    const settled = endpointCalls();
    await vi.advanceTimersByTimeAsync(5000);
    expect(endpointCalls()).toBe(settled);
    await vi.advanceTimersByTimeAsync(5500);
    await waitFor(() => expect(endpointCalls()).toBe(settled + 1));
    await vi.advanceTimersByTimeAsync(10_100);
    await waitFor(() => expect(endpointCalls()).toBe(settled + 2));
  });
});
