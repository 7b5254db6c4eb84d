import { act, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { JobCost } from "../../api/costs";
import { makeAttemptCost, makeJobCost } from "../../test/costs";
import { mockApi, renderPage } from "../../test/utils";
import { JobCostCard } from "./CostCard";

describe("JobCostCard", () => {
  it("shows the cost, GPU-hours and per attempt the time, amount and prices applied", async () => {
    const twoPrices = makeAttemptCost({
      attempt: "4f1c0a3e-0000-4000-8000-000000000002",
      number: 2,
      state: "succeeded",
      seconds: 7200,
      amount: "41.84",
      prices: [
        { ...makeAttemptCost().prices[0]!, rate: "2.4900", amount: "19.92" },
        { ...makeAttemptCost().prices[0]!, rate: "2.7400", pricing_class: "spot", offer: "GCP a3 spot", amount: "21.92" },
      ],
    });
    mockApi({
      "GET /api/v1/costs/jobs/7/": {
        body: makeJobCost({ amount: "71.72", live_amount: "71.72", gpu_hours: "28.000", attempts: [makeAttemptCost({ state: "failed" }), twoPrices] }),
      },
    });
    renderPage(<JobCostCard jobId={7} />);

    expect(await screen.findByTestId("job-cost-so-far")).toHaveTextContent("USD 71.72");
    expect(screen.getByTestId("job-cost-gpu-hours")).toHaveTextContent("28");
    expect(screen.getByTestId("job-cost-rate")).toHaveTextContent("not running");
    expect(screen.queryByTestId("job-cost-live")).not.toBeInTheDocument();

    const first = within(screen.getByTestId("attempt-cost-1"));
    expect(first.getByText("8 × H100 SXM")).toBeInTheDocument();
    expect(first.getByText("1 h 30 min")).toBeInTheDocument();
    expect(first.getAllByText("USD 29.88", { exact: false }).length).toBeGreaterThan(0);
    expect(first.getByRole("listitem")).toHaveTextContent(/USD 2\.49 per GPU-hour · on demand · AWS p5\.48xlarge on-demand · .+ – .+ · USD 29\.88/);

    const second = within(screen.getByTestId("attempt-cost-2"));
    expect(second.getByText("2 h")).toBeInTheDocument();
    expect(second.getAllByRole("listitem").map((li) => li.textContent)).toEqual([
      expect.stringMatching(/^USD 2\.49 per GPU-hour · on demand · AWS p5.+ · USD 19\.92$/),
      expect.stringMatching(/^USD 2\.74 per GPU-hour · spot · GCP a3 spot · .+ · USD 21\.92$/),
    ]);
  });

  it("refreshes the live cost every 10 s while the job runs, then stops asking", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let answer: JobCost = makeJobCost({
      running: true,
      live_amount: "30.12",
      rate_per_hour: "19.92",
      attempts: [makeAttemptCost({ state: "running", end: null, prices: [{ ...makeAttemptCost().prices[0]!, until: null }] })],
    });
    const { calls } = mockApi({ "GET /api/v1/costs/jobs/7/": () => ({ body: answer }) });
    renderPage(<JobCostCard jobId={7} />);

    expect(await screen.findByTestId("job-cost-so-far")).toHaveTextContent("USD 30.12");
    expect(screen.getByText("Cost so far")).toBeInTheDocument();
    expect(screen.getByTestId("job-cost-rate")).toHaveTextContent("USD 19.92 per hour");
    expect(screen.getByTestId("job-cost-live")).toHaveTextContent("refreshed every 10 s");
    expect(within(screen.getByTestId("attempt-cost-1")).getByRole("listitem")).toHaveTextContent(/– now/);

    answer = { ...answer, live_amount: "30.67" };
    await act(() => vi.advanceTimersByTimeAsync(10_000));
    await waitFor(() => expect(screen.getByTestId("job-cost-so-far")).toHaveTextContent("USD 30.67"));

    answer = makeJobCost({ running: false, amount: "31.00", live_amount: "31.00", rate_per_hour: null });
    await act(() => vi.advanceTimersByTimeAsync(10_000));
    await waitFor(() => expect(screen.getByTestId("job-cost-so-far")).toHaveTextContent("USD 31.00"));
    expect(screen.getByTestId("job-cost-rate")).toHaveTextContent("not running");
    const asked = calls.length;
    await act(() => vi.advanceTimersByTimeAsync(30_000));
    expect(calls).toHaveLength(asked);
  });

  it("says when nothing was charged, and when the cost cannot be read", async () => {
    mockApi({ "GET /api/v1/costs/jobs/7/": { body: makeJobCost({ currency: "", amount: "0.00", live_amount: "0.00", attempts: [] }) } });
    const { unmount } = renderPage(<JobCostCard jobId={7} />);
    expect(await screen.findByTestId("job-cost-nothing")).toHaveTextContent("Nothing charged yet");
    expect(screen.getByTestId("job-cost-so-far")).toHaveTextContent("no price");
    unmount();

    // Not retried: a 404 is an answer.
    mockApi({ "GET /api/v1/costs/jobs/7/": { status: 404, body: { detail: "No Job matches the given query." } } });
    renderPage(<JobCostCard jobId={7} />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load the cost. No Job matches the given query.");
  });
});
