import type { ChartConfiguration, ChartData } from "chart.js";
import { useId, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { INVENTORY_PAGE_SIZE } from "../api/endpoints";
import type {
  Accelerator,
  AcceleratorSummary,
  Cluster,
  InterconnectDomain,
  NetworkFabric,
  Node,
  StorageBackend,
} from "../api/models";
import {
  useAcceleratorSummary,
  useLiveClusters,
  useNetworkFabrics,
  useNodeAccelerators,
  useNodes,
  useMe,
  useStorageBackends,
} from "../api/queries";
import { RelativeTime } from "../components/RelativeTime";
import { EmptyState, ErrorState, Loading } from "../components/Status";
import { loadBarChart } from "../lib/chart";
import { useChart } from "../hooks/useChart";
import { Pager } from "../components/Pager";
import { formatBytes } from "../lib/units";
import { NodeNetwork } from "./inventory/NodeNetwork";

// --- formatting -------------------------------------------------------------------------------
const number1 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

/** Storage sizes in powers of 1000, as storage vendors and file systems' df -H state them. */
function formatStorage(bytes: number): string {
  return formatBytes(bytes, { si: true });
}

function gib(bytes: number): string {
  return `${number1.format(bytes / 2 ** 30)} GiB`;
}

function mibAsGib(mib: number): string {
  return number1.format(mib / 1024);
}

function formatMemory(usedMib: number | null, totalMib: number): string {
  return `${usedMib == null ? "?" : mibAsGib(usedMib)} / ${mibAsGib(totalMib)}`;
}

function formatPower(gpu: Accelerator): string {
  if (gpu.power_watts == null) return "—";
  const limit = gpu.power_limit_watts ? ` / ${Math.round(gpu.power_limit_watts)}` : "";
  return `${Math.round(gpu.power_watts)}${limit} W`;
}

function percent(part: number, whole: number): number {
  return whole > 0 ? Math.round((part / whole) * 100) : 0;
}

const INTERCONNECT_LABELS: Record<string, string> = {
  nvlink: "NVLink",
  nvswitch: "NVSwitch",
  infinity_fabric: "Infinity Fabric",
  pcie: "PCIe only",
};

function domainName(domain: InterconnectDomain): string {
  const kind = INTERCONNECT_LABELS[domain.kind] ?? domain.kind;
  return domain.link_generation ? `${kind} ${domain.link_generation}` : kind;
}

/** "NVLink 4 · GPUs 0, 1 · 900 GB/s per GPU" */
function describeDomain(domain: InterconnectDomain): string {
  const gpus = domain.accelerator_indexes.length ? ` · GPUs ${domain.accelerator_indexes.join(", ")}` : "";
  const bandwidth = domain.bandwidth_gbps ? ` · ${number1.format(domain.bandwidth_gbps)} GB/s per GPU` : "";
  return `${domainName(domain)}${gpus}${bandwidth}`;
}

// --- the overview figure: GPUs by model and state (Chart.js, loaded with this page only) ---------
const STATE_SERIES = [
  { key: "free", label: "Free", colour: "#2e9d5b" },
  { key: "busy", label: "Busy", colour: "#2f5bd3" },
  { key: "unhealthy", label: "Unhealthy", colour: "#c0362c" },
  { key: "unknown", label: "No load reading", colour: "#a3abb8" },
] as const;

const UNRECOGNISED = "Unrecognised";

function chartData(summary: AcceleratorSummary): ChartData<"bar", number[], string> {
  return {
    labels: summary.models.map((row) => row.model ?? UNRECOGNISED),
    datasets: STATE_SERIES.map((series) => ({
      label: series.label,
      data: summary.models.map((row) => row[series.key]),
      backgroundColor: series.colour,
      stack: "gpus",
      categoryPercentage: 0.85,
      barPercentage: 0.9,
      maxBarThickness: 28,
    })),
  };
}

function chartConfig(data: ChartData<"bar", number[], string>): ChartConfiguration<"bar", number[], string> {
  return {
    type: "bar",
    data,
    options: {
      indexAxis: "y",
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "GPUs" } },
        y: { stacked: true },
      },
      plugins: { legend: { position: "bottom" } },
    },
  };
}

