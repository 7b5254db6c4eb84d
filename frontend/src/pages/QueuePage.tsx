import { Link, useSearchParams } from "react-router";
import { QUEUE_PAGE_SIZE } from "../api/endpoints";
import type { QueueEntry, QueueListQuery } from "../api/models";
import { usePools, useQueue, useTeams } from "../api/queries";
import { EstimatedStart } from "../components/EstimatedStart";
import { RelativeTime } from "../components/RelativeTime";
import { EmptyState, ErrorState, Loading, errorMessage } from "../components/Status";

const FILTER_KEYS = ["team", "pool"] as const;

/** "next in its pool", "1 job ahead", "12 jobs ahead" */
export function describeJobsAhead(jobsAhead: number): string {
  if (jobsAhead <= 0) return "next in its pool";
  return jobsAhead === 1 ? "1 job ahead" : `${jobsAhead} jobs ahead`;
}

function Reason({ entry }: { entry: QueueEntry }) {
  return (
    <>
      {entry.pending_reason ? (
        <span data-testid="pending-reason">{entry.pending_reason}</span>
      ) : (
        <span className="muted" data-testid="pending-reason">
          Not yet considered by the scheduler.
        </span>
      )}
      {entry.cannot_run ? (
        // Never "next in its pool": no place on its cluster could ever hold it as it asks.
        <div className="small cannot-run" data-testid="cannot-run">
          <strong>Can never run as asked:</strong> {entry.cannot_run} Cancel it and resubmit it to fit.
        </div>
      ) : (
        <div
          className="small muted"
          data-testid="jobs-ahead"
          title="Pending jobs of any team before it in its pool, by priority then age (the scheduler also weighs fair share between teams)"
        >
          {describeJobsAhead(entry.jobs_ahead)}
        </div>
      )}
    </>
  );
}

function Priority({ entry }: { entry: QueueEntry }) {
  return (
    <>
      <span className="num">{entry.priority}</span>
      {entry.priority_class && (
        <>
          {" "}
          <span className="badge badge-class">{entry.priority_class}</span>
        </>
      )}
    </>
  );
}

export function QueuePage() {
  const [params, setParams] = useSearchParams();
  const page = Math.max(1, Number.parseInt(params.get("page") ?? "1", 10) || 1);
  const query: QueueListQuery = { page, page_size: QUEUE_PAGE_SIZE };
  for (const key of FILTER_KEYS) {
    const value = params.get(key);
    if (value) query[key] = value;
  }
  const filtered = FILTER_KEYS.some((key) => params.get(key));

  const queue = useQueue(query);
  const teams = useTeams();
  const pools = usePools();

  const setFilter = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    next.delete("page");
    setParams(next);
  };
  const setPage = (n: number) => {
    const next = new URLSearchParams(params);
    if (n > 1) next.set("page", String(n));
    else next.delete("page");
    setParams(next);
  };

  const data = queue.data;
  const first = data && data.count > 0 ? (page - 1) * QUEUE_PAGE_SIZE + 1 : 0;
  const last = data ? first + data.results.length - (data.results.length ? 1 : 0) : 0;
  const team = params.get("team") ?? "";
  const pool = params.get("pool") ?? "";

  return (
    <section>
      <div className="page-header">
        <h1>Queue</h1>
        {queue.isFetching && !queue.isPending && <span className="refreshing" aria-hidden="true" />}
      </div>
      <p className="muted intro">
        Your teams&rsquo; pending jobs, highest priority first, then oldest; each says where it stands and why it
        waits.
      </p>

      <form className="filters" aria-label="Filter the queue" onSubmit={(e) => e.preventDefault()}>
        <label>
          Team
          <select value={team} onChange={(e) => setFilter("team", e.target.value)}>
            <option value="">All teams</option>
            {(teams.data ?? []).map((t) => (
              <option key={t.slug} value={t.slug}>
                {t.name}
              </option>
            ))}
            {/* Keep a filter from the URL selectable even before (or without) the list. */}
            {team && !teams.data?.some((t) => t.slug === team) && <option value={team}>{team}</option>}
          </select>
        </label>
        <label>
          Pool
          <select value={pool} onChange={(e) => setFilter("pool", e.target.value)}>
            <option value="">All pools</option>
            {(pools.data ?? []).map((p) => (
              <option key={p.name} value={p.name}>
                {p.name}
              </option>
            ))}
            {pool && !pools.data?.some((p) => p.name === pool) && <option value={pool}>{pool}</option>}
          </select>
        </label>
        {filtered && (
          <button type="button" className="button-link" onClick={() => setParams(new URLSearchParams())}>
            Clear filters
          </button>
        )}
      </form>

      {queue.isPending ? (
        <Loading label="Loading the queue…" />
      ) : queue.isError && !data ? (
        <ErrorState error={queue.error} title="Could not load the queue" onRetry={() => void queue.refetch()} />
      ) : data && data.results.length === 0 ? (
        <EmptyState>
          {filtered || page > 1 ? (
            <>Nothing is waiting that matches these filters.</>
          ) : (
            <>Nothing is waiting.</>
          )}
        </EmptyState>
      ) : data ? (
        <>
          {queue.isError && (
            <p className="status status-error" role="alert">
              Live updates paused: {errorMessage(queue.error)}
            </p>
          )}
          <div className="table-scroll">
            <table className="table queue-table" data-testid="queue" aria-label="Pending jobs">
              <thead>
                <tr>
                  <th scope="col" className="num" title="Among the pending jobs of its team in its pool">
                    Position
                  </th>
                  <th scope="col">Job</th>
                  <th scope="col">Team</th>
                  <th scope="col">Pool</th>
                  <th scope="col">Priority</th>
                  <th scope="col">Waiting since</th>
                  <th scope="col" title="When the scheduler expects to start it, from when running work ends; refreshed each pass">
                    Estimated start
                  </th>
                  <th scope="col">Why it waits</th>
                </tr>
              </thead>
              <tbody>
                {data.results.map((entry) => (
                  <tr key={entry.id} data-testid={`queue-row-${entry.id}`}>
                    <td className="num" data-testid="queue-position">
                      <span title={`Position ${entry.queue_position} among team ${entry.team}'s pending jobs in this pool`}>
                        {entry.queue_position}
                      </span>
                    </td>
                    <td className="nowrap">
                      <Link to={`/jobs/${entry.id}`}>{entry.name}</Link> <span className="muted small">#{entry.id}</span>
                    </td>
                    <td>{entry.team}</td>
                    <td className="nowrap">{entry.pool ?? <span className="muted">none yet</span>}</td>
                    <td className="nowrap">
                      <Priority entry={entry} />
                    </td>
                    <td className="nowrap">
                      <RelativeTime iso={entry.waiting_since} />
                    </td>
                    <td className="nowrap">
                      <EstimatedStart estimate={entry} />
                    </td>
                    <td className="queue-reason">
                      <Reason entry={entry} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav className="pagination" aria-label="Pagination">
            <span>
              {first}–{last} of {data.count}
            </span>
            <button type="button" className="button-secondary" disabled={!data.previous} onClick={() => setPage(page - 1)}>
              Previous
            </button>
            <button type="button" className="button-secondary" disabled={!data.next} onClick={() => setPage(page + 1)}>
              Next
            </button>
          </nav>
        </>
      ) : null}
    </section>
  );
}
