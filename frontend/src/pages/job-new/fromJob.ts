// The submit form filled in from an earlier job ("Clone / re-run").
import type { JobDetail, SubmittableKind } from "../../api/models";
import { INITIAL, type JobFormValues } from "./jobRequest";

const SUBMITTABLE: readonly string[] = ["training", "fine_tuning", "batch"];

/** Whether the submit form can make this job again (a deployment is made by its endpoint). */
export function canClone(kind: string): boolean {
  return SUBMITTABLE.includes(kind);
}

const text = (value: number | null | undefined): string => (value == null ? "" : String(value));

/**
 * The form's values for a job like `job`: the same command, environment, resources, retries,
 * limits and priority, on the same team and cluster. The capacity plan is not carried over.
 */
export function formValuesFromJob(job: JobDetail): JobFormValues {
  const env = job.runtime_env && typeof job.runtime_env === "object" ? (job.runtime_env as Record<string, unknown>) : {};
  const envVars =
    env.env_vars && typeof env.env_vars === "object"
      ? Object.entries(env.env_vars as Record<string, unknown>).map(([key, value]) => `${key}=${String(value)}`)
      : [];
  const pip = Array.isArray(env.pip) ? env.pip.filter((p): p is string => typeof p === "string") : [];
  const models = job.resources.accelerator_models.length
    ? job.resources.accelerator_models
    : job.resources.accelerator_model
      ? [job.resources.accelerator_model]
      : [];
  return {
    ...INITIAL,
    name: job.name,
    team: job.team,
    cluster: job.cluster ?? "",
    kind: (canClone(job.kind) ? job.kind : INITIAL.kind) as SubmittableKind,
    entrypoint: job.entrypoint,
    envVars: envVars.join("\n"),
    pip: pip.join("\n"),
    workingDir: typeof env.working_dir === "string" ? env.working_dir : "",
    cpus: text(job.resources.cpus),
    gpus: text(job.resources.gpus),
    acceleratorModel: models.join(", "),
    minGpuMemoryGb: text(job.resources.min_gpu_memory_gb),
    memoryGb: text(job.resources.memory_gb),
    maxRetries: text(job.max_retries),
    retryOnError: job.retry_on_error,
    ray: job.runtime === "ray",
    maxRuntimeMinutes: job.max_runtime_seconds == null ? "" : String(Math.ceil(job.max_runtime_seconds / 60)),
    priority: text(job.priority),
    priorityClass: job.priority_class ?? "",
  };
}
