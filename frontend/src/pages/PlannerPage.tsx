import type { ChartConfiguration, ChartData } from "chart.js";
import { useState, type ReactNode } from "react";
import type { Breakdown, Estimate, PlanMode, PlannerOptions, PlanSpec, Recommendation } from "../api/models";
import { usePlannerOptions } from "../api/queries";
import { Field } from "../components/Field";
import { FitBadge, MemoryUse } from "../components/PlanFit";
import { EmptyState, ErrorState, Loading } from "../components/Status";
import { useLiveEstimate } from "../hooks/useLiveEstimate";
import { loadBarChart } from "../lib/chart";
import { useChart } from "../hooks/useChart";
import { assignErrors, type FlatErrors } from "../lib/fieldErrors";
import {
  ATTENTION,
  BASE_PRECISIONS,
  CHECKPOINTING,
  INITIAL_MODEL,
  INITIAL_WORKLOAD,
  KV_PRECISIONS,
  MODE_FIELDS,
  MODEL_SOURCES,
  PLAN_FIELD_PATHS,
  ZERO_STAGES,
  architectureValues,
  buildModel,
  buildWorkload,
  changeMode,
  isTraining,
  modeLabel,
  precisionsFor,
  type ModelSource,
  type ModelValues,
  type WorkloadKey,
  type WorkloadValues,
} from "../lib/planSpec";
import { formatBytes, formatCount, formatDuration, formatFlops, formatMoney, formatPercent } from "../lib/units";

/** The model a fresh form starts with, when the options list it. */
const DEFAULT_MODEL = "llama-2-7b";
/** The mode a fresh form starts with: fine-tuning that fits one ordinary GPU. */
const DEFAULT_MODE: PlanMode = "qlora";
/** The cheapest fitting configurations asked for with every estimate. */
const RECOMMENDATIONS = 5;

const FIELD_PATHS: readonly string[] = [
  ...PLAN_FIELD_PATHS,
  "hardware",
  "hardware.accelerator",
  "hardware.gpus",
  "hardware.gpus_per_node",
  "recommendations",
];

// --- hardware: a pool of the inventory or a catalog accelerator --------------------------------
interface HardwareValues {
  /** "pool:<name>" or "accelerator:<name>" */
  choice: string;
  gpus: string;
}

function inventoryPools(options: PlannerOptions) {
  return options.pools.filter((pool) => pool.cluster !== null);
}

function initialHardware(options: PlannerOptions): HardwareValues {
  const pool = inventoryPools(options)[0];
  if (pool) return { choice: `pool:${pool.name}`, gpus: "1" };
  // No inventory: the pools are the priced catalog accelerators.
  const accelerator = options.pools[0]?.accelerator ?? options.accelerators[0];
  return { choice: accelerator ? `accelerator:${accelerator}` : "", gpus: "1" };
}

function buildHardware(values: HardwareValues, options: PlannerOptions): { hardware: PlanSpec["hardware"] | null; errors: FlatErrors } {
  const errors: FlatErrors = {};
  const gpus = Number(values.gpus.trim());
  if (values.gpus.trim() === "" || !Number.isInteger(gpus)) errors["hardware.gpus"] = ["Enter a whole number of GPUs."];
  const [kind, ...rest] = values.choice.split(":");
  const name = rest.join(":");
  let hardware: PlanSpec["hardware"] | null = null;
  if (kind === "pool") {
    const pool = options.pools.find((p) => p.name === name);
    if (pool) hardware = { accelerator: pool.accelerator, gpus, gpus_per_node: pool.gpus_per_node };
  } else if (kind === "accelerator" && name) {
    hardware = { accelerator: name, gpus };
  }
  if (hardware === null) errors["hardware.accelerator"] = ["Choose a pool or an accelerator."];
  return { hardware: Object.keys(errors).length ? null : hardware, errors };
}

