from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import mixins

from apps.core.api.viewsets import TeamScopedViewSet
from apps.inventory.api.serializers import ClusterSerializer
from apps.inventory.models import Cluster
from apps.tenancy.models import Team


class ClusterViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Clusters of the organisations the caller's teams belong to."""

    queryset = Cluster.objects.select_related("organisation").order_by("name")
    serializer_class = ClusterSerializer
    filterset_fields = ["kind", "state"]
    lookup_field = "name"

    def scope_queryset(self, queryset: QuerySet[Any], team_ids: list[int]) -> QuerySet[Any]:
        organisations = Team.objects.filter(pk__in=team_ids).values("organisation_id")
        return queryset.filter(organisation_id__in=organisations)
