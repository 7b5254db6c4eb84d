"""The public oracles of shared/reference/planner.md, with the tolerances it states.

Each test drives the planner as scripts do (a spec in, the result's named fields out) where the
oracle is about the planner's own figures, and the reference formula directly where the oracle
is another tool's estimator (DeepSpeed's, Accelerate's), which the results carry as cross-checks.
"""

from __future__ import annotations

import pytest

from apps.planner.estimator import known_model, references
from tests.planner.conftest import plan

GIB = 2**30
MIB = 2**20


def states_total(result: dict) -> int:
    return sum(result["model_states"].values())


# 1. ZeRO paper, Fig. 1: Ψ = 7.5B on 64 GPUs, mixed precision Adam (K = 12).
@pytest.mark.parametrize(("stage", "expected_gb"), [(0, 120.0), (1, 31.41), (2, 16.64), (3, 1.875)])
def test_zero_paper_model_states(stage: int, expected_gb: float) -> None:
    result = plan(
        {
            "model": {"params": 7.5e9},
            "workload": {"mode": "pretrain", "precision": "mixed_zero", "zero_stage": stage, "batch": 1, "seq": 512},
            "hardware": {"accelerator": "A100 80GB SXM", "gpus": 64},
        }
    )
    assert states_total(result) / 1e9 == pytest.approx(expected_gb, rel=0.001)
    assert result["cross_checks"]["zero_paper_model_states_bytes"] / 1e9 == pytest.approx(expected_gb, rel=0.001)


def test_zero_paper_derived_llama_2_7b_on_8_gpus() -> None:
    for stage, expected in [(0, 107.81), (1, 37.06), (2, 25.27), (3, 13.48)]:
        result = plan(
            {
                "model": {"name": "llama-2-7b"},
                "workload": {"mode": "pretrain", "precision": "mixed_zero", "zero_stage": stage, "seq": 512},
                "hardware": {"accelerator": "H100", "gpus": 8},
            }
        )
        assert states_total(result) / 1e9 == pytest.approx(expected, abs=0.01)


# 2-4. DeepSpeed's documented estimator outputs (cold formulas, GiB).
def test_deepspeed_zero2_t5_3b() -> None:
    gpu, cpu = references.deepspeed_zero2(2851e6, 8)
    assert gpu / GIB == pytest.approx(15.93, abs=0.01)
    assert cpu / GIB == pytest.approx(127.45, abs=0.01)
    gpu, cpu = references.deepspeed_zero2(2851e6, 8, offload_optimizer=True)
    assert gpu / GIB == pytest.approx(5.31, abs=0.01)
    assert cpu / GIB == pytest.approx(127.45, abs=0.05)  # the docs print 127.48 from the live model


def test_deepspeed_zero3_t5_3b() -> None:
    gpu, cpu = references.deepspeed_zero3(2851e6, 32e6, 8)
    assert gpu / GIB == pytest.approx(6.09, abs=0.01)
    assert cpu / GIB == pytest.approx(1.43, abs=0.01)
    gpu, _ = references.deepspeed_zero3(2851e6, 32e6, 8, offload_optimizer=True)
    assert gpu / GIB == pytest.approx(0.79, abs=0.01)
    gpu, _ = references.deepspeed_zero3(2851e6, 32e6, 8, offload_optimizer=True, offload_params=True)
    assert gpu / GIB == pytest.approx(0.12, abs=0.01)


def test_deepspeed_zero3_t0_3b() -> None:
    assert references.deepspeed_zero3(2783e6, 65e6, 1)[0] / GIB == pytest.approx(46.90, abs=0.01)
    assert references.deepspeed_zero3(2783e6, 65e6, 2)[0] / GIB == pytest.approx(23.57, abs=0.01)
    assert references.deepspeed_zero3(2783e6, 65e6, 1, offload_optimizer=True)[0] / GIB == pytest.approx(5.43, abs=0.01)
    both = references.deepspeed_zero3(2783e6, 65e6, 1, offload_optimizer=True, offload_params=True)
    assert both[0] / GIB == pytest.approx(0.24, abs=0.01)  # docs: 0.25 from the live model's layer


