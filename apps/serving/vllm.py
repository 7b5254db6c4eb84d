"""The vLLM serving configuration of an endpoint, derived from the capacity planner.

Pure Python, no Django: :func:`vllm_config` takes a model (the planner's :class:`ModelSpec`),
an accelerator (the catalog's :class:`AcceleratorSpec`) and what the user asked for, and
returns a frozen :class:`VllmConfig` whose ``engine_args()`` and ``command()`` are what vLLM
takes. Every number comes from the planner's ``serving_memory`` (vLLM's budget:
``gpu_memory_utilization`` of the device, less the weights and the profiling pass's
activations, goes to KV-cache blocks), so the endpoint and the planner never disagree.

Nothing here has run on a GPU: the figures are the planner's estimates, and vLLM measures its
own when it starts. Flag names and rules follow vLLM's engine-argument docs
(https://docs.vllm.ai/en/latest/serving/engine_args.html) and its model config checks.

Problems are raised as :class:`SpecError` (a ``ValueError``) keyed by the input at fault, so
an API view can hand ``exc.errors`` back as a 400.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Final

from apps.planner.estimator.architectures import Architecture
from apps.planner.estimator.hardware import GIB, AcceleratorSpec
from apps.planner.estimator.memory import kv_bytes_per_token, serving_memory
from apps.planner.estimator.spec import LIMITS, ModelSpec, SpecError

PRECISIONS: Final = ("bf16", "fp16", "fp8", "int8", "awq", "gptq")
KV_CACHE_DTYPES: Final = ("auto", "bf16", "fp16", "fp8")
# The planner's name for each precision's weight bytes (AWQ and GPTQ checkpoints are int4).
PLANNER_PRECISION: Final = {"bf16": "bf16", "fp16": "fp16", "fp8": "fp8", "int8": "int8", "awq": "int4", "gptq": "int4"}
# vLLM's --quantization value. fp8 on a bf16 checkpoint quantises at load time; int8 is an INT8
# W8A8 checkpoint made with llm-compressor, which vLLM reads as "compressed-tensors" (vLLM has
# no load-time int8: "bitsandbytes" is another format and "experts_int8" is for MoE experts only).
QUANTIZATION: Final[dict[str, str | None]] = {
    "bf16": None,
    "fp16": None,
    "fp8": "fp8",
    "int8": "compressed-tensors",
    "awq": "awq",
    "gptq": "gptq",
}
# vLLM allocates the KV cache in blocks of this many tokens (--block-size, 16 on CUDA).
BLOCK_SIZE: Final = 16
# vLLM's long-standing default --max-num-seqs; more sequences than this trade latency for
# throughput, which is the user's call to make, not the planner's.
MAX_NUM_SEQS: Final = 256
# When the GPUs per replica are not given, look for the smallest TP within one 8-GPU node:
# tensor parallelism wants NVLink.
MAX_AUTO_TP: Final = 8
# AWQ and GPTQ checkpoints quantise in groups of 128 input features (the usual group size);
# vLLM refuses a TP that splits a group ("The input size is not aligned with the quantized
# weight shape").
INT4_GROUP: Final = 128
# The planner's generate defaults: a 512-token prompt and 256 new tokens.
DEFAULT_TOKENS_PER_SEQUENCE: Final = 512 + 256
DEFAULT_GPU_MEMORY_UTILIZATION: Final = 0.90


@dataclass(frozen=True)
class VllmDerivation:
    """The planner's figures behind a :class:`VllmConfig`, per GPU, so a user sees why."""

    device_memory_bytes: int
    budget_bytes: int  # gpu_memory_utilization × device memory
    weights_bytes: int
    activation_bytes: int  # the profiling forward pass's peak
    kv_cache_bytes: int  # what is left of the budget
    kv_bytes_per_token: int
    kv_cache_tokens: int  # the planner's kv_cache_bytes / kv_bytes_per_token
    kv_cache_blocks: int  # of BLOCK_SIZE tokens, as vLLM allocates them
    tokens_per_sequence: int  # the expected prompt + output length used for max_num_seqs
    max_model_len_wanted: int  # before the cap that keeps one full sequence in the KV cache
    max_model_len_source: str  # "requested" | "model"
    tensor_parallel_source: str  # "requested" | "smallest that fits"
    notes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class VllmConfig:
    """What one vLLM replica of an endpoint runs with."""

    model: str  # what `vllm serve` loads: a Hugging Face repo id or a path
    tensor_parallel_size: int
    max_model_len: int
    gpu_memory_utilization: float
    max_num_seqs: int
    quantization: str | None
    kv_cache_dtype: str  # "auto" (the model's dtype) or "fp8"
    dtype: str  # "bfloat16" or "float16"
    accelerator: str
    derivation: VllmDerivation

    def engine_args(self) -> dict[str, Any]:
        """vLLM's engine arguments (``EngineArgs`` / Ray Serve's ``engine_kwargs``); defaults left out."""
        args: dict[str, Any] = {
            "model": self.model,
            "tensor_parallel_size": self.tensor_parallel_size,
            "max_model_len": self.max_model_len,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "max_num_seqs": self.max_num_seqs,
        }
        if self.quantization:
            args["quantization"] = self.quantization
        if self.kv_cache_dtype != "auto":
            args["kv_cache_dtype"] = self.kv_cache_dtype
        args["dtype"] = self.dtype
        return args

    def command(self) -> list[str]:
        """The ``vllm serve`` argv that starts this replica (the same arguments as ``engine_args``)."""
        argv = ["vllm", "serve", self.model]
        for name, value in self.engine_args().items():
            if name == "model":
                continue
            text = format(value, "g") if isinstance(value, float) else str(value)
            argv += ["--" + name.replace("_", "-"), text]
        return argv

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["derivation"] = self.derivation.as_dict()
        out["engine_args"] = self.engine_args()
        out["command"] = self.command()
        return out


