import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { mockApi, page, renderPage } from "../test/utils";
import { QueuePage, describeJobsAhead } from "./QueuePage";

const teams = [
  { slug: "nlp", name: "NLP", organisation: "acme", role: "member" },
  { slug: "vision", name: "Vision", organisation: "acme", role: "viewer" },
];
const POOL = "dgx-a-h100-sxm";
const pools = [
  { name: POOL, cluster: "dgx-a", accelerator_model: "H100 SXM", unit: "GPU", placement: "pack", capacity: 16, used: 12, free: 4, pending: 3 },
  { name: "dgx-a-cpu", cluster: "dgx-a", accelerator_model: null, unit: "CPU", placement: "pack", capacity: 256, used: 8, free: 248, pending: 0 },
];
const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000).toISOString();
const REASON =
  "Waiting for 8 × H100 SXM in pool dgx-a-h100-sxm: team nlp uses 12 of its 16 guaranteed, the cohort has 0 idle to lend.";

function entry(overrides: Record<string, unknown> = {}) {
  return {
    id: 31,
    name: "pretrain-7b",
    team: "nlp",
    pool: POOL,
    priority: 100,
    priority_class: "production",
    queue_position: 1,
    jobs_ahead: 0,
    pending_reason: REASON,
    cannot_run: "",
    waiting_since: minutesAgo(12),
    estimated_start_at: null,
    estimate_confidence: "",
    estimate_basis: "",
    ...overrides,
  };
}

function routes(results: unknown[], extra: Record<string, unknown> = {}) {
  return {
    "GET /api/v1/teams/": { body: page(teams) },
    "GET /api/v1/pools/": { body: page(pools) },
    "GET /api/v1/queue/": { body: page(results, extra) },
  };
}

