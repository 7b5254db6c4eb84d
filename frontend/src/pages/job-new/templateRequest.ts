// The template form's values and the request bodies they make (plan and submit).
import type { JobTemplate, TemplateParameter, TemplatePlanRequest, TemplateSubmitRequest } from "../../api/models";
import type { FlatErrors } from "../../lib/fieldErrors";
import { acceleratorModels } from "./jobRequest";

/** The lora recipe's parameters in words; any other parameter is named after itself. */
const LABELS: Record<string, string> = {
  base_model: "Base model",
  dataset: "Dataset",
  rank: "Rank",
  alpha: "Alpha",
  learning_rate: "Learning rate",
  steps: "Steps",
  batch_size: "Batch size",
  seq_len: "Sequence length",
  checkpoint_every: "Checkpoint every (steps)",
  model_name: "Model name",
  seed: "Seed",
  planner_model: "Planner model",
};

export function parameterLabel(name: string): string {
  return LABELS[name] ?? name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

export function isNumeric(parameter: TemplateParameter): boolean {
  return parameter.type === "integer" || parameter.type === "number";
}

export interface TemplateValues {
  name: string;
  team: string;
  cluster: string;
  gpus: string;
  acceleratorModel: string;
  maxRetries: string;
  /** Retry after the recipe's own errors too (else only after the cluster's failures). */
  retryOnError: boolean;
  /** Blank: keep every checkpoint. */
  keepLatest: string;
  keepBest: string;
  /** By parameter name, as typed. */
  parameters: Record<string, string>;
}

export function initialValues(template: JobTemplate | undefined): TemplateValues {
  const parameters: Record<string, string> = {};
  for (const p of template?.parameters ?? []) parameters[p.name] = p.default == null ? "" : String(p.default);
  return {
    name: "",
    team: "",
    cluster: "",
    gpus: "1",
    acceleratorModel: "",
    // The templates API's default: a resumable job is worth retrying.
    maxRetries: "2",
    retryOnError: false,
    keepLatest: "",
    keepBest: "",
    parameters,
  };
}

/** The planner names the job's hardware its own way; its refusals of these belong to Resources. */
export const PLAN_HARDWARE_FIELDS: Record<string, string> = {
  "hardware.accelerator": "resources.accelerator_model",
  "hardware.gpus": "resources.gpus",
};

/** Every request path the form has a field for; errors elsewhere are shown above the form. */
export function templateFieldPaths(template: JobTemplate): string[] {
  return [
    "name",
    "team",
    "cluster",
    "resources",
    "resources.gpus",
    "resources.accelerator_model",
    "max_retries",
    "retry_on_error",
    "checkpoint_policy",
    "checkpoint_policy.keep_latest",
    "checkpoint_policy.keep_best",
    "parameters",
    ...template.parameters.map((p) => `parameters.${p.name}`),
  ];
}

/**
 * The submit body for `template` (the plan body is its team, resources and parameters). Blank
 * optional parameters are left out, so the recipe's defaults apply; what the browser can see is
 * wrong comes back as errors keyed like the server's, and no body.
 */
export function buildTemplateRequest(
  template: JobTemplate,
  values: TemplateValues,
): { body: TemplateSubmitRequest | null; errors: FlatErrors } {
  const errors: FlatErrors = {};
  const number = (path: string, raw: string, integer: boolean): number => {
    const text = raw.trim();
    const n = Number(text);
    if (text === "" || !Number.isFinite(n)) errors[path] = ["Enter a number."];
    else if (integer && !Number.isInteger(n)) errors[path] = ["Enter a whole number."];
    return n;
  };

  const parameters: Record<string, unknown> = {};
  for (const p of template.parameters) {
    const raw = (values.parameters[p.name] ?? "").trim();
    const path = `parameters.${p.name}`;
    if (raw === "") {
      if (p.required) errors[path] = ["This field is required."];
      continue;
    }
    if (!isNumeric(p)) {
      parameters[p.name] = raw;
      continue;
    }
    const n = number(path, raw, p.type === "integer");
    if (!errors[path]) {
      if (p.minimum != null && n < p.minimum) errors[path] = [`At least ${p.minimum}.`];
      else if (p.maximum != null && n > p.maximum) errors[path] = [`At most ${p.maximum}.`];
    }
    parameters[p.name] = n;
  }

  const body: TemplateSubmitRequest = {
    team: values.team,
    parameters,
    // The resources API's defaults for what the form does not ask (CPUs, memory).
    resources: {
      cpus: 1,
      gpus: number("resources.gpus", values.gpus, true),
      accelerator_model: acceleratorModels(values.acceleratorModel)[0] ?? "",
      memory_gb: 0,
    },
    max_retries: number("max_retries", values.maxRetries, true),
    retry_on_error: values.retryOnError,
    override_planner: false,
  };
  if (values.name.trim()) body.name = values.name.trim();
  if (values.cluster) body.cluster = values.cluster;
  const policy: NonNullable<TemplateSubmitRequest["checkpoint_policy"]> = {};
  if (values.keepLatest.trim()) policy.keep_latest = number("checkpoint_policy.keep_latest", values.keepLatest, true);
  if (values.keepBest.trim()) policy.keep_best = number("checkpoint_policy.keep_best", values.keepBest, true);
  if (Object.keys(policy).length) body.checkpoint_policy = policy;
  return { body: Object.keys(errors).length ? null : body, errors };
}

/**
 * The plan request for a submit body: the planner reads the team, resources and parameters
 * only, so the rest stay at their defaults (and editing the name or retries asks nothing new).
 */
export function planRequest(body: TemplateSubmitRequest): TemplatePlanRequest {
  return {
    team: body.team,
    resources: body.resources,
    parameters: body.parameters,
    max_retries: 0,
    retry_on_error: false,
    override_planner: false,
  };
}
