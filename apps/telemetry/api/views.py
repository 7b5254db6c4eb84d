"""Telemetry's API: a job's GPU series, the idle GPUs operators chase, nodes' network traffic."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.fields import IdFilter
from apps.core.api.viewsets import TeamScopedViewSet
from apps.jobs.models import Job
from apps.telemetry import services
from apps.telemetry.api.serializers import (
    GpuSeriesQuerySerializer,
    GpuSeriesSerializer,
    IdleGpuSerializer,
    NodeNetworkSerializer,
)
from apps.telemetry.models import GpuHolding, NodeNetwork
from apps.tenancy.scoping import administered_organisation_ids, caller_organisation_ids


class JobGpuSeriesViewSet(TeamScopedViewSet):
    """``GET /api/v1/jobs/<id>/gpu-series/``: the job's GPUs over time (its team's callers)."""

    queryset = Job.objects.only("pk", "team_id").order_by("pk")
    serializer_class = GpuSeriesSerializer

    @extend_schema(parameters=[GpuSeriesQuerySerializer], responses=GpuSeriesSerializer, summary="A job's GPU series")
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        query = GpuSeriesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        job = self.get_object()
        series = services.gpu_series(job, resolution=query.validated_data.get("resolution"))
        return Response(GpuSeriesSerializer(series).data)


class IdleGpuFilter(filters.FilterSet):
    cluster = IdFilter(field_name="node__cluster_id")
    team = IdFilter(field_name="job__team_id")

    class Meta:
        model = GpuHolding
        fields = ["cluster", "team"]


class IdleGpuViewSet(mixins.ListModelMixin, TeamScopedViewSet):
    """GPUs held by active jobs and idle (under PADDOCK_IDLE_GPU_PERCENT for
    PADDOCK_IDLE_GPU_MINUTES), longest idle first. Operators (organisation admins) see every
    team's on their organisations' clusters; everyone else, their own teams'."""

    queryset = GpuHolding.objects.select_related("job__team", "attempt", "node__cluster").order_by("low_since", "id")
    serializer_class = IdleGpuSerializer
    filterset_class = IdleGpuFilter

    def get_queryset(self) -> QuerySet[Any]:
        idle = services.idle_holdings(timezone.now()).values("pk")
        return super().get_queryset().filter(pk__in=idle)

    def scope_queryset(self, queryset: QuerySet[Any], team_ids: list[int]) -> QuerySet[Any]:
        operated = administered_organisation_ids(self.request)
        return queryset.filter(Q(job__team_id__in=team_ids) | Q(node__cluster__organisation_id__in=list(operated)))


class NodeNetworkFilter(filters.FilterSet):
    cluster = IdFilter(field_name="node__cluster_id")

    class Meta:
        model = NodeNetwork
        fields = ["cluster", "node", "kind"]


class NodeNetworkViewSet(mixins.ListModelMixin, TeamScopedViewSet):
    """Each node's interfaces and their latest traffic (bytes/s), as its host agent reported it;
    visible to the teams of the cluster's organisation, like the nodes."""

    queryset = NodeNetwork.objects.select_related("node").order_by("node__hostname", "kind", "interface", "id")
    serializer_class = NodeNetworkSerializer
    filterset_class = NodeNetworkFilter

    def scope_queryset(self, queryset: QuerySet[Any], team_ids: list[int]) -> QuerySet[Any]:
        return queryset.filter(node__cluster__organisation_id__in=caller_organisation_ids(self.request))
