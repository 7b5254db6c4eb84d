import { Link } from "react-router";
import type { Checkpoint, CheckpointPolicy } from "../../api/models";
import { useJobCheckpoints } from "../../api/queries";
import { RelativeTime } from "../../components/RelativeTime";
import { EmptyState, ErrorState, Loading } from "../../components/Status";
import { formatBytes } from "../../lib/units";
import { formatMetrics } from "../../lib/metrics";

/**
 * "the latest 3 and the best 2 by loss (lowest)"; what the job left out is the team's default
 * ("the team's default" when it asked for nothing).
 */
export function describePolicy(policy: CheckpointPolicy | null | undefined): string {
  const parts: string[] = [];
  if (policy?.keep_latest != null) parts.push(`the latest ${policy.keep_latest}`);
  if (policy?.keep_best) {
    const metric = policy.best_metric ?? "loss";
    parts.push(`the best ${policy.keep_best} by ${metric} (${policy.best_mode === "max" ? "highest" : "lowest"})`);
  }
  if (parts.length === 0) return "what the team's default retention keeps";
  const partial = policy?.keep_latest == null || policy?.keep_best == null;
  return parts.join(" and ") + (partial ? " (the rest as the team's default says)" : "");
}

/** Why a checkpoint is still there, or why it is gone. */
function Reason({ checkpoint }: { checkpoint: Checkpoint }) {
  if (checkpoint.state === "deleted") {
    return <span className="muted">deleted: {checkpoint.deletion_reason || "no reason recorded"}</span>;
  }
  if (checkpoint.state === "writing") return <span className="muted">being written…</span>;
  return checkpoint.retained_because ? <span>kept because {checkpoint.retained_because}</span> : <span className="muted">—</span>;
}

export function CheckpointsTable({ checkpoints }: { checkpoints: readonly Checkpoint[] }) {
  return (
    <table className="table" data-testid="job-checkpoints">
      <thead>
        <tr>
          <th scope="col" className="num">
            Step
          </th>
          <th scope="col" className="num">
            Attempt
          </th>
          <th scope="col">State</th>
          <th scope="col" className="num">
            Size
          </th>
          <th scope="col" className="num">
            Files
          </th>
          <th scope="col">Metrics</th>
          <th scope="col">Created</th>
          <th scope="col">Why</th>
          <th scope="col">Model versions</th>
        </tr>
      </thead>
      <tbody>
        {checkpoints.map((c) => (
          <tr key={c.id} data-testid={`checkpoint-${c.step}`} className={c.state === "deleted" ? "row-muted" : undefined}>
            <td className="num" title={c.uri}>
              {c.step}
              {c.final && <span className="badge badge-final">final</span>}
            </td>
            <td className="num">{c.attempt_number ?? "—"}</td>
            <td>
              <span className={`badge badge-checkpoint-${c.state}`} data-state={c.state}>
                {c.state}
              </span>
            </td>
            <td className="num">{c.bytes == null ? "—" : formatBytes(c.bytes, { si: true })}</td>
            <td className="num">{c.file_count ?? "—"}</td>
            <td className="small">{formatMetrics(c.metrics) || <span className="muted">—</span>}</td>
            <td>
              <RelativeTime iso={c.created_at} />
            </td>
            <td className="small" data-testid="checkpoint-reason">
              <Reason checkpoint={c} />
            </td>
            <td>
              {c.model_versions.length === 0 ? (
                <span className="muted">—</span>
              ) : (
                <ul className="inline-list">
                  {c.model_versions.map((v) => (
                    <li key={v}>
                      <Link to={`/model-versions/${v}`}>version #{v}</Link>
                    </li>
                  ))}
                </ul>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The job's checkpoints, newest step first, with the policy that decides which are kept. */
export function CheckpointsSection({
  jobId,
  active,
  policy,
}: {
  jobId: number;
  active: boolean;
  policy: CheckpointPolicy | null | undefined;
}) {
  const checkpoints = useJobCheckpoints(jobId, { active });
  let body;
  if (checkpoints.isPending) body = <Loading label="Loading checkpoints…" />;
  else if (checkpoints.isError && checkpoints.data === undefined) {
    body = (
      <ErrorState error={checkpoints.error} title="Could not load the checkpoints" onRetry={() => void checkpoints.refetch()} />
    );
  } else if (checkpoints.data.length === 0) {
    body = (
      <EmptyState>
        No checkpoints yet — save them with <code>paddock.job.save_checkpoint</code>.
      </EmptyState>
    );
  } else {
    const newestFirst = [...checkpoints.data].sort((a, b) => b.step - a.step || b.id - a.id);
    body = <CheckpointsTable checkpoints={newestFirst} />;
  }
  return (
    <section aria-labelledby="checkpoints-heading">
      <h2 id="checkpoints-heading">Checkpoints</h2>
      <p className="small" data-testid="checkpoint-policy">
        Keeps {describePolicy(policy)}.
      </p>
      {body}
    </section>
  );
}