function buildSpec(model: ModelValues, workload: WorkloadValues, hardware: HardwareValues, options: PlannerOptions) {
  const m = buildModel(model);
  const w = buildWorkload(workload);
  const h = buildHardware(hardware, options);
  const errors = { ...m.errors, ...w.errors, ...h.errors };
  const spec: PlanSpec | null =
    m.model && w.workload && h.hardware
      ? { model: m.model, workload: w.workload, hardware: h.hardware, recommendations: RECOMMENDATIONS }
      : null;
  return { spec, errors };
}

/** The options give a pool's price without its currency, so the number goes without a symbol. */
function priceHint(options: PlannerOptions, accelerator: string): string {
  const pool = options.pools.find((p) => p.accelerator === accelerator && p.price_per_gpu_hour != null);
  return pool ? ` — ${formatMoney(pool.price_per_gpu_hour, null)} per GPU-hour` : "";
}

// --- the page ---------------------------------------------------------------------------------
export function PlannerPage() {
  const options = usePlannerOptions();
  return (
    <section className="planner-page">
      <h1>Capacity planner</h1>
      <p className="muted intro">
        Memory per GPU, fit, time and cost of training or serving a model, and the cheapest configurations that fit.
      </p>
      {options.isPending ? (
        <Loading label="Loading models and accelerators…" />
      ) : options.isError ? (
        <ErrorState error={options.error} title="Could not load the planner" onRetry={() => void options.refetch()} />
      ) : (
        <Planner options={options.data} />
      )}
    </section>
  );
}

function Planner({ options }: { options: PlannerOptions }) {
  const [model, setModel] = useState<ModelValues>(() => ({
    ...INITIAL_MODEL,
    name: options.models.find((m) => m.name === DEFAULT_MODEL)?.name ?? options.models[0]?.name ?? "",
  }));
  // QLoRA of a 7B model fits one GPU of 16 GB or more: the page opens on an example that fits.
  const [workload, setWorkload] = useState<WorkloadValues>(() => changeMode(INITIAL_WORKLOAD, DEFAULT_MODE, options));
  const [hardware, setHardware] = useState<HardwareValues>(() => initialHardware(options));

  const built = buildSpec(model, workload, hardware, options);
  const live = useLiveEstimate(built.spec);
  const server = live.refused === null ? { fields: {}, general: [] } : assignErrors(live.refused, FIELD_PATHS);
  const errorsFor = (path: string) => [...(built.errors[path] ?? []), ...(server.fields[path] ?? [])];

  const apply = (row: Recommendation) => {
    const pool = inventoryPools(options).find((p) => p.name === row.pool);
    setHardware({ choice: pool ? `pool:${pool.name}` : `accelerator:${row.accelerator}`, gpus: String(row.gpus) });
    setWorkload((w) => ({
      ...w,
      tp: String(row.tp),
      zeroStage: row.zero_stage == null ? w.zeroStage : String(row.zero_stage),
      activationCheckpointing: row.activation_checkpointing ?? w.activationCheckpointing,
    }));
  };

  return (
    <>
      <div className="planner">
        <PlanForm
          options={options}
          model={model}
          setModel={setModel}
          workload={workload}
          setWorkload={setWorkload}
          hardware={hardware}
          setHardware={setHardware}
          errorsFor={errorsFor}
        />
        <div className="planner-results">
          {server.general.length > 0 && (
            <div className="form-error" role="alert" data-testid="plan-errors">
              <strong>The planner cannot estimate this:</strong>
              {server.general.map((m, i) => (
                <p key={i}>{m}</p>
              ))}
            </div>
          )}
          {live.failure ? (
            <ErrorState error={live.failure} title="Could not estimate" onRetry={live.retry} />
          ) : live.estimate ? (
            <Results estimate={live.estimate} stale={!live.current} pending={live.pending} />
          ) : live.pending ? (
            <Loading label="Estimating…" />
          ) : (
            <EmptyState>Fill in the model, the workload and the hardware to see an estimate.</EmptyState>
          )}
        </div>
      </div>
      {live.estimate && <Recommendations estimate={live.estimate} onApply={apply} />}
    </>
  );
}

