from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Case, DurationField, F, Prefetch, QuerySet, Value, When
from django.db.models.functions import Coalesce, Now
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.functional import cached_property
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.pagination import KeysFirstPagination, StreamCursorPagination
from apps.core.api.viewsets import TeamScopedViewSet
from apps.inventory.models import Node
from apps.jobs import services
from apps.jobs.api.filters import CodePackageFilter, JobFilter, NodeAttemptFilter
from apps.jobs.api.serializers import (
    BulkCancelResultSerializer,
    BulkCancelSerializer,
    CodePackageSerializer,
    CodePackageUploadSerializer,
    JobCreateSerializer,
    JobDetailSerializer,
    JobEventSerializer,
    JobLogSerializer,
    JobSerializer,
    NodeAttemptSerializer,
)
from apps.jobs.api.submission import IDEMPOTENCY_HEADER, idempotency_key, prepare_submission
from apps.jobs.authentication import JobCredentials, JobTokenAuthentication
from apps.jobs.choices import ATTEMPT_ACTIVE_STATES, ATTEMPT_REMOTE_STATES
from apps.jobs.models import Attempt, AttemptLogChunk, CodePackage, Job, JobEvent
from apps.jobs.packages import PackageError
from apps.jobs.placement import on_node
from apps.jobs.querysets import attach_queue_positions
from apps.tenancy.choices import WRITE_ROLES
from apps.tenancy.models import Team
from apps.tenancy.scoping import caller_organisation_ids, caller_roles


