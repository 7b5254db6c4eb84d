// Reported metric values, as the tables and the training chart show them.
import type { MetricSeries } from "../api/models";

const value = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 });

/**
 * {loss: 1.9134, lr: 0.0002} → "loss 1.913 · lr 0.0002" (loss first, then by name). The schema
 * types a metrics object as any JSON; entries that are not numbers are left out.
 */
export function formatMetrics(metrics: unknown): string {
  if (!metrics || typeof metrics !== "object") return "";
  const numeric = Object.entries(metrics).filter((entry): entry is [string, number] => typeof entry[1] === "number");
  return numeric
    .sort(([a], [b]) => (a === "loss" ? -1 : b === "loss" ? 1 : a.localeCompare(b)))
    .map(([name, n]) => `${name} ${value.format(n)}`)
    .join(" · ");
}

/** A series' [step, value] pairs as the chart takes them (the schema types each pair as a plain list). */
export function seriesPoints(series: MetricSeries): [number, number][] {
  return series.points.flatMap((p) => (p.length >= 2 ? [[p[0] as number, p[1] as number] as [number, number]] : []));
}