// --- the form ---------------------------------------------------------------------------------
interface PlanFormProps {
  options: PlannerOptions;
  model: ModelValues;
  setModel: (update: (prev: ModelValues) => ModelValues) => void;
  workload: WorkloadValues;
  setWorkload: (update: (prev: WorkloadValues) => WorkloadValues) => void;
  hardware: HardwareValues;
  setHardware: (update: (prev: HardwareValues) => HardwareValues) => void;
  errorsFor: (path: string) => string[];
}

function FieldsetErrors({ messages }: { messages: string[] }) {
  if (messages.length === 0) return null;
  return (
    <ul className="field-errors">
      {messages.map((m, i) => (
        <li key={i}>{m}</li>
      ))}
    </ul>
  );
}

function Options({ values, label = (v: string) => v }: { values: readonly string[]; label?: (v: string) => string }) {
  return (
    <>
      {values.map((v) => (
        <option key={v} value={v}>
          {label(v)}
        </option>
      ))}
    </>
  );
}

function PlanForm({ options, model, setModel, workload, setWorkload, hardware, setHardware, errorsFor }: PlanFormProps) {
  const setM =
    (key: keyof ModelValues) =>
    (event: { target: { value: string } }) =>
      setModel((prev) => ({ ...prev, [key]: event.target.value }));
  const setW =
    (key: keyof WorkloadValues) =>
    (event: { target: { value: string } }) =>
      setWorkload((prev) => ({ ...prev, [key]: event.target.value }));
  const setH =
    (key: keyof HardwareValues) =>
    (event: { target: { value: string } }) =>
      setHardware((prev) => ({ ...prev, [key]: event.target.value }));

  const onSource = (event: { target: { value: string } }) => {
    const source = event.target.value as ModelSource;
    setModel((prev) => {
      // A custom architecture starts from the known model's shape, when its fields are empty.
      const known = options.models.find((m) => m.name === prev.name);
      const seed = source === "architecture" && known && !prev.hidden ? architectureValues(known.architecture) : {};
      return { ...prev, ...seed, source };
    });
  };

  const shown = new Set(MODE_FIELDS[workload.mode]);
  const pools = inventoryPools(options);
  const arch = (label: string, key: keyof ModelValues, path: string, hint?: string) => (
    <Field label={label} errors={errorsFor(`model.architecture.${path}`)} hint={hint}>
      <input name={path} inputMode="numeric" value={model[key] as string} onChange={setM(key)} />
    </Field>
  );
  const number = (label: string, key: WorkloadKey, path: string, hint?: ReactNode) =>
    shown.has(key) && (
      <Field label={label} errors={errorsFor(`workload.${path}`)} hint={hint}>
        <input name={path} inputMode="numeric" value={workload[key]} onChange={setW(key)} />
      </Field>
    );
  const choice = (label: string, key: WorkloadKey, path: string, values: readonly string[]) =>
    shown.has(key) && (
      <Field label={label} errors={errorsFor(`workload.${path}`)}>
        <select name={path} value={workload[key]} onChange={setW(key)}>
          <Options values={values} />
        </select>
      </Field>
    );

  return (
    <form className="card form planner-form" aria-label="Plan" onSubmit={(e) => e.preventDefault()} noValidate data-live-errors>
      <fieldset>
        <legend>Model</legend>
        <FieldsetErrors messages={errorsFor("model")} />
        <Field label="Model from">
          <select name="model_source" value={model.source} onChange={onSource}>
            {MODEL_SOURCES.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </Field>
        {model.source === "name" && (
          <Field label="Model" errors={errorsFor("model.name")}>
            <select name="model_name" value={model.name} onChange={setM("name")}>
              {!model.name && <option value="">Choose a model</option>}
              {options.models.map((m) => (
                <option key={m.name} value={m.name}>
                  {m.name} ({formatCount(m.params)})
                </option>
              ))}
            </select>
          </Field>
        )}
        {model.source === "params" && (
          <Field label="Parameters" errors={errorsFor("model.params")} hint="e.g. 7B or 6.7e9; a Llama-like shape is assumed.">
            <input name="params" value={model.params} onChange={setM("params")} />
          </Field>
        )}
        {model.source === "architecture" && (
          <>
            <FieldsetErrors messages={errorsFor("model.architecture")} />
            <div className="grid-3">
              {arch("Hidden size", "hidden", "hidden")}
              {arch("Layers", "layers", "layers")}
              {arch("Attention heads", "heads", "heads")}
              {arch("KV heads", "kvHeads", "kv_heads", "Blank: as many as heads.")}
              {arch("MLP size", "intermediate", "intermediate", "Blank: from the hidden size.")}
              {arch("Vocabulary", "vocab", "vocab")}
              <Field label="MLP" errors={errorsFor("model.architecture.mlp")}>
                <select name="mlp" value={model.mlp} onChange={setM("mlp")}>
                  <option value="swiglu">SwiGLU</option>
                  <option value="gelu">GELU</option>
                </select>
              </Field>
            </div>
            <label className="checkbox">
              <input
                type="checkbox"
                name="tied_embeddings"
                checked={model.tiedEmbeddings}
                onChange={(e) => setModel((prev) => ({ ...prev, tiedEmbeddings: e.target.checked }))}
              />{" "}
              Tied input and output embeddings
            </label>
          </>
        )}
      </fieldset>

      <fieldset>
        <legend>Workload</legend>
        <FieldsetErrors messages={errorsFor("workload")} />
        <Field label="Mode" errors={errorsFor("workload.mode")}>
          <select
            name="mode"
            value={workload.mode}
            onChange={(e) => setWorkload((prev) => changeMode(prev, e.target.value as WorkloadValues["mode"], options))}
          >
            <Options values={options.modes} label={modeLabel} />
          </select>
        </Field>
        <div className="grid-2">
          {number("Micro-batch per GPU", "batch", "batch")}
          {number("Sequence length", "seq", "seq", "Tokens per sequence.")}
          {number("Prompt tokens", "promptTokens", "prompt_tokens")}
          {number("New tokens", "newTokens", "new_tokens")}
          {choice("Precision", "precision", "precision", precisionsFor(workload.mode, options))}
          {choice("KV cache precision", "kvPrecision", "kv_precision", KV_PRECISIONS)}
          {choice("Optimizer", "optimizer", "optimizer", options.optimizers)}
          {choice("Activation checkpointing", "activationCheckpointing", "activation_checkpointing", CHECKPOINTING)}
          {choice("Attention", "attention", "attention", ATTENTION)}
          {choice("ZeRO stage", "zeroStage", "zero_stage", ZERO_STAGES)}
          {number("Tensor parallel", "tp", "tp", "GPUs that split each layer.")}
          {number("LoRA rank", "loraRank", "lora_rank")}
          {choice("Base precision", "basePrecision", "base_precision", BASE_PRECISIONS)}
        </div>
        {number("Tokens to train on", "tokens", "tokens", "e.g. 2B or 1e9; blank for no time or cost to train.")}
      </fieldset>

      <fieldset>
        <legend>Hardware</legend>
        <FieldsetErrors messages={errorsFor("hardware")} />
        <Field label="Pool or accelerator" errors={errorsFor("hardware.accelerator")}>
          <select name="accelerator" value={hardware.choice} onChange={setH("choice")}>
            {!hardware.choice && <option value="">Choose one</option>}
            {pools.length > 0 && (
              <optgroup label="Pools of your clusters">
                {pools.map((p) => (
                  <option key={p.name} value={`pool:${p.name}`}>
                    {p.cluster} · {p.accelerator} ({p.total_gpus ?? "?"} GPUs)
                  </option>
                ))}
              </optgroup>
            )}
            <optgroup label="Accelerators of the catalog">
              {options.accelerators.map((name) => (
                <option key={name} value={`accelerator:${name}`}>
                  {name}
                  {priceHint(options, name)}
                </option>
              ))}
            </optgroup>
          </select>
        </Field>
        <Field label="GPUs" errors={[...errorsFor("hardware.gpus"), ...errorsFor("hardware.gpus_per_node")]}>
          <input name="gpus" type="number" min={1} step={1} value={hardware.gpus} onChange={setH("gpus")} />
        </Field>
      </fieldset>
    </form>
  );
}

// --- the answer -------------------------------------------------------------------------------
const COMPONENTS: readonly { key: keyof Breakdown; label: string; colour: string }[] = [
  { key: "weights", label: "Weights", colour: "#2f5bd3" },
  { key: "weight_copies", label: "Weight copies", colour: "#7aa2ff" },
  { key: "gradients", label: "Gradients", colour: "#8e5cc4" },
  { key: "optimizer_states", label: "Optimizer states", colour: "#d9822b" },
  { key: "activations", label: "Activations", colour: "#2e9d5b" },
  { key: "logits_and_loss", label: "Logits and loss", colour: "#8fcf9f" },
  { key: "kv_cache", label: "KV cache", colour: "#1b9aaa" },
  { key: "communication_buffers", label: "Communication buffers", colour: "#c0362c" },
  { key: "framework_overhead", label: "Framework overhead", colour: "#a3abb8" },
];
const RESERVED = { label: "Kept free (CUDA context, fragmentation)", colour: "#e1e5ec" };
const DEVICE_COLOUR = "#5b6678";

function parts(estimate: Estimate) {
  return COMPONENTS.filter((c) => estimate.breakdown[c.key] > 0).map((c) => ({ ...c, bytes: estimate.breakdown[c.key] }));
}

type BarData = ChartData<"bar", (number | null)[], string>;

function chartData(estimate: Estimate): BarData {
  const needed = parts(estimate).map((part) => ({
    label: `${part.label}: ${formatBytes(part.bytes)}`,
    data: [part.bytes, null],
    backgroundColor: part.colour,
  }));
  if (estimate.reserved_bytes > 0) {
    needed.push({
      label: `${RESERVED.label}: ${formatBytes(estimate.reserved_bytes)}`,
      data: [estimate.reserved_bytes, null],
      backgroundColor: RESERVED.colour,
    });
  }
  const device = {
    label: `${estimate.hardware.accelerator} memory: ${formatBytes(estimate.hardware.memory_bytes)}`,
    data: [null, estimate.hardware.memory_bytes],
    backgroundColor: DEVICE_COLOUR,
  };
  return {
    labels: ["Needed per GPU", "GPU memory"],
    datasets: [...needed, device].map((d) => ({ ...d, stack: "memory", maxBarThickness: 36 })),
  };
}

function chartConfig(data: BarData): ChartConfiguration<"bar", (number | null)[], string> {
  return {
    type: "bar",
    data,
    options: {
      indexAxis: "y",
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: {
          stacked: true,
          beginAtZero: true,
          ticks: { callback: (value) => formatBytes(Number(value)) },
        },
        y: { stacked: true },
      },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12 } },
        tooltip: { callbacks: { label: (item) => item.dataset.label ?? "" } },
      },
    },
  };
}