function GpuOverviewChart({ summary }: { summary: AcceleratorSummary }) {
  const described = summary.models
    .map(
      (row) =>
        `${row.model ?? UNRECOGNISED}: ${row.free} free, ${row.busy} busy, ${row.unhealthy} unhealthy, ` +
        `${row.unknown} without a load reading`,
    )
    .join("; ");
  // The description holds every number drawn: a refetch with the same numbers draws nothing anew.
  const { canvas, failed } = useChart<"bar", number[], string>(loadBarChart, () => chartConfig(chartData(summary)), described);
  return (
    <div className="gpu-chart" style={{ height: `${96 + 40 * summary.models.length}px` }}>
      {failed ? (
        <p className="muted">The figure could not be loaded; the table below has the same numbers.</p>
      ) : (
        <canvas ref={canvas} role="img" aria-label={`GPUs by model and state. ${described}`} />
      )}
    </div>
  );
}

function GpuOverview({ cluster }: { cluster?: string }) {
  const summary = useAcceleratorSummary(cluster);
  const data = summary.data;
  return (
    <section className="card inventory-overview" aria-labelledby="gpu-overview-title">
      <h2 id="gpu-overview-title">GPUs by model and state</h2>
      {summary.isPending ? (
        <Loading label="Counting GPUs…" />
      ) : summary.isError && !data ? (
        <ErrorState error={summary.error} title="Could not count GPUs" onRetry={() => void summary.refetch()} />
      ) : data && data.total === 0 ? (
        <EmptyState>No GPUs discovered yet.</EmptyState>
      ) : data ? (
        <>
          <p className="overview-totals" data-testid="gpu-totals">
            <strong>{data.total}</strong> GPUs: <span className="text-free">{data.free} free</span> ·{" "}
            <span className="text-busy">{data.busy} busy</span> ·{" "}
            <span className="text-unhealthy">{data.unhealthy} unhealthy</span>
            {data.unknown > 0 && (
              <>
                {" "}
                ·{" "}
                <span className="muted" title="Neither memory nor utilisation reported (Ray reports neither)">
                  {data.unknown} without a load reading
                </span>
              </>
            )}
          </p>
          <GpuOverviewChart summary={data} />
          <table className="table table-compact" aria-label="GPU counts by model">
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col" className="num">Free</th>
                <th scope="col" className="num">Busy</th>
                <th scope="col" className="num">Unhealthy</th>
                <th scope="col" className="num">No reading</th>
                <th scope="col" className="num">Total</th>
              </tr>
            </thead>
            <tbody>
              {data.models.map((row) => (
                <tr key={row.model ?? ""}>
                  <td>{row.model ?? <span className="badge badge-warning">{UNRECOGNISED}</span>}</td>
                  <td className="num">{row.free}</td>
                  <td className="num">{row.busy}</td>
                  <td className="num">{row.unhealthy}</td>
                  <td className="num">{row.unknown}</td>
                  <td className="num">{row.total}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </section>
  );
}

// --- clusters → nodes → GPUs -----------------------------------------------------------------
interface MeterProps {
  value: number;
  max: number;
  label: string;
  filling?: boolean;
}

/** A native <meter>; `filling` marks a resource in trouble when nearly full (disks; a training job
 * holding most of a GPU's memory is normal). */
function Meter({ value, max, label, filling = false }: MeterProps) {
  const thresholds = filling ? { low: max * 0.7, high: max * 0.9, optimum: 0 } : {};
  return <meter min={0} max={max} value={value} aria-label={label} {...thresholds} />;
}

function GpuState({ gpu }: { gpu: Accelerator }) {
  return (
    <>
      <span
        className={`badge badge-gpu-${gpu.state}`}
        data-state={gpu.state}
        title={gpu.state === "unknown" ? "No memory or utilisation reading: in use or not, nothing says" : undefined}
      >
        {gpu.state}
      </span>
      {gpu.health !== "ok" && <span className="muted small"> health {gpu.health}</span>}
    </>
  );
}

export function GpuTable({ node }: { node: Node }) {
  const gpus = useNodeAccelerators(node.id);
  if (gpus.isPending) return <Loading label="Loading GPUs…" />;
  if (gpus.isError && !gpus.data) {
    return <ErrorState error={gpus.error} title="Could not load the GPUs" onRetry={() => void gpus.refetch()} />;
  }
  if (gpus.data.length === 0) return <p className="muted">This node reported no GPUs.</p>;
  return (
    <table className="table table-compact gpu-table" aria-label={`GPUs of ${node.hostname}`}>
      <thead>
        <tr>
          <th scope="col">GPU</th>
          <th scope="col">Model</th>
          <th scope="col">State</th>
          <th scope="col">Utilisation</th>
          <th scope="col">Memory (GiB)</th>
          <th scope="col" className="num">Temp.</th>
          <th scope="col" className="num">Power</th>
          <th scope="col">MIG</th>
          <th scope="col" className="num">NVLink links</th>
          <th scope="col">Interconnect</th>
        </tr>
      </thead>
      <tbody>
        {gpus.data.map((gpu) => (
          <tr key={gpu.id} data-testid="gpu-row">
            <td className="num">#{gpu.index}</td>
            <td>
              {gpu.model ? (
                <span title={gpu.reported_name ? `Reported as ${gpu.reported_name}` : undefined}>{gpu.model}</span>
              ) : (
                <>
                  <span className="badge badge-warning" title="Matched to no catalog model: an operator should map it">
                    Unrecognised
                  </span>
                  {gpu.reported_name && <span className="muted small"> {gpu.reported_name}</span>}
                </>
              )}
            </td>
            <td>
              <GpuState gpu={gpu} />
            </td>
            <td className="meter-cell">
              {gpu.utilisation_percent == null ? (
                <span className="muted">—</span>
              ) : (
                <>
                  <Meter value={gpu.utilisation_percent} max={100} label={`GPU ${gpu.index} utilisation`} />
                  <span className="num">{Math.round(gpu.utilisation_percent)} %</span>
                </>
              )}
            </td>
            <td className="meter-cell">
              {gpu.memory_total_mib == null ? (
                <span className="muted">—</span>
              ) : (
                <>
                  <Meter
                    value={gpu.memory_used_mib ?? 0}
                    max={gpu.memory_total_mib}
                    label={`GPU ${gpu.index} memory in use`}
                  />
                  <span className="num">{formatMemory(gpu.memory_used_mib, gpu.memory_total_mib)}</span>
                </>
              )}
            </td>
            <td className="num">{gpu.temperature_c == null ? "—" : `${Math.round(gpu.temperature_c)} °C`}</td>
            <td className="num">{formatPower(gpu)}</td>
            <td>
              {gpu.mig_mode === "unsupported"
                ? "—"
                : gpu.mig_mode === "enabled"
                  ? `on (${gpu.mig_instances.length} instances)`
                  : "off"}
            </td>
            <td className="num">{gpu.nvlink_active_links ?? "—"}</td>
            <td>
              {gpu.interconnect_domains.length === 0 ? (
                <span className="muted">—</span>
              ) : (
                gpu.interconnect_domains.map((domain) => (
                  <div key={domain.id} className="small" title={describeDomain(domain)}>
                    {domainName(domain)}
                  </div>
                ))
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function LastSeen({ node }: { node: Node }) {
  if (node.source === "manual" && !node.last_heartbeat_at) return <span className="muted">entered by hand</span>;
  return (
    <span className={node.stale ? "stale" : "muted"}>
      {node.stale && (
        <span className="badge badge-stale" title="No report for over three discovery intervals">
          stale
        </span>
      )}{" "}
      {node.last_heartbeat_at ? (
        <>
          last seen <RelativeTime iso={node.last_heartbeat_at} />
        </>
      ) : (
        "never reported"
      )}
    </span>
  );
}

function NodeRows({ node, expanded, onToggle }: { node: Node; expanded: boolean; onToggle: () => void }) {
  const panelId = useId();
  const { total, free } = node.accelerators;
  return (
    <>
      <tr className={node.stale ? "node-row node-stale" : "node-row"} data-testid={`node-${node.hostname}`}>
        <td>
          <button
            type="button"
            className="button-link disclosure"
            aria-expanded={expanded}
            aria-controls={panelId}
            onClick={onToggle}
          >
            <span aria-hidden="true">{expanded ? "▾" : "▸"}</span> {node.hostname}
          </button>
          <Link to={`/nodes/${node.id}`} className="small" aria-label={`${node.hostname}: its page and jobs`}>
            jobs ›
          </Link>
        </td>
        <td>
          <span className={`badge badge-node-${node.state}`} title={node.state_reason || undefined}>
            {node.state}
          </span>
        </td>
        <td className="num" data-testid="node-gpus">
          {total === 0 ? <span className="muted">none</span> : `${free} / ${total} free`}
        </td>
        <td className="num">{number1.format(node.cpus)}</td>
        <td className="num">{node.memory_bytes ? gib(node.memory_bytes) : "—"}</td>
        <td className="small">
          {node.driver_version || node.cuda_version ? (
            [node.driver_version && `driver ${node.driver_version}`, node.cuda_version && `CUDA ${node.cuda_version}`]
              .filter(Boolean)
              .join(" · ")
          ) : (
            <span className="muted">—</span>
          )}
        </td>
        <td>
          <LastSeen node={node} />
        </td>
      </tr>
      {expanded && (
        <tr className="node-detail">
          <td colSpan={7} id={panelId}>
            {node.state_reason && <p className="small muted">State: {node.state_reason}</p>}
            {node.interconnect_domains.length > 0 && (
              <p className="small">
                Interconnect: {node.interconnect_domains.map(describeDomain).join("; ")}
              </p>
            )}
            <GpuTable node={node} />
            <NodeNetwork nodeId={node.id} hostname={node.hostname} />
          </td>
        </tr>
      )}
    </>
  );
}

function ClusterSection({ cluster }: { cluster: Cluster }) {
  const [page, setPage] = useState(1);
  const [expanded, setExpanded] = useState<ReadonlySet<number>>(new Set());
  const nodes = useNodes({ cluster: cluster.name, page, page_size: INVENTORY_PAGE_SIZE });
  const data = nodes.data;
  const toggle = (id: number) =>
    setExpanded((current) => {
      const next = new Set(current);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  const titleId = useId();

  return (
    <section className="card cluster-card" aria-labelledby={titleId} data-testid={`cluster-${cluster.name}`}>
      <header className="cluster-header">
        <h3 id={titleId}>{cluster.name}</h3>
        <span className="muted">{cluster.kind}</span>
        <span
          className={`badge badge-cluster-${cluster.state}`}
          title={cluster.state_message || undefined}
          data-testid="cluster-state"
        >
          {cluster.state}
        </span>
        <span className="muted small">
          {cluster.last_seen_at ? (
            <>
              answered <RelativeTime iso={cluster.last_seen_at} />
            </>
          ) : (
            "never answered"
          )}
        </span>
        {cluster.dashboard_url ? (
          <a className="cluster-address" href={cluster.dashboard_url} target="_blank" rel="noreferrer noopener" title="Its Ray dashboard">
            <code>{cluster.address}</code>
          </a>
        ) : (
          <code className="cluster-address">{cluster.address}</code>
        )}
      </header>
      {cluster.state === "unreachable" && cluster.state_message && (
        <p className="status status-error small">{cluster.state_message}</p>
      )}
      {nodes.isPending ? (
        <Loading label="Loading nodes…" />
      ) : nodes.isError && !data ? (
        <ErrorState error={nodes.error} title="Could not load the nodes" onRetry={() => void nodes.refetch()} />
      ) : data && data.count === 0 ? (
        <EmptyState>No nodes discovered yet.</EmptyState>
      ) : data ? (
        <>
          <div className="table-scroll">
            <table className="table node-table" aria-label={`Nodes of ${cluster.name}`}>
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">State</th>
                  <th scope="col" className="num">GPUs</th>
                  <th scope="col" className="num">CPUs</th>
                  <th scope="col" className="num">Memory</th>
                  <th scope="col">Software</th>
                  <th scope="col">Last report</th>
                </tr>
              </thead>
              <tbody>
                {data.results.map((node) => (
                  <NodeRows
                    key={node.id}
                    node={node}
                    expanded={expanded.has(node.id)}
                    onToggle={() => toggle(node.id)}
                  />
                ))}
              </tbody>
            </table>
          </div>
          <Pager page={page} count={data.count} pageSize={INVENTORY_PAGE_SIZE} hasNext={Boolean(data.next)} onPage={setPage} />
        </>
      ) : null}
    </section>
  );
}

// --- storage and fabrics ---------------------------------------------------------------------
function StorageCapacity({ storage }: { storage: StorageBackend }) {
  const { capacity_bytes: capacity, used_bytes: used } = storage;
  if (capacity == null) return <span className="muted">{used == null ? "unknown" : `${formatStorage(used)} used`}</span>;
  const share = used == null ? null : percent(used, capacity);
  return (
    <span className="meter-cell">
      <Meter value={used ?? 0} max={capacity || 1} label={`${storage.name} capacity in use`} filling />
      <span className="num">
        {used == null ? "?" : formatStorage(used)} of {formatStorage(capacity)}
        {share != null && ` (${share} %)`}
      </span>
    </span>
  );
}

function StorageSection() {
  const [page, setPage] = useState(1);
  const storage = useStorageBackends(page);
  const data = storage.data;
  return (
    <section aria-labelledby="storage-title">
      <h2 id="storage-title">Storage</h2>
      {storage.isPending ? (
        <Loading label="Loading storage…" />
      ) : storage.isError && !data ? (
        <ErrorState error={storage.error} title="Could not load storage" onRetry={() => void storage.refetch()} />
      ) : data && data.count === 0 ? (
        <EmptyState>No storage backends yet. An organisation admin adds them through the API.</EmptyState>
      ) : data ? (
        <>
          <table className="table" aria-label="Storage backends">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Purpose</th>
                <th scope="col">Location</th>
                <th scope="col">Capacity</th>
                <th scope="col" className="num">Read / write</th>
                <th scope="col">Measured</th>
              </tr>
            </thead>
            <tbody>
              {data.results.map((s: StorageBackend) => (
                <tr key={s.id}>
                  <td>{s.name}</td>
                  <td>{s.kind}</td>
                  <td>{s.purpose}</td>
                  <td>
                    <code>{s.uri}</code>
                  </td>
                  <td>
                    <StorageCapacity storage={s} />
                  </td>
                  <td className="num">
                    {s.read_gbps == null && s.write_gbps == null
                      ? "—"
                      : `${s.read_gbps == null ? "?" : number1.format(s.read_gbps)} / ${
                          s.write_gbps == null ? "?" : number1.format(s.write_gbps)
                        } GB/s`}
                  </td>
                  <td>
                    <RelativeTime iso={s.measured_at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={page} count={data.count} pageSize={INVENTORY_PAGE_SIZE} hasNext={Boolean(data.next)} onPage={setPage} />
        </>
      ) : null}
    </section>
  );
}

function FabricSection() {
  const [page, setPage] = useState(1);
  const fabrics = useNetworkFabrics(page);
  const data = fabrics.data;
  return (
    <section aria-labelledby="fabrics-title">
      <h2 id="fabrics-title">Network fabrics</h2>
      {fabrics.isPending ? (
        <Loading label="Loading network fabrics…" />
      ) : fabrics.isError && !data ? (
        <ErrorState
          error={fabrics.error}
          title="Could not load network fabrics"
          onRetry={() => void fabrics.refetch()}
        />
      ) : data && data.count === 0 ? (
        <EmptyState>No network fabrics yet. An organisation admin adds them through the API.</EmptyState>
      ) : data ? (
        <>
          <table className="table" aria-label="Network fabrics">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col" className="num">Per node</th>
                <th scope="col">RDMA</th>
                <th scope="col" className="num">Nodes</th>
              </tr>
            </thead>
            <tbody>
              {data.results.map((f: NetworkFabric) => (
                <tr key={f.id}>
                  <td>{f.name}</td>
                  <td>{f.kind}</td>
                  <td className="num">{number1.format(f.gbps_per_node)} Gbit/s</td>
                  <td>{f.rdma ? "yes" : "no"}</td>
                  <td className="num">{f.nodes?.length ?? 0}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={page} count={data.count} pageSize={INVENTORY_PAGE_SIZE} hasNext={Boolean(data.next)} onPage={setPage} />
        </>
      ) : null}
    </section>
  );
}

// --- the page ---------------------------------------------------------------------------------
export function InventoryPage() {
  const me = useMe().data;
  const [params, setParams] = useSearchParams();
  const selected = params.get("cluster") ?? "";
  const clusters = useLiveClusters();
  const shown = (clusters.data ?? []).filter((c) => !selected || c.name === selected);

  const selectCluster = (name: string) => {
    const next = new URLSearchParams(params);
    if (name) next.set("cluster", name);
    else next.delete("cluster");
    setParams(next);
  };

  return (
    <section className="inventory">
      <div className="page-header">
        <h1>Inventory</h1>
        {(me?.is_staff || (me?.administers.length ?? 0) > 0) && <Link to="/idle-gpus">Idle GPUs</Link>}
      </div>
      <form className="filters" aria-label="Filter the inventory" onSubmit={(e) => e.preventDefault()}>
        <label>
          Cluster
          <select value={selected} onChange={(e) => selectCluster(e.target.value)}>
            <option value="">All clusters</option>
            {(clusters.data ?? []).map((c) => (
              <option key={c.name} value={c.name}>
                {c.name}
              </option>
            ))}
            {/* Keep a cluster from the URL selectable even before (or without) the list. */}
            {selected && !clusters.data?.some((c) => c.name === selected) && (
              <option value={selected}>{selected}</option>
            )}
          </select>
        </label>
      </form>

      <GpuOverview cluster={selected || undefined} />

      <h2>Clusters</h2>
      {clusters.isPending ? (
        <Loading label="Loading clusters…" />
      ) : clusters.isError ? (
        <ErrorState error={clusters.error} title="Could not load clusters" onRetry={() => void clusters.refetch()} />
      ) : shown.length === 0 ? (
        <EmptyState>
          {selected
            ? `No cluster named ${selected}.`
            : "No clusters yet. An operator registers one in the admin; discovery then finds its nodes and GPUs."}
        </EmptyState>
      ) : (
        <div className="cluster-list">
          {shown.map((cluster) => (
            <ClusterSection key={cluster.name} cluster={cluster} />
          ))}
        </div>
      )}

      <StorageSection />
      <FabricSection />
    </section>
  );
}
