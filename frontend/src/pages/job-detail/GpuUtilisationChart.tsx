import { useState } from "react";
import { useGpuSeries, type GpuPoint } from "../../api/telemetry";
import { LineChart, type LineSeries } from "../../components/LineChart";
import { EmptyState, ErrorState, Loading, errorMessage } from "../../components/Status";

/** What the chart can draw, by the reading's field. */
export const GPU_READINGS = {
  utilisation_percent: { label: "Utilisation", unit: "%" },
  memory_used_mib: { label: "Memory used", unit: "MiB" },
  power_watts: { label: "Power", unit: "W" },
  temperature_c: { label: "Temperature", unit: "°C" },
} as const;
export type GpuReading = keyof typeof GPU_READINGS;

/**
 * One line per GPU ("h200-2 GPU 0"), x in minutes since the first point shown; a GPU that
 * reported nothing for the reading is left out.
 */
export function gpuLines(points: readonly GpuPoint[], reading: GpuReading): LineSeries[] {
  const first = points[0];
  if (!first) return [];
  const start = Date.parse(first.at);
  const lines = new Map<string, [number, number][]>();
  for (const p of points) {
    const label = `${p.hostname} GPU ${p.gpu_index}`;
    const value = p[reading];
    if (!lines.has(label)) lines.set(label, []);
    if (value !== null && value !== undefined) {
      lines.get(label)!.push([(Date.parse(p.at) - start) / 60_000, value]);
    }
  }
  return [...lines.entries()]
    .filter(([, pts]) => pts.length > 0)
    .sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true }))
    .map(([label, pts]) => ({ label, points: pts }));
}

/** The GPUs the job held, over time, as their host agents read them (live while the job runs). */
export function GpuUtilisationChart({ jobId, active }: { jobId: number; active: boolean }) {
  const series = useGpuSeries(jobId, { active });
  const [reading, setReading] = useState<GpuReading>("utilisation_percent");

  let body;
  if (series.isPending) body = <Loading label="Loading GPU readings…" />;
  else if (series.isError && series.data === undefined) {
    body = <ErrorState error={series.error} title="Could not load the GPU readings" onRetry={() => void series.refetch()} />;
  } else {
    const { label, unit } = GPU_READINGS[reading];
    const lines = gpuLines(series.data.points, reading);
    const minutes = series.data.resolution_seconds / 60;
    body =
      series.data.points.length === 0 ? (
        <EmptyState>
          No GPU readings yet — they come from the host agent (<code>manage.py agent</code>) of the nodes the job runs on
          {active ? ", and appear here as it reports." : "."}
        </EmptyState>
      ) : (
        <>
          <div className="chart-toolbar">
            <label>
              Reading{" "}
              <select name="gpu-reading" value={reading} onChange={(e) => setReading(e.target.value as GpuReading)}>
                {Object.entries(GPU_READINGS).map(([value, r]) => (
                  <option key={value} value={value}>
                    {r.label}
                  </option>
                ))}
              </select>
            </label>
            <span className="muted small" data-testid="gpu-series-resolution">
              {`${minutes}-minute means`}
              {series.data.truncated ? " (latest shown)" : ""}
            </span>
            {series.isError && (
              <span className="small text-short" role="alert">
                Could not refresh: {errorMessage(series.error)}
              </span>
            )}
          </div>
          {lines.length === 0 ? (
            <EmptyState>The GPUs reported no {label.toLowerCase()}.</EmptyState>
          ) : (
            <LineChart
              series={lines}
              xLabel="minutes"
              description={`GPU ${label.toLowerCase()} (${unit}) by minute`}
              testId="gpu-chart"
            />
          )}
        </>
      );
  }
  return (
    <section aria-labelledby="gpu-heading" data-testid="gpu-utilisation">
      <h2 id="gpu-heading">GPUs</h2>
      {body}
    </section>
  );
}
