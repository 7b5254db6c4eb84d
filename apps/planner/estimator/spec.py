"""Turn a JSON spec into typed, validated inputs — or field-by-field errors.

The API, ``manage.py plan`` and job submission all go through :func:`parse_spec`, so a spec
means the same thing everywhere and is refused with the same words. Errors nest like the spec
(``{"model": {"architecture": {"heads": ["…"]}}}``), as DRF's do, so clients can show them
next to the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Final

from apps.planner.estimator.architectures import (
    KNOWN_MODELS,
    LINEAR_MODULES,
    MLP_KINDS,
    Architecture,
    assumed_architecture,
    known_model,
)
from apps.planner.estimator.hardware import AcceleratorSpec, Catalog, Price

TRAINING_MODES: Final = ("pretrain", "full_finetune")
ADAPTER_MODES: Final = ("lora", "qlora")
INFERENCE_MODES: Final = ("prefill", "generate")
MODES: Final = TRAINING_MODES + ADAPTER_MODES + INFERENCE_MODES
TRAINING_PRECISIONS: Final = ("amp_bf16", "bf16", "mixed_zero")
OPTIMIZERS: Final = ("adamw", "sgd", "adafactor", "adam8bit")
OPTIMIZER_ALIASES: Final = {"adam": "adamw", "adamw_8bit": "adam8bit", "adamw8bit": "adam8bit", "adam_8bit": "adam8bit"}
CHECKPOINTING: Final = ("none", "selective", "full")
ATTENTION: Final = ("flash", "eager")
OFFLOAD: Final = ("none", "optimizer", "optimizer_and_params")
FRAMEWORKS: Final = ("hf", "megatron")
BASE_PRECISIONS: Final = ("bf16", "int8", "int4")
WEIGHT_PRECISIONS: Final = ("bf16", "fp16", "fp8", "int8", "int4")
KV_PRECISIONS: Final = ("bf16", "fp16", "fp8", "int8")
DEFAULT_LORA_TARGETS: Final = ("q_proj", "k_proj", "v_proj", "o_proj")
DEFAULT_MFU: Final = 0.40
MAX_RECOMMENDATIONS: Final = 20
# The most specs one request (or one `manage.py plan` file) may hold: each costs a search over
# every pool, so a list is bounded like any other input.
MAX_SPECS: Final = 100

# The accepted range of every numeric field, by name (names are unique across model, workload
# and hardware). Bounds are what real hardware and training runs can mean; beyond them a value
# is a typo or a probe, and the arithmetic's results would be meaningless (an MFU of 1e-300
# asks for a run longer than the universe is old). The API's schema documents the same ranges.
LIMITS: Final[dict[str, tuple[float, float]]] = {
    # model
    "params": (1e6, 1e14),
    "hidden": (1, 1_000_000),
    "layers": (1, 10_000),
    "heads": (1, 10_000),
    "kv_heads": (1, 10_000),
    "intermediate": (1, 10_000_000),
    "vocab": (1, 10_000_000),
    "experts": (1, 1024),
    "experts_per_token": (1, 1024),
    # workload
    "batch": (1, 1_000_000),
    "seq": (1, 10_000_000),
    "tp": (1, 1024),
    "pp": (1, 1024),
    "dp": (1, 1_000_000),
    "zero_stage": (0, 3),
    "grad_accum": (1, 100_000),
    "tokens": (1.0, 1e16),
    "mfu": (0.01, 1.0),
    "tokens_per_second_per_gpu": (0.01, 1e9),
    "lora_rank": (1, 65_536),
    "prompt_tokens": (1, 10_000_000),
    "new_tokens": (1, 10_000_000),
    "gpu_memory_utilization": (0.05, 1.0),
    # hardware
    "gpus": (1, 1_000_000),
    "gpus_per_node": (1, 1024),
    "price_per_gpu_hour": (0.0, 1e6),
    # the spec itself
    "recommendations": (0, MAX_RECOMMENDATIONS),
}

_COMMON: Final = frozenset({"mode", "batch", "attention", "mfu", "tp"})
_TRAIN: Final = _COMMON | {
    "seq",
    "precision",
    "optimizer",
    "activation_checkpointing",
    "zero_stage",
    "offload",
    "pp",
    "dp",
    "tokens",
    "grad_accum",
    "sequence_parallel",
    "framework",
    "tokens_per_second_per_gpu",
}
FIELDS_BY_MODE: Final[dict[str, frozenset[str]]] = {
    "pretrain": _TRAIN,
    "full_finetune": _TRAIN,
    "lora": (_TRAIN - {"framework", "sequence_parallel"}) | {"base_precision", "lora_rank", "lora_targets"},
    "qlora": (_TRAIN - {"framework", "sequence_parallel"}) | {"base_precision", "lora_rank", "lora_targets"},
    "prefill": _COMMON | {"seq", "precision"},
    "generate": _COMMON | {"prompt_tokens", "new_tokens", "precision", "kv_precision", "gpu_memory_utilization"},
}
ARCHITECTURE_FIELDS: Final = frozenset(
    {"hidden", "layers", "heads", "kv_heads", "intermediate", "vocab", "tied_embeddings", "mlp", "experts"}
    | {"experts_per_token"}
)


class SpecError(ValueError):
    """The spec is wrong; ``errors`` says where and why, nested like the spec."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(_flatten(errors))
        self.errors = errors


