import { Link } from "react-router";
import { useBudgets, useCostSummary, type Budget, type CostQuery, type CostRow } from "../../api/costs";
import { SpendBar } from "../../components/SpendBar";
import { EmptyState, ErrorState, Loading } from "../../components/Status";
import { BUDGET_STATUS_LABELS, budgetOwner, spentFraction, spentOfAmount } from "../../lib/budgets";
import { formatHours, formatMoney } from "../../lib/units";

// Without from and to the server sums the first of this month (UTC) to now.
const BY_TEAM: CostQuery = { group_by: ["team"] };
const BY_POOL: CostQuery = { group_by: ["pool"] };

/** "USD 4,687.60 + EUR 12.00": a group's rows, one per currency. */
function amounts(rows: readonly CostRow[]): string {
  return rows.length ? rows.map((r) => formatMoney(r.amount, r.currency)).join(" + ") : formatMoney("0", "");
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

function BudgetCell({ budgets }: { budgets: readonly Budget[] }) {
  if (budgets.length === 0) return <span className="muted">no budget</span>;
  return (
    <>
      {budgets.map((b) => (
        <div key={b.id} className="nowrap" data-testid={`spend-budget-${b.id}`}>
          <SpendBar fraction={spentFraction(b)} status={b.status} label={`${b.name} spent of its budget`} />{" "}
          {spentOfAmount(b)}{" "}
          {b.status !== "ok" && <span className={`badge badge-budget-${b.status}`}>{BUDGET_STATUS_LABELS[b.status]}</span>}
          {b.period !== "monthly" && <span className="muted small"> (its whole period)</span>}
        </div>
      ))}
    </>
  );
}

/** This month's spend per team against its budget, and per pool. */
export function SpendSection() {
  const budgets = useBudgets();
  const byTeam = useCostSummary(BY_TEAM);
  const byPool = useCostSummary(BY_POOL);

  let body;
  if (budgets.isPending || byTeam.isPending || byPool.isPending) body = <Loading label="Loading this month's spend…" />;
  else if (!budgets.data || !byTeam.data || !byPool.data) {
    const failed = [budgets, byTeam, byPool].find((q) => q.isError);
    body = <ErrorState error={failed?.error} title="Could not load this month's spend" onRetry={() => void failed?.refetch()} />;
  } else {
    const active = budgets.data.filter((b) => b.active);
    const teamRows = groupBy(byTeam.data.rows, (r) => r.team ?? "");
    const teamBudgets = groupBy(active, (b) => b.team ?? "");
    const teams = [...new Set([...teamRows.keys(), ...teamBudgets.keys()])].filter((t) => t !== "").sort();
    const organisationBudgets = active.filter((b) => b.team === null);
    const pools = byPool.data.rows;
    body =
      teams.length === 0 && organisationBudgets.length === 0 && pools.length === 0 ? (
        <EmptyState>No usage recorded this month, and no budgets.</EmptyState>
      ) : (
        <>
          <table className="table table-compact" data-testid="team-spend" aria-label="Spend this month by team">
            <thead>
              <tr>
                <th scope="col">Team</th>
                <th scope="col" className="num">
                  Spent this month
                </th>
                <th scope="col">Against its budget</th>
              </tr>
            </thead>
            <tbody>
              {teams.map((team) => (
                <tr key={team} data-testid={`team-spend-${team}`}>
                  <td>
                    <Link to={`/costs?team=${encodeURIComponent(team)}`}>{team}</Link>
                  </td>
                  <td className="num">{amounts(teamRows.get(team) ?? [])}</td>
                  <td>
                    <BudgetCell budgets={teamBudgets.get(team) ?? []} />
                  </td>
                </tr>
              ))}
              {organisationBudgets.map((b) => (
                <tr key={`organisation-${b.id}`} data-testid={`organisation-spend-${b.id}`}>
                  <td>{budgetOwner(b)}</td>
                  <td className="num">{formatMoney(b.spent, b.unit === "money" ? b.currency : "")}</td>
                  <td>
                    <BudgetCell budgets={[b]} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {pools.length > 0 && (
            <table className="table table-compact" data-testid="pool-spend" aria-label="Spend this month by pool">
              <thead>
                <tr>
                  <th scope="col">Pool</th>
                  <th scope="col" className="num">
                    Spent this month
                  </th>
                  <th scope="col" className="num">
                    GPU-hours
                  </th>
                  <th scope="col" className="num">
                    CPU-hours
                  </th>
                </tr>
              </thead>
              <tbody>
                {pools.map((r) => (
                  <tr key={`${r.pool}-${r.currency}`} data-testid={`pool-spend-${r.pool_name || "none"}`}>
                    <td>{r.pool_name || <span className="muted">no pool</span>}</td>
                    <td className="num">{formatMoney(r.amount, r.currency)}</td>
                    <td className="num">{formatHours(r.gpu_hours)}</td>
                    <td className="num">{formatHours(r.cpu_hours)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      );
  }

  return (
    <section className="spend-section" aria-labelledby="spend-month-title" data-testid="spend-this-month">
      <h2 id="spend-month-title">Spend this month</h2>
      <p className="muted small">
        Since the first of the month (UTC), against each team&rsquo;s budget. <Link to="/costs">Costs</Link> has the
        details.
      </p>
      {body}
    </section>
  );
}
