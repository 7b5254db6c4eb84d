import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { Attempt } from "../../api/models";
import { mockApi, page, renderPage } from "../../test/utils";
import { PlacementSection, shortUuid } from "./PlacementSection";

function attempt(number: number, placement: unknown[], state = "running"): Attempt {
  return {
    id: `00000000-0000-4000-8000-00000000000${number}`,
    number,
    state,
    remote_id: `r${number}`,
    placement,
    message: "",
    failure_cause: "",
    failure_evidence: "",
    resume_step: null,
    resume_uri: "",
    created_at: new Date().toISOString(),
    dispatched_at: null,
    started_at: null,
    finished_at: null,
  } as unknown as Attempt;
}

const share = (overrides: Record<string, unknown> = {}) => ({
  node_id: 12,
  hostname: "gpu-a",
  address: "10.0.0.5",
  gpus: [0, 1],
  gpu_uuids: ["GPU-8f3c2a1b-1111-2222-3333-444455556666", "GPU-9a9a9a9a-1111-2222-3333-444455556666"],
  accelerator_model: "H100 SXM",
  fabric: "ib-a (InfiniBand, 400 Gbit/s, RDMA)",
  cluster_id: 3,
  ...overrides,
});

const rayCluster = { name: "local-ray", kind: "ray", address: "http://127.0.0.1:8265", dashboard_url: "http://127.0.0.1:8265" };

describe("PlacementSection", () => {
  it("shows each attempt's nodes, GPUs with short copyable UUIDs, model and fabric, latest first", async () => {
    mockApi({ "GET /api/v1/clusters/": { body: page([rayCluster]) } });
    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    const attempts = [
      attempt(1, [share()], "failed"),
      attempt(2, [share({ node_id: 13, hostname: "gpu-b", gpus: [3], gpu_uuids: ["GPU-bbbbbbbb-1"] }), share({ gpus: [2], gpu_uuids: [""] })]),
    ];
    renderPage(<PlacementSection attempts={attempts} cluster="local-ray" />);

    const rows = screen.getAllByTestId(/^placement-\d$/);
    expect(rows.map((r) => r.dataset.testid)).toEqual(["placement-2", "placement-2", "placement-1"]);
    const latest = within(rows[0]!);
    expect(latest.getByRole("link", { name: "gpu-b" })).toHaveAttribute("href", "/nodes/13");
    expect(within(rows[1]!).getByText("UUID unknown")).toBeInTheDocument();

    const first = within(rows[2]!);
    expect(first.getByRole("link", { name: "gpu-a" })).toHaveAttribute("href", "/nodes/12");
    expect(first.getByText("10.0.0.5")).toBeInTheDocument();
    expect(first.getByText("H100 SXM")).toBeInTheDocument();
    expect(first.getByText("ib-a (InfiniBand, 400 Gbit/s, RDMA)")).toBeInTheDocument();
    const gpus = first.getAllByTestId("placement-gpu");
    expect(gpus.map((g) => g.textContent)).toEqual([expect.stringMatching(/^#0 GPU-8f3c2a1b…/), expect.stringMatching(/^#1 GPU-9a9a9a9a…/)]);
    expect(first.getByText("GPU-8f3c2a1b…")).toHaveAttribute("title", "GPU-8f3c2a1b-1111-2222-3333-444455556666");

    fireEvent.click(first.getByRole("button", { name: "Copy the UUID of GPU 1" }));
    await waitFor(() => expect(writeText).toHaveBeenCalledWith("GPU-9a9a9a9a-1111-2222-3333-444455556666"));
    expect(await first.findByText("Copied")).toBeInTheDocument();

    const cluster = screen.getByTestId("placement-cluster");
    expect(within(cluster).getByRole("link", { name: "local-ray" })).toHaveAttribute("href", "/inventory?cluster=local-ray");
    expect(await screen.findByTestId("ray-dashboard-link")).toHaveAttribute("href", "http://127.0.0.1:8265");
  });

  it("says when nothing is placed yet, a CPU-only attempt, and a node since removed (no link)", async () => {
    mockApi({ "GET /api/v1/clusters/": { body: page([{ ...rayCluster, name: "k8s", kind: "kubernetes", dashboard_url: "" }]) } });
    const { unmount } = renderPage(<PlacementSection attempts={[]} cluster="k8s" />);
    expect(screen.getByText(/Not placed yet/)).toBeInTheDocument();
    unmount();

    renderPage(
      <PlacementSection
        attempts={[attempt(1, []), attempt(2, [share({ node_id: null, cluster_id: null, gpu_uuids: ["", ""] })])]}
        cluster="k8s"
      />,
    );
    expect(within(screen.getByTestId("placement-1")).getByText(/No GPUs placed/)).toBeInTheDocument();
    const removed = within(screen.getByTestId("placement-2"));
    expect(removed.getByText("gpu-a (removed)")).toBeInTheDocument();
    expect(removed.queryByRole("link")).not.toBeInTheDocument();
    await waitFor(() => expect(screen.getByRole("link", { name: "k8s" })).toBeInTheDocument());
    expect(screen.queryByTestId("ray-dashboard-link")).not.toBeInTheDocument();
  });

  it("shortens only long UUIDs", () => {
    expect(shortUuid("GPU-12345678-aaaa")).toBe("GPU-12345678…");
    expect(shortUuid("MIG-1")).toBe("MIG-1");
  });
});
