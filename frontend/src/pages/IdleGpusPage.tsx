import { Link, useSearchParams } from "react-router";
import { IDLE_GPUS_PAGE_SIZE, useIdleGpus } from "../api/telemetry";
import { Pager } from "../components/Pager";
import { RelativeTime } from "../components/RelativeTime";
import { EmptyState, ErrorState, Loading } from "../components/Status";
import { formatDuration } from "../lib/units";

/** GPUs held by running jobs but idle (the rule's threshold and span are Paddock's settings). */
export function IdleGpusPage() {
  const [params, setParams] = useSearchParams();
  const page = Math.max(1, Number.parseInt(params.get("page") ?? "1", 10) || 1);
  const idle = useIdleGpus(page);
  const data = idle.data;
  const setPage = (n: number) => setParams(n > 1 ? { page: String(n) } : {});

  return (
    <section>
      <div className="page-header">
        <h1>Idle GPUs</h1>
        {idle.isFetching && !idle.isPending && <span className="refreshing" aria-hidden="true" />}
      </div>
      <p className="muted intro">
        GPUs that jobs hold but hardly use (under 5 % utilisation for 30 minutes by default), idle longest first. Each
        such job also has an &ldquo;GPU idle&rdquo; event. Operators see every team&rsquo;s on their organisation&rsquo;s
        clusters; others, their own teams&rsquo;.
      </p>
      {idle.isPending ? (
        <Loading label="Loading idle GPUs…" />
      ) : idle.isError && !data ? (
        <ErrorState error={idle.error} title="Could not load the idle GPUs" onRetry={() => void idle.refetch()} />
      ) : data && data.results.length === 0 ? (
        <EmptyState>No held GPU is idle{page > 1 ? " on this page" : ""}.</EmptyState>
      ) : data ? (
        <>
          <div className="table-wrap">
            <table className="table" data-testid="idle-gpus">
              <thead>
                <tr>
                  <th scope="col">Job</th>
                  <th scope="col">Team</th>
                  <th scope="col">GPU</th>
                  <th scope="col">Idle for</th>
                  <th scope="col" className="num">
                    Utilisation
                  </th>
                  <th scope="col" className="num">
                    Memory used
                  </th>
                  <th scope="col">Last reading</th>
                </tr>
              </thead>
              <tbody>
                {data.results.map((gpu) => (
                  <tr key={gpu.id}>
                    <td>
                      <Link to={`/jobs/${gpu.job}`}>{gpu.job_name}</Link>
                      <div className="small muted">attempt {gpu.attempt_number}</div>
                    </td>
                    <td>{gpu.team}</td>
                    <td>
                      {gpu.cluster} / {gpu.hostname} GPU {gpu.gpu_index}
                    </td>
                    <td>{formatDuration(gpu.idle_seconds)}</td>
                    <td className="num">{gpu.utilisation_percent === null ? "—" : `${gpu.utilisation_percent} %`}</td>
                    <td className="num">{gpu.memory_used_mib === null ? "—" : `${gpu.memory_used_mib} MiB`}</td>
                    <td>
                      <RelativeTime iso={gpu.reading_at} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager
            page={page}
            count={data.count}
            pageSize={IDLE_GPUS_PAGE_SIZE}
            hasNext={Boolean(data.next)}
            onPage={setPage}
          />
        </>
      ) : null}
    </section>
  );
}
