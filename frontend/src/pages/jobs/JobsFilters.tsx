import { useEffect, useRef, useState } from "react";
import { useClusters } from "../../api/queries";
import { TeamFilter } from "../../components/TeamFilter";
import { useDebouncedValue } from "../../hooks/useDebouncedValue";
import { ALL_JOB_KINDS, JOB_STATES } from "../../lib/jobState";

export const JOB_FILTER_KEYS = ["search", "state", "kind", "team", "cluster", "mine"] as const;
export type JobFilterKey = (typeof JOB_FILTER_KEYS)[number];

/** How long the search box waits for typing to stop before it asks the API. */
export const SEARCH_DEBOUNCE_MS = 300;

interface Props {
  values: Record<JobFilterKey, string>;
  filtered: boolean;
  setFilter: (key: JobFilterKey, value: string) => void;
  clear: () => void;
}

/** The jobs list's filters, all kept in the URL: search (debounced), state, kind, team, cluster, mine. */
export function JobsFilters({ values, filtered, setFilter, clear }: Props) {
  const clusters = useClusters();
  const [search, setSearch] = useState(values.search);
  const settled = useDebouncedValue(search.trim(), SEARCH_DEBOUNCE_MS);
  // The URL's search changed from elsewhere (Clear filters, back button): show it in the box.
  const lastUrlSearch = useRef(values.search);
  useEffect(() => {
    if (values.search !== lastUrlSearch.current) {
      lastUrlSearch.current = values.search;
      setSearch(values.search);
    }
  }, [values.search]);
  // What the user typed, once they stop typing, goes to the URL (and so to the API).
  const setFilterRef = useRef(setFilter);
  setFilterRef.current = setFilter;
  useEffect(() => {
    if (settled !== lastUrlSearch.current) {
      lastUrlSearch.current = settled;
      setFilterRef.current("search", settled);
    }
  }, [settled]);

  return (
    <form className="filters" aria-label="Filter jobs" role="search" onSubmit={(e) => e.preventDefault()}>
      <label>
        Search
        <input
          type="search"
          name="search"
          value={search}
          placeholder="Name or #id"
          onChange={(e) => setSearch(e.target.value)}
          data-testid="jobs-search"
        />
      </label>
      <label>
        State
        <select value={values.state} onChange={(e) => setFilter("state", e.target.value)}>
          <option value="">All states</option>
          {JOB_STATES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <label>
        Kind
        <select value={values.kind} onChange={(e) => setFilter("kind", e.target.value)}>
          <option value="">All kinds</option>
          {ALL_JOB_KINDS.map((k) => (
            <option key={k.value} value={k.value}>
              {k.label}
            </option>
          ))}
        </select>
      </label>
      <TeamFilter value={values.team} onChange={(team) => setFilter("team", team)} />
      <label>
        Cluster
        <select value={values.cluster} onChange={(e) => setFilter("cluster", e.target.value)}>
          <option value="">All clusters</option>
          {(clusters.data ?? []).map((c) => (
            <option key={c.id} value={c.name}>
              {c.name}
            </option>
          ))}
          {values.cluster && !clusters.data?.some((c) => c.name === values.cluster) && (
            <option value={values.cluster}>{values.cluster}</option>
          )}
        </select>
      </label>
      <label className="checkbox filter-toggle">
        <span>
          <input
            type="checkbox"
            name="mine"
            checked={values.mine === "true"}
            onChange={(e) => setFilter("mine", e.target.checked ? "true" : "")}
          />{" "}
          Only mine
        </span>
      </label>
      {filtered && (
        <button
          type="button"
          className="button-link"
          onClick={() => {
            setSearch("");
            clear();
          }}
        >
          Clear filters
        </button>
      )}
    </form>
  );
}
