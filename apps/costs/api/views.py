from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from rest_framework import mixins
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core import audit
from apps.core.api.viewsets import TeamScopedViewSet
from apps.costs.api.filters import PricePointFilter
from apps.costs.api.serializers import PricePointSerializer
from apps.costs.models import PricePoint


class PricePointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TeamScopedViewSet,
):
    """Dated GPU-hour prices: global like the accelerator catalog, readable by every signed-in
    user; staff record, correct and remove them."""

    queryset = PricePoint.objects.select_related("accelerator_model").order_by(
        "accelerator_model__name", "-as_of", "pricing_class", "id"
    )
    serializer_class = PricePointSerializer
    filterset_class = PricePointFilter
    ordering_fields = ["as_of", "price_per_gpu_hour", "pricing_class", "created_at"]
    ordering = ["accelerator_model__name", "-as_of", "pricing_class", "id"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scope_queryset(self, queryset: QuerySet[Any], team_ids: list[int]) -> QuerySet[Any]:
        return queryset  # prices describe products on the market, not anyone's hardware

    def require_staff(self, action: str) -> None:
        # Called before validation: field errors are for those who may write.
        if not self.actor.is_staff:
            raise PermissionDenied(f"Only staff can {action} price points.")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.require_staff("add")
        return super().create(request, *args, **kwargs)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.require_staff("change")
        return super().update(request, *args, **kwargs)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.require_staff("delete")
        return super().destroy(request, *args, **kwargs)

    def perform_create(self, serializer: Any) -> None:
        with transaction.atomic():
            point = serializer.save()
            audit.record("costs.price_point_created", point, actor=self.actor, model=point.accelerator_model.name)

    def perform_update(self, serializer: Any) -> None:
        with transaction.atomic():
            point = serializer.save()
            audit.record("costs.price_point_updated", point, actor=self.actor, fields=sorted(serializer.validated_data))

    def perform_destroy(self, instance: PricePoint) -> None:
        with transaction.atomic():
            audit.record(
                "costs.price_point_deleted",
                instance,
                actor=self.actor,
                model=instance.accelerator_model.name,
                as_of=instance.as_of.isoformat(),
                price_per_gpu_hour=str(instance.price_per_gpu_hour),
                currency=instance.currency,
            )
            instance.delete()
