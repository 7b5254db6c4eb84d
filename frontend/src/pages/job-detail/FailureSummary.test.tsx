import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Attempt } from "../../api/models";
import { JOBS_REFRESH_MS } from "../../api/queries";
import { createQueryClient } from "../../queryClient";
import { makeJobCost } from "../../test/costs";
import { makeJob, mockApi, page, renderPage, type Handler, type MockResponse } from "../../test/utils";
import { JobDetailPage } from "../JobDetailPage";
import { eventMessage, firstLine, jobCause } from "./FailureSummary";

// What a real Ray 2.60 head said of a job that raised ValueError (tests/jobs/fixtures/ray_failures.json).
const RAY_MESSAGE =
  "Job entrypoint command failed with exit code 1, last available logs (truncated to 20,000 chars):\n" +
  "2026-12-06 13:42:40,388\tINFO job_manager.py:581 -- Runtime env is setting up.\n" +
  "Running entrypoint for job pdk-cap-c8827c8317: python -c \"import sys; print('boom', flush=True); raise ValueError('bad lr')\"\n" +
  "boom\nTraceback (most recent call last):\n" +
  '  File "<string>", line 1, in <module>\n' +
  "ValueError: bad lr\n";
const CAUSE = "exit code 1: ValueError: bad lr";
const NOW = new Date().toISOString();

function attempt(overrides: Record<string, unknown> = {}) {
  return {
    id: "4f1c0a3e-0000-4000-8000-000000000001",
    number: 1,
    state: "running",
    remote_id: "4f1c0a3e-0000-4000-8000-000000000001",
    message: "",
    failure_cause: "",
    failure_evidence: "",
    exit_code: null,
    cause: "",
    resume_step: null,
    resume_uri: "",
    placement: [],
    created_at: NOW,
    dispatched_at: NOW,
    started_at: NOW,
    finished_at: null,
    ...overrides,
  };
}

function failedJob() {
  return {
    ...makeJob({ id: 7, state: "failed", state_reason: RAY_MESSAGE, finished_at: NOW }),
    exit_code: 1,
    cause: CAUSE,
    attempts: [
      attempt({
        state: "failed",
        message: RAY_MESSAGE,
        failure_cause: "code",
        failure_evidence: "exit code 1; its log ends with: ValueError: bad lr",
        exit_code: 1,
        cause: CAUSE,
        finished_at: NOW,
      }),
    ],
    events: [
      { id: 1, kind: "running", from_state: "dispatching", to_state: "running", message: "", attempt: 1, actor: null, created_at: NOW },
      { id: 2, kind: "failed", from_state: "running", to_state: "failed", message: RAY_MESSAGE, attempt: 1, actor: null, created_at: NOW },
    ],
  };
}

function mockJobApi(routes: Record<string, MockResponse | Handler>) {
  return mockApi({
    "GET /api/v1/job-metrics/": { body: { job: 7, series: [] } },
    "GET /api/v1/checkpoints/": { body: page([]) },
    "GET /api/v1/costs/jobs/7/": { body: makeJobCost({ attempts: [] }) },
    "GET /api/v1/jobs/7/logs/": { body: { attempt: 1, offset: 0, next_offset: 0, text: "", complete: true } },
    ...routes,
  });
}

afterEach(() => {
  vi.useRealTimers();
});

