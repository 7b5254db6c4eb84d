import type { TrafficShare } from "../../api/serving";

/** The share of requests each revision takes, as one horizontal bar (a legend says it in words too). */
export function TrafficBar({ traffic }: { traffic: readonly TrafficShare[] }) {
  const shares = traffic.filter((t) => t.percent > 0);
  if (shares.length === 0) return <p className="muted small">No revision takes traffic.</p>;
  const words = shares.map((t) => `revision ${t.number}: ${t.percent} %`).join(", ");
  return (
    <div data-testid="traffic">
      <div className="traffic-bar" role="img" aria-label={`Traffic split: ${words}`}>
        {shares.map((t, i) => (
          <span
            key={t.revision}
            className={`traffic-${i % 4}`}
            style={{ width: `${t.percent}%` }}
            title={`Revision ${t.number} (${t.state}): ${t.percent} %`}
            data-testid={`traffic-${t.number}`}
          >
            #{t.number} · {t.percent} %
          </span>
        ))}
      </div>
    </div>
  );
}
