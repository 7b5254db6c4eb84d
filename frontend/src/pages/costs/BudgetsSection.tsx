import { useBudgetBurn, useBudgets, type Budget, type BudgetBurn } from "../../api/costs";
import { CategoryChart, type CategorySeries } from "../../components/CategoryChart";
import { SpendBar } from "../../components/SpendBar";
import { EmptyState, ErrorState, Loading } from "../../components/Status";
import {
  BUDGET_STATUS_LABELS,
  budgetOwner,
  formatBudgetValue,
  spentFraction,
  spentOfAmount,
} from "../../lib/budgets";
import { daysBetween, formatPeriod } from "./period";

const SPENT_COLOUR = "#2f5bd3";
const FORECAST_COLOUR = "#d9822b";
const AMOUNT_COLOUR = "#c0362c";

/**
 * Over every day of the budget's period: the cumulative spend so far, the forecast from today to
 * the period's end, and the budget's amount as a flat line.
 */
export function burnSeries(burn: BudgetBurn): { categories: string[]; series: CategorySeries[] } {
  const days = new Set(daysBetween(burn.period_start, burn.period_end));
  for (const d of burn.days) days.add(d.day);
  for (const d of burn.forecast) days.add(d.day);
  const categories = [...days].sort();
  const spent = new Map(burn.days.map((d) => [d.day, Number(d.cumulative)]));
  const forecast = new Map(burn.forecast.map((d) => [d.day, Number(d.cumulative)]));
  // The forecast goes on from the last day spent, so the two lines meet.
  const last = burn.days[burn.days.length - 1];
  if (last && burn.forecast.length > 0 && !forecast.has(last.day)) forecast.set(last.day, Number(last.cumulative));
  const amount = Number(burn.amount);
  return {
    categories,
    series: [
      { label: "Spent", kind: "line", colour: SPENT_COLOUR, values: categories.map((d) => spent.get(d) ?? null) },
      {
        label: "Forecast",
        kind: "line",
        dashed: true,
        points: false,
        colour: FORECAST_COLOUR,
        values: categories.map((d) => forecast.get(d) ?? null),
      },
      { label: "Budget", kind: "line", points: false, colour: AMOUNT_COLOUR, values: categories.map(() => amount) },
    ],
  };
}

function BurnChart({ budget }: { budget: Budget }) {
  const burn = useBudgetBurn(budget.id);
  if (burn.isPending) return <Loading label="Loading the burn-down…" />;
  if (burn.isError && !burn.data) {
    return <ErrorState error={burn.error} title="Could not load the burn-down" onRetry={() => void burn.refetch()} />;
  }
  const { categories, series } = burnSeries(burn.data);
  const unit = burn.data.unit === "gpu_hours" ? "GPU-hours" : burn.data.currency;
  return (
    <CategoryChart
      categories={categories}
      series={series}
      yLabel={unit}
      description={`Cumulative spend of ${budget.name} in ${unit} by day, with the forecast and the budget`}
      height={200}
      testId={`burn-${budget.id}`}
    />
  );
}

function BudgetCard({ budget }: { budget: Budget }) {
  return (
    <article className="card budget-card" aria-label={`Budget ${budget.name}`} data-testid={`budget-${budget.id}`}>
      <header>
        <h3>{budget.name}</h3>
        <span className="muted small">
          {budgetOwner(budget)} · {budget.period === "monthly" ? "monthly" : "fixed period"} ·{" "}
          {formatPeriod(budget.period_start, budget.period_end)}
        </span>
        <span className={`badge badge-budget-${budget.status}`} data-testid="budget-status">
          {BUDGET_STATUS_LABELS[budget.status]}
        </span>
      </header>
      <p data-testid="budget-spent">
        <SpendBar fraction={spentFraction(budget)} status={budget.status} label={`${budget.name} spent of its budget`} />{" "}
        {spentOfAmount(budget)}
      </p>
      <dl className="stat-row">
        <div>
          <dt>Remaining</dt>
          <dd data-testid="budget-remaining">{formatBudgetValue(budget, budget.remaining)}</dd>
        </div>
        <div>
          <dt>Forecast at the period&rsquo;s end</dt>
          <dd data-testid="budget-forecast">{formatBudgetValue(budget, budget.forecast)}</dd>
        </div>
        <div>
          <dt>At the amount</dt>
          <dd className="small">
            {budget.hard
              ? budget.on_hard_limit === "stop"
                ? "new jobs wait, running jobs stop"
                : "new jobs wait"
              : "alerts only"}
            {budget.soft_percent != null && <span className="muted"> · alert at {budget.soft_percent} %</span>}
          </dd>
        </div>
      </dl>
      <BurnChart budget={budget} />
    </article>
  );
}

/** The budgets the caller can see (of `team` and of organisations, when a team is chosen). */
export function BudgetsSection({ team }: { team: string }) {
  const budgets = useBudgets();
  let body;
  if (budgets.isPending) body = <Loading label="Loading budgets…" />;
  else if (budgets.isError && !budgets.data) {
    body = <ErrorState error={budgets.error} title="Could not load budgets" onRetry={() => void budgets.refetch()} />;
  } else {
    const shown = budgets.data.filter((b) => b.active && (!team || b.team === team || b.team === null));
    body =
      shown.length === 0 ? (
        <EmptyState>No budgets{team ? ` for team ${team}` : ""}. An admin of the team or its organisation can set one.</EmptyState>
      ) : (
        <div className="budget-list">
          {shown.map((b) => (
            <BudgetCard key={b.id} budget={b} />
          ))}
        </div>
      );
  }
  return (
    <section aria-labelledby="budgets-heading" data-testid="budgets">
      <h2 id="budgets-heading">Budgets</h2>
      {body}
    </section>
  );
}