describe("FailureSummary", () => {
  it("shows the cause line first and the full message once, folded below", async () => {
    mockJobApi({ "GET /api/v1/jobs/7/": { body: failedJob() } });
    const { container } = renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id" });

    expect(await screen.findByTestId("failure-cause-line")).toHaveTextContent(CAUSE);
    const summary = screen.getByTestId("failure-summary");
    const folded = within(summary).getByText("Full message").closest("details");
    expect(folded).not.toHaveAttribute("open");
    expect(screen.getByTestId("failure-message").textContent).toBe(RAY_MESSAGE);
    // The traceback once on the page: not again in the attempt's row nor in the events.
    expect(container.textContent?.split("Traceback (most recent call last)").length).toBe(2);
    expect(within(screen.getByTestId("job-attempts")).getByTestId("attempt-cause")).toHaveTextContent(CAUSE);
    expect(within(screen.getByTestId("job-events")).getByText(`attempt 1 failed: ${CAUSE}`)).toBeInTheDocument();
    expect(screen.queryByTestId("job-state-reason")).not.toBeInTheDocument();
  });

  it("folds an earlier attempt's full message in its own row, the last one's in the summary only", async () => {
    const job = failedJob();
    const first = attempt({
      id: "4f1c0a3e-0000-4000-8000-000000000000",
      state: "failed",
      message: "Job entrypoint command failed with exit code 137, last available logs:\nKilled\n",
      failure_cause: "infrastructure",
      exit_code: 137,
      cause: "exit code 137 (killed by SIGKILL)",
      finished_at: NOW,
    });
    const second = { ...job.attempts[0]!, number: 2 };
    mockJobApi({ "GET /api/v1/jobs/7/": { body: { ...job, attempts: [first, second] } } });
    renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id" });

    const row = await screen.findByTestId("attempt-1");
    expect(within(row).getByTestId("attempt-cause")).toHaveTextContent("exit code 137 (killed by SIGKILL)");
    expect(within(row).getByText("Full message")).toBeInTheDocument();
    expect(within(screen.getByTestId("attempt-2")).queryByText("Full message")).not.toBeInTheDocument();
  });

  it("reads a cause from the message's first line for a failure stored before causes were", () => {
    expect(jobCause({ cause: "", state_reason: "\nthe cluster refused the job: bad image\nmore", attempts: [] })).toBe(
      "the cluster refused the job: bad image",
    );
    expect(firstLine("x".repeat(500))).toHaveLength(200);
    const retrying = {
      id: 3,
      kind: "retrying" as const,
      from_state: "running",
      to_state: "pending",
      message: `attempt 1 failed (the cluster's failure: …): ${RAY_MESSAGE}; retrying (1 of 3 retries for the cluster's failures, from the latest checkpoint)`,
      attempt: 1,
      actor: null,
      created_at: NOW,
    };
    expect(eventMessage(retrying, failedJob().attempts as Attempt[])).toBe(
      `attempt 1 failed: ${CAUSE}; retrying (1 of 3 retries for the cluster's failures, from the latest checkpoint)`,
    );
  });
});

describe("JobDetailPage freshness", () => {
  it("after Cancel keeps refreshing until the attempt has stopped, then stops asking", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let job = { ...makeJob({ id: 7, state: "running" }), exit_code: null, cause: "", attempts: [attempt()], events: [] };
    const { calls } = mockJobApi({
      "GET /api/v1/jobs/7/": () => ({ body: job }),
      "POST /api/v1/jobs/7/cancel/": () => {
        // Cancelled at once; the cluster stops the attempt a little later.
        job = { ...job, state: "cancelled", state_reason: "Cancelled by alice." };
        return { body: job };
      },
    });
    vi.spyOn(window, "confirm").mockReturnValue(true);
    renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id" });

    await userEvent.setup({ advanceTimers: vi.advanceTimersByTime }).click(
      await screen.findByRole("button", { name: "Cancel job" }),
    );
    await waitFor(() => expect(screen.getByTestId("job-state")).toHaveTextContent("cancelled"));
    expect(within(screen.getByTestId("attempt-1")).getByText("running")).toBeInTheDocument();

    job = { ...job, attempts: [attempt({ state: "stopped", message: "stopped by Paddock", finished_at: NOW })] };
    await act(async () => {
      await vi.advanceTimersByTimeAsync(JOBS_REFRESH_MS + 100);
    });
    await waitFor(() => expect(within(screen.getByTestId("attempt-1")).getByText("stopped")).toBeInTheDocument());

    const asked = calls.filter((c) => c.method === "GET" && c.url.pathname === "/api/v1/jobs/7/").length;
    await act(async () => {
      await vi.advanceTimersByTimeAsync(JOBS_REFRESH_MS * 3);
    });
    expect(calls.filter((c) => c.method === "GET" && c.url.pathname === "/api/v1/jobs/7/").length).toBe(asked);
  });

  it("says a job does not exist at once, without retrying or polling the 404", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const { calls } = mockJobApi({ "GET /api/v1/jobs/7/": { status: 404, body: { detail: "Not found." } } });
    // The app's own query client (the tests' never retries anything).
    renderPage(<JobDetailPage />, { route: "/jobs/7", path: "/jobs/:id", client: createQueryClient() });

    expect(await screen.findByText(/Job not found/, {}, { timeout: 500 })).toBeInTheDocument();
    expect(calls.filter((c) => c.url.pathname === "/api/v1/jobs/7/")).toHaveLength(1);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(JOBS_REFRESH_MS * 3);
    });
    expect(calls.filter((c) => c.url.pathname === "/api/v1/jobs/7/")).toHaveLength(1);
  });
});