# 5. DeepSpeed's formula for Llama-2-7B, ZeRO-3 on 8 GPUs, carried in the planner's cross-checks.
def test_deepspeed_zero3_llama_2_7b_cross_check() -> None:
    result = plan(
        {
            "model": {"name": "llama-2-7b"},
            "workload": {"mode": "full_finetune", "precision": "mixed_zero", "zero_stage": 3, "seq": 1024},
            "hardware": {"accelerator": "H100 SXM", "gpus": 8},
        }
    )
    assert result["model"]["params"] == 6_738_415_616
    assert result["cross_checks"]["deepspeed_estimator_gpu_bytes"] / GIB == pytest.approx(14.61, abs=0.01)
    offloaded = plan(
        {
            "model": {"name": "llama-2-7b"},
            "workload": {"mode": "full_finetune", "precision": "mixed_zero", "zero_stage": 3, "offload": "optimizer"},
            "hardware": {"accelerator": "H100 SXM", "gpus": 8},
        }
    )
    assert offloaded["cross_checks"]["deepspeed_estimator_gpu_bytes"] / GIB == pytest.approx(2.06, abs=0.01)
    zero2 = references.deepspeed_zero2(6_738_415_616, 8)[0]
    assert zero2 / GIB == pytest.approx(37.65, abs=0.01)


# 6. Accelerate's estimate-memory for bert-base-cased (its "MB" are MiB).
def test_accelerate_bert_base_cased() -> None:
    bert = known_model("bert-base-cased")
    assert bert is not None
    arch = bert.architecture
    assert arch.params == 108_310_272
    fp32 = references.accelerate_estimate(arch.params, arch.largest_layer_params, 4)
    assert fp32["total_bytes"] / MIB == pytest.approx(413.18, abs=0.01)
    assert fp32["largest_layer_bytes"] / MIB == pytest.approx(84.95, abs=0.01)
    assert fp32["adam_training_bytes"] / GIB == pytest.approx(1.61, abs=0.005)
    fp16 = references.accelerate_estimate(arch.params, arch.largest_layer_params, 2)
    assert fp16["total_bytes"] / MIB == pytest.approx(206.59, abs=0.01)
    assert fp16["adam_training_bytes"] / MIB == pytest.approx(826.36, abs=0.03)  # Accelerate: 4 × the rounded size


# 7-8. KV cache: the vLLM paper's OPT-13B and Llama-3.1-70B with GQA.
def test_kv_cache_opt_13b() -> None:
    result = plan(
        {
            "model": {"name": "opt-13b"},
            "workload": {
                "mode": "generate",
                "batch": 1,
                "prompt_tokens": 1024,
                "new_tokens": 1024,
                "kv_precision": "fp16",
            },
            "hardware": {"accelerator": "A100 80GB SXM"},
        }
    )
    assert result["kv_cache_bytes_per_token"] == 819_200
    assert result["kv_cache_bytes_per_token"] * 2048 == pytest.approx(1.68e9, rel=0.002)
    assert result["breakdown"]["kv_cache"] >= 819_200 * 2048


def test_kv_cache_llama_3_1_70b() -> None:
    result = plan(
        {
            "model": {"name": "llama-3.1-70b"},
            "workload": {"mode": "generate", "batch": 1, "prompt_tokens": 4000, "new_tokens": 96},
            "hardware": {"accelerator": "H200"},
        }
    )
    assert result["kv_cache_bytes_per_token"] * 4096 == 1_342_177_280
    assert known_model("llama-3-8b") is not None
    per_token_8b = references.kv_cache_bytes_per_token(32, 8, 128, 2)
    assert per_token_8b == 128 * 1024


# 9. C = 6ND for GPT-3 (and Chinchilla).
def test_six_n_d_gpt3() -> None:
    result = plan(
        {
            "model": {"name": "gpt-3-175b"},
            "workload": {"mode": "pretrain", "precision": "mixed_zero", "seq": 2048, "tokens": 300e9},
            "hardware": {"accelerator": "A100 80GB SXM", "gpus": 1024},
        }
    )
    assert result["flops"] == pytest.approx(3.15e23, rel=0.01)
    assert result["flops"] == pytest.approx(3.14e23, rel=0.01)
    chinchilla = references.training_flops(70e9, 1.4e12)
    assert chinchilla == pytest.approx(5.88e23, rel=0.01)
    assert chinchilla == pytest.approx(5.76e23, rel=0.025)


def test_attention_flops_added_for_long_context() -> None:
    short = plan(
        {
            "model": {"name": "llama-2-7b"},
            "workload": {"mode": "pretrain", "seq": 2048},
            "hardware": {"accelerator": "H100"},
        }
    )
    long = plan(
        {
            "model": {"name": "llama-2-7b"},
            "workload": {"mode": "pretrain", "seq": 32768, "batch": 1},
            "hardware": {"accelerator": "H100"},
        }
    )
    six_n = 6 * 6_738_415_616
    assert short["compute"]["flops_per_step"] / short["compute"]["tokens_per_step"] == pytest.approx(six_n)
    assert long["compute"]["flops_per_step"] / long["compute"]["tokens_per_step"] > 1.5 * six_n


