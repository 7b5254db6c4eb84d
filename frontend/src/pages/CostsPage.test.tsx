import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { makeBudget, makeBurn, makeCostRow, makeSummary } from "../test/costs";
import { mockApi, page, renderPage, type Handler, type MockResponse } from "../test/utils";
import { CostsPage } from "./CostsPage";

// jsdom has no canvas: stand in for Chart.js and keep what the page gave it.
const { charts } = vi.hoisted(() => ({
  charts: [] as {
    type: string;
    data: { labels: string[]; datasets: { label: string; type: string; data: (number | null)[]; borderDash?: number[] }[] };
  }[],
}));
vi.mock("chart.js", () => {
  class Chart {
    static register = () => undefined;
    type: string;
    data: unknown;
    constructor(_canvas: unknown, config: { type: string; data: unknown }) {
      this.type = config.type;
      this.data = config.data;
      charts.push(this as never);
    }
    update() {}
    destroy() {}
  }
  const parts = ["BarController", "BarElement", "LineController", "LineElement", "PointElement", "CategoryScale", "LinearScale", "Legend", "Tooltip"];
  return { Chart, ...Object.fromEntries(parts.map((p) => [p, {}])) };
});

const teams = [
  { slug: "nlp", name: "NLP", organisation: "acme", role: "member" },
  { slug: "vision", name: "Vision", organisation: "acme", role: "member" },
];

const byDay = makeSummary([
  makeCostRow({ team: "nlp", day: "2026-12-01", amount: "1200.00" }),
  makeCostRow({ team: "vision", day: "2026-12-01", amount: "300.00" }),
  makeCostRow({ team: "nlp", day: "2026-12-02", amount: "3487.60" }),
]);
const topJobs = makeSummary([makeCostRow({ job: 42, job_name: "finetune-7b", amount: "3000.00", gpu_hours: "1204.819" })], {
  group_by: ["job"],
});
const topEndpoints = makeSummary(
  [
    makeCostRow({ endpoint: 12, endpoint_name: "tiny-chat", amount: "80.00" }),
    makeCostRow({ endpoint: null, endpoint_name: "", amount: "4000.00" }),
  ],
  { group_by: ["endpoint"] },
);

/** The summary answers by what it is grouped by. */
function summaries(answers: Record<string, MockResponse>): Handler {
  return (url) => answers[url.searchParams.get("group_by") ?? ""] ?? { status: 400, body: { group_by: ["Unknown."] } };
}

function mockCosts(routes: Record<string, MockResponse | Handler> = {}) {
  return mockApi({
    "GET /api/v1/teams/": { body: page(teams) },
    "GET /api/v1/costs/summary/": summaries({
      "team,day": { body: byDay },
      "user,day": { body: makeSummary([makeCostRow({ user: "alice", day: "2026-12-02" })]) },
      job: { body: topJobs },
      endpoint: { body: topEndpoints },
    }),
    "GET /api/v1/budgets/": { body: page([makeBudget()]) },
    "GET /api/v1/budgets/1/burn/": { body: makeBurn() },
    ...routes,
  });
}

