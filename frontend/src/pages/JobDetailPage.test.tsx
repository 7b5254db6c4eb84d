import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { makeJobCost } from "../test/costs";
import { makeJob, mockApi, page, renderPage, type Handler, type MockResponse } from "../test/utils";
import { JobDetailPage } from "./JobDetailPage";

function detail(overrides: Record<string, unknown> = {}) {
  return {
    ...makeJob({ id: 7, state: "running", state_reason: "Running on local-ray" }),
    attempts: [
      {
        id: "4f1c0a3e-0000-4000-8000-000000000001",
        number: 1,
        state: "running",
        remote_id: "raysubmit_abc",
        placement: [],
        message: "",
        failure_cause: "",
        created_at: new Date().toISOString(),
        dispatched_at: new Date().toISOString(),
        started_at: new Date().toISOString(),
        finished_at: null,
      },
    ],
    events: [
      { id: 1, kind: "state_changed", from_state: "pending", to_state: "admitted", message: "Quota ok", actor: "scheduler", created_at: new Date().toISOString() },
    ],
    ...overrides,
  };
}

/** The job's routes, with no metrics and no checkpoints unless a test gives them. */
function mockJobApi(routes: Record<string, MockResponse | Handler>) {
  return mockApi({
    "GET /api/v1/job-metrics/": { body: { job: 7, series: [] } },
    "GET /api/v1/checkpoints/": { body: page([]) },
    "GET /api/v1/costs/jobs/7/": { body: makeJobCost({ attempts: [] }) },
    ...routes,
  });
}

