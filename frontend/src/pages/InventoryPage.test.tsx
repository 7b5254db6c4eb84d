import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { mockApi, page, renderPage } from "../test/utils";
import { InventoryPage } from "./InventoryPage";

// jsdom has no canvas: stand in for Chart.js and keep what the page gave it.
const { charts } = vi.hoisted(() => ({
  charts: [] as { data: { labels: string[]; datasets: { label: string; data: number[] }[] }; updates: number }[],
}));
vi.mock("chart.js", () => {
  class Chart {
    static register = () => undefined;
    data: unknown;
    updates = 0;
    constructor(_canvas: unknown, config: { data: unknown }) {
      this.data = config.data;
      charts.push(this as never);
    }
    update() {
      this.updates += 1;
    }
    destroy() {}
  }
  return { Chart, BarController: {}, BarElement: {}, CategoryScale: {}, LinearScale: {}, Legend: {}, Tooltip: {} };
});

const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000).toISOString();

const cluster = {
  id: 1,
  name: "gpu-a",
  kind: "ray",
  address: "http://10.0.0.1:8265",
  state: "ready",
  state_message: "",
  organisation: "acme",
  total_resources: {},
  available_resources: {},
  last_seen_at: minutesAgo(1),
  created_at: minutesAgo(600),
};

function makeNode(overrides: Record<string, unknown> = {}) {
  return {
    id: 7,
    cluster: "gpu-a",
    hostname: "gpu-node-1",
    external_id: "abc",
    source: "ray",
    state: "ready",
    state_reason: "",
    cpus: 64,
    memory_bytes: 512 * 2 ** 30,
    labels: {},
    driver_version: "550.54",
    cuda_version: "12.4",
    accelerators: { total: 4, free: 1 },
    interconnect_domains: [
      { id: 3, kind: "nvlink", link_generation: 4, bandwidth_gbps: 900, accelerator_indexes: [0, 1] },
    ],
    last_heartbeat_at: minutesAgo(0.5),
    stale: false,
    created_at: minutesAgo(600),
    ...overrides,
  };
}

function makeGpu(overrides: Record<string, unknown> = {}) {
  return {
    id: 100,
    cluster: "gpu-a",
    node: 7,
    hostname: "gpu-node-1",
    index: 0,
    uuid: "GPU-1",
    model: "H100 SXM",
    unrecognised: false,
    reported_name: "NVIDIA H100 80GB HBM3",
    state: "busy",
    health: "ok",
    utilisation_percent: 97,
    memory_total_mib: 81_920,
    memory_used_mib: 40_960,
    temperature_c: 61.4,
    power_watts: 612.2,
    power_limit_watts: 700,
    mig_mode: "disabled",
    mig_instances: [],
    nvlink_active_links: 18,
    interconnect_domains: [
      { id: 3, kind: "nvlink", link_generation: 4, bandwidth_gbps: 900, accelerator_indexes: [0, 1] },
    ],
    pci_device_id: "0x2330",
    pci_bus_id: "00000000:18:00.0",
    pcie_generation: 5,
    pcie_width: 16,
    compute_capability: "9.0",
    last_seen_at: minutesAgo(0.5),
    ...overrides,
  };
}

const summary = {
  models: [
    { model: "H100 SXM", total: 4, free: 1, busy: 2, unhealthy: 1, unknown: 0 },
    { model: null, total: 2, free: 0, busy: 1, unhealthy: 0, unknown: 1 },
  ],
  total: 6,
  free: 1,
  busy: 3,
  unhealthy: 1,
  unknown: 1,
};

const storage = {
  id: 1,
  organisation: "acme",
  name: "lustre-scratch",
  kind: "lustre",
  uri: "/mnt/lustre",
  purpose: "checkpoints",
  capacity_bytes: 10 ** 15,
  used_bytes: 4 * 10 ** 14,
  read_gbps: 12.5,
  write_gbps: 8,
  measured_at: minutesAgo(60),
  created_at: minutesAgo(600),
};

const fabric = {
  id: 1,
  organisation: "acme",
  name: "ib-fabric",
  kind: "infiniband",
  gbps_per_node: 3200,
  rdma: true,
  nodes: [7, 8],
  created_at: minutesAgo(600),
};

