import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { ApiError } from "../../api/client";
import { api } from "../../api/endpoints";
import type { JobTemplate, Team, TemplateParameter, TemplateSubmitRequest } from "../../api/models";
import { useJobTemplates, useTemplatePlan, type TemplatePlanSpec } from "../../api/queries";
import { Field } from "../../components/Field";
import { FormError } from "../../components/FormError";
import { PlanEstimate } from "../../components/PlanEstimate";
import { ErrorState, Loading, errorMessage } from "../../components/Status";
import { useLiveAnswer } from "../../hooks/useLiveEstimate";
import { assignErrors, type FlatErrors } from "../../lib/fieldErrors";
import { newIdempotencyKey } from "../../lib/ids";
import { ClusterField, TeamField, defaultTeam } from "./Placement";
import { RetryOnError } from "./RetryOnError";
import {
  buildTemplateRequest,
  PLAN_HARDWARE_FIELDS,
  initialValues,
  isNumeric,
  parameterLabel,
  planRequest,
  templateFieldPaths,
  type TemplateValues,
} from "./templateRequest";

/** A job from a template (the LoRA recipe): its parameters as fields, the planner's estimate live. */
export function TemplateForm({ teams, slug }: { teams: readonly Team[]; slug: string }) {
  const templates = useJobTemplates();
  if (templates.isPending) return <Loading label="Loading templates…" />;
  if (templates.isError) {
    return <ErrorState error={templates.error} title="Could not load the job templates" onRetry={() => void templates.refetch()} />;
  }
  const template = templates.data.find((t) => t.slug === slug);
  if (!template) {
    return <ErrorState error={new Error(`This server has no "${slug}" template.`)} title="No such template" />;
  }
  return <TemplateFields key={template.id} template={template} teams={teams} />;
}

function ParameterField({
  parameter,
  value,
  onChange,
  errors,
}: {
  parameter: TemplateParameter;
  value: string;
  onChange: (value: string) => void;
  errors: string[];
}) {
  const hint = parameter.name === "base_model" ? `${parameter.help} A registered version is "version:<id>".` : parameter.help;
  return (
    <Field label={parameterLabel(parameter.name)} errors={errors} hint={hint || undefined}>
      <input
        name={`param_${parameter.name}`}
        className={isNumeric(parameter) ? undefined : "mono"}
        inputMode={isNumeric(parameter) ? "decimal" : undefined}
        value={value}
        required={parameter.required}
        onChange={(e) => onChange(e.target.value)}
      />
    </Field>
  );
}