describe("JobDetailPage", () => {
  it("says when an attempt ended for the cluster's sake, not the job's", async () => {
    const lost = {
      ...detail().attempts[0],
      id: "4f1c0a3e-0000-4000-8000-000000000002",
      state: "lost",
      failure_cause: "infrastructure",
      message: "local no longer knows job 4f1c0a3e",
      finished_at: new Date().toISOString(),
    };
    mockJobApi({
      "GET /api/v1/jobs/7/": { body: detail({ attempts: [lost, { ...detail().attempts[0], number: 2 }] }) },
      "GET /api/v1/jobs/7/logs/": { body: { attempt: 2, offset: 0, next_offset: 0, text: "", complete: false } },
    });
    renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id" });

    const attempts = await screen.findByTestId("job-attempts");
    expect(within(attempts).getByText("the cluster's failure")).toBeInTheDocument();
    expect(within(attempts).getByText(/no longer knows job/)).toBeInTheDocument();
  });

  it("shows the header, attempts, events, and tails the log until the job finishes", async () => {
    let state = "running";
    const logs: Record<number, { text: string; complete: boolean }> = {
      0: { text: "step 1\n", complete: false },
      7: { text: "done\n", complete: true },
    };
    const { calls } = mockJobApi({
      "GET /api/v1/jobs/7/": () => ({ body: detail({ state, state_reason: state === "running" ? "Running on local-ray" : "" }) }),
      "GET /api/v1/jobs/7/logs/": (url) => {
        const offset = Number(url.searchParams.get("offset"));
        const chunk = state === "running" && offset === 7 ? { text: "", complete: false } : (logs[offset] ?? { text: "", complete: true });
        return { body: { attempt: 1, offset, next_offset: offset + chunk.text.length, ...chunk } };
      },
    });
    const { queryClient } = renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id" });

    expect(await screen.findByTestId("job-state")).toHaveTextContent("running");
    expect(screen.getByTestId("job-state-reason")).toHaveTextContent("Running on local-ray");
    expect(within(screen.getByTestId("job-attempts")).getByText("raysubmit_abc")).toBeInTheDocument();
    expect(within(screen.getByTestId("job-events")).getByText("Quota ok")).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId("job-logs")).toHaveTextContent("step 1"));

    state = "succeeded";
    // Refetch now rather than waiting for the 2 s poll.
    await queryClient.invalidateQueries({ queryKey: ["job", 7] });
    await waitFor(() => expect(screen.getByTestId("job-state")).toHaveTextContent("succeeded"));
    await waitFor(() => expect(screen.getByTestId("job-logs").textContent).toBe("step 1\ndone\n"), { timeout: 3500 });
    expect(screen.queryByRole("button", { name: "Cancel job" })).not.toBeInTheDocument();
    const offsets = calls.filter((c) => c.url.pathname.endsWith("/logs/")).map((c) => c.url.searchParams.get("offset"));
    expect(offsets[0]).toBe("0");
    expect(new Set(offsets)).toEqual(new Set(["0", "7"]));
  });

  it("lists the pools a job accepts in order and marks the one it was admitted to", async () => {
    mockJobApi({
      "GET /api/v1/jobs/7/": {
        body: detail({
          state: "running",
          pool: "gpu-a-a100-80gb-sxm",
          accepted_pools: ["gpu-a-h100-sxm", "gpu-a-a100-80gb-sxm"],
          resources: {
            cpus: 1,
            gpus: 4,
            accelerator_model: "A100-80G",
            accelerator_models: ["H100 SXM", "A100 80GB SXM"],
            min_gpu_memory_gb: null,
            memory_gb: 0,
          },
        }),
      },
      "GET /api/v1/jobs/7/logs/": { body: { attempt: null, offset: 0, next_offset: 0, text: "", complete: false } },
    });
    renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id" });

    const accepted = await screen.findByTestId("job-accepted-pools");
    expect(within(accepted).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
      "gpu-a-h100-sxm",
      "gpu-a-a100-80gb-sxm (admitted here)",
    ]);
    expect(screen.getByText(/accepts H100 SXM, then A100 80GB SXM/)).toBeInTheDocument();
  });

  it("shows the pool and priority class, and for a pending job its place in the queue and why it waits", async () => {
    const reason = "Waiting for 8 × H100 SXM in pool gpu-a-h100-sxm: team demo uses 12 of its 16 guaranteed.";
    let state = "pending";
    mockJobApi({
      "GET /api/v1/jobs/7/": () => ({
        body: detail({
          state,
          attempts: [],
          pool: "gpu-a-h100-sxm",
          priority: 100,
          priority_class: "production",
          queue_position: state === "pending" ? 3 : null,
          pending_reason: state === "pending" ? reason : "",
          max_runtime_seconds: 7200,
          estimated_start_at: state === "pending" ? new Date(Date.now() + 3 * 3600_000 + 60_000).toISOString() : null,
          estimate_confidence: state === "pending" ? "medium" : "",
          estimate_basis: state === "pending" ? "After 2 running jobs end (planner's estimate)." : "",
          state_reason: state === "pending" ? reason : "Running on local-ray",
        }),
      }),
      "GET /api/v1/jobs/7/logs/": { body: { attempt: null, offset: 0, next_offset: 0, text: "", complete: false } },
    });
    const { queryClient } = renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id" });

    expect(await screen.findByTestId("job-pool")).toHaveTextContent("gpu-a-h100-sxm");
    expect(screen.getByTestId("job-priority")).toHaveTextContent("100 production");
    expect(screen.getByTestId("job-queue-position")).toHaveTextContent(
      "Position 3 among team demo’s pending jobs in pool gpu-a-h100-sxm",
    );
    expect(within(screen.getByTestId("job-queue")).getByRole("link", { name: "queue" })).toHaveAttribute(
      "href",
      "/queue?team=demo",
    );
    expect(screen.getByTestId("job-pending-reason")).toHaveTextContent(reason);
    expect(screen.queryByTestId("job-state-reason")).not.toBeInTheDocument();
    expect(screen.getByTestId("job-estimate")).toHaveTextContent("Estimated start: in 3 hours medium");
    expect(screen.getByTestId("estimated-start").getAttribute("title")).toContain("After 2 running jobs end");
    expect(screen.getByTestId("job-max-runtime")).toHaveTextContent("2 h");

    state = "running";
    await queryClient.invalidateQueries({ queryKey: ["job", 7] });
    await waitFor(() => expect(screen.queryByTestId("job-queue")).not.toBeInTheDocument());
    expect(screen.getByTestId("job-state-reason")).toHaveTextContent("Running on local-ray");
  });

  it("shows waiting for logs before any output", async () => {
    mockJobApi({
      "GET /api/v1/jobs/7/": { body: detail({ state: "pending", attempts: [] }) },
      "GET /api/v1/jobs/7/logs/": { body: { attempt: null, offset: 0, next_offset: 0, text: "", complete: false } },
    });
    renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id" });
    expect(await screen.findByTestId("job-logs-status")).toHaveTextContent("waiting for logs…");
    expect(screen.getByText(/No attempts yet/)).toBeInTheDocument();
  });

  it("cancels after confirmation and reports a conflict", async () => {
    const confirm = vi.fn(() => true);
    vi.stubGlobal("confirm", confirm);
    const { calls } = mockJobApi({
      "GET /api/v1/jobs/7/": { body: detail() },
      "GET /api/v1/jobs/7/logs/": { body: { attempt: 1, offset: 0, next_offset: 0, text: "", complete: false } },
      "POST /api/v1/jobs/7/cancel/": { status: 409, body: { detail: "Job already finished." } },
    });
    renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id" });
    await userEvent.click(await screen.findByRole("button", { name: "Cancel job" }));
    expect(confirm).toHaveBeenCalled();
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not cancel: Job already finished.");
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(1);
  });

  it("does not cancel when the confirmation is declined", async () => {
    vi.stubGlobal("confirm", vi.fn(() => false));
    const { calls } = mockJobApi({
      "GET /api/v1/jobs/7/": { body: detail() },
      "GET /api/v1/jobs/7/logs/": { body: { attempt: 1, offset: 0, next_offset: 0, text: "", complete: false } },
    });
    renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id" });
    await userEvent.click(await screen.findByRole("button", { name: "Cancel job" }));
    expect(calls.some((c) => c.method === "POST")).toBe(false);
  });

  it("shows what the planner said at submission", async () => {
    const plan = {
      model: { name: "llama-2-70b" },
      workload: { mode: "full_finetune", batch: 1, seq: 4096 },
      accelerator: "H100 SXM",
      gpus: 1,
      memory_per_gpu_bytes: 1043 * 2 ** 30,
      headroom_bytes: -970 * 2 ** 30,
      fits: false,
      peak_phase: "end of backward",
      step_time_s: 6.8,
      time_to_train_s: 3_317_760,
      explanation: "Does not fit: needs 1,043.4 GiB per GPU but H100 SXM has 79.6 GiB.",
      overridden: true,
    };
    mockJobApi({
      "GET /api/v1/jobs/7/": { body: detail({ plan }) },
      "GET /api/v1/jobs/7/logs/": { body: { attempt: 1, offset: 0, next_offset: 0, text: "", complete: false } },
    });
    renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id" });
    const panel = await screen.findByTestId("job-plan");
    expect(screen.getByRole("heading", { name: "Plan" })).toBeInTheDocument();
    expect(panel).toHaveTextContent("llama-2-70b");
    expect(panel).toHaveTextContent("Full fine-tune · micro-batch 1 · 4096 tokens per sequence");
    expect(within(panel).getByTestId("fit")).toHaveTextContent("Does not fit (submitted anyway)");
    expect(panel).toHaveTextContent("on 1 × H100 SXM");
    expect(within(panel).getByTestId("memory-per-gpu")).toHaveTextContent("1 TiB (970 GiB short)");
    expect(panel).toHaveTextContent("38.4 days");
    expect(panel).toHaveTextContent(plan.explanation);
  });

  it("has no plan panel when the job was submitted without one", async () => {
    mockJobApi({
      "GET /api/v1/jobs/7/": { body: detail({ plan: null }) },
      "GET /api/v1/jobs/7/logs/": { body: { attempt: 1, offset: 0, next_offset: 0, text: "", complete: false } },
    });
    renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id" });
    await screen.findByTestId("job-state");
    expect(screen.queryByTestId("job-plan")).not.toBeInTheDocument();
    expect(screen.queryByRole("heading", { name: "Plan" })).not.toBeInTheDocument();
  });

  it("shows a server failure with a retry", async () => {
    mockApi({ "GET /api/v1/jobs/7/": { status: 503, body: { detail: "Database unavailable." } } });
    renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id" });
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load this job. Database unavailable.");
    expect(screen.getByRole("button", { name: "Try again" })).toBeInTheDocument();
  });

  it("shows an error for a missing job", async () => {
    mockApi({});
    renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id" });
    expect(await screen.findByRole("alert")).toHaveTextContent(
      "Job not found. Job #7 does not exist, or it belongs to a team you are not in.",
    );
  });
});

