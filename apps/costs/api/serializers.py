from __future__ import annotations

import copy
from datetime import UTC, datetime, time
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.costs import services
from apps.costs.models import Budget, CpuPrice, PricePoint, UsageRecord
from apps.inventory.models import AcceleratorModel, Cluster
from apps.tenancy.models import Organisation, Team


def _checked(serializer: serializers.ModelSerializer, attrs: dict[str, Any], check: Any) -> dict[str, Any]:  # type: ignore[type-arg]
    """Run the service's check on the instance as it would be saved; its field errors are 400s."""
    model: Any = serializer.Meta.model
    instance = copy.copy(serializer.instance) if serializer.instance is not None else model()
    for name, value in attrs.items():
        setattr(instance, name, value)
    try:
        check(instance)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from exc
    return {**attrs, **{name: getattr(instance, name) for name in ("price_per_gpu_hour",) if hasattr(instance, name)}}


class PriceScopeFields(serializers.ModelSerializer):  # type: ignore[type-arg]
    cluster = serializers.SlugRelatedField(
        slug_field="name",
        queryset=Cluster.objects.all(),
        allow_null=True,
        required=False,
        help_text="The cluster this rate is for; empty: a region's or a market quote",
    )
    valid_from = serializers.DateTimeField(required=False, help_text="Default: as_of at 00:00 UTC (GPU prices)")


