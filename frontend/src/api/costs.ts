// Cost accounting and budgets (issue 13): the API's shapes, typed by hand from the contract until
// the generated schema has them, with their calls and TanStack Query hooks. When gen:api knows
// /api/v1/costs/ and /api/v1/budgets/, replace these types with names for the generated ones
// (as ./models.ts does), move the calls to the typed client, and drop CostedJob.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { ApiError, pendingClient, unwrap } from "./client";
import type { Job, JobDetail } from "./models";

// --- Shapes -------------------------------------------------------------------------------

/** Money is a decimal string ("29.88"); hours a decimal string with three places ("12.000"). */
type Decimal = string;

/** The read-only fields issue 13 adds to a job (list and detail). */
export interface JobCostFields {
  /** From its first start to its end (or now while running); null when it never started. */
  duration_seconds: number | null;
  gpu_hours: Decimal;
  cpu_hours: Decimal;
  cost: Decimal;
  /** "" when unpriced or nothing charged yet. */
  cost_currency: string;
}

export type CostedJob = Job & JobCostFields;
export type CostedJobDetail = JobDetail & JobCostFields;

export type CostDimension = "team" | "user" | "job" | "endpoint" | "pool" | "day" | "month";

/** Sums of usage records in one currency. */
export interface CostTotal {
  currency: string;
  amount: Decimal;
  gpu_hours: Decimal;
  cpu_hours: Decimal;
  records: number;
}

/** One group of the summary: the keys of its dimensions, then its sums. */
export interface CostRow extends CostTotal {
  team?: string;
  /** The username, or "" for usage of no one (an endpoint's replicas). */
  user?: string;
  job?: number;
  job_name?: string;
  endpoint?: number | null;
  endpoint_name?: string;
  pool?: number | null;
  pool_name?: string;
  /** "YYYY-MM-DD" */
  day?: string;
  /** "YYYY-MM" */
  month?: string;
}

export interface CostSummary {
  group_by: CostDimension[];
  from: string;
  to: string;
  /** In time order when a time dimension is grouped, else by amount, largest first. */
  rows: CostRow[];
  totals: CostTotal[];
}

export interface CostQuery {
  /** One or two dimensions. */
  group_by: readonly CostDimension[];
  /** A date (YYYY-MM-DD) or an ISO datetime; the server's default is the first of this month (UTC). */
  from?: string;
  /** The server's default is now. */
  to?: string;
  team?: string;
  currency?: string;
  /** The top N rows by amount. */
  limit?: number;
}

/** One price that applied to part of an attempt. */
export interface AppliedPrice {
  /** Per GPU-hour (or CPU-hour for a CPU attempt); null where no price applied. */
  rate: Decimal | null;
  currency: string;
  pricing_class: string;
  price_point: number | null;
  offer: string;
  from: string;
  // CONTRACT: the example gives a datetime; null assumed while the attempt still runs.
  until: string | null;
  amount: Decimal;
}

export interface AttemptCost {
  attempt: string;
  number: number;
  state: string;
  start: string | null;
  end: string | null;
  seconds: number;
  resource: "gpu" | "cpu";
  count: Decimal;
  /** null for a CPU attempt. */
  accelerator_model: string | null;
  amount: Decimal;
  currency: string;
  prices: AppliedPrice[];
}

export interface JobCost {
  job: number;
  currency: string;
  /** What the ledger holds. */
  amount: Decimal;
  /** The ledger plus what is not yet accrued at the current rate (differs only while running). */
  live_amount: Decimal;
  gpu_hours: Decimal;
  cpu_hours: Decimal;
  accrued_until: string | null;
  running: boolean;
  /** What it costs per hour now; null when not running or unpriced. */
  rate_per_hour: Decimal | null;
  attempts: AttemptCost[];
}

export type BudgetStatus = "ok" | "soft" | "hard";

export interface BudgetAlert {
  level: "soft" | "hard";
  created_at: string;
  spent: Decimal;
  limit: Decimal;
  /** "", "sent" or "failed: …" */
  webhook: string;
}

export interface Budget {
  id: number;
  name: string;
  /** A team's budget names the team; an organisation's names the organisation. */
  team: string | null;
  organisation: string | null;
  unit: "money" | "gpu_hours";
  amount: Decimal;
  currency: string;
  period: "monthly" | "fixed";
  starts_on: string | null;
  ends_on: string | null;
  soft_percent: number | null;
  /** Whether reaching the amount holds new jobs back. */
  hard: boolean;
  on_hard_limit: "continue" | "stop";
  webhook_url: string;
  active: boolean;
  period_start: string;
  period_end: string;
  spent: Decimal;
  remaining: Decimal;
  forecast: Decimal;
  status: BudgetStatus;
  alerts: BudgetAlert[];
}

