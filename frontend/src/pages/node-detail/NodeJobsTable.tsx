import { useState } from "react";
import { Link } from "react-router";
import type { NodeAttempt } from "../../api/models";
import { useNodeJobs } from "../../api/queries";
import { Pager } from "../../components/Pager";
import { RelativeTime } from "../../components/RelativeTime";
import { StateBadge } from "../../components/StateBadge";
import { EmptyState, ErrorState, Loading } from "../../components/Status";
import { formatDuration } from "../../lib/units";

/** Rows per page of a node's jobs. */
export const NODE_JOBS_PAGE_SIZE = 25;

function seconds(from: string | null, to: string | null): number | null {
  if (!from) return null;
  const end = to ? Date.parse(to) : Date.now();
  return Math.max(0, (end - Date.parse(from)) / 1000);
}

function Row({ attempt }: { attempt: NodeAttempt }) {
  return (
    <tr data-testid="node-job-row">
      <td>
        <Link to={`/jobs/${attempt.job}`}>{attempt.job_name}</Link> <span className="muted">#{attempt.job}</span>
      </td>
      <td>{attempt.team}</td>
      <td>
        #{attempt.number} <StateBadge state={attempt.state} live={attempt.active} />
      </td>
      <td data-testid="node-job-gpus">
        {attempt.gpus.length === 0 ? <span className="muted">none</span> : attempt.gpus.map((g) => `#${g}`).join(", ")}
        {attempt.nodes > 1 && (
          <span className="muted small">
            {" "}
            (of {attempt.gpus_total} on {attempt.nodes} nodes)
          </span>
        )}
      </td>
      <td>
        <RelativeTime iso={attempt.started_at} />
      </td>
      <td>{attempt.active ? <span className="muted">running</span> : <RelativeTime iso={attempt.finished_at} />}</td>
      <td className="num">{formatDuration(seconds(attempt.started_at, attempt.active ? null : attempt.finished_at))}</td>
    </tr>
  );
}

/** The caller's teams' attempts on a node: those on it now (`active`) or the finished ones, paged. */
export function NodeJobsTable({ node, active, hostname }: { node: number; active: boolean; hostname: string }) {
  const [page, setPage] = useState(1);
  const jobs = useNodeJobs(node, { active: active ? "true" : "false", page, page_size: NODE_JOBS_PAGE_SIZE });
  const data = jobs.data;
  if (jobs.isPending) return <Loading label="Loading jobs…" />;
  if (jobs.isError && !data) {
    return <ErrorState error={jobs.error} title="Could not load the jobs" onRetry={() => void jobs.refetch()} />;
  }
  if (!data || data.count === 0) {
    return (
      <EmptyState>
        {active ? `No job of your teams runs on ${hostname} now.` : `No job of your teams has run on ${hostname} yet.`}
      </EmptyState>
    );
  }
  return (
    <>
      <div className="table-scroll">
        <table className="table" aria-label={active ? `Jobs on ${hostname} now` : `Jobs on ${hostname} recently`}>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Team</th>
              <th scope="col">Attempt</th>
              <th scope="col">GPUs here</th>
              <th scope="col">Started</th>
              <th scope="col">Finished</th>
              <th scope="col" className="num">Ran</th>
            </tr>
          </thead>
          <tbody>
            {data.results.map((attempt) => (
              <Row key={attempt.id} attempt={attempt} />
            ))}
          </tbody>
        </table>
      </div>
      <Pager page={page} count={data.count} pageSize={NODE_JOBS_PAGE_SIZE} hasNext={Boolean(data.next)} onPage={setPage} />
    </>
  );
}
