import { isActive } from "../lib/jobState";

/** Job states, plus an attempt's "submitted" (waiting on the cluster), are still moving. */
function isMoving(state: string): boolean {
  return isActive(state) || state === "submitted";
}

interface Props {
  state: string;
  testId?: string;
  /** Pulse while the state is still moving; off for history (e.g. past events). */
  live?: boolean;
  /** Whether the state is still moving, for states that are not a job's (an endpoint's "deploying"). */
  moving?: boolean;
  /** A tooltip: why it is in this state. */
  title?: string;
}

/** A job, attempt or endpoint state, coloured by what it means; states still moving pulse. */
export function StateBadge({ state, testId, live = true, moving, title }: Props) {
  const className = `badge badge-${state}${live && (moving ?? isMoving(state)) ? " badge-active" : ""}`;
  return (
    <span className={className} data-testid={testId} data-state={state} title={title || undefined}>
      {state}
    </span>
  );
}
