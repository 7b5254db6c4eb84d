import type { JobPlan } from "../../api/models";
import { FitBadge, MemoryUse } from "../../components/PlanFit";
import { modeLabel } from "../../lib/planSpec";
import { formatCount, formatDuration } from "../../lib/units";

/** The model as the submitter gave it: a known name, a parameter count or an architecture. */
function describeModel(model: Record<string, unknown>): string {
  if (typeof model.name === "string") return model.name;
  if (typeof model.params === "number") return `${formatCount(model.params)} parameters`;
  const arch = model.architecture as Record<string, unknown> | undefined;
  if (arch && typeof arch === "object") return `Custom architecture (hidden ${String(arch.hidden)}, ${String(arch.layers)} layers)`;
  return "—";
}

function describeWorkload(workload: Record<string, unknown>): string {
  const parts = [modeLabel(String(workload.mode ?? "—"))];
  if (typeof workload.batch === "number") parts.push(`micro-batch ${workload.batch}`);
  if (typeof workload.seq === "number") parts.push(`${workload.seq} tokens per sequence`);
  if (typeof workload.precision === "string") parts.push(workload.precision);
  return parts.join(" · ");
}

/** What the planner said when the job was submitted. */
export function PlanPanel({ plan }: { plan: JobPlan }) {
  return (
    <>
      <h2>Plan</h2>
      <dl className="facts" data-testid="job-plan">
        <dt>Model</dt>
        <dd>{describeModel(plan.model)}</dd>
        <dt>Workload</dt>
        <dd>{describeWorkload(plan.workload)}</dd>
        <dt>Fit</dt>
        <dd>
          <FitBadge fits={plan.fits} overridden={plan.overridden} /> on {plan.gpus} × {plan.accelerator}
        </dd>
        <dt>Memory per GPU</dt>
        <dd>
          <MemoryUse perGpu={plan.memory_per_gpu_bytes} headroom={plan.headroom_bytes} />
          <span className="muted"> at the {plan.peak_phase}</span>
        </dd>
        <dt>Step time</dt>
        <dd>{formatDuration(plan.step_time_s)}</dd>
        <dt>Time to train</dt>
        <dd>{plan.time_to_train_s == null ? <span className="muted">no token count given</span> : formatDuration(plan.time_to_train_s)}</dd>
        <dt>Planner</dt>
        <dd className="small">{plan.explanation}</dd>
      </dl>
    </>
  );
}
