"""The operator console for prices: dated points per accelerator model, filterable by
class and model; a page makes the same number of queries whatever the list's length."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core import audit
from apps.costs.models import PricePoint


@admin.register(PricePoint)
class PricePointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["accelerator_model", "pricing_class", "price_per_gpu_hour", "currency", "as_of", "offer"]
    list_filter = [
        "pricing_class",
        ("accelerator_model", admin.RelatedOnlyFieldListFilter),
        "currency",
        "as_of",
    ]
    search_fields = ["offer", "notes", "accelerator_model__name", "source_url"]
    list_select_related = ["accelerator_model"]
    autocomplete_fields = ["accelerator_model"]
    date_hierarchy = "as_of"
    fields = [
        "accelerator_model",
        "pricing_class",
        "price_per_gpu_hour",
        "currency",
        "offer",
        "as_of",
        "source_url",
        "notes",
    ]

    def save_model(self, request: HttpRequest, obj: PricePoint, form: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit.record(
                "costs.price_point_updated" if change else "costs.price_point_created",
                obj,
                actor=request.user,
                model=obj.accelerator_model.name,
            )

    def delete_model(self, request: HttpRequest, obj: PricePoint) -> None:
        with transaction.atomic():
            audit.record("costs.price_point_deleted", obj, actor=request.user, model=obj.accelerator_model.name)
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PricePoint]) -> None:
        with transaction.atomic():
            for point in queryset.select_related("accelerator_model"):
                audit.record("costs.price_point_deleted", point, actor=request.user, model=point.accelerator_model.name)
            super().delete_queryset(request, queryset)
