import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { makeBudget, makeCostRow, makeSummary } from "../test/costs";
import { mockApi, page, renderPage, type MockResponse } from "../test/utils";
import { queryKeys } from "../api/queries";
import { QuotasPage, buildQuotaChanges, effectivePolicies, quotaParts } from "./QuotasPage";

// jsdom has no canvas: stand in for Chart.js and keep what the page gave it.
const { charts } = vi.hoisted(() => ({
  charts: [] as { data: { labels: string[]; datasets: { label: string; data: number[] }[] }; updates: number }[],
}));
vi.mock("chart.js", () => {
  class Chart {
    static register = () => undefined;
    data: unknown;
    updates = 0;
    constructor(_canvas: unknown, config: { data: unknown }) {
      this.data = config.data;
      charts.push(this as never);
    }
    update() {
      this.updates += 1;
    }
    destroy() {}
  }
  return { Chart, BarController: {}, BarElement: {}, CategoryScale: {}, LinearScale: {}, Legend: {}, Tooltip: {} };
});

const POOL = "dgx-a-h100-sxm";
const pools = [
  { name: POOL, cluster: "dgx-a", accelerator_model: "H100 SXM", unit: "GPU", placement: "pack", capacity: 24, used: 18, free: 6, pending: 3 },
  { name: "dgx-a-cpu", cluster: "dgx-a", accelerator_model: null, unit: "CPU", placement: "pack", capacity: 256, used: 8, free: 248, pending: 0 },
];
const clusters = [
  {
    id: 1,
    name: "dgx-a",
    kind: "ray",
    address: "http://10.0.0.1:8265",
    state: "ready",
    state_message: "",
    organisation: "acme",
    total_resources: {},
    available_resources: {},
    last_seen_at: null,
    created_at: "2025-01-01T00:00:00Z",
  },
];
/** Who the caller is: their teams, and the organisations they administer. */
function me(role: string, administers: string[] = []) {
  return {
    id: 1,
    username: "alice",
    is_staff: false,
    teams: [{ slug: "nlp", name: "NLP", role }],
    administers: administers.map((slug) => ({ slug, name: slug.toUpperCase() })),
  };
}
const member = me("member");
const teamAdmin = me("admin"); // an admin of team nlp only
const admin = me("member", ["acme"]); // an admin of the organisation acme

function quota(overrides: Record<string, unknown> = {}) {
  return {
    id: 1,
    team: "nlp",
    pool: POOL,
    unit: "GPU",
    guaranteed: 16,
    max: null,
    lending_limit: null,
    weight: 1,
    used: 12,
    borrowed: 0,
    lent: 2,
    fair_share: 0,
    memory_guaranteed_gb: null,
    memory_max_gb: null,
    memory_lending_limit_gb: null,
    memory_used_gb: 0,
    updated_at: "2025-01-01T00:00:00Z",
    ...overrides,
  };
}

const quotas = [
  quota(),
  quota({
    id: 2,
    team: "vision",
    guaranteed: 4,
    max: 8,
    lending_limit: 2,
    weight: 3,
    used: 6,
    borrowed: 2,
    lent: 0,
    memory_guaranteed_gb: 512,
    memory_max_gb: 1024,
    memory_used_gb: 300,
  }),
];