function BreakdownChart({ estimate }: { estimate: Estimate }) {
  const { canvas, failed } = useChart<"bar", (number | null)[], string>(loadBarChart, () => chartConfig(chartData(estimate)), JSON.stringify(chartData(estimate)));

  const described = parts(estimate)
    .map((part) => `${part.label} ${formatBytes(part.bytes)}`)
    .join(", ");
  return (
    <div className="breakdown-chart">
      {failed ? (
        <p className="muted">The figure could not be loaded; the table below has the same numbers.</p>
      ) : (
        <canvas
          ref={canvas}
          role="img"
          aria-label={`Memory per GPU: ${described}; ${estimate.hardware.accelerator} has ${formatBytes(estimate.hardware.memory_bytes)}.`}
        />
      )}
    </div>
  );
}

function BreakdownTable({ estimate }: { estimate: Estimate }) {
  const total = estimate.memory_per_gpu_bytes;
  return (
    <table className="table table-compact" data-testid="breakdown" aria-label="Memory per GPU by component">
      <thead>
        <tr>
          <th scope="col">Component</th>
          <th scope="col" className="num">
            Memory
          </th>
          <th scope="col" className="num">
            Share
          </th>
        </tr>
      </thead>
      <tbody>
        {parts(estimate).map((part) => (
          <tr key={part.key} data-testid={`breakdown-${part.key}`}>
            <td>
              <span className="swatch" style={{ background: part.colour }} aria-hidden="true" /> {part.label}
            </td>
            <td className="num">{formatBytes(part.bytes)}</td>
            <td className="num">{formatPercent(part.bytes, total)}</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <th scope="row">Total at the peak ({estimate.peak_phase})</th>
          <td className="num">{formatBytes(total)}</td>
          <td />
        </tr>
        <tr className="muted">
          <th scope="row">Kept free (CUDA context, fragmentation)</th>
          <td className="num">{formatBytes(estimate.reserved_bytes)}</td>
          <td />
        </tr>
      </tfoot>
    </table>
  );
}

function Results({ estimate, stale, pending }: { estimate: Estimate; stale: boolean; pending: boolean }) {
  const { cost, compute } = estimate;
  const tokens = typeof estimate.workload.tokens === "number" ? estimate.workload.tokens : null;
  const training = isTraining(estimate.workload.mode as PlanMode);
  return (
    <div className={`card plan-results${stale ? " plan-stale" : ""}`} data-testid="plan-results" aria-busy={pending}>
      <div className="plan-headline">
        <FitBadge fits={estimate.fits} />
        <MemoryUse
          perGpu={estimate.memory_per_gpu_bytes}
          device={estimate.hardware.memory_bytes}
          headroom={estimate.headroom_bytes}
        />
        {pending && (
          <span className="muted small" role="status">
            <span className="spinner" aria-hidden="true" /> Updating…
          </span>
        )}
      </div>
      {/* The sentence that says whether it fits is what a screen reader announces on a change. */}
      <p className="plan-explanation" data-testid="explanation" aria-live="polite">
        {estimate.explanation}
      </p>
      {stale && !pending && <p className="small muted">This answer is for the last values the planner accepted.</p>}

      <BreakdownChart estimate={estimate} />
      <BreakdownTable estimate={estimate} />

      <dl className="facts plan-facts" data-testid="plan-facts">
        <dt>Model</dt>
        <dd>
          {estimate.model.name ?? (estimate.model.source === "params" ? "Assumed shape" : "Custom architecture")} ·{" "}
          {formatCount(estimate.model.params)} parameters
          {estimate.trainable_params != null && estimate.trainable_params !== estimate.model.params && (
            <> · {formatCount(estimate.trainable_params)} trainable</>
          )}
        </dd>
        <dt>Hardware</dt>
        <dd>
          {estimate.hardware.gpus} × {estimate.hardware.accelerator}
          {estimate.hardware.nodes > 1 && ` on ${estimate.hardware.nodes} nodes`}
        </dd>
        <dt>FLOPs</dt>
        <dd data-testid="flops">
          {formatFlops(compute.flops_per_step)} per step
          {tokens !== null && <> · {formatFlops(estimate.flops)} in all</>}
        </dd>
        <dt>Throughput</dt>
        <dd>
          {formatCount(Math.round(compute.tokens_per_second))} tokens/s at {formatPercent(compute.mfu, 1)} MFU
        </dd>
        <dt>Step time</dt>
        <dd data-testid="step-time">{formatDuration(estimate.step_time_s)}</dd>
        {training ? <dt>Time to train</dt> : <dt>Time per request</dt>}
        <dd data-testid="time-to-train">
          {!training ? (
            formatDuration(estimate.total_time_s)
          ) : estimate.time_to_train_s == null ? (
            <span className="muted">give the tokens to train on</span>
          ) : (
            <>
              {formatDuration(estimate.time_to_train_s)} for {formatCount(tokens)} tokens
            </>
          )}
        </dd>
        <dt>Cost</dt>
        <dd data-testid="cost">
          {cost.per_hour == null ? (
            <span className="muted">no price for {estimate.hardware.accelerator}</span>
          ) : (
            <>
              {formatMoney(cost.per_hour, cost.currency)} per hour · {formatMoney(cost.per_million_tokens, cost.currency)}{" "}
              per million tokens
              {cost.to_train != null && <> · {formatMoney(cost.to_train, cost.currency)} to train</>}
            </>
          )}
        </dd>
        {estimate.serving && (
          <>
            <dt>Serving (vLLM)</dt>
            <dd data-testid="serving">
              {formatCount(estimate.serving.kv_cache_tokens)} tokens of KV cache ·{" "}
              {estimate.serving.max_concurrent_sequences} sequences of {formatCount(estimate.serving.max_model_len)}{" "}
              tokens at once
            </dd>
          </>
        )}
      </dl>
      {cost.offer && cost.per_hour != null && (
        <p className="small muted">
          Priced at {formatMoney(cost.per_gpu_hour, cost.currency)} per GPU-hour: {cost.offer}
          {cost.as_of ? ` (${cost.as_of})` : ""}.
        </p>
      )}

      {estimate.assumptions.length > 0 && (
        <>
          <h3>Assumptions</h3>
          <ul className="assumptions" data-testid="assumptions">
            {estimate.assumptions.map((a, i) => (
              <li key={i}>{a}</li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

function Recommendations({ estimate, onApply }: { estimate: Estimate; onApply: (row: Recommendation) => void }) {
  const rows = estimate.recommendations;
  // With a token count the question is the whole run; without one, a step and a million tokens.
  const toTrain = estimate.time_to_train_s != null;
  return (
    <section className="plan-recommendations" aria-labelledby="recommendations-title">
      <h2 id="recommendations-title">Cheapest configurations that fit</h2>
      {rows.length === 0 ? (
        <EmptyState>No pool fits this workload; try a smaller batch, a shorter sequence or a smaller model.</EmptyState>
      ) : (
        <div className="table-scroll">
          <table className="table table-compact" data-testid="recommendations">
            <thead>
              <tr>
                <th scope="col">Pool</th>
                <th scope="col" className="num">GPUs</th>
                <th scope="col" className="num">TP</th>
                <th scope="col" className="num">ZeRO</th>
                <th scope="col">Checkpointing</th>
                <th scope="col" className="num">Memory per GPU</th>
                <th scope="col" className="num">{toTrain ? "Time to train" : "Step time"}</th>
                <th scope="col" className="num">Per hour</th>
                <th scope="col" className="num">{toTrain ? "Cost to train" : "Per million tokens"}</th>
                <th scope="col">
                  <span className="visually-hidden">Apply</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.pool} data-testid="recommendation">
                  <td className="nowrap">
                    {row.accelerator}
                    <div className="small muted">
                      {row.cluster ?? "catalog"}
                      {row.in_inventory && row.available_gpus != null && ` · ${row.available_gpus} in the pool`}
                    </div>
                  </td>
                  <td className="num">
                    {row.gpus}
                    {row.nodes > 1 && <span className="muted small"> ({row.nodes} nodes)</span>}
                  </td>
                  <td className="num">{row.tp}</td>
                  <td className="num">{row.zero_stage ?? "—"}</td>
                  <td>{row.activation_checkpointing ?? "—"}</td>
                  <td className="num">{formatBytes(row.memory_per_gpu_bytes)}</td>
                  <td className="num">{formatDuration(toTrain ? row.time_to_train_s : row.step_time_s)}</td>
                  <td className="num">{formatMoney(row.cost_per_hour, row.currency)}</td>
                  <td className="num">
                    {formatMoney(toTrain ? row.cost_to_train : row.cost_per_million_tokens, row.currency)}
                  </td>
                  <td>
                    <button
                      type="button"
                      className="button-secondary button-small"
                      onClick={() => onApply(row)}
                      aria-label={`Use ${row.gpus} × ${row.accelerator}${row.cluster ? ` on ${row.cluster}` : ""}`}
                    >
                      Use
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