class PlainTextRenderer(BaseRenderer):
    """text/plain: a download's own bytes; an error's body as its JSON text."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if isinstance(data, bytes):
            return data
        if isinstance(data, str):
            return data.encode()
        return JSONRenderer().render(data)


# A log read of a running job asks for a fresh copy from the cluster when the stored one is older.
LOG_REFRESH_INTERVAL = timedelta(seconds=1)
LOG_CHUNK = 256 * 1024


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Training, fine-tuning and batch jobs of the caller's teams."""

    queryset = Job.objects.for_list().order_by("-created_at", "-id")
    pagination_class = KeysFirstPagination
    serializer_class = JobSerializer
    filterset_class = JobFilter
    ordering_fields = [
        "created_at",
        "id",
        "priority",
        "name",
        "state",
        "gpus",
        "cost",
        "gpu_hours",
        "cpu_hours",
        "duration",
    ]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()
        if self.action == "list" and "ordering" in self.request.query_params:
            # Sortable by what it has cost and run: names the ordering filter can take.
            queryset = queryset.annotate(
                gpu_hours=F("gpu_seconds"),
                cpu_hours=F("cpu_seconds"),
                duration=Coalesce(
                    Coalesce("finished_at", Now()) - F("started_at"),
                    Value(timedelta(0)),
                    output_field=DurationField(),
                ),
            )
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
        if page is not None and self.action == "list":  # (events pages hold events)
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
        key = idempotency_key(request.headers)
        job_request = prepare_submission(serializer.validated_data, roles=caller_roles(request))
        job, created = services.submit_job(actor=self.actor, request=job_request, idempotency_key=key)
        job = Job.objects.for_list().get(pk=job.pk)
        attach_queue_positions([job])
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    # --- actions -------------------------------------------------------------------------
    @extend_schema(request=None, responses={200: JobSerializer, 409: OpenApiResponse(description="Already finished")})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        self.require_role(job.team_id, WRITE_ROLES, "cancel jobs")
        job = services.cancel_job(actor=self.actor, job=job)
        return Response(JobSerializer(job).data)

    @extend_schema(
        request=BulkCancelSerializer,
        responses={200: BulkCancelResultSerializer},
        summary="Cancel several jobs at once; each id gets its own outcome",
        operation_id="jobs_cancel_many",
    )
    @action(detail=False, methods=["post"], url_path="cancel", url_name="cancel-many")
    def cancel_many(self, request: Request) -> Response:
        serializer = BulkCancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids: list[int] = list(dict.fromkeys(serializer.validated_data["ids"]))
        found = {job.pk: job for job in self.get_queryset().filter(pk__in=ids)}
        roles = caller_roles(request)
        writable = [found[pk] for pk in ids if pk in found and roles.get(found[pk].team_id) in WRITE_ROLES]
        done = {job.pk: (job, outcome) for job, outcome in services.cancel_jobs(actor=self.actor, jobs=writable)}
        results = []
        for pk in ids:
            if pk not in found:
                detail = "No such job in your teams."
                results.append({"id": pk, "outcome": "not_found", "state": None, "detail": detail})
            elif pk not in done:
                job = found[pk]
                role = roles.get(job.team_id)
                detail = f"Your role in team {job.team.slug} ({role}) cannot cancel jobs."
                results.append({"id": pk, "outcome": "forbidden", "state": job.state, "detail": detail})
            else:
                job, outcome = done[pk]
                detail = "Cancelled." if outcome == "cancelled" else f"Already {job.state}: nothing to cancel."
                results.append({"id": pk, "outcome": outcome, "state": job.state, "detail": detail})
        return Response(BulkCancelResultSerializer({"results": results}).data)

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
        attempt = _asked_attempt(job, request.query_params.get("attempt"))
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

    @extend_schema(
        parameters=[
            OpenApiParameter("attempt", OpenApiTypes.INT, description="Attempt number; the latest by default."),
        ],
        responses={(200, "text/plain"): OpenApiTypes.STR},
        summary="The whole stored log of one attempt, as a text file",
        description=(
            "Streams every character Paddock has stored of the attempt's log (what the cluster had printed "
            "when it was last copied; the `logs` endpoint reads the same text in windows). Empty when the "
            "job has no attempt yet."
        ),
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="logs/download",
        url_name="logs-download",
        renderer_classes=[PlainTextRenderer, JSONRenderer],
    )
    def logs_download(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        job = self.get_object()
        attempt = _asked_attempt(job, request.query_params.get("attempt"))
        pieces = (
            AttemptLogChunk.objects.filter(attempt_id=attempt.pk).order_by("start").values_list("text", flat=True)
            if attempt is not None
            else AttemptLogChunk.objects.none().values_list("text", flat=True)
        )
        name = f"job-{job.pk}" + (f"-attempt-{attempt.number}" if attempt is not None else "") + ".log"
        response = StreamingHttpResponse(
            (text.encode() for text in pieces.iterator(chunk_size=64)), content_type="text/plain; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response

    @extend_schema(responses={200: JobEventSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=StreamCursorPagination)
    def events(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        queryset = JobEvent.objects.filter(job=job).select_related("actor", "attempt").order_by("-id")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(JobEventSerializer(page, many=True).data)


class NodeAttemptViewSet(mixins.ListModelMixin, TeamScopedViewSet):
    """The attempts placed on one node: those on it now first, then the finished ones, the latest
    first. Only jobs of the caller's teams, as on the jobs list; the node must be one the caller
    sees in the inventory (404 otherwise)."""

    team_field = "job__team"
    queryset = (
        Attempt.objects.select_related("job__team", "job__cluster")
        .defer("job__entrypoint", "job__runtime_env", "job__plan")
        .annotate(
            finished_first=Case(When(state__in=ATTEMPT_ACTIVE_STATES, then=Value(0)), default=Value(1)),
            ended=Coalesce("finished_at", "created_at"),
        )
        .order_by("finished_first", "-ended", "-job_id", "-number")
    )
    serializer_class = NodeAttemptSerializer
    filterset_class = NodeAttemptFilter
    filter_backends = [DjangoFilterBackend]
    pagination_class = KeysFirstPagination

    def get_queryset(self) -> QuerySet[Any]:
        return super().get_queryset().filter(on_node(self.node_id))

    @cached_property
    def node_id(self) -> int:
        node_id = int(self.kwargs["node_id"])
        visible = Node.objects.filter(pk=node_id, cluster__organisation__in=caller_organisation_ids(self.request))
        if not visible.exists():
            raise NotFound("No such node, or it belongs to an organisation you are not in.")
        return node_id

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "node_id": self.node_id}

    @extend_schema(
        operation_id="nodes_jobs_list",
        summary="Jobs on a node now and recently (the caller's teams' attempts placed on it)",
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.node_id  # noqa: B018  (404 before anything else for a node the caller cannot see)
        return super().list(request, *args, **kwargs)


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


def _asked_attempt(job: Job, number: str | None) -> Attempt | None:
    """The attempt ``?attempt=N`` names (a 400 when the job has none such), else the latest (None
    when the job has no attempt yet)."""
    attempts = Attempt.objects.filter(job=job)
    if number is None:
        return attempts.order_by("-number").first()
    attempt = attempts.filter(number=_non_negative_int(number, "attempt", default=0)).first()
    if attempt is None:
        raise ValidationError({"attempt": [f"Job {job.pk} has no attempt {number}."]})
    return attempt


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


class JobPackageView(APIView):
    """A code package the calling job names, for its pod to fetch (a Kubernetes job's init
    container): a job token only, and only that job's own packages (404 for any other)."""

    job_endpoint = True
    authentication_classes = [JobTokenAuthentication]
    throttle_classes: list[Any] = []

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY, 404: None})
    def get(self, request: Request, sha256: str) -> HttpResponse:
        credentials = request.auth
        assert isinstance(credentials, JobCredentials)
        content = services.job_package_content(credentials.attempt.job, sha256)
        if content is None:
            raise NotFound("This job names no such package.")
        response = HttpResponse(content, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{sha256}.zip"'
        return response
