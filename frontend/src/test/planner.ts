// Planner answers shaped like the API's, for the pages' tests.

const GIB = 2 ** 30;

export const plannerOptions = {
  models: [
    {
      name: "llama-2-7b",
      params: 6_738_415_616,
      source: "known",
      architecture: {
        hidden: 4096,
        layers: 32,
        heads: 32,
        kv_heads: 32,
        intermediate: 11008,
        vocab: 32000,
        tied_embeddings: false,
        mlp: "swiglu",
      },
    },
    {
      name: "llama-2-70b",
      params: 68_976_648_192,
      source: "known",
      architecture: {
        hidden: 8192,
        layers: 80,
        heads: 64,
        kv_heads: 8,
        intermediate: 28672,
        vocab: 32000,
        tied_embeddings: false,
        mlp: "swiglu",
      },
    },
  ],
  pools: [
    {
      name: "gpu-a/H100 SXM",
      cluster: "gpu-a",
      accelerator: "H100 SXM",
      gpus_per_node: 8,
      total_gpus: 16,
      memory_bytes: 85_469_849_190,
      price_per_gpu_hour: "2.7900",
    },
  ],
  accelerators: ["A100 80GB SXM", "H100 SXM", "H200 SXM"],
  modes: ["pretrain", "full_finetune", "lora", "qlora", "prefill", "generate"],
  training_precisions: ["amp_bf16", "bf16", "mixed_zero"],
  inference_precisions: ["bf16", "fp16", "fp8", "int8", "int4"],
  optimizers: ["adamw", "sgd", "adafactor", "adam8bit"],
};

export function makeRecommendation(overrides: Record<string, unknown> = {}) {
  return {
    pool: "catalog:H200 SXM",
    cluster: null,
    accelerator: "H200 SXM",
    in_inventory: false,
    available_gpus: null,
    gpus: 2,
    nodes: 1,
    tp: 2,
    pp: 1,
    dp: 1,
    zero_stage: 3,
    activation_checkpointing: "full",
    memory_per_gpu_bytes: 54.3 * GIB,
    headroom_bytes: 70 * GIB,
    step_time_s: 0.2093,
    time_to_train_s: 51_100,
    tokens_per_second: 19_569,
    cost_per_hour: "10.816000",
    cost_per_million_tokens: "0.079205",
    cost_to_train: "79.205340",
    currency: "USD",
    ...overrides,
  };
}

export function makeEstimate(overrides: Record<string, unknown> = {}) {
  return {
    model: {
      name: "llama-2-7b",
      params: 6_738_415_616,
      active_params: 6_738_415_616,
      source: "known",
      architecture: plannerOptions.models[0]!.architecture,
    },
    workload: { mode: "full_finetune", batch: 1, seq: 2048, precision: "amp_bf16", tokens: 1e9, tp: 1 },
    hardware: {
      accelerator: "H100 SXM",
      gpus: 8,
      gpus_per_node: 8,
      nodes: 1,
      memory_bytes: 80 * GIB,
      peak_tflops: 989,
    },
    memory_per_gpu_bytes: 60 * GIB,
    breakdown: {
      weights: 25 * GIB,
      weight_copies: 0,
      gradients: 0,
      optimizer_states: 20 * GIB,
      activations: 13 * GIB,
      logits_and_loss: 0,
      kv_cache: 0,
      communication_buffers: 0,
      framework_overhead: 2 * GIB,
    },
    peak_phase: "start of backward",
    activation_bytes: 13 * GIB,
    cpu_memory_bytes: 0,
    reserved_bytes: 5 * GIB,
    fits: true,
    headroom_bytes: 15 * GIB,
    explanation: "Fits: 60.0 GiB per GPU of H100 SXM's 80.0 GiB, 15.0 GiB to spare.",
    flops: 4.0430493696e19,
    compute: {
      flops_per_step: 662_413_208_715_264,
      hardware_flops_per_step: 662_413_208_715_264,
      tokens_per_step: 16384,
      tokens_per_second: 78_277.5,
      peak_tflops: 989,
      mfu: 0.4,
    },
    step_time_s: 0.2093,
    time_to_train_s: 12_775,
    total_time_s: 12_775,
    cost: {
      currency: "USD",
      per_gpu_hour: "2.790000",
      per_hour: "22.320000",
      per_step: "0.001298",
      to_train: "79.205340",
      total: "79.205340",
      per_million_tokens: "0.079205",
      pricing_class: "on_demand",
      offer: "Test cloud 8x H100",
      as_of: "2026-04-01",
      source: "https://example.com/pricing",
    },
    assumptions: ["Precision: fp32 weights with bf16 autocast.", "Parallelism: tp=1, pp=1, dp=8."],
    cross_checks: {},
    recommendations: [
      makeRecommendation(),
      makeRecommendation({
        pool: "gpu-a/H100 SXM",
        cluster: "gpu-a",
        accelerator: "H100 SXM",
        in_inventory: true,
        available_gpus: 16,
        gpus: 4,
        tp: 1,
        zero_stage: 2,
        activation_checkpointing: "none",
        cost_to_train: "95.000000",
      }),
    ],
    trainable_params: 6_738_415_616,
    ...overrides,
  };
}

/** The 70B model on one GPU: the answer that does not fit. */
export function makeMisfit(overrides: Record<string, unknown> = {}) {
  return makeEstimate({
    model: { ...makeEstimate().model, name: "llama-2-70b", params: 68_976_648_192 },
    hardware: { ...makeEstimate().hardware, gpus: 1 },
    memory_per_gpu_bytes: 1043 * GIB,
    fits: false,
    headroom_bytes: -1000 * GIB,
    explanation: "Does not fit: needs 1,043.4 GiB per GPU but H100 SXM has 80.0 GiB.",
    recommendations: [],
    ...overrides,
  });
}
