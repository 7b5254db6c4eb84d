import type { EndpointCost } from "../../api/serving";
import { formatMoney } from "../../lib/units";

const hours = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

/** What the endpoint has cost, and per unit of work; the note says why when it has no price. */
export function CostCard({ cost }: { cost: EndpointCost }) {
  const money = (amount: string | null) => formatMoney(amount, cost.currency);
  return (
    <section className="card" aria-labelledby="cost-heading" data-testid="cost">
      <h2 id="cost-heading">Cost</h2>
      <dl className="stat-row">
        <div>
          <dt>So far</dt>
          <dd data-testid="cost-so-far">{money(cost.so_far)}</dd>
        </div>
        <div>
          <dt>Per 1,000 requests</dt>
          <dd data-testid="cost-per-1k-requests">{money(cost.per_1k_requests)}</dd>
        </div>
        <div>
          <dt>Per 1,000 generated tokens</dt>
          <dd data-testid="cost-per-1k-tokens">{money(cost.per_1k_tokens)}</dd>
        </div>
      </dl>
      {cost.priced ? (
        <p className="small muted" data-testid="cost-basis">
          {money(cost.price_per_replica_hour)} per replica-hour × {hours.format(cost.replica_hours)} replica-hours.
        </p>
      ) : (
        <p className="small" data-testid="cost-note">
          Not priced: {cost.note || "its pool has no price."}
        </p>
      )}
    </section>
  );
}
