"""The planner's request and answer, described for the OpenAPI schema and the generated client.

Validation itself is :func:`apps.planner.estimator.parse_spec` (shared with ``manage.py plan``
and job submission); these serializers only document the shapes.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.planner.estimator import spec as spec_module


def bounded_integer(name: str, **kwargs: Any) -> serializers.IntegerField:
    """An integer field documenting the range :func:`parse_spec` accepts (``spec.LIMITS``)."""
    low, high = spec_module.LIMITS[name]
    return serializers.IntegerField(min_value=int(low), max_value=int(high), **kwargs)


def bounded_number(name: str, **kwargs: Any) -> serializers.FloatField:
    """A number field documenting the range :func:`parse_spec` accepts (``spec.LIMITS``)."""
    low, high = spec_module.LIMITS[name]
    return serializers.FloatField(min_value=low, max_value=high, **kwargs)


def money_field() -> serializers.DecimalField:  # type: ignore[type-arg]
    """A sum of money as a decimal string, null when there is no price."""
    return serializers.DecimalField(max_digits=24, decimal_places=6, allow_null=True)


class ArchitectureSerializer(serializers.Serializer):  # type: ignore[type-arg]
    hidden = bounded_integer("hidden")
    layers = bounded_integer("layers")
    heads = bounded_integer("heads")
    kv_heads = bounded_integer("kv_heads", required=False, help_text="Defaults to heads (no GQA).")
    intermediate = bounded_integer("intermediate", required=False)
    vocab = bounded_integer("vocab")
    tied_embeddings = serializers.BooleanField(required=False, default=False)
    mlp = serializers.ChoiceField(choices=["gelu", "swiglu"], required=False, default="swiglu")
    experts = bounded_integer("experts", required=False, help_text="MoE experts per layer (1 = dense).")
    experts_per_token = bounded_integer("experts_per_token", required=False)


class ArchitectureReadSerializer(ArchitectureSerializer):
    norm = serializers.CharField()
    bias = serializers.BooleanField()
    max_positions = serializers.IntegerField()
    type_vocab = serializers.IntegerField()
    embedding_norm = serializers.BooleanField()
    final_norm = serializers.BooleanField()
    pooler = serializers.BooleanField()
    lm_head = serializers.BooleanField()


class ModelInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField(required=False, help_text="A known model, e.g. llama-2-7b.")
    params = bounded_number("params", required=False, help_text="A parameter count, e.g. 6.7e9.")
    architecture = ArchitectureSerializer(required=False)


class WorkloadSerializer(serializers.Serializer):  # type: ignore[type-arg]
    mode = serializers.ChoiceField(choices=list(spec_module.MODES))
    batch = bounded_integer("batch", required=False, help_text="Micro-batch per GPU (sequences).")
    seq = bounded_integer("seq", required=False)
    precision = serializers.CharField(
        required=False,
        help_text="Training: amp_bf16 | bf16 | mixed_zero. Inference: bf16 | fp16 | fp8 | int8 | int4.",
    )
    optimizer = serializers.ChoiceField(choices=list(spec_module.OPTIMIZERS), required=False)
    activation_checkpointing = serializers.ChoiceField(choices=list(spec_module.CHECKPOINTING), required=False)
    attention = serializers.ChoiceField(choices=list(spec_module.ATTENTION), required=False)
    zero_stage = bounded_integer("zero_stage", required=False)
    offload = serializers.ChoiceField(choices=list(spec_module.OFFLOAD), required=False)
    tp = bounded_integer("tp", required=False)
    pp = bounded_integer("pp", required=False)
    dp = bounded_integer("dp", required=False)
    tokens = bounded_number("tokens", required=False, help_text="Tokens to train on, for time and cost to train.")
    grad_accum = bounded_integer("grad_accum", required=False)
    mfu = bounded_number("mfu", required=False)
    sequence_parallel = serializers.BooleanField(required=False)
    framework = serializers.ChoiceField(choices=list(spec_module.FRAMEWORKS), required=False)
    tokens_per_second_per_gpu = bounded_number("tokens_per_second_per_gpu", required=False)
    base_precision = serializers.ChoiceField(choices=list(spec_module.BASE_PRECISIONS), required=False)
    lora_rank = bounded_integer("lora_rank", required=False)
    lora_targets = serializers.ListField(child=serializers.CharField(), required=False)
    prompt_tokens = bounded_integer("prompt_tokens", required=False)
    new_tokens = bounded_integer("new_tokens", required=False)
    kv_precision = serializers.ChoiceField(choices=list(spec_module.KV_PRECISIONS), required=False)
    gpu_memory_utilization = bounded_number("gpu_memory_utilization", required=False)


class HardwareInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    accelerator = serializers.CharField(help_text="A catalog name or alias, e.g. H100 SXM, H100, A100-SXM4-80GB.")
    gpus = bounded_integer("gpus", required=False, default=1)
    gpus_per_node = bounded_integer("gpus_per_node", required=False)
    price_per_gpu_hour = bounded_number("price_per_gpu_hour", required=False)


class PlanSpecSerializer(serializers.Serializer):  # type: ignore[type-arg]
    model = ModelInputSerializer()
    workload = WorkloadSerializer()
    hardware = HardwareInputSerializer()
    recommendations = bounded_integer("recommendations", required=False, default=5)


class BreakdownSerializer(serializers.Serializer):  # type: ignore[type-arg]
    weights = serializers.IntegerField()
    weight_copies = serializers.IntegerField()
    gradients = serializers.IntegerField()
    optimizer_states = serializers.IntegerField()
    activations = serializers.IntegerField()
    logits_and_loss = serializers.IntegerField()
    kv_cache = serializers.IntegerField()
    communication_buffers = serializers.IntegerField()
    framework_overhead = serializers.IntegerField()


class ModelReadSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField(allow_null=True)
    params = serializers.IntegerField()
    active_params = serializers.IntegerField()
    source = serializers.CharField()  # type: ignore[assignment]
    architecture = ArchitectureReadSerializer()


class HardwareReadSerializer(serializers.Serializer):  # type: ignore[type-arg]
    accelerator = serializers.CharField()
    gpus = serializers.IntegerField()
    gpus_per_node = serializers.IntegerField()
    nodes = serializers.IntegerField()
    memory_bytes = serializers.IntegerField()
    peak_tflops = serializers.FloatField()


class ComputeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    flops_per_step = serializers.FloatField()
    hardware_flops_per_step = serializers.FloatField()
    tokens_per_step = serializers.FloatField()
    tokens_per_second = serializers.FloatField()
    peak_tflops = serializers.FloatField()
    mfu = serializers.FloatField()


class CostSerializer(serializers.Serializer):  # type: ignore[type-arg]
    currency = serializers.CharField(allow_null=True)
    per_gpu_hour = money_field()
    per_hour = money_field()
    per_step = money_field()
    to_train = money_field()
    total = money_field()
    per_million_tokens = money_field()
    pricing_class = serializers.CharField(required=False)
    offer = serializers.CharField(required=False)
    as_of = serializers.DateField(required=False, allow_null=True)
    source = serializers.CharField()  # type: ignore[assignment]


class RecommendationSerializer(serializers.Serializer):  # type: ignore[type-arg]
    pool = serializers.CharField()
    cluster = serializers.CharField(allow_null=True)
    accelerator = serializers.CharField()
    in_inventory = serializers.BooleanField()
    available_gpus = serializers.IntegerField(allow_null=True)
    gpus = serializers.IntegerField()
    nodes = serializers.IntegerField()
    tp = serializers.IntegerField()
    pp = serializers.IntegerField()
    dp = serializers.IntegerField()
    zero_stage = serializers.IntegerField(allow_null=True)
    activation_checkpointing = serializers.CharField(allow_null=True)
    memory_per_gpu_bytes = serializers.IntegerField()
    headroom_bytes = serializers.IntegerField()
    step_time_s = serializers.FloatField()
    time_to_train_s = serializers.FloatField(allow_null=True)
    tokens_per_second = serializers.FloatField()
    cost_per_hour = money_field()
    cost_per_million_tokens = money_field()
    cost_to_train = money_field()
    currency = serializers.CharField(allow_null=True)


class ServingSerializer(serializers.Serializer):  # type: ignore[type-arg]
    gpu_memory_utilization = serializers.FloatField()
    weights_bytes = serializers.IntegerField()
    activation_bytes = serializers.IntegerField()
    kv_cache_bytes = serializers.IntegerField()
    kv_cache_tokens = serializers.IntegerField()
    max_model_len = serializers.IntegerField()
    max_concurrent_sequences = serializers.IntegerField()


class EstimateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    model = ModelReadSerializer()
    workload = serializers.DictField(help_text="The workload with every default filled in.")
    hardware = HardwareReadSerializer()
    memory_per_gpu_bytes = serializers.IntegerField()
    breakdown = BreakdownSerializer()
    peak_phase = serializers.CharField()
    activation_bytes = serializers.IntegerField(help_text="Activations saved for backward at the end of forward.")
    model_states = serializers.DictField(
        child=serializers.IntegerField(), help_text="Weights, gradients and optimizer states per GPU (training)."
    )
    kv_cache_bytes_per_token = serializers.IntegerField(help_text="Per GPU (inference).")
    cpu_memory_bytes = serializers.IntegerField()
    reserved_bytes = serializers.IntegerField()
    fits = serializers.BooleanField()
    headroom_bytes = serializers.IntegerField()
    explanation = serializers.CharField()
    flops = serializers.FloatField()
    compute = ComputeSerializer()
    step_time_s = serializers.FloatField()
    time_to_train_s = serializers.FloatField(allow_null=True)
    total_time_s = serializers.FloatField()
    cost = CostSerializer()
    assumptions = serializers.ListField(child=serializers.CharField())
    cross_checks = serializers.DictField(child=serializers.IntegerField())
    recommendations = RecommendationSerializer(many=True)
    serving = ServingSerializer(required=False)
    trainable_params = serializers.IntegerField(required=False)


class KnownModelSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField()
    params = serializers.IntegerField()
    source = serializers.CharField()  # type: ignore[assignment]
    architecture = ArchitectureReadSerializer()


class PoolSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField()
    cluster = serializers.CharField(allow_null=True)
    accelerator = serializers.CharField()
    gpus_per_node = serializers.IntegerField()
    total_gpus = serializers.IntegerField(allow_null=True)
    memory_bytes = serializers.IntegerField()
    price_per_gpu_hour = money_field()


class PlannerOptionsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    models = KnownModelSerializer(many=True)
    pools = PoolSerializer(many=True)
    accelerators = serializers.ListField(child=serializers.CharField())
    modes = serializers.ListField(child=serializers.CharField())
    training_precisions = serializers.ListField(child=serializers.CharField())
    inference_precisions = serializers.ListField(child=serializers.CharField())
    optimizers = serializers.ListField(child=serializers.CharField())
