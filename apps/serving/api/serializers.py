from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, Subquery
from rest_framework import serializers

from apps.core.api.fields import id_field
from apps.jobs.api.serializers import StrictCharField
from apps.serving import services
from apps.serving.choices import Runtime
from apps.serving.models import Endpoint, EndpointEvent, EndpointToken, HealthSample, Revision

MAX_REPLICAS = 256


# --- output -------------------------------------------------------------------------------
class SourceSerializer(serializers.Serializer):  # type: ignore[type-arg]
    model_version = serializers.IntegerField(allow_null=True)
    model = serializers.CharField()
    model_id = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField(allow_null=True)
    checkpoint = serializers.IntegerField(allow_null=True)
    job = serializers.IntegerField(allow_null=True)
    uri = serializers.CharField()
    base_uri = serializers.CharField()
    entry_point = serializers.CharField()


def source_of(revision: Revision | None) -> dict[str, Any]:
    version = revision.model_version if revision is not None else None
    return {
        "model_version": version.pk if version else None,
        "model": version.model.name if version else "",
        "model_id": version.model_id if version else None,
        "version": version.version if version else None,
        "checkpoint": version.checkpoint_id if version else None,
        "job": version.job_id if version else None,
        "uri": revision.model_uri if revision else "",
        "base_uri": revision.base_uri if revision else "",
        "entry_point": revision.entry_point if revision else "",
    }


class ResourcesOutSerializer(serializers.Serializer):  # type: ignore[type-arg]
    cpus = serializers.FloatField()
    gpus = serializers.FloatField()
    accelerator_model = serializers.CharField()
    memory_gb = serializers.FloatField()


class ReplicasSerializer(serializers.Serializer):  # type: ignore[type-arg]
    min = serializers.IntegerField()
    max = serializers.IntegerField()
    running = serializers.IntegerField()
    target_ongoing_requests = serializers.FloatField()
    scale_to_zero = serializers.BooleanField()


class TrafficSerializer(serializers.Serializer):  # type: ignore[type-arg]
    revision = serializers.IntegerField()
    number = serializers.IntegerField()
    percent = serializers.IntegerField()
    state = serializers.CharField()


class PointSerializer(serializers.Serializer):  # type: ignore[type-arg]
    at = serializers.DateTimeField()
    requests_per_s = serializers.FloatField()
    p50_ms = serializers.FloatField(allow_null=True)
    p95_ms = serializers.FloatField(allow_null=True)
    p99_ms = serializers.FloatField(allow_null=True)
    error_rate = serializers.FloatField()
    tokens_per_s = serializers.FloatField()
    replicas = serializers.IntegerField()


class CostSerializer(serializers.Serializer):  # type: ignore[type-arg]
    currency = serializers.CharField()
    so_far = serializers.DecimalField(max_digits=14, decimal_places=2)
    per_1k_requests = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    per_1k_tokens = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    price_per_replica_hour = serializers.DecimalField(max_digits=14, decimal_places=6, allow_null=True)
    replica_hours = serializers.FloatField()
    priced = serializers.BooleanField()
    note = serializers.CharField()


class EndpointSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    team = serializers.CharField(source="team.slug")
    cluster = serializers.CharField(source="cluster.name")
    openai_base_url = serializers.CharField()
    model_name = serializers.CharField(source="name")
    source = serializers.SerializerMethodField()  # type: ignore[assignment]  # a field named source
    resources = serializers.SerializerMethodField()
    replicas = serializers.SerializerMethodField()
    gpus_held = serializers.SerializerMethodField()
    cpus_held = serializers.SerializerMethodField()
    job = serializers.IntegerField(source="job_id", allow_null=True)
    job_state = serializers.SerializerMethodField()
    priority_class = serializers.SerializerMethodField()
    traffic = serializers.SerializerMethodField()
    latest = serializers.SerializerMethodField()
    cost = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "team",
            "name",
            "cluster",
            "runtime",
            "state",
            "state_reason",
            "url",
            "openai_base_url",
            "model_name",
            "source",
            "resources",
            "replicas",
            "gpus_held",
            "cpus_held",
            "job",
            "job_state",
            "priority_class",
            "traffic",
            "latest",
            "cost",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def _live(self, endpoint: Endpoint) -> list[Revision]:
        return [r for r in endpoint.revisions.all() if r.state in ("pending", "deploying", "ready")]

    @staticmethod
    def _serving(revisions: list[Revision]) -> Revision | None:
        serving = [r for r in revisions if r.traffic_percent > 0]
        pick = serving or revisions
        return max(pick, key=lambda r: (r.traffic_percent, r.number)) if pick else None

    def get_source(self, endpoint: Endpoint) -> dict[str, Any]:
        revisions = self._live(endpoint) or sorted(endpoint.revisions.all(), key=lambda r: -r.number)[:1]
        return source_of(self._serving(revisions))

    def get_resources(self, endpoint: Endpoint) -> dict[str, Any]:
        return {
            "cpus": endpoint.cpus,
            "gpus": endpoint.gpus,
            "accelerator_model": endpoint.accelerator_model,
            "memory_gb": endpoint.memory_gb,
        }

    def get_replicas(self, endpoint: Endpoint) -> dict[str, Any]:
        return {
            "min": endpoint.min_replicas,
            "max": endpoint.max_replicas,
            "running": endpoint.replicas_running,
            "target_ongoing_requests": endpoint.target_ongoing_requests,
            "scale_to_zero": endpoint.scale_to_zero,
        }

    def get_gpus_held(self, endpoint: Endpoint) -> float:
        return services.held(endpoint)[0]

    def get_cpus_held(self, endpoint: Endpoint) -> float:
        return services.held(endpoint)[1]

    def get_job_state(self, endpoint: Endpoint) -> str:
        return endpoint.job.state if endpoint.job is not None else ""

    def get_priority_class(self, endpoint: Endpoint) -> str:
        return endpoint.priority_class.name if endpoint.priority_class is not None else ""

    def get_traffic(self, endpoint: Endpoint) -> list[dict[str, Any]]:
        return [
            {"revision": r.pk, "number": r.number, "percent": r.traffic_percent, "state": r.state}
            for r in sorted(self._live(endpoint), key=lambda r: r.number)
        ]

    def get_latest(self, endpoint: Endpoint) -> dict[str, Any] | None:
        sample: HealthSample | None = self.context.get("latest", {}).get(endpoint.pk)
        if sample is None:
            return None
        return {
            "at": sample.at,
            "requests_per_s": sample.requests_per_s,
            "p50_ms": sample.p50_ms,
            "p95_ms": sample.p95_ms,
            "p99_ms": sample.p99_ms,
            "error_rate": sample.error_rate,
            "tokens_per_s": sample.tokens_per_s,
            "replicas": sample.replicas,
        }

    def get_cost(self, endpoint: Endpoint) -> dict[str, Any] | None:
        cost: services.Cost | None = self.context.get("costs", {}).get(endpoint.pk)
        if cost is None:
            return None
        return {
            "currency": cost.currency,
            "so_far": str(cost.so_far),
            "per_1k_requests": str(cost.per_1k_requests) if cost.per_1k_requests is not None else None,
            "per_1k_tokens": str(cost.per_1k_tokens) if cost.per_1k_tokens is not None else None,
            "price_per_replica_hour": (
                str(cost.price_per_replica_hour) if cost.price_per_replica_hour is not None else None
            ),
            "replica_hours": round(cost.replica_hours, 6),
            "priced": cost.priced,
            "note": cost.note,
        }

    def get_created_by(self, endpoint: Endpoint) -> str:
        return endpoint.created_by.get_username() if endpoint.created_by else ""


def endpoint_context(endpoints: list[Endpoint]) -> dict[str, Any]:
    """What every endpoint of a page needs beyond its row, in a fixed number of queries."""
    ids = [e.pk for e in endpoints]
    latest_ids = (
        Endpoint.objects.filter(pk__in=ids)
        .annotate(
            latest_id=Subquery(HealthSample.objects.filter(endpoint=OuterRef("pk")).order_by("-at").values("pk")[:1])
        )
        .values_list("pk", "latest_id")
    )
    wanted = {sample_id: endpoint_id for endpoint_id, sample_id in latest_ids if sample_id}
    latest = {wanted[s.pk]: s for s in HealthSample.objects.filter(pk__in=list(wanted))}
    return {"latest": latest, "costs": services.costs(endpoints)}


class RevisionSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    source = serializers.SerializerMethodField()  # type: ignore[assignment]  # a field named source
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = Revision
        fields = [
            "id",
            "number",
            "state",
            "traffic_percent",
            "target_percent",
            "source",
            "config",
            "message",
            "created_by",
            "created_at",
            "ready_at",
            "retired_at",
        ]

    def get_source(self, revision: Revision) -> dict[str, Any]:
        return source_of(revision)

    def get_created_by(self, revision: Revision) -> str:
        return revision.created_by.get_username() if revision.created_by else ""


class TokenSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = EndpointToken
        fields = ["id", "name", "prefix", "created_by", "created_at", "revoked_at"]

    def get_created_by(self, token: EndpointToken) -> str:
        return token.created_by.get_username() if token.created_by else ""


class NewTokenSerializer(TokenSerializer):
    token = serializers.CharField(help_text="Shown once: Paddock keeps only its hash")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]


class CreatedEndpointSerializer(EndpointSerializer):
    token = NewTokenSerializer()

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "token"]


class EventSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    actor = serializers.SerializerMethodField()

    class Meta:
        model = EndpointEvent
        fields = ["id", "kind", "message", "actor", "created_at"]

    def get_actor(self, event: EndpointEvent) -> str:
        return event.actor.get_username() if event.actor else ""


class TotalsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    requests = serializers.IntegerField()
    errors = serializers.IntegerField()  # type: ignore[assignment]  # a field named errors
    tokens = serializers.IntegerField()


class MetricsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    points = PointSerializer(many=True)
    totals = TotalsSerializer()


# --- input --------------------------------------------------------------------------------
class SourceFields(serializers.Serializer):  # type: ignore[type-arg]
    model_version = id_field(required=False, allow_null=True)
    model_uri = StrictCharField(required=False, allow_blank=True, max_length=1000, default="")
    entry_point = StrictCharField(required=False, allow_blank=True, max_length=300, default="")
    config = serializers.DictField(
        required=False,
        default=dict,
        help_text=(
            "Runtime ray-serve: passed to the model's class. Runtime vllm: the planner's inputs (model, precision, "
            "kv_cache_dtype, max_model_len, max_position_embeddings, gpu_memory_utilization, tokens_per_sequence); "
            "what it derives is kept under vllm"
        ),
    )

    def validate_config(self, value: dict[str, Any]) -> dict[str, Any]:
        if len(str(value)) > 20_000:
            raise serializers.ValidationError("At most 20,000 characters.")
        return value


