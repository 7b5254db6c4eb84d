import { JOB_COST_REFRESH_MS, useJobCost, type AppliedPrice, type AttemptCost } from "../../api/costs";
import { StateBadge } from "../../components/StateBadge";
import { ErrorState, Loading, errorMessage } from "../../components/Status";
import { formatElapsed, formatHours, formatMoney } from "../../lib/units";

const when = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short" });
const count = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

const at = (iso: string | null | undefined) => (iso ? when.format(new Date(iso)) : "—");

/** "8 × H100 SXM", "4 CPUs". */
function attemptResources(a: AttemptCost): string {
  const n = Number(a.count);
  if (a.resource === "gpu") return `${count.format(n)} × ${a.accelerator_model ?? "GPU"}`;
  return `${count.format(n)} CPU${n === 1 ? "" : "s"}`;
}

/** "USD 2.49 per GPU-hour · on demand · AWS p5… · 03/12/2026, 08:00 – 09:30 · USD 29.88" */
function Price({ price, resource }: { price: AppliedPrice; resource: AttemptCost["resource"] }) {
  return (
    <li>
      <strong>
        {price.rate == null ? "no price" : `${formatMoney(price.rate, price.currency)} per ${resource === "gpu" ? "GPU" : "CPU"}-hour`}
      </strong>{" "}
      · {price.pricing_class.replace(/_/g, " ")}
      {price.offer && <> · {price.offer}</>} ·{" "}
      <span className="muted">
        {at(price.from)} – {price.until ? at(price.until) : "now"}
      </span>{" "}
      · {formatMoney(price.amount, price.currency)}
    </li>
  );
}

function AttemptCosts({ attempts }: { attempts: readonly AttemptCost[] }) {
  return (
    <table className="table table-compact" data-testid="job-cost-attempts" aria-label="Cost per attempt">
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">State</th>
          <th scope="col">Resources</th>
          <th scope="col" className="num">
            Time
          </th>
          <th scope="col" className="num">
            Cost
          </th>
          <th scope="col">Prices applied</th>
        </tr>
      </thead>
      <tbody>
        {attempts.map((a) => (
          <tr key={`${a.attempt}-${a.resource}`} data-testid={`attempt-cost-${a.number}`}>
            <td className="num">{a.number}</td>
            <td>
              <StateBadge state={a.state} />
            </td>
            <td className="nowrap">{attemptResources(a)}</td>
            <td className="num">{formatElapsed(a.seconds)}</td>
            <td className="num">{a.currency ? formatMoney(a.amount, a.currency) : <span className="muted">no price</span>}</td>
            <td>
              {a.prices.length === 0 ? (
                <span className="muted">No price applied: its resources have none.</span>
              ) : (
                <ul className="price-list">
                  {a.prices.map((p, i) => (
                    <Price key={i} price={p} resource={a.resource} />
                  ))}
                </ul>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * What the job has cost: the ledger plus what is not yet accrued while it runs (asked every 10 s
 * then), its GPU-hours, what it costs per hour now, and per attempt the prices that applied.
 */
export function JobCostCard({ jobId }: { jobId: number }) {
  const cost = useJobCost(jobId);
  let body;
  if (cost.isPending) body = <Loading label="Loading the cost…" />;
  else if (cost.isError && !cost.data) {
    body = <ErrorState error={cost.error} title="Could not load the cost" onRetry={() => void cost.refetch()} />;
  } else {
    const c = cost.data;
    const cpu = Number(c.cpu_hours) > 0;
    body = (
      <>
        <dl className="stat-row">
          <div>
            <dt>{c.running ? "Cost so far" : "Cost"}</dt>
            <dd data-testid="job-cost-so-far">
              {c.currency ? formatMoney(c.live_amount, c.currency) : <span className="muted">no price</span>}
            </dd>
          </div>
          <div>
            <dt>GPU-hours</dt>
            <dd data-testid="job-cost-gpu-hours">{formatHours(c.gpu_hours)}</dd>
          </div>
          {cpu && (
            <div>
              <dt>CPU-hours</dt>
              <dd data-testid="job-cost-cpu-hours">{formatHours(c.cpu_hours)}</dd>
            </div>
          )}
          <div>
            <dt>Rate now</dt>
            <dd data-testid="job-cost-rate">
              {c.rate_per_hour != null ? (
                `${formatMoney(c.rate_per_hour, c.currency)} per hour`
              ) : (
                <span className="muted">{c.running ? "no price" : "not running"}</span>
              )}
            </dd>
          </div>
        </dl>
        {c.running && (
          <p className="small muted" data-testid="job-cost-live">
            Running: the cost grows at the rate above, refreshed every {JOB_COST_REFRESH_MS / 1000} s.
          </p>
        )}
        {cost.isError && (
          <p className="small text-short" role="alert">
            Could not refresh: {errorMessage(cost.error)}
          </p>
        )}
        {c.attempts.length === 0 ? (
          <p className="muted" data-testid="job-cost-nothing">
            Nothing charged yet: no attempt has run.
          </p>
        ) : (
          <AttemptCosts attempts={c.attempts} />
        )}
      </>
    );
  }
  return (
    <section className="card job-cost" aria-labelledby="job-cost-heading" data-testid="job-cost">
      <h2 id="job-cost-heading">Cost</h2>
      {body}
    </section>
  );
}
