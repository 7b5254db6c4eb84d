import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { mockApi, page, renderPage } from "../../test/utils";
import { CheckpointsSection, describePolicy } from "./CheckpointsSection";

function checkpoint(step: number, overrides: Record<string, unknown> = {}) {
  return {
    id: step,
    job: 7,
    job_name: "tune",
    team: "demo",
    attempt: "4f1c0a3e-0000-4000-8000-000000000001",
    attempt_number: 1,
    step,
    uri: `file:///data/teams/demo/jobs/7/step-${String(step).padStart(8, "0")}/`,
    state: "complete",
    bytes: 12_500_000,
    file_count: 3,

    metrics: { loss: 1.9134, lr: 0.0002 },
    final: false,
    created_at: new Date().toISOString(),
    completed_at: new Date().toISOString(),
    deleted_at: null,
    deletion_reason: "",
    retained_because: "",
    model_versions: [],
    ...overrides,
  };
}

describe("CheckpointsSection", () => {
  it("lists checkpoints newest first with why each is kept or deleted, and links model versions", async () => {
    const { calls } = mockApi({
      "GET /api/v1/checkpoints/": {
        body: page([
          checkpoint(20, { state: "deleted", bytes: 12_500_000, deletion_reason: "not among the latest 2" }),
          checkpoint(40, { retained_because: "it is among the latest 2", metrics: { loss: 1.5 } }),
          checkpoint(60, { retained_because: "it is the final checkpoint", final: true, model_versions: [5] }),
          checkpoint(80, { state: "writing", bytes: null, file_count: null, metrics: {}, attempt_number: 2 }),
        ]),
      },
    });
    renderPage(
      <CheckpointsSection jobId={7} active={false} policy={{ keep_latest: 2, keep_best: 1, best_metric: "loss", best_mode: "min" }} />,
    );

    const table = await screen.findByTestId("job-checkpoints");
    expect(calls[0]!.url.searchParams.get("job")).toBe("7");
    expect(within(table).getAllByRole("row").slice(1).map((r) => r.getAttribute("data-testid"))).toEqual([
      "checkpoint-80",
      "checkpoint-60",
      "checkpoint-40",
      "checkpoint-20",
    ]);
    const deleted = screen.getByTestId("checkpoint-20");
    expect(within(deleted).getByTestId("checkpoint-reason")).toHaveTextContent("deleted: not among the latest 2");
    expect(within(deleted).getByText("deleted")).toHaveClass("badge-checkpoint-deleted");
    const kept = screen.getByTestId("checkpoint-40");
    expect(within(kept).getByTestId("checkpoint-reason")).toHaveTextContent("kept because it is among the latest 2");
    expect(kept).toHaveTextContent("12.5 MB");
    expect(kept).toHaveTextContent("loss 1.5");
    const final = screen.getByTestId("checkpoint-60");
    expect(within(final).getByRole("link", { name: "version #5" })).toHaveAttribute("href", "/model-versions/5");
    expect(within(final).getByText("final")).toBeInTheDocument();
    expect(within(screen.getByTestId("checkpoint-80")).getByTestId("checkpoint-reason")).toHaveTextContent("being written");
    expect(screen.getByTestId("checkpoint-policy")).toHaveTextContent(
      "Keeps the latest 2 and the best 1 by loss (lowest).",
    );
  });

  it("says how to save checkpoints when there are none", async () => {
    mockApi({ "GET /api/v1/checkpoints/": { body: page([]) } });
    renderPage(<CheckpointsSection jobId={7} active={false} policy={null} />);
    expect(await screen.findByText(/No checkpoints yet/)).toHaveTextContent("paddock.job.save_checkpoint");
    expect(screen.getByTestId("checkpoint-policy")).toHaveTextContent("Keeps what the team's default retention keeps.");
  });

  it("describes policies in words", () => {
    expect(describePolicy({ keep_latest: 3, keep_best: 0 })).toBe("the latest 3");
    expect(describePolicy({ keep_latest: 3 })).toBe("the latest 3 (the rest as the team's default says)");
    expect(describePolicy({})).toBe("what the team's default retention keeps");
    expect(describePolicy({ keep_latest: 5, keep_best: 2, best_metric: "accuracy", best_mode: "max" })).toBe(
      "the latest 5 and the best 2 by accuracy (highest)",
    );
  });
});
