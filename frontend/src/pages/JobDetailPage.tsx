import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { ApiError } from "../api/client";
import { api } from "../api/endpoints";
import { queryKeys, useJob } from "../api/queries";
import { LogPanel } from "../components/LogPanel";
import { EstimatedStart } from "../components/EstimatedStart";
import { RelativeTime } from "../components/RelativeTime";
import { StateBadge } from "../components/StateBadge";
import { EmptyState, ErrorState, Loading, errorMessage } from "../components/Status";
import type { JobDetail, JobPlan } from "../api/models";
import { FitBadge, MemoryUse } from "../components/PlanFit";
import { useLogTail } from "../hooks/useLogTail";
import { isActive, kindLabel, readRuntimeEnv } from "../lib/jobState";
import { modeLabel } from "../lib/planSpec";
import { formatCount, formatDuration } from "../lib/units";

export function JobDetailPage() {
  const params = useParams();
  const id = Number(params.id);
  if (!Number.isInteger(id) || id <= 0) return <ErrorState error={new Error(`"${params.id}" is not a job id.`)} title="No such job" />;
  return <JobDetail key={id} id={id} />;
}

function JobDetail({ id }: { id: number }) {
  const job = useJob(id);
  const queryClient = useQueryClient();
  const active = isActive(job.data?.state);
  const tail = useLogTail(id, { fetchLogs: api.jobLogs, enabled: job.isSuccess, follow: active });

  const cancel = useMutation({
    mutationFn: () => api.cancelJob(id),
    onSuccess: (updated) => {
      queryClient.setQueryData(queryKeys.job(id), (prev: typeof job.data) => (prev ? { ...prev, ...updated } : prev));
      void queryClient.invalidateQueries({ queryKey: queryKeys.job(id) });
      void queryClient.invalidateQueries({ queryKey: ["jobs"] });
    },
  });

  if (job.isPending) return <Loading label="Loading job…" />;
  if (job.isError) {
    if (job.error instanceof ApiError && job.error.status === 404) {
      return (
        <ErrorState
          error={new Error(`Job #${id} does not exist, or it belongs to a team you are not in.`)}
          title="Job not found"
        />
      );
    }
    return <ErrorState error={job.error} title="Could not load this job" onRetry={() => void job.refetch()} />;
  }
  const j = job.data;
  const env = readRuntimeEnv(j.runtime_env);

  const onCancel = () => {
    if (window.confirm(`Cancel job #${j.id} "${j.name}"?`)) cancel.mutate();
  };

  return (
    <section className="job-detail">
      <p className="breadcrumb">
        <Link to="/jobs">Jobs</Link> / #{j.id}
      </p>
      <div className="page-header">
        <h1>
          {j.name} <span className="muted">#{j.id}</span>
        </h1>
        <StateBadge state={j.state} testId="job-state" />
        {active && (
          <button type="button" className="button-danger" onClick={onCancel} disabled={cancel.isPending}>
            {cancel.isPending ? "Cancelling…" : "Cancel job"}
          </button>
        )}
      </div>
      {j.state === "pending" ? (
        <QueueStatus job={j} />
      ) : (
        j.state_reason && (
          <p className="state-reason" data-testid="job-state-reason">
            {j.state_reason}
          </p>
        )
      )}
      {cancel.isError && (
        <p className="status status-error" role="alert">
          Could not cancel: {errorMessage(cancel.error)}
        </p>
      )}

      <dl className="facts">
        <dt>Team</dt>
        <dd>{j.team}</dd>
        <dt>Kind</dt>
        <dd>{kindLabel(j.kind)}</dd>
        <dt>Cluster</dt>
        <dd>{j.cluster || "default"}</dd>
        <dt>Pool</dt>
        <dd data-testid="job-pool">{j.pool ?? <span className="muted">none yet</span>}</dd>
        <dt>Submitted by</dt>
        <dd>{j.submitted_by ?? "—"}</dd>
        <dt>Created</dt>
        <dd>
          <RelativeTime iso={j.created_at} />
        </dd>
        <dt>Admitted</dt>
        <dd>
          <RelativeTime iso={j.admitted_at} />
        </dd>
        <dt>Started</dt>
        <dd>
          <RelativeTime iso={j.started_at} />
        </dd>
        <dt>Finished</dt>
        <dd>
          <RelativeTime iso={j.finished_at} />
        </dd>
        <dt>Resources</dt>
        <dd>
          {j.resources.cpus} CPU · {j.resources.gpus} GPU
          {j.resources.accelerator_model ? ` (${j.resources.accelerator_model})` : ""} · {j.resources.memory_gb} GB
        </dd>
        <dt>Max retries</dt>
        <dd>{j.max_retries}</dd>
        <dt>Max runtime</dt>
        <dd data-testid="job-max-runtime" title="An attempt running longer is stopped and the job fails, without a retry">
          {j.max_runtime_seconds != null ? formatDuration(j.max_runtime_seconds) : <span className="muted">none</span>}
        </dd>
        <dt>Priority</dt>
        <dd data-testid="job-priority">
          {j.priority}
          {j.priority_class && (
            <>
              {" "}
              <span className="badge badge-class">{j.priority_class}</span>
            </>
          )}
        </dd>
        <dt>Entrypoint</dt>
        <dd>
          <code className="mono">{j.entrypoint}</code>
        </dd>
        {env.workingDir && (
          <>
            <dt>Working directory</dt>
            <dd>
              <code>{env.workingDir}</code>
            </dd>
          </>
        )}
        {env.pip.length > 0 && (
          <>
            <dt>Pip packages</dt>
            <dd>
              <code>{env.pip.join(" ")}</code>
            </dd>
          </>
        )}
        {env.envVarNames.length > 0 && (
          <>
            <dt>Environment</dt>
            <dd>
              <code>{env.envVarNames.join(", ")}</code>
            </dd>
          </>
        )}
      </dl>

      {j.plan && <PlanPanel plan={j.plan} />}

      <h2>Logs</h2>
      <LogPanel tail={tail} active={active} />

      <h2>Attempts</h2>
      {j.attempts.length === 0 ? (
        <EmptyState>No attempts yet{active ? " — the job is waiting to be dispatched" : ""}.</EmptyState>
      ) : (
        <table className="table" data-testid="job-attempts">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">State</th>
              <th scope="col">Remote ID</th>
              <th scope="col">Dispatched</th>
              <th scope="col">Started</th>
              <th scope="col">Finished</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {j.attempts.map((a) => (
              <tr key={a.id}>
                <td className="num">{a.number}</td>
                <td>
                  <StateBadge state={a.state} />
                </td>
                <td className="mono">{a.remote_id || "—"}</td>
                <td>
                  <RelativeTime iso={a.dispatched_at} />
                </td>
                <td>
                  <RelativeTime iso={a.started_at} />
                </td>
                <td>
                  <RelativeTime iso={a.finished_at} />
                </td>
                <td>
                  {a.failure_cause === "infrastructure" && (
                    <span className="badge" title="Retried without counting against max retries">
                      the cluster's failure
                    </span>
                  )}{" "}
                  {a.message}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>Events</h2>
      {j.events.length === 0 ? (
        <EmptyState>No events yet.</EmptyState>
      ) : (
        <ol className="timeline" data-testid="job-events">
          {j.events.map((e) => (
            <li key={e.id}>
              <RelativeTime iso={e.created_at} />
              <div>
                <strong>{e.kind.replace(/_/g, " ")}</strong>
                {e.from_state || e.to_state ? (
                  <span className="transition">
                    {" "}
                    {e.from_state && <StateBadge state={e.from_state} live={false} />} →{" "}
                    {e.to_state && <StateBadge state={e.to_state} live={false} />}
                  </span>
                ) : null}
                {e.attempt !== null && <span className="muted"> · attempt {e.attempt}</span>}
                {e.actor && <span className="muted"> · by {e.actor}</span>}
                {e.message && <p className="event-message">{e.message}</p>}
              </div>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** Where a pending job stands in its team's queue for its pool, and why it waits. */
function QueueStatus({ job }: { job: JobDetail }) {
  return (
    <div className="state-reason queue-status" data-testid="job-queue">
      {job.queue_position != null && (
        <span data-testid="job-queue-position">
          Position {job.queue_position} among team {job.team}&rsquo;s pending jobs
          {job.pool ? ` in pool ${job.pool}` : ""} · <Link to={`/queue?team=${encodeURIComponent(job.team)}`}>queue</Link>
        </span>
      )}
      <span data-testid="job-pending-reason">{job.pending_reason || "Not yet considered by the scheduler."}</span>
      <span data-testid="job-estimate">
        Estimated start: <EstimatedStart estimate={job} />
      </span>
    </div>
  );
}

/** The model as the submitter gave it: a known name, a parameter count or an architecture. */
function describeModel(model: Record<string, unknown>): string {
  if (typeof model.name === "string") return model.name;
  if (typeof model.params === "number") return `${formatCount(model.params)} parameters`;
  const arch = model.architecture as Record<string, unknown> | undefined;
  if (arch && typeof arch === "object") return `Custom architecture (hidden ${String(arch.hidden)}, ${String(arch.layers)} layers)`;
  return "—";
}

function describeWorkload(workload: Record<string, unknown>): string {
  const parts = [modeLabel(String(workload.mode ?? "—"))];
  if (typeof workload.batch === "number") parts.push(`micro-batch ${workload.batch}`);
  if (typeof workload.seq === "number") parts.push(`${workload.seq} tokens per sequence`);
  if (typeof workload.precision === "string") parts.push(workload.precision);
  return parts.join(" · ");
}

/** What the planner said when the job was submitted. */
function PlanPanel({ plan }: { plan: JobPlan }) {
  return (
    <>
      <h2>Plan</h2>
      <dl className="facts" data-testid="job-plan">
        <dt>Model</dt>
        <dd>{describeModel(plan.model)}</dd>
        <dt>Workload</dt>
        <dd>{describeWorkload(plan.workload)}</dd>
        <dt>Fit</dt>
        <dd>
          <FitBadge fits={plan.fits} overridden={plan.overridden} /> on {plan.gpus} × {plan.accelerator}
        </dd>
        <dt>Memory per GPU</dt>
        <dd>
          <MemoryUse perGpu={plan.memory_per_gpu_bytes} headroom={plan.headroom_bytes} />
          <span className="muted"> at the {plan.peak_phase}</span>
        </dd>
        <dt>Step time</dt>
        <dd>{formatDuration(plan.step_time_s)}</dd>
        <dt>Time to train</dt>
        <dd>{plan.time_to_train_s == null ? <span className="muted">no token count given</span> : formatDuration(plan.time_to_train_s)}</dd>
        <dt>Planner</dt>
        <dd className="small">{plan.explanation}</dd>
      </dl>
    </>
  );
}
