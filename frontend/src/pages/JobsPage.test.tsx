import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { makeJob, mockApi, page, renderPage } from "../test/utils";
import { JobsPage } from "./JobsPage";

const teams = [{ slug: "demo", name: "Demo", organisation: "acme", role: "member" }];

describe("JobsPage", () => {
  it("renders a row per job with its state badge and links", async () => {
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/jobs/": {
        body: page([makeJob({ id: 42, name: "finetune", state: "failed", kind: "fine_tuning" }), makeJob({ id: 41 })], {
          count: 2,
        }),
      },
    });
    renderPage(<JobsPage />, { route: "/jobs", path: "/jobs" });

    const row = await screen.findByTestId("job-row-42");
    expect(within(row).getByRole("link", { name: "finetune" })).toHaveAttribute("href", "/jobs/42");
    expect(within(row).getByText("failed")).toHaveClass("badge-failed");
    expect(within(row).getByText("Fine-tuning")).toBeInTheDocument();
    expect(within(row).getByText("demo")).toBeInTheDocument();
    expect(within(row).getByText("alice")).toBeInTheDocument();
    expect(within(row).getByText("5 minutes ago")).toBeInTheDocument();
    expect(screen.getByTestId("job-row-41")).toHaveTextContent("running");
    expect(screen.getByText("1–2 of 2")).toBeInTheDocument();
  });

  it("sends the filters from the URL and writes changes back to it", async () => {
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/jobs/": { body: page([makeJob()]) },
    });
    renderPage(<JobsPage />, { route: "/jobs?state=running&page=2", path: "/jobs" });
    await screen.findByTestId("job-row-1");

    const first = calls.find((c) => c.url.pathname === "/api/v1/jobs/")!;
    expect(first.url.searchParams.get("state")).toBe("running");
    expect(first.url.searchParams.get("page")).toBe("2");

    await userEvent.selectOptions(screen.getByLabelText("Kind"), "batch");
    expect(screen.getByTestId("location")).toHaveTextContent("/jobs?state=running&kind=batch");
    await waitFor(() => {
      const last = calls.filter((c) => c.url.pathname === "/api/v1/jobs/").at(-1)!;
      expect(last.url.searchParams.get("kind")).toBe("batch");
      expect(last.url.searchParams.get("page")).toBe("1");
    });
  });

  it("says where a pending job stands and why it waits", async () => {
    const reason = "Waiting for 4 × H100 SXM in pool gpu-a-h100-sxm: team demo uses 8 of its 8 guaranteed.";
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/jobs/": {
        body: page([
          makeJob({ id: 3, state: "pending", pool: "gpu-a-h100-sxm", queue_position: 2, pending_reason: reason }),
          makeJob({ id: 4, state: "running", pool: "gpu-a-h100-sxm" }),
        ]),
      },
    });
    renderPage(<JobsPage />, { route: "/jobs", path: "/jobs" });
    const hint = within(await screen.findByTestId("job-row-3")).getByTestId("queue-hint");
    expect(hint).toHaveTextContent(`#2 in pool gpu-a-h100-sxm · ${reason}`);
    expect(hint).toHaveAttribute("title", reason);
    expect(within(screen.getByTestId("job-row-4")).queryByTestId("queue-hint")).not.toBeInTheDocument();
  });

  it("pages with Next", async () => {
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/jobs/": { body: page([makeJob()], { count: 60, next: "/api/v1/jobs/?page=2" }) },
    });
    renderPage(<JobsPage />, { route: "/jobs", path: "/jobs" });
    await userEvent.click(await screen.findByRole("button", { name: "Next" }));
    expect(screen.getByTestId("location")).toHaveTextContent("/jobs?page=2");
    await waitFor(() => expect(calls.at(-1)?.url.searchParams.get("page")).toBe("2"));
    expect(screen.getByRole("button", { name: "Previous" })).toBeDisabled();
  });

  it("shows the empty state with a link to submit", async () => {
    mockApi({ "GET /api/v1/teams/": { body: page(teams) }, "GET /api/v1/jobs/": { body: page([]) } });
    renderPage(<JobsPage />, { route: "/jobs", path: "/jobs" });
    expect(await screen.findByText(/No jobs yet/)).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "submit one" })).toHaveAttribute("href", "/jobs/new");
  });

  it("shows a filtered empty state when filters match nothing", async () => {
    mockApi({ "GET /api/v1/teams/": { body: page(teams) }, "GET /api/v1/jobs/": { body: page([]) } });
    renderPage(<JobsPage />, { route: "/jobs?state=failed", path: "/jobs" });
    expect(await screen.findByText("No jobs match these filters.")).toBeInTheDocument();
  });

  it("shows loading, then the error", async () => {
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/jobs/": { status: 500, body: { detail: "Database unavailable." } },
    });
    renderPage(<JobsPage />, { route: "/jobs", path: "/jobs" });
    expect(screen.getByRole("status")).toHaveTextContent("Loading jobs…");
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load jobs. Database unavailable.");
  });

  it("updates states live by polling", async () => {
    let state = "running";
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/jobs/": () => ({ body: page([makeJob({ state })]) }),
    });
    renderPage(<JobsPage />, { route: "/jobs", path: "/jobs" });
    const row = await screen.findByTestId("job-row-1");
    expect(within(row).getByText("running")).toHaveClass("badge-running");
    state = "succeeded";
    await waitFor(() => expect(within(screen.getByTestId("job-row-1")).getByText("succeeded")).toBeInTheDocument(), {
      timeout: 3500,
    });
  });

  it("shows each job's duration, GPUs, GPU-hours and cost", async () => {
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/jobs/": {
        body: page([
          makeJob({
            id: 9,
            state: "succeeded",
            resources: { cpus: 16, gpus: 8, accelerator_model: "H100 SXM", accelerator_models: [], min_gpu_memory_gb: null, memory_gb: 64 },
            duration_seconds: 5400,
            gpu_hours: "12.000",
            cpu_hours: "0.000",
            cost: "29.88",
            cost_currency: "USD",
          }),
          makeJob({
            id: 8,
            state: "succeeded",
            resources: { cpus: 4, gpus: 0, accelerator_model: "", accelerator_models: [], min_gpu_memory_gb: null, memory_gb: 8 },
            duration_seconds: 75_000,
            gpu_hours: "0.000",
            cpu_hours: "83.333",
            cost: "1234.5",
            cost_currency: "EUR",
          }),
          makeJob({ id: 7, state: "pending", duration_seconds: null, gpu_hours: "0.000", cost: "0.00", cost_currency: "" }),
        ]),
      },
    });
    renderPage(<JobsPage />, { route: "/jobs", path: "/jobs" });

    const cells = (id: number) => {
      const row = within(screen.getByTestId(`job-row-${id}`));
      return ["job-resources", "job-duration", "job-gpu-hours", "job-cost"].map((testId) => row.getByTestId(testId).textContent);
    };
    await screen.findByTestId("job-row-9");
    expect(cells(9)).toEqual(["8 × H100 SXM", "1 h 30 min", "12", "USD 29.88"]);
    expect(cells(8)).toEqual(["4 CPUs", "20 h 50 min", "—", "EUR 1,234.50"]);
    expect(cells(7)).toEqual(["1 CPU", "—", "—", "—"]);
  });

  it("sorts by a column when its header is clicked, largest first, then the other way", async () => {
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/jobs/": { body: page([makeJob()]) },
    });
    renderPage(<JobsPage />, { route: "/jobs?state=succeeded&page=3", path: "/jobs" });
    await screen.findByTestId("job-row-1");
    expect(calls.at(-1)?.url.searchParams.has("ordering")).toBe(false);
    // The API's own order is newest first.
    expect(screen.getByRole("columnheader", { name: /Created/ })).toHaveAttribute("aria-sort", "descending");
    expect(screen.getByRole("columnheader", { name: /Cost/ })).toHaveAttribute("aria-sort", "none");

    await userEvent.click(screen.getByRole("button", { name: "Cost" }));
    expect(screen.getByTestId("location")).toHaveTextContent("/jobs?state=succeeded&ordering=-cost");
    await waitFor(() => expect(calls.at(-1)?.url.searchParams.get("ordering")).toBe("-cost"));
    expect(calls.at(-1)?.url.searchParams.get("state")).toBe("succeeded");
    const cost = screen.getByRole("columnheader", { name: /Cost/ });
    expect(cost).toHaveAttribute("aria-sort", "descending");
    expect(cost).toHaveTextContent("Cost ▼");
    expect(screen.getByRole("columnheader", { name: /Created/ })).toHaveAttribute("aria-sort", "none");

    await userEvent.click(screen.getByRole("button", { name: "Cost" }));
    await waitFor(() => expect(calls.at(-1)?.url.searchParams.get("ordering")).toBe("cost"));
    expect(screen.getByRole("columnheader", { name: /Cost/ })).toHaveAttribute("aria-sort", "ascending");
    expect(screen.getByRole("columnheader", { name: /Cost/ })).toHaveTextContent("Cost ▲");

    await userEvent.click(screen.getByRole("button", { name: "GPU-hours" }));
    await waitFor(() => expect(calls.at(-1)?.url.searchParams.get("ordering")).toBe("-gpu_hours"));
    await userEvent.click(screen.getByRole("button", { name: "Duration" }));
    await waitFor(() => expect(calls.at(-1)?.url.searchParams.get("ordering")).toBe("-duration"));
    await userEvent.click(screen.getByRole("button", { name: "Created" }));
    await waitFor(() => expect(calls.at(-1)?.url.searchParams.get("ordering")).toBe("-created_at"));
  });
});
