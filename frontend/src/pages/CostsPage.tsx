import { summaryCsvUrl, usageCsvUrl, useCostSummary, type CostQuery } from "../api/costs";
import { EmptyState, ErrorState, Loading, errorMessage } from "../components/Status";
import { TeamFilter } from "../components/TeamFilter";
import { useListParams } from "../hooks/useListParams";
import { BudgetsSection } from "./costs/BudgetsSection";
import {
  apiRange,
  bucketFor,
  isBackwards,
  lastMonth,
  periodCategories,
  readPeriod,
  thisMonth,
  type Period,
} from "./costs/period";
import { SPEND_GROUPS, SpendChart, type SpendGroup } from "./costs/SpendChart";
import { TopTables } from "./costs/TopTables";

const PARAMS = ["from", "to", "team", "group"] as const;

const isGroup = (value: string): value is SpendGroup => SPEND_GROUPS.some((g) => g.value === value);

/** Spend over a period by team, user or pool, the top jobs and endpoints, and the budgets. */
export function CostsPage() {
  const { values, setFilter, setFilters } = useListParams(PARAMS);
  const period = readPeriod(values.from, values.to);
  const group: SpendGroup = isGroup(values.group) ? values.group : "team";
  const team = values.team;
  const backwards = isBackwards(period);
  const bucket = bucketFor(period);
  const range: Omit<CostQuery, "group_by"> = { ...apiRange(period), ...(team ? { team } : {}) };
  const query: CostQuery = { ...range, group_by: [group, bucket] };
  const summary = useCostSummary(query, { enabled: !backwards });

  const setPeriod = ({ from, to }: Period) => setFilters({ from, to });

  let body;
  if (backwards) {
    body = (
      <p className="status status-error" role="alert">
        The period starts after it ends: pick a start on or before its end.
      </p>
    );
  } else if (summary.isPending) body = <Loading label="Loading costs…" />;
  else if (summary.isError && !summary.data) {
    body = <ErrorState error={summary.error} title="Could not load costs" onRetry={() => void summary.refetch()} />;
  } else if (summary.data.rows.length === 0) {
    body = <EmptyState>No usage recorded in this period.</EmptyState>;
  } else {
    body = (
      <>
        {summary.isError && (
          <p className="status status-error" role="alert">
            Live updates paused: {errorMessage(summary.error)}
          </p>
        )}
        <SpendChart summary={summary.data} group={group} bucket={bucket} categories={periodCategories(period, bucket)} />
        <TopTables range={range} />
      </>
    );
  }

  return (
    <section className="costs-page">
      <div className="page-header">
        <h1>Costs</h1>
        {summary.isFetching && !summary.isPending && <span className="refreshing" aria-hidden="true" />}
      </div>

      <form className="filters" aria-label="Choose the period" onSubmit={(e) => e.preventDefault()}>
        <label>
          From
          <input type="date" value={period.from} max={period.to} onChange={(e) => setFilter("from", e.target.value)} />
        </label>
        <label>
          To
          <input type="date" value={period.to} min={period.from} onChange={(e) => setFilter("to", e.target.value)} />
        </label>
        <button type="button" className="button-secondary" onClick={() => setPeriod(thisMonth())}>
          This month
        </button>
        <button type="button" className="button-secondary" onClick={() => setPeriod(lastMonth())}>
          Last month
        </button>
        <TeamFilter value={team} onChange={(value) => setFilter("team", value)} />
        <label>
          Group by
          <select value={group} onChange={(e) => setFilter("group", e.target.value)}>
            {SPEND_GROUPS.map((g) => (
              <option key={g.value} value={g.value}>
                {g.label}
              </option>
            ))}
          </select>
        </label>
      </form>

      {!backwards && (
        <p className="downloads">
          <a href={summaryCsvUrl(query)} download data-testid="summary-csv">
            Download this summary (CSV)
          </a>
          <a href={usageCsvUrl(range)} download data-testid="usage-csv">
            Download the usage records (CSV)
          </a>
        </p>
      )}

      {body}

      <BudgetsSection team={team} />
    </section>
  );
}
