import type { Ordering } from "../hooks/useOrdering";

const ARROWS = { ascending: "▲", descending: "▼", none: "" } as const;

/** A column header that sorts the list by `field` when clicked, with its direction shown. */
export function SortableHeader({ field, label, sort, numeric = false }: {
  field: string;
  label: string;
  sort: Ordering;
  numeric?: boolean;
}) {
  const direction = sort.direction(field);
  return (
    <th scope="col" aria-sort={direction} className={numeric ? "num" : undefined}>
      <button type="button" className="sort-button" onClick={() => sort.sortBy(field)} title={`Sort by ${label.toLowerCase()}`}>
        {label}
        {direction !== "none" && <span aria-hidden="true"> {ARROWS[direction]}</span>}
      </button>
    </th>
  );
}
