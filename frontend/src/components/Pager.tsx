interface Props {
  /** 1-based. */
  page: number;
  count: number;
  pageSize: number;
  hasNext: boolean;
  onPage: (n: number) => void;
}

/** "26–50 of 120" with Previous and Next; nothing when everything fits on one page. */
export function Pager({ page, count, pageSize, hasNext, onPage }: Props) {
  if (count <= pageSize && page <= 1) return null;
  const first = (page - 1) * pageSize + 1;
  const last = Math.min(count, page * pageSize);
  return (
    <nav className="pagination" aria-label="Pagination">
      <span>
        {first}–{last} of {count}
      </span>
      <button type="button" className="button-secondary" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <button type="button" className="button-secondary" disabled={!hasNext} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}
