import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeJob, mockApi, page, renderPage } from "../../test/utils";
import { JobsPage } from "../JobsPage";
import { summariseOutcomes } from "./BulkCancel";
import { SEARCH_DEBOUNCE_MS } from "./JobsFilters";

const teams = [{ slug: "demo", name: "Demo", organisation: "acme", role: "member" }];
const clusters = [
  { id: 3, name: "local-ray", kind: "ray", address: "", state: "ready", usable_by: ["demo"], created_at: "" },
  { id: 4, name: "gpu-b", kind: "ray", address: "", state: "ready", usable_by: ["demo"], created_at: "" },
];
const listCalls = (calls: { url: URL }[]) => calls.filter((c) => c.url.pathname === "/api/v1/jobs/");

describe("Finding jobs", () => {
  afterEach(() => vi.restoreAllMocks());

  it("searches once typing stops, and keeps the search in the URL", async () => {
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "GET /api/v1/jobs/": { body: page([makeJob()]) },
    });
    renderPage(<JobsPage />, { route: "/jobs?page=2", path: "/jobs" });
    await screen.findByTestId("job-row-1");
    const box = screen.getByTestId("jobs-search");
    fireEvent.change(box, { target: { value: "ll" } });
    fireEvent.change(box, { target: { value: "llama" } });
    // Nothing asked while typing…
    expect(listCalls(calls).some((c) => c.url.searchParams.has("search"))).toBe(false);
    // …then one request for what was typed, from page 1.
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/jobs?search=llama"), {
      timeout: SEARCH_DEBOUNCE_MS + 1000,
    });
    await waitFor(() => expect(listCalls(calls).at(-1)?.url.searchParams.get("search")).toBe("llama"));
    expect(listCalls(calls).filter((c) => c.url.searchParams.has("search")).map((c) => c.url.searchParams.get("search"))).not.toContain("ll");
    expect(listCalls(calls).at(-1)?.url.searchParams.get("page")).toBe("1");
  });

  it("reads search, cluster and mine from the URL and clears them together", async () => {
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "GET /api/v1/jobs/": { body: page([makeJob()]) },
    });
    renderPage(<JobsPage />, { route: "/jobs?search=%2312&cluster=gpu-b&mine=true", path: "/jobs" });
    await screen.findByTestId("job-row-1");
    const first = listCalls(calls)[0]!.url.searchParams;
    expect([first.get("search"), first.get("cluster"), first.get("mine")]).toEqual(["#12", "gpu-b", "true"]);
    expect(screen.getByTestId("jobs-search")).toHaveValue("#12");
    expect(screen.getByLabelText("Only mine")).toBeChecked();
    await screen.findByRole("option", { name: "local-ray" });
    expect(screen.getByLabelText("Cluster")).toHaveValue("gpu-b");

    await userEvent.click(screen.getByRole("button", { name: "Clear filters" }));
    expect(screen.getByTestId("location")).toHaveTextContent(/^\/jobs$/);
    expect(screen.getByTestId("jobs-search")).toHaveValue("");
    await waitFor(() => {
      const last = listCalls(calls).at(-1)!.url.searchParams;
      expect([last.has("search"), last.has("cluster"), last.has("mine")]).toEqual([false, false, false]);
    });

    await userEvent.click(screen.getByLabelText("Only mine"));
    expect(screen.getByTestId("location")).toHaveTextContent("/jobs?mine=true");
    await userEvent.selectOptions(screen.getByLabelText("Cluster"), "local-ray");
    expect(screen.getByTestId("location")).toHaveTextContent("/jobs?mine=true&cluster=local-ray");
  });

  it("shows GPUs × model and the nodes, and sorts by name, state, GPUs and priority", async () => {
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "GET /api/v1/jobs/": {
        body: page([
          makeJob({
            id: 5,
            resources: { cpus: 16, gpus: 16, accelerator_model: "H100", accelerator_models: [], min_gpu_memory_gb: null, memory_gb: 0 },
            nodes: ["gpu-1", "gpu-2", "gpu-3"],
          }),
          makeJob({ id: 6, nodes: ["cpu-1"] }),
          makeJob({ id: 7, state: "pending" }),
        ]),
      },
    });
    renderPage(<JobsPage />, { route: "/jobs", path: "/jobs" });
    const row = within(await screen.findByTestId("job-row-5"));
    expect(row.getByTestId("job-resources")).toHaveTextContent("16 × H100");
    expect(row.getByTestId("job-nodes")).toHaveTextContent("gpu-1, gpu-2 +1");
    expect(row.getByTestId("job-nodes").firstElementChild).toHaveAttribute("title", "gpu-1\ngpu-2\ngpu-3");
    expect(within(screen.getByTestId("job-row-6")).getByTestId("job-nodes")).toHaveTextContent("cpu-1");
    expect(within(screen.getByTestId("job-row-7")).getByTestId("job-nodes")).toHaveTextContent("—");

    for (const [label, field] of [
      ["Name", "name"],
      ["State", "state"],
      ["GPUs × model", "gpus"],
      ["Priority", "priority"],
    ] as const) {
      await userEvent.click(screen.getByRole("button", { name: label }));
      await waitFor(() => expect(listCalls(calls).at(-1)?.url.searchParams.get("ordering")).toBe(`-${field}`));
      expect(screen.getByRole("columnheader", { name: new RegExp(label) })).toHaveAttribute("aria-sort", "descending");
    }
  });

  it("cancels the ticked jobs and says what happened to each", async () => {
    vi.spyOn(window, "confirm").mockReturnValue(true);
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "GET /api/v1/jobs/": {
        body: page([makeJob({ id: 1 }), makeJob({ id: 2, state: "pending" }), makeJob({ id: 3, state: "succeeded" })]),
      },
      "POST /api/v1/jobs/cancel/": {
        body: {
          results: [
            { id: 1, outcome: "cancelled", state: "cancelled", detail: "Cancelled." },
            { id: 2, outcome: "already_final", state: "succeeded", detail: "Already succeeded: nothing to cancel." },
          ],
        },
      },
    });
    renderPage(<JobsPage />, { route: "/jobs", path: "/jobs" });
    await screen.findByTestId("job-row-1");
    expect(screen.queryByTestId("bulk-bar")).not.toBeInTheDocument();
    // A finished job cannot be ticked.
    expect(screen.getByLabelText("Select job #3")).toBeDisabled();
    await userEvent.click(screen.getByLabelText("Select every job on this page that can be cancelled"));
    expect(screen.getByLabelText("Select job #1")).toBeChecked();
    expect(screen.getByLabelText("Select job #2")).toBeChecked();
    expect(screen.getByTestId("bulk-bar")).toHaveTextContent("2 selected");

    await userEvent.click(screen.getByRole("button", { name: "Cancel selected" }));
    expect(window.confirm).toHaveBeenCalledWith("Cancel 2 jobs?");
    expect(await screen.findByTestId("bulk-result")).toHaveTextContent("1 cancelled · 1 had already finished");
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ ids: [1, 2] });
    expect(screen.getByLabelText("Select job #1")).not.toBeChecked();
    expect(screen.queryByRole("button", { name: "Cancel selected" })).not.toBeInTheDocument();
  });

  it("does not cancel when the confirmation is declined", async () => {
    vi.spyOn(window, "confirm").mockReturnValue(false);
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "GET /api/v1/jobs/": { body: page([makeJob({ id: 1 })]) },
    });
    renderPage(<JobsPage />, { route: "/jobs", path: "/jobs" });
    await userEvent.click(await screen.findByLabelText("Select job #1"));
    await userEvent.click(screen.getByRole("button", { name: "Cancel selected" }));
    await act(async () => {});
    expect(calls.some((c) => c.method === "POST")).toBe(false);
  });

  it("links each submittable job to the submit form filled in from it", async () => {
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "GET /api/v1/jobs/": { body: page([makeJob({ id: 4 }), makeJob({ id: 5, kind: "deployment" })]) },
    });
    renderPage(<JobsPage />, { route: "/jobs", path: "/jobs" });
    const row = within(await screen.findByTestId("job-row-4"));
    expect(row.getByRole("link", { name: "Clone" })).toHaveAttribute("href", "/jobs/new?from=4");
    expect(within(screen.getByTestId("job-row-5")).queryByRole("link", { name: "Clone" })).not.toBeInTheDocument();
  });

  it("summarises outcomes in a fixed order", () => {
    expect(
      summariseOutcomes([
        { id: 1, outcome: "not_found", state: null, detail: "" },
        { id: 2, outcome: "cancelled", state: "cancelled", detail: "" },
        { id: 3, outcome: "forbidden", state: "running", detail: "" },
        { id: 4, outcome: "cancelled", state: "cancelled", detail: "" },
      ]),
    ).toBe("2 cancelled · 1 not found · 1 not yours to cancel");
  });
});