class PricePointSerializer(PriceScopeFields):
    """One price of a GPU-hour: a market quote (global, like the catalog), or what this
    organisation pays on one cluster or in one region, valid from/until; staff record them.
    An on_prem price is computed from its purchase, lifetime and power inputs."""

    accelerator_model = serializers.SlugRelatedField(
        slug_field="name",
        queryset=AcceleratorModel.objects.all(),
        help_text="Catalog model name, e.g. H100 SXM",
    )
    price_per_gpu_hour = serializers.DecimalField(
        max_digits=10, decimal_places=4, required=False, help_text="Computed for an on_prem price with inputs"
    )

    class Meta:
        model = PricePoint
        fields = [
            "id",
            "accelerator_model",
            "pricing_class",
            "price_per_gpu_hour",
            "currency",
            "cluster",
            "region",
            "valid_from",
            "valid_until",
            "offer",
            "as_of",
            "source_url",
            "notes",
            "purchase_cost",
            "gpus_per_server",
            "lifetime_years",
            "power_watts",
            "electricity_price_per_kwh",
            "pue",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        as_of = attrs.get("as_of", getattr(self.instance, "as_of", None))
        if "valid_from" not in attrs and self.instance is None and as_of is not None:
            attrs["valid_from"] = datetime.combine(as_of, time.min, tzinfo=UTC)
        return _checked(self, attrs, services.check_price)


class CpuPriceSerializer(PriceScopeFields):
    """One price of a CPU-hour (work with no GPU), for a cluster, a region or anywhere."""

    valid_from = serializers.DateTimeField(help_text="The first instant the price applies")

    class Meta:
        model = CpuPrice
        fields = [
            "id",
            "pricing_class",
            "price_per_cpu_hour",
            "currency",
            "cluster",
            "region",
            "valid_from",
            "valid_until",
            "offer",
            "source_url",
            "notes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return _checked(self, attrs, services.check_price)


class UsageRecordSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """One ledger line: who used what, from when to when, at what price."""

    team = serializers.CharField(source="team.slug", read_only=True)
    user = serializers.CharField(source="user.username", read_only=True, default="")
    job = serializers.IntegerField(source="job_id", read_only=True)
    job_name = serializers.CharField(source="job.name", read_only=True)
    attempt = serializers.UUIDField(source="attempt_id", read_only=True)
    attempt_number = serializers.IntegerField(source="attempt.number", read_only=True)
    endpoint = serializers.IntegerField(source="endpoint_id", read_only=True, allow_null=True)
    revision = serializers.IntegerField(source="revision_id", read_only=True, allow_null=True)
    cluster = serializers.CharField(source="cluster.name", read_only=True)
    pool = serializers.CharField(source="pool.name", read_only=True, default=None, allow_null=True)
    accelerator_model = serializers.CharField(
        source="accelerator_model.name", read_only=True, default=None, allow_null=True
    )
    seconds = serializers.SerializerMethodField()
    price_point = serializers.IntegerField(source="price_point_id", read_only=True, allow_null=True)
    cpu_price = serializers.IntegerField(source="cpu_price_id", read_only=True, allow_null=True)
    priced = serializers.SerializerMethodField()

    class Meta:
        model = UsageRecord
        fields = [
            "id",
            "kind",
            "team",
            "user",
            "job",
            "job_name",
            "attempt",
            "attempt_number",
            "endpoint",
            "endpoint_name",
            "revision",
            "cluster",
            "pool",
            "accelerator_model",
            "resource",
            "count",
            "start",
            "end",
            "seconds",
            "quantity",
            "pricing_class",
            "rate",
            "currency",
            "amount",
            "price_point",
            "cpu_price",
            "priced",
        ]
        read_only_fields = fields

    def get_seconds(self, line: UsageRecord) -> float:
        return round((line.end - line.start).total_seconds(), 6)

    def get_priced(self, line: UsageRecord) -> bool:
        return line.rate is not None


class BudgetAlertSerializer(serializers.Serializer):  # type: ignore[type-arg]
    level = serializers.CharField()
    created_at = serializers.DateTimeField()
    period_start = serializers.DateTimeField()
    spent = serializers.DecimalField(max_digits=24, decimal_places=2)
    limit = serializers.DecimalField(max_digits=24, decimal_places=2)
    message = serializers.CharField()
    webhook = serializers.CharField()


def _standing_value(key: str, default: Any, shape: serializers.Field) -> Any:  # type: ignore[type-arg]
    """A ``get_<field>`` reading one figure of where the budget stands now (the view puts them in
    the context, computed once for the page), ``default`` for a budget not in force."""

    @extend_schema_field(shape)
    def get(self: Any, budget: Budget) -> Any:
        found = self._standing(budget)
        return found[key] if found else default

    return get


class BudgetSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A limit on a team's (or an organisation's) spend in a period, in money or GPU-hours,
    with where it stands now (from the ledger) and the alerts it raised this period."""

    team = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), allow_null=True, required=False, help_text="Team slug"
    )
    organisation = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Organisation.objects.all(),
        allow_null=True,
        required=False,
        help_text="Organisation slug (a budget over all of its teams)",
    )
    period_start = serializers.SerializerMethodField()
    period_end = serializers.SerializerMethodField()
    spent = serializers.SerializerMethodField()
    remaining = serializers.SerializerMethodField()
    forecast = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    alerts = serializers.SerializerMethodField()

    class Meta:
        model = Budget
        fields = [
            "id",
            "name",
            "team",
            "organisation",
            "unit",
            "amount",
            "currency",
            "period",
            "starts_on",
            "ends_on",
            "soft_percent",
            "hard",
            "on_hard_limit",
            "webhook_url",
            "active",
            "period_start",
            "period_end",
            "spent",
            "remaining",
            "forecast",
            "status",
            "alerts",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list[Any] = []  # a name unique per team or organisation: services.check_budget says so

    def _standing(self, budget: Budget) -> dict[str, Any] | None:
        return (self.context.get("standings") or {}).get(budget.pk)

    get_period_start = _standing_value("period_start", None, serializers.DateTimeField(allow_null=True))
    get_period_end = _standing_value("period_end", None, serializers.DateTimeField(allow_null=True))
    get_spent = _standing_value("spent", None, serializers.CharField(allow_null=True))
    get_remaining = _standing_value("remaining", None, serializers.CharField(allow_null=True))
    get_forecast = _standing_value("forecast", None, serializers.CharField(allow_null=True))
    get_status = _standing_value("status", "inactive", serializers.CharField())

    def get_alerts(self, budget: Budget) -> list[dict[str, Any]]:
        found = self._standing(budget)
        return BudgetAlertSerializer(found["alerts"] if found else [], many=True).data  # type: ignore[return-value]
