// The planner's form values and how they become the API's spec (model, workload, hardware).
// Shared by the planner page and the job form's capacity plan. Blank optional fields are left
// out, so the server's defaults apply; the server's 400 says what is still missing or wrong.
import type { PlanArchitecture, PlanMode, PlanModel, PlannerOptions, PlanWorkload } from "../api/models";
import type { FlatErrors as FieldErrors } from "./fieldErrors";
import { parseCount } from "./units";

export type ModelSource = "name" | "params" | "architecture";

export interface ModelValues {
  source: ModelSource;
  name: string;
  params: string;
  hidden: string;
  layers: string;
  heads: string;
  kvHeads: string;
  intermediate: string;
  vocab: string;
  mlp: PlanArchitecture["mlp"];
  tiedEmbeddings: boolean;
}

export interface WorkloadValues {
  mode: PlanMode;
  batch: string;
  seq: string;
  precision: string;
  optimizer: string;
  activationCheckpointing: string;
  attention: string;
  zeroStage: string;
  tp: string;
  tokens: string;
  loraRank: string;
  basePrecision: string;
  promptTokens: string;
  newTokens: string;
  kvPrecision: string;
}

export const MODEL_SOURCES: readonly { value: ModelSource; label: string }[] = [
  { value: "name", label: "Known model" },
  { value: "params", label: "Parameter count" },
  { value: "architecture", label: "Custom architecture" },
];

export const MODE_LABELS: Record<PlanMode, string> = {
  pretrain: "Pre-training",
  full_finetune: "Full fine-tune",
  lora: "LoRA",
  qlora: "QLoRA",
  prefill: "Prefill (inference)",
  generate: "Generate (inference)",
};

export function modeLabel(mode: string): string {
  return MODE_LABELS[mode as PlanMode] ?? mode;
}

export const CHECKPOINTING = ["none", "selective", "full"] as const;
export const ATTENTION = ["flash", "eager"] as const;
export const ZERO_STAGES = ["0", "1", "2", "3"] as const;
export const BASE_PRECISIONS = ["bf16", "int8", "int4"] as const;
export const KV_PRECISIONS = ["bf16", "fp16", "fp8", "int8"] as const;

export type WorkloadKey = Exclude<keyof WorkloadValues, "mode">;

/** Which workload fields each mode takes (the server refuses the others). */
const TRAINING: readonly WorkloadKey[] = [
  "batch",
  "seq",
  "precision",
  "optimizer",
  "activationCheckpointing",
  "attention",
  "zeroStage",
  "tp",
  "tokens",
];
export const MODE_FIELDS: Record<PlanMode, readonly WorkloadKey[]> = {
  pretrain: TRAINING,
  full_finetune: TRAINING,
  lora: [...TRAINING, "loraRank", "basePrecision"],
  qlora: [...TRAINING, "loraRank", "basePrecision"],
  prefill: ["batch", "seq", "precision", "attention", "tp"],
  generate: ["batch", "promptTokens", "newTokens", "precision", "kvPrecision", "attention", "tp"],
};

export function isTraining(mode: PlanMode): boolean {
  return mode !== "prefill" && mode !== "generate";
}

/** The API's name for each workload field; also the path of its errors under "workload.". */
export const WORKLOAD_API_NAMES: Record<WorkloadKey, keyof PlanWorkload> = {
  batch: "batch",
  seq: "seq",
  precision: "precision",
  optimizer: "optimizer",
  activationCheckpointing: "activation_checkpointing",
  attention: "attention",
  zeroStage: "zero_stage",
  tp: "tp",
  tokens: "tokens",
  loraRank: "lora_rank",
  basePrecision: "base_precision",
  promptTokens: "prompt_tokens",
  newTokens: "new_tokens",
  kvPrecision: "kv_precision",
};

const INTEGER_FIELDS: ReadonlySet<WorkloadKey> = new Set([
  "batch",
  "seq",
  "zeroStage",
  "tp",
  "loraRank",
  "promptTokens",
  "newTokens",
]);

export const ARCHITECTURE_FIELDS = ["hidden", "layers", "heads", "kvHeads", "intermediate", "vocab"] as const;
const ARCHITECTURE_API_NAMES: Record<(typeof ARCHITECTURE_FIELDS)[number], keyof PlanArchitecture> = {
  hidden: "hidden",
  layers: "layers",
  heads: "heads",
  kvHeads: "kv_heads",
  intermediate: "intermediate",
  vocab: "vocab",
};

/** Every error path the model and workload fields show, for assignErrors. */
export const PLAN_FIELD_PATHS: readonly string[] = [
  "model",
  "model.name",
  "model.params",
  "model.architecture",
  ...ARCHITECTURE_FIELDS.map((f) => `model.architecture.${ARCHITECTURE_API_NAMES[f]}`),
  "model.architecture.mlp",
  "model.architecture.tied_embeddings",
  "workload",
  "workload.mode",
  ...Object.values(WORKLOAD_API_NAMES).map((name) => `workload.${name}`),
];

export const INITIAL_MODEL: ModelValues = {
  source: "name",
  name: "",
  params: "",
  hidden: "",
  layers: "",
  heads: "",
  kvHeads: "",
  intermediate: "",
  vocab: "",
  mlp: "swiglu",
  tiedEmbeddings: false,
};

