import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { mockApi, renderPage } from "../../test/utils";
import { TrainingSection } from "./TrainingSection";

// jsdom has no canvas: stand in for Chart.js and keep what the section gave it.
const { charts } = vi.hoisted(() => ({
  charts: [] as {
    type: string;
    data: { datasets: { label: string; data: { x: number; y: number }[] }[] };
    updates: number;
    destroyed: boolean;
  }[],
}));
vi.mock("chart.js", () => {
  class Chart {
    static register = () => undefined;
    type: string;
    data: unknown;
    updates = 0;
    destroyed = false;
    constructor(_canvas: unknown, config: { type: string; data: unknown }) {
      this.type = config.type;
      this.data = config.data;
      charts.push(this as never);
    }
    update() {
      this.updates += 1;
    }
    destroy() {
      this.destroyed = true;
    }
  }
  return { Chart, LineController: {}, LineElement: {}, PointElement: {}, LinearScale: {}, Legend: {}, Tooltip: {} };
});

const metrics = {
  job: 7,
  series: [
    { name: "lr", points: [[0, 0.0002], [10, 0.0001]], downsampled: false, count: 2 },
    { name: "loss", points: [[0, 2.5], [10, 1.9], [20, 1.4]], downsampled: true, count: 3000 },
  ],
};

describe("TrainingSection", () => {
  it("draws loss by step first, and another series when picked", async () => {
    charts.length = 0;
    mockApi({ "GET /api/v1/job-metrics/": { body: metrics } });
    renderPage(<TrainingSection jobId={7} active={false} />);

    await waitFor(() => expect(charts).toHaveLength(1));
    const chart = charts[0]!;
    expect(chart.type).toBe("line");
    expect(chart.data.datasets.map((d) => [d.label, d.data])).toEqual([
      ["loss", [{ x: 0, y: 2.5 }, { x: 10, y: 1.9 }, { x: 20, y: 1.4 }]],
    ]);
    expect(screen.getByLabelText("Series")).toHaveValue("loss");
    expect(screen.getByTestId("metric-points")).toHaveTextContent("3 of 3000 points (downsampled)");
    expect(screen.getByRole("img")).toHaveAccessibleName(/loss by step\. loss: 3 points, step 0 to 20, from 2\.5 to 1\.4/);

    await userEvent.selectOptions(screen.getByLabelText("Series"), "lr");
    await waitFor(() => expect(chart.updates).toBe(1));
    expect(chart.data.datasets[0]?.label).toBe("lr");
    expect(charts).toHaveLength(1);
  });

  it("asks for 500 points of the job, and polls while the job is active", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const { calls } = mockApi({ "GET /api/v1/job-metrics/": { body: metrics } });
    renderPage(<TrainingSection jobId={7} active />);
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(Object.fromEntries(calls[0]!.url.searchParams)).toEqual({ job: "7", max_points: "500" });
    await vi.advanceTimersByTimeAsync(5100);
    await waitFor(() => expect(calls.length).toBeGreaterThanOrEqual(2));
  });

  it("does not poll once the job has ended", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const { calls } = mockApi({ "GET /api/v1/job-metrics/": { body: metrics } });
    renderPage(<TrainingSection jobId={7} active={false} />);
    await waitFor(() => expect(calls).toHaveLength(1));
    await vi.advanceTimersByTimeAsync(11_000);
    expect(calls).toHaveLength(1);
  });

  it("says how to report metrics when there are none", async () => {
    charts.length = 0;
    mockApi({ "GET /api/v1/job-metrics/": { body: { job: 7, series: [] } } });
    renderPage(<TrainingSection jobId={7} active={false} />);
    expect(await screen.findByText(/No metrics reported yet — report them with/)).toHaveTextContent(
      "paddock.job.report_metrics",
    );
    expect(charts).toHaveLength(0);
  });

  it("shows a failure with a retry", async () => {
    mockApi({ "GET /api/v1/job-metrics/": { status: 503, body: { detail: "Database unavailable." } } });
    renderPage(<TrainingSection jobId={7} active={false} />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load the metrics. Database unavailable.");
    expect(screen.getByRole("button", { name: "Try again" })).toBeInTheDocument();
  });
});
