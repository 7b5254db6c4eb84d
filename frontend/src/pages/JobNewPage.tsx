import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { ApiError } from "../api/client";
import { api } from "../api/endpoints";
import type { JobCreateRequest, JobKind, PlannerOptions, PlanSpec, RuntimeEnv } from "../api/models";
import { useClusters, usePlannerOptions, usePriorityClasses, useTeams } from "../api/queries";
import { Field } from "../components/Field";
import { FitBadge, MemoryUse } from "../components/PlanFit";
import { ErrorState, Loading, errorMessage } from "../components/Status";
import { useLiveEstimate } from "../hooks/useLiveEstimate";
import { parseEnvVars, parsePipPackages } from "../lib/envVars";
import { assignErrors, type AssignedErrors } from "../lib/fieldErrors";
import { newIdempotencyKey } from "../lib/ids";
import { JOB_KINDS } from "../lib/jobState";
import {
  CHECKPOINTING,
  INITIAL_MODEL,
  INITIAL_WORKLOAD,
  MODE_FIELDS,
  buildModel,
  buildWorkload,
  changeMode,
  modeLabel,
  precisionsFor,
  type ModelSource,
  type ModelValues,
  type WorkloadKey,
  type WorkloadValues,
} from "../lib/planSpec";
import { formatCount, formatDuration, formatMoney } from "../lib/units";

/** Form fields by the path of the request body they fill; server errors are matched to these. */
export const JOB_FORM_FIELDS = [
  "name",
  "team",
  "cluster",
  "kind",
  "entrypoint",
  "runtime_env",
  "runtime_env.env_vars",
  "runtime_env.pip",
  "runtime_env.working_dir",
  "resources",
  "resources.cpus",
  "resources.gpus",
  "resources.accelerator_model",
  "resources.memory_gb",
  "max_retries",
  "max_runtime_seconds",
  "priority",
  "priority_class",
  "plan",
] as const;

/** The capacity plan's fields, claimed only while the section is on (else their errors are general). */
export const PLAN_FORM_FIELDS = [
  "model",
  "model.name",
  "model.params",
  "workload",
  "workload.mode",
  "workload.batch",
  "workload.seq",
  "workload.precision",
  "workload.activation_checkpointing",
  "workload.tokens",
] as const;

/** The live estimate names the job's hardware as the planner does; its errors belong to Resources. */
const ESTIMATE_HARDWARE_FIELDS: Record<string, string> = {
  "hardware.accelerator": "resources.accelerator_model",
  "hardware.gpus": "resources.gpus",
};

/** The workload fields the job form asks for; the planner assumes its defaults for the rest. */
const PLAN_WORKLOAD_FIELDS: readonly WorkloadKey[] = ["batch", "seq", "precision", "activationCheckpointing", "tokens"];

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

const INITIAL_PLAN: PlanValues = { enabled: false, model: INITIAL_MODEL, workload: INITIAL_WORKLOAD, override: false };

export interface JobFormValues {
  name: string;
  team: string;
  cluster: string;
  kind: JobKind;
  entrypoint: string;
  envVars: string;
  pip: string;
  workingDir: string;
  cpus: string;
  gpus: string;
  acceleratorModel: string;
  memoryGb: string;
  maxRetries: string;
  /** Minutes; blank for no limit. */
  maxRuntimeMinutes: string;
  priority: string;
  /** A priority class's name; blank for none (the priority field then counts). */
  priorityClass: string;
}

/** The API's defaults (ResourcesRequest, JobCreateRequest). */
const INITIAL: JobFormValues = {
  name: "",
  team: "",
  cluster: "",
  kind: "batch",
  entrypoint: "",
  envVars: "",
  pip: "",
  workingDir: "",
  cpus: "1",
  gpus: "0",
  acceleratorModel: "",
  memoryGb: "0",
  maxRetries: "0",
  maxRuntimeMinutes: "",
  priority: "0",
  priorityClass: "",
};

export type FieldErrors = Record<string, string[]>;

/**
 * Turns the form into the API's nested request body. Problems the browser can see for itself
 * (malformed KEY=VALUE lines, a number field that holds no number) come back as field errors,
 * keyed like the server's, and the request is not sent.
 */
