import type { PlannerOptions } from "../../api/models";
import { Field } from "../../components/Field";
import { PlanEstimate } from "../../components/PlanEstimate";
import { ErrorState, Loading } from "../../components/Status";
import type { LiveEstimate } from "../../hooks/useLiveEstimate";
import {
  CHECKPOINTING,
  INITIAL_MODEL,
  INITIAL_WORKLOAD,
  MODE_FIELDS,
  changeMode,
  modeLabel,
  precisionsFor,
  type ModelSource,
  type ModelValues,
  type WorkloadValues,
} from "../../lib/planSpec";
import { formatCount } from "../../lib/units";

/** A known model or a parameter count: enough for the fit of most jobs (the planner page takes more). */
const PLAN_MODEL_SOURCES: readonly { value: ModelSource; label: string }[] = [
  { value: "name", label: "Known model" },
  { value: "params", label: "Parameter count" },
];

export interface PlanValues {
  enabled: boolean;
  model: ModelValues;
  workload: WorkloadValues;
  /** Submit even when the planner says the job does not fit. */
  override: boolean;
}

export const INITIAL_PLAN: PlanValues = { enabled: false, model: INITIAL_MODEL, workload: INITIAL_WORKLOAD, override: false };

/** The capacity plan: the planner's fit for this job, live. */
export interface PlanSectionProps {
  plan: PlanValues;
  setPlan: (update: (prev: PlanValues) => PlanValues) => void;
  options: PlannerOptions | undefined;
  optionsError: unknown;
  retryOptions: () => void;
  errorsFor: (path: string) => string[];
  hasHardware: boolean;
  live: LiveEstimate;
  estimateGeneral: string[];
}

export function PlanSection({
  plan,
  setPlan,
  options,
  optionsError,
  retryOptions,
  errorsFor,
  hasHardware,
  live,
  estimateGeneral,
}: PlanSectionProps) {
  const setModel =
    (key: keyof ModelValues) =>
    (event: { target: { value: string } }) =>
      setPlan((prev) => ({ ...prev, model: { ...prev.model, [key]: event.target.value } }));
  const setWorkload =
    (key: keyof WorkloadValues) =>
    (event: { target: { value: string } }) =>
      setPlan((prev) => ({ ...prev, workload: { ...prev.workload, [key]: event.target.value } }));
  const shown = new Set(MODE_FIELDS[plan.workload.mode]);
  const listErrors = (messages: string[]) =>
    messages.length > 0 && (
      <ul className="field-errors">
        {messages.map((m, i) => (
          <li key={i}>{m}</li>
        ))}
      </ul>
    );

  return (
    <fieldset data-testid="plan-section">
      <legend>Capacity plan</legend>
      <label className="checkbox">
        <input
          type="checkbox"
          name="plan_enabled"
          checked={plan.enabled}
          onChange={(e) => setPlan((prev) => ({ ...prev, enabled: e.target.checked }))}
        />{" "}
        Check the fit with the planner
      </label>
      {plan.enabled &&
        (optionsError ? (
          <>
            <ErrorState error={optionsError} title="Could not load the planner's models" onRetry={retryOptions} />
            {/* Without the fields, a refused submission still says why. */}
            {listErrors([...errorsFor("model"), ...errorsFor("model.name"), ...errorsFor("workload")])}
          </>
        ) : !options ? (
          <Loading label="Loading the planner's models…" />
        ) : (
          <>
            {listErrors(errorsFor("model"))}
            {listErrors(errorsFor("workload"))}
            <div className="grid-4">
              <Field label="Model from">
                <select name="plan_model_source" value={plan.model.source} onChange={setModel("source")}>
                  {PLAN_MODEL_SOURCES.map((s) => (
                    <option key={s.value} value={s.value}>
                      {s.label}
                    </option>
                  ))}
                </select>
              </Field>
              {plan.model.source === "params" ? (
                <Field label="Parameters" errors={errorsFor("model.params")} hint="e.g. 7B or 6.7e9.">
                  <input name="plan_params" value={plan.model.params} onChange={setModel("params")} />
                </Field>
              ) : (
                <Field label="Model" errors={errorsFor("model.name")}>
                  <select name="plan_model" value={plan.model.name} onChange={setModel("name")}>
                    <option value="">Choose a model</option>
                    {options.models.map((m) => (
                      <option key={m.name} value={m.name}>
                        {m.name} ({formatCount(m.params)})
                      </option>
                    ))}
                  </select>
                </Field>
              )}
              <Field label="Mode" errors={errorsFor("workload.mode")}>
                <select
                  name="plan_mode"
                  value={plan.workload.mode}
                  onChange={(e) =>
                    setPlan((prev) => ({
                      ...prev,
                      workload: changeMode(prev.workload, e.target.value as WorkloadValues["mode"], options),
                    }))
                  }
                >
                  {options.modes.map((mode) => (
                    <option key={mode} value={mode}>
                      {modeLabel(mode)}
                    </option>
                  ))}
                </select>
              </Field>
              <Field label="Micro-batch per GPU" errors={errorsFor("workload.batch")}>
                <input name="plan_batch" inputMode="numeric" value={plan.workload.batch} onChange={setWorkload("batch")} />
              </Field>
              {shown.has("seq") && (
                <Field label="Sequence length" errors={errorsFor("workload.seq")}>
                  <input name="plan_seq" inputMode="numeric" value={plan.workload.seq} onChange={setWorkload("seq")} />
                </Field>
              )}
              <Field label="Precision" errors={errorsFor("workload.precision")}>
                <select name="plan_precision" value={plan.workload.precision} onChange={setWorkload("precision")}>
                  {precisionsFor(plan.workload.mode, options).map((p) => (
                    <option key={p} value={p}>
                      {p}
                    </option>
                  ))}
                </select>
              </Field>
              {shown.has("tokens") && (
                <Field label="Tokens to train on" errors={errorsFor("workload.tokens")} hint="e.g. 2B; for the time to train.">
                  <input name="plan_tokens" value={plan.workload.tokens} onChange={setWorkload("tokens")} />
                </Field>
              )}
              {shown.has("activationCheckpointing") && (
                <Field label="Activation checkpointing" errors={errorsFor("workload.activation_checkpointing")}>
                  <select
                    name="plan_checkpointing"
                    value={plan.workload.activationCheckpointing}
                    onChange={setWorkload("activationCheckpointing")}
                  >
                    {CHECKPOINTING.map((c) => (
                      <option key={c} value={c}>
                        {c}
                      </option>
                    ))}
                  </select>
                </Field>
              )}
            </div>
            <PlanEstimate live={live} hasHardware={hasHardware} general={estimateGeneral} />
          </>
        ))}
    </fieldset>
  );
}

