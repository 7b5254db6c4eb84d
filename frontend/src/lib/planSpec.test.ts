import { describe, expect, it } from "vitest";
import {
  INITIAL_MODEL,
  INITIAL_WORKLOAD,
  architectureValues,
  buildModel,
  buildWorkload,
  changeMode,
  type WorkloadValues,
} from "./planSpec";

const options = {
  training_precisions: ["amp_bf16", "bf16", "mixed_zero"],
  inference_precisions: ["bf16", "fp16", "fp8", "int8", "int4"],
};

describe("buildModel", () => {
  it("sends a known model by name, a parameter count as a number, an architecture with its numbers", () => {
    expect(buildModel({ ...INITIAL_MODEL, name: "llama-2-7b" })).toEqual({ model: { name: "llama-2-7b" }, errors: {} });
    expect(buildModel({ ...INITIAL_MODEL, source: "params", params: "6.7B" })).toEqual({
      model: { params: 6.7e9 },
      errors: {},
    });
    const shape = { hidden: 2048, layers: 24, heads: 16, kv_heads: 16, intermediate: 5504, vocab: 32000, tied_embeddings: true, mlp: "gelu" as const };
    expect(buildModel({ ...INITIAL_MODEL, ...architectureValues(shape), source: "architecture" })).toEqual({
      model: { architecture: shape },
      errors: {},
    });
  });

  it("leaves blank architecture fields to the server and refuses what is not a whole number", () => {
    const values = { ...INITIAL_MODEL, source: "architecture" as const, hidden: "2048", layers: "2.5", heads: "x" };
    expect(buildModel(values)).toEqual({
      model: null,
      errors: {
        "model.architecture.layers": ["Enter a whole number."],
        "model.architecture.heads": ["Enter a number."],
      },
    });
    expect(buildModel({ ...INITIAL_MODEL, source: "architecture", hidden: "64" }).model).toEqual({
      architecture: { hidden: 64, mlp: "swiglu", tied_embeddings: false },
    });
  });

  it("asks for a model or a count", () => {
    expect(buildModel(INITIAL_MODEL).errors).toEqual({ "model.name": ["Choose a model."] });
    expect(buildModel({ ...INITIAL_MODEL, source: "params", params: "lots" }).errors).toEqual({
      "model.params": ["Enter a count such as 7B, 500M or 6.7e9."],
    });
  });
});

describe("buildWorkload", () => {
  it("sends only the fields of the mode, blank ones left to the server's defaults", () => {
    const values: WorkloadValues = { ...INITIAL_WORKLOAD, mode: "lora", tokens: "1T", seq: " " };
    expect(buildWorkload(values).workload).toEqual({
      mode: "lora",
      batch: 1,
      precision: "amp_bf16",
      optimizer: "adamw",
      activation_checkpointing: "none",
      attention: "flash",
      zero_stage: 0,
      tp: 1,
      tokens: 1e12,
      lora_rank: 16,
      base_precision: "bf16",
    });
    expect(buildWorkload({ ...INITIAL_WORKLOAD, mode: "prefill", precision: "fp8" }).workload).toEqual({
      mode: "prefill",
      batch: 1,
      seq: 2048,
      precision: "fp8",
      attention: "flash",
      tp: 1,
    });
  });

  it("keeps to the fields a form shows", () => {
    expect(buildWorkload(INITIAL_WORKLOAD, ["batch", "seq"]).workload).toEqual({ mode: "full_finetune", batch: 1, seq: 2048 });
  });

  it("refuses numbers that are not whole, under the API's field names", () => {
    expect(buildWorkload({ ...INITIAL_WORKLOAD, batch: "1.5", tokens: "many" })).toEqual({
      workload: null,
      errors: { "workload.batch": ["Enter a whole number."], "workload.tokens": ["Enter a count such as 7B, 500M or 6.7e9."] },
    });
  });
});

describe("changeMode", () => {
  it("keeps a training precision within training and resets it across to inference and back", () => {
    const bf16 = { ...INITIAL_WORKLOAD, precision: "bf16" };
    expect(changeMode(bf16, "pretrain", options).precision).toBe("bf16");
    const serving = changeMode({ ...INITIAL_WORKLOAD, precision: "mixed_zero" }, "generate", options);
    expect(serving.precision).toBe("bf16");
    expect(changeMode({ ...serving, precision: "fp8" }, "prefill", options).precision).toBe("fp8");
    expect(changeMode(serving, "full_finetune", options).precision).toBe("amp_bf16");
    expect(changeMode(serving, "lora", options).precision).toBe("bf16");
  });

  it("quantises QLoRA's base to int4 and gives LoRA back a bf16 base", () => {
    const qlora = changeMode(INITIAL_WORKLOAD, "qlora", options);
    expect(qlora.basePrecision).toBe("int4");
    expect(changeMode(qlora, "lora", options).basePrecision).toBe("bf16");
    expect(changeMode({ ...INITIAL_WORKLOAD, basePrecision: "int8" }, "lora", options).basePrecision).toBe("int8");
  });
});