function routes(
  caller: ReturnType<typeof me>,
  overrides: Record<string, MockResponse | ((...args: never[]) => MockResponse)> = {},
) {
  return {
    "GET /api/v1/auth/me/": { body: caller },
    "GET /api/v1/teams/": { body: page(caller.teams.map((t) => ({ ...t, organisation: "acme" }))) },
    "GET /api/v1/clusters/": { body: page(clusters) },
    "GET /api/v1/pools/": { body: page(pools) },
    "GET /api/v1/quotas/": { body: page(quotas) },
    "GET /api/v1/cohorts/": { body: page([]) },
    "GET /api/v1/team-policies/": { body: page([]) },
    "GET /api/v1/budgets/": { body: page([makeBudget()]) },
    "GET /api/v1/costs/summary/": (url: URL) =>
      url.searchParams.get("group_by") === "pool"
        ? { body: makeSummary([makeCostRow({ pool: 3, pool_name: POOL, amount: "4687.60", gpu_hours: "1882.570" })]) }
        : {
            body: makeSummary([
              makeCostRow({ team: "nlp", amount: "4687.60" }),
              makeCostRow({ team: "vision", amount: "310.00" }),
              makeCostRow({ team: "vision", amount: "12.00", currency: "EUR" }),
            ]),
          },
    ...overrides,
  };
}

