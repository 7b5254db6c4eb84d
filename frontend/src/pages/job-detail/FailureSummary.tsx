import type { Attempt, JobDetail, JobEvent } from "../../api/models";

/** The most of a message shown as its cause when the server gave none (an older failure). */
const FALLBACK_CAUSE_CHARS = 200;

/** The events that repeat an attempt's full failure message. */
const FAILURE_EVENTS: ReadonlySet<string> = new Set(["failed", "lost", "retrying"]);

/** The first non-empty line of a message, cut short: a cause when the server stored none. */
export function firstLine(message: string): string {
  const line = message.split("\n").find((text) => text.trim() !== "")?.trim() ?? "";
  return line.length <= FALLBACK_CAUSE_CHARS ? line : `${line.slice(0, FALLBACK_CAUSE_CHARS - 1)}…`;
}

/** The failed job's cause in one line: the server's, else its latest attempt's, else the message's start. */
export function jobCause(job: Pick<JobDetail, "cause" | "state_reason" | "attempts">): string {
  const latest = job.attempts.length > 0 ? job.attempts[job.attempts.length - 1] : undefined;
  return job.cause || latest?.cause || firstLine(job.state_reason);
}

/**
 * Why a job failed: the cause in one line first, the exit code beside it, the full message
 * (Ray's traceback, pip's output) folded below. The page shows that message here only: the
 * attempts and events show the cause in its place.
 */
export function FailureSummary({ job }: { job: JobDetail }) {
  if (job.state !== "failed") return null;
  const cause = jobCause(job);
  return (
    <div className="failure-summary" role="alert" data-testid="failure-summary">
      <p className="failure-cause-line">
        <strong data-testid="failure-cause-line">{cause || "The job failed."}</strong>
        {job.exit_code != null && !cause.includes(`exit code ${job.exit_code}`) && (
          <span className="muted" data-testid="failure-exit-code">
            {" "}
            · exit code {job.exit_code}
          </span>
        )}
      </p>
      {job.state_reason && job.state_reason.trim() !== cause && (
        <details>
          <summary>Full message</summary>
          <pre className="failure-message" data-testid="failure-message">
            {job.state_reason}
          </pre>
        </details>
      )}
    </div>
  );
}

/**
 * An attempt's message in the attempts table: its cause when it has one (the full message is
 * in the job's failure summary for the latest attempt, folded here for earlier ones).
 */
export function AttemptMessage({ attempt, summarised }: { attempt: Attempt; summarised: boolean }) {
  if (!attempt.cause) return <span className="wrap-anywhere">{attempt.message}</span>;
  return (
    <>
      <span className="wrap-anywhere" data-testid="attempt-cause">
        {attempt.cause}
      </span>
      {!summarised && attempt.message && attempt.message.trim() !== attempt.cause && (
        <details className="small">
          <summary>Full message</summary>
          <pre className="failure-message">{attempt.message}</pre>
        </details>
      )}
    </>
  );
}

/** An event's message, with an attempt's failure told by its cause instead of the whole message again. */
export function eventMessage(event: JobEvent, attempts: readonly Attempt[]): string {
  if (!FAILURE_EVENTS.has(event.kind) || event.attempt == null) return event.message;
  const attempt = attempts.find((a) => a.number === event.attempt);
  if (!attempt?.cause) return event.message;
  const retrying = event.kind === "retrying" ? / retrying \(([^)]*)\)$/.exec(event.message) : null;
  return `attempt ${attempt.number} ${attempt.state}: ${attempt.cause}${retrying ? `; retrying (${retrying[1]})` : ""}`;
}
