from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

import requests
from django.db.models import QuerySet, Sum
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, renderers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.viewsets import TeamScopedViewSet
from apps.core.errors import Conflict
from apps.inventory.choices import ClusterKind
from apps.jobs.api.serializers import RuntimeEnvSerializer
from apps.jobs.api.submission import prepare_submission
from apps.serving import services
from apps.serving.api.filters import EndpointFilter
from apps.serving.api.serializers import (
    CreatedEndpointSerializer,
    EndpointCreateSerializer,
    EndpointSerializer,
    EndpointUpdateSerializer,
    EventSerializer,
    MetricsSerializer,
    NewTokenSerializer,
    RevisionCreateSerializer,
    RevisionSerializer,
    TokenCreateSerializer,
    TokenSerializer,
    TrySerializer,
    VllmConfigRequestSerializer,
    VllmEndpointConfigSerializer,
    endpoint_context,
)
from apps.serving.choices import EndpointState
from apps.serving.models import Endpoint, Revision
from apps.tenancy.choices import WRITE_ROLES
from apps.tenancy.scoping import caller_roles

TRY_TIMEOUT = (3.0, 120.0)


class EventStreamRenderer(renderers.BaseRenderer):
    """Lets a client ask for ``text/event-stream`` (the relay streams it); an error before the
    stream starts is still JSON."""

    media_type = "text/event-stream"
    format = "event-stream"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return json.dumps(data).encode() if data is not None else b""


class EndpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Serving endpoints: create, scale, roll out, stop, delete; their revisions, figures,
    events and tokens."""

    queryset = (
        Endpoint.objects.filter(deleted_at__isnull=True)
        .select_related("team", "cluster", "job", "created_by", "priority_class")
        .prefetch_related("revisions__model_version__model")
        .order_by("-created_at", "-id")
    )
    serializer_class = EndpointSerializer
    filterset_class = EndpointFilter
    ordering_fields = ["created_at", "name", "state"]
    read_scope_may_post = False  # True only on the route of vllm-config (see that action)

    # -- reading -----------------------------------------------------------------------
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = list(page if page is not None else queryset)
        data = EndpointSerializer(rows, many=True, context=endpoint_context(rows)).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self._payload(self.get_object()))

    def _payload(
        self, endpoint: Endpoint, serializer: type[EndpointSerializer] = EndpointSerializer, **extra: Any
    ) -> Any:
        fresh = self.get_queryset().filter(pk=endpoint.pk).first() or endpoint
        for name, value in extra.items():
            setattr(fresh, name, value)
        return serializer(fresh, context=endpoint_context([fresh])).data

    def _writable(self) -> Endpoint:
        endpoint = self.get_object()
        self.require_role(endpoint.team_id, WRITE_ROLES, "change endpoints")
        return endpoint

    # -- create, change, stop, delete --------------------------------------------------
    @extend_schema(request=EndpointCreateSerializer, responses={201: CreatedEndpointSerializer})
    def create(self, request: Request) -> Response:
        serializer = EndpointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        runtime_env = _runtime_env(data.get("runtime_env") or {})
        job_request = _prepare(
            {
                "team": data["team"],
                "cluster": data.get("cluster"),
                "runtime_env": runtime_env,
                "resources": {
                    "cpus": data["cpus"],
                    "gpus": data["gpus"],
                    "accelerator_model": data["accelerator_model"],
                    "memory_gb": data["memory_gb"],
                },
                "priority": 0,
                "priority_class": data.get("priority_class") or "",
                "name": data["name"],
                "kind": "deployment",
                "entrypoint": "",
                "max_retries": 0,
            },
            roles=caller_roles(request),
        )
        kubernetes = job_request.cluster.kind == ClusterKind.KUBERNETES
        if data["runtime"] == "vllm" and not kubernetes:
            raise ValidationError(
                {
                    "runtime": [
                        f"Cluster {job_request.cluster.name} is a Ray cluster: Paddock serves there with Ray Serve "
                        "(runtime ray-serve). vLLM runs on Kubernetes clusters; POST /api/v1/endpoints/vllm-config/ "
                        "gives the engine arguments the planner derives for your model and GPUs."
                    ]
                }
            )
        if kubernetes and data["runtime"] != "vllm":
            raise ValidationError(
                {
                    "runtime": [
                        f"Cluster {job_request.cluster.name} is a Kubernetes cluster: Paddock serves there with vLLM "
                        "(runtime vllm, its arguments from the capacity planner); Ray Serve needs a Ray cluster."
                    ]
                }
            )
        source = _source(job_request.team, data)
        config = data.get("config") or {}
        if data["runtime"] == "vllm":
            config = _vllm_config(config, source, gpus=data["gpus"], accelerator=job_request.accelerator_model)
        request_row = services.EndpointRequest(
            team=job_request.team,
            name=data["name"],
            cluster=job_request.cluster,
            source=source,
            runtime=data["runtime"],
            cpus=data["cpus"],
            gpus=data["gpus"],
            accelerator_model=job_request.accelerator_model,
            memory_gb=data["memory_gb"],
            min_replicas=data["min_replicas"],
            max_replicas=data["max_replicas"],
            target_ongoing_requests=data["target_ongoing_requests"],
            scale_to_zero=data["scale_to_zero"],
            priority_class=job_request.priority_class,
            runtime_env=runtime_env,
            config=config,
        )
        try:
            endpoint, token, secret = services.create_endpoint(actor=self.actor, request=request_row)
        except services.SourceError as exc:
            raise ValidationError(exc.errors) from exc
        token.token = secret  # type: ignore[attr-defined]
        return Response(self._payload(endpoint, CreatedEndpointSerializer, token=token), status=status.HTTP_201_CREATED)

    @extend_schema(request=EndpointUpdateSerializer, responses={200: EndpointSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        endpoint = self._writable()
        serializer = EndpointUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.update_endpoint(actor=self.actor, endpoint=endpoint, changes=dict(serializer.validated_data))
        except services.SourceError as exc:
            raise ValidationError(exc.errors) from exc
        return Response(self._payload(endpoint))

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.delete_endpoint(actor=self.actor, endpoint=self._writable())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: EndpointSerializer})
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        endpoint = services.stop_endpoint(actor=self.actor, endpoint=self._writable())
        return Response(self._payload(endpoint))

    @extend_schema(request=None, responses={200: EndpointSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        endpoint = services.start_endpoint(actor=self.actor, endpoint=self._writable())
        return Response(self._payload(endpoint))

    # -- revisions -----------------------------------------------------------------------
    @extend_schema(
        methods=["GET"], responses={200: RevisionSerializer(many=True)}, operation_id="endpoints_revisions_list"
    )
    @extend_schema(
        methods=["POST"],
        request=RevisionCreateSerializer,
        responses={201: RevisionSerializer},
        operation_id="endpoints_revisions_create",
    )
    @action(detail=True, methods=["get", "post"])
    def revisions(self, request: Request, pk: str | None = None) -> Response:
        if request.method == "GET":
            endpoint = self.get_object()
            rows = endpoint.revisions.select_related("model_version__model", "created_by").order_by("-number")
            return self._page(rows, RevisionSerializer)
        endpoint = self._writable()
        serializer = RevisionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        source = _source(endpoint.team, data)
        config = data.get("config") or {}
        if endpoint.runtime == "vllm":
            config = _vllm_config(config, source, gpus=endpoint.gpus, accelerator=endpoint.accelerator_model)
        revision = services.create_revision(
            actor=self.actor,
            endpoint=endpoint,
            source=source,
            config=config,
            percent=data["traffic_percent"],
        )
        return Response(RevisionSerializer(revision).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: RevisionSerializer})
    @action(detail=True, methods=["post"], url_path=r"revisions/(?P<revision_id>[0-9]+)/promote")
    def promote(self, request: Request, pk: str | None = None, revision_id: str = "") -> Response:
        endpoint = self._writable()
        revision = Revision.objects.filter(endpoint=endpoint, pk=int(revision_id)).first()
        if revision is None:
            raise NotFound("No such revision of this endpoint.")
        revision = services.promote_revision(actor=self.actor, revision=revision)
        return Response(RevisionSerializer(revision).data)

    @extend_schema(request=None, responses={200: EndpointSerializer})
    @action(detail=True, methods=["post"])
    def rollback(self, request: Request, pk: str | None = None) -> Response:
        endpoint = self._writable()
        services.rollback(actor=self.actor, endpoint=endpoint)
        return Response(self._payload(endpoint))

    # -- figures and events ----------------------------------------------------------------
    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="ISO 8601 (default: an hour ago)"),
            OpenApiParameter("to", str, description="ISO 8601 (default: now)"),
        ],
        responses={200: MetricsSerializer},
    )
    @action(detail=True, methods=["get"])
    def metrics(self, request: Request, pk: str | None = None) -> Response:
        endpoint = self.get_object()
        end = _when(request.query_params.get("to"), "to") or timezone.now()
        start = _when(request.query_params.get("from"), "from") or end - timedelta(hours=1)
        if start > end:
            raise ValidationError({"from": ["Must be before to."]})
        totals = endpoint.samples.aggregate(
            requests=Sum("requests"), errors=Sum("errors"), tokens=Sum("completion_tokens")
        )
        points = services.metric_points(endpoint, start=start, end=end)
        return Response({"points": points, "totals": {name: int(value or 0) for name, value in totals.items()}})

    @extend_schema(responses={200: EventSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def events(self, request: Request, pk: str | None = None) -> Response:
        endpoint = self.get_object()
        return self._page(endpoint.events.select_related("actor").order_by("-created_at", "-id"), EventSerializer)

    # -- tokens ----------------------------------------------------------------------------
    @extend_schema(methods=["GET"], responses={200: TokenSerializer(many=True)}, operation_id="endpoints_tokens_list")
    @extend_schema(
        methods=["POST"],
        request=TokenCreateSerializer,
        responses={201: NewTokenSerializer},
        operation_id="endpoints_tokens_create",
    )
    @action(detail=True, methods=["get", "post"])
    def tokens(self, request: Request, pk: str | None = None) -> Response:
        if request.method == "GET":
            endpoint = self.get_object()
            return self._page(
                endpoint.tokens.select_related("created_by").order_by("-created_at", "-id"), TokenSerializer
            )
        endpoint = self._writable()
        services._live(endpoint)
        serializer = TokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row, secret = services.create_token(actor=self.actor, endpoint=endpoint, name=serializer.validated_data["name"])
        row.token = secret  # type: ignore[attr-defined]
        return Response(NewTokenSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: TokenSerializer})
    @action(detail=True, methods=["post"], url_path=r"tokens/(?P<token_id>[0-9]+)/revoke")
    def revoke(self, request: Request, pk: str | None = None, token_id: str = "") -> Response:
        endpoint = self._writable()
        token = endpoint.tokens.filter(pk=int(token_id)).first()
        if token is None:
            raise NotFound("No such token of this endpoint.")
        return Response(TokenSerializer(services.revoke_token(actor=self.actor, token=token)).data)

    # -- try it ----------------------------------------------------------------------------
    @extend_schema(
        request=TrySerializer,
        responses={200: OpenApiResponse(description="text/event-stream: the endpoint's stream, relayed")},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="try",
        renderer_classes=[renderers.JSONRenderer, EventStreamRenderer],
    )
    def try_it(self, request: Request, pk: str | None = None) -> Any:
        endpoint = self._writable()
        serializer = TrySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if endpoint.state not in (EndpointState.READY, EndpointState.DEGRADED) or not endpoint.url:
            raise Conflict(f"Endpoint {endpoint} is {endpoint.state}; it answers once it is ready.")
        chat = bool(data.get("messages"))
        body: dict[str, Any] = {
            "model": endpoint.name,
            "max_tokens": data["max_tokens"],
            "temperature": data["temperature"],
            "stream": True,
        }
        if chat:
            body["messages"] = data["messages"]
        else:
            body["prompt"] = data.get("prompt", "")
        url = f"{endpoint.openai_base_url}/{'chat/completions' if chat else 'completions'}"
        try:
            upstream = requests.post(
                url,
                json=body,
                headers={"Authorization": f"Bearer {services.observer_token(endpoint.pk)}"},
                stream=True,
                timeout=TRY_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise Conflict(f"Endpoint {endpoint} did not answer: {type(exc).__name__}") from exc
        if upstream.status_code != 200:
            text = upstream.text[:500]
            upstream.close()
            raise Conflict(f"Endpoint {endpoint} answered {upstream.status_code}: {text}")

        def relay() -> Iterator[bytes]:
            try:
                yield from upstream.iter_content(chunk_size=None)
            except requests.RequestException:
                yield b'data: {"error": {"message": "the endpoint stopped answering"}}\n\n'
            finally:
                upstream.close()

        response = StreamingHttpResponse(relay(), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response

    # -- the vLLM runtime ----------------------------------------------------------------------
    @extend_schema(
        request=VllmConfigRequestSerializer,
        responses={200: OpenApiResponse(description="engine_args, command and the planner's derivation")},
    )
    @action(detail=False, methods=["post"], url_path="vllm-config", read_scope_may_post=True)  # computes only
    def vllm_config(self, request: Request) -> Response:
        """vLLM's engine arguments for a model on a GPU, from the capacity planner (nothing saved)."""
        from apps.planner.estimator.spec import SpecError, parse_model
        from apps.planner.services import load_catalog
        from apps.serving.vllm import vllm_config

        serializer = VllmConfigRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        accelerator = load_catalog().find(data["accelerator"])
        if accelerator is None:
            raise ValidationError({"accelerator": [f"Unknown accelerator {data['accelerator']!r}."]})
        try:
            model = parse_model(data["model"])
            config = vllm_config(
                model,
                data.get("model_id") or model.name or "MODEL",
                accelerator,
                precision=data["precision"],
                kv_cache_dtype=data["kv_cache_dtype"],
                tensor_parallel_size=data.get("gpus"),
                max_model_len=data.get("max_model_len"),
                max_position_embeddings=data.get("max_position_embeddings"),
                gpu_memory_utilization=data["gpu_memory_utilization"],
                tokens_per_sequence=data["tokens_per_sequence"],
            )
        except SpecError as exc:
            raise ValidationError(exc.errors) from exc
        return Response(config.as_dict())

    # -- helpers ---------------------------------------------------------------------------
    def _page(self, rows: QuerySet[Any], serializer: Any) -> Response:
        page = self.paginate_queryset(rows)
        if page is None:
            return Response(serializer(rows, many=True).data)
        return self.get_paginated_response(serializer(page, many=True).data)