def _flatten(errors: Mapping[str, Any], prefix: str = "") -> str:
    parts: list[str] = []
    for key, value in errors.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            parts.append(_flatten(value, path))
        else:
            parts.append(f"{path}: {' '.join(str(v) for v in value)}")
    return "; ".join(parts)


@dataclass(frozen=True)
class ModelSpec:
    architecture: Architecture
    params: int
    source: str  # "known" | "architecture" | "params"
    name: str = ""

    @property
    def active_params(self) -> int:
        if self.source == "params":
            return self.params
        return self.architecture.active_params


@dataclass(frozen=True)
class Workload:
    mode: str
    batch: int = 1
    seq: int = 2048
    precision: str = "amp_bf16"
    optimizer: str = "adamw"
    activation_checkpointing: str = "none"
    attention: str = "flash"
    zero_stage: int = 0
    offload: str = "none"
    tp: int = 1
    pp: int = 1
    dp: int = 1
    tokens: float | None = None
    grad_accum: int = 1
    mfu: float = DEFAULT_MFU
    mfu_given: bool = False
    sequence_parallel: bool = False
    framework: str = "hf"
    tokens_per_second_per_gpu: float | None = None
    base_precision: str = "bf16"
    lora_rank: int = 16
    lora_targets: tuple[str, ...] = DEFAULT_LORA_TARGETS
    prompt_tokens: int = 512
    new_tokens: int = 256
    kv_precision: str = "bf16"
    gpu_memory_utilization: float = 0.9

    @property
    def training(self) -> bool:
        return self.mode in TRAINING_MODES or self.mode in ADAPTER_MODES

    @property
    def adapters(self) -> bool:
        return self.mode in ADAPTER_MODES

    @property
    def tokens_per_microbatch(self) -> int:
        if self.mode == "generate":
            return self.batch * self.prompt_tokens
        return self.batch * self.seq

    def as_dict(self) -> dict[str, Any]:
        """The fields that matter for this mode, defaults filled in (echoed in the result)."""
        fields = FIELDS_BY_MODE[self.mode] - {"mode"}
        out: dict[str, Any] = {"mode": self.mode}
        for name in sorted(fields):
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class HardwareSpec:
    accelerator: AcceleratorSpec
    gpus: int
    gpus_per_node: int
    price: Price | None

    @property
    def nodes(self) -> int:
        return math.ceil(self.gpus / self.gpus_per_node)


