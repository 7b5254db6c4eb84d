import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { ApiError } from "../../api/client";
import { api } from "../../api/endpoints";
import type { JobCreateRequest, Team } from "../../api/models";
import { usePlannerOptions, usePriorityClasses } from "../../api/queries";
import { Field } from "../../components/Field";
import { FormError } from "../../components/FormError";
import { errorMessage } from "../../components/Status";
import { useLiveEstimate } from "../../hooks/useLiveEstimate";
import { assignErrors, type AssignedErrors } from "../../lib/fieldErrors";
import { newIdempotencyKey } from "../../lib/ids";
import { JOB_KINDS } from "../../lib/jobState";
import { ClusterField, TeamField, defaultTeam } from "./Placement";
import {
  ESTIMATE_HARDWARE_FIELDS,
  INITIAL,
  JOB_FORM_FIELDS,
  PLAN_FORM_FIELDS,
  buildJobRequest,
  estimateSpec,
  type FieldErrors,
  type JobFormValues,
} from "./jobRequest";
import { INITIAL_PLAN, PlanSection, type PlanValues } from "./PlanSection";
import { RayRuntime } from "./RayRuntime";
import { RetryOnError } from "./RetryOnError";

/** `initial`: the values to start from (a cloned job's); the API's defaults when omitted. */
export function CommandForm({ teams, initial = INITIAL }: { teams: readonly Team[]; initial?: JobFormValues }) {
  const priorityClasses = usePriorityClasses();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [values, setValues] = useState<JobFormValues>(initial);
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
  const team = values.team || defaultTeam(teams);
  // A class belongs to an organisation: offer those of the chosen team's.
  const organisation = teams.find((t) => t.slug === team)?.organisation;
  const classes = (priorityClasses.data ?? []).filter((c) => !c.organisation || c.organisation === organisation);
  const chosenClass = classes.find((c) => c.name === values.priorityClass);

  const set =
    (key: Exclude<keyof JobFormValues, "retryOnError" | "ray">) =>
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

  return (
      <form className="card form" onSubmit={onSubmit} noValidate aria-label="Submit job">
        <FormError messages={server.general} />

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
          <TeamField teams={teams} value={team} onChange={set("team")} errors={errorsFor("team")} />
          <ClusterField team={team} value={values.cluster} onChange={set("cluster")} errors={errorsFor("cluster")} />
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
            <Field
              label="Accelerator model"
              errors={[...errorsFor("resources.accelerator_model"), ...errorsFor("resources.accelerator_models")]}
              hint="e.g. H100; several in order, comma-separated (H100 SXM, A100 80GB SXM): the first pool that fits; blank for any."
            >
              <input name="accelerator_model" value={values.acceleratorModel} onChange={set("acceleratorModel")} />
            </Field>
            <Field
              label="Min GPU memory (GB)"
              errors={errorsFor("resources.min_gpu_memory_gb")}
              hint="Any GPU with this much, the smallest first; instead of a model."
            >
              <input
                name="min_gpu_memory_gb"
                type="number"
                min={1}
                step="any"
                value={values.minGpuMemoryGb}
                onChange={set("minGpuMemoryGb")}
              />
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
          <RetryOnError
            checked={values.retryOnError}
            onChange={(retryOnError) => setValues((prev) => ({ ...prev, retryOnError }))}
            errors={errorsFor("retry_on_error")}
          />
          <RayRuntime
            checked={values.ray}
            onChange={(ray) => setValues((prev) => ({ ...prev, ray }))}
            errors={errorsFor("runtime")}
          />
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
  );
}

