import { Link } from "react-router";
import { ENDPOINTS_PAGE_SIZE, useEndpoints, type Endpoint, type EndpointFilters } from "../api/serving";
import { CopyText } from "../components/CopyText";
import { Pager } from "../components/Pager";
import { StateBadge } from "../components/StateBadge";
import { EmptyState, ErrorState, Loading, errorMessage } from "../components/Status";
import { TeamFilter } from "../components/TeamFilter";
import { useListParams } from "../hooks/useListParams";
import { ENDPOINT_STATES, isChanging } from "../lib/endpointState";
import { formatDuration, formatMoney, formatRate } from "../lib/units";

const FILTER_KEYS = ["team", "state"] as const;

function EndpointRow({ endpoint: e }: { endpoint: Endpoint }) {
  return (
    <tr data-testid={`endpoint-row-${e.id}`}>
      <td>
        <Link to={`/endpoints/${e.id}`}>{e.name}</Link>
      </td>
      <td>{e.team}</td>
      <td>
        <StateBadge state={e.state} moving={isChanging(e.state)} title={e.state_reason} />
        {e.state_reason && (
          <div className="small muted queue-hint" title={e.state_reason} data-testid="endpoint-state-reason">
            {e.state_reason}
          </div>
        )}
      </td>
      <td>
        <CopyText text={e.url} label={`${e.name} URL`} empty="not deployed yet" />
      </td>
      <td className="num" title="running now / min / max">
        {e.replicas.running} / {e.replicas.min} / {e.replicas.max}
      </td>
      <td className="num">{e.latest ? formatDuration(e.latest.p95_ms / 1000) : "—"}</td>
      <td className="num">{e.latest ? formatRate(e.latest.requests_per_s) : "—"}</td>
      <td className="num">{e.gpus_held}</td>
      <td className="num" title={e.cost.priced ? undefined : e.cost.note}>
        {formatMoney(e.cost.so_far, e.cost.currency)}
      </td>
    </tr>
  );
}

/** Every serving endpoint of the caller's teams, live. */
export function EndpointsPage() {
  const { page, values, filtered, setFilter, setPage, clear } = useListParams(FILTER_KEYS);
  const filters: EndpointFilters = { page };
  if (values.team) filters.team = values.team;
  if (values.state) filters.state = values.state;
  const endpoints = useEndpoints(filters);
  const data = endpoints.data;

  let body;
  if (endpoints.isPending) body = <Loading label="Loading endpoints…" />;
  else if (endpoints.isError && !data) {
    body = <ErrorState error={endpoints.error} title="Could not load endpoints" onRetry={() => void endpoints.refetch()} />;
  } else if (data && data.results.length === 0) {
    body = (
      <EmptyState>
        {filtered || page > 1 ? (
          <>No endpoints match these filters.</>
        ) : (
          <>
            No endpoints yet. <Link to="/endpoints/new">Create one</Link>: choose a team, a registered model version
            (or a model directory) and its replicas, and Paddock deploys it behind an OpenAI-compatible URL.
          </>
        )}
      </EmptyState>
    );
  } else if (data) {
    body = (
      <>
        {endpoints.isError && (
          <p className="status status-error" role="alert">
            Live updates paused: {errorMessage(endpoints.error)}
          </p>
        )}
        <div className="table-scroll">
          <table className="table" data-testid="endpoints-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Team</th>
                <th scope="col">State</th>
                <th scope="col">URL</th>
                <th scope="col" className="num" title="running now / min / max">
                  Replicas
                </th>
                <th scope="col" className="num">
                  p95 latency
                </th>
                <th scope="col" className="num">
                  Requests
                </th>
                <th scope="col" className="num">
                  GPUs held
                </th>
                <th scope="col" className="num">
                  Cost so far
                </th>
              </tr>
            </thead>
            <tbody>
              {data.results.map((e) => (
                <EndpointRow key={e.id} endpoint={e} />
              ))}
            </tbody>
          </table>
        </div>
        <Pager page={page} count={data.count} pageSize={ENDPOINTS_PAGE_SIZE} hasNext={Boolean(data.next)} onPage={setPage} />
      </>
    );
  }

  return (
    <section>
      <div className="page-header">
        <h1>Endpoints</h1>
        {endpoints.isFetching && !endpoints.isPending && <span className="refreshing" aria-hidden="true" />}
        <Link to="/endpoints/new" className="link-button">
          New endpoint
        </Link>
      </div>

      <form className="filters" aria-label="Filter endpoints" onSubmit={(e) => e.preventDefault()}>
        <TeamFilter value={values.team} onChange={(team) => setFilter("team", team)} />
        <label>
          State
          <select value={values.state} onChange={(e) => setFilter("state", e.target.value)}>
            <option value="">All states</option>
            {ENDPOINT_STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        {filtered && (
          <button type="button" className="button-link" onClick={clear}>
            Clear filters
          </button>
        )}
      </form>

      {body}
    </section>
  );
}
