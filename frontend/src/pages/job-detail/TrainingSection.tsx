import { useState } from "react";
import { useJobMetrics } from "../../api/queries";
import type { MetricSeries } from "../../api/models";
import { LineChart } from "../../components/LineChart";
import { seriesPoints } from "../../lib/metrics";
import { EmptyState, ErrorState, Loading, errorMessage } from "../../components/Status";

/** The series shown first: loss when the job reports it, else the first by name. */
export const DEFAULT_SERIES = "loss";

function pick(series: readonly MetricSeries[], chosen: string | null): MetricSeries | undefined {
  return (
    series.find((s) => s.name === chosen) ?? series.find((s) => s.name === DEFAULT_SERIES) ?? series[0]
  );
}

/** The job's reported metrics over steps, live while the job runs. */
export function TrainingSection({ jobId, active }: { jobId: number; active: boolean }) {
  const metrics = useJobMetrics(jobId, { active });
  const [chosen, setChosen] = useState<string | null>(null);

  let body;
  if (metrics.isPending) body = <Loading label="Loading metrics…" />;
  else if (metrics.isError && metrics.data === undefined) {
    body = <ErrorState error={metrics.error} title="Could not load the metrics" onRetry={() => void metrics.refetch()} />;
  } else {
    const series = metrics.data.series.filter((s) => s.points.length > 0);
    const shown = pick(series, chosen);
    body = !shown ? (
      <EmptyState>
        No metrics reported yet — report them with <code>paddock.job.report_metrics</code>
        {active ? "; they appear here as the job reports them." : "."}
      </EmptyState>
    ) : (
      <>
        <div className="chart-toolbar">
          <label>
            Series{" "}
            <select name="metric" value={shown.name} onChange={(e) => setChosen(e.target.value)}>
              {series.map((s) => (
                <option key={s.name} value={s.name}>
                  {s.name}
                </option>
              ))}
            </select>
          </label>
          <span className="muted small" data-testid="metric-points">
            {shown.downsampled
              ? `${shown.points.length} of ${shown.count} points (downsampled)`
              : `${shown.count} point${shown.count === 1 ? "" : "s"}`}
          </span>
          {metrics.isError && (
            <span className="small text-short" role="alert">
              Could not refresh: {errorMessage(metrics.error)}
            </span>
          )}
        </div>
        <LineChart
          series={[{ label: shown.name, points: seriesPoints(shown) }]}
          xLabel="step"
          description={`${shown.name} by step`}
          testId="metrics-chart"
        />
      </>
    );
  }
  return (
    <section aria-labelledby="training-heading" data-testid="training">
      <h2 id="training-heading">Training</h2>
      {body}
    </section>
  );
}
