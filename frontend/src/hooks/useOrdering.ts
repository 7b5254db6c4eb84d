import { useSearchParams } from "react-router";

export type SortDirection = "ascending" | "descending" | "none";

/**
 * A list's sort order in the URL's `?ordering=` (DRF's: "cost", "-cost"), `fallback` when it has
 * none. Sorting by a new field puts the largest (newest) first; sorting by the same field again
 * flips it. A new order goes back to page 1.
 */
export function useOrdering(fallback: string) {
  const [params, setParams] = useSearchParams();
  /** What the URL asks for ("" for nothing: then the API's own order, which `fallback` names). */
  const requested = params.get("ordering") ?? "";
  const ordering = requested || fallback;

  const direction = (field: string): SortDirection =>
    ordering === field ? "ascending" : ordering === `-${field}` ? "descending" : "none";

  const sortBy = (field: string) => {
    const next = new URLSearchParams(params);
    next.set("ordering", ordering === `-${field}` ? field : `-${field}`);
    next.delete("page");
    setParams(next);
  };

  return { requested, ordering, direction, sortBy };
}

export type Ordering = ReturnType<typeof useOrdering>;
