import { Link } from "react-router";
import type { Attempt, Cluster, PlacementShare } from "../../api/models";
import { useClusters } from "../../api/queries";
import { StateBadge } from "../../components/StateBadge";
import { EmptyState } from "../../components/Status";
import { useCopy } from "../../hooks/useCopy";

/** "GPU-8f3c2a1b-…-c0ffee" → "GPU-8f3c2a1b…" : enough to tell GPUs apart at a glance. */
export function shortUuid(uuid: string): string {
  return uuid.length > 14 ? `${uuid.slice(0, 12)}…` : uuid;
}

/** A GPU's index and its shortened UUID, the full UUID in its title and copied by its button. */
function GpuChip({ index, uuid }: { index: number; uuid: string }) {
  const { status, copy } = useCopy();
  return (
    <li className="gpu-chip" data-testid="placement-gpu">
      <span className="num">#{index}</span>{" "}
      {uuid ? (
        <>
          <code className="selectable" title={uuid}>
            {shortUuid(uuid)}
          </code>{" "}
          <button
            type="button"
            className="button-link button-copy"
            onClick={() => void copy(uuid)}
            aria-label={`Copy the UUID of GPU ${index}`}
            title={status === "failed" ? `Could not use the clipboard: ${uuid}` : uuid}
          >
            {status === "copied" ? "Copied" : "Copy"}
          </button>
        </>
      ) : (
        <span className="muted small">UUID unknown</span>
      )}
    </li>
  );
}

function NodeCell({ share }: { share: PlacementShare }) {
  return (
    <>
      {share.node_id != null ? (
        <Link to={`/nodes/${share.node_id}`} data-testid="placement-node-link">
          {share.hostname}
        </Link>
      ) : (
        <span title="This node has since been removed from the inventory">{share.hostname} (removed)</span>
      )}
      {share.address && <div className="muted small mono">{share.address}</div>}
    </>
  );
}

/** Its cluster's page, and its Ray dashboard where it has one. */
function ClusterLinks({ name, cluster }: { name: string; cluster: Cluster | undefined }) {
  return (
    <p className="placement-cluster" data-testid="placement-cluster">
      Cluster <Link to={`/inventory?cluster=${encodeURIComponent(name)}`}>{name}</Link>
      {cluster?.dashboard_url && (
        <>
          {" · "}
          <a href={cluster.dashboard_url} target="_blank" rel="noreferrer noopener" data-testid="ray-dashboard-link">
            Ray dashboard ↗
          </a>
        </>
      )}
    </p>
  );
}

/**
 * Where each attempt ran: its nodes (linked to their pages), the GPUs it held there by index and
 * UUID, their model and the node's network fabric; the latest attempt first.
 */
export function PlacementSection({ attempts, cluster }: { attempts: readonly Attempt[]; cluster: string }) {
  const clusters = useClusters();
  const found = clusters.data?.find((c) => c.name === cluster);
  const placed = [...attempts].sort((a, b) => b.number - a.number);
  return (
    <section className="placement" aria-labelledby="placement-title" data-testid="job-placement">
      <h2 id="placement-title">Placement</h2>
      {cluster && <ClusterLinks name={cluster} cluster={found} />}
      {placed.length === 0 ? (
        <EmptyState>Not placed yet: the scheduler picks its nodes and GPUs when it admits the job.</EmptyState>
      ) : (
        <div className="table-scroll">
          <table className="table table-compact" aria-label="Where each attempt ran">
            <thead>
              <tr>
                <th scope="col">Attempt</th>
                <th scope="col">Node</th>
                <th scope="col">GPUs</th>
                <th scope="col">Model</th>
                <th scope="col">Fabric</th>
              </tr>
            </thead>
            <tbody>
              {placed.map((attempt) =>
                attempt.placement.length === 0 ? (
                  <tr key={attempt.id} data-testid={`placement-${attempt.number}`}>
                    <td>
                      #{attempt.number} <StateBadge state={attempt.state} live={false} />
                    </td>
                    <td colSpan={4} className="muted">
                      No GPUs placed (it runs on the cluster's CPUs wherever the cluster puts it).
                    </td>
                  </tr>
                ) : (
                  attempt.placement.map((share, i) => (
                    <tr key={`${attempt.id}-${i}`} data-testid={`placement-${attempt.number}`}>
                      {i === 0 && (
                        <td rowSpan={attempt.placement.length}>
                          #{attempt.number} <StateBadge state={attempt.state} live={false} />
                        </td>
                      )}
                      <td>
                        <NodeCell share={share} />
                      </td>
                      <td>
                        {share.gpus.length === 0 ? (
                          <span className="muted">none</span>
                        ) : (
                          <ul className="gpu-chips">
                            {share.gpus.map((index, k) => (
                              <GpuChip key={index} index={index} uuid={share.gpu_uuids[k] ?? ""} />
                            ))}
                          </ul>
                        )}
                      </td>
                      <td>{share.accelerator_model || <span className="muted">—</span>}</td>
                      <td>{share.fabric || <span className="muted">—</span>}</td>
                    </tr>
                  ))
                ),
              )}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
