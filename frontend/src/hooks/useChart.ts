import type { Chart as ChartInstance, ChartConfiguration, ChartType, DefaultDataPoint } from "chart.js";
import { useEffect, useRef, useState } from "react";

/**
 * Draws a Chart.js figure on `canvas` once Chart.js has loaded (`load` is one of lib/chart's
 * lazy loaders), and redraws it when — and only when — `redrawKey` changes: pass a string
 * that holds every number drawn, so a refetch with the same numbers draws nothing anew. A new
 * key updates the same chart's data; unmounting destroys it. `failed`: Chart.js could not load.
 */
export function useChart<TType extends ChartType, TData = DefaultDataPoint<TType>, TLabel = unknown>(
  load: () => Promise<typeof ChartInstance>,
  build: () => ChartConfiguration<TType, TData, TLabel>,
  redrawKey: string,
) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<ChartInstance<TType, TData, TLabel> | null>(null);
  const buildRef = useRef(build);
  buildRef.current = build;
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    let cancelled = false;
    load().then(
      (Chart) => {
        if (cancelled || !canvas.current) return;
        const config = buildRef.current();
        if (chart.current) {
          chart.current.data = config.data;
          chart.current.update();
        } else {
          chart.current = new Chart(canvas.current, config) as unknown as ChartInstance<TType, TData, TLabel>;
        }
      },
      () => setFailed(true),
    );
    return () => {
      cancelled = true;
    };
  }, [load, redrawKey]);

  useEffect(
    () => () => {
      chart.current?.destroy();
      chart.current = null;
    },
    [],
  );

  return { canvas, failed };
}
