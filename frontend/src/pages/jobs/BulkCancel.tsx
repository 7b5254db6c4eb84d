import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "../../api/endpoints";
import type { BulkCancelOutcome } from "../../api/models";
import { errorMessage } from "../../components/Status";

const OUTCOME_WORDS: Record<BulkCancelOutcome["outcome"], (n: number) => string> = {
  cancelled: (n) => `${n} cancelled`,
  already_final: (n) => `${n} had already finished`,
  not_found: (n) => `${n} not found`,
  forbidden: (n) => `${n} not yours to cancel`,
};

/** "2 cancelled · 1 had already finished": what a bulk cancel did, in the order above. */
export function summariseOutcomes(results: readonly BulkCancelOutcome[]): string {
  const counts = new Map<BulkCancelOutcome["outcome"], number>();
  for (const r of results) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
  return (Object.keys(OUTCOME_WORDS) as BulkCancelOutcome["outcome"][])
    .filter((o) => counts.has(o))
    .map((o) => OUTCOME_WORDS[o](counts.get(o)!))
    .join(" · ");
}

/** The bar above the jobs table while rows are ticked: how many, and Cancel selected. */
export function BulkCancel({ selected, onDone }: { selected: readonly number[]; onDone: () => void }) {
  const queryClient = useQueryClient();
  const cancel = useMutation({
    mutationFn: (ids: number[]) => api.cancelJobs(ids),
    onSuccess: () => {
      onDone();
      void queryClient.invalidateQueries({ queryKey: ["jobs"] });
    },
  });
  const onCancel = () => {
    const n = selected.length;
    if (window.confirm(`Cancel ${n} job${n === 1 ? "" : "s"}?`)) cancel.mutate([...selected]);
  };
  if (selected.length === 0 && !cancel.data && !cancel.isError) return null;
  return (
    <div className="bulk-bar" data-testid="bulk-bar">
      {selected.length > 0 && (
        <>
          <span>{selected.length} selected</span>
          <button type="button" className="button-danger" onClick={onCancel} disabled={cancel.isPending}>
            {cancel.isPending ? "Cancelling…" : "Cancel selected"}
          </button>
        </>
      )}
      {cancel.data && (
        <span role="status" data-testid="bulk-result" title={cancel.data.results.map((r) => `#${r.id}: ${r.detail}`).join("\n")}>
          {summariseOutcomes(cancel.data.results)}
        </span>
      )}
      {cancel.isError && (
        <span className="status-error" role="alert">
          Could not cancel: {errorMessage(cancel.error)}
        </span>
      )}
    </div>
  );
}
