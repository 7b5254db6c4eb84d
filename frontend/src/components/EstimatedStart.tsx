import { formatAbsolute, formatRelative } from "../lib/time";

const CONFIDENCE_HINT: Record<string, string> = {
  high: "every job it waits for declares its runtime",
  medium: "some ends come from the planner or the team's history",
  low: "some ends are guesses, or the wait goes beyond what is known",
};

type Estimate = {
  estimated_start_at: string | null;
  estimate_confidence: string;
  estimate_basis: string;
};

/** When the scheduler expects a pending job to start ("in 10 minutes", high), with what the
 * estimate rests on as its title; "—" until a pass has estimated it. */
export function EstimatedStart({ estimate }: { estimate: Estimate }) {
  const iso = estimate.estimated_start_at;
  if (!iso) {
    return (
      <span className="muted" data-testid="estimated-start" title="No estimate yet: the scheduler writes one each pass">
        —
      </span>
    );
  }
  const due = new Date(iso).getTime() <= Date.now();
  const confidence = estimate.estimate_confidence;
  const title = [
    `${formatAbsolute(iso)}.`,
    estimate.estimate_basis,
    confidence ? `Confidence ${confidence}: ${CONFIDENCE_HINT[confidence] ?? ""}.` : "",
  ]
    .filter(Boolean)
    .join(" ");
  return (
    <span data-testid="estimated-start" title={title}>
      <time dateTime={iso}>{due ? "any moment" : formatRelative(iso)}</time>
      {confidence && (
        <>
          {" "}
          <span className={`badge badge-confidence badge-confidence-${confidence}`} data-testid="estimate-confidence">
            {confidence}
          </span>
        </>
      )}
    </span>
  );
}