function TemplateFields({ template, teams }: { template: JobTemplate; teams: readonly Team[] }) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [values, setValues] = useState<TemplateValues>(() => initialValues(template));
  const [clientErrors, setClientErrors] = useState<FlatErrors>({});
  const [idempotencyKey] = useState(newIdempotencyKey);
  const team = values.team || defaultTeam(teams);
  const paths = templateFieldPaths(template);

  const built = buildTemplateRequest(template, { ...values, team });
  const hasHardware = Boolean(values.acceleratorModel.trim()) && Number(values.gpus) >= 1;
  const spec: TemplatePlanSpec | null =
    built.body && hasHardware
      ? { slug: template.slug, body: planRequest(built.body) }
      : null;
  const live = useLiveAnswer(spec, useTemplatePlan);

  const submit = useMutation({
    mutationFn: (body: TemplateSubmitRequest) => api.submitTemplate(template.slug, body, idempotencyKey),
    onSuccess: (job) => {
      void queryClient.invalidateQueries({ queryKey: ["jobs"] });
      void navigate(`/jobs/${job.id}`);
    },
  });
  const server =
    submit.error instanceof ApiError && submit.error.status === 400
      ? assignErrors(submit.error.body, paths)
      : { fields: {} as FlatErrors, general: submit.error ? [errorMessage(submit.error)] : [] };
  const estimateErrors =
    live.refused === null ? null : assignErrors(live.refused, [...paths, ...Object.keys(PLAN_HARDWARE_FIELDS)]);
  const estimateErrorsFor = (path: string) => {
    const hardware = Object.keys(PLAN_HARDWARE_FIELDS).find((key) => PLAN_HARDWARE_FIELDS[key] === path);
    return [...(estimateErrors?.fields[path] ?? []), ...(hardware ? (estimateErrors?.fields[hardware] ?? []) : [])];
  };
  const errorsFor = (path: string) => [
    ...new Set([...(clientErrors[path] ?? []), ...(server.fields[path] ?? []), ...estimateErrorsFor(path)]),
  ];

  const set =
    (key: Exclude<keyof TemplateValues, "parameters" | "retryOnError">) =>
    (event: { target: { value: string } }) =>
      setValues((prev) => ({ ...prev, [key]: event.target.value }));
  const setParameter = (name: string) => (value: string) =>
    setValues((prev) => ({ ...prev, parameters: { ...prev.parameters, [name]: value } }));

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    setClientErrors(built.errors);
    if (built.body === null) return;
    submit.reset();
    submit.mutate(built.body);
  };

  const groupErrors = [...errorsFor("parameters"), ...errorsFor("resources"), ...errorsFor("checkpoint_policy")];
  return (
    <form className="card form" onSubmit={onSubmit} noValidate aria-label={template.title} data-testid="template-form">
      <FormError messages={server.general} />
      <div className="grid-2">
        <Field label="Name" errors={errorsFor("name")} hint={`Optional: ${template.slug}-fine-tune when blank.`}>
          <input name="name" value={values.name} onChange={set("name")} />
        </Field>
        <TeamField teams={teams} value={team} onChange={set("team")} errors={errorsFor("team")} />
        <ClusterField team={team} value={values.cluster} onChange={set("cluster")} errors={errorsFor("cluster")} />
      </div>

      <fieldset data-testid="template-parameters">
        <legend>{template.title}</legend>
        {template.description && <p className="small muted">{template.description}</p>}
        {groupErrors.length > 0 && (
          <ul className="field-errors">
            {groupErrors.map((m, i) => (
              <li key={i}>{m}</li>
            ))}
          </ul>
        )}
        <div className="grid-4">
          {template.parameters.map((p) => (
            <ParameterField
              key={p.name}
              parameter={p}
              value={values.parameters[p.name] ?? ""}
              onChange={setParameter(p.name)}
              errors={errorsFor(`parameters.${p.name}`)}
            />
          ))}
        </div>
      </fieldset>

      <fieldset>
        <legend>Resources and checkpoints</legend>
        <div className="grid-4">
          <Field label="GPUs" errors={errorsFor("resources.gpus")}>
            <input name="gpus" type="number" min={0} step={1} value={values.gpus} onChange={set("gpus")} />
          </Field>
          <Field label="Accelerator model" errors={errorsFor("resources.accelerator_model")} hint="e.g. H100 or A100-80GB; blank for any.">
            <input name="accelerator_model" value={values.acceleratorModel} onChange={set("acceleratorModel")} />
          </Field>
          <Field label="Max retries" errors={errorsFor("max_retries")}>
            <input name="max_retries" type="number" min={0} step={1} value={values.maxRetries} onChange={set("maxRetries")} />
          </Field>
          <RetryOnError
            checked={values.retryOnError}
            onChange={(retryOnError) => setValues((prev) => ({ ...prev, retryOnError }))}
            errors={errorsFor("retry_on_error")}
          />
          <Field label="Keep latest checkpoints" errors={errorsFor("checkpoint_policy.keep_latest")} hint="Blank: the team's default.">
            <input name="keep_latest" type="number" min={1} step={1} value={values.keepLatest} onChange={set("keepLatest")} />
          </Field>
          <Field label="Keep best checkpoints" errors={errorsFor("checkpoint_policy.keep_best")} hint="By lowest loss; blank: the team's default.">
            <input name="keep_best" type="number" min={0} step={1} value={values.keepBest} onChange={set("keepBest")} />
          </Field>
        </div>
        <PlanEstimate live={live} hasHardware={hasHardware} general={estimateErrors?.general ?? []} />
      </fieldset>

      <div className="form-actions">
        <button type="submit" disabled={submit.isPending}>
          {submit.isPending ? "Submitting…" : "Submit"}
        </button>
      </div>
    </form>
  );
}
