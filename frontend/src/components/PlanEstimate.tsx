import { Link } from "react-router";
import type { LiveEstimate } from "../hooks/useLiveEstimate";
import { formatDuration, formatMoney } from "../lib/units";
import { FitBadge, MemoryUse } from "./PlanFit";
import { ErrorState, Loading } from "./Status";

/** The planner's live answer for a job being written: fit, memory per GPU, step time and cost. */
export function PlanEstimate({
  live,
  hasHardware,
  general,
}: {
  live: LiveEstimate;
  hasHardware: boolean;
  general: string[];
}) {
  if (!hasHardware) {
    return <p className="muted small">Give the accelerator model and the GPUs under Resources to see the estimate.</p>;
  }
  if (general.length > 0) {
    return (
      <div className="status status-error small" role="alert" data-testid="plan-estimate-errors">
        {general.map((m, i) => (
          <p key={i}>{m}</p>
        ))}
      </div>
    );
  }
  if (live.failure) return <ErrorState error={live.failure} title="Could not estimate" onRetry={live.retry} />;
  const estimate = live.estimate;
  if (!estimate) return live.pending ? <Loading label="Estimating…" /> : null;
  const { cost } = estimate;
  return (
    <div className={`plan-summary${live.current ? "" : " plan-stale"}`} data-testid="plan-estimate">
      <p className="plan-headline">
        <FitBadge fits={estimate.fits} />
        <span>
          Memory per GPU:{" "}
          <MemoryUse
            perGpu={estimate.memory_per_gpu_bytes}
            device={estimate.hardware.memory_bytes}
            headroom={estimate.headroom_bytes}
          />
        </span>
        {live.pending && (
          <span className="muted small" role="status">
            <span className="spinner" aria-hidden="true" /> Updating…
          </span>
        )}
      </p>
      <p className="small" aria-live="polite">
        {estimate.explanation}
      </p>
      <p className="small" data-testid="plan-estimate-time">
        Step time {formatDuration(estimate.step_time_s)}
        {estimate.time_to_train_s != null && <> · time to train {formatDuration(estimate.time_to_train_s)}</>} ·{" "}
        {cost.per_hour == null ? "no price" : `${formatMoney(cost.per_hour, cost.currency)} per hour`}
        {cost.to_train != null && <> · {formatMoney(cost.to_train, cost.currency)} to train</>}
      </p>
      <p className="small muted">
        The <Link to="/planner">planner</Link> shows the breakdown and the cheapest configurations that fit.
      </p>
    </div>
  );
}