export function buildJobRequest(
  values: JobFormValues,
  plan: PlanValues = INITIAL_PLAN,
): { body: JobCreateRequest | null; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const number = (path: string, raw: string, integer = false): number => {
    const trimmed = raw.trim();
    const n = Number(trimmed);
    if (trimmed === "" || !Number.isFinite(n)) errors[path] = ["Enter a number."];
    else if (integer && !Number.isInteger(n)) errors[path] = ["Enter a whole number."];
    return n;
  };

  const env = parseEnvVars(values.envVars);
  if (env.errors.length) errors["runtime_env.env_vars"] = env.errors.map((e) => e.message);
  const runtimeEnv: RuntimeEnv = {};
  if (Object.keys(env.vars).length) runtimeEnv.env_vars = env.vars;
  const pip = parsePipPackages(values.pip);
  if (pip.length) runtimeEnv.pip = pip;
  if (values.workingDir.trim()) runtimeEnv.working_dir = values.workingDir.trim();

  const body: JobCreateRequest = {
    name: values.name.trim(),
    team: values.team,
    kind: values.kind,
    entrypoint: values.entrypoint,
    runtime_env: runtimeEnv,
    resources: {
      cpus: number("resources.cpus", values.cpus),
      gpus: number("resources.gpus", values.gpus),
      accelerator_model: values.acceleratorModel.trim(),
      memory_gb: number("resources.memory_gb", values.memoryGb),
    },
    max_retries: number("max_retries", values.maxRetries, true),
    priority: number("priority", values.priority, true),
    override_planner: plan.enabled && plan.override,
  };
  if (values.maxRuntimeMinutes.trim()) {
    const minutes = number("max_runtime_seconds", values.maxRuntimeMinutes, true);
    if (!errors.max_runtime_seconds && minutes < 1) errors.max_runtime_seconds = ["At least one minute."];
    body.max_runtime_seconds = minutes * 60;
  }
  // Blank means the team's default cluster.
  if (values.cluster) body.cluster = values.cluster;
  if (values.priorityClass) body.priority_class = values.priorityClass;
  if (plan.enabled) {
    const { model, errors: modelErrors } = buildModel(plan.model);
    const { workload, errors: workloadErrors } = buildWorkload(plan.workload, PLAN_WORKLOAD_FIELDS);
    Object.assign(errors, modelErrors, workloadErrors);
    if (model) body.model = model;
    if (workload) body.workload = workload;
  }
  return { body: Object.keys(errors).length ? null : body, errors };
}

/** What the live estimate asks: the plan on the GPUs the job requests (null until both are given). */
function estimateSpec(values: JobFormValues, plan: PlanValues): PlanSpec | null {
  if (!plan.enabled) return null;
  const accelerator = values.acceleratorModel.trim();
  const gpus = Number(values.gpus.trim());
  if (!accelerator || !Number.isInteger(gpus) || gpus < 1) return null;
  const { model } = buildModel(plan.model);
  const { workload } = buildWorkload(plan.workload, PLAN_WORKLOAD_FIELDS);
  if (!model || !workload) return null;
  return { model, workload, hardware: { accelerator, gpus }, recommendations: 0 };
}