describe("QueuePage", () => {
  it("says a job can never run instead of where it stands", async () => {
    const never = "Cluster local has no GPUs: a job that asks for 1 GPU can never run there.";
    mockApi(routes([entry({ cannot_run: never }), entry({ id: 32, name: "fine", jobs_ahead: 0 })]));
    renderPage(<QueuePage />, { route: "/queue", path: "/queue" });

    const table = await screen.findByTestId("queue");
    const impossible = within(table).getByTestId("queue-row-31");
    expect(within(impossible).getByTestId("cannot-run")).toHaveTextContent(`Can never run as asked: ${never}`);
    expect(within(impossible).queryByTestId("jobs-ahead")).not.toBeInTheDocument();
    expect(impossible).not.toHaveTextContent("next in its pool");
    const fine = within(table).getByTestId("queue-row-32");
    expect(within(fine).getByTestId("jobs-ahead")).toHaveTextContent("next in its pool");
    expect(within(fine).queryByTestId("cannot-run")).not.toBeInTheDocument();
  });

  it("lists the pending jobs with position, priority, waiting time and the reason in words", async () => {
    mockApi(
      routes([
        entry(),
        entry({ id: 32, name: "eval-sweep", priority: 0, priority_class: null, queue_position: 2, jobs_ahead: 3 }),
        entry({ id: 40, name: "seg", team: "vision", pool: null, queue_position: 1, jobs_ahead: 1, pending_reason: "" }),
      ]),
    );
    renderPage(<QueuePage />, { route: "/queue", path: "/queue" });

    const table = await screen.findByTestId("queue");
    const first = within(table).getByTestId("queue-row-31");
    expect(within(first).getByTestId("queue-position")).toHaveTextContent("1");
    expect(within(first).getByRole("link", { name: "pretrain-7b" })).toHaveAttribute("href", "/jobs/31");
    expect(first).toHaveTextContent("nlp");
    expect(first).toHaveTextContent(POOL);
    expect(first).toHaveTextContent("100");
    expect(within(first).getByText("production")).toHaveClass("badge-class");
    expect(within(first).getByText("12 minutes ago")).toBeInTheDocument();
    expect(within(first).getByTestId("pending-reason")).toHaveTextContent(REASON);
    expect(within(first).getByTestId("jobs-ahead")).toHaveTextContent("next in its pool");

    const second = within(table).getByTestId("queue-row-32");
    expect(within(second).getByTestId("queue-position")).toHaveTextContent("2");
    expect(within(second).getByTestId("jobs-ahead")).toHaveTextContent("3 jobs ahead");
    expect(within(second).queryByText("production")).not.toBeInTheDocument();

    const third = within(table).getByTestId("queue-row-40");
    expect(third).toHaveTextContent("none yet");
    expect(within(third).getByTestId("pending-reason")).toHaveTextContent("Not yet considered by the scheduler.");
    expect(within(third).getByTestId("jobs-ahead")).toHaveTextContent("1 job ahead");
    expect(screen.getByText("1–3 of 3")).toBeInTheDocument();
  });

  it("shows each job's estimated start with its confidence, and what it rests on as the title", async () => {
    const basis = "After train-9 ends (declared max runtime) and 2 jobs ahead of it start.";
    mockApi(
      routes([
        entry({
          estimated_start_at: new Date(Date.now() + 25 * 60_000).toISOString(),
          estimate_confidence: "high",
          estimate_basis: basis,
        }),
        entry({ id: 32, name: "eval-sweep", queue_position: 2 }),
        entry({
          id: 33,
          name: "late",
          queue_position: 3,
          estimated_start_at: minutesAgo(2),
          estimate_confidence: "low",
          estimate_basis: "guess",
        }),
      ]),
    );
    renderPage(<QueuePage />, { route: "/queue", path: "/queue" });

    const table = await screen.findByTestId("queue");
    expect(within(table).getByRole("columnheader", { name: "Estimated start" })).toBeInTheDocument();
    const estimated = within(within(table).getByTestId("queue-row-31")).getByTestId("estimated-start");
    expect(estimated).toHaveTextContent("in 25 minutes high");
    expect(estimated.getAttribute("title")).toContain(basis);
    expect(estimated.getAttribute("title")).toContain("Confidence high: every job it waits for declares its runtime");
    expect(within(estimated).getByTestId("estimate-confidence")).toHaveClass("badge-confidence-high");
    expect(within(within(table).getByTestId("queue-row-32")).getByTestId("estimated-start")).toHaveTextContent("—");
    // An estimate already past says the start is due, not "2 minutes ago".
    expect(within(within(table).getByTestId("queue-row-33")).getByTestId("estimated-start")).toHaveTextContent(
      "any moment low",
    );
  });

  it("sends the filters from the URL and writes changes back to it", async () => {
    const { calls } = mockApi(routes([entry()]));
    renderPage(<QueuePage />, { route: "/queue?team=nlp", path: "/queue" });
    await screen.findByTestId("queue-row-31");
    const requests = () => calls.filter((c) => c.url.pathname === "/api/v1/queue/");
    expect(requests()[0]!.url.searchParams.get("team")).toBe("nlp");
    expect(requests()[0]!.url.searchParams.get("pool")).toBeNull();

    await screen.findByRole("option", { name: POOL });
    await userEvent.selectOptions(screen.getByLabelText("Pool"), POOL);
    expect(screen.getByTestId("location")).toHaveTextContent(`/queue?team=nlp&pool=${POOL}`);
    await waitFor(() => {
      const last = requests().at(-1)!;
      expect(last.url.searchParams.get("pool")).toBe(POOL);
      expect(last.url.searchParams.get("team")).toBe("nlp");
      expect(last.url.searchParams.get("page")).toBe("1");
    });

    await userEvent.selectOptions(screen.getByLabelText("Team"), "");
    expect(screen.getByTestId("location")).toHaveTextContent(`/queue?pool=${POOL}`);
    await waitFor(() => expect(requests().at(-1)!.url.searchParams.get("team")).toBeNull());
    await userEvent.click(screen.getByRole("button", { name: "Clear filters" }));
    expect(screen.getByTestId("location")).toHaveTextContent(/^\/queue$/);
  });

  it("pages with Next", async () => {
    const { calls } = mockApi(routes([entry()], { count: 120, next: "/api/v1/queue/?page=2" }));
    renderPage(<QueuePage />, { route: "/queue", path: "/queue" });
    await userEvent.click(await screen.findByRole("button", { name: "Next" }));
    expect(screen.getByTestId("location")).toHaveTextContent("/queue?page=2");
    await waitFor(() => expect(calls.at(-1)?.url.searchParams.get("page")).toBe("2"));
  });

  it("says nothing is waiting when the queue is empty", async () => {
    mockApi(routes([]));
    renderPage(<QueuePage />, { route: "/queue", path: "/queue" });
    expect(await screen.findByText("Nothing is waiting.")).toBeInTheDocument();
    expect(screen.queryByTestId("queue")).not.toBeInTheDocument();
  });

  it("says so when the filters match nothing", async () => {
    mockApi(routes([]));
    renderPage(<QueuePage />, { route: `/queue?pool=${POOL}`, path: "/queue" });
    expect(await screen.findByText("Nothing is waiting that matches these filters.")).toBeInTheDocument();
  });

  it("shows loading, then the error", async () => {
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/pools/": { body: page(pools) },
      "GET /api/v1/queue/": { status: 500, body: { detail: "Database unavailable." } },
    });
    renderPage(<QueuePage />, { route: "/queue", path: "/queue" });
    expect(screen.getByRole("status")).toHaveTextContent("Loading the queue…");
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load the queue. Database unavailable.");
  });

  it("updates live by polling", async () => {
    let results = [entry({ jobs_ahead: 2, queue_position: 3 })];
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/pools/": { body: page(pools) },
      "GET /api/v1/queue/": () => ({ body: page(results) }),
    });
    renderPage(<QueuePage />, { route: "/queue", path: "/queue" });
    const row = await screen.findByTestId("queue-row-31");
    expect(within(row).getByTestId("jobs-ahead")).toHaveTextContent("2 jobs ahead");
    results = [];
    expect(await screen.findByText("Nothing is waiting.", {}, { timeout: 3500 })).toBeInTheDocument();
  });

  it("words the jobs ahead", () => {
    expect(describeJobsAhead(0)).toBe("next in its pool");
    expect(describeJobsAhead(1)).toBe("1 job ahead");
    expect(describeJobsAhead(7)).toBe("7 jobs ahead");
  });
});