export interface BudgetBurn {
  currency: string;
  unit: Budget["unit"];
  amount: Decimal;
  period_start: string;
  period_end: string;
  /** The period's days so far, oldest first. */
  days: { day: string; spent: Decimal; cumulative: Decimal }[];
  /** From today's cumulative to the period's end at the current rate. */
  forecast: { day: string; cumulative: Decimal }[];
}

interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

// --- Calls --------------------------------------------------------------------------------

/** Every budget the caller may read, on one page. */
const ALL = 500;

/** Spend moves as usage is accrued (every minute or so): the costs page asks this often. */
export const COSTS_REFRESH_MS = 60_000;
/** The banner and the budgets' status. */
export const BUDGETS_REFRESH_MS = 60_000;
/** A running job's cost card. */
export const JOB_COST_REFRESH_MS = 10_000;

type Call = Promise<{ data?: unknown; error?: unknown; response: Response }>;

/** A call through pendingClient, typed by hand (above) until the schema has it. */
function pending<T>(call: Call): Promise<T> {
  return unwrap(call) as Promise<T>;
}

function summaryParams(query: CostQuery): Record<string, string> {
  const params: Record<string, string> = { group_by: query.group_by.join(",") };
  if (query.from) params.from = query.from;
  if (query.to) params.to = query.to;
  if (query.team) params.team = query.team;
  if (query.currency) params.currency = query.currency;
  if (query.limit) params.limit = String(query.limit);
  return params;
}

function withQuery(path: string, params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  return `${path}?${search.toString()}`;
}

/** The summary as a CSV file (same columns), for a download link. */
export function summaryCsvUrl(query: CostQuery): string {
  return withQuery("/api/v1/costs/summary/", { ...summaryParams(query), format: "csv" });
}

/** Every usage record matching the filters as a CSV file, for a download link. */
export function usageCsvUrl(filters: { team?: string; from?: string; to?: string }): string {
  return withQuery("/api/v1/usage/", { ...filters, format: "csv" });
}

export const costsApi = {
  summary: (query: CostQuery) =>
    pending<CostSummary>(pendingClient.GET("/api/v1/costs/summary/", { params: { query: summaryParams(query) } })),

  jobCost: (job: number) =>
    pending<JobCost>(pendingClient.GET("/api/v1/costs/jobs/{id}/", { params: { path: { id: job } } })),

  budgets: async () =>
    (await pending<Page<Budget>>(pendingClient.GET("/api/v1/budgets/", { params: { query: { page_size: ALL } } })))
      .results,

  burn: (id: number) => pending<BudgetBurn>(pendingClient.GET("/api/v1/budgets/{id}/burn/", { params: { path: { id } } })),
};

// --- Queries ------------------------------------------------------------------------------

export const costKeys = {
  summary: (query: CostQuery) => ["costs", "summary", query] as const,
  jobCost: (job: number) => ["costs", "job", job] as const,
  budgets: ["budgets"] as const,
  burn: (id: number) => ["budgets", id, "burn"] as const,
};

export function useCostSummary(query: CostQuery, { enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: costKeys.summary(query),
    queryFn: () => costsApi.summary(query),
    refetchInterval: COSTS_REFRESH_MS,
    placeholderData: keepPreviousData,
    enabled,
  });
}

/** A 404 is an answer (not the caller's job), not a failure worth retrying. */
function retryUnlessAnswered(count: number, error: unknown): boolean {
  if (error instanceof ApiError && [401, 403, 404].includes(error.status)) return false;
  return count < 2;
}

/** Every 10 s while the job runs (its cost grows), then no more. */
export function useJobCost(job: number) {
  return useQuery({
    queryKey: costKeys.jobCost(job),
    queryFn: () => costsApi.jobCost(job),
    refetchInterval: (query) => (query.state.data?.running ? JOB_COST_REFRESH_MS : false),
    retry: retryUnlessAnswered,
  });
}

/** The banner, the costs page and the quotas page share this one poll. */
export function useBudgets() {
  return useQuery({ queryKey: costKeys.budgets, queryFn: costsApi.budgets, refetchInterval: BUDGETS_REFRESH_MS });
}

export function useBudgetBurn(id: number) {
  return useQuery({ queryKey: costKeys.burn(id), queryFn: () => costsApi.burn(id), refetchInterval: COSTS_REFRESH_MS });
}
