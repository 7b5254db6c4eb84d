import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { mockApi, renderPage } from "../test/utils";
import { IdleGpusPage } from "./IdleGpusPage";

const row = {
  id: 3,
  job: 41,
  job_name: "sft-llama",
  team: "alpha",
  attempt_number: 2,
  cluster: "gpu-a",
  node: 5,
  hostname: "h200-2",
  gpu_index: 1,
  gpu_uuid: "GPU-1",
  utilisation_percent: 0.5,
  memory_used_mib: 635,
  power_watts: 78,
  temperature_c: 39,
  reading_at: "2026-03-02T10:00:00Z",
  low_since: "2026-03-02T09:15:00Z",
  idle_seconds: 2700,
};

describe("IdleGpusPage", () => {
  it("lists each idle GPU with its job, team, place and how long it has been idle", async () => {
    mockApi({ "GET /api/v1/idle-gpus/": { body: { count: 1, next: null, previous: null, results: [row] } } });
    renderPage(<IdleGpusPage />);
    const table = await screen.findByTestId("idle-gpus");
    const cells = within(table).getAllByRole("row")[1]!;
    expect(within(cells).getByRole("link", { name: "sft-llama" })).toHaveAttribute("href", "/jobs/41");
    expect(cells).toHaveTextContent("attempt 2");
    expect(cells).toHaveTextContent("gpu-a / h200-2 GPU 1");
    expect(cells).toHaveTextContent("45 min");
    expect(cells).toHaveTextContent("0.5 %");
    expect(cells).toHaveTextContent("635 MiB");
  });

  it("says so when nothing is idle", async () => {
    mockApi({ "GET /api/v1/idle-gpus/": { body: { count: 0, next: null, previous: null, results: [] } } });
    renderPage(<IdleGpusPage />);
    expect(await screen.findByText("No held GPU is idle.")).toBeInTheDocument();
  });
});
