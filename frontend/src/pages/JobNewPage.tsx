import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { ApiError } from "../api/client";
import { api } from "../api/endpoints";
import type { JobCreateRequest, JobKind, RuntimeEnv } from "../api/models";
import { useClusters, useTeams } from "../api/queries";
import { Field } from "../components/Field";
import { ErrorState, Loading, errorMessage } from "../components/Status";
import { parseEnvVars, parsePipPackages } from "../lib/envVars";
import { assignErrors, type AssignedErrors } from "../lib/fieldErrors";
import { newIdempotencyKey } from "../lib/ids";
import { JOB_KINDS } from "../lib/jobState";

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
  "priority",
] as const;

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
  priority: string;
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
  priority: "0",
};

export type FieldErrors = Record<string, string[]>;

/**
 * Turns the form into the API's nested request body. Problems the browser can see for itself
 * (malformed KEY=VALUE lines, a number field that holds no number) come back as field errors,
 * keyed like the server's, and the request is not sent.
 */
export function buildJobRequest(values: JobFormValues): { body: JobCreateRequest | null; errors: FieldErrors } {
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
  };
  // Blank means the team's default cluster.
  if (values.cluster) body.cluster = values.cluster;
  return { body: Object.keys(errors).length ? null : body, errors };
}

export function JobNewPage() {
  const teams = useTeams();
  const clusters = useClusters();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [values, setValues] = useState<JobFormValues>(INITIAL);
  const [clientErrors, setClientErrors] = useState<FieldErrors>({});
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

  const set =
    (key: keyof JobFormValues) =>
    (event: { target: { value: string } }) =>
      setValues((prev) => ({ ...prev, [key]: event.target.value }));

  const server: AssignedErrors =
    submit.error instanceof ApiError && submit.error.status === 400
      ? assignErrors(submit.error.body, JOB_FORM_FIELDS)
      : { fields: {}, general: submit.error ? [errorMessage(submit.error)] : [] };
  const errorsFor = (path: string) => [...(clientErrors[path] ?? []), ...(server.fields[path] ?? [])];

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const { body, errors } = buildJobRequest({ ...values, team });
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
              {(clusters.data ?? []).map((c) => (
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

        <div className="grid-4">
          <Field label="Max retries" errors={errorsFor("max_retries")}>
            <input name="max_retries" type="number" min={0} step={1} value={values.maxRetries} onChange={set("maxRetries")} />
          </Field>
          <Field label="Priority" errors={errorsFor("priority")} hint="Higher is admitted first.">
            <input name="priority" type="number" step={1} value={values.priority} onChange={set("priority")} />
          </Field>
        </div>

        <div className="form-actions">
          <button type="submit" disabled={submit.isPending}>
            {submit.isPending ? "Submitting…" : "Submit"}
          </button>
        </div>
      </form>
    </section>
  );
}
