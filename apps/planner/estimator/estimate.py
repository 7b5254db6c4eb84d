"""One estimate: memory, fit, FLOPs, time and cost for a spec, and the cheapest alternatives.

``estimate(spec, pools)`` returns the JSON the API and ``manage.py plan`` print. Scripts depend
on its top-level names (see the README); add fields freely, rename none.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Final

from apps.planner.estimator import references
from apps.planner.estimator.hardware import AcceleratorSpec, Catalog, Pool, Price
from apps.planner.estimator.memory import (
    ALLOCATOR_ROUNDING,
    CUBLAS_WORKSPACE,
    MIB,
    MemoryEstimate,
    inference_memory,
    inference_weight_bytes,
    kv_bytes_per_token,
    serving_memory,
    training_memory,
)
from apps.planner.estimator.spec import (
    DEFAULT_MFU,
    INFERENCE_MODES,
    MAX_SPECS,
    HardwareSpec,
    PlanSpec,
    SpecError,
    Workload,
    parse_spec,
)

# Room a process needs beyond what PyTorch allocates: the CUDA context (≈ 0.5 GiB), NCCL's
# buffers when there are peers, and allocator fragmentation (reserved over allocated).
CONTEXT_RESERVE: Final = 512 * MIB
NCCL_RESERVE: Final = 512 * MIB
FRAGMENTATION: Final = 0.05
# Decode reads every weight and the KV cache once per step; HBM sustains about 80 % of spec.
BANDWIDTH_EFFICIENCY: Final = 0.80
# Kaplan's attention FLOPs are added when they change the total by more than this.
ATTENTION_THRESHOLD: Final = 0.05
GPU_COUNTS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
CHECKPOINT_COST: Final = {"none": 0, "selective": 1, "full": 2}


@dataclass(frozen=True)
class Timing:
    flops: float  # the work asked for: the whole run when tokens are given, else one step
    flops_per_step: float
    hardware_flops_per_step: float
    tokens_per_step: float
    step_time_s: float
    time_to_train_s: float | None
    total_time_s: float
    peak_tflops: float
    mfu: float
    tokens_per_second: float


def reserve_bytes(memory_per_gpu: int, gpus: int) -> int:
    return int(CONTEXT_RESERVE + (NCCL_RESERVE if gpus > 1 else 0) + FRAGMENTATION * memory_per_gpu)


def _memory(spec: PlanSpec) -> MemoryEstimate:
    if spec.workload.mode in INFERENCE_MODES:
        return inference_memory(spec.model, spec.workload)
    return training_memory(spec.model, spec.workload)


def _mfu(workload: Workload, accelerator: AcceleratorSpec) -> float:
    ceiling = accelerator.mfu_ceiling
    if ceiling is None:
        return workload.mfu
    if workload.mfu_given and workload.mfu > ceiling + 1e-9:
        raise SpecError(
            {
                "workload": {
                    "mfu": [
                        f"{workload.mfu:g} is above what {accelerator.name} can sustain on dense bf16 matmuls "
                        f"({ceiling:.2f} of its spec rate, measured); use at most {ceiling:.2f}."
                    ]
                }
            }
        )
    return min(workload.mfu, ceiling) if workload.mfu_given else min(DEFAULT_MFU, ceiling)


def _training_timing(spec: PlanSpec) -> Timing:
    arch, w, hw = spec.model.architecture, spec.workload, spec.hardware
    params = spec.model.active_params
    tokens_per_step = w.batch * w.seq * w.dp * w.grad_accum
    dense = (4 if w.adapters else 6) * params  # LoRA: no weight gradients for the frozen base
    attention = 6 * arch.layers * w.seq * arch.q_dim * (2 / 3 if w.adapters else 1)
    per_token = dense + (attention if attention > ATTENTION_THRESHOLD * dense else 0)
    recompute = per_token / (3 if not w.adapters else 2) if w.activation_checkpointing == "full" else 0.0
    flops_step = per_token * tokens_per_step
    hardware_step = (per_token + recompute) * tokens_per_step
    peak = hw.accelerator.peak_tflops("bf16") * 1e12
    mfu = _mfu(w, hw.accelerator)
    if w.tokens_per_second_per_gpu:
        step = tokens_per_step / (hw.gpus * w.tokens_per_second_per_gpu)
        mfu = flops_step / (step * hw.gpus * peak) if peak else 0.0
    else:
        step = hardware_step / (hw.gpus * peak * mfu) if peak else math.inf
        if w.pp > 1:  # 1F1B pipeline bubble
            step *= 1 + (w.pp - 1) / w.grad_accum
        mfu = flops_step / (step * hw.gpus * peak) if peak else 0.0
    to_train = w.tokens / tokens_per_step * step if w.tokens else None
    return Timing(
        flops=per_token * w.tokens if w.tokens else flops_step,
        flops_per_step=flops_step,
        hardware_flops_per_step=hardware_step,
        tokens_per_step=tokens_per_step,
        step_time_s=step,
        time_to_train_s=to_train,
        total_time_s=to_train if to_train is not None else step,
        peak_tflops=peak / 1e12,
        mfu=mfu,
        tokens_per_second=tokens_per_step / step if step else 0.0,
    )


def _inference_timing(spec: PlanSpec, memory: MemoryEstimate) -> Timing:
    arch, w, hw = spec.model.architecture, spec.workload, spec.hardware
    params = spec.model.active_params
    peak = hw.accelerator.peak_tflops(w.precision) * 1e12
    mfu = _mfu(w, hw.accelerator)
    bandwidth = hw.accelerator.memory_bandwidth_gbps * 1e9 * BANDWIDTH_EFFICIENCY
    weights = inference_weight_bytes(spec.model, w.precision, w.tp)
    kv_token = memory.kv_cache_bytes_per_token
    replicas = w.dp

    def forward(tokens: float, context: float, new_kv: float) -> tuple[float, float]:
        flops = 2 * params * tokens + 2 * arch.layers * context * arch.q_dim * tokens
        compute_s = flops / (w.tp * peak * mfu) if peak else math.inf
        memory_s = (weights + kv_token * new_kv) / bandwidth
        return flops, max(compute_s, memory_s)

    if w.mode == "prefill":
        tokens = w.batch * w.seq
        flops, seconds = forward(tokens, w.seq, tokens)
        return Timing(
            flops, flops, flops, tokens, seconds, None, seconds, peak / 1e12, mfu, tokens * replicas / seconds
        )
    prompt = w.batch * w.prompt_tokens
    prefill_flops, prefill_s = forward(prompt, w.prompt_tokens, prompt)
    context = w.prompt_tokens + w.new_tokens / 2
    step_flops = 2 * params * w.batch + 4 * arch.layers * context * arch.q_dim * w.batch
    step_s = max(
        step_flops / (w.tp * peak * mfu) if peak else math.inf,
        (weights + kv_token * w.batch * context) / bandwidth,
    )
    total = prefill_s + w.new_tokens * step_s
    flops = prefill_flops + w.new_tokens * step_flops
    generated = w.batch * w.new_tokens * replicas
    return Timing(flops, step_flops, step_flops, w.batch, step_s, None, total, peak / 1e12, mfu, generated / total)


def _cost(price: Price | None, gpus: int, timing: Timing, workload: Workload, accelerator: str) -> dict[str, Any]:
    if price is None:
        return {
            "currency": None,
            "per_gpu_hour": None,
            "per_hour": None,
            "per_step": None,
            "to_train": None,
            "total": None,
            "per_million_tokens": None,
            "source": (
                f"No price for {accelerator}: add a price point in the admin or pass hardware.price_per_gpu_hour."
            ),
        }
    per_hour = MONEY_CONTEXT.multiply(price.per_gpu_hour, gpus)
    per_second = MONEY_CONTEXT.divide(per_hour, 3600)

    def over(seconds: float | None) -> str | None:
        return _money(MONEY_CONTEXT.multiply(per_second, _decimal(seconds))) if seconds is not None else None

    if workload.mode == "generate":
        million_s = 1e6 / timing.tokens_per_second if timing.tokens_per_second else None
    else:
        million_s = timing.step_time_s / timing.tokens_per_step * 1e6
    return {
        "currency": price.currency,
        "per_gpu_hour": _money(price.per_gpu_hour),
        "per_hour": _money(per_hour),
        "per_step": over(timing.step_time_s),
        "to_train": over(timing.time_to_train_s),
        "total": over(timing.total_time_s),
        "per_million_tokens": over(million_s),
        "pricing_class": price.pricing_class,
        "offer": price.offer,
        "as_of": price.as_of.isoformat() if price.as_of else None,
        "source": price.source_url or price.offer,
    }


CENTS: Final = Decimal("0.000001")
# Money arithmetic exact for any finite float input: the default context's 28 digits made
# quantize() fail (InvalidOperation) once a sum passed 10^22, which a long enough run at a high
# enough price reaches. 400 digits hold the largest float to the millionth.
MONEY_CONTEXT: Final = Context(prec=400, rounding=ROUND_HALF_UP)


def _decimal(value: float) -> Decimal:
    if not math.isfinite(value):  # timings are checked finite before costs are computed
        raise ValueError(f"not a finite amount: {value!r}")
    return Decimal(repr(value))


def _money(value: Decimal) -> str:
    """Money leaves as a decimal string (as DRF renders Decimal), never a float."""
    return str(value.quantize(CENTS, context=MONEY_CONTEXT))


def _gib(value: float) -> str:
    return f"{value / 2**30:,.1f} GiB"


def _assumptions(spec: PlanSpec, memory: MemoryEstimate, timing: Timing) -> list[str]:
    model, w, hw = spec.model, spec.workload, spec.hardware
    arch = model.architecture
    out: list[str] = []
    if model.source == "params":
        out.append(
            f"Only a parameter count was given: activations assume a Llama-style shape "
            f"({arch.layers} layers, hidden {arch.hidden}, {arch.heads} heads, vocab {arch.vocab}); "
            "give the architecture for figures you can rely on."
        )
    if w.mode in INFERENCE_MODES:
        out.append(
            f"Weights: decoder projections at {w.precision}, embeddings, head and norms in bf16"
            + (f", split over tp={w.tp} GPUs" if w.tp > 1 else "")
            + "."
        )
        if w.mode == "prefill":
            out.append(
                "Prefill is one forward pass as model(input_ids) runs it: it fills a bf16 KV cache and returns "
                "bf16 logits for every position."
            )
        else:
            out.append(
                f"KV cache in {w.kv_precision}: {memory.kv_cache_bytes_per_token:,} bytes per token per GPU; "
                "generation keeps the last position's logits only and grows the cache step by step."
            )
            out.append(
                f"Decode is bound by memory bandwidth when weights and KV cache take longer to read at "
                f"{BANDWIDTH_EFFICIENCY:.0%} of {hw.accelerator.memory_bandwidth_gbps:,.0f} GB/s than the "
                "arithmetic takes."
            )
    else:
        regime = {
            "amp_bf16": "fp32 weights, gradients and optimizer states with bf16 autocast (PyTorch AMP)",
            "bf16": "bf16 weights, gradients and optimizer states",
            "mixed_zero": "2-byte weights and gradients, fp32 master weights and optimizer states (ZeRO accounting)",
        }[w.precision]
        if w.adapters:
            regime = (
                f"{w.base_precision} frozen base; rank-{w.lora_rank} adapters on {', '.join(w.lora_targets)} "
                "kept in fp32 with their gradients and optimizer states"
            )
        out.append(f"Precision: {regime}; optimizer {w.optimizer} (fused, no per-step temporaries).")
        if w.framework == "megatron" and not w.adapters:
            out.append(
                "Activations per Korthikanti et al. (Megatron-LM)"
                + (", with sequence parallelism" if w.sequence_parallel else "")
                + "."
            )
        else:
            out.append(
                "Activations as PyTorch autograd saves them in a Hugging Face Llama-style layer "
                + ("(flash / memory-efficient SDPA: no s×s scores)" if w.attention == "flash" else "(eager attention)")
                + f"; checkpointing: {w.activation_checkpointing}."
            )
            if w.activation_checkpointing == "selective" and w.attention == "flash":
                out.append("Selective recomputation only drops attention scores, which flash attention never stores.")
        out.append(
            "Loss over the full vocabulary: bf16 logits upcast to fp32 for cross-entropy; gradients are freed "
            "between steps (zero_grad(set_to_none=True))."
        )
        parallel = f"tp={w.tp}, pp={w.pp}, dp={w.dp}"
        if w.zero_stage:
            parallel += f", ZeRO stage {w.zero_stage}"
        if w.offload != "none":
            parallel += f", {w.offload.replace('_', ' ')} offloaded to CPU ({_gib(memory.cpu_bytes)} of host memory)"
        out.append(f"Parallelism: {parallel}; micro-batch {w.batch} × {w.seq} tokens per GPU.")
        if w.tokens_per_second_per_gpu:
            out.append(f"Time from the throughput given: {w.tokens_per_second_per_gpu:,.0f} tokens/s per GPU.")
        else:
            ceiling = hw.accelerator.mfu_ceiling
            text = f"Time at MFU {timing.mfu:.2f} of {timing.peak_tflops:,.0f} dense TFLOPS per GPU"
            if w.activation_checkpointing == "full":
                text += f" (the assumed {w.mfu:.2f} less the recomputed forward)"
            if ceiling is not None:
                text += f"; the measured matmul ceiling is {ceiling:.2f}"
            out.append(text + ".")
    accelerator = hw.accelerator
    if not accelerator.supports_bf16 and (w.training or w.precision == "bf16"):
        out.append(
            f"{accelerator.name} has no bf16: on it this runs in fp16 (with loss scaling when training), "
            "which takes the same memory; the time uses its fp16 rate."
        )
    if w.mode in INFERENCE_MODES and w.precision == "fp8" and not accelerator.supports_fp8:
        out.append(
            f"{accelerator.name} has no FP8 tensor cores: weights are stored in 8 bits but compute runs in bf16."
        )
    out.append(
        f"Memory is what PyTorch allocates at the peak ({memory.peak_phase}), including "
        f"{CUBLAS_WORKSPACE // MIB} MiB of cuBLAS workspace and {ALLOCATOR_ROUNDING:.1%} allocator rounding; the fit "
        f"keeps {_gib(CONTEXT_RESERVE)} for the CUDA context"
        + (f", {_gib(NCCL_RESERVE)} for NCCL" if hw.gpus > 1 else "")
        + f" and {FRAGMENTATION:.0%} for fragmentation free."
    )
    return out


def _cross_checks(spec: PlanSpec) -> dict[str, Any]:
    model, w, hw = spec.model, spec.workload, spec.hardware
    arch = model.architecture
    checks: dict[str, Any] = {}
    if w.mode in INFERENCE_MODES:
        checks["accelerate_total_bytes"] = int(
            references.accelerate_estimate(model.params, arch.largest_layer_params, 2)["total_bytes"]
        )
        return checks
    if w.adapters:
        return checks
    dtype = 4 if w.precision == "amp_bf16" else 2
    checks["accelerate_adam_training_bytes"] = int(
        references.accelerate_estimate(model.params, arch.largest_layer_params, dtype)["adam_training_bytes"]
    )
    checks["zero_paper_model_states_bytes"] = int(references.zero_model_states(model.params, w.dp, w.zero_stage))
    nodes = hw.nodes
    if w.zero_stage == 2:
        checks["deepspeed_estimator_gpu_bytes"] = int(
            references.deepspeed_zero2(model.params, hw.gpus_per_node, nodes, offload_optimizer=w.offload != "none")[0]
        )
    elif w.zero_stage == 3:
        checks["deepspeed_estimator_gpu_bytes"] = int(
            references.deepspeed_zero3(
                model.params,
                arch.largest_layer_params,
                hw.gpus_per_node,
                nodes,
                offload_optimizer=w.offload != "none",
                offload_params=w.offload == "optimizer_and_params",
            )[0]
        )
    return checks


@dataclass(frozen=True)
class Evaluation:
    spec: PlanSpec
    memory: MemoryEstimate
    timing: Timing
    device_bytes: int
    reserve: int

    @property
    def memory_per_gpu(self) -> int:
        return self.memory.total

    @property
    def headroom(self) -> int:
        return self.device_bytes - self.memory_per_gpu - self.reserve

    @property
    def fits(self) -> bool:
        return self.headroom >= 0


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _require_rates(spec: PlanSpec) -> None:
    """Time needs the accelerator's compute rate (and, for inference, its memory bandwidth);
    a catalog row an operator added without them would make every time infinite."""
    accelerator, w = spec.hardware.accelerator, spec.workload
    inference = w.mode in INFERENCE_MODES
    missing = []
    if not _positive(accelerator.peak_tflops(w.precision if inference else "bf16")):
        missing.append("dense TFLOPS")
    if inference and not _positive(accelerator.memory_bandwidth_gbps):
        missing.append("memory bandwidth")
    if missing:
        raise SpecError(
            {
                "hardware": {
                    "accelerator": [
                        f"The catalog gives {accelerator.name} no {' and no '.join(missing)}; "
                        "add it to the accelerator model to estimate time and cost."
                    ]
                }
            }
        )


def _require_finite(timing: Timing) -> None:
    """Bounded inputs keep every figure finite; should one still overflow, say so (a 400 on
    the workload) rather than answer a number JSON cannot carry."""
    bad = [name for name, value in dataclasses.asdict(timing).items() if value is not None and not math.isfinite(value)]
    if bad:
        raise SpecError(
            {"workload": {"non_field_errors": [f"These inputs put {', '.join(bad)} beyond what can be computed."]}}
        )


def evaluate(spec: PlanSpec) -> Evaluation:
    _require_rates(spec)
    memory = _memory(spec)
    timing = _inference_timing(spec, memory) if spec.workload.mode in INFERENCE_MODES else _training_timing(spec)
    _require_finite(timing)
    return Evaluation(
        spec=spec,
        memory=memory,
        timing=timing,
        device_bytes=spec.hardware.accelerator.memory_bytes,
        reserve=reserve_bytes(memory.total, spec.hardware.gpus),
    )


def explain(ev: Evaluation) -> str:
    hw = ev.spec.hardware
    parts = sorted(ev.memory.breakdown.items(), key=lambda item: -item[1])[:3]
    biggest = ", ".join(f"{name.replace('_', ' ')} {_gib(value)}" for name, value in parts if value)
    if ev.fits:
        return (
            f"Fits: {_gib(ev.memory_per_gpu)} per GPU of {hw.accelerator.name}'s {_gib(ev.device_bytes)}, "
            f"{_gib(ev.headroom)} to spare."
        )
    return (
        f"Does not fit: needs {_gib(ev.memory_per_gpu)} per GPU (+{_gib(ev.reserve)} for the CUDA context and "
        f"fragmentation) but {hw.accelerator.name} has {_gib(ev.device_bytes)}; the largest parts are {biggest}."
    )


# --- recommendations ------------------------------------------------------------------------


def _strategies(workload: Workload, gpus: int, per_node: int, heads: int, kv_heads: int) -> Iterator[Workload]:
    tps = [tp for tp in (1, 2, 4, 8) if tp <= min(gpus, per_node) and gpus % tp == 0 and heads % tp == 0]
    tps = [tp for tp in tps if kv_heads % tp == 0 or tp % kv_heads == 0]
    if workload.mode in INFERENCE_MODES:
        for tp in tps:
            if tp == gpus:
                yield replace(workload, tp=tp, dp=1)
        return
    checkpointing = [workload.activation_checkpointing]
    if workload.activation_checkpointing != "full":
        checkpointing.append("full")
    for tp in tps:
        dp = gpus // tp
        stages = (0, 1, 2, 3) if dp > 1 else (0,)
        for zero in stages:
            for ckpt in checkpointing:
                yield replace(
                    workload, tp=tp, pp=1, dp=dp, zero_stage=zero, offload="none", activation_checkpointing=ckpt
                )


def _row(ev: Evaluation, pool: Pool) -> dict[str, Any]:
    spec, timing = ev.spec, ev.timing
    w, hw = spec.workload, spec.hardware
    cost = _cost(hw.price, hw.gpus, timing, w, hw.accelerator.name)
    return {
        "pool": pool.name,
        "cluster": pool.cluster or None,
        "accelerator": hw.accelerator.name,
        "in_inventory": pool.in_inventory,
        "available_gpus": pool.total_gpus,
        "gpus": hw.gpus,
        "nodes": hw.nodes,
        "tp": w.tp,
        "pp": w.pp,
        "dp": w.dp,
        "zero_stage": w.zero_stage if w.training else None,
        "activation_checkpointing": w.activation_checkpointing if w.training else None,
        "memory_per_gpu_bytes": ev.memory_per_gpu,
        "headroom_bytes": ev.headroom,
        "step_time_s": timing.step_time_s,
        "time_to_train_s": timing.time_to_train_s,
        "tokens_per_second": timing.tokens_per_second,
        "cost_per_hour": cost["per_hour"],
        "cost_per_million_tokens": cost["per_million_tokens"],
        "cost_to_train": cost["to_train"],
        "currency": cost["currency"],
    }


def recommend(spec: PlanSpec, pools: Sequence[Pool], limit: int) -> list[dict[str, Any]]:
    """The cheapest fitting configuration per pool, cheapest first (GPU-time when unpriced)."""
    if limit <= 0:
        return []
    arch = spec.model.architecture
    best: dict[str, tuple[tuple[float, ...], dict[str, Any]]] = {}
    for pool in pools:
        counts = [n for n in GPU_COUNTS if pool.total_gpus is None or n <= pool.total_gpus]
        if spec.workload.mode in INFERENCE_MODES:
            counts = [n for n in counts if n <= pool.gpus_per_node]
        for gpus in counts:
            if pool.name in best and best[pool.name][1]["gpus"] < gpus:
                break  # fewer GPUs already fit here; more only add cost per hour
            hardware = HardwareSpec(
                accelerator=pool.accelerator,
                gpus=gpus,
                gpus_per_node=min(pool.gpus_per_node, gpus),
                price=spec.hardware.price if pool.accelerator is spec.hardware.accelerator else pool.accelerator.price,
            )
            for workload in _strategies(spec.workload, gpus, pool.gpus_per_node, arch.heads, arch.kv_heads):
                try:
                    ev = evaluate(replace(spec, workload=workload, hardware=hardware))
                except SpecError:
                    continue
                if not ev.fits:
                    continue
                row = _row(ev, pool)
                unit = (ev.timing.step_time_s / max(ev.timing.tokens_per_step, 1)) * gpus
                key = (
                    float(row["cost_per_million_tokens"]) if row["cost_per_million_tokens"] is not None else math.inf,
                    unit,
                    gpus,
                    workload.tp,
                    workload.zero_stage,
                    CHECKPOINT_COST[workload.activation_checkpointing],
                )
                if pool.name not in best or key < best[pool.name][0]:
                    best[pool.name] = (key, row)
    ranked = sorted(best.values(), key=lambda item: item[0])
    return [row for _, row in ranked[:limit]]


# --- the whole answer -----------------------------------------------------------------------


def estimate(spec: PlanSpec, pools: Sequence[Pool] = ()) -> dict[str, Any]:
    ev = evaluate(spec)
    model, w, hw = spec.model, spec.workload, spec.hardware
    arch = model.architecture
    timing = ev.timing
    result: dict[str, Any] = {
        "model": {
            "name": model.name or None,
            "params": model.params,
            "active_params": model.active_params,
            "source": model.source,
            "architecture": arch.as_dict(),
        },
        "workload": w.as_dict(),
        "hardware": {
            "accelerator": hw.accelerator.name,
            "gpus": hw.gpus,
            "gpus_per_node": hw.gpus_per_node,
            "nodes": hw.nodes,
            "memory_bytes": ev.device_bytes,
            "peak_tflops": timing.peak_tflops,
        },
        "memory_per_gpu_bytes": ev.memory_per_gpu,
        "breakdown": ev.memory.breakdown,
        "peak_phase": ev.memory.peak_phase,
        "activation_bytes": ev.memory.activation_bytes,
        "model_states": ev.memory.model_states,
        "kv_cache_bytes_per_token": ev.memory.kv_cache_bytes_per_token,
        "cpu_memory_bytes": ev.memory.cpu_bytes,
        "reserved_bytes": ev.reserve,
        "fits": ev.fits,
        "headroom_bytes": ev.headroom,
        "explanation": explain(ev),
        "flops": timing.flops,
        "compute": {
            "flops_per_step": timing.flops_per_step,
            "hardware_flops_per_step": timing.hardware_flops_per_step,
            "tokens_per_step": timing.tokens_per_step,
            "tokens_per_second": timing.tokens_per_second,
            "peak_tflops": timing.peak_tflops,
            "mfu": timing.mfu,
        },
        "step_time_s": timing.step_time_s,
        "time_to_train_s": timing.time_to_train_s,
        "total_time_s": timing.total_time_s,
        "cost": _cost(hw.price, hw.gpus, timing, w, hw.accelerator.name),
        "assumptions": _assumptions(spec, ev.memory, timing) + ev.memory.notes,
        "cross_checks": _cross_checks(spec),
        "recommendations": recommend(spec, pools, spec.recommendations),
    }
    if w.mode == "generate":
        serving = serving_memory(
            model,
            w.precision,
            w.kv_precision,
            w.tp,
            ev.device_bytes,
            w.gpu_memory_utilization,
            w.prompt_tokens + w.new_tokens,
        )
        result["serving"] = {key: (int(v) if key != "gpu_memory_utilization" else v) for key, v in serving.items()}
    if w.training:
        result["trainable_params"] = ev.memory.trainable_params
    return result


def estimate_all(data: Any, catalog: Catalog, pools: Sequence[Pool] = ()) -> list[dict[str, Any]]:
    """Estimate every spec in ``data`` (one spec or a list); all specs are checked before any runs.

    Raises :class:`SpecError` whose errors are keyed by list position when a list was given.
    """
    specs = data if isinstance(data, list) else [data]
    if not specs:
        raise SpecError({"non_field_errors": ["Send a spec or a non-empty list of specs."]})
    if len(specs) > MAX_SPECS:
        raise SpecError(
            {"non_field_errors": [f"Send at most {MAX_SPECS} specs at once (this list has {len(specs):,})."]}
        )
    parsed: list[PlanSpec] = []
    errors: dict[str, Any] = {}
    for index, item in enumerate(specs):
        try:
            parsed.append(parse_spec(item, catalog))
        except SpecError as exc:
            errors[str(index)] = exc.errors
    if errors:
        raise SpecError(errors if isinstance(data, list) else errors["0"])
    results: list[dict[str, Any]] = []
    for index, spec in enumerate(parsed):
        try:
            results.append(estimate(spec, pools))
        except SpecError as exc:
            raise SpecError({str(index): exc.errors} if isinstance(data, list) else exc.errors) from exc
    return results


def pools_or_catalog(pools: Iterable[Pool], catalog: Catalog) -> list[Pool]:
    from apps.planner.estimator.hardware import catalog_pools

    listed = list(pools)
    return listed or catalog_pools(catalog)


__all__ = ["Evaluation", "estimate", "estimate_all", "evaluate", "kv_bytes_per_token", "recommend"]
