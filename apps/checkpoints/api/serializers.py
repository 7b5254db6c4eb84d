from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.checkpoints.choices import Stage
from apps.checkpoints.models import Checkpoint, Model, ModelVersion


class CheckpointSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    job_name = serializers.CharField(source="job.name", read_only=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    attempt_number = serializers.IntegerField(source="attempt.number", read_only=True)
    attempt = serializers.UUIDField(source="attempt_id", read_only=True)
    model_versions = serializers.SerializerMethodField()

    class Meta:
        model = Checkpoint
        fields = [
            "id",
            "job",
            "job_name",
            "team",
            "attempt",
            "attempt_number",
            "step",
            "uri",
            "state",
            "bytes",
            "file_count",
            "sha256",
            "metrics",
            "final",
            "created_at",
            "completed_at",
            "deleted_at",
            "deletion_reason",
            "retained_because",
            "model_versions",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_model_versions(self, checkpoint: Checkpoint) -> list[int]:
        return [version.pk for version in checkpoint.model_versions.all()]


class VersionRefSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    stage = serializers.ChoiceField(choices=Stage.choices)


class ModelSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    versions = serializers.IntegerField(source="version_count", read_only=True)
    latest_version = serializers.SerializerMethodField()
    production_version = serializers.SerializerMethodField()

    class Meta:
        model = Model
        fields = ["id", "team", "name", "description", "created_at", "versions", "latest_version", "production_version"]
        read_only_fields = fields

    @extend_schema_field(VersionRefSerializer(allow_null=True))
    def get_latest_version(self, model: Any) -> dict[str, Any] | None:
        if getattr(model, "latest_version_id", None) is None:
            return None
        return {
            "id": model.latest_version_id,
            "version": model.latest_version_number,
            "stage": model.latest_version_stage,
        }

    @extend_schema_field(VersionRefSerializer(allow_null=True))
    def get_production_version(self, model: Any) -> dict[str, Any] | None:
        if getattr(model, "production_version_id", None) is None:
            return None
        return {"id": model.production_version_id, "version": model.production_version_number, "stage": "production"}


class ModelCreateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    team = serializers.SlugField(max_length=63)
    name = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class BaseModelSerializer(serializers.Serializer):  # type: ignore[type-arg]
    version = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    uri = serializers.CharField()


class ModelVersionSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    model_name = serializers.CharField(source="model.name", read_only=True)
    team = serializers.CharField(source="model.team.slug", read_only=True)
    checkpoint_step = serializers.IntegerField(source="checkpoint.step", read_only=True, allow_null=True, default=None)
    base_model = serializers.SerializerMethodField()
    # Null until promoted (promoted_by), or once the user is deleted (both).
    promoted_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "model",
            "model_name",
            "team",
            "version",
            "checkpoint",
            "checkpoint_step",
            "uri",
            "job",
            "base_model",
            "metrics",
            "description",
            "stage",
            "promoted_by",
            "promoted_at",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(BaseModelSerializer)
    def get_base_model(self, version: ModelVersion) -> dict[str, Any]:
        base = version.base_version
        return {
            "version": base.pk if base is not None else None,
            "name": f"{base.model.name} v{base.version}" if base is not None else "",
            "uri": base.uri if base is not None else version.base_uri,
        }


class ModelVersionCreateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    model = serializers.IntegerField(min_value=1, max_value=2**62)
    checkpoint = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    uri = serializers.CharField(required=False, max_length=1000)
    metrics = serializers.DictField(child=serializers.FloatField(), required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    base_version = serializers.IntegerField(
        required=False, min_value=1, max_value=2**62, help_text="The registered version it was trained from"
    )
    base_uri = serializers.CharField(required=False, max_length=1000, help_text="Or an outside base model")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("checkpoint" in attrs) == ("uri" in attrs):
            raise serializers.ValidationError({"checkpoint": ["Give a checkpoint or a uri (one of them)."]})
        return attrs


class StageSerializer(serializers.Serializer):  # type: ignore[type-arg]
    stage = serializers.ChoiceField(choices=[s for s in Stage.values if s != Stage.ARCHIVED])


class MetricSeriesSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField()
    points = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        help_text="[step, value] pairs in step order",
    )
    downsampled = serializers.BooleanField(help_text="Bucket means: the series had more points than asked for")
    count = serializers.IntegerField(help_text="Points reported")


class JobMetricsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    job = serializers.IntegerField()
    series = MetricSeriesSerializer(many=True)


class LineageRefSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    name = serializers.CharField()
    state = serializers.CharField()


class LineageJobSerializer(LineageRefSerializer):
    kind = serializers.CharField()
    team = serializers.CharField()


class LineageAttemptSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField()
    number = serializers.IntegerField()
    state = serializers.CharField()
    resume_step = serializers.IntegerField(allow_null=True)


class LineageBaseSerializer(serializers.Serializer):  # type: ignore[type-arg]
    version = ModelVersionSerializer(allow_null=True)
    uri = serializers.CharField()


class LineageSerializer(serializers.Serializer):  # type: ignore[type-arg]
    version = ModelVersionSerializer()
    checkpoint = CheckpointSerializer(allow_null=True)
    attempt = LineageAttemptSerializer(allow_null=True)
    job = LineageJobSerializer(allow_null=True)
    base_model = LineageBaseSerializer()
    derived_jobs = LineageRefSerializer(many=True)
    endpoints = serializers.ListField(
        child=serializers.DictField(), help_text="Endpoints serving it: id, name, team, state"
    )
