import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { StateBadge } from "./StateBadge";

describe("StateBadge", () => {
  it("shows the state as text with a class per state", () => {
    render(<StateBadge state="succeeded" testId="job-state" />);
    const badge = screen.getByTestId("job-state");
    expect(badge).toHaveTextContent("succeeded");
    expect(badge).toHaveClass("badge", "badge-succeeded");
    expect(badge).not.toHaveClass("badge-active");
  });

  it.each(["pending", "admitted", "dispatching", "running", "preempted"])("marks %s as active", (state) => {
    render(<StateBadge state={state} />);
    expect(screen.getByText(state)).toHaveClass(`badge-${state}`, "badge-active");
  });

  it("marks an attempt that is submitted to the cluster as active", () => {
    render(<StateBadge state="submitted" />);
    expect(screen.getByText("submitted")).toHaveClass("badge-submitted", "badge-active");
  });

  it("does not pulse when showing history", () => {
    render(<StateBadge state="running" live={false} />);
    expect(screen.getByText("running")).not.toHaveClass("badge-active");
  });

  it.each(["failed", "cancelled", "stopped", "lost"])("does not mark %s as active", (state) => {
    render(<StateBadge state={state} />);
    expect(screen.getByText(state)).not.toHaveClass("badge-active");
  });

  it("pulses an endpoint's deploying state when told it is moving, and says why in its title", () => {
    render(<StateBadge state="deploying" moving title="Loading the model" />);
    const badge = screen.getByText("deploying");
    expect(badge).toHaveClass("badge-deploying", "badge-active");
    expect(badge).toHaveAttribute("title", "Loading the model");
  });

  it("does not pulse a pending endpoint that is told it is not moving", () => {
    render(<StateBadge state="pending" moving={false} />);
    expect(screen.getByText("pending")).not.toHaveClass("badge-active");
  });
});
