// Cost and budget answers typed as ../api/costs's (the contract's) shapes, for the pages' tests:
// a fixture that drifts from the types fails the typecheck.
import type { AttemptCost, Budget, BudgetBurn, CostRow, CostSummary, JobCost } from "../api/costs";

export function makeBudget(overrides: Partial<Budget> = {}): Budget {
  return {
    id: 1,
    name: "nlp monthly",
    team: "nlp",
    organisation: null,
    unit: "money",
    amount: "5000.00",
    currency: "USD",
    period: "monthly",
    starts_on: null,
    ends_on: null,
    soft_percent: 80,
    hard: true,
    on_hard_limit: "continue",
    webhook_url: "",
    active: true,
    period_start: "2026-12-01T00:00:00Z",
    period_end: "2027-01-01T00:00:00Z",
    spent: "4687.60",
    remaining: "312.40",
    forecast: "5500.00",
    status: "soft",
    alerts: [],
    ...overrides,
  };
}

export function makeBurn(overrides: Partial<BudgetBurn> = {}): BudgetBurn {
  return {
    currency: "USD",
    unit: "money",
    amount: "5000.00",
    period_start: "2026-12-01T00:00:00Z",
    period_end: "2027-01-01T00:00:00Z",
    days: [
      { day: "2026-12-01", spent: "1200.00", cumulative: "1200.00" },
      { day: "2026-12-02", spent: "3487.60", cumulative: "4687.60" },
    ],
    forecast: [{ day: "2026-12-31", cumulative: "5500.00" }],
    ...overrides,
  };
}

export function makeCostRow(overrides: Partial<CostRow> = {}): CostRow {
  return { currency: "USD", amount: "100.00", gpu_hours: "40.000", cpu_hours: "0.000", records: 3, ...overrides };
}

export function makeSummary(rows: CostRow[], overrides: Partial<CostSummary> = {}): CostSummary {
  const byCurrency = new Map<string, number>();
  for (const row of rows) byCurrency.set(row.currency, (byCurrency.get(row.currency) ?? 0) + Number(row.amount));
  return {
    group_by: ["team", "day"],
    from: "2026-12-01T00:00:00Z",
    to: "2026-12-07T00:00:00Z",
    rows,
    totals: [...byCurrency].map(([currency, amount]) => ({
      currency,
      amount: amount.toFixed(2),
      gpu_hours: "120.000",
      cpu_hours: "4.500",
      records: rows.length,
    })),
    ...overrides,
  };
}

export function makeAttemptCost(overrides: Partial<AttemptCost> = {}): AttemptCost {
  return {
    attempt: "4f1c0a3e-0000-4000-8000-000000000001",
    number: 1,
    state: "succeeded",
    start: "2026-12-03T08:00:00Z",
    end: "2026-12-03T09:30:00Z",
    seconds: 5400,
    resource: "gpu",
    count: "8",
    accelerator_model: "H100 SXM",
    amount: "29.88",
    currency: "USD",
    prices: [
      {
        rate: "2.4900",
        currency: "USD",
        pricing_class: "on_demand",
        price_point: 3,
        offer: "AWS p5.48xlarge on-demand",
        from: "2026-12-03T08:00:00Z",
        until: "2026-12-03T09:30:00Z",
        amount: "29.88",
      },
    ],
    ...overrides,
  };
}

export function makeJobCost(overrides: Partial<JobCost> = {}): JobCost {
  return {
    job: 7,
    currency: "USD",
    amount: "29.88",
    live_amount: "29.88",
    gpu_hours: "12.000",
    cpu_hours: "0.000",
    accrued_until: "2026-12-03T09:30:00Z",
    running: false,
    rate_per_hour: null,
    attempts: [makeAttemptCost()],
    ...overrides,
  };
}
