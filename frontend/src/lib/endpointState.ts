import type { EndpointState } from "../api/serving";

export const ENDPOINT_STATES: readonly EndpointState[] = ["pending", "deploying", "ready", "degraded", "failed", "stopped"];

/** States an endpoint leaves by itself soon: the pages ask about it often while it is in one. */
const CHANGING: ReadonlySet<string> = new Set(["pending", "deploying", "degraded"]);

export function isChanging(state: string | undefined): boolean {
  return state !== undefined && CHANGING.has(state);
}

/** A revision still on its way to serving (it pulses like a moving job). */
export function isRevisionChanging(state: string): boolean {
  return state === "pending" || state === "deploying";
}

/** Stop frees the endpoint's GPUs; a stopped or failed endpoint can be started again. */
export function canStart(state: EndpointState): boolean {
  return state === "stopped" || state === "failed";
}

/** "Try it" needs replicas that answer. */
export function canServe(state: EndpointState): boolean {
  return state === "ready" || state === "degraded";
}