# 10. LLaMA-65B: 380 tokens/s/GPU on 2,048 A100-80GB, 1.4T tokens → 20.8 days, MFU 0.476.
def test_llama_65b_time_to_train_from_throughput() -> None:
    result = plan(
        {
            "model": {"params": 65.2e9},
            "workload": {"mode": "pretrain", "seq": 2048, "tokens": 1.4e12, "tokens_per_second_per_gpu": 380},
            "hardware": {"accelerator": "A100 80GB SXM", "gpus": 2048},
        }
    )
    assert result["time_to_train_s"] / 86400 == pytest.approx(20.8, abs=0.05)
    assert result["compute"]["mfu"] == pytest.approx(0.476, abs=0.002)


def test_llama_65b_time_to_train_from_mfu() -> None:
    result = plan(
        {
            "model": {"params": 65.2e9},
            "workload": {"mode": "pretrain", "seq": 2048, "tokens": 1.4e12, "mfu": 0.476},
            "hardware": {"accelerator": "A100 80GB SXM", "gpus": 2048},
        }
    )
    assert result["time_to_train_s"] / 86400 == pytest.approx(20.8, rel=0.01)


# 11. MFU implied by Llama-2-7B's GPU-hours.
def test_mfu_from_llama_2_gpu_hours() -> None:
    assert references.mfu_from_gpu_hours(6_738_415_616, 2e12, 184_320, 312e12) == pytest.approx(0.39, abs=0.005)
    assert references.mfu_from_gpu_hours(7e9, 2e12, 184_320, 312e12) == pytest.approx(0.41, abs=0.005)
    assert references.implied_mfu(65.2e9, 380, 312e12) == pytest.approx(0.476, abs=0.001)
    assert references.seconds_from_throughput(1.4e12, 2048, 380) / 86400 == pytest.approx(20.8, abs=0.05)


# 12. Korthikanti et al.: GPT-3 activations with tensor + sequence parallelism.
def test_gpt3_activations_tp_sp_selective() -> None:
    result = plan(
        {
            "model": {"name": "gpt-3-175b"},
            "workload": {
                "mode": "pretrain",
                "framework": "megatron",
                "precision": "mixed_zero",
                "batch": 1,
                "seq": 2048,
                "tp": 8,
                "sequence_parallel": True,
                "activation_checkpointing": "selective",
                "attention": "eager",
            },
            "hardware": {"accelerator": "A100 80GB SXM", "gpus": 8},
        }
    )
    assert result["activation_bytes"] / 96 / 1e9 == pytest.approx(0.107, abs=0.0005)
    assert result["activation_bytes"] / 1e9 == pytest.approx(10.27, rel=0.01)


@pytest.mark.parametrize(
    ("kwargs", "expected_gb"),
    [
        ({}, 2.869),
        ({"tp": 8}, 0.579),
        ({"tp": 8, "sequence_parallel": True}, 0.359),
        ({"tp": 8, "sequence_parallel": True, "recompute": "selective"}, 0.107),
        ({"recompute": "full"}, 0.050),
    ],
)
def test_korthikanti_table(kwargs: dict, expected_gb: float) -> None:
    assert references.korthikanti_layer_bytes(2048, 1, 12288, 96, **kwargs) / 1e9 == pytest.approx(
        expected_gb, abs=0.001
    )


def test_llama_2_7b_activations_with_and_without_scores() -> None:
    assert references.korthikanti_layer_bytes(4096, 1, 4096, 32) / 1e9 == pytest.approx(3.25, abs=0.01)
    flash = references.korthikanti_layer_bytes(4096, 1, 4096, 32, flash=True)
    assert flash / 1e9 == pytest.approx(0.57, abs=0.01)
    assert 32 * flash / 1e9 == pytest.approx(18.3, abs=0.1)


# Published parameter counts of the known models.
@pytest.mark.parametrize(
    "name",
    [
        "llama-2-7b",
        "llama-2-13b",
        "llama-2-70b",
        "llama-3-8b",
        "llama-3-70b",
        "llama-3.1-405b",
        "mistral-7b",
        "mixtral-8x7b",
        "gpt-3-175b",
        "opt-13b",
        "bert-base-cased",
    ],
)
def test_known_model_parameter_counts(name: str) -> None:
    model = known_model(name)
    assert model is not None
    assert model.architecture.params == pytest.approx(model.stated_params, rel=0.01)


def test_mixtral_active_parameters() -> None:
    model = known_model("mixtral-8x7b")
    assert model is not None
    assert model.architecture.active_params == pytest.approx(12.9e9, rel=0.01)