describe("QuotasPage", () => {
  it("shows each pool with its capacity and a row per team: guaranteed, max (∞ when none), use and lending", async () => {
    mockApi(routes(member));
    renderPage(<QuotasPage />, { route: "/quotas", path: "/quotas" });

    const section = await screen.findByTestId(`pool-${POOL}`);
    expect(within(section).getByRole("heading", { name: POOL })).toBeInTheDocument();
    expect(section).toHaveTextContent("dgx-a · H100 SXM");
    expect(within(section).getByTestId("pool-totals")).toHaveTextContent(
      "24 GPUs: 18 used · 6 free · 3 pending jobs · 20 guaranteed to teams",
    );

    const table = within(section).getByTestId("quotas");
    expect(table).toHaveAccessibleName(`Quotas in ${POOL}`);
    const nlp = within(table).getByTestId(`quota-${POOL}-nlp`);
    expect(within(nlp).getByTestId("quota-guaranteed")).toHaveTextContent("16");
    expect(within(nlp).getByTestId("quota-max")).toHaveTextContent("∞");
    expect(within(nlp).getByTestId("quota-used")).toHaveTextContent("12");
    expect(within(nlp).getByLabelText("nlp use against its guarantee")).toHaveAttribute("value", "12");
    expect(within(nlp).getByTestId("quota-borrowed")).toHaveTextContent("0");
    expect(within(nlp).getByTestId("quota-lent")).toHaveTextContent("2");
    expect(within(nlp).getByTestId("quota-lending-limit")).toHaveTextContent("all");
    expect(within(nlp).getByTestId("quota-weight")).toHaveTextContent("1");

    const vision = within(table).getByTestId(`quota-${POOL}-vision`);
    expect(within(vision).getByTestId("quota-max")).toHaveTextContent("8");
    expect(within(vision).getByTestId("quota-max")).not.toHaveTextContent("∞");
    expect(within(vision).getByTestId("quota-borrowed")).toHaveTextContent("2");
    expect(within(vision).getByTestId("quota-lending-limit")).toHaveTextContent("2");
    expect(within(vision).getByTestId("quota-weight")).toHaveTextContent("3");
    // Memory counts only where the quota guarantees it.
    expect(within(vision).getByTestId("quota-memory")).toHaveTextContent("300 of 512 (max 1024)");
    expect(within(nlp).getByTestId("quota-memory")).toHaveTextContent("not counted");

    // A member edits nothing.
    expect(screen.queryByRole("button", { name: /Edit/ })).not.toBeInTheDocument();
    // The CPU pool has no quotas: listed as open.
    expect(screen.queryByTestId("pool-dgx-a-cpu")).not.toBeInTheDocument();
    expect(screen.getByTestId("open-pool-dgx-a-cpu")).toHaveTextContent("256 CPUs");
  });

  it("draws per team what is used within the guarantee, borrowed, lent and idle", async () => {
    charts.length = 0;
    mockApi(routes(member));
    const { queryClient } = renderPage(<QuotasPage />, { route: "/quotas", path: "/quotas" });

    expect(await screen.findByRole("img", { name: /Quota use in pool/ })).toHaveAccessibleName(
      `Quota use in pool ${POOL}. nlp: 12 used within guarantee, 0 borrowed, 2 lent, 2 idle; ` +
        "vision: 4 used within guarantee, 2 borrowed, 0 lent, 0 idle",
    );
    await waitFor(() => expect(charts).toHaveLength(1));
    const chart = charts[0]!;
    expect(chart.data.labels).toEqual(["nlp", "vision"]);
    expect(chart.data.datasets.map((d) => [d.label, d.data])).toEqual([
      ["Used within guarantee", [12, 4]],
      ["Borrowed", [0, 2]],
      ["Lent to others", [2, 0]],
      ["Idle guarantee", [2, 0]],
    ]);

    // The same numbers again draw nothing anew.
    await queryClient.refetchQueries();
    expect(chart.updates).toBe(0);
    expect(charts).toHaveLength(1);
  });

  it("lets an organisation admin change a quota inline, and shows what the server refuses", async () => {
    document.cookie = "csrftoken=tok123; path=/";
    let saved = quotas[1]!;
    const { calls } = mockApi(
      routes(admin, {
        "GET /api/v1/quotas/": () => ({ body: page([quotas[0], saved]) }),
        "PATCH /api/v1/quotas/2/": (_url: URL, { body }: { body: Record<string, unknown> }) => {
          if (body.max != null && (body.max as number) < (body.guaranteed as number)) {
            return { status: 400, body: { max: ["Max must be at least the guaranteed amount."] } };
          }
          saved = { ...saved, ...body } as typeof saved;
          return { body: saved };
        },
      }),
    );
    renderPage(<QuotasPage />, { route: "/quotas", path: "/quotas" });
    const user = userEvent.setup();

    await user.click(await screen.findByRole("button", { name: "Edit the quota of vision" }));
    const guaranteed = screen.getByLabelText("Guaranteed for vision");
    expect(guaranteed).toHaveValue("4");
    await user.clear(guaranteed);
    await user.type(guaranteed, "10");
    await user.click(screen.getByRole("button", { name: "Save" }));

    const row = screen.getByTestId(`quota-${POOL}-vision`);
    expect(await within(row).findByText("Max must be at least the guaranteed amount.")).toBeInTheDocument();
    expect(screen.getByLabelText("Max for vision")).toHaveAttribute("aria-invalid", "true");
    const refused = calls.find((c) => c.method === "PATCH")!;
    expect(refused.headers.get("X-CSRFToken")).toBe("tok123");
    expect(refused.body).toEqual({ guaranteed: 10, max: 8, lending_limit: 2, weight: 3 });

    // A blank max means no ceiling of its own.
    await user.clear(screen.getByLabelText("Max for vision"));
    await user.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(within(row).getByTestId("quota-guaranteed")).toHaveTextContent("10"));
    expect(within(row).getByTestId("quota-max")).toHaveTextContent("∞");
    expect(calls.filter((c) => c.method === "PATCH").at(-1)!.body).toEqual({
      guaranteed: 10,
      max: null,
      lending_limit: 2,
      weight: 3,
    });
    expect(screen.queryByLabelText("Max for vision")).not.toBeInTheDocument();
  });

  it("checks the numbers before sending, and shows a refusal that names no field", async () => {
    const { calls } = mockApi(
      routes(admin, {
        "PATCH /api/v1/quotas/1/": { status: 403, body: { detail: "Only an admin of the organisation can change quotas." } },
      }),
    );
    renderPage(<QuotasPage />, { route: "/quotas", path: "/quotas" });
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Edit the quota of nlp" }));
    await user.clear(screen.getByLabelText("Guaranteed for nlp"));
    await user.type(screen.getByLabelText("Guaranteed for nlp"), "-1");
    await user.clear(screen.getByLabelText("Weight for nlp"));
    await user.click(screen.getByRole("button", { name: "Save" }));
    const row = screen.getByTestId(`quota-${POOL}-nlp`);
    expect(within(row).getByText("Enter a whole number, 0 or more.")).toBeInTheDocument();
    expect(within(row).getByText("Enter a number above 0.")).toBeInTheDocument();
    expect(calls.some((c) => c.method === "PATCH")).toBe(false);

    await user.clear(screen.getByLabelText("Guaranteed for nlp"));
    await user.type(screen.getByLabelText("Guaranteed for nlp"), "8");
    await user.type(screen.getByLabelText("Weight for nlp"), "2");
    await user.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Only an admin of the organisation can change quotas.");
    await user.click(screen.getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
    expect(within(row).getByTestId("quota-guaranteed")).toHaveTextContent("16");
  });

  it("offers no edit in another organisation's pools", async () => {
    mockApi(routes(me("admin", ["globex"])));
    const { queryClient } = renderPage(<QuotasPage />, { route: "/quotas", path: "/quotas" });
    await screen.findByTestId(`quota-${POOL}-nlp`);
    await waitFor(() => expect(queryClient.getQueryData(queryKeys.me)).toBeDefined());
    expect(screen.queryByRole("button", { name: /Edit/ })).not.toBeInTheDocument();
  });

  it("offers no edit to an admin of a team who is no admin of its organisation", async () => {
    mockApi(routes(teamAdmin));
    const { queryClient } = renderPage(<QuotasPage />, { route: "/quotas", path: "/quotas" });
    await screen.findByTestId(`quota-${POOL}-nlp`);
    await waitFor(() => expect(queryClient.getQueryData(queryKeys.me)).toBeDefined());
    expect(screen.queryByRole("button", { name: /Edit/ })).not.toBeInTheDocument();
  });

  it("says when there are no pools, or no quotas yet", async () => {
    mockApi(routes(member, { "GET /api/v1/pools/": { body: page([]) }, "GET /api/v1/quotas/": { body: page([]) } }));
    const { unmount } = renderPage(<QuotasPage />, { route: "/quotas", path: "/quotas" });
    expect(await screen.findByText(/No pools yet/)).toBeInTheDocument();
    unmount();

    mockApi(routes(member, { "GET /api/v1/quotas/": { body: page([]) } }));
    renderPage(<QuotasPage />, { route: "/quotas", path: "/quotas" });
    expect(await screen.findByText(/No quotas yet/)).toBeInTheDocument();
    expect(screen.getByTestId(`open-pool-${POOL}`)).toHaveTextContent("24 GPUs");
  });

  it("shows loading, then the error", async () => {
    mockApi(routes(member, { "GET /api/v1/quotas/": { status: 500, body: { detail: "Database unavailable." } } }));
    renderPage(<QuotasPage />, { route: "/quotas", path: "/quotas" });
    expect(screen.getByText("Loading quotas…")).toHaveAttribute("role", "status");
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load quotas. Database unavailable.");
  });

  it("shows this month's spend per team against its budget, and per pool", async () => {
    const { calls } = mockApi(routes(member));
    renderPage(<QuotasPage />, { route: "/quotas", path: "/quotas" });

    const nlp = await screen.findByTestId("team-spend-nlp");
    expect(within(nlp).getByRole("link", { name: "nlp" })).toHaveAttribute("href", "/costs?team=nlp");
    expect(within(nlp).getByTestId("spend-budget-1")).toHaveTextContent("USD 4,687.60 of 5,000.00 (94 %)");
    expect(within(nlp).getByRole("meter")).toHaveAttribute("aria-valuenow", "94");
    expect(within(nlp).getByText("Nearing its limit")).toHaveClass("badge-budget-soft");
    const vision = screen.getByTestId("team-spend-vision");
    expect(vision).toHaveTextContent("USD 310.00 + EUR 12.00");
    expect(vision).toHaveTextContent("no budget");
    expect(screen.getByTestId(`pool-spend-${POOL}`)).toHaveTextContent(`${POOL}USD 4,687.601,882.57`);
    // This month is the server's default period: nothing is sent for it.
    const asked = calls.filter((c) => c.url.pathname === "/api/v1/costs/summary/").map((c) => Object.fromEntries(c.url.searchParams));
    expect(asked).toEqual(expect.arrayContaining([{ group_by: "team" }, { group_by: "pool" }]));
  });

  it("splits a quota's use and reads the edit form", () => {
    expect(quotaParts(quota({ guaranteed: 8, used: 11, borrowed: 3, lent: 0 }))).toEqual({
      withinGuarantee: 8,
      borrowed: 3,
      lent: 0,
      idle: 0,
    });
    expect(quotaParts(quota({ guaranteed: 8, used: 2, borrowed: 0, lent: 4 }))).toEqual({
      withinGuarantee: 2,
      borrowed: 0,
      lent: 4,
      idle: 2,
    });
    expect(buildQuotaChanges({ guaranteed: "4", max: "", lending_limit: "0", weight: "0.5" })).toEqual({
      changes: { guaranteed: 4, max: null, lending_limit: 0, weight: 0.5 },
      errors: {},
    });
    expect(buildQuotaChanges({ guaranteed: "1.5", max: "x", lending_limit: "", weight: "1" }).errors).toEqual({
      guaranteed: ["Enter a whole number, 0 or more."],
      max: ["Enter a whole number, 0 or more."],
    });
  });

  it("shows each team's preemption policy in Kueue's words: its own, or its cohort's switches", async () => {
    const cohort = {
      id: 1,
      organisation: "acme",
      name: "research",
      description: "",
      reclaim_from_borrowers: true,
      preempt_lower_priority: true,
      preempt_while_borrowing: false,
      fair_sharing: true,
      fair_sharing_strategies: ["LessThanOrEqualToFinalShare", "LessThanInitialShare"],
      teams: ["nlp", "vision"],
      created_at: "2025-01-01T00:00:00Z",
    };
    const own = {
      id: 7,
      team: "vision",
      within_team: "LowerOrNewerEqualPriority",
      reclaim_within_cohort: "LowerPriority",
      borrow_within_cohort: "LowerPriority",
      borrow_max_priority_threshold: 0,
      when_can_borrow: "TryNextFlavor",
      when_can_preempt: "Preempt",
      updated_at: "2025-01-01T00:00:00Z",
    };
    mockApi(
      routes(member, {
        "GET /api/v1/cohorts/": { body: page([cohort]) },
        "GET /api/v1/team-policies/": { body: page([own]) },
      }),
    );
    renderPage(<QuotasPage />, { route: "/quotas", path: "/quotas" });

    const table = await screen.findByRole("table", { name: "Team policies" });
    const nlp = within(table).getByTestId("policy-nlp");
    expect(nlp).toHaveTextContent("(cohort’s switches)");
    expect(within(nlp).getByTestId("policy-within-team")).toHaveTextContent("LowerPriority");
    expect(within(nlp).getByTestId("policy-reclaim")).toHaveTextContent("Any");
    expect(within(nlp).getByTestId("policy-borrow")).toHaveTextContent("Never");
    const vision = within(table).getByTestId("policy-vision");
    expect(vision).not.toHaveTextContent("cohort’s switches");
    expect(within(vision).getByTestId("policy-within-team")).toHaveTextContent("LowerOrNewerEqualPriority");
    expect(within(vision).getByTestId("policy-borrow")).toHaveTextContent("LowerPriority (priority ≤ 0)");
    expect(within(vision).getByTestId("policy-fungibility")).toHaveTextContent("TryNextFlavor / Preempt");
    expect(within(screen.getByTestId("cohort-research")).getByTestId("cohort-fair-sharing")).toHaveTextContent(
      "LessThanOrEqualToFinalShare, then LessThanInitialShare",
    );
    expect(effectivePolicies([], [])).toEqual([]);
  });
});
