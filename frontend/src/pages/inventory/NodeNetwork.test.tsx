import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { mockApi, renderPage } from "../../test/utils";
import { NodeNetwork, formatByteRate } from "./NodeNetwork";

describe("NodeNetwork", () => {
  it("shows each interface's traffic, NICs and InfiniBand ports", async () => {
    const { calls } = mockApi({
      "GET /api/v1/node-network/": {
        body: {
          count: 2,
          next: null,
          previous: null,
          results: [
            { id: 1, node: 5, hostname: "h200-2", interface: "eth0", kind: "ethernet", rx_bytes_per_second: 1.25e6, tx_bytes_per_second: 300, reading_at: "2026-03-02T10:00:00Z" },
            { id: 2, node: 5, hostname: "h200-2", interface: "mlx5_0/1", kind: "infiniband", rx_bytes_per_second: 4.8e10, tx_bytes_per_second: 2.1e10, reading_at: "2026-03-02T10:00:00Z" },
          ],
        },
      },
    });
    renderPage(<NodeNetwork nodeId={5} hostname="h200-2" />);
    const table = await screen.findByRole("table", { name: "Network traffic of h200-2" });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows[0]).toHaveTextContent(/eth0.*Ethernet.*1\.3 MB\/s.*300 B\/s/);
    expect(rows[1]).toHaveTextContent(/mlx5_0\/1.*InfiniBand.*48 GB\/s.*21 GB\/s/);
    expect(calls[0]!.url.searchParams.get("node")).toBe("5");
  });

  it("says so when the node reported no traffic", async () => {
    mockApi({ "GET /api/v1/node-network/": { body: { count: 0, next: null, previous: null, results: [] } } });
    renderPage(<NodeNetwork nodeId={5} hostname="h200-2" />);
    expect(await screen.findByText(/No network traffic reported/)).toBeInTheDocument();
  });

  it("formats rates in SI units", () => {
    expect(formatByteRate(2_500_000_000)).toBe("2.5 GB/s");
  });
});
