import { useState } from "react";
import { useEndpointMetrics, type EndpointMetrics, type MetricsPoint } from "../../api/serving";
import { LineChart, type LineSeries } from "../../components/LineChart";
import { EmptyState, ErrorState, Loading, errorMessage } from "../../components/Status";
import { formatCount, formatDuration, formatPercent, formatRate } from "../../lib/units";

const WINDOWS = [
  { minutes: 15, label: "15 minutes" },
  { minutes: 60, label: "1 hour" },
  { minutes: 360, label: "6 hours" },
  { minutes: 1440, label: "24 hours" },
] as const;
const X_LABEL = "minutes (0 = now)";

/** One series of `points`, x in minutes before `now` (negative, ascending). */
function series(points: readonly MetricsPoint[], now: number, label: string, y: (p: MetricsPoint) => number): LineSeries {
  return {
    label,
    points: points.map((p) => [Math.round(((Date.parse(p.at) - now) / 60_000) * 100) / 100, y(p)] as const),
  };
}

function Charts({ metrics, now }: { metrics: EndpointMetrics; now: number }) {
  const points = metrics.points;
  return (
    <div className="charts">
      <div>
        <h3>Latency (ms)</h3>
        <LineChart
          series={[
            series(points, now, "p50", (p) => p.p50_ms),
            series(points, now, "p95", (p) => p.p95_ms),
            series(points, now, "p99", (p) => p.p99_ms),
          ]}
          xLabel={X_LABEL}
          description="Latency in milliseconds by minute"
          height={220}
          testId="latency-chart"
        />
      </div>
      <div>
        <h3>Requests per second</h3>
        <LineChart
          series={[series(points, now, "requests/s", (p) => p.requests_per_s)]}
          xLabel={X_LABEL}
          description="Requests per second by minute"
          height={220}
          testId="requests-chart"
        />
      </div>
      <div>
        <h3>Generated tokens per second</h3>
        <LineChart
          series={[series(points, now, "tokens/s", (p) => p.tokens_per_s)]}
          xLabel={X_LABEL}
          description="Generated tokens per second by minute"
          height={220}
          testId="tokens-chart"
        />
      </div>
      <div>
        <h3>Error rate (%)</h3>
        <LineChart
          series={[series(points, now, "errors %", (p) => Math.round(p.error_rate * 10_000) / 100)]}
          xLabel={X_LABEL}
          description="Share of requests that failed, in percent, by minute"
          height={220}
          testId="errors-chart"
        />
      </div>
    </div>
  );
}

/** Latency, throughput and errors over a chosen window, refreshed as the endpoint is. */
export function HealthSection({ endpointId, latest }: { endpointId: number; latest: MetricsPoint | null }) {
  const [minutes, setMinutes] = useState(60);
  const metrics = useEndpointMetrics(endpointId, minutes);

  let body;
  if (metrics.isPending) body = <Loading label="Loading metrics…" />;
  else if (metrics.isError && !metrics.data) {
    body = <ErrorState error={metrics.error} title="Could not load the metrics" onRetry={() => void metrics.refetch()} />;
  } else {
    const { totals, points } = metrics.data;
    body = (
      <>
        <dl className="stat-row" data-testid="health-totals">
          <div>
            <dt>Requests</dt>
            <dd>{formatCount(totals.requests)}</dd>
          </div>
          <div>
            <dt>Errors</dt>
            <dd data-testid="health-error-rate">
              {formatCount(totals.errors)} <span className="small muted">({formatPercent(totals.errors, totals.requests)})</span>
            </dd>
          </div>
          <div>
            <dt>Generated tokens</dt>
            <dd>{formatCount(totals.tokens)}</dd>
          </div>
          {latest && (
            <div>
              <dt>Now</dt>
              <dd className="small" data-testid="health-latest">
                p95 {formatDuration(latest.p95_ms / 1000)} · {formatRate(latest.requests_per_s)} · errors{" "}
                {formatPercent(latest.error_rate, 1)}
              </dd>
            </div>
          )}
        </dl>
        {metrics.isError && (
          <p className="small text-short" role="alert">
            Could not refresh: {errorMessage(metrics.error)}
          </p>
        )}
        {points.length === 0 ? (
          <EmptyState>No requests measured in the last {WINDOWS.find((w) => w.minutes === minutes)?.label}.</EmptyState>
        ) : (
          <Charts metrics={metrics.data} now={metrics.dataUpdatedAt} />
        )}
      </>
    );
  }

  return (
    <section aria-labelledby="health-heading" data-testid="health">
      <h2 id="health-heading">Health</h2>
      <div className="chart-toolbar">
        <label>
          Window{" "}
          <select name="metrics_window" value={minutes} onChange={(e) => setMinutes(Number(e.target.value))}>
            {WINDOWS.map((w) => (
              <option key={w.minutes} value={w.minutes}>
                Last {w.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      {body}
    </section>
  );
}
