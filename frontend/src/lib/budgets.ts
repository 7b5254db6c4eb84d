// Budgets in words: their status, amounts in their unit, and the banner's sentence. Pure
// functions, shared by the costs page, the quotas page and the banner.
import type { Budget, BudgetStatus } from "../api/costs";
import { formatAmount, formatHours, formatMoney, formatPercent } from "./units";

export const BUDGET_STATUS_LABELS: Record<BudgetStatus, string> = {
  ok: "Within budget",
  soft: "Nearing its limit",
  hard: "Budget reached",
};

/** "USD 4,687.60", or "312.5 GPU-hours" for a budget counted in GPU-hours. */
export function formatBudgetValue(budget: Pick<Budget, "unit" | "currency">, value: string | null | undefined): string {
  if (budget.unit === "gpu_hours") return `${formatHours(value)} GPU-hours`;
  return formatMoney(value, budget.currency);
}

/** "USD 4,687.60 of 5,000.00 (94 %)"; in GPU-hours "312.5 of 500 GPU-hours (63 %)". */
export function spentOfAmount(budget: Pick<Budget, "unit" | "currency" | "spent" | "amount">): string {
  const percent = formatPercent(Number(budget.spent), Number(budget.amount));
  if (budget.unit === "gpu_hours") {
    return `${formatHours(budget.spent)} of ${formatHours(budget.amount)} GPU-hours (${percent})`;
  }
  return `${formatMoney(budget.spent, budget.currency)} of ${formatAmount(budget.amount)} (${percent})`;
}

/** Spent as a share of the amount, 0 to 1 or more; 0 for a budget of nothing. */
export function spentFraction(budget: Pick<Budget, "spent" | "amount">): number {
  const amount = Number(budget.amount);
  return amount > 0 ? Number(budget.spent) / amount : 0;
}

/** "Team nlp", "Organisation acme". */
export function budgetOwner(budget: Pick<Budget, "team" | "organisation">): string {
  if (budget.team) return `Team ${budget.team}`;
  return `Organisation ${budget.organisation ?? "?"}`;
}

/**
 * The banner's line for a budget past its soft limit or at its amount, e.g. "Team nlp has used
 * 94 % of its USD 5,000.00 monthly budget" or "Team nlp has reached its USD 5,000.00 monthly
 * budget: new jobs wait"; null for a budget that is fine.
 */
export function budgetWarning(budget: Budget): string | null {
  if (budget.status === "ok" || !budget.active) return null;
  const size = formatBudgetValue(budget, budget.amount);
  const what = `its ${size} ${budget.period === "monthly" ? "monthly " : ""}budget`;
  if (budget.status === "soft") {
    return `${budgetOwner(budget)} has used ${formatPercent(Number(budget.spent), Number(budget.amount))} of ${what}`;
  }
  let consequence = "";
  if (budget.hard) consequence = budget.on_hard_limit === "stop" ? ": new jobs wait and running jobs stop" : ": new jobs wait";
  return `${budgetOwner(budget)} has reached ${what}${consequence}`;
}
