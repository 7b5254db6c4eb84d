import { formatBytes } from "../lib/units";

/** "Fits" or "Does not fit" (and "submitted anyway" when the planner was overridden). */
export function FitBadge({ fits, overridden = false }: { fits: boolean; overridden?: boolean }) {
  return (
    <span className={`badge ${fits ? "badge-fits" : "badge-no-fit"}`} data-testid="fit">
      {fits ? "Fits" : "Does not fit"}
      {!fits && overridden ? " (submitted anyway)" : ""}
    </span>
  );
}

/** "129.5 GiB of 79.6 GiB", then the headroom or the shortfall. */
export function MemoryUse({
  perGpu,
  device,
  headroom,
}: {
  perGpu: number;
  device?: number | null;
  headroom: number;
}) {
  return (
    <span data-testid="memory-per-gpu">
      {formatBytes(perGpu)}
      {device ? ` of ${formatBytes(device)}` : ""}{" "}
      <span className={headroom < 0 ? "text-short" : "muted"}>
        ({headroom < 0 ? `${formatBytes(-headroom)} short` : `${formatBytes(headroom)} headroom`})
      </span>
    </span>
  );
}
