import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { mockApi, renderPage } from "../../test/utils";
import { GpuUtilisationChart, gpuLines } from "./GpuUtilisationChart";

// jsdom has no canvas: stand in for Chart.js and keep what the section gave it.
const { charts } = vi.hoisted(() => ({
  charts: [] as {
    type: string;
    data: { datasets: { label: string; data: { x: number; y: number }[] }[] };
    updates: number;
  }[],
}));
vi.mock("chart.js", () => {
  class Chart {
    static register = () => undefined;
    type: string;
    data: unknown;
    updates = 0;
    constructor(_canvas: unknown, config: { type: string; data: unknown }) {
      this.type = config.type;
      this.data = config.data;
      charts.push(this as never);
    }
    update() {
      this.updates += 1;
    }
    destroy() {}
  }
  return { Chart, LineController: {}, LineElement: {}, PointElement: {}, LinearScale: {}, Legend: {}, Tooltip: {} };
});

function point(minute: number, hostname: string, gpu: number, utilisation: number | null, memory: number | null) {
  return {
    at: new Date(Date.UTC(2026, 2, 2, 9, minute)).toISOString(),
    attempt_number: 1,
    node_id: 1,
    hostname,
    gpu_index: gpu,
    utilisation_percent: utilisation,
    memory_used_mib: memory,
    power_watts: 300,
    temperature_c: 50,
  };
}

const series = {
  job: 7,
  resolution_seconds: 60,
  truncated: false,
  points: [
    point(0, "h200-2", 0, 10, 1000),
    point(0, "h200-2", 10, 0, null),
    point(1, "h200-2", 0, 95.5, 2000),
    point(1, "h200-2", 10, 2, null),
    point(2, "h200-2", 0, 99, 3000),
    point(2, "h200-2", 10, 1, null),
  ],
};

describe("gpuLines", () => {
  it("draws one line per GPU in minutes since the first point, GPUs in numeric order", () => {
    expect(gpuLines(series.points, "utilisation_percent")).toEqual([
      { label: "h200-2 GPU 0", points: [[0, 10], [1, 95.5], [2, 99]] },
      { label: "h200-2 GPU 10", points: [[0, 0], [1, 2], [2, 1]] },
    ]);
  });

  it("leaves out a GPU that reported nothing for the reading", () => {
    expect(gpuLines(series.points, "memory_used_mib").map((l) => l.label)).toEqual(["h200-2 GPU 0"]);
  });
});

describe("GpuUtilisationChart", () => {
  it("charts each GPU's utilisation, and another reading when picked", async () => {
    charts.length = 0;
    const { calls } = mockApi({ "GET /api/v1/jobs/7/gpu-series/": { body: series } });
    renderPage(<GpuUtilisationChart jobId={7} active={false} />);

    await waitFor(() => expect(charts).toHaveLength(1));
    expect(calls.map((c) => c.url.pathname)).toEqual(["/api/v1/jobs/7/gpu-series/"]);
    const chart = charts[0]!;
    expect(chart.type).toBe("line");
    expect(chart.data.datasets.map((d) => [d.label, d.data.map((p) => p.y)])).toEqual([
      ["h200-2 GPU 0", [10, 95.5, 99]],
      ["h200-2 GPU 10", [0, 2, 1]],
    ]);
    expect(screen.getByTestId("gpu-series-resolution")).toHaveTextContent("1-minute means");
    expect(screen.getByRole("img")).toHaveAccessibleName(/GPU utilisation \(%\) by minute\. h200-2 GPU 0: 3 points/);

    await userEvent.selectOptions(screen.getByLabelText("Reading"), "memory_used_mib");
    await waitFor(() =>
      expect(chart.data.datasets.map((d) => [d.label, d.data.map((p) => p.y)])).toEqual([["h200-2 GPU 0", [1000, 2000, 3000]]]),
    );
  });

  it("says where readings come from when there are none", async () => {
    mockApi({ "GET /api/v1/jobs/8/gpu-series/": { body: { job: 8, resolution_seconds: 60, truncated: false, points: [] } } });
    renderPage(<GpuUtilisationChart jobId={8} active />);
    expect(await screen.findByText(/No GPU readings yet/)).toHaveTextContent("appear here as it reports");
  });

  it("shows an error with a retry when the series cannot be loaded", async () => {
    mockApi({ "GET /api/v1/jobs/9/gpu-series/": { status: 500, body: { detail: "boom" } } });
    renderPage(<GpuUtilisationChart jobId={9} active={false} />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load the GPU readings.");
    expect(screen.getByRole("button", { name: "Try again" })).toBeInTheDocument();
  });
});
