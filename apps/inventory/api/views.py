from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from django.db import transaction
from django.db.models import Count, F, Prefetch, ProtectedError, Q, QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core import audit
from apps.core.api.fields import INT64_MAX
from apps.core.api.viewsets import TeamScopedViewSet
from apps.core.errors import Conflict, DependencyUnavailable
from apps.inventory import discovery, services
from apps.inventory.api.filters import (
    IN_USE_ACCELERATOR,
    UNHEALTHY,
    AcceleratorFilter,
    AcceleratorModelFilter,
    ClusterFilter,
    NetworkFabricFilter,
    NodeFilter,
    StorageBackendFilter,
    accelerator_state,
    stale_before,
)
from apps.inventory.api.serializers import (
    AcceleratorModelSerializer,
    AcceleratorSerializer,
    AcceleratorSummarySerializer,
    ClusterSerializer,
    ClusterWriteSerializer,
    NetworkFabricSerializer,
    NodeSerializer,
    StorageBackendSerializer,
)
from apps.inventory.choices import ClusterState
from apps.inventory.models import (
    Accelerator,
    AcceleratorModel,
    Cluster,
    InterconnectDomain,
    NetworkFabric,
    Node,
    StorageBackend,
)
from apps.inventory.querysets import IDLE_ACCELERATOR
from apps.tenancy.models import Organisation, Team
from apps.tenancy.scoping import administers_organisation, caller_organisation_ids, caller_roles


class ClusterViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Clusters of the caller's organisations, and clusters of other organisations that list
    one of the caller's teams; each says which of the caller's teams may submit to it.
    Organisation admins register and change them (credentials write-only)."""

    http_method_names = ["get", "post", "patch", "head", "options"]

    queryset = (
        Cluster.objects.select_related("organisation")
        .prefetch_related(Prefetch("allowed_teams", queryset=Team.objects.only("id").order_by()))
        .order_by("name")
    )
    serializer_class = ClusterSerializer
    filterset_class = ClusterFilter
    lookup_field = "name"

    def scope_queryset(self, queryset: QuerySet[Any], team_ids: list[int]) -> QuerySet[Any]:
        listing_a_team = Cluster.allowed_teams.through.objects.filter(team_id__in=team_ids).values("cluster_id")
        return queryset.filter(Q(organisation_id__in=caller_organisation_ids(self.request)) | Q(pk__in=listing_a_team))

    def get_serializer_context(self) -> dict[str, Any]:
        teams = Team.objects.filter(pk__in=list(caller_roles(self.request))).order_by("slug")
        organisations = Organisation.objects.filter(pk__in=caller_organisation_ids(self.request)).order_by("slug")
        return {
            **super().get_serializer_context(),
            "caller_teams": list(teams.values("id", "slug", "organisation_id")),
            "organisations": organisations,
        }

    @extend_schema(
        request=ClusterWriteSerializer,
        responses={201: ClusterSerializer, 400: OpenApiResponse(description="Field errors (a refused kubeconfig)")},
        summary="Register a cluster (organisation admins); a Kubernetes one with its kubeconfig",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not administers_organisation(request, None):  # before validation: field errors are for admins
            raise PermissionDenied("Only an organisation admin can register clusters.")
        writer = ClusterWriteSerializer(data=request.data, context=self.get_serializer_context())
        writer.is_valid(raise_exception=True)
        data = writer.validated_data
        if not administers_organisation(request, data["organisation"].pk):
            raise PermissionDenied("Only an admin of the organisation can register its clusters.")
        cluster = services.save_cluster(
            actor=self.actor,
            organisation=data["organisation"],
            name=data["name"],
            kind=data["kind"],
            address=data.get("address", ""),
            kubeconfig=data.get("kubeconfig"),
            auth_token=data.get("auth_token"),
            trusted_network=data.get("trusted_network", False),
            kubernetes=data.get("kubernetes"),
        )
        return Response(self._read(cluster.pk), status=201)

    @extend_schema(
        request=ClusterWriteSerializer,
        responses={200: ClusterSerializer, 400: OpenApiResponse(description="Field errors (a refused kubeconfig)")},
        summary="Change a cluster (its organisation's admins); absent fields and credentials are kept",
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        cluster = self.get_object()
        if not administers_organisation(request, cluster.organisation_id):
            raise PermissionDenied("Only an admin of this cluster's organisation can change it.")
        writer = ClusterWriteSerializer(cluster, data=request.data, partial=True, context=self.get_serializer_context())
        writer.is_valid(raise_exception=True)
        data = writer.validated_data
        services.save_cluster(
            actor=self.actor,
            cluster=cluster,
            organisation=cluster.organisation,
            name=cluster.name,
            kind=data.get("kind", cluster.kind),
            address=data.get("address", ""),
            kubeconfig=data.get("kubeconfig"),
            auth_token=data.get("auth_token"),
            trusted_network=data.get("trusted_network"),
            kubernetes=data.get("kubernetes"),
        )
        return Response(self._read(cluster.pk))

    def _read(self, pk: int) -> Any:
        return ClusterSerializer(self.get_queryset().get(pk=pk), context=self.get_serializer_context()).data

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "ClusterDiscovery",
                {
                    "cluster": serializers.CharField(),
                    "state": serializers.CharField(),
                    "nodes_created": serializers.IntegerField(),
                    "nodes_updated": serializers.IntegerField(),
                    "nodes_marked_down": serializers.IntegerField(),
                    "accelerators_created": serializers.IntegerField(),
                    "accelerators_updated": serializers.IntegerField(),
                    "accelerators_removed": serializers.IntegerField(),
                    "interconnect_domains_written": serializers.IntegerField(),
                },
            ),
            409: OpenApiResponse(description="This kind of cluster has no node discovery"),
            503: OpenApiResponse(description="The cluster did not answer (recorded as unreachable)"),
        },
        summary="Discover the cluster's nodes and GPUs now (org admins)",
    )
    @action(detail=True, methods=["post"])
    def discover(self, request: Request, name: str | None = None) -> Response:
        cluster = self.get_object()
        if not administers_organisation(request, cluster.organisation_id):
            raise PermissionDenied("Only an admin of this cluster's organisation can run discovery.")
        result = discovery.discover_cluster(cluster, actor=self.actor)
        if cluster.state == ClusterState.UNREACHABLE:
            raise DependencyUnavailable(
                f"Cluster {cluster.name} did not answer: {cluster.state_message}", retry_after=30
            )
        return Response({"cluster": cluster.name, "state": cluster.state, **dataclasses.asdict(result)})


# --- the inventory: nodes, accelerators, catalog, fabrics, storage --------------------------
class OrganisationScopedViewSet(TeamScopedViewSet):
    """Objects owned by an organisation: visible to every team of it and to its admins;
    changed only by its admins (organisation admins or staff, never a team admin as such)."""

    organisation_field: ClassVar[str] = "organisation"

    def scope_queryset(self, queryset: QuerySet[Any], team_ids: list[int]) -> QuerySet[Any]:
        return queryset.filter(**{f"{self.organisation_field}__in": caller_organisation_ids(self.request)})

    def caller_organisations(self) -> QuerySet[Organisation]:
        return Organisation.objects.filter(pk__in=caller_organisation_ids(self.request)).order_by("slug")

    def get_serializer_context(self) -> dict[str, Any]:
        return {
            **super().get_serializer_context(),
            "organisations": self.caller_organisations(),
            "stale_before": stale_before(timezone.now()),
        }

    def require_organisation_admin(self, organisation_id: int | None, action: str) -> None:
        """403 unless the caller is an admin of the organisation or staff (None: of any)."""
        if not administers_organisation(self.request, organisation_id):
            raise PermissionDenied(f"Only an admin of the organisation can {action}.")


def _domains_with_members() -> QuerySet[InterconnectDomain]:
    """Interconnect domains with their members' indexes (two queries for a whole page)."""
    members = Accelerator.objects.only("id", "index").order_by()
    return InterconnectDomain.objects.order_by("kind", "id").prefetch_related(
        Prefetch("accelerators", queryset=members)
    )


class NodeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganisationScopedViewSet):
    """Nodes of the clusters of the caller's organisations, with their GPUs free and total."""

    queryset = (
        Node.objects.with_free_gpus()
        .select_related("cluster")
        .prefetch_related(Prefetch("interconnect_domains", queryset=_domains_with_members()))
        .order_by("cluster__name", "hostname")
    )
    serializer_class = NodeSerializer
    filterset_class = NodeFilter
    organisation_field = "cluster__organisation"
    ordering_fields = ["hostname", "state", "last_heartbeat_at", "created_at"]
    ordering = ["cluster__name", "hostname"]


class AcceleratorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganisationScopedViewSet):
    """GPUs of the caller's organisations' nodes: model, utilisation, memory, health, links."""

    queryset = (
        Accelerator.objects.select_related("node__cluster", "model")
        .prefetch_related(Prefetch("interconnect_domains", queryset=_domains_with_members()))
        .annotate(state=accelerator_state())
        .order_by("node__cluster__name", "node__hostname", "index")
    )
    serializer_class = AcceleratorSerializer
    filterset_class = AcceleratorFilter
    organisation_field = "node__cluster__organisation"
    ordering_fields = ["index", "utilisation_percent", "memory_used_mib", "temperature_c", "last_seen_at"]
    ordering = ["node__cluster__name", "node__hostname", "index"]

    @extend_schema(
        parameters=[
            OpenApiParameter("cluster", OpenApiTypes.STR, description="Only this cluster's GPUs (its name)"),
            OpenApiParameter(
                "node",
                {"type": "integer", "minimum": 1, "maximum": INT64_MAX},
                description="Only this node's GPUs (its id)",
            ),
        ],
        responses={200: AcceleratorSummarySerializer},
        summary="GPU counts by catalog model and state (free, busy, unhealthy, unknown)",
    )
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[DjangoFilterBackend])
    def summary(self, request: Request) -> Response:
        # One aggregate query; the list's ordering and prefetches are dropped so that only the
        # model is grouped on.
        rows = list(
            self.filter_queryset(self.get_queryset())
            .prefetch_related(None)
            .order_by()
            .values("model__name")
            .annotate(
                total=Count("pk"),
                free=Count("pk", filter=IDLE_ACCELERATOR),
                unhealthy=Count("pk", filter=Q(health__in=UNHEALTHY)),
                busy=Count("pk", filter=~Q(health__in=UNHEALTHY) & IN_USE_ACCELERATOR),
            )
            .order_by(F("model__name").asc(nulls_last=True))
        )
        by_model = [
            {
                "model": row["model__name"],
                "total": row["total"],
                "free": row["free"],
                "busy": row["busy"],
                "unhealthy": row["unhealthy"],
                "unknown": row["total"] - row["free"] - row["busy"] - row["unhealthy"],
            }
            for row in rows
        ]
        totals = {key: sum(row[key] for row in by_model) for key in ("total", "free", "busy", "unhealthy", "unknown")}
        return Response(AcceleratorSummarySerializer({"models": by_model, **totals}).data)


class AcceleratorModelViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, TeamScopedViewSet
):
    """The accelerator catalog: global, readable by every signed-in user; staff correct it."""

    queryset = AcceleratorModel.objects.order_by("vendor", "name")
    serializer_class = AcceleratorModelSerializer
    filterset_class = AcceleratorModelFilter
    ordering_fields = ["name", "vendor", "memory_gb", "bf16_tflops"]
    ordering = ["vendor", "name"]
    http_method_names = ["get", "patch", "head", "options"]

    def scope_queryset(self, queryset: QuerySet[Any], team_ids: list[int]) -> QuerySet[Any]:
        return queryset  # the catalog describes products, not anyone's hardware

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not self.actor.is_staff:  # before validation: field errors are for those who may write
            raise PermissionDenied("Only staff can change the accelerator catalog.")
        return super().update(request, *args, **kwargs)

    def perform_update(self, serializer: Any) -> None:
        with transaction.atomic():
            model = serializer.save()
            audit.record(
                "inventory.accelerator_model_updated", model, actor=self.actor, fields=sorted(serializer.validated_data)
            )


class OrganisationOwnedViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    OrganisationScopedViewSet,
):
    """Read by every member of the organisation; created, changed and deleted by its admins."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    noun: ClassVar[str] = ""
    audit_prefix: ClassVar[str] = ""

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Before validation: a caller who is an admin nowhere learns nothing from field errors.
        self.require_organisation_admin(None, f"add {self.noun}s")
        return super().create(request, *args, **kwargs)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.require_organisation_admin(self.get_object().organisation_id, f"change {self.noun}s")
        return super().update(request, *args, **kwargs)

    def perform_create(self, serializer: Any) -> None:
        self.require_organisation_admin(serializer.validated_data["organisation"].pk, f"add {self.noun}s")
        with transaction.atomic():
            instance = serializer.save()
            audit.record(f"{self.audit_prefix}_created", instance, actor=self.actor, name=instance.name)

    def perform_update(self, serializer: Any) -> None:
        with transaction.atomic():
            instance = serializer.save()
            audit.record(
                f"{self.audit_prefix}_updated", instance, actor=self.actor, fields=sorted(serializer.validated_data)
            )

    def perform_destroy(self, instance: Any) -> None:
        self.require_organisation_admin(instance.organisation_id, f"delete {self.noun}s")
        try:
            with transaction.atomic():
                audit.record(f"{self.audit_prefix}_deleted", instance, actor=self.actor, name=instance.name)
                instance.delete()
        except ProtectedError:
            raise Conflict(f"The {self.noun} {instance.name} is still in use.") from None


class NetworkFabricViewSet(OrganisationOwnedViewSet):
    """Networks between nodes (InfiniBand, RoCE, Ethernet) of the caller's organisations."""

    queryset = (
        NetworkFabric.objects.select_related("organisation")
        .prefetch_related(Prefetch("nodes", queryset=Node.objects.only("id").order_by("id")))
        .order_by("name", "id")
    )
    serializer_class = NetworkFabricSerializer
    filterset_class = NetworkFabricFilter
    ordering_fields = ["name", "kind", "gbps_per_node", "created_at"]
    ordering = ["name", "id"]
    noun = "network fabric"
    audit_prefix = "inventory.fabric"


class StorageBackendViewSet(OrganisationOwnedViewSet):
    """Storage of the caller's organisations, with capacity, use and measured throughput."""

    queryset = StorageBackend.objects.select_related("organisation").order_by("name", "id")
    serializer_class = StorageBackendSerializer
    filterset_class = StorageBackendFilter
    ordering_fields = ["name", "kind", "purpose", "capacity_bytes", "used_bytes", "created_at"]
    ordering = ["name", "id"]
    noun = "storage backend"
    audit_prefix = "inventory.storage"
