from __future__ import annotations

import re
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.fields import INT64_MAX
from apps.dispatch import runtime_env
from apps.jobs.choices import (
    ATTEMPT_ACTIVE_STATES,
    MAX_RUNTIME_LIMIT_SECONDS,
    BulkCancelOutcome,
    EstimateConfidence,
    JobKind,
    JobRuntime,
    JobState,
)
from apps.jobs.models import Attempt, CodePackage, Job, JobEvent
from apps.jobs.placement import enrich_placements, gpus_on_node
from apps.planner.api.serializers import ModelInputSerializer, WorkloadSerializer
from apps.quotas.models import Pool
from apps.quotas.pools import accepted_pools

MAX_CPUS = 4096
MAX_GPUS = 4096
MAX_MEMORY_GB = 1024 * 1024
MAX_GPU_MEMORY_GB = 10_000
MAX_ACCEPTED_MODELS = 8


class ResourcesSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """What one job asks for (per job, for now: gang placement comes with the scheduler)."""

    cpus = serializers.FloatField(default=1.0, min_value=0, max_value=MAX_CPUS)
    gpus = serializers.FloatField(default=0.0, min_value=0, max_value=MAX_GPUS)
    accelerator_model = serializers.CharField(default="", allow_blank=True, max_length=64)
    accelerator_models = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        min_length=1,
        max_length=MAX_ACCEPTED_MODELS,
        help_text=(
            "Several accelerator models the job accepts, first choice first (catalog names such as "
            '"H100 SXM" or Ray\'s types such as "H100"): it goes to the first pool where it fits, as its '
            "team's flavor fungibility says. Instead of accelerator_model."
        ),
    )
    min_gpu_memory_gb = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_GPU_MEMORY_GB,
        help_text=(
            "Any GPU model of the cluster with at least this much memory, the smallest memory first "
            "(ties by pool name). Instead of accelerator_model(s)."
        ),
    )
    memory_gb = serializers.FloatField(default=0.0, min_value=0, max_value=MAX_MEMORY_GB)

    def validate_accelerator_model(self, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9_.\-]+", value):
            raise serializers.ValidationError("Use the accelerator's model name, e.g. H100 or A100-80GB.")
        return value

    def validate_accelerator_models(self, value: list[str]) -> list[str]:
        bad = [name for name in value if not re.fullmatch(r"[A-Za-z0-9_.\- ]+", name)]
        if bad:
            raise serializers.ValidationError(f"Not a model name: {', '.join(map(repr, bad))}.")
        seen = [name.strip().lower() for name in value]
        if len(set(seen)) != len(seen):
            raise serializers.ValidationError("Name each model once.")
        return [name.strip() for name in value]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        models = attrs.get("accelerator_models")
        min_memory = attrs.get("min_gpu_memory_gb")
        errors: dict[str, list[str]] = {}
        if models is not None and min_memory is not None:
            errors["min_gpu_memory_gb"] = ["Name accelerator models or a minimum GPU memory, not both."]
        single = attrs.get("accelerator_model", "")
        if single and models is not None and single != models[0]:
            errors["accelerator_model"] = ["Name one accelerator model or a list of them, not both."]
        if single and min_memory is not None:
            errors["accelerator_model"] = ["Name an accelerator model or a minimum GPU memory, not both."]
        if (models is not None or min_memory is not None) and attrs.get("gpus", 0.0) <= 0:
            errors["gpus"] = ["A job that names GPU models or GPU memory asks for at least one GPU."]
        if errors:
            raise serializers.ValidationError(errors)
        if models:
            attrs["accelerator_model"] = models[0]  # the first choice, until admission picks a pool
        return attrs

    def validate_gpus(self, value: float) -> float:
        if value > 1 and value != int(value):
            raise serializers.ValidationError("More than one GPU must be a whole number.")
        return value


class RuntimeEnvSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """The part of Ray's runtime_env a job may use; code only from where the cluster fetches it.

    Checked by :func:`apps.dispatch.runtime_env.validate_runtime_env` (the backends check
    again before sending): no local paths, pip requirements only, sizes capped.
    """

    env_vars = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=runtime_env.MAX_ENV_VALUE_LENGTH),
        required=False,
        help_text=(
            f"At most {runtime_env.MAX_ENV_VARS} variables and {runtime_env.MAX_ENV_TOTAL_BYTES} bytes; "
            f"names starting with {runtime_env.RESERVED_ENV_PREFIX} are Paddock's."
        ),
    )
    pip = serializers.ListField(
        child=serializers.CharField(max_length=runtime_env.MAX_REQUIREMENT_LENGTH),
        required=False,
        max_length=runtime_env.MAX_PIP_REQUIREMENTS,
        help_text="PEP 508 requirements (`torch==2.3.1`, `name @ https://…/x.whl`); no options, files or file: URLs.",
    )
    working_dir = serializers.CharField(
        required=False,
        max_length=runtime_env.MAX_URI_LENGTH,
        help_text=(
            "A package uploaded to Paddock (`paddock://packages/<sha256>`, see /api/v1/packages/) or a zip the "
            "cluster fetches itself (`s3://`, `gs://`, `https://…/code.zip`). Never a path."
        ),
    )
    py_modules = serializers.ListField(
        child=serializers.CharField(max_length=runtime_env.MAX_URI_LENGTH),
        required=False,
        max_length=runtime_env.MAX_PY_MODULES,
        help_text="Packages or remote `.zip`/`.whl` URIs, as for working_dir.",
    )

    def to_internal_value(self, data: Any) -> Any:
        try:
            return runtime_env.validate_runtime_env(data)
        except runtime_env.RuntimeEnvError as exc:
            raise serializers.ValidationError(exc.errors) from None


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers, lists and objects instead of turning them into text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


@extend_schema_field(ModelInputSerializer)
class PlanModelField(serializers.JSONField):
    """The planner's ``model`` object, checked by the planner itself (same words as its API)."""


@extend_schema_field(WorkloadSerializer)
class PlanWorkloadField(serializers.JSONField):
    """The planner's ``workload`` object."""


class CheckpointPolicySerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Which of the job's checkpoints retention keeps; a key left out takes the team's default."""

    keep_latest = serializers.IntegerField(min_value=1, max_value=1000, required=False, allow_null=True)
    keep_best = serializers.IntegerField(min_value=0, max_value=1000, required=False, allow_null=True)
    best_metric = serializers.RegexField(r"^[A-Za-z0-9_.:/-]{1,64}$", required=False)
    best_mode = serializers.ChoiceField(choices=[("min", "Lowest is best"), ("max", "Highest is best")], required=False)

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Give an object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown setting."] for name in unknown})
        values = super().to_internal_value(data)
        return {name: value for name, value in values.items() if value is not None}


class JobCreateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = StrictCharField(max_length=200)
    team = serializers.SlugField(max_length=63)
    cluster = serializers.SlugField(
        max_length=63, required=False, allow_null=True, help_text="Optional when the team has a default cluster."
    )
    kind = serializers.ChoiceField(
        choices=[(value, label) for value, label in JobKind.choices if value != JobKind.DEPLOYMENT],
        default=JobKind.BATCH,
        error_messages={
            "invalid_choice": '"{input}" is not a kind a job is submitted as (a deployment is made by '
            "creating an endpoint: POST /api/v1/endpoints/)."
        },
    )
    entrypoint = StrictCharField(max_length=100_000, help_text="The shell command to run, e.g. `python train.py`.")
    runtime_env = RuntimeEnvSerializer(required=False)
    runtime = serializers.ChoiceField(
        choices=JobRuntime.choices,
        default=JobRuntime.PROCESS,
        help_text="ray: the entrypoint runs in a Ray cluster made for the job (head and workers from its "
        "resources): on a Kubernetes cluster with KubeRay, a RayJob; on a Ray cluster every job already runs "
        "under Ray, so nothing changes there.",
    )
    resources = ResourcesSerializer(required=False)
    max_retries = serializers.IntegerField(
        default=0,
        min_value=0,
        max_value=20,
        help_text="Retries after the cluster's failures (at least PADDOCK_INFRASTRUCTURE_RETRIES), and after the "
        "job's own errors when retry_on_error is set. Each retry resumes from the latest complete checkpoint.",
    )
    retry_on_error = serializers.BooleanField(
        default=False, help_text="Retry the job's own errors (a non-zero exit) too, up to max_retries."
    )
    checkpoint_policy = CheckpointPolicySerializer(required=False)
    max_runtime_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_RUNTIME_LIMIT_SECONDS,
        help_text="Stop an attempt that runs longer than this (seconds, at most 30 days): the job then fails, "
        "without a retry. Empty: no limit.",
    )
    priority = serializers.IntegerField(default=0, min_value=-1000, max_value=1000)
    priority_class = serializers.SlugField(
        max_length=63,
        required=False,
        allow_null=True,
        help_text="A priority class of the team's organisation; the job's priority becomes the class's value.",
    )
    model = PlanModelField(
        required=False, help_text="What the job trains or serves; with workload, the planner checks the fit first."
    )
    workload = PlanWorkloadField(required=False, help_text="The planner's workload (mode, batch, seq, …).")
    override_planner = serializers.BooleanField(
        default=False, help_text="Submit even when the planner says the job does not fit its GPUs."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("model" in attrs) != ("workload" in attrs):
            missing = "workload" if "model" in attrs else "model"
            raise serializers.ValidationError({missing: ["Give model and workload together, or neither."]})
        return attrs

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
        return super().to_internal_value(data)


class ResourcesReadSerializer(serializers.Serializer):  # type: ignore[type-arg]
    cpus = serializers.FloatField()
    gpus = serializers.FloatField()
    accelerator_model = serializers.CharField(
        help_text="The model it runs on once admitted; while pending, its first choice"
    )
    accelerator_models = serializers.ListField(
        child=serializers.CharField(), help_text="The models it accepts, in order; empty: only accelerator_model"
    )
    min_gpu_memory_gb = serializers.FloatField(
        allow_null=True, help_text="Accepts any GPU with this much memory; null: not asked"
    )
    memory_gb = serializers.FloatField()


_UNREAD = object()


def placement_hostnames(placement: Any) -> list[str]:
    """The hostnames of a stored placement (``[{"hostname": …}, …]``), in its order, once each."""
    names: list[str] = []
    for entry in placement if isinstance(placement, list) else []:
        name = entry.get("hostname") if isinstance(entry, dict) else None
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    return names


class JobSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True)
    submitted_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    resources = serializers.SerializerMethodField()
    runtime_env = RuntimeEnvSerializer(read_only=True)
    pool = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True, help_text="Where its quota is counted; null: no pools"
    )
    priority_class = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    queue_position = serializers.SerializerMethodField(
        help_text="Pending only: 1-based among the pending jobs of its team in its pool (priority, then age)"
    )
    pending_reason = serializers.SerializerMethodField(help_text="Pending only: why it waits, in words")
    max_runtime_seconds = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="An attempt running longer is stopped and the job fails; null: none"
    )
    estimated_start_at = serializers.SerializerMethodField(
        help_text="Pending only: when the scheduler expects to start it (refreshed each pass); null: no estimate"
    )
    estimate_confidence = serializers.SerializerMethodField(
        help_text="How far to trust estimated_start_at: high, medium or low; empty without an estimate"
    )
    estimate_basis = serializers.SerializerMethodField(help_text="Pending only: what the estimate rests on, in words")
    checkpoint_policy = serializers.SerializerMethodField(
        help_text="Its checkpoints' retention as it asked for it (empty keys: the team's defaults)"
    )
    duration_seconds = serializers.SerializerMethodField(
        help_text="From its first start to its end (or now while it runs), retries included; null: never started"
    )
    nodes = serializers.SerializerMethodField(
        help_text="Hostnames of the nodes its latest attempt was placed on; empty: not placed yet"
    )
    gpu_hours = serializers.DecimalField(
        source="gpu_hours_charged", max_digits=24, decimal_places=3, read_only=True, help_text="Charged so far (ledger)"
    )
    cpu_hours = serializers.DecimalField(
        source="cpu_hours_charged", max_digits=24, decimal_places=3, read_only=True, help_text="Charged so far (ledger)"
    )
    cost = serializers.DecimalField(
        max_digits=24, decimal_places=2, read_only=True, help_text="What it has cost so far (the usage ledger's sum)"
    )
    cost_currency = serializers.CharField(read_only=True, help_text="ISO 4217; empty: nothing priced yet")

    class Meta:
        model = Job
        fields = [
            "id",
            "name",
            "team",
            "cluster",
            "kind",
            "state",
            "state_reason",
            "entrypoint",
            "runtime_env",
            "runtime",
            "resources",
            "max_retries",
            "retry_on_error",
            "checkpoint_policy",
            "max_runtime_seconds",
            "priority",
            "priority_class",
            "pool",
            "queue_position",
            "pending_reason",
            "estimated_start_at",
            "estimate_confidence",
            "estimate_basis",
            "submitted_by",
            "created_at",
            "updated_at",
            "admitted_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "nodes",
            "gpu_hours",
            "cpu_hours",
            "cost",
            "cost_currency",
        ]
        read_only_fields = fields

    def get_duration_seconds(self, job: Job) -> float | None:
        if job.started_at is None:
            return None
        end = job.finished_at or timezone.now()
        return round(max((end - job.started_at).total_seconds(), 0.0), 3)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_nodes(self, job: Job) -> list[str]:
        placement = getattr(job, "latest_placement", _UNREAD)
        if placement is _UNREAD:  # a job not read through Job.objects.for_list (one query)
            placement = job.attempts.order_by("-number").values_list("placement", flat=True).first()
        return placement_hostnames(placement)

    @extend_schema_field(ResourcesReadSerializer)
    def get_resources(self, job: Job) -> dict[str, Any]:
        data: dict[str, Any] = ResourcesReadSerializer(
            {
                "cpus": job.cpus,
                "gpus": job.gpus,
                "accelerator_model": job.accelerator_model,
                "accelerator_models": job.accelerator_models,
                "min_gpu_memory_gb": job.min_gpu_memory_gb,
                "memory_gb": job.memory_gb,
            }
        ).data
        return data

    def get_queue_position(self, job: Job) -> int | None:
        # Annotated by Job.objects.for_list (no query per row); a job that just left the queue has none.
        position: int | None = getattr(job, "queue_position", None)
        return position if job.state == JobState.PENDING else None

    def get_pending_reason(self, job: Job) -> str:
        return job.state_reason if job.state == JobState.PENDING else ""

    # The estimate is about a start still to come: a job that left the queue shows none, even
    # before the next pass clears what it stored.
    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_estimated_start_at(self, job: Job) -> str | None:
        if job.state != JobState.PENDING or job.estimated_start_at is None:
            return None
        value: str = serializers.DateTimeField().to_representation(job.estimated_start_at)
        return value

    @extend_schema_field(serializers.ChoiceField(choices=EstimateConfidence.choices))
    def get_estimate_confidence(self, job: Job) -> str:
        return job.estimate_confidence if job.state == JobState.PENDING else ""

    def get_estimate_basis(self, job: Job) -> str:
        return job.estimate_basis if job.state == JobState.PENDING else ""

    @extend_schema_field(CheckpointPolicySerializer)
    def get_checkpoint_policy(self, job: Job) -> dict[str, Any]:
        return dict(job.checkpoint_policy or {})


class PlacementShareSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """One node of an attempt's placement, with what the inventory knows of it now."""

    node_id = serializers.IntegerField(allow_null=True, help_text="null: the node has since been removed")
    hostname = serializers.CharField()
    address = serializers.CharField(help_text="The node's IP address when it was placed")
    gpus = serializers.ListField(child=serializers.IntegerField(), help_text="GPU indexes on the node")
    gpu_uuids = serializers.ListField(
        child=serializers.CharField(allow_blank=True), help_text="Their UUIDs, in the order of gpus ('' unknown)"
    )
    accelerator_model = serializers.CharField(help_text="The GPUs' catalog model (or reported name); '' none")
    fabric = serializers.CharField(help_text="The node's fastest network fabric, e.g. 'ib-a (InfiniBand, 400 Gbit/s)'")
    cluster_id = serializers.IntegerField(allow_null=True)


