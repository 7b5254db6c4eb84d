import { Link } from "react-router";
import { useCostSummary, type CostQuery, type CostRow } from "../../api/costs";
import { EmptyState, ErrorState, Loading } from "../../components/Status";
import { formatHours, formatMoney } from "../../lib/units";

/** Rows per top table. */
export const TOP_LIMIT = 10;

type Kind = "job" | "endpoint";

const TITLES: Record<Kind, string> = { job: "Top jobs", endpoint: "Top endpoints" };

function Subject({ row, kind }: { row: CostRow; kind: Kind }) {
  if (kind === "job") {
    return (
      <Link to={`/jobs/${row.job}`}>
        #{row.job} {row.job_name}
      </Link>
    );
  }
  return <Link to={`/endpoints/${row.endpoint}`}>{row.endpoint_name || `#${row.endpoint}`}</Link>;
}

/** The period's ten most expensive jobs or endpoints. */
function TopTable({ kind, range }: { kind: Kind; range: Omit<CostQuery, "group_by" | "limit"> }) {
  const summary = useCostSummary({ ...range, group_by: [kind], limit: TOP_LIMIT });
  const title = TITLES[kind];
  let body;
  if (summary.isPending) body = <Loading label={`Loading ${title.toLowerCase()}…`} />;
  else if (summary.isError && !summary.data) {
    body = <ErrorState error={summary.error} title={`Could not load ${title.toLowerCase()}`} onRetry={() => void summary.refetch()} />;
  } else {
    // Usage of no endpoint (plain jobs) has no row in the endpoints' table.
    const rows = summary.data.rows.filter((r) => (kind === "job" ? r.job != null : r.endpoint != null));
    body =
      rows.length === 0 ? (
        <EmptyState>{kind === "job" ? "No job used anything in this period." : "No endpoint served in this period."}</EmptyState>
      ) : (
        <table className="table table-compact" data-testid={`top-${kind}s`} aria-label={title}>
          <thead>
            <tr>
              <th scope="col">{kind === "job" ? "Job" : "Endpoint"}</th>
              <th scope="col" className="num">
                GPU-hours
              </th>
              <th scope="col" className="num">
                Cost
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={`${row[kind]}-${row.currency}`} data-testid={`top-${kind}-${row[kind]}`}>
                <td>
                  <Subject row={row} kind={kind} />
                </td>
                <td className="num">{formatHours(row.gpu_hours)}</td>
                <td className="num">{formatMoney(row.amount, row.currency)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      );
  }
  return (
    <section className="card" aria-label={title}>
      <h2>{title}</h2>
      {body}
    </section>
  );
}

export function TopTables({ range }: { range: Omit<CostQuery, "group_by" | "limit"> }) {
  return (
    <div className="top-tables">
      <TopTable kind="job" range={range} />
      <TopTable kind="endpoint" range={range} />
    </div>
  );
}
