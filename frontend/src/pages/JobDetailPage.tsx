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
import type { JobDetail } from "../api/models";
import { useLogTail } from "../hooks/useLogTail";
import { isActive, kindLabel, readRuntimeEnv } from "../lib/jobState";
import { formatDuration } from "../lib/units";
import { AttemptsTable } from "./job-detail/AttemptsTable";
import { CheckpointsSection } from "./job-detail/CheckpointsSection";
import { CloneLink } from "./job-detail/CloneLink";
import { JobCostCard } from "./job-detail/CostCard";
import { PlacementSection } from "./job-detail/PlacementSection";
import { GpuUtilisationChart } from "./job-detail/GpuUtilisationChart";
import { FailureSummary, eventMessage } from "./job-detail/FailureSummary";
import { PlanPanel } from "./job-detail/PlanPanel";
import { TrainingSection } from "./job-detail/TrainingSection";

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
        <CloneLink jobId={j.id} kind={j.kind} />
        {active && (
          <button type="button" className="button-danger" onClick={onCancel} disabled={cancel.isPending}>
            {cancel.isPending ? "Cancelling…" : "Cancel job"}
          </button>
        )}
      </div>
      {j.state === "pending" ? (
        <QueueStatus job={j} />
      ) : j.state === "failed" ? (
        <FailureSummary job={j} />
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
        {j.accepted_pools.length > 1 && (
          <>
            <dt>Accepts pools</dt>
            <dd data-testid="job-accepted-pools">
              <AcceptedPools pools={j.accepted_pools} chosen={j.state === "pending" ? null : j.pool} />
            </dd>
          </>
        )}
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
          {j.resources.accelerator_models.length > 1 && ` · accepts ${j.resources.accelerator_models.join(", then ")}`}
          {j.resources.min_gpu_memory_gb != null && ` · any GPU with ${j.resources.min_gpu_memory_gb} GB or more`}
        </dd>
        <dt>Max retries</dt>
        <dd>{j.max_retries}</dd>
        <dt>Retry on error</dt>
        <dd data-testid="job-retry-on-error">
          {j.retry_on_error
            ? "yes: the job's own errors are retried too, up to max retries"
            : "no: only the cluster's failures are retried"}
        </dd>
        {j.runtime === "ray" && (
          <>
            <dt>Runtime</dt>
            <dd data-testid="job-runtime">a Ray cluster of its own (on Kubernetes: a KubeRay RayJob)</dd>
          </>
        )}
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

      <PlacementSection attempts={j.attempts} cluster={j.cluster} />
      <JobCostCard jobId={j.id} />

      {j.plan && <PlanPanel plan={j.plan} />}

      {j.resources.gpus > 0 && <GpuUtilisationChart jobId={j.id} active={active} />}
      <TrainingSection jobId={j.id} active={active} />
      <CheckpointsSection jobId={j.id} active={active} policy={j.checkpoint_policy} />

      <h2>Logs</h2>
      <LogPanel tail={tail} active={active} downloadUrl={api.jobLogDownloadUrl(j.id)} />

      <h2>Attempts</h2>
      <div className="table-scroll">
        <AttemptsTable attempts={j.attempts} active={active} failed={j.state === "failed"} />
      </div>

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
                {e.message && <p className="event-message">{eventMessage(e, j.attempts)}</p>}
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

/** The pools a job accepts, first choice first; the one it was admitted to is marked. */
function AcceptedPools({ pools, chosen }: { pools: readonly string[]; chosen: string | null }) {
  return (
    <ol className="inline-list">
      {pools.map((name) => (
        <li key={name}>
          {name === chosen ? (
            <strong title="The pool it was admitted to">{name} (admitted here)</strong>
          ) : (
            name
          )}
        </li>
      ))}
    </ol>
  );
}
