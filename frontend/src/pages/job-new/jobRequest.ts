// The command form's values and the job request they make.
import type { JobCreateRequest, PlanSpec, RuntimeEnv, SubmittableKind } from "../../api/models";
import { parseEnvVars, parsePipPackages } from "../../lib/envVars";
import { buildModel, buildWorkload, type WorkloadKey } from "../../lib/planSpec";
import { INITIAL_PLAN, type PlanValues } from "./PlanSection";

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
  "resources.accelerator_models",
  "resources.min_gpu_memory_gb",
  "resources.memory_gb",
  "max_retries",
  "retry_on_error",
  "runtime",
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
export const ESTIMATE_HARDWARE_FIELDS: Record<string, string> = {
  "hardware.accelerator": "resources.accelerator_model",
  "hardware.gpus": "resources.gpus",
};

/** The workload fields the job form asks for; the planner assumes its defaults for the rest. */
const PLAN_WORKLOAD_FIELDS: readonly WorkloadKey[] = ["batch", "seq", "precision", "activationCheckpointing", "tokens"];


export interface JobFormValues {
  name: string;
  team: string;
  cluster: string;
  kind: SubmittableKind;
  entrypoint: string;
  envVars: string;
  pip: string;
  workingDir: string;
  cpus: string;
  gpus: string;
  /** One model, or several in order, comma-separated (the pools the job accepts). */
  acceleratorModel: string;
  /** Any GPU with at least this much memory; blank: not asked. */
  minGpuMemoryGb: string;
  memoryGb: string;
  maxRetries: string;
  /** Retry after the job's own error too (else only after the cluster's failures). */
  retryOnError: boolean;
  ray: boolean;
  /** Minutes; blank for no limit. */
  maxRuntimeMinutes: string;
  priority: string;
  /** A priority class's name; blank for none (the priority field then counts). */
  priorityClass: string;
}

/** The API's defaults (ResourcesRequest, JobCreateRequest). */
export const INITIAL: JobFormValues = {
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
  minGpuMemoryGb: "",
  memoryGb: "0",
  maxRetries: "0",
  retryOnError: false,
  ray: false,
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

  const models = acceleratorModels(values.acceleratorModel);
  // A catalog name ("H100 SXM") goes as a list of one: accelerator_model takes Ray's names only.
  const asList = models.length > 1 || (models.length === 1 && /\s/.test(models[0] ?? ""));
  const body: JobCreateRequest = {
    name: values.name.trim(),
    team: values.team,
    kind: values.kind,
    entrypoint: values.entrypoint,
    runtime_env: runtimeEnv,
    resources: {
      cpus: number("resources.cpus", values.cpus),
      gpus: number("resources.gpus", values.gpus),
      accelerator_model: asList ? "" : (models[0] ?? ""),
      memory_gb: number("resources.memory_gb", values.memoryGb),
    },
    max_retries: number("max_retries", values.maxRetries, true),
    retry_on_error: values.retryOnError,
    runtime: values.ray ? "ray" : "process",
    priority: number("priority", values.priority, true),
    override_planner: plan.enabled && plan.override,
  };
  if (values.maxRuntimeMinutes.trim()) {
    const minutes = number("max_runtime_seconds", values.maxRuntimeMinutes, true);
    if (!errors.max_runtime_seconds && minutes < 1) errors.max_runtime_seconds = ["At least one minute."];
    body.max_runtime_seconds = minutes * 60;
  }
  // Several models: the pools the job accepts, first choice first.
  if (asList && body.resources) body.resources.accelerator_models = models;
  if (values.minGpuMemoryGb.trim() && body.resources) {
    body.resources.min_gpu_memory_gb = number("resources.min_gpu_memory_gb", values.minGpuMemoryGb);
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

/** "H100 SXM, A100 80GB SXM" → the models in the order given (blank: none). */
export function acceleratorModels(raw: string): string[] {
  return raw
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
}

/** What the live estimate asks: the plan on the GPUs the job requests (null until both are given). */
export function estimateSpec(values: JobFormValues, plan: PlanValues): PlanSpec | null {
  if (!plan.enabled) return null;
  const accelerator = acceleratorModels(values.acceleratorModel)[0] ?? "";
  const gpus = Number(values.gpus.trim());
  if (!accelerator || !Number.isInteger(gpus) || gpus < 1) return null;
  const { model } = buildModel(plan.model);
  const { workload } = buildWorkload(plan.workload, PLAN_WORKLOAD_FIELDS);
  if (!model || !workload) return null;
  return { model, workload, hardware: { accelerator, gpus }, recommendations: 0 };
}