class AttemptListSerializer(serializers.ListSerializer):  # type: ignore[type-arg]
    """Looks up the placements of every attempt it shows at once (three queries in all)."""

    def to_representation(self, data: Any) -> list[Any]:
        attempts = list(data.all() if hasattr(data, "all") else data)
        for attempt, placement in zip(attempts, enrich_placements([a.placement for a in attempts]), strict=True):
            attempt.placement_shown = placement
        return super().to_representation(attempts)


class AttemptSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    remote_id = serializers.CharField(read_only=True)
    placement = serializers.SerializerMethodField(
        help_text="Where it ran: one entry per node, with GPU indexes and UUIDs, model, fabric and cluster"
    )

    class Meta:
        model = Attempt
        list_serializer_class = AttemptListSerializer
        fields = [
            "id",
            "number",
            "state",
            "remote_id",
            "placement",
            "message",
            "failure_cause",
            "failure_evidence",
            "exit_code",
            "cause",
            "resume_step",
            "resume_uri",
            "created_at",
            "dispatched_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(PlacementShareSerializer(many=True))
    def get_placement(self, attempt: Attempt) -> list[dict[str, Any]]:
        shown: list[dict[str, Any]] | None = getattr(attempt, "placement_shown", None)
        if shown is None:  # one attempt on its own: its own lookup
            shown = enrich_placements([attempt.placement])[0]
        return shown


class NodeAttemptSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """An attempt of a job that holds (or held) resources on one node."""

    job = serializers.IntegerField(source="job_id", read_only=True)
    job_name = serializers.CharField(source="job.name", read_only=True)
    job_state = serializers.ChoiceField(source="job.state", choices=JobState.choices, read_only=True)
    job_kind = serializers.ChoiceField(source="job.kind", choices=JobKind.choices, read_only=True)
    team = serializers.SlugRelatedField(source="job.team", slug_field="slug", read_only=True)
    cluster = serializers.SlugRelatedField(source="job.cluster", slug_field="name", read_only=True)
    active = serializers.SerializerMethodField(help_text="It holds its place on the node now")
    gpus = serializers.SerializerMethodField(help_text="The GPU indexes it holds (held) on this node")
    gpus_total = serializers.SerializerMethodField(help_text="GPUs it holds on all its nodes together")
    nodes = serializers.SerializerMethodField(help_text="How many nodes it is placed on")

    class Meta:
        model = Attempt
        fields = [
            "id",
            "number",
            "state",
            "active",
            "job",
            "job_name",
            "job_state",
            "job_kind",
            "team",
            "cluster",
            "gpus",
            "gpus_total",
            "nodes",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_active(self, attempt: Attempt) -> bool:
        return attempt.state in ATTEMPT_ACTIVE_STATES

    def get_gpus(self, attempt: Attempt) -> list[int]:
        return gpus_on_node(attempt.placement, self.context["node_id"])

    def get_gpus_total(self, attempt: Attempt) -> int:
        return sum(len(entry.get("gpus") or ()) for entry in attempt.placement or () if isinstance(entry, dict))

    def get_nodes(self, attempt: Attempt) -> int:
        return len(attempt.placement or ())


class JobEventSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    attempt = serializers.IntegerField(source="attempt.number", read_only=True, allow_null=True, default=None)

    class Meta:
        model = JobEvent
        fields = ["id", "kind", "from_state", "to_state", "message", "attempt", "actor", "created_at"]
        read_only_fields = fields


class JobPlanSerializer(serializers.Serializer):  # type: ignore[type-arg]
    model = serializers.DictField()
    workload = serializers.DictField()
    accelerator = serializers.CharField()
    gpus = serializers.IntegerField()
    memory_per_gpu_bytes = serializers.IntegerField()
    headroom_bytes = serializers.IntegerField()
    fits = serializers.BooleanField()
    peak_phase = serializers.CharField()
    step_time_s = serializers.FloatField()
    time_to_train_s = serializers.FloatField(allow_null=True)
    explanation = serializers.CharField()
    overridden = serializers.BooleanField()


class JobDetailSerializer(JobSerializer):
    attempts = AttemptSerializer(many=True, read_only=True)
    events = JobEventSerializer(many=True, read_only=True)
    plan = serializers.SerializerMethodField()
    accepted_pools = serializers.SerializerMethodField(
        help_text="The pools it accepts, first choice first (Kueue's flavors); `pool` is the one it is admitted to"
    )
    exit_code = serializers.SerializerMethodField(
        help_text="A failed job's exit code: its latest attempt's (negative: killed by that signal); null otherwise"
    )
    cause = serializers.SerializerMethodField(
        help_text="A failed job's cause in one short line (its latest attempt's); empty otherwise"
    )

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "exit_code", "cause", "accepted_pools", "attempts", "events", "plan"]
        read_only_fields = fields

    @staticmethod
    def _latest_failed(job: Job) -> Attempt | None:
        # The attempts are prefetched in order: no query of its own.
        attempts = list(job.attempts.all())
        return attempts[-1] if attempts and job.state == JobState.FAILED else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_exit_code(self, job: Job) -> int | None:
        latest = self._latest_failed(job)
        return latest.exit_code if latest is not None else None

    def get_cause(self, job: Job) -> str:
        latest = self._latest_failed(job)
        return latest.cause if latest is not None else ""

    def get_accepted_pools(self, job: Job) -> list[str]:
        pools = Pool.objects.filter(cluster_id=job.cluster_id).select_related("accelerator_model")
        found = accepted_pools(
            pools, job.cluster_id, job.gpus, job.accelerator_model, job.accelerator_models, job.min_gpu_memory_gb
        )
        return [pool.name for pool in found]

    @extend_schema_field(JobPlanSerializer(allow_null=True))
    def get_plan(self, job: Job) -> dict[str, Any] | None:
        return job.plan or None


class JobLogSerializer(serializers.Serializer):  # type: ignore[type-arg]
    attempt = serializers.IntegerField(allow_null=True)
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField()
    text = serializers.CharField(allow_blank=True)
    complete = serializers.BooleanField(help_text="True when the job has finished and this is the end of its log.")


BULK_CANCEL_MAX = 500


class BulkCancelSerializer(serializers.Serializer):  # type: ignore[type-arg]
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=INT64_MAX),
        allow_empty=False,
        max_length=BULK_CANCEL_MAX,
        help_text=f"The jobs to cancel (at most {BULK_CANCEL_MAX}); an id given twice counts once",
    )

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
        return super().to_internal_value(data)


class BulkCancelOutcomeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=BulkCancelOutcome.choices)
    state = serializers.CharField(allow_null=True, help_text="Its state now; null when not found")
    detail = serializers.CharField(help_text="The outcome in words")


class BulkCancelResultSerializer(serializers.Serializer):  # type: ignore[type-arg]
    results = BulkCancelOutcomeSerializer(many=True, help_text="One per id, in the order given")


class CodePackageSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    uri = serializers.CharField(
        read_only=True, help_text="Use it as runtime_env.working_dir (or in py_modules) of the team's jobs"
    )
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = CodePackage
        fields = [
            "id",
            "uri",
            "team",
            "sha256",
            "size_bytes",
            "file_count",
            "uncompressed_bytes",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class CodePackageUploadSerializer(serializers.Serializer):  # type: ignore[type-arg]
    team = serializers.SlugField(max_length=63)
    file = serializers.FileField(
        allow_empty_file=False,
        help_text="A zip of the job's working directory, files at its top (`paddock submit --workdir DIR` makes one).",
    )
