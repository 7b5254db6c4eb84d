import type { ChartConfiguration } from "chart.js";
import { loadLineChart } from "../lib/chart";
import { useChart } from "../hooks/useChart";

export interface LineSeries {
  label: string;
  /** [x, y] pairs, x ascending. */
  points: readonly (readonly [number, number])[];
}

interface Props {
  series: readonly LineSeries[];
  xLabel: string;
  /** Says in words what the figure shows, for screen readers (the numbers are added). */
  description: string;
  height?: number;
  testId?: string;
}

const COLOURS = ["#2f5bd3", "#d9822b", "#1b9aaa", "#a33ea1", "#4b8b3b"];
const number = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 });

type Point = { x: number; y: number };
type LineConfig = ChartConfiguration<"line", Point[], unknown>;

function config(series: readonly LineSeries[], xLabel: string): LineConfig {
  return {
    type: "line",
    data: {
      datasets: series.map((s, i) => ({
        label: s.label,
        data: s.points.map(([x, y]) => ({ x, y })),
        borderColor: COLOURS[i % COLOURS.length],
        backgroundColor: COLOURS[i % COLOURS.length],
        borderWidth: 1.5,
        // Points only where there are few enough to see them.
        pointRadius: s.points.length > 60 ? 0 : 2,
        tension: 0,
      })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      parsing: false,
      normalized: true,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      scales: {
        x: { type: "linear", title: { display: true, text: xLabel } },
        y: { type: "linear" },
      },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
    },
  };
}

/** "loss: 61 points, x 0 to 600, from 2.3 to 0.41" for each series. */
export function describeSeries(series: readonly LineSeries[], xLabel: string): string {
  return series
    .map((s) => {
      const first = s.points[0];
      const last = s.points[s.points.length - 1];
      if (!first || !last) return `${s.label}: no points`;
      return (
        `${s.label}: ${s.points.length} points, ${xLabel} ${number.format(first[0])} to ${number.format(last[0])}, ` +
        `from ${number.format(first[1])} to ${number.format(last[1])}`
      );
    })
    .join("; ");
}

/** A line chart over a numeric x axis (Chart.js, loaded on first use). */
export function LineChart({ series, xLabel, description, height = 260, testId }: Props) {
  const described = describeSeries(series, xLabel);
  // Every number drawn is in the key: a poll with the same points draws nothing anew.
  const key = JSON.stringify(series);
  const { canvas, failed } = useChart(loadLineChart, () => config(series, xLabel), key);
  return (
    <div className="line-chart" style={{ height: `${height}px` }} data-testid={testId}>
      {failed ? (
        <p className="muted">The chart could not be loaded. {described}.</p>
      ) : (
        <canvas ref={canvas} role="img" aria-label={`${description}. ${described}.`} />
      )}
    </div>
  );
}
