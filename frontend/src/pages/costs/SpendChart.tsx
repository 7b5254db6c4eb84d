import { useState } from "react";
import type { CostRow, CostSummary, CostTotal } from "../../api/costs";
import { CategoryChart, type CategorySeries } from "../../components/CategoryChart";
import { formatHours, formatMoney } from "../../lib/units";
import type { Bucket } from "./period";

export type SpendGroup = "team" | "user" | "pool";

export const SPEND_GROUPS: readonly { value: SpendGroup; label: string }[] = [
  { value: "team", label: "Team" },
  { value: "user", label: "User" },
  { value: "pool", label: "Pool" },
];

/** More groups than this share one "Other" series, so the legend stays readable. */
const MAX_SERIES = 7;

/** The name a row's group goes by in the legend. */
function groupName(row: CostRow, group: SpendGroup): string {
  if (group === "team") return row.team ?? "?";
  if (group === "user") return row.user || "(no user)";
  return row.pool_name || "(no pool)";
}

/**
 * One series per group (the largest first, the rest as "Other") with its amount in `currency`
 * in each category (day or month); nothing where it spent nothing.
 */
export function spendSeries(
  rows: readonly CostRow[],
  group: SpendGroup,
  bucket: Bucket,
  categories: readonly string[],
  currency: string,
): CategorySeries[] {
  const index = new Map(categories.map((c, i) => [c, i]));
  const byGroup = new Map<string, number[]>();
  for (const row of rows) {
    if (row.currency !== currency) continue;
    const at = index.get((bucket === "day" ? row.day : row.month) ?? "");
    if (at === undefined) continue;
    const name = groupName(row, group);
    const values = byGroup.get(name) ?? categories.map(() => 0);
    values[at] = (values[at] ?? 0) + Number(row.amount);
    byGroup.set(name, values);
  }
  const total = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const ranked = [...byGroup].sort((a, b) => total(b[1]) - total(a[1]));
  const shown = ranked.length > MAX_SERIES ? ranked.slice(0, MAX_SERIES - 1) : ranked;
  const rest = ranked.slice(shown.length);
  const series: CategorySeries[] = shown.map(([label, values]) => ({ label, values: round(values) }));
  if (rest.length) {
    const other = categories.map((_, i) => rest.reduce((sum, [, values]) => sum + (values[i] ?? 0), 0));
    series.push({ label: `Other (${rest.length})`, values: round(other), colour: "#c5ccd8" });
  }
  return series;
}

/** Cents, so sums of decimal strings do not draw as 12.340000000001. */
const round = (values: number[]) => values.map((v) => Math.round(v * 100) / 100);

function Totals({ totals }: { totals: readonly CostTotal[] }) {
  return (
    <dl className="stat-row" data-testid="cost-totals">
      {totals.map((t) => (
        <div key={t.currency || "none"}>
          <dt>Total{totals.length > 1 ? ` in ${t.currency || "no currency"}` : ""}</dt>
          <dd data-testid={`cost-total-${t.currency || "none"}`}>
            {formatMoney(t.amount, t.currency)}{" "}
            <span className="small muted">
              · {formatHours(t.gpu_hours)} GPU-hours · {formatHours(t.cpu_hours)} CPU-hours
            </span>
          </dd>
        </div>
      ))}
    </dl>
  );
}

/** The period's totals per currency and spend by group over time, stacked. */
export function SpendChart({ summary, group, bucket, categories }: {
  summary: CostSummary;
  group: SpendGroup;
  bucket: Bucket;
  categories: readonly string[];
}) {
  const currencies = summary.totals.map((t) => t.currency);
  const [picked, setPicked] = useState("");
  const currency = currencies.includes(picked) ? picked : (currencies[0] ?? "");
  const series = spendSeries(summary.rows, group, bucket, categories, currency);
  const groupLabel = group === "user" ? "user" : group;
  return (
    <section className="card" aria-labelledby="spend-heading" data-testid="spend">
      <h2 id="spend-heading">Spend by {groupLabel}</h2>
      <Totals totals={summary.totals} />
      {currencies.length > 1 && (
        <div className="chart-toolbar">
          <label>
            Currency{" "}
            <select value={currency} onChange={(e) => setPicked(e.target.value)}>
              {currencies.map((c) => (
                <option key={c} value={c}>
                  {c || "no currency"}
                </option>
              ))}
            </select>
          </label>
        </div>
      )}
      <CategoryChart
        categories={categories}
        series={series}
        stacked
        yLabel={currency || "amount"}
        description={`Spend in ${currency || "no currency"} by ${groupLabel} and ${bucket}`}
        testId="spend-chart"
      />
    </section>
  );
}