def tensor_parallel_problem(arch: Architecture, precision: str, tp: int) -> str | None:
    """Why vLLM would refuse ``tp`` for this model, in a user's words; None when it would not."""
    if arch.heads % tp:
        return f"Tensor parallel size {tp} must divide the model's {arch.heads} attention heads."
    if arch.kv_heads % tp and tp % arch.kv_heads:
        # Fewer KV heads than GPUs is fine (vLLM replicates them) only when tp is a multiple.
        return f"Tensor parallel size {tp} and the model's {arch.kv_heads} KV heads must divide one another."
    if arch.intermediate % tp:
        return f"Tensor parallel size {tp} must divide the MLP width ({arch.intermediate})."
    if PLANNER_PRECISION[precision] == "int4":
        for what, width in (("MLP width", arch.intermediate), ("attention width", arch.q_dim)):
            if (width // tp) % INT4_GROUP:
                return (
                    f"Tensor parallel size {tp} splits the {what} ({width}) into {width // tp}-wide shards, "
                    f"not a multiple of the {INT4_GROUP}-column quantisation groups of a {precision} checkpoint."
                )
    return None


def tensor_parallel_sizes(arch: Architecture, precision: str, limit: int = MAX_AUTO_TP) -> list[int]:
    """Every TP from 1 to ``limit`` that vLLM accepts for this model and precision."""
    return [tp for tp in range(1, limit + 1) if tensor_parallel_problem(arch, precision, tp) is None]


def vllm_config(
    model: ModelSpec,
    model_id: str,
    accelerator: AcceleratorSpec,
    *,
    precision: str = "bf16",
    kv_cache_dtype: str = "auto",
    tensor_parallel_size: int | None = None,
    max_model_len: int | None = None,
    max_position_embeddings: int | None = None,
    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION,
    tokens_per_sequence: int = DEFAULT_TOKENS_PER_SEQUENCE,
) -> VllmConfig:
    """Derive one replica's vLLM configuration; raise :class:`SpecError` when there is none.

    ``tensor_parallel_size`` is the GPUs per replica (the smallest TP up to 8 that fits when
    left out). ``max_model_len`` defaults to ``max_position_embeddings`` (the model's context,
    from its ``config.json``); one of them is needed. ``tokens_per_sequence`` is the expected
    prompt + output length of a request, which sizes ``max_num_seqs``.
    """
    _check_inputs(
        model_id,
        precision,
        kv_cache_dtype,
        tensor_parallel_size,
        max_model_len,
        max_position_embeddings,
        gpu_memory_utilization,
        tokens_per_sequence,
    )
    dtype = _dtype(precision, accelerator)
    kv_dtype = "fp8" if kv_cache_dtype == "fp8" else "auto"
    kv_precision = "fp8" if kv_dtype == "fp8" else ("fp16" if dtype == "float16" else "bf16")
    wanted = max_model_len or max_position_embeddings or 0
    shortest = min(tokens_per_sequence, wanted)
    budget = _Budget(
        model, PLANNER_PRECISION[precision], kv_precision, accelerator.memory_bytes, gpu_memory_utilization
    )
    notes: list[str] = []

    tp, tp_note = _tensor_parallel(budget, model_id, accelerator.name, precision, tensor_parallel_size, shortest)
    if tp_note:
        notes.append(tp_note)

    length = wanted
    if budget.usable_tokens(tp, wanted) < wanted:
        length = budget.longest_fitting(tp, shortest, wanted)
        source = "requested max_model_len" if max_model_len else "model's context"
        notes.append(
            f"max_model_len is capped from the {source} ({wanted:,}) to {length:,}: the most tokens for which one "
            f"full-length sequence still fits in the KV cache ({budget.usable_tokens(tp, length):,} tokens)."
        )

    figures = budget.figures(tp, length)
    blocks = int(figures["kv_cache_tokens"]) // BLOCK_SIZE
    per_sequence = min(tokens_per_sequence, length)
    if tokens_per_sequence > length:
        notes.append(f"A sequence is at most max_model_len ({length:,}) tokens, not {tokens_per_sequence:,}.")
    blocks_per_sequence = math.ceil(per_sequence / BLOCK_SIZE)
    fitting_sequences = blocks // blocks_per_sequence
    max_num_seqs = max(1, min(fitting_sequences, MAX_NUM_SEQS))
    notes.append(
        f"{blocks:,} KV-cache blocks of {BLOCK_SIZE} tokens hold {fitting_sequences:,} sequences of "
        f"{per_sequence:,} tokens ({blocks_per_sequence:,} blocks each)."
    )
    if fitting_sequences > MAX_NUM_SEQS:
        notes.append(f"max_num_seqs is capped at vLLM's default of {MAX_NUM_SEQS}.")
    notes.extend(_precision_notes(precision, accelerator))
    if model.source == "params":
        notes.append("The model's shape is assumed from its parameter count; the KV-cache figures are a guess.")
    notes.append("These are Paddock's planner estimates; vLLM measures the real figures when it starts.")

    derivation = VllmDerivation(
        device_memory_bytes=budget.device_bytes,
        budget_bytes=int(budget.device_bytes * gpu_memory_utilization),
        weights_bytes=int(figures["weights_bytes"]),
        activation_bytes=int(figures["activation_bytes"]),
        kv_cache_bytes=int(figures["kv_cache_bytes"]),
        kv_bytes_per_token=int(budget.kv_bytes_per_token(tp)),
        kv_cache_tokens=int(figures["kv_cache_tokens"]),
        kv_cache_blocks=blocks,
        tokens_per_sequence=per_sequence,
        max_model_len_wanted=wanted,
        max_model_len_source="requested" if max_model_len else "model",
        tensor_parallel_source="requested" if tensor_parallel_size else "smallest that fits",
        notes=tuple(notes),
    )
    return VllmConfig(
        model=model_id,
        tensor_parallel_size=tp,
        max_model_len=length,
        gpu_memory_utilization=float(gpu_memory_utilization),
        max_num_seqs=max_num_seqs,
        quantization=QUANTIZATION[precision],
        kv_cache_dtype=kv_dtype,
        dtype=dtype,
        accelerator=accelerator.name,
        derivation=derivation,
    )


def _tensor_parallel(
    budget: _Budget, model_id: str, accelerator: str, precision: str, requested: int | None, tokens: int
) -> tuple[int, str | None]:
    """The requested TP if vLLM takes it and it fits, else the smallest that fits; and a note."""
    arch = budget.model.architecture
    candidates = tensor_parallel_sizes(arch, precision)
    if requested is not None:
        problem = tensor_parallel_problem(arch, precision, requested)
        if problem:
            valid = ", ".join(str(tp) for tp in candidates) or "none"
            raise SpecError({"tensor_parallel_size": [f"{problem} vLLM accepts (up to {MAX_AUTO_TP}): {valid}."]})
        if budget.usable_tokens(requested, tokens) < tokens:
            raise SpecError(
                {"tensor_parallel_size": [budget.shortfall(model_id, accelerator, precision, requested, tokens)]}
            )
        return requested, None
    if not candidates:
        problem = tensor_parallel_problem(arch, precision, 1)
        raise SpecError({"precision": [f"vLLM cannot serve this model in {precision}: {problem}"]})
    fitting = [tp for tp in candidates if budget.usable_tokens(tp, tokens) >= tokens]
    if not fitting:
        largest = candidates[-1]
        raise SpecError({"non_field_errors": [budget.shortfall(model_id, accelerator, precision, largest, tokens)]})
    tp = fitting[0]
    if tp == 1:
        return tp, None
    smaller = ", ".join(str(size) for size in candidates if size < tp)
    return tp, f"Tensor parallel {tp} is the smallest that fits; {smaller} leave no room for the KV cache."


@dataclass(frozen=True)
class _Budget:
    """``serving_memory`` with everything but TP and max_model_len fixed."""

    model: ModelSpec
    precision: str  # the planner's name
    kv_precision: str
    device_bytes: int
    utilisation: float

    def figures(self, tp: int, length: int) -> dict[str, float]:
        return serving_memory(
            self.model, self.precision, self.kv_precision, tp, self.device_bytes, self.utilisation, length
        )

    def usable_tokens(self, tp: int, length: int) -> int:
        """KV-cache tokens in whole blocks when vLLM runs with ``max_model_len=length``."""
        return int(self.figures(tp, length)["kv_cache_tokens"]) // BLOCK_SIZE * BLOCK_SIZE

    def kv_bytes_per_token(self, tp: int) -> float:
        return kv_bytes_per_token(self.model.architecture, self.kv_precision, tp)

    def longest_fitting(self, tp: int, low: int, high: int) -> int:
        """The largest length in [low, high] whose KV cache holds one sequence of that length.

        ``low`` fits and ``high`` does not. A longer max_model_len only shrinks the KV cache
        (the profiling pass grows with it), so fitting is monotone and bisection finds the edge.
        """
        while high - low > 1:
            middle = (low + high) // 2
            if self.usable_tokens(tp, middle) >= middle:
                low = middle
            else:
                high = middle
        return low

    def shortfall(self, model_id: str, accelerator: str, precision: str, tp: int, tokens: int) -> str:
        """Why ``tokens`` tokens of KV cache do not fit at ``tp``, with the numbers."""
        figures = self.figures(tp, tokens)
        kv_needed = self.kv_bytes_per_token(tp) * math.ceil(tokens / BLOCK_SIZE) * BLOCK_SIZE
        budget = self.device_bytes * self.utilisation
        return (
            f"{model_id} in {precision} does not fit on {tp} × {accelerator}: per GPU the weights take "
            f"{_gib(figures['weights_bytes'])} and vLLM's profiling pass {_gib(figures['activation_bytes'])}, "
            f"so a KV cache for one {tokens:,}-token sequence ({_gib(kv_needed)}) would need "
            f"{_gib(figures['weights_bytes'] + figures['activation_bytes'] + kv_needed)} of the "
            f"{_gib(budget)} that gpu_memory_utilization {self.utilisation:g} allows of {_gib(self.device_bytes)}. "
            "Use more GPUs per replica, a smaller precision (fp8, awq, gptq), a larger GPU or a higher "
            "gpu_memory_utilization."
        )


def _gib(value: float) -> str:
    return f"{value / GIB:.1f} GiB"


def _dtype(precision: str, accelerator: AcceleratorSpec) -> str:
    """vLLM's --dtype: the activations' type (and the unquantised weights')."""
    if precision in ("awq", "gptq"):
        return "float16"  # vLLM's AWQ and GPTQ kernels take fp16 activations only
    if precision == "fp16":
        return "float16"
    if accelerator.supports_bf16:
        return "bfloat16"
    if precision == "bf16":
        raise SpecError(
            {"precision": [f"{accelerator.name} has no bfloat16 (it predates Ampere); serve the model in fp16."]}
        )
    return "float16"


def _precision_notes(precision: str, accelerator: AcceleratorSpec) -> list[str]:
    if precision == "fp8":
        if accelerator.supports_fp8:
            return ["fp8: vLLM quantises a bf16 checkpoint's weights to FP8 at load time (or reads an FP8 one)."]
        return [
            f"fp8: {accelerator.name} has no FP8 tensor cores, so vLLM runs FP8 weight-only (W8A16, Marlin): "
            "the memory saving without the FP8 speed-up."
        ]
    if precision == "int8":
        return [
            "int8: the model must be an INT8 W8A8 checkpoint made with llm-compressor (vLLM reads it as "
            "compressed-tensors); vLLM does not quantise to int8 at load time, and not on Blackwell GPUs."
        ]
    if precision in ("awq", "gptq"):
        return [
            f"{precision}: the model must be a 4-bit {precision.upper()} checkpoint. --quantization {precision} "
            f"forces vLLM's {precision.upper()} kernel; on Ampere or newer {precision}_marlin is faster "
            "(vLLM picks it itself when --quantization is left out)."
        ]
    return []


def _check_inputs(
    model_id: str,
    precision: str,
    kv_cache_dtype: str,
    tensor_parallel_size: int | None,
    max_model_len: int | None,
    max_position_embeddings: int | None,
    gpu_memory_utilization: float,
    tokens_per_sequence: int,
) -> None:
    errors: dict[str, list[str]] = {}

    def whole(name: str, value: int | None, low: int, high: int) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[name] = [f"Must be a whole number from {low:,} to {high:,}."]

    if not isinstance(model_id, str) or not model_id.strip():
        errors["model"] = ["Name the model vLLM loads: a Hugging Face repo id or a path."]
    if precision not in PRECISIONS:
        errors["precision"] = [f"Must be one of: {', '.join(PRECISIONS)}."]
    if kv_cache_dtype not in KV_CACHE_DTYPES:
        hint = " vLLM has no int8 KV cache; use fp8." if kv_cache_dtype == "int8" else ""
        errors["kv_cache_dtype"] = [f"Must be one of: {', '.join(KV_CACHE_DTYPES)}.{hint}"]
    low_tp, high_tp = (int(bound) for bound in LIMITS["tp"])
    whole("tensor_parallel_size", tensor_parallel_size, low_tp, high_tp)
    longest = 10_000_000
    whole("max_model_len", max_model_len, BLOCK_SIZE, longest)
    whole("max_position_embeddings", max_position_embeddings, BLOCK_SIZE, longest)
    whole("tokens_per_sequence", tokens_per_sequence, 1, longest)
    low_u, high_u = LIMITS["gpu_memory_utilization"]
    if (
        isinstance(gpu_memory_utilization, bool)
        or not isinstance(gpu_memory_utilization, int | float)
        or not low_u <= gpu_memory_utilization <= high_u
    ):
        errors["gpu_memory_utilization"] = [f"Must be a fraction from {low_u:g} to {high_u:g}."]
    if not errors:
        if max_model_len is None and max_position_embeddings is None:
            errors["max_model_len"] = [
                "Give max_model_len, or the model's context length (max_position_embeddings in its config.json)."
            ]
        elif max_model_len and max_position_embeddings and max_model_len > max_position_embeddings:
            errors["max_model_len"] = [
                f"The model's context is {max_position_embeddings:,} tokens; vLLM refuses a longer "
                f"max_model_len ({max_model_len:,})."
            ]
    if errors:
        raise SpecError(errors)