@dataclass(frozen=True)
class PlanSpec:
    model: ModelSpec
    workload: Workload
    hardware: HardwareSpec
    recommendations: int = 5


def _is_number(value: Any) -> bool:
    """A JSON number: an int of any size or a finite float, never a bool (JSON's true)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


class _Reader:
    """Reads typed fields out of one JSON object, collecting errors instead of raising."""

    def __init__(self, data: Mapping[str, Any], errors: dict[str, Any]) -> None:
        self.data = data
        self.errors = errors

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def has(self, name: str) -> bool:
        return name in self.data and self.data[name] is not None

    def integer(self, name: str, default: int) -> int:
        """A whole number within ``LIMITS[name]``."""
        if not self.has(name):
            return default
        low, high = (int(bound) for bound in LIMITS[name])
        value = self.data[name]
        if not _is_number(value):
            self.fail(name, "Must be a whole number.")
            return default
        if value != int(value):
            self.fail(name, "Must be a whole number.")
            return default
        if not low <= value <= high:
            self.fail(name, f"Must be between {low:,} and {high:,}.")
            return default
        return int(value)

    def number(self, name: str, default: float) -> float:
        """A finite number within ``LIMITS[name]``."""
        if not self.has(name):
            return default
        low, high = LIMITS[name]
        value = self.data[name]
        if not _is_number(value):
            self.fail(name, "Must be a number.")
            return default
        if not low <= value <= high:
            self.fail(name, f"Must be at least {low:g} and at most {high:g}.")
            return default
        return float(value)

    def choice(self, name: str, default: str, choices: tuple[str, ...], aliases: Mapping[str, str] = {}) -> str:
        if not self.has(name):
            return default
        value = self.data[name]
        if isinstance(value, str):
            value = aliases.get(value.lower(), value.lower())
            if value in choices:
                return value
        self.fail(name, f"Must be one of: {', '.join(choices)}.")
        return default

    def boolean(self, name: str, default: bool) -> bool:
        if not self.has(name):
            return default
        value = self.data[name]
        if isinstance(value, bool):
            return value
        self.fail(name, "Must be true or false.")
        return default

    def unknown(self, allowed: frozenset[str], where: str) -> None:
        for name in sorted(set(self.data) - allowed):
            self.fail(name, f"Unknown field{where}; allowed: {', '.join(sorted(allowed))}.")


def _object(value: Any, errors: dict[str, Any], name: str, *, required: bool = True) -> Mapping[str, Any] | None:
    if value is None:
        if required:
            errors[name] = ["This field is required."]
        return None
    if not isinstance(value, Mapping):
        errors[name] = ["Must be a JSON object."]
        return None
    return value


def _parse_architecture(data: Mapping[str, Any], errors: dict[str, Any]) -> Architecture | None:
    r = _Reader(data, errors)
    r.unknown(ARCHITECTURE_FIELDS, "")
    for name in ("hidden", "layers", "heads", "vocab"):
        if not r.has(name):
            r.fail(name, "This field is required.")
    hidden = r.integer("hidden", 0)
    layers = r.integer("layers", 0)
    heads = r.integer("heads", 0)
    vocab = r.integer("vocab", 0)
    kv_heads = r.integer("kv_heads", heads)
    mlp = r.choice("mlp", "swiglu", MLP_KINDS)
    default_intermediate = 4 * hidden if mlp == "gelu" else 256 * math.ceil(8 * hidden / 3 / 256)
    intermediate = r.integer("intermediate", default_intermediate)
    tied = r.boolean("tied_embeddings", False)
    experts = r.integer("experts", 1)
    experts_per_token = r.integer("experts_per_token", min(2, experts))
    if hidden and heads and hidden % heads:
        r.fail("heads", f"heads ({heads}) must divide hidden ({hidden}).")
    if heads and kv_heads and heads % kv_heads:
        r.fail("kv_heads", f"kv_heads ({kv_heads}) must divide heads ({heads}).")
    if experts_per_token > experts:
        r.fail("experts_per_token", f"Cannot route to more experts ({experts_per_token}) than there are ({experts}).")
    if errors:
        return None
    return Architecture(
        hidden=hidden,
        layers=layers,
        heads=heads,
        kv_heads=kv_heads,
        intermediate=intermediate,
        vocab=vocab,
        tied_embeddings=tied,
        mlp="gelu" if mlp == "gelu" else "swiglu",
        experts=experts,
        experts_per_token=experts_per_token,
    )


def _parse_model(data: Mapping[str, Any], errors: dict[str, Any]) -> ModelSpec | None:
    given = [key for key in ("name", "params", "architecture") if key in data]
    unknown = sorted(set(data) - {"name", "params", "architecture"})
    for key in unknown:
        errors[key] = ["Unknown field; give one of name, params or architecture."]
    if len(given) != 1:
        errors.setdefault("non_field_errors", []).append(
            "Give exactly one of name (a known model), params (a parameter count) or architecture."
        )
        return None
    if unknown:
        return None
    if "name" in data:
        name = data["name"]
        found = known_model(name) if isinstance(name, str) else None
        if found is None:
            errors["name"] = [f"Unknown model {name!r}; known: {', '.join(sorted(KNOWN_MODELS))}."]
            return None
        arch = found.architecture
        return ModelSpec(architecture=arch, params=arch.params, source="known", name=found.name)
    if "params" in data:
        r = _Reader(data, errors)
        params = r.number("params", 0.0)
        if errors:
            return None
        return ModelSpec(architecture=assumed_architecture(params), params=round(params), source="params")
    arch_errors: dict[str, Any] = {}
    raw = _object(data["architecture"], arch_errors, "architecture")
    shape = _parse_architecture(raw, arch_errors.setdefault("architecture", {})) if raw is not None else None
    if shape is None:
        errors.update({key: value for key, value in arch_errors.items() if value})
        return None
    return ModelSpec(architecture=shape, params=shape.params, source="architecture")


def parse_model(data: Any) -> ModelSpec:
    """A model as the planner reads one (a known name, a parameter count or an architecture);
    raises :class:`SpecError` naming the field (for callers besides a plan, e.g. vLLM's config)."""
    errors: dict[str, Any] = {}
    model = _parse_model(data, errors) if isinstance(data, Mapping) else None
    if model is None:
        raise SpecError({"model": errors or ["An object: name, params or architecture."]})
    return model


def _parse_workload(data: Mapping[str, Any], errors: dict[str, Any], arch: Architecture | None) -> Workload | None:
    r = _Reader(data, errors)
    mode = r.choice("mode", "", MODES)
    if not r.has("mode"):
        r.fail("mode", f"This field is required; one of: {', '.join(MODES)}.")
    if not mode:
        return None
    r.unknown(FIELDS_BY_MODE[mode], f" for mode {mode!r}")
    adapters = mode in ADAPTER_MODES
    inference = mode in INFERENCE_MODES
    values: dict[str, Any] = {"mode": mode}
    values["batch"] = r.integer("batch", 1)
    values["attention"] = r.choice("attention", "flash", ATTENTION)
    values["tp"] = r.integer("tp", 1)
    values["mfu_given"] = r.has("mfu")
    values["mfu"] = r.number("mfu", DEFAULT_MFU)
    if inference:
        values["precision"] = r.choice("precision", "bf16", WEIGHT_PRECISIONS)
        if mode == "prefill":
            values["seq"] = r.integer("seq", 2048)
        else:
            values["prompt_tokens"] = r.integer("prompt_tokens", 512)
            values["new_tokens"] = r.integer("new_tokens", 256)
            default_kv = "fp16" if values["precision"] == "fp16" else "bf16"
            values["kv_precision"] = r.choice("kv_precision", default_kv, KV_PRECISIONS)
            values["gpu_memory_utilization"] = r.number("gpu_memory_utilization", 0.9)
    else:
        values["seq"] = r.integer("seq", 2048)
        default_precision = "bf16" if adapters else "amp_bf16"
        values["precision"] = r.choice("precision", default_precision, TRAINING_PRECISIONS)
        values["optimizer"] = r.choice("optimizer", "adamw", OPTIMIZERS, OPTIMIZER_ALIASES)
        values["activation_checkpointing"] = r.choice("activation_checkpointing", "none", CHECKPOINTING)
        values["zero_stage"] = r.integer("zero_stage", 0)
        offload = data.get("offload")
        if isinstance(offload, bool):  # "offload": true means the optimizer, as in DeepSpeed's configs
            values["offload"] = "optimizer" if offload else "none"
        else:
            values["offload"] = r.choice("offload", "none", OFFLOAD)
        values["pp"] = r.integer("pp", 1)
        values["dp"] = r.integer("dp", 0)  # 0: derive from the GPU count
        values["grad_accum"] = r.integer("grad_accum", 1)
        if r.has("tokens"):
            values["tokens"] = r.number("tokens", 0.0)
        if r.has("tokens_per_second_per_gpu"):
            values["tokens_per_second_per_gpu"] = r.number("tokens_per_second_per_gpu", 0.0)
        if not adapters:
            values["framework"] = r.choice("framework", "hf", FRAMEWORKS)
            values["sequence_parallel"] = r.boolean("sequence_parallel", values["framework"] == "megatron")
        else:
            values["base_precision"] = r.choice(
                "base_precision", "int4" if mode == "qlora" else "bf16", BASE_PRECISIONS
            )
            values["lora_rank"] = r.integer("lora_rank", 16)
            values["lora_targets"] = _lora_targets(r)
        offload_needs = {"optimizer": 1, "optimizer_and_params": 3}.get(values["offload"], 0)
        if values["zero_stage"] < offload_needs:
            r.fail(
                "offload", f"Offloading {values['offload'].replace('_', ' ')} needs ZeRO stage {offload_needs} or more."
            )
    if arch is not None:
        _check_parallelism(r, values, arch)
    if errors:
        return None
    return Workload(**values)


def _lora_targets(r: _Reader) -> tuple[str, ...]:
    if not r.has("lora_targets"):
        return DEFAULT_LORA_TARGETS
    value = r.data["lora_targets"]
    if value in ("all-linear", "all_linear"):
        return LINEAR_MODULES
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        r.fail("lora_targets", 'Give a list of module names, e.g. ["q_proj", "v_proj"], or "all-linear".')
        return DEFAULT_LORA_TARGETS
    bad = sorted(set(value) - set(LINEAR_MODULES))
    if bad:
        r.fail("lora_targets", f"Unknown module {', '.join(bad)}; use {', '.join(LINEAR_MODULES)}.")
        return DEFAULT_LORA_TARGETS
    return tuple(module for module in LINEAR_MODULES if module in value)


def _check_parallelism(r: _Reader, values: dict[str, Any], arch: Architecture) -> None:
    tp = values["tp"]
    if arch.heads % tp:
        r.fail("tp", f"tp ({tp}) must divide the attention heads ({arch.heads}).")
    elif arch.kv_heads % tp and tp % arch.kv_heads:
        r.fail("tp", f"tp ({tp}) and kv_heads ({arch.kv_heads}) must divide one another.")
    if values.get("pp", 1) > arch.layers:
        r.fail("pp", f"pp ({values['pp']}) cannot exceed the layers ({arch.layers}).")


def _parse_hardware(data: Mapping[str, Any], errors: dict[str, Any], catalog: Catalog) -> HardwareSpec | None:
    r = _Reader(data, errors)
    r.unknown(frozenset({"accelerator", "gpus", "gpus_per_node", "price_per_gpu_hour"}), "")
    accelerator: AcceleratorSpec | None = None
    name = data.get("accelerator")
    if not isinstance(name, str) or not name.strip():
        r.fail("accelerator", "Name an accelerator from the catalog, e.g. H100 SXM.")
    else:
        accelerator = catalog.find(name)
        if accelerator is None:
            r.fail("accelerator", f"Unknown accelerator {name!r}; the catalog has: {', '.join(catalog.names())}.")
    gpus = r.integer("gpus", 1)
    per_node_default = min(gpus, (accelerator.nvlink_domain_size if accelerator else None) or 8)
    gpus_per_node = r.integer("gpus_per_node", per_node_default)
    price = accelerator.price if accelerator else None
    if r.has("price_per_gpu_hour"):
        value = r.number("price_per_gpu_hour", 0.0)
        price = Price(per_gpu_hour=Decimal(str(value)), offer="given in the spec")
    if errors or accelerator is None:
        return None
    return HardwareSpec(accelerator=accelerator, gpus=gpus, gpus_per_node=min(gpus_per_node, gpus), price=price)


def parse_spec(data: Any, catalog: Catalog) -> PlanSpec:
    """Validate one spec; raise :class:`SpecError` with every problem found, not just the first."""
    if not isinstance(data, Mapping):
        raise SpecError({"non_field_errors": ["A spec is a JSON object with model, workload and hardware."]})
    errors: dict[str, Any] = {}
    for key in sorted(set(data) - {"model", "workload", "hardware", "recommendations"}):
        errors[key] = ["Unknown field; a spec has model, workload, hardware and optionally recommendations."]
    model = workload = hardware = None
    raw_model = _object(data.get("model"), errors, "model")
    if raw_model is not None:
        model_errors: dict[str, Any] = {}
        model = _parse_model(raw_model, model_errors)
        if model_errors:
            errors["model"] = model_errors
    raw_workload = _object(data.get("workload"), errors, "workload")
    if raw_workload is not None:
        workload_errors: dict[str, Any] = {}
        workload = _parse_workload(raw_workload, workload_errors, model.architecture if model else None)
        if workload_errors:
            errors["workload"] = workload_errors
    raw_hardware = _object(data.get("hardware"), errors, "hardware")
    if raw_hardware is not None:
        hardware_errors: dict[str, Any] = {}
        hardware = _parse_hardware(raw_hardware, hardware_errors, catalog)
        if hardware_errors:
            errors["hardware"] = hardware_errors
    root = _Reader(data, errors)
    recommendations = root.integer("recommendations", 5)
    if workload is not None and hardware is not None and not errors:
        workload = _fit_degrees(workload, hardware, errors)
    if errors or model is None or workload is None or hardware is None:
        raise SpecError(errors)
    return PlanSpec(model=model, workload=workload, hardware=hardware, recommendations=recommendations)


def _fit_degrees(workload: Workload, hardware: HardwareSpec, errors: dict[str, Any]) -> Workload:
    """Check tp × pp × dp against the GPU count; derive dp when it was left out."""
    gpus = hardware.gpus
    model_parallel = workload.tp * workload.pp
    if gpus % model_parallel:
        errors.setdefault("workload", {})["tp"] = [f"tp × pp = {model_parallel} must divide hardware.gpus ({gpus})."]
        return workload
    if workload.mode in INFERENCE_MODES:
        return replace(workload, dp=gpus // model_parallel)
    dp = gpus // model_parallel
    if workload.dp and workload.dp != dp:
        errors.setdefault("workload", {})["dp"] = [
            f"tp × pp × dp = {model_parallel * workload.dp} but hardware.gpus is {gpus}."
        ]
        return workload
    if workload.tp > hardware.gpus_per_node:
        errors.setdefault("workload", {})["tp"] = [
            f"tp ({workload.tp}) is more than the GPUs in one node ({hardware.gpus_per_node}); "
            "tensor parallelism needs NVLink, keep it within a node."
        ]
    return replace(workload, dp=dp)
