import type { Cluster, Me, Quota } from "../api/models";
import { useClusters, useMe, usePools, useQuotas } from "../api/queries";
import { EmptyState, ErrorState, Loading, errorMessage } from "../components/Status";
import { PoolSection, units } from "./quotas/PoolSection";
import { PreemptionPolicies } from "./quotas/PreemptionPolicies";
import { SpendSection } from "./quotas/SpendSection";

export { buildQuotaChanges, quotaParts } from "./quotas/PoolSection";
export { effectivePolicies } from "./quotas/PreemptionPolicies";

/** Organisations whose quotas the caller may change: those they administer (the server lists
 * every one for staff). An admin of a team is not an admin of its organisation. */
function administeredOrganisations(me: Me | null | undefined): ReadonlySet<string> {
  return new Set((me?.administers ?? []).map((o) => o.slug));
}

function clusterOrganisations(clusters: readonly Cluster[] | undefined): ReadonlyMap<string, string> {
  return new Map((clusters ?? []).map((c) => [c.name, c.organisation]));
}

// --- the page ---------------------------------------------------------------------------------
export function QuotasPage() {
  const quotas = useQuotas();
  const pools = usePools({ live: true });
  const me = useMe();
  const clusters = useClusters();

  const admin = administeredOrganisations(me.data);
  const organisationOf = clusterOrganisations(clusters.data);
  const poolsByName = new Map((pools.data ?? []).map((p) => [p.name, p]));
  const byPool = new Map<string, Quota[]>();
  for (const quota of quotas.data?.results ?? []) {
    const rows = byPool.get(quota.pool) ?? [];
    rows.push(quota);
    byPool.set(quota.pool, rows);
  }
  const open = (pools.data ?? []).filter((p) => !byPool.has(p.name));
  const editable = (name: string) => {
    const cluster = poolsByName.get(name)?.cluster;
    const organisation = cluster === undefined ? undefined : organisationOf.get(cluster);
    return organisation !== undefined && admin.has(organisation);
  };
  const failed = quotas.isError ? quotas : pools.isError ? pools : null;

  return (
    <section className="quotas-page">
      <div className="page-header">
        <h1>Quotas</h1>
        {(quotas.isFetching || pools.isFetching) && !quotas.isPending && !pools.isPending && (
          <span className="refreshing" aria-hidden="true" />
        )}
      </div>
      <p className="muted intro">
        Each team&rsquo;s share of each pool: what is guaranteed to it, how far it may burst by borrowing from its
        cohort, and what it uses, borrows and lends right now.
      </p>

      {quotas.isPending || pools.isPending ? (
        <Loading label="Loading quotas…" />
      ) : failed && (!quotas.data || !pools.data) ? (
        <ErrorState error={failed.error} title="Could not load quotas" onRetry={() => void failed.refetch()} />
      ) : byPool.size === 0 && open.length === 0 ? (
        <EmptyState>No pools yet. Pools come from the inventory: one per cluster and GPU model, and one for its CPUs.</EmptyState>
      ) : (
        <>
          {failed && (
            <p className="status status-error" role="alert">
              Live updates paused: {errorMessage(failed.error)}
            </p>
          )}
          {quotas.data && quotas.data.count > quotas.data.results.length && (
            <p className="muted small">
              Showing the first {quotas.data.results.length} of {quotas.data.count} quotas.
            </p>
          )}
          {byPool.size === 0 && <EmptyState>No quotas yet: every pool is open to every team, first come.</EmptyState>}
          {[...byPool].map(([name, rows]) => (
            <PoolSection key={name} name={name} pool={poolsByName.get(name)} quotas={rows} editable={editable(name)} />
          ))}
          <PreemptionPolicies />
          {open.length > 0 && (
            <section className="open-pools" aria-labelledby="open-pools-title">
              <h2 id="open-pools-title">Pools without quotas</h2>
              <p className="muted small">Open to every team, first come, on free capacity.</p>
              <table className="table table-compact" aria-label="Pools without quotas">
                <thead>
                  <tr>
                    <th scope="col">Pool</th>
                    <th scope="col">Cluster</th>
                    <th scope="col">Model</th>
                    <th scope="col" className="num">Capacity</th>
                    <th scope="col" className="num">Used</th>
                    <th scope="col" className="num">Free</th>
                    <th scope="col" className="num">Pending</th>
                  </tr>
                </thead>
                <tbody>
                  {open.map((p) => (
                    <tr key={p.name} data-testid={`open-pool-${p.name}`}>
                      <td>{p.name}</td>
                      <td>{p.cluster}</td>
                      <td>{p.accelerator_model ?? <span className="muted">CPUs</span>}</td>
                      <td className="num">{units(p.capacity, p.unit)}</td>
                      <td className="num">{p.used}</td>
                      <td className="num">{p.free}</td>
                      <td className="num">{p.pending}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          )}
        </>
      )}
      <SpendSection />
    </section>
  );
}
