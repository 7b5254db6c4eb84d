from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.checkpoints import services
from apps.checkpoints.api.filters import CheckpointFilter, ModelFilter, ModelVersionFilter
from apps.checkpoints.api.serializers import (
    CheckpointSerializer,
    JobMetricsSerializer,
    LineageSerializer,
    ModelCreateSerializer,
    ModelSerializer,
    ModelVersionCreateSerializer,
    ModelVersionSerializer,
    StageSerializer,
)
from apps.checkpoints.choices import Stage
from apps.checkpoints.models import Checkpoint, Model, ModelVersion
from apps.checkpoints.signals import version_served
from apps.core.api.viewsets import TeamScopedViewSet
from apps.jobs.models import Job
from apps.tenancy.choices import WRITE_ROLES
from apps.tenancy.models import Team
from apps.tenancy.scoping import caller_roles


class CheckpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """A team's checkpoints, newest first; filter by job, team and state."""

    queryset = Checkpoint.objects.for_api().order_by("-created_at", "-id")
    serializer_class = CheckpointSerializer
    filterset_class = CheckpointFilter
    ordering_fields = ["created_at", "step", "bytes"]


class JobMetricsView(APIView):
    """The metrics a job reported, per name, as [step, value] pairs (downsampled when long)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("job", int, required=True),
            OpenApiParameter("max_points", int, description="At most this many points a series (default 500)"),
        ],
        responses={200: JobMetricsSerializer},
    )
    def get(self, request: Request) -> Response:
        try:
            job_id = int(request.query_params.get("job", ""))
            max_points = int(request.query_params.get("max_points", "500"))
        except ValueError as exc:
            raise ValidationError({"job": ["Give the job's id (and max_points as a number)."]}) from exc
        if not 2 <= max_points <= int(settings.PADDOCK_METRICS_MAX_POINTS):
            raise ValidationError({"max_points": [f"From 2 to {settings.PADDOCK_METRICS_MAX_POINTS}."]})
        job = Job.objects.filter(pk=job_id, team__in=list(caller_roles(request))).first()
        if job is None:
            raise NotFound("No such job.")
        return Response({"job": job.pk, "series": services.metric_series(job, max_points=max_points)})


class ModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """A team's registered models with their version counts and production version."""

    queryset = Model.objects.for_api().order_by("name", "id")
    serializer_class = ModelSerializer
    filterset_class = ModelFilter
    ordering_fields = ["name", "created_at"]

    @extend_schema(request=ModelCreateSerializer, responses={201: ModelSerializer})
    def create(self, request: Request) -> Response:
        serializer = ModelCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = _team_for_write(request, data["team"], self, "register models")
        model = services.create_model(actor=self.actor, team=team, name=data["name"], description=data["description"])
        return Response(ModelSerializer(Model.objects.for_api().get(pk=model.pk)).data, status=status.HTTP_201_CREATED)


class ModelVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Versions of a team's models: register, promote, archive, and walk their lineage."""

    queryset = ModelVersion.objects.for_api().order_by("-created_at", "-id")
    serializer_class = ModelVersionSerializer
    filterset_class = ModelVersionFilter
    team_field = "model__team"
    ordering_fields = ["created_at", "version"]

    @extend_schema(request=ModelVersionCreateSerializer, responses={201: ModelVersionSerializer})
    def create(self, request: Request) -> Response:
        serializer = ModelVersionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        model = Model.objects.filter(pk=data["model"], team__in=list(caller_roles(request))).first()
        if model is None:
            raise ValidationError({"model": ["Unknown model (or not one of your teams')."]})
        self.require_role(model.team_id, WRITE_ROLES, "register model versions")
        checkpoint = None
        if "checkpoint" in data:
            checkpoint = Checkpoint.objects.filter(pk=data["checkpoint"], team=model.team_id).first()
            if checkpoint is None:
                raise ValidationError({"checkpoint": ["Unknown checkpoint of this model's team."]})
        base = None
        if "base_version" in data:
            base = ModelVersion.objects.filter(pk=data["base_version"], model__team=model.team_id).first()
            if base is None:
                raise ValidationError({"base_version": ["Unknown model version of this team."]})
        version = services.register_version(
            actor=self.actor,
            model=model,
            checkpoint=checkpoint,
            uri=data.get("uri", ""),
            metrics=data.get("metrics"),
            description=data["description"],
            base_version=base,
            base_uri=data.get("base_uri", ""),
        )
        return Response(
            ModelVersionSerializer(ModelVersion.objects.for_api().get(pk=version.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=StageSerializer, responses={200: ModelVersionSerializer})
    @action(detail=True, methods=["post"])
    def promote(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        serializer = StageSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._stage(version, serializer.validated_data["stage"])

    @extend_schema(request=None, responses={200: ModelVersionSerializer})
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str | None = None) -> Response:
        return self._stage(self.get_object(), Stage.ARCHIVED)

    def _stage(self, version: ModelVersion, stage: str) -> Response:
        self.require_role(version.model.team_id, WRITE_ROLES, "change a model version's stage")
        version = services.set_stage(actor=self.actor, version=version, stage=stage)
        return Response(ModelVersionSerializer(ModelVersion.objects.for_api().get(pk=version.pk)).data)

    @extend_schema(responses={200: LineageSerializer, 404: OpenApiResponse(description="No such version")})
    @action(detail=True, methods=["get"])
    def lineage(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        walk = services.lineage(version)
        attempt, job, checkpoint = walk["attempt"], walk["job"], walk["checkpoint"]
        base = walk["base_version"]
        body: dict[str, Any] = {
            "version": ModelVersionSerializer(version).data,
            "checkpoint": (
                CheckpointSerializer(Checkpoint.objects.for_api().get(pk=checkpoint.pk)).data if checkpoint else None
            ),
            "attempt": (
                {"id": attempt.pk, "number": attempt.number, "state": attempt.state, "resume_step": attempt.resume_step}
                if attempt
                else None
            ),
            "job": (
                {"id": job.pk, "name": job.name, "state": job.state, "kind": job.kind, "team": version.model.team.slug}
                if job
                else None
            ),
            "base_model": {
                "version": ModelVersionSerializer(ModelVersion.objects.for_api().get(pk=base.pk)).data
                if base
                else None,
                "uri": base.uri if base else walk["base_uri"],
            },
            "derived_jobs": walk["derived_jobs"],
            "endpoints": [
                endpoint
                for _, answer in version_served.send(sender=ModelVersion, version=version)
                for endpoint in (answer or [])
            ],
        }
        return Response(body)


def _team_for_write(request: Request, slug: str, view: TeamScopedViewSet, action_text: str) -> Team:
    team = Team.objects.filter(slug=slug, pk__in=list(caller_roles(request))).first()
    if team is None:
        raise ValidationError({"team": [f"Unknown team {slug!r} (or you are not a member)."]})
    view.require_role(team.pk, WRITE_ROLES, action_text)
    return team
