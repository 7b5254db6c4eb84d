"""The operator console for prices: dated points per accelerator model, filterable by
class and model; a page makes the same number of queries whatever the list's length."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core import audit
from apps.costs import services
from apps.costs.models import Budget, BudgetAlert, CpuPrice, PricePoint, UsageRecord


class PriceForm(forms.ModelForm):  # type: ignore[type-arg]
    """The same checks as the API (services.check_price): currency, validity, overlap, on-prem."""

    price_per_gpu_hour = forms.DecimalField(
        max_digits=10, decimal_places=4, required=False, help_text="Left empty for an on-premises price with inputs"
    )
    valid_from = forms.DateTimeField(required=False, help_text="Empty: from as_of at 00:00 UTC")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        instance = self.instance
        for name, value in data.items():
            setattr(instance, name, value)
        if getattr(instance, "valid_from", None) is None and data.get("as_of") is not None:
            instance.valid_from = datetime.combine(data["as_of"], time.min, tzinfo=UTC)
        try:
            services.check_price(instance)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        if hasattr(instance, "price_per_gpu_hour"):
            data["price_per_gpu_hour"] = instance.price_per_gpu_hour
        data["valid_from"] = instance.valid_from
        return data


@admin.register(PricePoint)
class PricePointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_filter = [
        "pricing_class",
        ("accelerator_model", admin.RelatedOnlyFieldListFilter),
        "currency",
        "as_of",
    ]
    search_fields = ["offer", "notes", "accelerator_model__name", "source_url"]
    list_select_related = ["accelerator_model", "cluster"]
    form = PriceForm
    autocomplete_fields = ["accelerator_model"]
    date_hierarchy = "as_of"
    list_display = [
        "accelerator_model",
        "pricing_class",
        "price_per_gpu_hour",
        "currency",
        "cluster",
        "region",
        "valid_from",
        "valid_until",
        "as_of",
        "offer",
    ]
    fieldsets = [
        (None, {"fields": ["accelerator_model", "pricing_class", "price_per_gpu_hour", "currency", "offer"]}),
        ("Where and when it applies", {"fields": ["cluster", "region", "valid_from", "valid_until", "as_of"]}),
        (
            "On-premises (the price is computed from these)",
            {
                "fields": [
                    "purchase_cost",
                    "gpus_per_server",
                    "lifetime_years",
                    "power_watts",
                    "electricity_price_per_kwh",
                    "pue",
                ]
            },
        ),
        ("Source", {"fields": ["source_url", "notes"]}),
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


class CpuPriceForm(PriceForm):
    price_per_gpu_hour = None  # type: ignore[assignment]
    valid_from = forms.DateTimeField(required=True)
    source_url = forms.URLField(max_length=500, required=False, assume_scheme="https")

    class Meta:
        model = CpuPrice
        fields = [
            "price_per_cpu_hour",
            "currency",
            "pricing_class",
            "cluster",
            "region",
            "valid_from",
            "valid_until",
            "offer",
            "source_url",
            "notes",
        ]


@admin.register(CpuPrice)
class CpuPriceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    form = CpuPriceForm
    list_display = ["price_per_cpu_hour", "currency", "pricing_class", "cluster", "region", "valid_from", "valid_until"]
    list_filter = ["pricing_class", "currency"]
    list_select_related = ["cluster"]
    search_fields = ["offer", "region", "cluster__name"]

    def save_model(self, request: HttpRequest, obj: CpuPrice, form: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit.record("costs.cpu_price_updated" if change else "costs.cpu_price_created", obj, actor=request.user)


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The ledger, read only: lines are appended by the accrual, put right by correction lines."""

    list_display = [
        "start",
        "end",
        "team",
        "job",
        "resource",
        "count",
        "accelerator_model",
        "rate",
        "amount",
        "currency",
    ]
    list_filter = ["resource", "kind", "currency", ("team", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["team", "job", "accelerator_model"]
    search_fields = ["job__name", "endpoint_name", "team__slug"]
    date_hierarchy = "start"
    show_full_result_count = False  # a count of millions of lines per page view costs more than the page

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class BudgetForm(forms.ModelForm):  # type: ignore[type-arg]
    webhook_url = forms.URLField(
        max_length=500, required=False, assume_scheme="https", help_text="POSTed once per crossing"
    )

    class Meta:
        model = Budget
        fields = ["team", "organisation", *services.BUDGET_FIELDS]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        instance = self.instance
        for name, value in data.items():
            setattr(instance, name, value)
        try:
            services.check_budget(instance)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return data


class BudgetAlertInline(admin.TabularInline):  # type: ignore[type-arg]
    model = BudgetAlert
    extra = 0
    can_delete = False
    fields = ["created_at", "level", "period_start", "spent", "limit", "webhook", "message"]
    readonly_fields = ["created_at", "level", "period_start", "spent", "limit", "webhook", "message"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Budgets through the services (audited; the scheduler looks again at once)."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    form = BudgetForm
    inlines = [BudgetAlertInline]
    list_display = ["name", "team", "organisation", "unit", "amount", "currency", "period", "hard", "active"]
    list_filter = ["unit", "period", "hard", "active"]
    list_select_related = ["team", "organisation"]
    search_fields = ["name", "team__slug", "organisation__slug"]

    def save_model(self, request: HttpRequest, obj: Budget, form: Any, change: bool) -> None:
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data if name in services.BUDGET_FIELDS}
            services.update_budget(actor=request.user, budget=obj, changes=changes)  # type: ignore[arg-type]
        else:
            services.create_budget(actor=request.user, budget=obj)  # type: ignore[arg-type]

    def delete_model(self, request: HttpRequest, obj: Budget) -> None:
        services.delete_budget(actor=request.user, budget=obj)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Budget]) -> None:
        for budget in queryset:
            services.delete_budget(actor=request.user, budget=budget)  # type: ignore[arg-type]