describe("JobDetailPage — checkpointed jobs", () => {
  const base = detail().attempts[0]!;
  const finished = new Date().toISOString();

  it("says why each attempt failed, where the next resumed from, and the job's checkpoint policy", async () => {
    const attempts = [
      {
        ...base,
        state: "lost",
        failure_cause: "infrastructure",
        failure_evidence: "node 10.0.0.4 stopped answering at 12:03",
        finished_at: finished,
      },
      {
        ...base,
        id: "4f1c0a3e-0000-4000-8000-000000000002",
        number: 2,
        state: "failed",
        failure_cause: "code",
        message: "exit code 1",
        resume_step: 40,
        resume_uri: "file:///data/jobs/7/step-00000040/",
        finished_at: finished,
      },
      { ...base, id: "4f1c0a3e-0000-4000-8000-000000000003", number: 3, resume_step: 60 },
    ];
    mockJobApi({
      "GET /api/v1/jobs/7/": {
        body: detail({
          attempts,
          retry_on_error: true,
          runtime: "ray",
          checkpoint_policy: { keep_latest: 3, keep_best: 0 },
        }),
      },
      "GET /api/v1/jobs/7/logs/": { body: { attempt: 3, offset: 0, next_offset: 0, text: "", complete: false } },
    });
    renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id" });

    const first = await screen.findByTestId("attempt-1");
    expect(within(first).getByTestId("failure-cause")).toHaveTextContent("the cluster's failure — retried from step 40");
    expect(within(first).getByTestId("failure-evidence")).toHaveTextContent("node 10.0.0.4 stopped answering");
    expect(screen.getByTestId("job-runtime")).toHaveTextContent("a Ray cluster of its own");
    const second = screen.getByTestId("attempt-2");
    expect(within(second).getByTestId("failure-cause")).toHaveTextContent("the job's own error — retried from step 60");
    expect(within(second).getByTestId("resumed-from")).toHaveTextContent("resumed from step 40");
    expect(within(screen.getByTestId("attempt-3")).getByTestId("resumed-from")).toHaveTextContent("resumed from step 60");
    expect(screen.getByTestId("job-retry-on-error")).toHaveTextContent("yes: the job's own errors are retried too");
    expect(await screen.findByTestId("checkpoint-policy")).toHaveTextContent("Keeps the latest 3.");
    expect(screen.getByRole("heading", { name: "Training" })).toBeInTheDocument();
    expect(await screen.findByText(/No metrics reported yet/)).toBeInTheDocument();
  });
});