function fullInventory(overrides: Record<string, unknown> = {}) {
  return {
    "GET /api/v1/clusters/": { body: page([cluster, { ...cluster, id: 2, name: "gpu-b", state: "unreachable" }]) },
    "GET /api/v1/nodes/": (url: URL) => ({
      body: page(
        url.searchParams.get("cluster") === "gpu-a"
          ? [
              makeNode(),
              makeNode({
                id: 8,
                hostname: "gpu-node-2",
                stale: true,
                last_heartbeat_at: minutesAgo(120),
                accelerators: { total: 1, free: 0 },
                interconnect_domains: [],
              }),
            ]
          : [],
      ),
    }),
    "GET /api/v1/accelerators/summary/": { body: summary },
    "GET /api/v1/accelerators/": {
      body: page([
        makeGpu(),
        makeGpu({
          id: 101,
          index: 1,
          model: null,
          unrecognised: true,
          reported_name: "Mystery 9000",
          state: "unknown",
          health: "unknown",
          utilisation_percent: null,
          memory_total_mib: null,
          memory_used_mib: null,
          interconnect_domains: [],
          mig_mode: "unsupported",
          nvlink_active_links: null,
          power_watts: null,
          temperature_c: null,
        }),
      ]),
    },
    "GET /api/v1/storage-backends/": { body: page([storage]) },
    "GET /api/v1/network-fabrics/": { body: page([fabric]) },
    ...overrides,
  };
}

