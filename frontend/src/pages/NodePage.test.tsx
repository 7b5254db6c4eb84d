import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { mockApi, page, renderPage } from "../test/utils";
import { NodePage } from "./NodePage";

const node = {
  id: 5,
  cluster: "local-ray",
  hostname: "gpu-a",
  address: "10.0.0.5",
  external_id: "abc123",
  source: "ray",
  state: "ready",
  state_reason: "",
  cordoned_on_cluster: false,
  cluster_sync: "",
  cpus: 64,
  memory_bytes: 512 * 2 ** 30,
  labels: { zone: "a" },
  driver_version: "550.54",
  cuda_version: "12.4",
  accelerators: { total: 8, free: 5 },
  interconnect_domains: [],
  last_heartbeat_at: new Date().toISOString(),
  stale: false,
  created_at: new Date().toISOString(),
};

function nodeAttempt(overrides: Record<string, unknown> = {}) {
  return {
    id: "00000000-0000-4000-8000-000000000001",
    number: 1,
    state: "running",
    active: true,
    job: 41,
    job_name: "train-llama",
    job_state: "running",
    job_kind: "training",
    team: "alpha",
    cluster: "local-ray",
    gpus: [2, 3],
    gpus_total: 3,
    nodes: 2,
    created_at: new Date(Date.now() - 600_000).toISOString(),
    started_at: new Date(Date.now() - 600_000).toISOString(),
    finished_at: null,
    ...overrides,
  };
}

describe("NodePage", () => {
  it("shows the node's facts, its jobs now and recently, linked to the job and cluster pages", async () => {
    const { calls } = mockApi({
      "GET /api/v1/nodes/5/": { body: node },
      "GET /api/v1/clusters/": { body: page([{ name: "local-ray", kind: "ray", dashboard_url: "http://127.0.0.1:8265" }]) },
      "GET /api/v1/accelerators/": { body: page([]) },
      "GET /api/v1/nodes/5/jobs/": (url) =>
        url.searchParams.get("active") === "true"
          ? { body: page([nodeAttempt()]) }
          : {
              body: page(
                [
                  nodeAttempt({
                    id: "00000000-0000-4000-8000-000000000002",
                    job: 40,
                    job_name: "eval",
                    state: "succeeded",
                    active: false,
                    gpus: [0],
                    gpus_total: 1,
                    nodes: 1,
                    finished_at: new Date().toISOString(),
                  }),
                ],
                { count: 26, next: "http://localhost/api/v1/nodes/5/jobs/?page=2" },
              ),
            },
    });
    renderPage(<NodePage />, { route: "/nodes/5", path: "/nodes/:id" });

    expect(await screen.findByRole("heading", { name: "gpu-a" })).toBeInTheDocument();
    const facts = screen.getByTestId("node-facts");
    expect(within(facts).getByText("10.0.0.5")).toBeInTheDocument();
    expect(screen.getByTestId("node-gpu-count")).toHaveTextContent("5 of 8 free");
    expect(within(facts).getByRole("link", { name: "local-ray" })).toHaveAttribute("href", "/inventory?cluster=local-ray");
    expect(await within(facts).findByTestId("ray-dashboard-link")).toHaveAttribute("href", "http://127.0.0.1:8265");

    const now = await screen.findByRole("table", { name: "Jobs on gpu-a now" });
    expect(within(now).getByRole("link", { name: "train-llama" })).toHaveAttribute("href", "/jobs/41");
    expect(within(now).getByTestId("node-job-gpus")).toHaveTextContent("#2, #3 (of 3 on 2 nodes)");
    const recent = await screen.findByRole("table", { name: "Jobs on gpu-a recently" });
    expect(within(recent).getByRole("link", { name: "eval" })).toHaveAttribute("href", "/jobs/40");
    expect(within(recent).getByTestId("node-job-gpus")).toHaveTextContent(/^#0$/);
    expect(screen.getByText("1–25 of 26")).toBeInTheDocument();

    const asked = calls.filter((c) => c.url.pathname === "/api/v1/nodes/5/jobs/").map((c) => c.url.searchParams.get("active"));
    expect(asked.sort()).toEqual(["false", "true"]);
  });

  it("says when no job runs there, and when the node does not exist", async () => {
    mockApi({
      "GET /api/v1/nodes/5/": { body: node },
      "GET /api/v1/clusters/": { body: page([]) },
      "GET /api/v1/accelerators/": { body: page([]) },
      "GET /api/v1/nodes/5/jobs/": { body: page([]) },
    });
    const { unmount } = renderPage(<NodePage />, { route: "/nodes/5", path: "/nodes/:id" });
    expect(await screen.findByText("No job of your teams runs on gpu-a now.")).toBeInTheDocument();
    expect(await screen.findByText("No job of your teams has run on gpu-a yet.")).toBeInTheDocument();
    unmount();

    mockApi({ "GET /api/v1/nodes/9/": { status: 404, body: { detail: "Not found." } } });
    renderPage(<NodePage />, { route: "/nodes/9", path: "/nodes/:id" });
    expect(await screen.findByText("Node not found.")).toBeInTheDocument();
  });
});