/** The server's defaults, written out so the form shows what will be assumed. */
export const INITIAL_WORKLOAD: WorkloadValues = {
  mode: "full_finetune",
  batch: "1",
  seq: "2048",
  precision: "amp_bf16",
  optimizer: "adamw",
  activationCheckpointing: "none",
  attention: "flash",
  zeroStage: "0",
  tp: "1",
  tokens: "",
  loraRank: "16",
  basePrecision: "bf16",
  promptTokens: "512",
  newTokens: "256",
  kvPrecision: "bf16",
};

/** The precisions a mode takes: training ones, or the weights' precision for inference. */
export function precisionsFor(mode: PlanMode, options: Pick<PlannerOptions, "training_precisions" | "inference_precisions">) {
  return isTraining(mode) ? options.training_precisions : options.inference_precisions;
}

/** The server's default precision per mode (adapters train in plain bf16 over a frozen base). */
const DEFAULT_PRECISION: Record<PlanMode, string> = {
  pretrain: "amp_bf16",
  full_finetune: "amp_bf16",
  lora: "bf16",
  qlora: "bf16",
  prefill: "bf16",
  generate: "bf16",
};

/**
 * Switching mode keeps what still applies and resets what does not: the precision when moving
 * between training and inference (the same word means a different thing there: bf16 training
 * keeps no fp32 master weights) and the base precision (QLoRA quantises the base to int4).
 */
export function changeMode(
  values: WorkloadValues,
  mode: PlanMode,
  options: Pick<PlannerOptions, "training_precisions" | "inference_precisions">,
): WorkloadValues {
  const precisions = precisionsFor(mode, options);
  const sameKind = isTraining(mode) === isTraining(values.mode);
  const precision =
    sameKind && precisions.includes(values.precision)
      ? values.precision
      : precisions.includes(DEFAULT_PRECISION[mode])
        ? DEFAULT_PRECISION[mode]
        : (precisions[0] ?? "");
  const basePrecision =
    mode === "qlora" ? "int4" : mode === "lora" && values.mode === "qlora" ? "bf16" : values.basePrecision;
  return { ...values, mode, precision, basePrecision };
}

/** Copies a known model's shape into the custom architecture fields (a starting point to edit). */
export function architectureValues(architecture: PlanArchitecture): Partial<ModelValues> {
  return {
    hidden: String(architecture.hidden),
    layers: String(architecture.layers),
    heads: String(architecture.heads),
    kvHeads: architecture.kv_heads == null ? "" : String(architecture.kv_heads),
    intermediate: architecture.intermediate == null ? "" : String(architecture.intermediate),
    vocab: String(architecture.vocab),
    mlp: architecture.mlp,
    tiedEmbeddings: architecture.tied_embeddings,
  };
}

function wholeNumber(raw: string, path: string, errors: FieldErrors): number | undefined {
  const trimmed = raw.trim();
  if (trimmed === "") return undefined;
  const n = Number(trimmed);
  if (!Number.isFinite(n)) errors[path] = ["Enter a number."];
  else if (!Number.isInteger(n)) errors[path] = ["Enter a whole number."];
  return n;
}

function count(raw: string, path: string, errors: FieldErrors): number | undefined {
  if (raw.trim() === "") return undefined;
  const n = parseCount(raw);
  if (n === null) errors[path] = ["Enter a count such as 7B, 500M or 6.7e9."];
  return n ?? undefined;
}

/** The model object of a spec; blank fields are left for the server to ask for. */
export function buildModel(values: ModelValues): { model: PlanModel | null; errors: FieldErrors } {
  const errors: FieldErrors = {};
  if (values.source === "name") {
    if (!values.name) return { model: null, errors: { "model.name": ["Choose a model."] } };
    return { model: { name: values.name }, errors };
  }
  if (values.source === "params") {
    if (values.params.trim() === "") return { model: null, errors: { "model.params": ["Enter the parameter count."] } };
    const params = count(values.params, "model.params", errors);
    return { model: params === undefined || Object.keys(errors).length ? null : { params }, errors };
  }
  const architecture: Record<string, unknown> = { mlp: values.mlp, tied_embeddings: values.tiedEmbeddings };
  for (const field of ARCHITECTURE_FIELDS) {
    const name = ARCHITECTURE_API_NAMES[field];
    const n = wholeNumber(values[field], `model.architecture.${name}`, errors);
    if (n !== undefined) architecture[name] = n;
  }
  if (Object.keys(errors).length) return { model: null, errors };
  return { model: { architecture: architecture as PlanArchitecture }, errors };
}

/**
 * The workload object of a spec: the fields its mode takes, out of those the form shows
 * (`shown`, default all); blank ones are left to the server's defaults.
 */
export function buildWorkload(
  values: WorkloadValues,
  shown?: readonly WorkloadKey[],
): { workload: PlanWorkload | null; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const workload: Record<string, unknown> = { mode: values.mode };
  for (const field of MODE_FIELDS[values.mode]) {
    if (shown && !shown.includes(field)) continue;
    const raw = values[field].trim();
    if (raw === "") continue;
    const name = WORKLOAD_API_NAMES[field];
    const path = `workload.${name}`;
    if (INTEGER_FIELDS.has(field)) {
      const n = wholeNumber(raw, path, errors);
      if (n !== undefined) workload[name] = n;
    } else if (field === "tokens") {
      const n = count(raw, path, errors);
      if (n !== undefined) workload[name] = n;
    } else {
      workload[name] = raw;
    }
  }
  if (Object.keys(errors).length) return { workload: null, errors };
  return { workload: workload as PlanWorkload, errors };
}
