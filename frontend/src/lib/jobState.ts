import type { JobKind, JobState, SubmittableKind } from "../api/models";

export const JOB_STATES: readonly JobState[] = [
  "pending",
  "admitted",
  "dispatching",
  "running",
  "succeeded",
  "failed",
  "cancelled",
  "preempted",
];

/** Preempted is on its way back to the queue: still moving. */
export const ACTIVE_STATES: ReadonlySet<string> = new Set(["pending", "admitted", "dispatching", "running", "preempted"]);

export function isActive(state: string | undefined): boolean {
  return state !== undefined && ACTIVE_STATES.has(state);
}

/** An attempt that can still change: not yet sent, pending on its cluster, or running. */
export const ACTIVE_ATTEMPT_STATES: ReadonlySet<string> = new Set(["admitted", "submitted", "running"]);

/**
 * Whether anything on a job's page can still change: the job is not final, or one of its
 * attempts is not (a cancelled job's attempt reads "running" until its cluster has stopped it).
 */
export function canStillChange(job: { state: string; attempts?: readonly { state: string }[] } | undefined): boolean {
  if (job === undefined) return true;
  return isActive(job.state) || (job.attempts ?? []).some((attempt) => ACTIVE_ATTEMPT_STATES.has(attempt.state));
}

/** The kinds a job is submitted as (a deployment is made by creating an endpoint). */
export const JOB_KINDS: readonly { value: SubmittableKind; label: string }[] = [
  { value: "batch", label: "Batch" },
  { value: "training", label: "Training" },
  { value: "fine_tuning", label: "Fine-tuning" },
];

/** Every kind a job may have, for filters and labels. */
export const ALL_JOB_KINDS: readonly { value: JobKind; label: string }[] = [
  ...JOB_KINDS,
  { value: "deployment", label: "Deployment" },
];

export function kindLabel(kind: string): string {
  return ALL_JOB_KINDS.find((k) => k.value === kind)?.label ?? kind;
}

/** Job.runtime_env is free-form JSON in the read schema; take the parts the UI shows. */
export function readRuntimeEnv(value: unknown): { envVarNames: string[]; pip: string[]; workingDir: string } {
  const env = value && typeof value === "object" ? (value as Record<string, unknown>) : {};
  const envVars = env.env_vars && typeof env.env_vars === "object" ? Object.keys(env.env_vars) : [];
  const pip = Array.isArray(env.pip) ? env.pip.filter((p): p is string => typeof p === "string") : [];
  const workingDir = typeof env.working_dir === "string" ? env.working_dir : "";
  return { envVarNames: envVars, pip, workingDir };
}
