import type { Chart as ChartInstance } from "chart.js";

let barChart: Promise<typeof ChartInstance> | null = null;

/**
 * Chart.js with only what a bar chart needs registered (bars, category and linear axes,
 * legend, tooltip); fetched once, on first use, so pages without a figure do not load it.
 */
export function loadBarChart(): Promise<typeof ChartInstance> {
  barChart ??= import("chart.js").then(
    ({ Chart, BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip }) => {
      Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);
      return Chart;
    },
  );
  return barChart;
}

let lineChart: Promise<typeof ChartInstance> | null = null;

/**
 * Chart.js with what a line chart over a numeric x axis needs (lines, points, linear axes,
 * legend, tooltip); fetched once, on first use, like the bar chart.
 */
export function loadLineChart(): Promise<typeof ChartInstance> {
  lineChart ??= import("chart.js").then(
    ({ Chart, LineController, LineElement, PointElement, LinearScale, Legend, Tooltip }) => {
      Chart.register(LineController, LineElement, PointElement, LinearScale, Legend, Tooltip);
      return Chart;
    },
  );
  return lineChart;
}

let categoryChart: Promise<typeof ChartInstance> | null = null;

/**
 * Chart.js with what bars and lines over named categories (days, teams) need, mixed in one
 * figure: bars, lines, points, category and linear axes, legend, tooltip; fetched once.
 */
export function loadCategoryChart(): Promise<typeof ChartInstance> {
  categoryChart ??= import("chart.js").then(
    ({ Chart, BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip }) => {
      Chart.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip);
      return Chart;
    },
  );
  return categoryChart;
}
