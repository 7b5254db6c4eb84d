import { useState } from "react";
import { Link } from "react-router";
import type { CostedJob } from "../api/costs";
import { useJobs } from "../api/queries";
import type { JobFilters } from "../api/endpoints";
import type { Resources } from "../api/models";
import { RelativeTime } from "../components/RelativeTime";
import { SortableHeader } from "../components/SortableHeader";
import { StateBadge } from "../components/StateBadge";
import { EmptyState, ErrorState, Loading } from "../components/Status";
import { useListParams } from "../hooks/useListParams";
import { useOrdering } from "../hooks/useOrdering";
import { isActive, kindLabel } from "../lib/jobState";
import { formatElapsed, formatHours, formatMoney } from "../lib/units";
import { canClone } from "./job-new/fromJob";
import { BulkCancel } from "./jobs/BulkCancel";
import { JOB_FILTER_KEYS, JobsFilters } from "./jobs/JobsFilters";

export const JOBS_PAGE_SIZE = 25;

/** The API's own order when the URL asks for none. */
const DEFAULT_ORDERING = "-created_at";
/** Node names shown in a row before "+N". */
const NODES_SHOWN = 2;

const count = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

/** "8 × H100 SXM", "2 GPUs" (any model), "4 CPUs". */
export function formatJobResources(resources: Resources): string {
  if (resources.gpus > 0) {
    if (resources.accelerator_model) return `${count.format(resources.gpus)} × ${resources.accelerator_model}`;
    return `${count.format(resources.gpus)} GPU${resources.gpus === 1 ? "" : "s"}`;
  }
  return `${count.format(resources.cpus)} CPU${resources.cpus === 1 ? "" : "s"}`;
}

/** "gpu-node-1, gpu-node-2 +3"; a dash before the job is placed. */
function NodesCell({ nodes }: { nodes: readonly string[] }) {
  if (nodes.length === 0) return <span className="muted">—</span>;
  const more = nodes.length - NODES_SHOWN;
  return (
    <span title={nodes.join("\n")}>
      {nodes.slice(0, NODES_SHOWN).join(", ")}
      {more > 0 && <span className="muted"> +{more}</span>}
    </span>
  );
}

export function JobsPage() {
  const { page, values, filtered, setFilter, setPage, clear } = useListParams(JOB_FILTER_KEYS);
  const sort = useOrdering(DEFAULT_ORDERING);
  const filters: JobFilters = { page, page_size: JOBS_PAGE_SIZE };
  if (values.state) filters.state = values.state;
  if (values.kind) filters.kind = values.kind;
  if (values.team) filters.team = values.team;
  if (values.cluster) filters.cluster = values.cluster;
  if (values.search) filters.search = values.search;
  if (values.mine === "true") filters.mine = true;
  if (sort.requested) filters.ordering = sort.requested;

  const jobs = useJobs(filters);
  const [selected, setSelected] = useState<ReadonlySet<number>>(new Set());

  const data = jobs.data;
  // The cost fields are issue 13's, typed in ../api/costs until the generated schema has them.
  const rows = (data?.results ?? []) as CostedJob[];
  const first = data && data.count > 0 ? (page - 1) * JOBS_PAGE_SIZE + 1 : 0;
  const last = data ? first + data.results.length - (data.results.length ? 1 : 0) : 0;
  // Only rows on the page that can still be cancelled stay ticked (a poll may finish a job).
  const cancellable = rows.filter((job) => isActive(job.state)).map((job) => job.id);
  const ticked = cancellable.filter((id) => selected.has(id));
  const allTicked = cancellable.length > 0 && ticked.length === cancellable.length;
  const toggle = (id: number, on: boolean) =>
    setSelected((prev) => {
      const next = new Set(prev);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });

  return (
    <section>
      <div className="page-header">
        <h1>Jobs</h1>
        {jobs.isFetching && !jobs.isPending && <span className="refreshing" aria-hidden="true" />}
      </div>

      <JobsFilters values={values} filtered={filtered} setFilter={setFilter} clear={clear} />
      <BulkCancel selected={ticked} onDone={() => setSelected(new Set())} />

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
                  <th scope="col" className="select-cell">
                    <input
                      type="checkbox"
                      aria-label="Select every job on this page that can be cancelled"
                      checked={allTicked}
                      disabled={cancellable.length === 0}
                      onChange={(e) => setSelected(e.target.checked ? new Set(cancellable) : new Set())}
                    />
                  </th>
                  <th scope="col">ID</th>
                  <SortableHeader field="name" label="Name" sort={sort} />
                  <th scope="col">Team</th>
                  <th scope="col">Kind</th>
                  <SortableHeader field="state" label="State" sort={sort} />
                  <SortableHeader field="gpus" label="GPUs × model" sort={sort} />
                  <th scope="col">Nodes</th>
                  <SortableHeader field="duration" label="Duration" sort={sort} numeric />
                  <SortableHeader field="priority" label="Priority" sort={sort} numeric />
                  <SortableHeader field="gpu_hours" label="GPU-hours" sort={sort} numeric />
                  <SortableHeader field="cost" label="Cost" sort={sort} numeric />
                  <th scope="col">Cluster</th>
                  <th scope="col">Submitted by</th>
                  <SortableHeader field="created_at" label="Created" sort={sort} />
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((job) => (
                  <tr key={job.id} data-testid={`job-row-${job.id}`}>
                    <td className="select-cell">
                      <input
                        type="checkbox"
                        aria-label={`Select job #${job.id}`}
                        checked={selected.has(job.id) && isActive(job.state)}
                        disabled={!isActive(job.state)}
                        title={isActive(job.state) ? undefined : "Finished: nothing to cancel"}
                        onChange={(e) => toggle(job.id, e.target.checked)}
                      />
                    </td>
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
                    <td className="nowrap" data-testid="job-nodes">
                      <NodesCell nodes={job.nodes} />
                    </td>
                    <td className="num" data-testid="job-duration">
                      {formatElapsed(job.duration_seconds)}
                    </td>
                    <td className="num">{job.priority}</td>
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
                    <td>
                      {canClone(job.kind) && (
                        <Link to={`/jobs/new?from=${job.id}`} title="Open the submit form filled in from this job">
                          Clone
                        </Link>
                      )}
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
