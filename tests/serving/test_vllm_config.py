"""The vLLM configuration of an endpoint, checked against figures worked out by hand.

Every expected number below is derived in the comments from the model's published shape, so
a reader can redo the arithmetic. The memory model is the planner's ``serving_memory``:

    device      = memory_gb × 2³⁰ × 0.995                (what NVML reports of the nominal size)
    budget      = device × gpu_memory_utilization
    weights     = (decoder projections × bytes(precision) + the rest × 2) / tp
                  (int4: 0.5 + 0.031 bytes for the group scales; embeddings, head, norms in bf16)
    activations = per_token × max(8192, max_model_len) + 4 × vocab / tp × 256
                  per_token = max(4h + 6i/tp, 4h + (8·q_dim + 4·kv_dim)/tp, 10h)
    kv_cache    = budget − weights − activations
    KV/token    = 2 × layers × ceil(kv_heads / tp) × head_dim × bytes(kv dtype)
    tokens      = floor(kv_cache / KV/token);  blocks = tokens // 16
    max_num_seqs = min(256, blocks // ceil(tokens_per_sequence / 16))

Architectures (Hugging Face configs): Llama-3-8B h 4096, 32 layers, 32 heads, 8 KV heads,
i 14336, vocab 128256 (8,030,261,248 params; projections 32 × 218,103,808 = 6,979,321,856).
Llama-3-70B h 8192, 80 layers, 64 heads, 8 KV heads, i 28672, vocab 128256 (70,553,706,496
params; projections 80 × 855,638,016 = 68,451,041,280; the rest 2,102,665,216). Mistral-7B
as Llama-3-8B but vocab 32000 (7,241,732,096 params; the rest 262,410,240).

Devices: 80 GB → 80 × 2³⁰ × 0.995 = 85,469,849,190 B, budget at 0.9 = 76,922,864,271;
24 GB (L4) → 25,640,954,757 B, budget 23,076,859,281.3.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from apps.planner.estimator.architectures import Architecture, known_model
from apps.planner.estimator.hardware import AcceleratorSpec
from apps.planner.estimator.spec import ModelSpec, SpecError
from apps.serving.vllm import vllm_config

H100 = AcceleratorSpec(name="H100 SXM", memory_gb=80, memory_bandwidth_gbps=3350, supports_fp8=True)
A100 = AcceleratorSpec(name="A100 80GB SXM", memory_gb=80, memory_bandwidth_gbps=2039)
L4 = AcceleratorSpec(name="L4", memory_gb=24, memory_bandwidth_gbps=300, supports_fp8=True)
T4 = AcceleratorSpec(name="T4", memory_gb=16, memory_bandwidth_gbps=320, supports_bf16=False)


def known(name: str) -> ModelSpec:
    found = known_model(name)
    assert found is not None
    return ModelSpec(architecture=found.architecture, params=found.architecture.params, source="known", name=name)


LLAMA3_8B = known("llama-3-8b")
LLAMA3_70B = known("llama-3-70b")
LLAMA31_405B = known("llama-3.1-405b")
MISTRAL_7B = known("mistral-7b")
LLAMA2_7B = known("llama-2-7b")


def test_llama3_8b_on_one_h100_in_bf16() -> None:
    # weights     = 2 × 8,030,261,248 = 16,060,522,496
    # per token   = max(4·4096 + 6·14336, 4·4096 + 8·4096 + 4·1024, 10·4096)
    #             = max(102,400, 53,248, 40,960) = 102,400
    # activations = 102,400 × 8192 + 4 × 128,256 × 256 = 838,860,800 + 131,334,144 = 970,194,944
    # kv_cache    = 76,922,864,271 − 16,060,522,496 − 970,194,944 = 59,892,146,831
    # KV/token    = 2 × 32 × 8 × 128 × 2 = 131,072 → 456,940 tokens → 28,558 blocks
    # 2048-token sequences take 128 blocks: 28,558 // 128 = 223 (under vLLM's 256)
    config = vllm_config(
        LLAMA3_8B,
        "meta-llama/Meta-Llama-3-8B-Instruct",
        H100,
        tensor_parallel_size=1,
        max_position_embeddings=8192,
        tokens_per_sequence=2048,
    )

    assert config.tensor_parallel_size == 1
    assert config.max_model_len == 8192
    assert config.max_num_seqs == 223
    assert (config.quantization, config.kv_cache_dtype, config.dtype) == (None, "auto", "bfloat16")
    d = config.derivation
    assert d.device_memory_bytes == 85_469_849_190
    assert d.budget_bytes == 76_922_864_271
    assert d.weights_bytes == 16_060_522_496
    assert d.activation_bytes == 970_194_944
    assert d.kv_cache_bytes == 59_892_146_831
    assert d.kv_bytes_per_token == 131_072
    assert d.kv_cache_tokens == 456_940
    assert d.kv_cache_blocks == 28_558
    assert d.max_model_len_source == "model"
    assert config.command() == [
        "vllm", "serve", "meta-llama/Meta-Llama-3-8B-Instruct",
        "--tensor-parallel-size", "1",
        "--max-model-len", "8192",
        "--gpu-memory-utilization", "0.9",
        "--max-num-seqs", "223",
        "--dtype", "bfloat16",
    ]  # fmt: skip


def test_a_requested_max_model_len_is_kept_when_it_fits() -> None:
    # 4096 ≤ 8192, so the profiling pass and the KV cache are as above: 456,940 tokens.
    config = vllm_config(
        LLAMA3_8B, "meta-llama/Meta-Llama-3-8B", H100, max_model_len=4096, max_position_embeddings=8192
    )

    assert config.max_model_len == 4096
    assert config.derivation.max_model_len_source == "requested"
    assert config.derivation.kv_cache_tokens == 456_940


def test_llama3_70b_on_four_h100_in_fp8_with_an_fp8_kv_cache() -> None:
    # weights     = (68,451,041,280 × 1 + 2,102,665,216 × 2) / 4 = 72,656,371,712 / 4 = 18,164,092,928
    # per token   = max(4·8192 + 6·28672/4, 4·8192 + (8·8192 + 4·1024)/4, 10·8192)
    #             = max(75,776, 50,176, 81,920) = 81,920
    # activations = 81,920 × 8192 + 4 × 128,256 / 4 × 256 = 671,088,640 + 32,833,536 = 703,922,176
    # kv_cache    = 76,922,864,271 − 18,164,092,928 − 703,922,176 = 58,054,849,167
    # KV/token    = 2 × 80 × (8 / 4) × 128 × 1 = 40,960 → 1,417,354 tokens → 88,584 blocks
    # 768-token sequences (the default) take 48 blocks: 88,584 // 48 = 1,845 → capped at 256
    config = vllm_config(
        LLAMA3_70B,
        "meta-llama/Meta-Llama-3-70B-Instruct",
        H100,
        precision="fp8",
        kv_cache_dtype="fp8",
        tensor_parallel_size=4,
        max_position_embeddings=8192,
    )

    d = config.derivation
    assert d.weights_bytes == 18_164_092_928
    assert d.activation_bytes == 703_922_176
    assert d.kv_bytes_per_token == 40_960
    assert d.kv_cache_tokens == 1_417_354
    assert d.kv_cache_blocks == 88_584
    assert config.max_num_seqs == 256
    assert any("1,845 sequences" in note for note in d.notes)
    assert any("capped at vLLM's default of 256" in note for note in d.notes)
    assert config.engine_args() == {
        "model": "meta-llama/Meta-Llama-3-70B-Instruct",
        "tensor_parallel_size": 4,
        "max_model_len": 8192,
        "gpu_memory_utilization": 0.9,
        "max_num_seqs": 256,
        "quantization": "fp8",
        "kv_cache_dtype": "fp8",
        "dtype": "bfloat16",
    }
    assert config.command() == [
        "vllm", "serve", "meta-llama/Meta-Llama-3-70B-Instruct",
        "--tensor-parallel-size", "4",
        "--max-model-len", "8192",
        "--gpu-memory-utilization", "0.9",
        "--max-num-seqs", "256",
        "--quantization", "fp8",
        "--kv-cache-dtype", "fp8",
        "--dtype", "bfloat16",
    ]  # fmt: skip


def test_llama31_70b_on_eight_a100_in_bf16_keeps_its_128k_context() -> None:
    # weights     = 2 × 70,553,706,496 / 8 = 17,638,426,624
    # per token   = max(4·8192 + 6·28672/8, 4·8192 + (8·8192 + 4·1024)/8, 10·8192) = 81,920
    # activations = 81,920 × max(8192, 131,072) + 4 × 128,256 / 8 × 256
    #             = 10,737,418,240 + 16,416,768 = 10,753,835,008
    # kv_cache    = 76,922,864,271 − 17,638,426,624 − 10,753,835,008 = 48,530,602,639
    # KV/token    = 2 × 80 × 1 × 128 × 2 = 40,960 → 1,184,829 tokens (≥ 131,072: no cap) → 74,051 blocks
    # 8192-token sequences take 512 blocks: 74,051 // 512 = 144
    config = vllm_config(
        LLAMA3_70B,
        "meta-llama/Llama-3.1-70B-Instruct",
        A100,
        tensor_parallel_size=8,
        max_position_embeddings=131_072,
        tokens_per_sequence=8192,
    )

    d = config.derivation
    assert d.weights_bytes == 17_638_426_624
    assert d.activation_bytes == 10_753_835_008
    assert d.kv_cache_bytes == 48_530_602_639
    assert d.kv_cache_tokens == 1_184_829
    assert config.max_model_len == 131_072
    assert config.max_num_seqs == 144
    assert config.command() == [
        "vllm", "serve", "meta-llama/Llama-3.1-70B-Instruct",
        "--tensor-parallel-size", "8",
        "--max-model-len", "131072",
        "--gpu-memory-utilization", "0.9",
        "--max-num-seqs", "144",
        "--dtype", "bfloat16",
    ]  # fmt: skip


def test_a_7b_awq_model_on_one_l4() -> None:
    # weights     = 6,979,321,856 × 0.531 + 262,410,240 × 2 = 3,706,019,905.5 + 524,820,480 = 4,230,840,385
    # activations = 102,400 × 32,768 + 4 × 32,000 × 256 = 3,355,443,200 + 32,768,000 = 3,388,211,200
    # kv_cache    = 23,076,859,281.3 − 4,230,840,385.5 − 3,388,211,200 = 15,457,807,695
    # KV/token    = 131,072 (as Llama-3-8B) → 117,933 tokens → 7,370 blocks
    # 4096-token sequences take 256 blocks: 7,370 // 256 = 28
    # TP was not given: 1 is the smallest that fits. AWQ kernels take fp16 activations.
    config = vllm_config(
        MISTRAL_7B,
        "TheBloke/Mistral-7B-Instruct-v0.2-AWQ",
        L4,
        precision="awq",
        max_position_embeddings=32_768,
        tokens_per_sequence=4096,
    )

    d = config.derivation
    assert d.weights_bytes == 4_230_840_385
    assert d.activation_bytes == 3_388_211_200
    assert d.kv_cache_tokens == 117_933
    assert d.tensor_parallel_source == "smallest that fits"
    assert config.max_num_seqs == 28
    assert config.command() == [
        "vllm", "serve", "TheBloke/Mistral-7B-Instruct-v0.2-AWQ",
        "--tensor-parallel-size", "1",
        "--max-model-len", "32768",
        "--gpu-memory-utilization", "0.9",
        "--max-num-seqs", "28",
        "--quantization", "awq",
        "--dtype", "float16",
    ]  # fmt: skip


def test_a_context_longer_than_the_kv_cache_is_capped_to_what_fits() -> None:
    # Llama-3.1-8B (128k context) in bf16 on one L4. For max_model_len L > 8192:
    #   kv_cache(L) = 23,076,859,281.3 − 16,060,522,496 − 131,334,144 − 102,400·L
    #               = 6,885,002,641.3 − 102,400·L
    # and one sequence fits when 16·floor(floor(kv_cache(L) / 131,072) / 16) ≥ L,
    # i.e. about L ≤ 6,885,002,641.3 / (131,072 + 102,400) = 29,489.8.
    #   L = 29,488: kv_cache = 3,865,431,441.3 → 29,490 tokens → 1,843 blocks = 29,488 tokens ≥ L ✓
    #   L = 29,489: kv_cache = 3,865,329,041.3 → 29,490 tokens → 29,488 < L ✗
    # 768-token sequences take 48 blocks: 1,843 // 48 = 38
    config = vllm_config(LLAMA3_8B, "meta-llama/Llama-3.1-8B-Instruct", L4, max_position_embeddings=131_072)

    assert config.tensor_parallel_size == 1
    assert config.max_model_len == 29_488
    assert config.derivation.max_model_len_wanted == 131_072
    assert config.derivation.kv_cache_tokens == 29_490
    assert config.max_num_seqs == 38
    assert any("capped from the model's context (131,072) to 29,488" in note for note in config.derivation.notes)


def test_without_a_tp_the_smallest_that_fits_is_chosen() -> None:
    # Llama-3-70B in bf16 on H100: TP 1 needs 141.1 GB of weights (budget 76.9 GB). TP 2:
    #   weights 70,553,706,496; per token max(32,768 + 86,016, 32,768 + 34,816, 81,920) = 118,784
    #   activations 118,784 × 8192 + 4 × 128,256 / 2 × 256 = 973,078,528 + 65,667,072 = 1,038,745,600
    #   kv_cache 76,922,864,271 − 70,553,706,496 − 1,038,745,600 = 5,330,412,175
    #   KV/token 2 × 80 × 4 × 128 × 2 = 163,840 → 32,534 tokens: room for a 768-token sequence.
    on_h100 = vllm_config(LLAMA3_70B, "meta-llama/Meta-Llama-3-70B", H100, max_position_embeddings=8192)
    # On L4 (budget 23.1 GB), TP 4 still needs 35.3 GB of weights; TP 8 needs 17.6 GB and fits.
    on_l4 = vllm_config(LLAMA3_70B, "meta-llama/Meta-Llama-3-70B", L4, max_position_embeddings=8192)

    assert on_h100.tensor_parallel_size == 2
    assert on_h100.derivation.kv_cache_tokens == 32_534
    assert on_l4.tensor_parallel_size == 8
    assert any("1, 2, 4 leave no room" in note for note in on_l4.derivation.notes)


def test_a_model_that_does_not_fit_is_refused_with_the_numbers() -> None:
    # Llama-3-70B in bf16 on one H100: 141,107,412,992 B = 131.4 GiB of weights; the budget is
    # 76,922,864,271 B = 71.6 GiB of 85,469,849,190 B = 79.6 GiB.
    with pytest.raises(SpecError) as refused:
        vllm_config(
            LLAMA3_70B, "meta-llama/Meta-Llama-3-70B", H100, tensor_parallel_size=1, max_position_embeddings=8192
        )

    message = refused.value.errors["tensor_parallel_size"][0]
    assert "does not fit on 1 × H100 SXM" in message
    assert "131.4 GiB" in message
    assert "71.6 GiB" in message
    assert "79.6 GiB" in message


def test_a_model_too_big_for_a_whole_node_is_refused() -> None:
    # Llama-3.1-405B in bf16 is 811 GB: 101 GB a GPU even at TP 8, more than an H100's 76.9 GB budget.
    with pytest.raises(SpecError) as refused:
        vllm_config(LLAMA31_405B, "meta-llama/Llama-3.1-405B", H100, max_position_embeddings=131_072)

    assert "does not fit on 8 × H100 SXM" in refused.value.errors["non_field_errors"][0]


def test_a_tp_vllm_would_refuse_is_refused_with_the_sizes_it_accepts() -> None:
    with pytest.raises(SpecError) as heads:
        vllm_config(LLAMA3_8B, "m", H100, tensor_parallel_size=3, max_position_embeddings=8192)
    # 48 heads split 6 ways, but 8 KV heads neither divide by 6 nor divide 6.
    gqa = ModelSpec(architecture=Architecture(6144, 40, 48, 8, 16384, 32000), params=0, source="architecture")
    with pytest.raises(SpecError) as kv_heads:
        vllm_config(gqa, "m", H100, tensor_parallel_size=6, max_position_embeddings=4096)
    # Llama-2-7B's MLP (11,008) in 4 shards is 2,752 wide: not a whole number of 128-column AWQ groups.
    with pytest.raises(SpecError) as groups:
        vllm_config(LLAMA2_7B, "m", L4, precision="awq", tensor_parallel_size=4, max_position_embeddings=4096)

    assert heads.value.errors["tensor_parallel_size"] == [
        "Tensor parallel size 3 must divide the model's 32 attention heads. vLLM accepts (up to 8): 1, 2, 4, 8."
    ]
    assert "8 KV heads must divide one another" in kv_heads.value.errors["tensor_parallel_size"][0]
    assert "2752-wide shards" in groups.value.errors["tensor_parallel_size"][0]
    assert groups.value.errors["tensor_parallel_size"][0].endswith("vLLM accepts (up to 8): 1, 2.")


def test_int8_means_an_llm_compressor_checkpoint() -> None:
    checkpoint = "neuralmagic/Meta-Llama-3-8B-Instruct-quantized.w8a8"
    config = vllm_config(LLAMA3_8B, checkpoint, H100, precision="int8", max_position_embeddings=8192)

    assert config.quantization == "compressed-tensors"
    assert config.command()[-4:] == ["--quantization", "compressed-tensors", "--dtype", "bfloat16"]
    assert any("llm-compressor" in note for note in config.derivation.notes)


def test_fp8_on_a_gpu_without_fp8_is_weight_only() -> None:
    config = vllm_config(LLAMA3_8B, "m", A100, precision="fp8", max_position_embeddings=8192)

    assert config.quantization == "fp8"
    assert any("weight-only" in note for note in config.derivation.notes)


def test_inputs_vllm_cannot_take_are_refused_by_field() -> None:
    cases = [
        ({"max_position_embeddings": None}, "max_model_len", "Give max_model_len"),
        ({"max_model_len": 16_384}, "max_model_len", "vLLM refuses a longer max_model_len"),
        ({"kv_cache_dtype": "int8"}, "kv_cache_dtype", "no int8 KV cache"),
        ({"precision": "nf4"}, "precision", "Must be one of"),
        ({"gpu_memory_utilization": 1.5}, "gpu_memory_utilization", "fraction"),
        ({"tensor_parallel_size": 0}, "tensor_parallel_size", "whole number"),
    ]
    for overrides, field, words in cases:
        arguments = {"max_position_embeddings": 8192, **overrides}
        with pytest.raises(SpecError) as refused:
            vllm_config(LLAMA3_8B, "m", H100, **arguments)
        assert words in refused.value.errors[field][0], (overrides, refused.value.errors)


def test_bf16_on_a_gpu_without_bf16_is_refused_and_fp16_is_served() -> None:
    with pytest.raises(SpecError) as refused:
        vllm_config(MISTRAL_7B, "m", T4, precision="bf16", max_position_embeddings=4096)
    config = vllm_config(MISTRAL_7B, "m", T4, precision="awq", max_position_embeddings=4096)

    assert "T4 has no bfloat16" in refused.value.errors["precision"][0]
    assert config.dtype == "float16"


def test_as_dict_is_json_and_agrees_with_the_command() -> None:
    config = vllm_config(LLAMA3_8B, "meta-llama/Meta-Llama-3-8B", H100, max_position_embeddings=8192)
    data = json.loads(json.dumps(config.as_dict()))

    assert data["engine_args"]["max_num_seqs"] == config.max_num_seqs
    assert data["command"] == config.command()
    assert data["derivation"]["kv_cache_tokens"] == config.derivation.kv_cache_tokens
    assert isinstance(data["derivation"]["notes"], list)


def test_the_module_imports_without_django() -> None:
    code = (
        "import sys, apps.serving.vllm; "
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'ray'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
