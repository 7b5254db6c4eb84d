"""Properties every estimate keeps, whatever the model and workload (Hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.planner.conftest import evaluation, plan

HEAD_SIZES = st.sampled_from([64, 128])


@st.composite
def architectures(draw: st.DrawFn) -> dict[str, Any]:
    heads = draw(st.sampled_from([8, 16, 32, 64]))
    kv_heads = draw(st.sampled_from([h for h in (1, 2, 4, 8, heads) if heads % h == 0]))
    return {
        "hidden": heads * draw(HEAD_SIZES),
        "layers": draw(st.integers(2, 96)),
        "heads": heads,
        "kv_heads": kv_heads,
        "intermediate": draw(st.integers(1, 64)) * 256,
        "vocab": draw(st.sampled_from([32000, 50257, 128256])),
        "tied_embeddings": draw(st.booleans()),
        "mlp": draw(st.sampled_from(["gelu", "swiglu"])),
    }


@st.composite
def training(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "mode": draw(st.sampled_from(["pretrain", "full_finetune", "lora", "qlora"])),
        "batch": draw(st.integers(1, 16)),
        "seq": draw(st.sampled_from([256, 1024, 4096])),
        "attention": draw(st.sampled_from(["flash", "eager"])),
        "optimizer": draw(st.sampled_from(["adamw", "sgd", "adafactor", "adam8bit"])),
    }


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def spec(arch: dict[str, Any], workload: dict[str, Any], gpus: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "model": {"architecture": arch},
        "workload": {**workload, **extra},
        "hardware": {"accelerator": "H100", "gpus": gpus},
    }


@SETTINGS
@given(architectures(), training(), st.sampled_from([2, 4, 8]))
def test_more_gpus_under_zero_3_never_raise_memory_per_gpu(arch: dict, workload: dict, gpus: int) -> None:
    if workload["mode"] not in ("pretrain", "full_finetune"):
        workload = {**workload, "mode": "full_finetune"}
    fewer = plan(spec(arch, workload, gpus, zero_stage=3, precision="mixed_zero"))
    more = plan(spec(arch, workload, gpus * 2, zero_stage=3, precision="mixed_zero"))
    assert more["memory_per_gpu_bytes"] <= fewer["memory_per_gpu_bytes"]


@SETTINGS
@given(architectures(), training())
def test_checkpointing_never_raises_activation_memory(arch: dict, workload: dict) -> None:
    none = plan(spec(arch, workload, activation_checkpointing="none"))
    selective = plan(spec(arch, workload, activation_checkpointing="selective"))
    full = plan(spec(arch, workload, activation_checkpointing="full"))
    assert full["activation_bytes"] <= selective["activation_bytes"] <= none["activation_bytes"]


@SETTINGS
@given(architectures(), training())
def test_doubling_the_batch_doubles_activations(arch: dict, workload: dict) -> None:
    one = plan(spec(arch, {**workload, "batch": workload["batch"]}))
    two = plan(spec(arch, {**workload, "batch": 2 * workload["batch"]}))
    assert 1.9 <= two["activation_bytes"] / one["activation_bytes"] <= 2.1


@SETTINGS
@given(architectures(), training(), st.sampled_from([1, 2, 8]))
def test_breakdown_sums_to_the_total_and_fit_matches_headroom(arch: dict, workload: dict, gpus: int) -> None:
    result = plan(spec(arch, workload, gpus))
    assert sum(result["breakdown"].values()) == result["memory_per_gpu_bytes"]
    assert all(value >= 0 for value in result["breakdown"].values())
    assert result["fits"] == (result["headroom_bytes"] >= 0)
    ev = evaluation(spec(arch, workload, gpus))
    assert ev.memory_per_gpu == result["memory_per_gpu_bytes"]


@SETTINGS
@given(architectures(), st.integers(1, 32), st.integers(16, 4096), st.integers(1, 2048))
def test_generation_memory_grows_with_new_tokens(arch: dict, batch: int, prompt: int, new: int) -> None:
    short = plan(spec(arch, {"mode": "generate", "batch": batch, "prompt_tokens": prompt, "new_tokens": new}))
    long = plan(spec(arch, {"mode": "generate", "batch": batch, "prompt_tokens": prompt, "new_tokens": 2 * new}))
    assert long["memory_per_gpu_bytes"] >= short["memory_per_gpu_bytes"]
    assert long["total_time_s"] > short["total_time_s"]


@SETTINGS
@given(architectures(), training())
def test_recommendations_fit_and_are_cheapest_first(arch: dict, workload: dict) -> None:
    result = plan(spec(arch, workload), pools=True)
    rows = result["recommendations"]
    assert all(row["headroom_bytes"] >= 0 for row in rows)
    costs = [float(row["cost_per_million_tokens"]) for row in rows if row["cost_per_million_tokens"] is not None]
    assert costs == sorted(costs)