class EndpointCreateSerializer(SourceFields):
    team = serializers.SlugField(max_length=63)
    name = serializers.SlugField(max_length=63, help_text="Also the model name clients send")
    cluster = serializers.SlugField(max_length=63, required=False, allow_null=True)
    runtime = serializers.ChoiceField(choices=Runtime.choices, default=Runtime.RAY_SERVE)
    cpus = serializers.FloatField(default=1.0, min_value=0.0, max_value=1024.0)
    gpus = serializers.FloatField(default=0.0, min_value=0.0, max_value=64.0)
    accelerator_model = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")
    memory_gb = serializers.FloatField(default=0.0, min_value=0.0, max_value=100_000.0)
    min_replicas = serializers.IntegerField(default=1, min_value=0, max_value=MAX_REPLICAS)
    max_replicas = serializers.IntegerField(default=1, min_value=1, max_value=MAX_REPLICAS)
    target_ongoing_requests = serializers.FloatField(default=2.0, min_value=0.1, max_value=1000.0)
    scale_to_zero = serializers.BooleanField(default=False)
    priority_class = serializers.CharField(required=False, allow_blank=True, max_length=63, default="")
    runtime_env = serializers.DictField(required=False, default=dict)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        if attrs["min_replicas"] > attrs["max_replicas"]:
            errors["min_replicas"] = [
                f"min_replicas ({attrs['min_replicas']}) is more than max_replicas ({attrs['max_replicas']})."
            ]
        if attrs["min_replicas"] == 0 and not attrs["scale_to_zero"]:
            errors["min_replicas"] = ["0 replicas needs scale_to_zero."]
        if attrs["cpus"] == 0 and attrs["gpus"] == 0:
            errors["cpus"] = ["A replica needs CPUs or GPUs."]
        if attrs["gpus"] > 0 and attrs["gpus"] != int(attrs["gpus"]) and attrs["gpus"] > 1:
            errors["gpus"] = ["More than one GPU per replica must be a whole number."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class EndpointUpdateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    min_replicas = serializers.IntegerField(required=False, min_value=0, max_value=MAX_REPLICAS)
    max_replicas = serializers.IntegerField(required=False, min_value=1, max_value=MAX_REPLICAS)
    target_ongoing_requests = serializers.FloatField(required=False, min_value=0.1, max_value=1000.0)
    scale_to_zero = serializers.BooleanField(required=False)


class RevisionCreateSerializer(SourceFields):
    traffic_percent = serializers.IntegerField(
        default=100, min_value=1, max_value=100, help_text="Its share once healthy; < 100 is a canary"
    )


class TokenCreateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField(max_length=100, required=False, default="default")


class TrySerializer(serializers.Serializer):  # type: ignore[type-arg]
    prompt = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    messages = serializers.ListField(child=serializers.DictField(), required=False, max_length=100)
    max_tokens = serializers.IntegerField(default=32, min_value=1, max_value=1024)
    temperature = serializers.FloatField(default=1.0, min_value=0.0, max_value=2.0)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "prompt" not in attrs and not attrs.get("messages"):
            raise serializers.ValidationError({"prompt": ["Give a prompt or messages."]})
        for message in attrs.get("messages") or []:
            if not isinstance(message.get("role"), str) or not isinstance(message.get("content"), str):
                raise serializers.ValidationError({"messages": ["Each message needs a role and content (text)."]})
        return attrs


class VllmConfigRequestSerializer(serializers.Serializer):  # type: ignore[type-arg]
    model = serializers.DictField(help_text="The planner's model: {name} (a known model), {params} or {architecture}")
    model_id = serializers.CharField(
        required=False, max_length=300, help_text="What `vllm serve` loads (default: the name)"
    )
    accelerator = serializers.CharField(max_length=64, help_text="An accelerator of the catalog, e.g. H100")
    gpus = serializers.IntegerField(
        required=False, min_value=1, max_value=64, help_text="Per replica (tensor parallel)"
    )
    precision = serializers.CharField(default="bf16", max_length=8)
    kv_cache_dtype = serializers.CharField(default="auto", max_length=8)
    max_model_len = serializers.IntegerField(required=False, min_value=1, max_value=100_000_000)
    max_position_embeddings = serializers.IntegerField(
        required=False, min_value=1, max_value=100_000_000, help_text="The model's context"
    )
    gpu_memory_utilization = serializers.FloatField(default=0.9, min_value=0.05, max_value=0.99)
    tokens_per_sequence = serializers.IntegerField(default=768, min_value=1, max_value=10_000_000)


class VllmEndpointConfigSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """The ``config`` of an endpoint (or revision) of runtime vllm: the planner's inputs; the
    GPUs per replica and the accelerator are the endpoint's."""

    model = serializers.DictField(help_text="The planner's model: {name} (a known model), {params} or {architecture}")
    precision = serializers.ChoiceField(choices=["bf16", "fp16", "fp8", "int8", "awq", "gptq"], default="bf16")
    kv_cache_dtype = serializers.ChoiceField(choices=["auto", "bf16", "fp16", "fp8"], default="auto")
    max_model_len = serializers.IntegerField(required=False, min_value=1, max_value=100_000_000)
    max_position_embeddings = serializers.IntegerField(
        required=False, min_value=1, max_value=100_000_000, help_text="The model's context"
    )
    gpu_memory_utilization = serializers.FloatField(default=0.9, min_value=0.05, max_value=0.99)
    tokens_per_sequence = serializers.IntegerField(default=768, min_value=1, max_value=10_000_000)
