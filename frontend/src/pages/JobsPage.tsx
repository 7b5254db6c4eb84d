import { Link } from "react-router";
import type { CostedJob } from "../api/costs";
import { useJobs } from "../api/queries";
import type { JobFilters } from "../api/endpoints";
import type { Resources } from "../api/models";
import { RelativeTime } from "../components/RelativeTime";
import { SortableHeader } from "../components/SortableHeader";
import { StateBadge } from "../components/StateBadge";
import { EmptyState, ErrorState, Loading } from "../components/Status";
import { TeamFilter } from "../components/TeamFilter";
import { useListParams } from "../hooks/useListParams";
import { useOrdering } from "../hooks/useOrdering";
import { ALL_JOB_KINDS, JOB_STATES, kindLabel } from "../lib/jobState";
import { formatElapsed, formatHours, formatMoney } from "../lib/units";

export const JOBS_PAGE_SIZE = 25;

const FILTER_KEYS = ["state", "kind", "team"] as const;
/** The API's own order when the URL asks for none. */
const DEFAULT_ORDERING = "-created_at";

const count = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

/** "8 × H100 SXM", "2 GPUs" (any model), "4 CPUs". */
export function formatJobResources(resources: Resources): string {
  if (resources.gpus > 0) {
    if (resources.accelerator_model) return `${count.format(resources.gpus)} × ${resources.accelerator_model}`;
    return `${count.format(resources.gpus)} GPU${resources.gpus === 1 ? "" : "s"}`;
  }
  return `${count.format(resources.cpus)} CPU${resources.cpus === 1 ? "" : "s"}`;
}

export function JobsPage() {
  const { page, values, filtered, setFilter, setPage, clear } = useListParams(FILTER_KEYS);
  const sort = useOrdering(DEFAULT_ORDERING);
  const filters: JobFilters = { page, page_size: JOBS_PAGE_SIZE };
  for (const key of FILTER_KEYS) if (values[key]) filters[key] = values[key];
  if (sort.requested) filters.ordering = sort.requested;

  const jobs = useJobs(filters);

  const data = jobs.data;
  // The cost fields are issue 13's, typed in ../api/costs until the generated schema has them.
  const rows = (data?.results ?? []) as CostedJob[];
  const first = data && data.count > 0 ? (page - 1) * JOBS_PAGE_SIZE + 1 : 0;
  const last = data ? first + data.results.length - (data.results.length ? 1 : 0) : 0;

  return (
    <section>
      <div className="page-header">
        <h1>Jobs</h1>
        {jobs.isFetching && !jobs.isPending && <span className="refreshing" aria-hidden="true" />}
      </div>

      <form className="filters" aria-label="Filter jobs" onSubmit={(e) => e.preventDefault()}>
        <label>
          State
          <select value={values.state} onChange={(e) => setFilter("state", e.target.value)}>
            <option value="">All states</option>
            {JOB_STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Kind
          <select value={values.kind} onChange={(e) => setFilter("kind", e.target.value)}>
            <option value="">All kinds</option>
            {ALL_JOB_KINDS.map((k) => (
              <option key={k.value} value={k.value}>
                {k.label}
              </option>
            ))}
          </select>
        </label>
        <TeamFilter value={values.team} onChange={(team) => setFilter("team", team)} />
        {filtered && (
          <button type="button" className="button-link" onClick={clear}>
            Clear filters
          </button>
        )}
      </form>

      {jobs.isPending ? (
        <Loading label="Loading jobs…" />
      ) : jobs.isError && !data ? (
        <ErrorState error={jobs.error} title="Could not load jobs" onRetry={() => void jobs.refetch()} />
      ) : data && data.results.length === 0 ? (
        <EmptyState>
          {filtered || page > 1 ? (
            <>No jobs match these filters.</>
          ) : (
            <>
              No jobs yet — <Link to="/jobs/new">submit one</Link>.
            </>
          )}
        </EmptyState>
      ) : data ? (
        <>
          {jobs.isError && (
            <p className="status status-error" role="alert">
              Live updates paused: {jobs.error instanceof Error ? jobs.error.message : "request failed"}
            </p>
          )}
          <div className="table-scroll">
            <table className="table" data-testid="jobs-table">
              <thead>
                <tr>
                  <th scope="col">ID</th>
                  <th scope="col">Name</th>
                  <th scope="col">Team</th>
                  <th scope="col">Kind</th>
                  <th scope="col">State</th>
                  <th scope="col">Resources</th>
                  <SortableHeader field="duration" label="Duration" sort={sort} numeric />
                  <SortableHeader field="gpu_hours" label="GPU-hours" sort={sort} numeric />
                  <SortableHeader field="cost" label="Cost" sort={sort} numeric />
                  <th scope="col">Cluster</th>
                  <th scope="col">Submitted by</th>
                  <SortableHeader field="created_at" label="Created" sort={sort} />
                </tr>
              </thead>
              <tbody>
                {rows.map((job) => (
                  <tr key={job.id} data-testid={`job-row-${job.id}`}>
                    <td className="num">
                      <Link to={`/jobs/${job.id}`}>#{job.id}</Link>
                    </td>
                    <td>
                      <Link to={`/jobs/${job.id}`}>{job.name}</Link>
                    </td>
                    <td>{job.team}</td>
                    <td>{kindLabel(job.kind)}</td>
                    <td>
                      <StateBadge state={job.state} />
                      {job.state === "pending" && job.queue_position != null && (
                        <div
                          className="small muted queue-hint"
                          title={job.pending_reason || "Not yet considered by the scheduler."}
                          data-testid="queue-hint"
                        >
                          #{job.queue_position} in {job.pool ? <>pool {job.pool}</> : "its queue"}
                          {job.pending_reason && <> · {job.pending_reason}</>}
                        </div>
                      )}
                    </td>
                    <td className="nowrap" data-testid="job-resources">
                      {formatJobResources(job.resources)}
                    </td>
                    <td className="num" data-testid="job-duration">
                      {formatElapsed(job.duration_seconds)}
                    </td>
                    <td className="num" data-testid="job-gpu-hours">
                      {job.resources.gpus > 0 ? formatHours(job.gpu_hours) : "—"}
                    </td>
                    <td className="num" data-testid="job-cost">
                      {job.cost_currency ? formatMoney(job.cost, job.cost_currency) : "—"}
                    </td>
                    <td>{job.cluster || <span className="muted">default</span>}</td>
                    <td>{job.submitted_by ?? <span className="muted">—</span>}</td>
                    <td>
                      <RelativeTime iso={job.created_at} />
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