describe("CostsPage", () => {
  beforeEach(() => {
    charts.length = 0;
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-12-06T10:00:00Z"));
  });

  it("charts this month's spend by team and day, with totals, top tables, the budget and CSV links", async () => {
    const { calls } = mockCosts();
    renderPage(<CostsPage />, { route: "/costs", path: "/costs" });

    await screen.findByTestId("spend");
    const asked = calls.find((c) => c.url.searchParams.get("group_by") === "team,day")!;
    expect(asked.url.searchParams.get("from")).toBe("2026-12-01T00:00:00Z");
    expect(asked.url.searchParams.get("to")).toBe("2026-12-07T00:00:00Z");
    expect(screen.getByLabelText("From")).toHaveValue("2026-12-01");
    expect(screen.getByLabelText("To")).toHaveValue("2026-12-06");
    expect(screen.getByTestId("cost-total-USD")).toHaveTextContent("USD 4,987.60");

    await waitFor(() => expect(charts.length).toBeGreaterThanOrEqual(2));
    const spend = charts.find((c) => c.data.datasets[0]?.label === "nlp")!;
    expect(spend.data.labels).toEqual(["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04", "2026-12-05", "2026-12-06"]);
    expect(spend.data.datasets.map((d) => [d.label, d.type, d.data])).toEqual([
      ["nlp", "bar", [1200, 3487.6, 0, 0, 0, 0]],
      ["vision", "bar", [300, 0, 0, 0, 0, 0]],
    ]);
    expect(within(screen.getByTestId("spend-chart")).getByRole("img")).toHaveAccessibleName(/Spend in USD by team and day/);

    const job = await screen.findByTestId("top-job-42");
    expect(within(job).getByRole("link", { name: "#42 finetune-7b" })).toHaveAttribute("href", "/jobs/42");
    expect(job).toHaveTextContent("USD 3,000.00");
    const endpoints = screen.getByTestId("top-endpoints");
    expect(within(endpoints).getAllByRole("row")).toHaveLength(2); // the header and tiny-chat: no row for usage of no endpoint
    expect(within(endpoints).getByRole("link", { name: "tiny-chat" })).toHaveAttribute("href", "/endpoints/12");
    const topCall = calls.find((c) => c.url.searchParams.get("group_by") === "job")!;
    expect(topCall.url.searchParams.get("limit")).toBe("10");

    const budget = await screen.findByTestId("budget-1");
    expect(within(budget).getByTestId("budget-spent")).toHaveTextContent("USD 4,687.60 of 5,000.00 (94 %)");
    expect(within(budget).getByTestId("budget-remaining")).toHaveTextContent("USD 312.40");
    expect(within(budget).getByTestId("budget-status")).toHaveTextContent("Nearing its limit");
    expect(within(budget).getByTestId("budget-status")).toHaveClass("badge-budget-soft");
    expect(within(budget).getByRole("meter")).toHaveAttribute("aria-valuenow", "94");

    await waitFor(() => expect(charts.some((c) => c.data.datasets[0]?.label === "Spent")).toBe(true));
    const burn = charts.find((c) => c.data.datasets[0]?.label === "Spent")!;
    expect(burn.data.labels).toHaveLength(31);
    const [spent, forecast, amount] = burn.data.datasets;
    expect(spent?.data.slice(0, 3)).toEqual([1200, 4687.6, null]);
    expect(forecast?.borderDash).toEqual([6, 4]);
    expect(forecast?.data[1]).toBe(4687.6); // it goes on from the last day spent…
    expect(forecast?.data[30]).toBe(5500); // …to the period's end
    expect(new Set(amount?.data)).toEqual(new Set([5000]));

    const summaryCsv = new URL(screen.getByRole("link", { name: "Download this summary (CSV)" }).getAttribute("href")!, "http://x");
    expect(summaryCsv.pathname).toBe("/api/v1/costs/summary/");
    expect(Object.fromEntries(summaryCsv.searchParams)).toEqual({
      group_by: "team,day",
      from: "2026-12-01T00:00:00Z",
      to: "2026-12-07T00:00:00Z",
      format: "csv",
    });
    const usage = screen.getByRole("link", { name: "Download the usage records (CSV)" });
    expect(usage).toHaveAttribute("download");
    expect(usage.getAttribute("href")).toBe("/api/v1/usage/?from=2026-12-01T00%3A00%3A00Z&to=2026-12-07T00%3A00%3A00Z&format=csv");
  });

  it("regroups by user and narrows to a team and a period from the URL", async () => {
    const { calls } = mockCosts();
    renderPage(<CostsPage />, { route: "/costs?team=nlp&from=2026-11-01&to=2026-11-30", path: "/costs" });
    await screen.findByTestId("spend");
    const first = calls.find((c) => c.url.searchParams.get("group_by") === "team,day")!;
    expect(first.url.searchParams.get("team")).toBe("nlp");
    expect(first.url.searchParams.get("to")).toBe("2026-12-01T00:00:00Z");

    await userEvent.selectOptions(screen.getByLabelText("Group by"), "user");
    expect(screen.getByTestId("location")).toHaveTextContent("/costs?team=nlp&from=2026-11-01&to=2026-11-30&group=user");
    await waitFor(() => expect(calls.some((c) => c.url.searchParams.get("group_by") === "user,day")).toBe(true));
    expect(await screen.findByRole("heading", { name: "Spend by user" })).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Download this summary (CSV)" }).getAttribute("href")).toContain("group_by=user%2Cday");

    await userEvent.click(screen.getByRole("button", { name: "This month" }));
    expect(screen.getByTestId("location")).toHaveTextContent("from=2026-12-01&to=2026-12-06");
  });

  it("says when the period has no usage", async () => {
    mockCosts({
      "GET /api/v1/costs/summary/": { body: makeSummary([], { totals: [] }) },
      "GET /api/v1/budgets/": { body: page([]) },
    });
    renderPage(<CostsPage />, { route: "/costs", path: "/costs" });
    expect(await screen.findByText("No usage recorded in this period.")).toBeInTheDocument();
    expect(await screen.findByText(/No budgets\./)).toBeInTheDocument();
    expect(screen.queryByTestId("top-jobs")).not.toBeInTheDocument();
  });

  it("shows loading, then the server's error", async () => {
    mockCosts({ "GET /api/v1/costs/summary/": { status: 503, body: { detail: "The ledger is unavailable." } } });
    renderPage(<CostsPage />, { route: "/costs", path: "/costs" });
    expect(screen.getByText("Loading costs…")).toBeInTheDocument();
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load costs. The ledger is unavailable.");
    // The budgets do not depend on the period's summary.
    expect(await screen.findByTestId("budget-1")).toBeInTheDocument();
  });

  it("refuses a period that ends before it starts, without asking", async () => {
    const { calls } = mockCosts();
    renderPage(<CostsPage />, { route: "/costs", path: "/costs" });
    await screen.findByTestId("spend");
    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-12-10" } });
    expect(await screen.findByText(/The period starts after it ends/)).toBeInTheDocument();
    expect(calls.some((c) => c.url.searchParams.get("from") === "2026-12-10T00:00:00Z")).toBe(false);
    expect(screen.queryByRole("link", { name: /CSV/ })).not.toBeInTheDocument();
  });
});
