"""Job templates: list them, ask the planner about one, submit one (as an ordinary job)."""

from __future__ import annotations

import contextlib
from typing import Any

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.checkpoints import recipes, services
from apps.jobs import services as jobs
from apps.jobs.api.serializers import (
    CheckpointPolicySerializer,
    JobCreateSerializer,
    JobSerializer,
    ResourcesSerializer,
)
from apps.jobs.api.submission import IDEMPOTENCY_HEADER, idempotency_key, prepare_submission
from apps.jobs.models import Job
from apps.jobs.querysets import attach_queue_positions
from apps.planner import services as planner
from apps.planner.api.serializers import EstimateSerializer
from apps.planner.estimator import SpecError
from apps.tenancy.models import Team
from apps.tenancy.scoping import caller_roles


class ParameterSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=["string", "integer", "number"])
    default = serializers.JSONField(allow_null=True)
    help = serializers.CharField()
    required = serializers.BooleanField()  # type: ignore[assignment]
    minimum = serializers.FloatField(allow_null=True)
    maximum = serializers.FloatField(allow_null=True)


class TemplateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.CharField()
    slug = serializers.CharField()
    kind = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    parameters = ParameterSerializer(many=True)


class TemplateSubmitSerializer(serializers.Serializer):  # type: ignore[type-arg]
    team = serializers.SlugField(max_length=63)
    cluster = serializers.SlugField(max_length=63, required=False, allow_null=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    resources = ResourcesSerializer(required=False)
    priority_class = serializers.SlugField(max_length=63, required=False, allow_null=True)
    max_retries = serializers.IntegerField(default=2, min_value=0, max_value=20)
    retry_on_error = serializers.BooleanField(default=False)
    max_runtime_seconds = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=30 * 24 * 3600
    )
    checkpoint_policy = CheckpointPolicySerializer(required=False)
    override_planner = serializers.BooleanField(default=False)
    parameters = serializers.JSONField(help_text="The template's parameters (see GET /job-templates/)")


class TemplateListView(APIView):
    """The job templates Paddock ships (one today: LoRA fine-tuning)."""

    @extend_schema(responses={200: TemplateSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response([template.as_dict() for template in recipes.TEMPLATES.values()])


def _template(slug: str) -> recipes.Template:
    template = recipes.TEMPLATES.get(slug)
    if template is None:
        raise NotFound(f"No job template {slug!r}.")
    return template


def _team(request: Request, slug: str) -> Team:
    team = Team.objects.filter(slug=slug, pk__in=list(caller_roles(request))).first()
    if team is None:
        raise ValidationError({"team": [f"Unknown team {slug!r} (or you are not a member)."]})
    return team


def _expand(template: recipes.Template, data: dict[str, Any], team: Team) -> recipes.Expanded:
    name = (data.get("name") or "").strip() or f"{template.slug}-fine-tune"
    try:
        return recipes.expand(template, data["parameters"], team=team, job_name=name)
    except recipes.TemplateError as exc:
        raise ValidationError({"parameters": exc.errors}) from exc


class TemplatePlanView(APIView):
    """The planner's estimate for a template's job before it is submitted."""

    read_scope_may_post = True

    @extend_schema(
        request=TemplateSubmitSerializer,
        responses={200: EstimateSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        template = _template(slug)
        serializer = TemplateSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = _team(request, data["team"])
        expanded = _expand(template, data, team)
        try:
            model, workload = recipes.planner_spec(expanded, data["parameters"], team=team)
        except recipes.TemplateError as exc:
            raise ValidationError({"parameters": exc.errors}) from exc
        resources = data.get("resources") or {}
        if not (resources.get("accelerator_model") and resources.get("gpus", 0) >= 1):
            raise ValidationError(
                {"resources": ["Name the accelerator model and at least one GPU: the planner sizes GPU runs only."]}
            )
        hardware = {"accelerator": resources["accelerator_model"], "gpus": int(resources["gpus"])}
        spec: dict[str, Any] = {"model": model, "workload": workload, "hardware": hardware}
        try:
            answer = planner.plan(spec, [team.organisation_id])
        except SpecError as exc:
            raise ValidationError(exc.errors) from exc
        return Response(answer)


class TemplateSubmitView(APIView):
    """Submit a template's job: an ordinary job in the queue, with its lineage recorded."""

    @extend_schema(
        request=TemplateSubmitSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="A repeat with the same key returns the first job (200) instead of a new one.",
            )
        ],
        responses={201: JobSerializer, 200: JobSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        template = _template(slug)
        serializer = TemplateSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = _team(request, data["team"])
        expanded = _expand(template, data, team)
        name = (data.get("name") or "").strip() or f"{template.slug}-fine-tune"
        raw: dict[str, Any] = request.data if isinstance(request.data, dict) else {}
        body: dict[str, Any] = {
            "name": name,
            "team": team.slug,
            "kind": template.kind,
            "entrypoint": expanded.entrypoint,
            "resources": raw.get("resources") or {"cpus": 1},
            "max_retries": data["max_retries"],
            "retry_on_error": data["retry_on_error"],
            "override_planner": data["override_planner"],
        }
        for optional in ("cluster", "priority_class", "max_runtime_seconds", "checkpoint_policy"):
            if raw.get(optional) is not None:
                body[optional] = raw[optional]
        resources = data.get("resources") or {}
        if resources.get("accelerator_model") and resources.get("gpus", 0) >= 1:
            # With the model's size known, the jobs API has the planner check the fit; without
            # it the job goes in unchecked.
            with contextlib.suppress(recipes.TemplateError):
                body["model"], body["workload"] = recipes.planner_spec(expanded, data["parameters"], team=team)
        job_data = JobCreateSerializer(data=body)
        job_data.is_valid(raise_exception=True)
        job_request = prepare_submission(job_data.validated_data, roles=caller_roles(request))
        key = idempotency_key(request.headers)
        user = request.user
        with transaction.atomic():
            job, created = jobs.submit_job(actor=user, request=job_request, idempotency_key=key)  # type: ignore[arg-type]
            if created:
                services.record_lineage(
                    job=job,
                    base_version=expanded.base_version,
                    base_uri=expanded.base_uri,
                    recipe=template.id,
                    model_name=expanded.model_name,
                )
        job = Job.objects.for_list().get(pk=job.pk)
        attach_queue_positions([job])
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
