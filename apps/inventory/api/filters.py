from __future__ import annotations

import django_filters
from django.db.models import Case, CharField, F, Q, QuerySet, Value, When
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from apps.core.api.fields import IdFilter
from apps.inventory.choices import (
    AcceleratorHealth,
    ClusterKind,
    ClusterState,
    FabricKind,
    NodeSource,
    NodeState,
    StorageKind,
    StoragePurpose,
    Vendor,
)
from apps.inventory.models import Accelerator, AcceleratorModel, Cluster, NetworkFabric, Node, StorageBackend
from apps.inventory.querysets import IDLE_ACCELERATOR, stale_before, stale_nodes_q


class AcceleratorState:
    """What a GPU is doing, derived from its health and its last readings (not stored)."""

    FREE = "free"
    BUSY = "busy"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"
    choices = [
        (FREE, "Free: healthy and idle"),
        (BUSY, "Busy: a reading shows it in use"),
        (UNHEALTHY, "Unhealthy: degraded or failed"),
        (UNKNOWN, "Unknown: no reading says (e.g. Ray reports no memory or utilisation)"),
    ]


UNHEALTHY = [AcceleratorHealth.DEGRADED, AcceleratorHealth.FAILED]
# In use by its last readings: the complement of IDLE_ACCELERATOR's load thresholds.
IN_USE_ACCELERATOR = Q(utilisation_percent__gte=5) | Q(
    GreaterThanOrEqual(F("memory_used_mib") * 20, F("memory_total_mib"))
)


def accelerator_state() -> Case:
    """The SQL expression of :class:`AcceleratorState` for an Accelerator queryset; "free" is
    the inventory's one definition of an idle GPU (the one ``Node.objects.with_free_gpus`` counts)."""
    return Case(
        When(health__in=UNHEALTHY, then=Value(AcceleratorState.UNHEALTHY)),
        When(IDLE_ACCELERATOR, then=Value(AcceleratorState.FREE)),
        When(IN_USE_ACCELERATOR, then=Value(AcceleratorState.BUSY)),
        default=Value(AcceleratorState.UNKNOWN),
        output_field=CharField(),
    )


class ClusterFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=ClusterKind.choices)
    state = django_filters.ChoiceFilter(choices=ClusterState.choices)
    team = django_filters.CharFilter(
        method="filter_team", help_text="Only clusters this team may submit to (the slug of one of the caller's teams)"
    )

    class Meta:
        model = Cluster
        fields = ["kind", "state", "team"]

    def filter_team(self, queryset: QuerySet[Cluster], name: str, value: str) -> QuerySet[Cluster]:
        from apps.tenancy.models import Team
        from apps.tenancy.scoping import caller_roles

        team = Team.objects.filter(slug=value, pk__in=list(caller_roles(self.request))).first()
        return queryset.none() if team is None else queryset.usable_by_team(team)  # type: ignore[attr-defined]


class NodeFilter(django_filters.FilterSet):
    cluster = django_filters.CharFilter(field_name="cluster__name", help_text="Cluster name")
    # distinct=False: a single-valued field needs no DISTINCT.
    state = django_filters.MultipleChoiceFilter(
        choices=NodeState.choices, distinct=False, help_text="Repeat for several states"
    )
    source = django_filters.ChoiceFilter(choices=NodeSource.choices)
    hostname = django_filters.CharFilter(field_name="hostname", lookup_expr="icontains")
    stale = django_filters.BooleanFilter(
        method="filter_stale", help_text="true: nodes whose agent or discovery stopped reporting; false: the others"
    )

    class Meta:
        model = Node
        fields = ["cluster", "state", "source", "hostname", "stale"]

    def filter_stale(self, queryset: QuerySet[Node], name: str, value: bool | None) -> QuerySet[Node]:
        if value is None:
            return queryset
        q = stale_nodes_q(stale_before(timezone.now()))
        return queryset.filter(q) if value else queryset.exclude(q)


class AcceleratorFilter(django_filters.FilterSet):
    cluster = django_filters.CharFilter(field_name="node__cluster__name", help_text="Cluster name")
    node = IdFilter(field_name="node_id", help_text="Node id")
    hostname = django_filters.CharFilter(field_name="node__hostname", help_text="Node hostname (exact)")
    model = django_filters.CharFilter(
        field_name="model__name", lookup_expr="iexact", help_text="Catalog model name, e.g. H100 SXM"
    )
    unrecognised = django_filters.BooleanFilter(
        field_name="model", lookup_expr="isnull", help_text="Matched to no catalog model"
    )
    # ``state`` is annotated by the view (free, busy, unhealthy).
    state = django_filters.MultipleChoiceFilter(
        choices=AcceleratorState.choices, distinct=False, help_text="Repeat for several states"
    )
    health = django_filters.MultipleChoiceFilter(choices=AcceleratorHealth.choices, distinct=False)

    class Meta:
        model = Accelerator
        fields = ["cluster", "node", "hostname", "model", "unrecognised", "state", "health"]


class AcceleratorModelFilter(django_filters.FilterSet):
    vendor = django_filters.ChoiceFilter(choices=Vendor.choices)
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = AcceleratorModel
        fields = ["vendor", "name", "supports_fp8"]


class NetworkFabricFilter(django_filters.FilterSet):
    organisation = django_filters.CharFilter(field_name="organisation__slug", help_text="Organisation slug")
    kind = django_filters.ChoiceFilter(choices=FabricKind.choices)
    node = IdFilter(field_name="nodes", help_text="Fabrics that reach this node id")
    cluster = django_filters.CharFilter(
        field_name="nodes__cluster__name", distinct=True, help_text="Fabrics that reach a node of this cluster"
    )

    class Meta:
        model = NetworkFabric
        fields = ["organisation", "kind", "rdma", "node", "cluster"]


class StorageBackendFilter(django_filters.FilterSet):
    organisation = django_filters.CharFilter(field_name="organisation__slug", help_text="Organisation slug")
    kind = django_filters.MultipleChoiceFilter(choices=StorageKind.choices, distinct=False)
    purpose = django_filters.MultipleChoiceFilter(choices=StoragePurpose.choices, distinct=False)

    class Meta:
        model = StorageBackend
        fields = ["organisation", "kind", "purpose"]
