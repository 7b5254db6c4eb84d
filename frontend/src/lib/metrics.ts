// Reported metric values, as the tables show them.

const value = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 });

/** {loss: 1.9134, lr: 0.0002} → "loss 1.913 · lr 0.0002" (loss first, then by name). */
export function formatMetrics(metrics: Record<string, number> | null | undefined): string {
  if (!metrics) return "";
  return Object.keys(metrics)
    .sort((a, b) => (a === "loss" ? -1 : b === "loss" ? 1 : a.localeCompare(b)))
    .map((name) => `${name} ${value.format(metrics[name] ?? NaN)}`)
    .join(" · ");
}
