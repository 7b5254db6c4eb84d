import { useSearchParams } from "react-router";

/**
 * A list page's filters and page number, kept in the URL (so a link or a reload keeps them).
 * Changing a filter goes back to page 1; `values` has "" for a filter not set.
 */
export function useListParams<K extends string>(keys: readonly K[]) {
  const [params, setParams] = useSearchParams();
  const page = Math.max(1, Number.parseInt(params.get("page") ?? "1", 10) || 1);
  const values = Object.fromEntries(keys.map((key) => [key, params.get(key) ?? ""])) as Record<K, string>;
  const filtered = keys.some((key) => values[key] !== "");

  /** Several filters at once (two calls of setFilter in one event would keep only the last). */
  const setFilters = (changes: Partial<Record<K, string>>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes) as [K, string | undefined][]) {
      if (value) next.set(key, value);
      else next.delete(key);
    }
    next.delete("page");
    setParams(next);
  };
  const setFilter = (key: K, value: string) => setFilters({ [key]: value } as Partial<Record<K, string>>);
  const setPage = (n: number) => {
    const next = new URLSearchParams(params);
    if (n > 1) next.set("page", String(n));
    else next.delete("page");
    setParams(next);
  };
  const clear = () => setParams(new URLSearchParams());

  return { page, values, filtered, setFilter, setFilters, setPage, clear };
}
