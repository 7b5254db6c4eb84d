import type { Attempt } from "../../api/models";
import { RelativeTime } from "../../components/RelativeTime";
import { StateBadge } from "../../components/StateBadge";
import { EmptyState } from "../../components/Status";
import { AttemptMessage } from "./FailureSummary";

/** What the next attempt did about this one's failure: "retried from step 40" or "retried from the start". */
function retriedAs(next: Attempt | undefined): string {
  if (!next) return "";
  return next.resume_step != null ? `retried from step ${next.resume_step}` : "retried from the start";
}

/** Why an attempt failed, in words, with what the next attempt did about it. */
function FailureCause({ attempt, next }: { attempt: Attempt; next: Attempt | undefined }) {
  if (!attempt.failure_cause) return null;
  const retried = retriedAs(next);
  return (
    <span data-testid="failure-cause">
      {attempt.failure_cause === "infrastructure" ? (
        <span className="badge badge-cause-infrastructure" title="Retried without counting against max retries">
          the cluster's failure
        </span>
      ) : (
        <span className="badge badge-cause-code" title="The job's code, command or environment failed">
          the job's own error
        </span>
      )}
      {retried && <span className="muted"> — {retried}</span>}
    </span>
  );
}

/**
 * A job's attempts, oldest first: state, times, why each failed and where each resumed from.
 * ``failed``: the job failed, and its failure summary already shows the last attempt's message.
 */
export function AttemptsTable({
  attempts,
  active,
  failed = false,
}: {
  attempts: readonly Attempt[];
  active: boolean;
  failed?: boolean;
}) {
  if (attempts.length === 0) {
    return <EmptyState>No attempts yet{active ? " — the job is waiting to be dispatched" : ""}.</EmptyState>;
  }
  const byNumber = [...attempts].sort((a, b) => a.number - b.number);
  const last = byNumber[byNumber.length - 1];
  return (
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
        {attempts.map((a) => {
          const next = byNumber.find((b) => b.number === a.number + 1);
          return (
            <tr key={a.id} data-testid={`attempt-${a.number}`}>
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
                {a.resume_step != null && (
                  <p className="small" data-testid="resumed-from" title={a.resume_uri || undefined}>
                    resumed from step {a.resume_step}
                  </p>
                )}
                <FailureCause attempt={a} next={next} />{" "}
                <AttemptMessage attempt={a} summarised={failed && a.id === last?.id} />
                {a.failure_evidence && (
                  <details className="small">
                    <summary>Evidence</summary>
                    <pre className="evidence" data-testid="failure-evidence">
                      {a.failure_evidence}
                    </pre>
                  </details>
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
