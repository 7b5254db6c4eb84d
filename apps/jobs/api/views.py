from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.pagination import KeysFirstPagination, StreamCursorPagination
from apps.core.api.viewsets import TeamScopedViewSet
from apps.inventory.models import Cluster
from apps.jobs import services
from apps.jobs.api.filters import CodePackageFilter, JobFilter
from apps.jobs.api.serializers import (
    CodePackageSerializer,
    CodePackageUploadSerializer,
    JobCreateSerializer,
    JobDetailSerializer,
    JobEventSerializer,
    JobLogSerializer,
    JobSerializer,
)
from apps.jobs.choices import ATTEMPT_REMOTE_STATES
from apps.jobs.models import Attempt, AttemptLogChunk, CodePackage, Job, JobEvent
from apps.jobs.packages import PackageError
from apps.jobs.querysets import attach_queue_positions
from apps.planner import services as planner
from apps.planner.estimator import SpecError
from apps.quotas.models import PriorityClass
from apps.quotas.pools import pool_for
from apps.tenancy.choices import WRITE_ROLES
from apps.tenancy.models import Team
from apps.tenancy.scoping import caller_roles

IDEMPOTENCY_HEADER = "Idempotency-Key"
# A log read of a running job asks for a fresh copy from the cluster when the stored one is older.
LOG_REFRESH_INTERVAL = timedelta(seconds=1)
LOG_CHUNK = 256 * 1024


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Training, fine-tuning and batch jobs of the caller's teams."""

    queryset = Job.objects.for_list().order_by("-created_at", "-id")
    pagination_class = KeysFirstPagination
    serializer_class = JobSerializer
    filterset_class = JobFilter
    ordering_fields = ["created_at", "id", "priority", "name"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(
                Prefetch("attempts", queryset=Attempt.objects.order_by("number")),
                Prefetch("events", queryset=JobEvent.objects.select_related("actor", "attempt").order_by("id")),
            )
        return queryset

    def get_serializer_class(self) -> type:
        if self.action == "retrieve":
            return JobDetailSerializer
        return JobSerializer

    def paginate_queryset(self, queryset: Any) -> list[Any] | None:
        page = super().paginate_queryset(queryset)
        if page is not None:
            attach_queue_positions(page)  # one query for the page, however many jobs wait
        return page

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        job = self.get_object()
        attach_queue_positions([job])
        return Response(JobDetailSerializer(job, context=self.get_serializer_context()).data)

    # --- create ------------------------------------------------------------------------
    @extend_schema(
        request=JobCreateSerializer,
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
    def create(self, request: Request) -> Response:
        serializer = JobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key = request.headers.get(IDEMPOTENCY_HEADER) or None
        if key is not None and len(key) > 255:
            raise ValidationError({IDEMPOTENCY_HEADER: ["At most 255 characters."]})

        roles = caller_roles(request)
        team = Team.objects.filter(slug=data["team"], pk__in=list(roles)).select_related("default_cluster").first()
        if team is None:
            raise ValidationError({"team": [f"Unknown team {data['team']!r} (or you are not a member)."]})
        self.require_role(team.pk, WRITE_ROLES, "submit jobs")
        cluster = self._resolve_cluster(team, data.get("cluster"))
        runtime_env = dict(data.get("runtime_env") or {})
        package_problems = services.package_problems(team, runtime_env)
        if package_problems:
            raise ValidationError({"runtime_env": package_problems})

        resources = data.get("resources") or {}
        priority, priority_class = data["priority"], None
        if data.get("priority_class"):
            priority_class = PriorityClass.objects.filter(
                organisation_id=team.organisation_id, name=data["priority_class"]
            ).first()
            if priority_class is None:
                raise ValidationError(
                    {"priority_class": [f"Unknown priority class {data['priority_class']!r} for team {team.slug}."]}
                )
            priority = priority_class.value
        plan = self._check_plan(team, data, resources) if "model" in data else {}
        pool = pool_for(cluster.pk, resources.get("gpus", 0.0), resources.get("accelerator_model", ""))
        job_request = services.JobRequest(
            name=data["name"],
            team=team,
            cluster=cluster,
            kind=data["kind"],
            entrypoint=data["entrypoint"],
            runtime_env=runtime_env,
            cpus=resources.get("cpus", 1.0),
            gpus=resources.get("gpus", 0.0),
            accelerator_model=resources.get("accelerator_model", ""),
            memory_gb=resources.get("memory_gb", 0.0),
            max_retries=data["max_retries"],
            max_runtime_seconds=data.get("max_runtime_seconds"),
            priority=priority,
            priority_class=priority_class,
            pool=pool,
            plan=plan,
        )
        job, created = services.submit_job(actor=self.actor, request=job_request, idempotency_key=key)
        job = Job.objects.for_list().get(pk=job.pk)
        attach_queue_positions([job])
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @staticmethod
    def _check_plan(team: Team, data: dict[str, Any], resources: dict[str, Any]) -> dict[str, Any]:
        """Ask the planner whether the job fits the GPUs it asks for; refuse it (400) when it
        does not, unless the submitter overrides. Returns what the job records as its plan."""
        accelerator = resources.get("accelerator_model", "")
        gpus = resources.get("gpus", 0.0)
        problems: dict[str, list[str]] = {}
        if not accelerator:
            problems["accelerator_model"] = ["Name the accelerator, so the planner can check that the job fits it."]
        if gpus < 1:
            problems["gpus"] = ["A job with a model and workload needs at least one whole GPU."]
        if problems:
            raise ValidationError({"resources": problems})
        try:
            check = planner.check_fit(
                model=data["model"],
                workload=data["workload"],
                accelerator=accelerator,
                gpus=int(gpus),
                organisation_ids=[team.organisation_id],
            )
        except SpecError as exc:
            errors = dict(exc.errors)
            hardware = errors.pop("hardware", {})
            if hardware:  # the job names its hardware in resources, not in a hardware object
                renamed = {"accelerator": "accelerator_model", "gpus": "gpus"}
                errors["resources"] = {renamed.get(key, key): value for key, value in hardware.items()}
            raise ValidationError(errors) from exc
        if not check.fits and not data["override_planner"]:
            raise ValidationError(
                {
                    "plan": [
                        check.explanation,
                        check.alternative,
                        "Change the resources or the workload, or set override_planner to submit it anyway.",
                    ]
                }
            )
        return {
            "model": data["model"],
            "workload": data["workload"],
            **check.summary,
            "explanation": check.explanation,
            "overridden": not check.fits,
        }

    @staticmethod
    def _resolve_cluster(team: Team, name: str | None) -> Cluster:
        """The cluster the job goes to: the one named, else the team's default, else the only
        one the team may use. A cluster of another organisation exists for the team only when
        it lists the team; one of its own organisation that does not take it is refused."""
        usable = Cluster.objects.usable_by_team(team)
        if name:
            cluster = Cluster.objects.filter(name=name).first()
            if cluster is None or (
                cluster.organisation_id != team.organisation_id and not usable.filter(pk=cluster.pk).exists()
            ):
                raise ValidationError({"cluster": [f"Unknown cluster {name!r} for team {team.slug}."]})
        elif team.default_cluster is not None:
            cluster = team.default_cluster
        else:
            only = list(usable[:2])
            if len(only) != 1:
                raise ValidationError({"cluster": ["This team has no default cluster: name one."]})
            cluster = only[0]
        if not usable.filter(pk=cluster.pk).exists():
            raise ValidationError(
                {
                    "cluster": [
                        f"Team {team.slug} may not use cluster {cluster.name}: it takes jobs only from the "
                        "teams its organisation's admins allow."
                    ]
                }
            )
        if cluster.kind != "ray":
            raise ValidationError(
                {"cluster": [f"Cluster {cluster.name} is of kind {cluster.kind}, which cannot run jobs yet."]}
            )
        return cluster

    # --- actions -------------------------------------------------------------------------
    @extend_schema(request=None, responses={200: JobSerializer, 409: OpenApiResponse(description="Already finished")})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        self.require_role(job.team_id, WRITE_ROLES, "cancel jobs")
        job = services.cancel_job(actor=self.actor, job=job)
        return Response(JobSerializer(job).data)

    @extend_schema(
        request=None,
        responses={200: JobDetailSerializer},
        summary="Compare the job with its cluster now (reconcile on demand)",
    )
    @action(detail=True, methods=["post"])
    def reconcile(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        self.require_role(job.team_id, WRITE_ROLES, "reconcile jobs")
        for attempt in job.attempts.remote_active().select_related("job__cluster", "job__team"):
            services.check_attempt(attempt)
        refreshed = (
            self.get_queryset()
            .model.objects.for_list()
            .prefetch_related(
                Prefetch("attempts", queryset=Attempt.objects.order_by("number")),
                Prefetch("events", queryset=JobEvent.objects.select_related("actor", "attempt").order_by("id")),
            )
            .get(pk=job.pk)
        )
        attach_queue_positions([refreshed])
        return Response(JobDetailSerializer(refreshed).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("offset", OpenApiTypes.INT, description="Characters already read (0 to start)."),
            OpenApiParameter("attempt", OpenApiTypes.INT, description="Attempt number; the latest by default."),
        ],
        responses={200: JobLogSerializer},
        description=(
            "Reads the copy of the log stored in Paddock. While the attempt runs, a worker copies what is new "
            "from the cluster (this call asks for that when the copy is over a second old), so a follower polls "
            "with the `next_offset` it got."
        ),
    )
    @action(detail=True, methods=["get"])
    def logs(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        offset = _non_negative_int(request.query_params.get("offset"), "offset", default=0)
        number = request.query_params.get("attempt")
        attempts = Attempt.objects.filter(job=job)
        if number is not None:
            attempt = attempts.filter(number=_non_negative_int(number, "attempt", default=0)).first()
            if attempt is None:
                raise ValidationError({"attempt": [f"Job {job.pk} has no attempt {number}."]})
        else:
            attempt = attempts.order_by("-number").first()
        if attempt is None:
            body = {
                "attempt": None,
                "offset": offset,
                "next_offset": offset,
                "text": "",
                "complete": job.state in {"succeeded", "failed", "cancelled"},
            }
            return Response(JobLogSerializer(body).data)
        if attempt.state in ATTEMPT_REMOTE_STATES and (
            attempt.log_fetched_at is None or timezone.now() - attempt.log_fetched_at > LOG_REFRESH_INTERVAL
        ):
            # Never the cluster from here: a worker copies what is new (the next poll sees it).
            services.request_log_refresh(attempt.pk)
        text = AttemptLogChunk.objects.window(attempt.pk, offset, LOG_CHUNK)
        next_offset = offset + len(text)
        stored = Attempt.objects.filter(pk=attempt.pk).values("state", "log_length", "log_complete").get()
        state = stored["state"]
        finished = state not in ATTEMPT_REMOTE_STATES and state != "admitted"
        complete = (
            finished
            and (stored["log_complete"] or state in {"lost", "stopped"})
            and next_offset >= stored["log_length"]
        )
        body = {
            "attempt": attempt.number,
            "offset": offset,
            "next_offset": next_offset,
            "text": text,
            "complete": complete,
        }
        return Response(JobLogSerializer(body).data)

    @extend_schema(responses={200: JobEventSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=StreamCursorPagination)
    def events(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        queryset = JobEvent.objects.filter(job=job).select_related("actor", "attempt").order_by("-id")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(JobEventSerializer(page, many=True).data)


def _non_negative_int(raw: str | None, name: str, *, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: ["A whole number is required."]}) from None
    if value < 0:
        raise ValidationError({name: ["Must be 0 or more."]})
    return value


class CodePackageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Zips of a team's code, uploaded by the CLI (``paddock submit --workdir``); a job names one
    by its ``uri`` in ``runtime_env.working_dir`` and Paddock ships it to the cluster. The bytes
    are never served back."""

    queryset = CodePackage.objects.select_related("team", "created_by").order_by("-created_at", "-id")
    serializer_class = CodePackageSerializer
    filterset_class = CodePackageFilter
    ordering_fields = ["created_at", "id", "size_bytes"]
    ordering = ["-created_at", "-id"]
    parser_classes = [MultiPartParser]

    # Room for the multipart framing and the team field around the zip itself.
    MULTIPART_ALLOWANCE = 64 * 1024

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Refuse an oversized upload before anything (a session's CSRF check included) reads it.
        if self.action == "create":
            limit = settings.PADDOCK_PACKAGE_MAX_BYTES
            length = _non_negative_int(request.META.get("CONTENT_LENGTH") or None, "Content-Length", default=0)
            if length > limit + self.MULTIPART_ALLOWANCE:
                raise ValidationError({"file": [_too_big(length, limit)]})
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": CodePackageUploadSerializer},
        responses={201: CodePackageSerializer, 200: CodePackageSerializer},
        summary="Upload a zip of a team's code (the same bytes again return the first package, 200)",
    )
    def create(self, request: Request) -> Response:
        serializer = CodePackageUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        roles = caller_roles(request)
        team = Team.objects.filter(slug=data["team"], pk__in=list(roles)).first()
        if team is None:
            raise ValidationError({"team": [f"Unknown team {data['team']!r} (or you are not a member)."]})
        self.require_role(team.pk, WRITE_ROLES, "upload packages")
        upload = data["file"]
        limit = settings.PADDOCK_PACKAGE_MAX_BYTES
        if upload.size > limit:
            raise ValidationError({"file": [_too_big(upload.size, limit)]})
        try:
            package, created = services.upload_package(actor=self.actor, team=team, data=upload.read())
        except PackageError as exc:
            raise ValidationError({"file": [str(exc)]}) from None
        return Response(
            CodePackageSerializer(package).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


def _too_big(size: int, limit: int) -> str:
    return (
        f"The upload is {size} bytes; a package is at most {limit} bytes. Leave data, checkpoints and "
        "virtualenvs out (add them to .gitignore) and read them from storage instead."
    )
