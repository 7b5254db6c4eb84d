"""What a running job calls with its job token (``PADDOCK_JOB_TOKEN``): these views only.

Each parses, calls one service and renders; a bad report is a 400 (403 when it names what the
token may not touch) and records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.checkpoints import services
from apps.checkpoints.api.serializers import CheckpointSerializer, ModelVersionSerializer
from apps.checkpoints.models import Checkpoint, ModelVersion
from apps.checkpoints.storage import StorageError
from apps.core.errors import DependencyUnavailable
from apps.jobs.authentication import JobCredentials, JobTokenAuthentication
from apps.jobs.models import Attempt


class JobReportView(APIView):
    """Base: job tokens only, JSON only."""

    job_endpoint = True
    authentication_classes = [JobTokenAuthentication]
    parser_classes = [JSONParser]
    throttle_classes: list[Any] = []

    @property
    def attempt(self) -> Attempt:
        credentials = self.request.auth
        assert isinstance(credentials, JobCredentials)
        return credentials.attempt

    @staticmethod
    def body(request: Request) -> dict[str, Any]:
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["Send a JSON object."]})
        return request.data

    @staticmethod
    def call(fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except services.ReportError as exc:
            if exc.forbidden:
                raise PermissionDenied(exc.errors) from exc
            raise ValidationError(exc.errors) from exc
        except StorageError as exc:
            if exc.retryable:
                raise DependencyUnavailable(f"Checkpoint storage does not answer: {exc.message}") from exc
            raise ValidationError({"non_field_errors": [exc.message]}) from exc


class ResumeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    uri = serializers.CharField()
    step = serializers.IntegerField()


class ContextSerializer(serializers.Serializer):  # type: ignore[type-arg]
    job = serializers.IntegerField()
    attempt = serializers.IntegerField()
    checkpoint_uri = serializers.CharField(help_text="The job's checkpoint prefix; empty: the team has no storage")
    storage = serializers.CharField(help_text="local, s3, or empty")
    resume_from = ResumeSerializer(allow_null=True)


class MetricPointInSerializer(serializers.Serializer):  # type: ignore[type-arg]
    step = serializers.IntegerField(min_value=0, max_value=2**62)
    values = serializers.DictField(child=serializers.FloatField())


class MetricsInSerializer(serializers.Serializer):  # type: ignore[type-arg]
    points = MetricPointInSerializer(many=True)


class RecordedSerializer(serializers.Serializer):  # type: ignore[type-arg]
    recorded = serializers.IntegerField()


class FileInSerializer(serializers.Serializer):  # type: ignore[type-arg]
    path = serializers.CharField()
    size = serializers.IntegerField(min_value=0, max_value=5 * 2**30)


class UploadsInSerializer(serializers.Serializer):  # type: ignore[type-arg]
    step = serializers.IntegerField(min_value=0, max_value=2**62)
    files = FileInSerializer(many=True)


class FileOutSerializer(serializers.Serializer):  # type: ignore[type-arg]
    path = serializers.CharField()
    size = serializers.IntegerField(required=False)
    url = serializers.CharField(required=False, help_text="Object stores: a presigned URL (PUT to write, GET to read)")
    headers = serializers.DictField(child=serializers.CharField(), required=False)
    local_path = serializers.CharField(required=False, help_text="File systems: where to write or read it")


class FilesOutSerializer(serializers.Serializer):  # type: ignore[type-arg]
    uri = serializers.CharField()
    directory = serializers.CharField(required=False)
    files = FileOutSerializer(many=True)


class CheckpointInSerializer(serializers.Serializer):  # type: ignore[type-arg]
    uri = serializers.CharField()
    step = serializers.IntegerField(min_value=0, max_value=2**62)
    metrics = serializers.DictField(child=serializers.FloatField(), required=False)
    final = serializers.BooleanField(default=False)


class DownloadInSerializer(serializers.Serializer):  # type: ignore[type-arg]
    uri = serializers.CharField()


class VersionInSerializer(serializers.Serializer):  # type: ignore[type-arg]
    model = serializers.CharField(max_length=100)
    checkpoint = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    uri = serializers.CharField(required=False)
    metrics = serializers.DictField(child=serializers.FloatField(), required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class ContextView(JobReportView):
    @extend_schema(responses={200: ContextSerializer}, summary="What a running job is told about itself")
    def get(self, request: Request) -> Response:
        return Response(self.call(services.context, attempt=self.attempt))


class MetricsReportView(JobReportView):
    @extend_schema(request=MetricsInSerializer, responses={201: RecordedSerializer}, summary="Report metrics")
    def post(self, request: Request) -> Response:
        body = self.body(request)
        recorded = self.call(services.record_metrics, attempt=self.attempt, points=body.get("points"))
        return Response({"recorded": recorded}, status=status.HTTP_201_CREATED)


class UploadsView(JobReportView):
    @extend_schema(
        request=UploadsInSerializer, responses={200: FilesOutSerializer}, summary="Where to write a checkpoint's files"
    )
    def post(self, request: Request) -> Response:
        body = self.body(request)
        return Response(
            self.call(services.upload_targets, attempt=self.attempt, step=body.get("step"), files=body.get("files"))
        )


class CheckpointReportView(JobReportView):
    @extend_schema(
        request=CheckpointInSerializer,
        responses={201: CheckpointSerializer, 200: CheckpointSerializer},
        summary="Report a checkpoint the job wrote",
    )
    def post(self, request: Request) -> Response:
        body = self.body(request)
        checkpoint, created = self.call(
            services.report_checkpoint,
            attempt=self.attempt,
            uri=body.get("uri"),
            step=body.get("step"),
            metrics=body.get("metrics"),
            final=body.get("final", False),
        )
        checkpoint = Checkpoint.objects.for_api().get(pk=checkpoint.pk)
        return Response(
            CheckpointSerializer(checkpoint).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class DownloadsView(JobReportView):
    @extend_schema(request=DownloadInSerializer, responses={200: FilesOutSerializer}, summary="Read files back")
    def post(self, request: Request) -> Response:
        body = self.body(request)
        return Response(self.call(services.download_sources, attempt=self.attempt, uri=body.get("uri")))


class VersionReportView(JobReportView):
    @extend_schema(
        request=VersionInSerializer, responses={201: ModelVersionSerializer}, summary="Register the job's result"
    )
    def post(self, request: Request) -> Response:
        body = self.body(request)
        version = self.call(
            services.register_from_job,
            attempt=self.attempt,
            model_name=body.get("model"),
            checkpoint=body.get("checkpoint"),
            uri=body.get("uri"),
            metrics=body.get("metrics"),
            description=body.get("description", ""),
        )
        version = ModelVersion.objects.for_api().get(pk=version.pk)
        return Response(ModelVersionSerializer(version).data, status=status.HTTP_201_CREATED)
