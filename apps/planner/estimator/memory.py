"""Peak GPU memory of a training step or an inference pass, component by component.

The model follows what PyTorch eager + Hugging Face transformers actually keep alive, tensor by
tensor, rather than a rule of thumb: which tensors autograd saves for backward in a Llama-style
layer (the ``hf`` framework), or Korthikanti et al.'s accounting for Megatron-LM
(``megatron``). A step's peak is the larger of two moments: the start of backward (every
activation, the loss buffers and, under autocast, the bf16 copies of the weights are alive;
gradients are not yet, since ``zero_grad`` frees them) and the end of backward (all gradients
exist, activations are gone). Bytes are exact integers; see ``ASSUMPTIONS`` for what is assumed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from apps.planner.estimator.architectures import LINEAR_MODULES, Architecture
from apps.planner.estimator.references import korthikanti_layer_bytes
from apps.planner.estimator.spec import ModelSpec, Workload

MIB: Final = 2**20
BREAKDOWN_KEYS: Final = (
    "weights",
    "weight_copies",
    "gradients",
    "optimizer_states",
    "activations",
    "logits_and_loss",
    "kv_cache",
    "communication_buffers",
    "framework_overhead",
)
# cuBLAS / cuBLASLt workspaces come out of PyTorch's caching allocator (32 MiB on Hopper).
CUBLAS_WORKSPACE: Final = 32 * MIB
# The caching allocator hands out rounded blocks and does not split a cached block when less
# than 1 MiB would be left over, so allocated bytes run a little above the tensors' sizes.
ALLOCATOR_ROUNDING: Final = 0.015
# peft keeps LoRA adapters in fp32 (``autocast_adapter_dtype``) and casts their input to fp32.
ADAPTER_BYTES: Final = 4
WEIGHT_BYTES: Final = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
# Per-group scales: int4 (AWQ/GPTQ/NF4 with double quantisation) ≈ 4.1 bits; int8 per-row scales.
QUANT_OVERHEAD: Final = {"int4": 0.031, "int8": 0.004, "fp8": 0.0}
KV_BYTES: Final = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0}


@dataclass
class MemoryEstimate:
    breakdown: dict[str, int]
    peak_phase: str
    phases: dict[str, int]
    activation_bytes: int
    kv_cache_bytes_per_token: int = 0
    model_states: dict[str, int] = field(default_factory=dict)
    cpu_bytes: int = 0
    trainable_params: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.breakdown.values())


def _finish(parts: dict[str, float]) -> dict[str, int]:
    """Round each component, then add the framework overhead on top of their sum."""
    out = {key: round(parts.get(key, 0.0)) for key in BREAKDOWN_KEYS}
    subtotal = sum(out.values())
    out["framework_overhead"] = int(CUBLAS_WORKSPACE + ALLOCATOR_ROUNDING * subtotal)
    return out


def _pick_peak(phases: dict[str, dict[str, float]]) -> tuple[str, dict[str, int], dict[str, int]]:
    finished = {name: _finish(parts) for name, parts in phases.items()}
    totals = {name: sum(parts.values()) for name, parts in finished.items()}
    peak = max(totals, key=lambda name: totals[name])
    return peak, finished[peak], totals


# --- training ------------------------------------------------------------------------------


def _stage_params(model: ModelSpec, workload: Workload) -> tuple[float, float]:
    """Parameters one GPU holds before ZeRO: (all of them, the ones in linear layers)."""
    arch = model.architecture
    per_stage_layers = math.ceil(arch.layers / workload.pp)
    if workload.pp == 1:
        ends = arch.embedding_params + arch.head_params
    else:
        ends = max(arch.embedding_params, arch.head_params)
    held = (ends + per_stage_layers * arch.layer_params) / workload.tp
    matmul = arch.matmul_params * per_stage_layers / arch.layers / workload.tp
    if model.source == "params":  # the shape is assumed; keep the stated count exact
        scale = model.params / arch.params
        held, matmul = held * scale, matmul * scale
    return held, matmul


def _optimizer_bytes_per_param(workload: Workload, arch: Architecture) -> tuple[float, float, float]:
    """(weights, gradients, optimizer states) bytes per trainable parameter, before ZeRO."""
    factored = 1 / arch.hidden + 1 / max(arch.intermediate, 1)  # Adafactor's row + column statistics
    if workload.precision == "amp_bf16":
        states = {"adamw": 8.0, "sgd": 4.0, "adafactor": 4 * factored, "adam8bit": 2.0}
        return 4.0, 4.0, states[workload.optimizer]
    if workload.precision == "bf16":
        states = {"adamw": 4.0, "sgd": 2.0, "adafactor": 2 * factored, "adam8bit": 2.0}
        return 2.0, 2.0, states[workload.optimizer]
    # mixed_zero: the ZeRO paper's accounting, an fp32 master copy inside the optimizer.
    states = {"adamw": 12.0, "sgd": 8.0, "adafactor": 4 + 4 * factored, "adam8bit": 6.0}
    return 2.0, 2.0, states[workload.optimizer]


def _hf_layer_bytes_per_token(arch: Architecture, workload: Workload) -> tuple[float, float]:
    """Bytes one token leaves saved for backward in one decoder layer: (replicated, TP-split).

    Walks a Hugging Face Llama layer: RMSNorm upcasts to fp32 and saves that copy (and, with a
    trainable weight, its normalised output); each trainable projection saves its input — under
    autocast its own bf16 cast of the fp32 residual stream, one per projection; SDPA (flash or
    memory-efficient) saves q, k, v and its output, no s×s scores; SwiGLU saves the gate output,
    SiLU's output, the up output and their product. Frozen projections save nothing; a LoRA
    adapter saves an fp32 copy of its input (peft upcasts it) and its rank-r intermediate.
    """
    h, i, q, kv = arch.hidden, arch.intermediate, arch.q_dim, arch.kv_dim
    amp = workload.precision == "amp_bf16" and not workload.adapters
    full = not workload.adapters
    targets = set(workload.lora_targets) if workload.adapters else set()

    def norm() -> float:
        if amp:  # fp32 residual: the input itself and the fp32 normalised tensor
            return 8.0 * h
        return 4.0 * h + (2.0 * h if full else 0.0)

    def inputs(modules: tuple[str, ...], width: int) -> float:
        saved = 0.0
        if full:
            saved += 2.0 * width * (len(modules) if amp else 1)
        for module in modules:
            if module in targets:
                saved += ADAPTER_BYTES * (width + workload.lora_rank)
        return saved

    replicated = norm() + inputs(("q_proj", "k_proj", "v_proj"), h)
    split = 2.0 * q + 4.0 * kv + 2.0 * q
    if workload.attention == "eager" and workload.activation_checkpointing != "selective":
        split += 6.0 * arch.heads * workload.seq  # fp32 softmax output + its bf16 copy, per key
    if "o_proj" in targets:
        split += ADAPTER_BYTES * (q + workload.lora_rank)
    replicated += norm()
    if arch.mlp == "swiglu":
        replicated += inputs(("gate_proj", "up_proj"), h)
        mlp = 6.0 * i + (2.0 * i if full else 0.0)
    else:
        replicated += inputs(("up_proj",), h)
        mlp = 2.0 * i + (2.0 * i if full else 0.0)
    if "down_proj" in targets:
        mlp += ADAPTER_BYTES * (i + workload.lora_rank)
    if arch.moe:  # each token visits k experts; dispatch keeps a copy of its hidden state per expert
        mlp = arch.experts_per_token * (mlp + 2.0 * h)
    return replicated, split + mlp


def _layer_bytes_per_token(arch: Architecture, workload: Workload) -> float:
    tp = workload.tp
    if workload.framework == "megatron" and not workload.adapters:
        recompute = workload.activation_checkpointing
        per_layer = korthikanti_layer_bytes(
            workload.seq,
            1,
            arch.hidden,
            arch.heads,
            tp,
            sequence_parallel=workload.sequence_parallel,
            recompute="none" if recompute == "full" else recompute,
            flash=workload.attention == "flash",
        )
        return per_layer / workload.seq
    replicated, split = _hf_layer_bytes_per_token(arch, workload)
    if workload.sequence_parallel:
        return (replicated + split) / tp
    return replicated + split / tp


def training_memory(model: ModelSpec, workload: Workload) -> MemoryEstimate:
    arch = model.architecture
    dp, zero = workload.dp, workload.zero_stage
    tokens = workload.batch * workload.seq  # per micro-batch, per GPU
    held, matmul = _stage_params(model, workload)
    hf = workload.framework == "hf" or workload.adapters
    notes: list[str] = []
    cpu = 0.0

    # Model states -------------------------------------------------------------------------
    weight_copies = 0.0
    if workload.adapters:
        linear = sum(
            arch.module_in_features(m) * arch.module_out_features(m) for m in LINEAR_MODULES if arch.has_module(m)
        )
        linear_held = held * (arch.layers * linear) / max(arch.params, 1)
        per_module = sum(
            workload.lora_rank * (arch.module_in_features(m) + arch.module_out_features(m))
            for m in workload.lora_targets
            if arch.has_module(m)
        )
        experts = arch.experts if arch.moe else 1
        adapter_params = arch.layers * per_module * experts / workload.tp
        base = WEIGHT_BYTES[workload.base_precision] + QUANT_OVERHEAD.get(workload.base_precision, 0.0)
        weights = linear_held * base + (held - linear_held) * 2.0 + adapter_params * ADAPTER_BYTES
        grads = adapter_params * ADAPTER_BYTES
        states = {"adamw": 8.0, "sgd": 4.0, "adafactor": 4.0, "adam8bit": 2.0}[workload.optimizer]
        optimizer = adapter_params * states
        trainable = adapter_params
        if workload.base_precision != "bf16":  # one weight dequantised to bf16 at a time
            weight_copies = 2.0 * arch.hidden * max(arch.intermediate, arch.q_dim) / workload.tp
        if zero >= 1:
            optimizer /= dp
        if zero >= 2:
            grads /= dp
    else:
        w_b, g_b, o_b = _optimizer_bytes_per_param(workload, arch)
        weights, grads, optimizer = held * w_b, held * g_b, held * o_b
        trainable = held
        if zero >= 1:
            optimizer /= dp
        if zero >= 2:
            grads /= dp
        if zero >= 3:
            weights /= dp
        if workload.precision == "amp_bf16":
            # autocast's bf16 copies of the linear weights, saved for backward (ZeRO-3: gathered layers only)
            weight_copies = 2.0 * (matmul if zero < 3 else 2 * arch.largest_layer_params / workload.tp)
    if workload.offload in ("optimizer", "optimizer_and_params"):
        cpu += optimizer
        optimizer = 0.0
    if workload.offload == "optimizer_and_params":
        cpu += weights
        weights = 0.0
    communication = 0.0
    if zero >= 3:
        communication += 4.0 * arch.largest_layer_params / workload.tp  # gathered layer + prefetch, bf16
    elif dp > 1 and zero == 0 and hf:
        communication += grads  # DDP's gradient buckets (gradient_as_bucket_view=False, the default)
        notes.append("DDP keeps a second copy of the gradients in its all-reduce buckets.")

    # Activations --------------------------------------------------------------------------
    per_stage_layers = math.ceil(arch.layers / workload.pp)
    in_flight = min(workload.pp, workload.grad_accum) if workload.pp > 1 else 1
    per_layer = _layer_bytes_per_token(arch, workload) * tokens
    full_ckpt = workload.activation_checkpointing == "full"
    resid = 4.0 if (workload.precision == "amp_bf16" and not workload.adapters and hf) else 2.0
    checkpointed = resid * arch.hidden * tokens / (workload.tp if workload.sequence_parallel else 1)
    layers_saved = per_stage_layers * in_flight
    activations = layers_saved * (checkpointed if full_ckpt else per_layer)
    forward_activations = activations

    # The last stage's final norm, LM head input and loss (full-vocabulary logits, upcast to fp32).
    vocab = arch.vocab / workload.tp if arch.lm_head else 0.0
    # amp: the fp32 norm input and output + the head's bf16 cast; bf16: fp32 upcast, normalised
    # tensor, head input; LoRA (frozen norm weight and head): only the fp32 upcast.
    head_inputs = arch.hidden * (10.0 if resid == 4.0 else 4.0 if workload.adapters else 8.0)
    logits_held = 2.0 * vocab * tokens  # the bf16 logits the model returns
    logits_loss_peak = (head_inputs + 10.0 * vocab) * tokens  # + the transient fp32 copy
    logits_backward_peak = (head_inputs + 14.0 * vocab) * tokens  # + NLL and log-softmax gradients

    accumulated = grads if workload.grad_accum > 1 else 0.0
    resident = {"weights": weights, "optimizer_states": optimizer, "communication_buffers": communication}
    phases: dict[str, dict[str, float]] = {}
    if full_ckpt:
        layer_copies = weight_copies * (1 / per_stage_layers) if weight_copies else 0.0
        recompute = per_layer
        first_grads = (arch.embedding_params + arch.layer_params) / workload.tp * (grads / max(held, 1))
        phases["forward"] = {
            **resident,
            "weight_copies": weight_copies,  # autocast's cache holds every cast until autocast exits
            "gradients": accumulated,
            "activations": activations,
            "logits_and_loss": logits_loss_peak,
        }
        phases["start of backward"] = {
            **resident,
            "weight_copies": 2.0 * vocab * arch.hidden if weight_copies else 0.0,
            "gradients": accumulated,
            "activations": activations,
            "logits_and_loss": logits_backward_peak,
        }
        phases["end of backward"] = {
            **resident,
            "weight_copies": layer_copies,
            "gradients": max(grads - first_grads, 0.0),
            "activations": recompute + checkpointed,
            "logits_and_loss": logits_held,
        }
    else:
        phases["start of backward"] = {
            **resident,
            "weight_copies": weight_copies,
            "gradients": accumulated,
            "activations": activations,
            "logits_and_loss": logits_backward_peak,
        }
        phases["end of backward"] = {
            **resident,
            "weight_copies": 0.0,
            "gradients": grads,
            "activations": 0.0,
            "logits_and_loss": logits_held,
        }
    peak, breakdown, totals = _pick_peak(phases)
    return MemoryEstimate(
        breakdown=breakdown,
        peak_phase=peak,
        phases=totals,
        activation_bytes=int(forward_activations),
        model_states={"weights": round(weights), "gradients": round(grads), "optimizer_states": round(optimizer)},
        cpu_bytes=int(cpu),
        trainable_params=int(trainable * workload.tp),
        notes=notes,
    )


# --- inference -----------------------------------------------------------------------------


def inference_weight_bytes(model: ModelSpec, precision: str, tp: int) -> float:
    """Weights on one GPU: decoder projections at ``precision``, embeddings / head / norms in bf16."""
    arch = model.architecture
    linear = (
        arch.matmul_params - (arch.vocab * arch.hidden if arch.lm_head else 0) - (arch.hidden**2 if arch.pooler else 0)
    )
    scale = model.params / arch.params if model.source == "params" else 1.0
    quantised = linear * (WEIGHT_BYTES[precision] + QUANT_OVERHEAD.get(precision, 0.0))
    rest = (arch.params - linear) * 2.0
    return (quantised + rest) * scale / tp


def kv_bytes_per_token(arch: Architecture, kv_precision: str, tp: int) -> float:
    """K and V for one token on one GPU; KV heads split by tp, replicated when tp exceeds them."""
    heads_per_gpu = math.ceil(arch.kv_heads / tp)
    return 2.0 * arch.layers * heads_per_gpu * arch.head_dim * KV_BYTES[kv_precision]


def _forward_transient_per_token(arch: Architecture, tp: int) -> float:
    """The most one token holds inside a layer in inference mode (nothing is saved for backward).

    At SwiGLU's product: the residual and normalised input (bf16) plus SiLU's output, the up
    projection and the product; in RMSNorm: the residual, its fp32 upcast and the fp32 square.
    """
    h, i = arch.hidden, arch.intermediate
    experts = arch.experts_per_token if arch.moe else 1
    mlp = 4.0 * h + experts * (6.0 if arch.mlp == "swiglu" else 4.0) * i / tp
    attention = 4.0 * h + (8.0 * arch.q_dim + 4.0 * arch.kv_dim) / tp
    return max(mlp, attention, 10.0 * h)


def inference_memory(model: ModelSpec, workload: Workload) -> MemoryEstimate:
    arch = model.architecture
    tp = workload.tp
    weights = inference_weight_bytes(model, workload.precision, tp)
    kv_precision = (
        workload.kv_precision if workload.mode == "generate" else ("fp16" if workload.precision == "fp16" else "bf16")
    )
    kv_token = kv_bytes_per_token(arch, kv_precision, tp)
    vocab = arch.vocab / tp if arch.lm_head else 0.0
    transient = _forward_transient_per_token(arch, tp)
    phases: dict[str, dict[str, float]] = {}
    if workload.mode == "prefill":
        tokens = workload.batch * workload.seq
        # model(input_ids) fills a KV cache (use_cache) and returns logits for every position
        phases["prefill"] = {
            "weights": weights,
            "kv_cache": kv_token * tokens,
            "activations": transient * tokens,
            "logits_and_loss": 0.0,
        }
        phases["logits"] = {
            "weights": weights,
            "kv_cache": kv_token * tokens,
            "activations": 2.0 * arch.hidden * tokens,
            "logits_and_loss": 2.0 * vocab * tokens,
        }
    else:
        batch = workload.batch
        prompt = batch * workload.prompt_tokens
        total = batch * (workload.prompt_tokens + workload.new_tokens)
        # generate() asks for the last position's logits only, then upcasts them to fp32
        last_logits = 6.0 * vocab * batch
        phases["prefill"] = {
            "weights": weights,
            "kv_cache": kv_token * prompt,
            "activations": transient * prompt,
            "logits_and_loss": last_logits,
        }
        # DynamicCache grows by torch.cat: for a moment one layer's K (or V) exists twice
        phases["decode"] = {
            "weights": weights,
            "kv_cache": kv_token * total * (1 + 1 / (2 * arch.layers)),
            "activations": transient * batch,
            "logits_and_loss": last_logits,
        }
    peak, breakdown, totals = _pick_peak(phases)
    return MemoryEstimate(
        breakdown=breakdown,
        peak_phase=peak,
        phases=totals,
        activation_bytes=int(phases[peak]["activations"]),
        kv_cache_bytes_per_token=int(kv_token),
    )


def serving_memory(
    model: ModelSpec, precision: str, kv_precision: str, tp: int, device_bytes: int, utilisation: float, max_len: int
) -> dict[str, float]:
    """vLLM's budget: ``gpu_memory_utilization`` of the device, less weights and the profiling
    run's activation peak, is handed to KV-cache blocks."""
    arch = model.architecture
    weights = inference_weight_bytes(model, precision, tp)
    batched_tokens = max(8192, max_len)  # the profiling forward runs max_num_batched_tokens
    activations = _forward_transient_per_token(arch, tp) * batched_tokens + 4.0 * arch.vocab / tp * 256
    budget = device_bytes * utilisation
    kv_token = kv_bytes_per_token(arch, kv_precision, tp)
    kv_cache = max(budget - weights - activations, 0.0)
    tokens = kv_cache / kv_token if kv_token else 0.0
    return {
        "gpu_memory_utilization": utilisation,
        "weights_bytes": weights,
        "activation_bytes": activations,
        "kv_cache_bytes": kv_cache,
        "kv_cache_tokens": math.floor(tokens),
        "max_model_len": max_len,
        "max_concurrent_sequences": math.floor(tokens / max_len) if max_len else 0,
    }