export function JobNewPage() {
  const teams = useTeams();
  const clusters = useClusters();
  const priorityClasses = usePriorityClasses();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [values, setValues] = useState<JobFormValues>(INITIAL);
  const [plan, setPlan] = useState<PlanValues>(INITIAL_PLAN);
  const [clientErrors, setClientErrors] = useState<FieldErrors>({});
  const planOptions = usePlannerOptions({ enabled: plan.enabled });
  const live = useLiveEstimate(estimateSpec(values, plan));
  // One key per job the user means to create: a double submit or a retried request returns
  // the first job instead of making a second one.
  const [idempotencyKey] = useState(newIdempotencyKey);

  const submit = useMutation({
    mutationFn: (body: JobCreateRequest) => api.createJob(body, idempotencyKey),
    onSuccess: (job) => {
      void queryClient.invalidateQueries({ queryKey: ["jobs"] });
      void navigate(`/jobs/${job.id}`);
    },
  });

  // Until the user picks one, default to the first team they may submit to.
  const defaultTeam = (teams.data?.find((t) => t.role !== "viewer") ?? teams.data?.[0])?.slug ?? "";
  const team = values.team || defaultTeam;
  // A class belongs to an organisation: offer those of the chosen team's.
  const organisation = teams.data?.find((t) => t.slug === team)?.organisation;
  const classes = (priorityClasses.data ?? []).filter((c) => !c.organisation || c.organisation === organisation);
  const chosenClass = classes.find((c) => c.name === values.priorityClass);

  const set =
    (key: keyof JobFormValues) =>
    (event: { target: { value: string } }) =>
      setValues((prev) => ({ ...prev, [key]: event.target.value }));

  const fieldPaths: readonly string[] = plan.enabled ? [...JOB_FORM_FIELDS, ...PLAN_FORM_FIELDS] : JOB_FORM_FIELDS;
  const server: AssignedErrors =
    submit.error instanceof ApiError && submit.error.status === 400
      ? assignErrors(submit.error.body, fieldPaths)
      : { fields: {}, general: submit.error ? [errorMessage(submit.error)] : [] };
  // The live estimate's refusal speaks of the same model and workload fields (and of hardware).
  const estimateErrors =
    live.refused === null
      ? null
      : assignErrors(live.refused, [...PLAN_FORM_FIELDS, ...Object.keys(ESTIMATE_HARDWARE_FIELDS)]);
  const estimateErrorsFor = (path: string) => {
    const hardware = Object.keys(ESTIMATE_HARDWARE_FIELDS).find((key) => ESTIMATE_HARDWARE_FIELDS[key] === path);
    return estimateErrors?.fields[hardware ?? path] ?? [];
  };
  const errorsFor = (path: string) => [
    ...new Set([...(clientErrors[path] ?? []), ...(server.fields[path] ?? []), ...estimateErrorsFor(path)]),
  ];
  const refusal = server.fields.plan ?? [];

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const { body, errors } = buildJobRequest({ ...values, team, priorityClass: chosenClass?.name ?? "" }, plan);
    setClientErrors(errors);
    if (body === null) return;
    submit.reset();
    submit.mutate(body);
  };

  if (teams.isPending) return <Loading label="Loading teams…" />;
  if (teams.isError) return <ErrorState error={teams.error} title="Could not load your teams" onRetry={() => void teams.refetch()} />;
  if (teams.data.length === 0) {
    return (
      <section>
        <h1>Submit job</h1>
        <div className="status status-empty">You are not a member of any team yet; ask an admin to add you to one.</div>
      </section>
    );
  }

  return (
    <section>
      <h1>Submit job</h1>
      <form className="card form" onSubmit={onSubmit} noValidate aria-label="Submit job">
        {server.general.length > 0 && (
          <div className="form-error" role="alert" data-testid="form-error">
            {server.general.map((m, i) => (
              <p key={i}>{m}</p>
            ))}
          </div>
        )}

        <div className="grid-2">
          <Field label="Name" errors={errorsFor("name")}>
            <input name="name" value={values.name} onChange={set("name")} required />
          </Field>
          <Field label="Kind" errors={errorsFor("kind")}>
            <select name="kind" value={values.kind} onChange={set("kind")}>
              {JOB_KINDS.map((k) => (
                <option key={k.value} value={k.value}>
                  {k.label}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Team" errors={errorsFor("team")}>
            <select name="team" value={team} onChange={set("team")}>
              {teams.data.map((t) => (
                <option key={t.slug} value={t.slug} disabled={t.role === "viewer"}>
                  {t.slug}
                  {t.name && t.name !== t.slug ? ` — ${t.name}` : ""}
                  {t.role === "viewer" ? " (read-only)" : ""}
                </option>
              ))}
            </select>
          </Field>
          <Field
            label="Cluster"
            errors={errorsFor("cluster")}
            hint={clusters.isError ? "Could not load clusters; the default will be used." : undefined}
          >
            <select name="cluster" value={values.cluster} onChange={set("cluster")}>
              <option value="">default</option>
              {(clusters.data ?? []).filter((c) => c.usable_by.includes(team)).map((c) => (
                <option key={c.id} value={c.name}>
                  {c.name} ({c.kind}, {c.state})
                </option>
              ))}
            </select>
          </Field>
        </div>

        <Field label="Entrypoint" errors={errorsFor("entrypoint")} hint="The shell command that runs the job.">
          <textarea name="entrypoint" rows={3} className="mono" value={values.entrypoint} onChange={set("entrypoint")} required />
        </Field>

        <fieldset>
          <legend>Runtime environment</legend>
          {errorsFor("runtime_env").length > 0 && (
            <ul className="field-errors">
              {errorsFor("runtime_env").map((m, i) => (
                <li key={i}>{m}</li>
              ))}
            </ul>
          )}
          <Field label="Environment variables" errors={errorsFor("runtime_env.env_vars")} hint="One KEY=VALUE per line.">
            <textarea name="env_vars" rows={3} className="mono" value={values.envVars} onChange={set("envVars")} />
          </Field>
          <Field label="Pip packages" errors={errorsFor("runtime_env.pip")} hint="One requirement per line, e.g. torch==2.5.1.">
            <textarea name="pip" rows={3} className="mono" value={values.pip} onChange={set("pip")} />
          </Field>
          <Field label="Working directory" errors={errorsFor("runtime_env.working_dir")}>
            <input name="working_dir" className="mono" value={values.workingDir} onChange={set("workingDir")} />
          </Field>
        </fieldset>

        <fieldset>
          <legend>Resources</legend>
          {errorsFor("resources").length > 0 && (
            <ul className="field-errors">
              {errorsFor("resources").map((m, i) => (
                <li key={i}>{m}</li>
              ))}
            </ul>
          )}
          <div className="grid-4">
            <Field label="CPUs" errors={errorsFor("resources.cpus")}>
              <input name="cpus" type="number" min={0} step="any" value={values.cpus} onChange={set("cpus")} />
            </Field>
            <Field label="GPUs" errors={errorsFor("resources.gpus")}>
              <input name="gpus" type="number" min={0} step={1} value={values.gpus} onChange={set("gpus")} />
            </Field>
            <Field label="Accelerator model" errors={errorsFor("resources.accelerator_model")} hint="e.g. H100; blank for any.">
              <input name="accelerator_model" value={values.acceleratorModel} onChange={set("acceleratorModel")} />
            </Field>
            <Field label="Memory (GB)" errors={errorsFor("resources.memory_gb")} hint="0 reserves none.">
              <input name="memory_gb" type="number" min={0} step="any" value={values.memoryGb} onChange={set("memoryGb")} />
            </Field>
          </div>
        </fieldset>

        <PlanSection
          plan={plan}
          setPlan={setPlan}
          options={planOptions.data}
          optionsError={planOptions.isError ? planOptions.error : null}
          retryOptions={() => void planOptions.refetch()}
          errorsFor={errorsFor}
          hasHardware={Boolean(values.acceleratorModel.trim()) && Number(values.gpus) >= 1}
          live={live}
          estimateGeneral={estimateErrors?.general ?? []}
        />

        <div className="grid-4">
          <Field label="Max retries" errors={errorsFor("max_retries")}>
            <input name="max_retries" type="number" min={0} step={1} value={values.maxRetries} onChange={set("maxRetries")} />
          </Field>
          <Field
            label="Max runtime (minutes)"
            errors={errorsFor("max_runtime_seconds")}
            hint="Optional: an attempt running longer is stopped and the job fails, without a retry."
          >
            <input
              name="max_runtime_minutes"
              type="number"
              min={1}
              step={1}
              value={values.maxRuntimeMinutes}
              onChange={set("maxRuntimeMinutes")}
            />
          </Field>
          {classes.length > 0 && (
            <Field
              label="Priority class"
              errors={errorsFor("priority_class")}
              hint={
                chosenClass
                  ? `Priority ${chosenClass.value}${chosenClass.preemptible === false ? "; not preemptible: must fit in the team's guarantee" : ""}.`
                  : "Optional: a named priority of your organisation."
              }
            >
              <select name="priority_class" value={chosenClass?.name ?? ""} onChange={set("priorityClass")}>
                <option value="">none</option>
                {classes.map((c) => (
                  <option key={c.id} value={c.name}>
                    {c.name} ({c.value})
                  </option>
                ))}
              </select>
            </Field>
          )}
          <Field
            label="Priority"
            errors={errorsFor("priority")}
            hint={chosenClass ? "Set by the priority class." : "Higher is admitted first."}
          >
            <input
              name="priority"
              type="number"
              step={1}
              value={chosenClass ? String(chosenClass.value) : values.priority}
              onChange={set("priority")}
              disabled={chosenClass !== undefined}
            />
          </Field>
        </div>

        {(refusal.length > 0 || (plan.enabled && plan.override)) && (
          <div className="form-error plan-refusal" role="alert" data-testid="plan-refusal">
            {refusal.length > 0 && (
              <>
                <strong>The planner says this job does not fit the GPUs it asks for.</strong>
                <ul>
                  {refusal.map((m, i) => (
                    <li key={i}>{m}</li>
                  ))}
                </ul>
              </>
            )}
            <label className="checkbox">
              <input
                type="checkbox"
                name="override_planner"
                checked={plan.override}
                onChange={(e) => setPlan((prev) => ({ ...prev, override: e.target.checked }))}
              />{" "}
              Submit anyway (override the planner)
            </label>
          </div>
        )}

        <div className="form-actions">
          <button type="submit" disabled={submit.isPending}>
            {submit.isPending ? "Submitting…" : "Submit"}
          </button>
        </div>
      </form>
    </section>
  );
}

// --- the capacity plan: the planner's fit for this job, live --------------------------------------
interface PlanSectionProps {
  plan: PlanValues;
  setPlan: (update: (prev: PlanValues) => PlanValues) => void;
  options: PlannerOptions | undefined;
  optionsError: unknown;
  retryOptions: () => void;
  errorsFor: (path: string) => string[];
  hasHardware: boolean;
  live: ReturnType<typeof useLiveEstimate>;
  estimateGeneral: string[];
}

function PlanSection({
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

function PlanEstimate({
  live,
  hasHardware,
  general,
}: {
  live: ReturnType<typeof useLiveEstimate>;
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
