import type { ChartConfiguration, ChartDataset } from "chart.js";
import { useChart } from "../hooks/useChart";
import { loadCategoryChart } from "../lib/chart";

export interface CategorySeries {
  label: string;
  /** One per category, in the categories' order; null where the series has no value. */
  values: readonly (number | null)[];
  /** Bars stack on each other when the chart is stacked; lines never do. */
  kind?: "bar" | "line";
  dashed?: boolean;
  /** Dots on a line's values (off for a flat line or a projection). */
  points?: boolean;
  colour?: string;
}

interface Props {
  /** The x axis, in order ("2026-12-01", …). */
  categories: readonly string[];
  series: readonly CategorySeries[];
  /** Stack the bars (spend by team per day). */
  stacked?: boolean;
  yLabel: string;
  /** Says in words what the figure shows, for screen readers (the numbers are added). */
  description: string;
  height?: number;
  testId?: string;
}

export const CHART_COLOURS = ["#2f5bd3", "#d9822b", "#1b9aaa", "#a33ea1", "#4b8b3b", "#c0362c", "#7a5b00", "#5c5f66"];
const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

type Values = (number | null)[];
type MixedConfig = ChartConfiguration<"bar" | "line", Values, string>;

function dataset(s: CategorySeries, index: number): ChartDataset<"bar" | "line", Values> {
  const colour = s.colour ?? CHART_COLOURS[index % CHART_COLOURS.length];
  if (s.kind === "line") {
    return {
      type: "line",
      label: s.label,
      data: [...s.values],
      borderColor: colour,
      backgroundColor: colour,
      borderWidth: 2,
      borderDash: s.dashed ? [6, 4] : [],
      pointRadius: s.points === false || s.values.length > 40 ? 0 : 2,
      spanGaps: true,
      // A stack of its own: a line is never added onto the bars.
      stack: `line-${index}`,
    };
  }
  return { type: "bar", label: s.label, data: [...s.values], backgroundColor: colour, stack: "bars", maxBarThickness: 36 };
}

function config(categories: readonly string[], series: readonly CategorySeries[], stacked: boolean, yLabel: string): MixedConfig {
  return {
    type: "bar",
    data: { labels: [...categories], datasets: series.map(dataset) },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { type: "category", stacked },
        y: { type: "linear", stacked, beginAtZero: true, title: { display: true, text: yLabel } },
      },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
    },
  };
}

/** "nlp: 12.5 in total, 2026-12-01 to 2026-12-06" (bars) or "Spent: from 0 to 4,687.6" (lines). */
export function describeCategories(categories: readonly string[], series: readonly CategorySeries[]): string {
  const span = categories.length ? `${categories[0]} to ${categories[categories.length - 1]}` : "no categories";
  return series
    .map((s) => {
      const present = s.values.filter((v): v is number => v !== null);
      if (present.length === 0) return `${s.label}: no values`;
      if (s.kind === "line") return `${s.label}: from ${number.format(present[0]!)} to ${number.format(present[present.length - 1]!)}`;
      return `${s.label}: ${number.format(present.reduce((a, b) => a + b, 0))} in total`;
    })
    .concat(span)
    .join("; ");
}

/** Bars and lines over named categories, such as days (Chart.js, loaded on first use). */
export function CategoryChart({ categories, series, stacked = false, yLabel, description, height = 260, testId }: Props) {
  const described = describeCategories(categories, series);
  // Every number drawn is in the key: a poll with the same numbers draws nothing anew.
  const key = JSON.stringify([categories, series, stacked, yLabel]);
  const { canvas, failed } = useChart(loadCategoryChart, () => config(categories, series, stacked, yLabel), key);
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