def _prepare(data: dict[str, Any], *, roles: dict[int, str]) -> Any:
    """A replica's job request, as a job's submission checks it; an endpoint names its resources
    at the top level, so the errors a job gets under ``resources`` come back there."""
    try:
        return prepare_submission(data, roles=roles)
    except ValidationError as exc:
        detail = exc.detail
        resources = detail.get("resources") if isinstance(detail, dict) else None
        if isinstance(detail, dict) and isinstance(resources, dict):
            lifted: dict[str, Any] = {key: value for key, value in detail.items() if key != "resources"}
            lifted.update(resources)
            raise ValidationError(lifted) from exc
        raise


def _runtime_env(value: dict[str, Any]) -> dict[str, Any]:
    serializer = RuntimeEnvSerializer(data=value)
    if not serializer.is_valid():
        raise ValidationError({"runtime_env": serializer.errors})
    return dict(serializer.validated_data)


def _source(team: Any, data: dict[str, Any]) -> services.Source:
    try:
        return services.resolve_source(
            team,
            model_version=data.get("model_version"),
            model_uri=data.get("model_uri") or "",
            entry_point=data.get("entry_point") or "",
        )
    except services.SourceError as exc:
        raise ValidationError(exc.errors) from exc


def _vllm_config(config: dict[str, Any], source: services.Source, *, gpus: float, accelerator: str) -> dict[str, Any]:
    """A vLLM revision's config: the planner's inputs as given, and what the planner derives
    from them for the endpoint's GPUs per replica and accelerator (under ``vllm``). A model
    that does not fit, or inputs the planner refuses, are a 400 with the planner's reason."""
    from apps.planner.estimator.spec import SpecError
    from apps.planner.services import load_catalog
    from apps.serving import vllm_runtime

    errors: dict[str, Any] = {}
    unknown = sorted(set(config) - set(vllm_runtime.INPUTS) - {vllm_runtime.DERIVED})
    if unknown:
        errors["config"] = [f"Unknown vLLM settings: {', '.join(unknown)} (known: {', '.join(vllm_runtime.INPUTS)})."]
    inputs = VllmEndpointConfigSerializer(data={k: v for k, v in config.items() if k != vllm_runtime.DERIVED})
    if not inputs.is_valid():
        errors["config"] = {**inputs.errors, **({"unknown": errors["config"]} if "config" in errors else {})}
    if gpus < 1 or gpus != int(gpus):
        errors["gpus"] = ["vLLM runs on whole GPUs: give the GPUs per replica (its tensor parallel size)."]
    spec = load_catalog().find(accelerator) if accelerator else None
    if spec is None:
        errors["accelerator_model"] = [
            f"Unknown accelerator {accelerator!r}."
            if accelerator
            else "Name the accelerator, so the planner can size vLLM."
        ]
    if source.base_uri:
        errors["model_version"] = ["vLLM serves a whole model here: merge the LoRA adapter into its base first."]
    if errors:
        raise ValidationError(errors)
    values = dict(inputs.validated_data)
    try:
        derived = vllm_runtime.derive(
            values, accelerator=spec, gpus=gpus, model_path=source.uri.removeprefix("file://")
        )
    except SpecError as exc:
        raise ValidationError(_planner_errors(exc.errors)) from exc
    return {**values, vllm_runtime.DERIVED: derived}


def _planner_errors(errors: dict[str, Any]) -> dict[str, Any]:
    """The planner's refusal keyed by this API's fields (its tensor parallel size is ``gpus``)."""
    mapped: dict[str, Any] = {}
    for key, value in errors.items():
        if key == "tensor_parallel_size":
            mapped["gpus"] = value
        elif key in ("non_field_errors", "model_id"):
            mapped.setdefault("config", {}).setdefault("non_field_errors", []).extend(
                value if isinstance(value, list) else [value]
            )
        else:
            mapped.setdefault("config", {})[key] = value
    return mapped


def _when(text: str | None, name: str) -> Any:
    if not text:
        return None
    value = parse_datetime(text)
    if value is None:
        raise ValidationError({name: ["An ISO 8601 date and time, e.g. 2026-12-06T10:00:00Z."]})
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value
