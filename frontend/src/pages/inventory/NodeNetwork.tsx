import { useNodeNetwork } from "../../api/telemetry";
import { RelativeTime } from "../../components/RelativeTime";
import { ErrorState } from "../../components/Status";
import { formatBytes } from "../../lib/units";

/** "1.2 GB/s" (SI, as NICs are rated); a dash for none. */
export function formatByteRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond, { si: true })}/s`;
}

/** A node's network traffic per interface (NICs and InfiniBand ports), from its host agent. */
export function NodeNetwork({ nodeId, hostname }: { nodeId: number; hostname: string }) {
  const network = useNodeNetwork(nodeId);
  if (network.isPending) return <p className="small muted">Loading network traffic…</p>;
  if (network.isError && !network.data) {
    return <ErrorState error={network.error} title="Could not load the network traffic" onRetry={() => void network.refetch()} />;
  }
  const interfaces = network.data ?? [];
  if (interfaces.length === 0) {
    return <p className="small muted">No network traffic reported (the host agent reports it).</p>;
  }
  return (
    <table className="table table-compact" aria-label={`Network traffic of ${hostname}`} data-testid="node-network">
      <thead>
        <tr>
          <th scope="col">Interface</th>
          <th scope="col">Kind</th>
          <th scope="col" className="num">Received</th>
          <th scope="col" className="num">Sent</th>
          <th scope="col">Reading</th>
        </tr>
      </thead>
      <tbody>
        {interfaces.map((n) => (
          <tr key={n.id}>
            <td>
              <code>{n.interface}</code>
            </td>
            <td>{n.kind === "infiniband" ? "InfiniBand" : "Ethernet"}</td>
            <td className="num">{formatByteRate(n.rx_bytes_per_second)}</td>
            <td className="num">{formatByteRate(n.tx_bytes_per_second)}</td>
            <td>
              <RelativeTime iso={n.reading_at} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
