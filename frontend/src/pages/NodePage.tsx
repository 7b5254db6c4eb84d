import { Link, useParams } from "react-router";
import { ApiError } from "../api/client";
import type { Node } from "../api/models";
import { useClusters, useNode } from "../api/queries";
import { RelativeTime } from "../components/RelativeTime";
import { ErrorState, Loading } from "../components/Status";
import { formatBytes } from "../lib/units";
import { GpuTable } from "./InventoryPage";
import { NodeNetwork } from "./inventory/NodeNetwork";
import { NodeJobsTable } from "./node-detail/NodeJobsTable";

export function NodePage() {
  const params = useParams();
  const id = Number(params.id);
  if (!Number.isInteger(id) || id <= 0) {
    return <ErrorState error={new Error(`"${params.id}" is not a node id.`)} title="No such node" />;
  }
  return <NodeDetail key={id} id={id} />;
}

function ClusterLink({ name }: { name: string }) {
  const clusters = useClusters();
  const dashboard = clusters.data?.find((c) => c.name === name)?.dashboard_url;
  return (
    <>
      <Link to={`/inventory?cluster=${encodeURIComponent(name)}`}>{name}</Link>
      {dashboard && (
        <>
          {" · "}
          <a href={dashboard} target="_blank" rel="noreferrer noopener" data-testid="ray-dashboard-link">
            Ray dashboard ↗
          </a>
        </>
      )}
    </>
  );
}

function Facts({ node }: { node: Node }) {
  const software = [node.driver_version && `driver ${node.driver_version}`, node.cuda_version && `CUDA ${node.cuda_version}`]
    .filter(Boolean)
    .join(" · ");
  const labels = Object.entries(node.labels ?? {});
  return (
    <dl className="facts" data-testid="node-facts">
      <dt>Cluster</dt>
      <dd>
        <ClusterLink name={node.cluster} />
      </dd>
      <dt>State</dt>
      <dd>
        <span className={`badge badge-node-${node.state}`} data-testid="node-state">
          {node.state}
        </span>
        {node.state_reason && <span className="muted"> {node.state_reason}</span>}
      </dd>
      <dt>Address</dt>
      <dd className="mono">{node.address || <span className="muted">—</span>}</dd>
      <dt>GPUs</dt>
      <dd data-testid="node-gpu-count">
        {node.accelerators.total === 0 ? "none" : `${node.accelerators.free} of ${node.accelerators.total} free`}
      </dd>
      <dt>CPUs</dt>
      <dd>{node.cpus}</dd>
      <dt>Memory</dt>
      <dd>{node.memory_bytes ? formatBytes(node.memory_bytes) : "—"}</dd>
      <dt>Software</dt>
      <dd>{software || <span className="muted">—</span>}</dd>
      <dt>Reported by</dt>
      <dd>
        {node.source}
        {node.external_id && <span className="muted mono small"> {node.external_id}</span>}
      </dd>
      <dt>Last report</dt>
      <dd>
        {node.stale && <span className="badge badge-stale">stale</span>} <RelativeTime iso={node.last_heartbeat_at} />
      </dd>
      {labels.length > 0 && (
        <>
          <dt>Labels</dt>
          <dd className="small mono">{labels.map(([key, value]) => `${key}=${String(value)}`).join(", ")}</dd>
        </>
      )}
    </dl>
  );
}

/** One machine: its facts, its GPUs, and the jobs of the caller's teams on it now and recently. */
function NodeDetail({ id }: { id: number }) {
  const node = useNode(id);
  if (node.isPending) return <Loading label="Loading node…" />;
  if (node.isError) {
    if (node.error instanceof ApiError && node.error.status === 404) {
      return (
        <ErrorState
          error={new Error(`Node ${id} does not exist, or it belongs to an organisation you are not in.`)}
          title="Node not found"
        />
      );
    }
    return <ErrorState error={node.error} title="Could not load this node" onRetry={() => void node.refetch()} />;
  }
  const n = node.data;
  return (
    <section className="node-detail-page">
      <p className="breadcrumb">
        <Link to="/inventory">Inventory</Link> / <Link to={`/inventory?cluster=${encodeURIComponent(n.cluster)}`}>{n.cluster}</Link>{" "}
        / {n.hostname}
      </p>
      <div className="page-header">
        <h1>{n.hostname}</h1>
      </div>
      <Facts node={n} />

      <h2>Jobs now</h2>
      <NodeJobsTable node={n.id} active hostname={n.hostname} />

      <h2>Jobs recently</h2>
      <NodeJobsTable node={n.id} active={false} hostname={n.hostname} />

      <h2>GPUs</h2>
      <GpuTable node={n} />

      <h2>Network</h2>
      <NodeNetwork nodeId={n.id} hostname={n.hostname} />
    </section>
  );
}
