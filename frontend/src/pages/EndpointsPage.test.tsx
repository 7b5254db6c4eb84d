import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { makeEndpoint } from "../test/serving";
import { mockApi, page, renderPage } from "../test/utils";
import { EndpointsPage } from "./EndpointsPage";

const teams = [
  { slug: "demo", name: "Demo", organisation: "acme", role: "member" },
  { slug: "research", name: "Research", organisation: "acme", role: "member" },
];

describe("EndpointsPage", () => {
  it("renders a row per endpoint: link, state and why, URL, replicas, latency, throughput, GPUs and cost", async () => {
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/endpoints/": {
        body: page([
          makeEndpoint({ gpus_held: 1 }),
          makeEndpoint({
            id: 13,
            name: "big-chat",
            state: "pending",
            state_reason: "Waiting for 1 × H100 in pool gpu: team demo uses 8 of its 8 guaranteed.",
            url: "",
            latest: null,
            replicas: { min: 0, max: 4, running: 0, target_ongoing_requests: 2, scale_to_zero: true },
            cost: { currency: "USD", so_far: "0.00", per_1k_requests: null, per_1k_tokens: null, price_per_replica_hour: null, replica_hours: 0, priced: false, note: "No price for this pool." },
          }),
        ]),
      },
    });
    renderPage(<EndpointsPage />, { route: "/endpoints", path: "/endpoints" });

    const row = await screen.findByTestId("endpoint-row-12");
    expect(within(row).getByRole("link", { name: "tiny-chat" })).toHaveAttribute("href", "/endpoints/12");
    expect(within(row).getByText("ready")).toHaveClass("badge-ready");
    expect(within(row).getByText("http://127.0.0.1:8700/demo/tiny-chat")).toBeInTheDocument();
    expect(within(row).getByRole("button", { name: "Copy tiny-chat URL" })).toBeInTheDocument();
    const cells = within(row).getAllByRole("cell").map((c) => c.textContent);
    expect(cells).toEqual(expect.arrayContaining(["1 / 1 / 2", "80 ms", "3.2/s", "1", "USD 3.11"]));

    const pending = screen.getByTestId("endpoint-row-13");
    const badge = within(pending).getByText("pending");
    expect(badge).toHaveClass("badge-active");
    expect(badge).toHaveAttribute("title", expect.stringContaining("Waiting for 1 × H100"));
    expect(within(pending).getByTestId("endpoint-state-reason")).toHaveTextContent("team demo uses 8 of its 8");
    expect(within(pending).getByText("not deployed yet")).toBeInTheDocument();
    expect(within(pending).getByText("USD 0.00")).toHaveAttribute("title", "No price for this pool.");
    expect(screen.getByRole("link", { name: "New endpoint" })).toHaveAttribute("href", "/endpoints/new");
  });

  it("filters by team and state through the URL, and asks the API with them", async () => {
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/endpoints/": { body: page([makeEndpoint()]) },
    });
    renderPage(<EndpointsPage />, { route: "/endpoints?state=ready", path: "/endpoints" });
    await screen.findByTestId("endpoint-row-12");
    const first = calls.find((c) => c.url.pathname === "/api/v1/endpoints/")!;
    expect(first.url.searchParams.get("state")).toBe("ready");

    const user = userEvent.setup();
    await user.selectOptions(await screen.findByLabelText("Team"), "research");
    expect(screen.getByTestId("location")).toHaveTextContent("/endpoints?state=ready&team=research");
    await waitFor(() => {
      const last = calls.filter((c) => c.url.pathname === "/api/v1/endpoints/").at(-1)!;
      expect(Object.fromEntries(last.url.searchParams)).toEqual({ state: "ready", team: "research", page: "1", page_size: "25" });
    });

    await user.click(screen.getByRole("button", { name: "Clear filters" }));
    expect(screen.getByTestId("location")).toHaveTextContent(/^\/endpoints$/);
  });

  it("pages with the pager", async () => {
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/endpoints/": { body: page([makeEndpoint()], { count: 30, next: "/api/v1/endpoints/?page=2" }) },
    });
    renderPage(<EndpointsPage />, { route: "/endpoints", path: "/endpoints" });
    await userEvent.click(await screen.findByRole("button", { name: "Next" }));
    expect(screen.getByTestId("location")).toHaveTextContent("/endpoints?page=2");
    await waitFor(() => expect(calls.at(-1)?.url.searchParams.get("page")).toBe("2"));
  });

  it("says how to create one when there are none, and when filters match nothing", async () => {
    mockApi({ "GET /api/v1/teams/": { body: page(teams) }, "GET /api/v1/endpoints/": { body: page([]) } });
    const { unmount } = renderPage(<EndpointsPage />, { route: "/endpoints", path: "/endpoints" });
    expect(await screen.findByText(/No endpoints yet/)).toHaveTextContent("a registered model version");
    expect(screen.getByRole("link", { name: "Create one" })).toHaveAttribute("href", "/endpoints/new");
    unmount();

    renderPage(<EndpointsPage />, { route: "/endpoints?state=failed", path: "/endpoints" });
    expect(await screen.findByText("No endpoints match these filters.")).toBeInTheDocument();
  });

  it("shows the error when the list cannot load", async () => {
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/endpoints/": { status: 500, body: { detail: "Database unavailable." } },
    });
    renderPage(<EndpointsPage />, { route: "/endpoints", path: "/endpoints" });
    expect(screen.getByRole("status")).toHaveTextContent("Loading endpoints…");
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load endpoints. Database unavailable.");
  });

  it("polls every 2 s while an endpoint is deploying, and keeps polling every 10 s once all are settled", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let state = "deploying";
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/endpoints/": () => ({ body: page([makeEndpoint({ state: state as "deploying" })]) }),
    });
    renderPage(<EndpointsPage />, { route: "/endpoints", path: "/endpoints" });
    await screen.findByTestId("endpoint-row-12");
    const listCalls = () => calls.filter((c) => c.url.pathname === "/api/v1/endpoints/").length;

    state = "ready";
    await vi.advanceTimersByTimeAsync(2100);
    await waitFor(() => expect(within(screen.getByTestId("endpoint-row-12")).getByText("ready")).toBeInTheDocument());
    const settled = listCalls();
    await vi.advanceTimersByTimeAsync(5000);
    expect(listCalls()).toBe(settled);
    await vi.advanceTimersByTimeAsync(5500);
    await waitFor(() => expect(listCalls()).toBe(settled + 1));
  });
});
