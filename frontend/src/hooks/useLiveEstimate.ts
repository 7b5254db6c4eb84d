import type { UseQueryResult } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { ApiError } from "../api/client";
import type { Estimate, PlanSpec } from "../api/models";
import { usePlanEstimate } from "../api/queries";
import { useDebouncedValue } from "./useDebouncedValue";

/** How long the fields must rest before the planner is asked. */
export const ESTIMATE_DEBOUNCE_MS = 300;

/**
 * Asks the planner about `spec` as it changes (null: nothing to ask), once typing pauses.
 * `estimate` is the latest answer the planner gave; `current` says whether it answers the spec
 * on screen now (not while a newer one is pending, nor after the newer one was refused).
 * `refused` is the body of a 400, for field errors.
 */
export function useLiveEstimate(spec: PlanSpec | null) {
  return useLiveAnswer(spec, usePlanEstimate);
}

/**
 * useLiveEstimate for any question whose answer is an estimate: `useAnswer` is the query hook
 * that asks it (called with the settled spec, null while there is nothing to ask).
 */
export function useLiveAnswer<S>(spec: S | null, useAnswer: (settled: S | null) => UseQueryResult<Estimate>) {
  const key = spec === null ? null : JSON.stringify(spec);
  const settledKey = useDebouncedValue(key, ESTIMATE_DEBOUNCE_MS);
  const settled = useMemo(() => (settledKey === null ? null : (JSON.parse(settledKey) as S)), [settledKey]);
  const query = useAnswer(settled);

  // Keep the last answer through a refusal, so a half-typed field does not blank the results.
  const [lastAnswer, setLastAnswer] = useState<Estimate | undefined>(query.data);
  if (query.data !== undefined && query.data !== lastAnswer) setLastAnswer(query.data);
  const estimate = query.data ?? lastAnswer;

  const refused = query.error instanceof ApiError && query.error.status === 400 ? query.error.body : null;
  const pending = key !== settledKey || query.isFetching;
  return {
    estimate,
    current: estimate !== undefined && query.data !== undefined && !query.isPlaceholderData && !pending,
    pending: pending && key !== null,
    refused,
    /** A failure other than a refusal (the server or the network), with a retry. */
    failure: query.isError && refused === null ? query.error : null,
    retry: () => void query.refetch(),
    query,
  };
}

export type LiveEstimate = ReturnType<typeof useLiveEstimate>;