describe("InventoryPage", () => {
  it("shows clusters with their nodes, free and total GPUs, and which nodes went quiet", async () => {
    mockApi(fullInventory());
    renderPage(<InventoryPage />, { route: "/inventory", path: "/inventory" });

    const section = await screen.findByTestId("cluster-gpu-a");
    expect(within(section).getByRole("heading", { name: "gpu-a" })).toBeInTheDocument();
    const fresh = await within(section).findByTestId("node-gpu-node-1");
    expect(within(fresh).getByTestId("node-gpus")).toHaveTextContent("1 / 4 free");
    expect(within(fresh).getByText("ready")).toHaveClass("badge-node-ready");
    expect(within(fresh).getByText("512 GiB")).toBeInTheDocument();
    expect(within(fresh).getByText("driver 550.54 · CUDA 12.4")).toBeInTheDocument();
    expect(within(fresh).queryByText("stale")).not.toBeInTheDocument();

    const quiet = within(section).getByTestId("node-gpu-node-2");
    expect(quiet).toHaveClass("node-stale");
    expect(within(quiet).getByText("stale")).toBeInTheDocument();
    expect(quiet).toHaveTextContent("last seen 2 hours ago");

    const other = screen.getByTestId("cluster-gpu-b");
    expect(within(other).getByText("unreachable")).toHaveClass("badge-cluster-unreachable");
    expect(await within(other).findByText("No nodes discovered yet.")).toBeInTheDocument();
  });

  it("opens a node to show its GPUs with model, load, memory, health and NVLink domains", async () => {
    const { calls } = mockApi(fullInventory());
    renderPage(<InventoryPage />, { route: "/inventory", path: "/inventory" });

    const toggle = await screen.findByRole("button", { name: /gpu-node-1/ });
    expect(toggle).toHaveAttribute("aria-expanded", "false");
    expect(screen.queryByRole("table", { name: "GPUs of gpu-node-1" })).not.toBeInTheDocument();
    await userEvent.click(toggle);
    expect(toggle).toHaveAttribute("aria-expanded", "true");

    const gpus = await screen.findByRole("table", { name: "GPUs of gpu-node-1" });
    const request = calls.find((c) => c.url.pathname === "/api/v1/accelerators/")!;
    expect(request.url.searchParams.get("node")).toBe("7");
    const [first, second] = within(gpus).getAllByTestId("gpu-row") as [HTMLElement, HTMLElement];
    expect(first).toHaveTextContent("#0");
    expect(first).toHaveTextContent("H100 SXM");
    expect(within(first).getByText("busy")).toHaveClass("badge-gpu-busy");
    expect(first).toHaveTextContent("97 %");
    expect(within(first).getByLabelText("GPU 0 utilisation")).toHaveAttribute("value", "97");
    expect(first).toHaveTextContent("40 / 80");
    expect(first).toHaveTextContent("61 °C");
    expect(first).toHaveTextContent("612 / 700 W");
    expect(first).toHaveTextContent("off");
    expect(first).toHaveTextContent("18");
    expect(within(first).getByText("NVLink 4")).toHaveAttribute("title", "NVLink 4 · GPUs 0, 1 · 900 GB/s per GPU");
    expect(within(first).getByText("H100 SXM")).toHaveAttribute("title", "Reported as NVIDIA H100 80GB HBM3");
    expect(within(second).getByText("Unrecognised")).toBeInTheDocument();
    expect(second).toHaveTextContent("Mystery 9000");
    expect(within(second).getByText("unknown")).toHaveClass("badge-gpu-unknown");
    expect(second).toHaveTextContent("health unknown");
    expect(within(first).queryByText(/health/)).not.toBeInTheDocument();
    expect(screen.getByText(/Interconnect: NVLink 4 · GPUs 0, 1/)).toBeInTheDocument();

    await userEvent.click(toggle);
    expect(screen.queryByRole("table", { name: "GPUs of gpu-node-1" })).not.toBeInTheDocument();
  });

  it("draws GPUs by model and state, with the same numbers in a table", async () => {
    charts.length = 0;
    mockApi(fullInventory());
    const { queryClient } = renderPage(<InventoryPage />, { route: "/inventory", path: "/inventory" });

    expect(await screen.findByTestId("gpu-totals")).toHaveTextContent(
      "6 GPUs: 1 free · 3 busy · 1 unhealthy · 1 without a load reading",
    );
    const table = screen.getByRole("table", { name: "GPU counts by model" });
    expect(within(table).getAllByRole("row")[1]).toHaveTextContent("H100 SXM12104");
    expect(within(table).getByText("Unrecognised")).toBeInTheDocument();
    expect(screen.getByRole("img", { name: /GPUs by model and state/ })).toHaveAccessibleName(
      "GPUs by model and state. H100 SXM: 1 free, 2 busy, 1 unhealthy, 0 without a load reading; " +
        "Unrecognised: 0 free, 1 busy, 0 unhealthy, 1 without a load reading",
    );
    await waitFor(() => expect(charts).toHaveLength(1));
    const chart = charts[0]!;
    expect(chart.data.labels).toEqual(["H100 SXM", "Unrecognised"]);
    expect(chart.data.datasets.map((d) => [d.label, d.data])).toEqual([
      ["Free", [1, 0]],
      ["Busy", [2, 1]],
      ["Unhealthy", [1, 0]],
      ["No load reading", [0, 1]],
    ]);

    // New numbers update the same chart; the same numbers again do not redraw it.
    mockApi(
      fullInventory({
        "GET /api/v1/accelerators/summary/": {
          body: { ...summary, models: [{ model: "H100 SXM", total: 4, free: 4, busy: 0, unhealthy: 0, unknown: 0 }] },
        },
      }),
    );
    await queryClient.refetchQueries();
    await waitFor(() => expect(chart.updates).toBe(1));
    expect(chart.data.datasets[0]?.data).toEqual([4]);
    await queryClient.refetchQueries();
    expect(chart.updates).toBe(1);
    expect(charts).toHaveLength(1);
  });

  it("shows storage with capacity bars and the network fabrics", async () => {
    mockApi(fullInventory());
    renderPage(<InventoryPage />, { route: "/inventory", path: "/inventory" });

    const storageTable = await screen.findByRole("table", { name: "Storage backends" });
    const row = within(storageTable).getAllByRole("row")[1]!;
    expect(row).toHaveTextContent("lustre-scratch");
    expect(row).toHaveTextContent("/mnt/lustre");
    expect(row).toHaveTextContent("400 TB of 1 PB (40 %)");
    expect(row).toHaveTextContent("12.5 / 8 GB/s");
    expect(within(row).getByLabelText("lustre-scratch capacity in use")).toHaveAttribute("value", String(4 * 10 ** 14));

    const fabrics = await screen.findByRole("table", { name: "Network fabrics" });
    expect(within(fabrics).getAllByRole("row")[1]).toHaveTextContent("ib-fabricinfiniband3,200 Gbit/syes2");
  });

  it("filters by cluster through the URL, the figure included", async () => {
    const { calls } = mockApi(fullInventory());
    renderPage(<InventoryPage />, { route: "/inventory", path: "/inventory" });
    await screen.findByTestId("cluster-gpu-b");

    await userEvent.selectOptions(screen.getByLabelText("Cluster"), "gpu-a");
    expect(screen.getByTestId("location")).toHaveTextContent("/inventory?cluster=gpu-a");
    expect(screen.queryByTestId("cluster-gpu-b")).not.toBeInTheDocument();
    expect(screen.getByTestId("cluster-gpu-a")).toBeInTheDocument();
    await waitFor(() => {
      const last = calls.filter((c) => c.url.pathname === "/api/v1/accelerators/summary/").at(-1)!;
      expect(last.url.searchParams.get("cluster")).toBe("gpu-a");
    });
  });

  it("says so when there is nothing yet", async () => {
    mockApi({
      "GET /api/v1/clusters/": { body: page([]) },
      "GET /api/v1/accelerators/summary/": {
        body: { models: [], total: 0, free: 0, busy: 0, unhealthy: 0, unknown: 0 },
      },
      "GET /api/v1/storage-backends/": { body: page([]) },
      "GET /api/v1/network-fabrics/": { body: page([]) },
    });
    renderPage(<InventoryPage />, { route: "/inventory", path: "/inventory" });
    expect(await screen.findByText(/No clusters yet/)).toBeInTheDocument();
    expect(await screen.findByText("No GPUs discovered yet.")).toBeInTheDocument();
    expect(await screen.findByText(/No storage backends yet/)).toBeInTheDocument();
    expect(await screen.findByText(/No network fabrics yet/)).toBeInTheDocument();
  });

  it("shows loading, then each section's error", async () => {
    mockApi(
      fullInventory({
        "GET /api/v1/nodes/": { status: 500, body: { detail: "Database unavailable." } },
        "GET /api/v1/accelerators/summary/": { status: 503, body: { detail: "Try later." } },
      }),
    );
    renderPage(<InventoryPage />, { route: "/inventory", path: "/inventory" });
    expect(screen.getByText("Counting GPUs…")).toBeInTheDocument();
    expect(screen.getByText("Loading clusters…")).toBeInTheDocument();
    const section = await screen.findByTestId("cluster-gpu-a");
    const alert = await within(section).findByRole("alert");
    expect(alert).toHaveTextContent("Could not load the nodes. Database unavailable.");
    expect(await screen.findByText("Could not count GPUs.")).toBeInTheDocument();
  });
  it("links each node to its page and a Ray cluster's address to its dashboard", async () => {
    mockApi(
      fullInventory({
        "GET /api/v1/clusters/": {
          body: page([
            { ...cluster, dashboard_url: "http://10.0.0.1:8265" },
            { ...cluster, id: 2, name: "gpu-b", kind: "kubernetes", address: "https://k8s:6443", dashboard_url: "" },
          ]),
        },
      }),
    );
    renderPage(<InventoryPage />, { route: "/inventory" });

    const row = await screen.findByTestId("node-gpu-node-1");
    expect(within(row).getByRole("link", { name: "gpu-node-1: its page and jobs" })).toHaveAttribute("href", "/nodes/7");
    const rayCard = screen.getByTestId("cluster-gpu-a");
    expect(within(rayCard).getByRole("link", { name: "http://10.0.0.1:8265" })).toHaveAttribute("href", "http://10.0.0.1:8265");
    const k8sCard = screen.getByTestId("cluster-gpu-b");
    expect(within(k8sCard).getByText("https://k8s:6443")).toBeInTheDocument();
    expect(within(k8sCard).queryByRole("link", { name: "https://k8s:6443" })).not.toBeInTheDocument();
  });
});
