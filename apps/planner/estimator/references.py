"""The public formulas the planner is checked against, each as its source states it.

These are not the planner's own model (that is :mod:`memory`, which follows what PyTorch
actually allocates); they are what the ZeRO paper, DeepSpeed's and Accelerate's estimators,
Korthikanti et al. and the scaling-law papers say, so results can carry them as cross-checks
and the tests can hold the planner to them. Sources: ``shared/reference/planner.md``.
"""

from __future__ import annotations

import math

GIB = 2**30


def zero_model_states(params: float, dp: int, stage: int, k: float = 12.0) -> float:
    """ZeRO paper (Rajbhandari et al. 2020) bytes per GPU for 2-byte params/grads + K bytes of optimizer."""
    if stage == 0:
        return (2 + 2 + k) * params
    if stage == 1:
        return 4 * params + k * params / dp
    if stage == 2:
        return 2 * params + (2 + k) * params / dp
    return (2 + 2 + k) * params / dp


def deepspeed_zero2(
    params: float, gpus_per_node: int, nodes: int = 1, *, offload_optimizer: bool = False
) -> tuple[float, float]:
    """``estimate_zero2_model_states_mem_needs``: (per-GPU, per-CPU) bytes, the docs' "cold" formula."""
    total_gpus = gpus_per_node * nodes
    if offload_optimizer:
        gpu = 2 * params
        cpu = params * max(4 * gpus_per_node, 16) * 1.5
    else:
        gpu = 4 * params + 16 * params / total_gpus
        cpu = params * 4 * gpus_per_node * 1.5
    return gpu, cpu


def deepspeed_zero3(
    params: float,
    largest_layer: float,
    gpus_per_node: int,
    nodes: int = 1,
    *,
    offload_optimizer: bool = False,
    offload_params: bool = False,
    zero_init: bool = True,
) -> tuple[float, float]:
    """``estimate_zero3_model_states_mem_needs``: (per-GPU, per-CPU) bytes, "cold" formula."""
    total_gpus = gpus_per_node * nodes
    gathered = 4 * largest_layer
    if offload_params and offload_optimizer:
        gpu = gathered
        cpu = (
            params * 18 * (1 / nodes) * 1.5 if zero_init else max(params * 18 / nodes, params * 4 * gpus_per_node) * 1.5
        )
    elif offload_optimizer:
        gpu = gathered + 2 * params / total_gpus
        cpu = (
            params * 16 * (1 / nodes) * 1.5 if zero_init else max(params * 16 / nodes, params * 4 * gpus_per_node) * 1.5
        )
    else:
        gpu = gathered + 18 * params / total_gpus
        cpu = largest_layer * 4 * gpus_per_node * 1.5 if zero_init else params * 4 * gpus_per_node * 1.5
    return gpu, cpu


def accelerate_estimate(params: float, largest_layer: float, dtype_bytes: float) -> dict[str, float]:
    """``accelerate estimate-memory``: model size at a dtype, its largest layer, and 4× for Adam."""
    total = params * dtype_bytes
    return {"total_bytes": total, "largest_layer_bytes": largest_layer * dtype_bytes, "adam_training_bytes": 4 * total}


def korthikanti_layer_bytes(
    seq: int,
    batch: int,
    hidden: int,
    heads: int,
    tp: int = 1,
    *,
    sequence_parallel: bool = False,
    recompute: str = "none",
    flash: bool = False,
) -> float:
    """Activation bytes per transformer layer (Korthikanti et al. 2022, Table 2; 16-bit activations)."""
    sbh = seq * batch * hidden
    scores = 0.0 if flash else 5 * heads * seq / hidden
    if recompute == "full":
        return 2 * sbh
    if recompute == "selective":
        scores = 0.0
    if sequence_parallel:
        return sbh / tp * (34 + scores)
    return sbh * (10 + 24 / tp + scores / tp)


def kv_cache_bytes_per_token(layers: int, kv_heads: int, head_dim: int, bytes_per_element: float) -> float:
    """2 (K and V) × layers × KV heads × head size × bytes (the vLLM paper's arithmetic)."""
    return 2 * layers * kv_heads * head_dim * bytes_per_element


def training_flops(params: float, tokens: float) -> float:
    """C ≈ 6·N·D (Kaplan et al. 2020; Hoffmann et al. 2022)."""
    return 6 * params * tokens


def seconds_from_throughput(tokens: float, gpus: int, tokens_per_second_per_gpu: float) -> float:
    return tokens / (gpus * tokens_per_second_per_gpu)


def implied_mfu(params: float, tokens_per_second_per_gpu: float, peak_flops: float) -> float:
    return 6 * params * tokens_per_second_per_gpu / peak_flops


def mfu_from_gpu_hours(params: float, tokens: float, gpu_hours: float, peak_flops: float) -> float:
    return training_flops(params, tokens) / (gpu_hours * 3600 * peak_flops)


def round_up(value: float, quantum: int) -> int:
    return int(math.ceil(value / quantum) * quantum)
