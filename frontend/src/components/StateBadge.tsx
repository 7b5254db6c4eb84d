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
}

/** A job or attempt state, coloured by what it means; states still moving pulse. */
export function StateBadge({ state, testId, live = true }: Props) {
  const className = `badge badge-${state}${live && isMoving(state) ? " badge-active" : ""}`;
  return (
    <span className={className} data-testid={testId} data-state={state}>
      {state}
    </span>
  );
}
