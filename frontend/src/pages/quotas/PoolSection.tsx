import { useMutation, useQueryClient } from "@tanstack/react-query";
import type { ChartConfiguration, ChartData } from "chart.js";
import { useId, useState, type FormEvent } from "react";
import { ApiError } from "../../api/client";
import { api } from "../../api/endpoints";
import type { Quota, QuotaChanges, SchedulingPool } from "../../api/models";
import { queryKeys } from "../../api/queries";
import { errorMessage } from "../../components/Status";
import { loadBarChart } from "../../lib/chart";
import { useChart } from "../../hooks/useChart";
import { assignErrors, type FlatErrors } from "../../lib/fieldErrors";

const number2 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

/** "8 GPUs", "1 GPU", "64 CPUs" */
export function units(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? "" : "s"}`;
}

// --- what a quota's use is made of -------------------------------------------------------------
interface QuotaParts {
  withinGuarantee: number;
  borrowed: number;
  lent: number;
  idle: number;
}

/** Used splits into the part within the guarantee and the part borrowed; the rest of the
 * guarantee is either lent to other teams of the cohort or idle. */
export function quotaParts(quota: Quota): QuotaParts {
  const guaranteed = quota.guaranteed ?? 0;
  const withinGuarantee = Math.max(0, Math.min(quota.used - quota.borrowed, guaranteed));
  const lent = Math.max(0, Math.min(quota.lent, guaranteed - withinGuarantee));
  return {
    withinGuarantee,
    borrowed: quota.borrowed,
    lent,
    idle: Math.max(0, guaranteed - withinGuarantee - lent),
  };
}

// --- the figure: one stacked bar per team of the pool (Chart.js, loaded with this page only) ------
const SERIES = [
  { key: "withinGuarantee", label: "Used within guarantee", colour: "#2f5bd3" },
  { key: "borrowed", label: "Borrowed", colour: "#d9822b" },
  { key: "lent", label: "Lent to others", colour: "#1b9aaa" },
  { key: "idle", label: "Idle guarantee", colour: "#c5ccd8" },
] as const;

type BarData = ChartData<"bar", number[], string>;

function chartData(quotas: readonly Quota[]): BarData {
  const parts = quotas.map(quotaParts);
  return {
    labels: quotas.map((q) => q.team),
    datasets: SERIES.map((series) => ({
      label: series.label,
      data: parts.map((p) => p[series.key]),
      backgroundColor: series.colour,
      stack: "quota",
      categoryPercentage: 0.85,
      barPercentage: 0.9,
      maxBarThickness: 28,
    })),
  };
}

function chartConfig(data: BarData, unit: string): ChartConfiguration<"bar", number[], string> {
  return {
    type: "bar",
    data,
    options: {
      indexAxis: "y",
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: `${unit}s` } },
        y: { stacked: true },
      },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
    },
  };
}

function QuotaChart({ pool, quotas }: { pool: string; quotas: readonly Quota[] }) {
  const unit = quotas[0]?.unit ?? "GPU";
  const described = quotas
    .map((q) => {
      const p = quotaParts(q);
      return `${q.team}: ${p.withinGuarantee} used within guarantee, ${p.borrowed} borrowed, ${p.lent} lent, ${p.idle} idle`;
    })
    .join("; ");
  // The description holds every number drawn: redraw when (and only when) it changes.
  const { canvas, failed } = useChart<"bar", number[], string>(
    loadBarChart,
    () => chartConfig(chartData(quotas), unit),
    `${unit} ${described}`,
  );

  return (
    <div className="gpu-chart" style={{ height: `${96 + 36 * quotas.length}px` }}>
      {failed ? (
        <p className="muted">The figure could not be loaded; the table below has the same numbers.</p>
      ) : (
        <canvas ref={canvas} role="img" aria-label={`Quota use in pool ${pool}. ${described}`} />
      )}
    </div>
  );
}

// --- a team's row, and its inline edit for organisation admins -----------------------------------
const EDIT_FIELDS = ["guaranteed", "max", "lending_limit", "weight"] as const;
type EditField = (typeof EDIT_FIELDS)[number];
type EditValues = Record<EditField, string>;

function editValues(quota: Quota): EditValues {
  return {
    guaranteed: String(quota.guaranteed ?? 0),
    max: quota.max == null ? "" : String(quota.max),
    lending_limit: quota.lending_limit == null ? "" : String(quota.lending_limit),
    weight: String(quota.weight ?? 1),
  };
}

/** The PATCH body, or the fields the browser can already see are wrong. */
export function buildQuotaChanges(values: EditValues): { changes: QuotaChanges | null; errors: FlatErrors } {
  const errors: FlatErrors = {};
  const whole = (field: EditField, blankMeans: null | undefined): number | null => {
    const text = values[field].trim();
    if (text === "" && blankMeans === null) return null;
    const n = Number(text);
    if (text === "" || !Number.isInteger(n) || n < 0) errors[field] = ["Enter a whole number, 0 or more."];
    return n;
  };
  const guaranteed = whole("guaranteed", undefined);
  const max = whole("max", null);
  const lendingLimit = whole("lending_limit", null);
  const weight = Number(values.weight.trim());
  if (values.weight.trim() === "" || !Number.isFinite(weight) || weight <= 0) errors.weight = ["Enter a number above 0."];
  if (Object.keys(errors).length) return { changes: null, errors };
  return { changes: { guaranteed: guaranteed ?? 0, max, lending_limit: lendingLimit, weight }, errors };
}

function FieldErrorList({ messages }: { messages: string[] | undefined }) {
  if (!messages?.length) return null;
  return (
    <ul className="field-errors">
      {messages.map((m, i) => (
        <li key={i}>{m}</li>
      ))}
    </ul>
  );
}

function QuotaRow({ quota, editable }: { quota: Quota; editable: boolean }) {
  const queryClient = useQueryClient();
  const [values, setValues] = useState<EditValues | null>(null);
  const [clientErrors, setClientErrors] = useState<FlatErrors>({});
  const formId = useId();
  const save = useMutation({
    mutationFn: (changes: QuotaChanges) => api.updateQuota(quota.id, changes),
    onSuccess: (updated) => {
      queryClient.setQueryData(queryKeys.quotas, (prev: Awaited<ReturnType<typeof api.quotas>> | undefined) =>
        prev ? { ...prev, results: prev.results.map((q) => (q.id === updated.id ? updated : q)) } : prev,
      );
      // What the scheduler admits next may change with the quota.
      for (const key of [queryKeys.quotas, queryKeys.pools, ["queue"], ["jobs"]]) {
        void queryClient.invalidateQueries({ queryKey: key });
      }
      setValues(null);
    },
  });

  const server =
    save.error instanceof ApiError && save.error.status === 400
      ? assignErrors(save.error.body, EDIT_FIELDS)
      : { fields: {}, general: save.error ? [errorMessage(save.error)] : [] };
  const errorsFor = (field: EditField) => [...(clientErrors[field] ?? []), ...(server.fields[field] ?? [])];

  const start = () => {
    save.reset();
    setClientErrors({});
    setValues(editValues(quota));
  };
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (!values) return;
    const { changes, errors } = buildQuotaChanges(values);
    setClientErrors(errors);
    if (changes === null) return;
    save.reset();
    save.mutate(changes);
  };
  const input = (field: EditField, label: string, placeholder?: string) =>
    values && (
      <>
        <input
          form={formId}
          name={field}
          className="quota-input"
          inputMode="decimal"
          aria-label={`${label} for ${quota.team}`}
          aria-invalid={errorsFor(field).length > 0 || undefined}
          placeholder={placeholder}
          value={values[field]}
          onChange={(e) => setValues((prev) => prev && { ...prev, [field]: e.target.value })}
        />
        <FieldErrorList messages={errorsFor(field)} />
      </>
    );

  return (
    <>
      <tr data-testid={`quota-${quota.pool}-${quota.team}`}>
        <th scope="row">{quota.team}</th>
        <td className="num" data-testid="quota-guaranteed">
          {values ? input("guaranteed", "Guaranteed") : quota.guaranteed}
        </td>
        <td className="num" data-testid="quota-max">
          {values ? (
            input("max", "Max", "∞")
          ) : quota.max == null ? (
            <span title="No ceiling of its own: as much as the cohort lends">∞</span>
          ) : (
            quota.max
          )}
        </td>
        <td className="num" data-testid="quota-used">
          <meter
            min={0}
            max={Math.max(quota.guaranteed ?? 0, quota.used, 1)}
            value={quota.used}
            aria-label={`${quota.team} use against its guarantee`}
          />{" "}
          {quota.used}
        </td>
        <td className="num" data-testid="quota-borrowed">
          {quota.borrowed}
        </td>
        <td className="num" data-testid="quota-lent">
          {quota.lent}
        </td>
        <td className="num" data-testid="quota-lending-limit">
          {values ? (
            input("lending_limit", "Lending limit", "all")
          ) : quota.lending_limit == null ? (
            <span className="muted" title="Others may borrow all of its idle guarantee">
              all
            </span>
          ) : (
            quota.lending_limit
          )}
        </td>
        <td className="num" data-testid="quota-weight">
          {values ? input("weight", "Weight") : number2.format(quota.weight ?? 1)}
        </td>
        <td className="num" data-testid="quota-memory">
          {quota.memory_guaranteed_gb == null ? (
            <span className="muted" title="Its quota guarantees no memory here: its memory is not counted">
              not counted
            </span>
          ) : (
            <span title="GB of memory in use, of its guarantee (and its max)">
              {quota.memory_used_gb} of {quota.memory_guaranteed_gb}
              {quota.memory_max_gb != null ? ` (max ${quota.memory_max_gb})` : ""}
            </span>
          )}
        </td>
        {editable && (
          <td className="nowrap">
            {values ? (
              <form id={formId} className="quota-actions" onSubmit={onSubmit} aria-label={`Edit the quota of ${quota.team}`}>
                <button type="submit" disabled={save.isPending}>
                  {save.isPending ? "Saving…" : "Save"}
                </button>
                <button type="button" className="button-secondary" onClick={() => setValues(null)} disabled={save.isPending}>
                  Cancel
                </button>
              </form>
            ) : (
              <button type="button" className="button-secondary" onClick={start} aria-label={`Edit the quota of ${quota.team}`}>
                Edit
              </button>
            )}
          </td>
        )}
      </tr>
      {values && server.general.length > 0 && (
        <tr>
          <td colSpan={10}>
            <div className="form-error" role="alert">
              {server.general.map((m, i) => (
                <p key={i}>{m}</p>
              ))}
            </div>
          </td>
        </tr>
      )}
    </>
  );
}

// --- a pool ------------------------------------------------------------------------------------
export function PoolSection({ name, pool, quotas, editable }: {
  name: string;
  pool: SchedulingPool | undefined;
  quotas: readonly Quota[];
  editable: boolean;
}) {
  const titleId = useId();
  const unit = pool?.unit ?? quotas[0]?.unit ?? "GPU";
  const guaranteed = quotas.reduce((sum, q) => sum + (q.guaranteed ?? 0), 0);
  return (
    <section className="card pool-card" aria-labelledby={titleId} data-testid={`pool-${name}`}>
      <header className="cluster-header">
        <h2 id={titleId}>{name}</h2>
        {pool && (
          <span className="muted">
            {pool.cluster} · {pool.accelerator_model ?? "CPUs"}
          </span>
        )}
      </header>
      {pool && (
        <p className="overview-totals" data-testid="pool-totals">
          <strong>{units(pool.capacity, unit)}</strong>: {pool.used} used · <span className="text-free">{pool.free} free</span>{" "}
          · {pool.pending} pending {pool.pending === 1 ? "job" : "jobs"}
          {guaranteed > 0 && <span className="muted"> · {guaranteed} guaranteed to teams</span>}
        </p>
      )}
      <QuotaChart pool={name} quotas={quotas} />
      <div className="table-scroll">
        <table className="table table-compact quota-table" data-testid="quotas" aria-label={`Quotas in ${name}`}>
          <thead>
            <tr>
              <th scope="col">Team</th>
              <th scope="col" className="num" title={`${unit}s always there for the team`}>
                Guaranteed
              </th>
              <th scope="col" className="num" title="Burst ceiling, borrowing from the cohort">
                Max
              </th>
              <th scope="col" className="num" title="Held now by its admitted and running jobs">
                Used
              </th>
              <th scope="col" className="num" title="Used above its guarantee, lent by its cohort">
                Borrowed
              </th>
              <th scope="col" className="num" title="Its idle guarantee that other teams of its cohort use">
                Lent
              </th>
              <th scope="col" className="num" title="How much of its idle guarantee others may borrow">
                Lending limit
              </th>
              <th scope="col" className="num" title="Fair-share weight among borrowers">
                Weight
              </th>
              <th scope="col" className="num" title="GB of memory in use, of the team's memory guarantee (API and admin set it)">
                Memory (GB)
              </th>
              {editable && (
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {quotas.map((quota) => (
              <QuotaRow key={quota.id} quota={quota} editable={editable} />
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
