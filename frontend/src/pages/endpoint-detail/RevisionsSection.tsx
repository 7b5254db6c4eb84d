import { useState } from "react";
import {
  ENDPOINT_TABLE_PAGE_SIZE,
  useEndpointRevisions,
  usePromoteRevision,
  useRollback,
  type Endpoint,
  type EndpointRevision,
} from "../../api/serving";
import { Pager } from "../../components/Pager";
import { RelativeTime } from "../../components/RelativeTime";
import { StateBadge } from "../../components/StateBadge";
import { EmptyState, ErrorState, Loading, errorMessage } from "../../components/Status";
import { isChanging, isRevisionChanging } from "../../lib/endpointState";
import { CanaryForm } from "./CanaryForm";
import { SourceLineage } from "./SourceLineage";
import { TrafficBar } from "./TrafficBar";

/** A revision can take all traffic once it serves and does not already. */
function canPromote(r: EndpointRevision): boolean {
  return r.state === "ready" && r.traffic_percent < 100;
}

function RevisionsTable({
  revisions,
  onPromote,
  promoting,
}: {
  revisions: readonly EndpointRevision[];
  onPromote: (r: EndpointRevision) => void;
  promoting: number | null;
}) {
  return (
    <table className="table" data-testid="revisions">
      <thead>
        <tr>
          <th scope="col" className="num">
            Revision
          </th>
          <th scope="col">Serves</th>
          <th scope="col">State</th>
          <th scope="col" className="num">
            Traffic
          </th>
          <th scope="col">Message</th>
          <th scope="col">Created</th>
          <th scope="col">
            <span className="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {revisions.map((r) => (
          <tr key={r.id} data-testid={`revision-${r.number}`} className={r.state === "retired" ? "row-muted" : undefined}>
            <td className="num">#{r.number}</td>
            <td>
              <SourceLineage source={r.source} />
            </td>
            <td>
              <StateBadge state={r.state} moving={isRevisionChanging(r.state)} />
            </td>
            <td className="num" data-testid="revision-traffic">
              {r.traffic_percent} %
            </td>
            <td className="small">{r.message || <span className="muted">—</span>}</td>
            <td>
              <RelativeTime iso={r.created_at} /> <span className="muted small">by {r.created_by || "—"}</span>
            </td>
            <td>
              {canPromote(r) && (
                <button
                  type="button"
                  className="button-secondary button-small"
                  onClick={() => onPromote(r)}
                  disabled={promoting === r.id}
                  aria-label={`Promote revision ${r.number}`}
                >
                  Promote
                </button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The traffic split, the revisions with promote and roll back, and a form for a canary. */
export function RevisionsSection({ endpoint }: { endpoint: Endpoint }) {
  const [page, setPage] = useState(1);
  const [adding, setAdding] = useState(false);
  const revisions = useEndpointRevisions(endpoint.id, page, { changing: isChanging(endpoint.state) });
  const promote = usePromoteRevision(endpoint.id);
  const rollback = useRollback(endpoint.id);
  const failed = [promote, rollback].find((m) => m.isError);

  const onPromote = (r: EndpointRevision) => {
    if (window.confirm(`Promote revision ${r.number}? It takes all of ${endpoint.name}'s traffic.`)) promote.mutate(r.id);
  };
  const onRollback = () => {
    if (window.confirm(`Roll ${endpoint.name} back? The newest revision is retired and the one before takes all traffic.`)) {
      rollback.mutate();
    }
  };

  let body;
  if (revisions.isPending) body = <Loading label="Loading revisions…" />;
  else if (revisions.isError && !revisions.data) {
    body = <ErrorState error={revisions.error} title="Could not load the revisions" onRetry={() => void revisions.refetch()} />;
  } else if (revisions.data.results.length === 0) {
    body = <EmptyState>No revisions yet: the first is made as the endpoint deploys.</EmptyState>;
  } else {
    body = (
      <>
        <RevisionsTable
          revisions={revisions.data.results}
          onPromote={onPromote}
          promoting={promote.isPending ? (promote.variables ?? null) : null}
        />
        <Pager
          page={page}
          count={revisions.data.count}
          pageSize={ENDPOINT_TABLE_PAGE_SIZE}
          hasNext={Boolean(revisions.data.next)}
          onPage={setPage}
        />
      </>
    );
  }
  // Rolling back needs a revision before the newest.
  const canRollBack = (revisions.data?.count ?? 0) >= 2;

  return (
    <section aria-labelledby="revisions-heading">
      <h2 id="revisions-heading">Revisions</h2>
      <TrafficBar traffic={endpoint.traffic} />
      <div className="row-actions">
        <button type="button" className="button-secondary" onClick={() => setAdding(true)} disabled={adding}>
          Canary
        </button>
        <button
          type="button"
          className="button-secondary"
          onClick={onRollback}
          disabled={!canRollBack || rollback.isPending}
          title={canRollBack ? undefined : "There is no earlier revision to roll back to."}
        >
          {rollback.isPending ? "Rolling back…" : "Roll back"}
        </button>
      </div>
      {failed && (
        <p className="status status-error" role="alert">
          {errorMessage(failed.error)}
        </p>
      )}
      {adding && <CanaryForm endpointId={endpoint.id} team={endpoint.team} onDone={() => setAdding(false)} />}
      {body}
    </section>
  );
}
