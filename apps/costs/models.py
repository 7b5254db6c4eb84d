"""Costs: dated prices (GPU-hours per accelerator model, CPU-hours), the append-only usage
ledger, and budgets with the alerts they raised."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from apps.core.models import TimeStampedModel
from apps.costs.choices import (
    AlertLevel,
    BudgetPeriod,
    BudgetUnit,
    OnHardLimit,
    PricingClass,
    RecordKind,
    Resource,
)

CURRENCY_CODE = RegexValidator(r"^[A-Z]{3}$", "Three capital letters (ISO 4217), e.g. USD.")


class PriceScope(models.Model):
    """Where and when a price applies: one cluster, one region, or anywhere (a market quote)."""

    cluster = models.ForeignKey(
        "inventory.Cluster",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The cluster this rate is for (what this organisation pays there); empty: not one cluster",
    )
    region = models.CharField(
        max_length=63, blank=True, default="", help_text="Clusters of this region (Cluster.region); empty: any"
    )
    pricing_class = models.CharField(max_length=16, choices=PricingClass.choices, default=PricingClass.ON_DEMAND)
    currency = models.CharField(max_length=3, default="USD", validators=[CURRENCY_CODE], help_text="ISO 4217")
    valid_from = models.DateTimeField(help_text="The first instant the price applies")
    valid_until = models.DateTimeField(null=True, blank=True, help_text="The instant it stops applying; empty: open")

    class Meta:
        abstract = True

    @property
    def scoped(self) -> bool:
        return self.cluster_id is not None or bool(self.region)


class PricePoint(PriceScope, TimeStampedModel):
    """What one GPU-hour of an accelerator model costs in one offer, from when until when."""

    accelerator_model = models.ForeignKey(
        "inventory.AcceleratorModel", on_delete=models.PROTECT, related_name="price_points"
    )
    price_per_gpu_hour = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text="One GPU for one hour (an instance's hourly price divided by its GPU count)",
    )
    offer = models.CharField(max_length=200, help_text='What was priced, e.g. "AWS p5.48xlarge on-demand"')
    as_of = models.DateField(help_text="The date the source gives for the price")
    source_url = models.URLField(max_length=500, blank=True, default="", help_text="Where the price comes from")
    notes = models.TextField(blank=True, default="")
    # On-premises hardware: the price is computed from these (apps.costs.rates.amortised).
    purchase_cost = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, help_text="What one server cost to buy"
    )
    gpus_per_server = models.PositiveSmallIntegerField(null=True, blank=True)
    lifetime_years = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text="Years it is written off over"
    )
    power_watts = models.DecimalField(
        max_digits=10, decimal_places=1, null=True, blank=True, help_text="One server's average draw"
    )
    electricity_price_per_kwh = models.DecimalField(max_digits=10, decimal_places=5, null=True, blank=True)
    pue = models.DecimalField(
        max_digits=4, decimal_places=2, null=True, blank=True, help_text="Power usage effectiveness, e.g. 1.3"
    )

    class Meta:
        ordering = ["accelerator_model__name", "-as_of", "pricing_class"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price_per_gpu_hour__gt=0),
                name="pricepoint_price_positive",
                violation_error_message="The price must be more than zero.",
            ),
            models.UniqueConstraint(
                fields=["accelerator_model", "pricing_class", "as_of", "offer"],
                name="pricepoint_unique_model_class_date_offer",
                violation_error_message="This offer already has a price of this class on this date.",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=models.F("valid_from")),
                name="pricepoint_valid_until_after_from",
                violation_error_message="valid_until must be after valid_from.",
            ),
        ]
        # current_prices(): the latest date per model, on or before a given day.
        indexes = [models.Index(fields=["accelerator_model", "-as_of"], name="pricepoint_model_latest")]

    def __str__(self) -> str:
        return f"{self.accelerator_model} {self.pricing_class} {self.price_per_gpu_hour} {self.currency} ({self.as_of})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.valid_from is None and self.as_of is not None:  # a quote applies from its date
            day = self.as_of if isinstance(self.as_of, date) else date.fromisoformat(str(self.as_of))
            self.valid_from = datetime.combine(day, time.min, tzinfo=UTC)
        super().save(*args, **kwargs)

    @property
    def rate(self) -> Decimal:
        return self.price_per_gpu_hour


class CpuPrice(PriceScope, TimeStampedModel):
    """What one CPU-hour costs (CPU-only work), from when until when."""

    price_per_cpu_hour = models.DecimalField(
        max_digits=10, decimal_places=6, help_text="One CPU (vCPU) for one hour, its share of memory included"
    )
    offer = models.CharField(max_length=200, help_text='What was priced, e.g. "m7i.2xlarge on-demand / 8 vCPU"')
    source_url = models.URLField(max_length=500, blank=True, default="")
    notes = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-valid_from", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price_per_cpu_hour__gt=0),
                name="cpuprice_price_positive",
                violation_error_message="The price must be more than zero.",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=models.F("valid_from")),
                name="cpuprice_valid_until_after_from",
                violation_error_message="valid_until must be after valid_from.",
            ),
        ]

    def __str__(self) -> str:
        return f"CPU {self.pricing_class} {self.price_per_cpu_hour} {self.currency} from {self.valid_from:%Y-%m-%d}"

    @property
    def rate(self) -> Decimal:
        return self.price_per_cpu_hour


class UsageRecord(models.Model):
    """One line of the append-only ledger: who used what, from when to when, at what price."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=16, choices=RecordKind.choices, default=RecordKind.USAGE)
    team = models.ForeignKey("tenancy.Team", on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    job = models.ForeignKey("jobs.Job", on_delete=models.PROTECT, related_name="+")
    attempt = models.ForeignKey("jobs.Attempt", on_delete=models.PROTECT, related_name="+")
    # An endpoint's deployment job: which endpoint and which revision served (no foreign key:
    # serving builds on costs, and the ledger outlives what it describes).
    endpoint_id = models.BigIntegerField(null=True, blank=True)
    endpoint_name = models.CharField(max_length=200, blank=True, default="")
    revision_id = models.BigIntegerField(null=True, blank=True)
    cluster = models.ForeignKey("inventory.Cluster", on_delete=models.PROTECT, related_name="+")
    pool = models.ForeignKey("quotas.Pool", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    accelerator_model = models.ForeignKey(
        "inventory.AcceleratorModel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resource = models.CharField(max_length=3, choices=Resource.choices)
    count = models.DecimalField(max_digits=10, decimal_places=3, help_text="GPUs (or CPUs) held")
    start = models.DateTimeField()
    end = models.DateTimeField()
    quantity = models.DecimalField(
        max_digits=24, decimal_places=6, help_text="count × seconds: GPU-seconds (or CPU-seconds); negative to correct"
    )
    price_point = models.ForeignKey(PricePoint, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    cpu_price = models.ForeignKey(CpuPrice, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    pricing_class = models.CharField(max_length=16, blank=True, default="")
    rate = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True, help_text="Per unit-hour; empty: no price applied"
    )
    currency = models.CharField(max_length=3, blank=True, default="")
    amount = models.DecimalField(max_digits=24, decimal_places=10, default=Decimal(0))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="usagerecord_end_after_start"),
            # A second accrual of the same piece is refused by the database, whatever raced.
            models.UniqueConstraint(
                fields=["attempt", "start"], condition=Q(kind="usage"), name="usagerecord_unique_attempt_start"
            ),
        ]
        indexes = [
            models.Index(fields=["team", "start"], name="usagerecord_team_start"),
            models.Index(fields=["start", "id"], name="usagerecord_start"),
            models.Index(fields=["job", "start"], name="usagerecord_job_start"),
            models.Index(fields=["attempt", "start"], name="usagerecord_attempt_start"),
            models.Index(
                fields=["endpoint_id", "start"], condition=Q(endpoint_id__isnull=False), name="usagerecord_endpoint"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.resource} × {self.count} {self.start:%Y-%m-%d %H:%M}–{self.end:%H:%M} {self.amount} {self.currency}"
        )


class AccrualRun(models.Model):
    """One accrual pass: when it ran and what it wrote (the latest says how far the ledger goes)."""

    ran_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    records = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-ran_at"]

    def __str__(self) -> str:
        return f"accrual {self.ran_at:%Y-%m-%d %H:%M:%S}: {self.records} records"


class Budget(TimeStampedModel):
    """A limit on what a team (or an organisation) spends in a period, in money or GPU-hours."""

    name = models.CharField(max_length=200)
    team = models.ForeignKey("tenancy.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets")
    organisation = models.ForeignKey(
        "tenancy.Organisation", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    unit = models.CharField(max_length=16, choices=BudgetUnit.choices, default=BudgetUnit.MONEY)
    amount = models.DecimalField(max_digits=16, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))])
    currency = models.CharField(
        max_length=3, default="USD", validators=[CURRENCY_CODE], help_text="ISO 4217 (money budgets)"
    )
    period = models.CharField(max_length=16, choices=BudgetPeriod.choices, default=BudgetPeriod.MONTHLY)
    starts_on = models.DateField(null=True, blank=True, help_text="A fixed period's first day (UTC)")
    ends_on = models.DateField(null=True, blank=True, help_text="The day after a fixed period's last (exclusive)")
    soft_percent = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Notify once when spend crosses this share of the amount; empty: no soft limit",
    )
    hard = models.BooleanField(default=True, help_text="New work that would cross the amount waits")
    on_hard_limit = models.CharField(max_length=16, choices=OnHardLimit.choices, default=OnHardLimit.CONTINUE)
    webhook_url = models.URLField(max_length=500, blank=True, default="", help_text="POSTed once per crossing")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(team__isnull=False) & Q(organisation__isnull=True))
                | (Q(team__isnull=True) & Q(organisation__isnull=False)),
                name="budget_team_or_organisation",
                violation_error_message="A budget is for one team or one organisation.",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="budget_amount_positive"),
            models.UniqueConstraint(fields=["team", "name"], name="budget_unique_team_name"),
            models.UniqueConstraint(fields=["organisation", "name"], name="budget_unique_organisation_name"),
        ]

    def __str__(self) -> str:
        return self.name


class BudgetAlert(models.Model):
    """A budget's soft or hard limit crossed in one period: raised once, whatever runs after."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    period_start = models.DateTimeField()
    level = models.CharField(max_length=8, choices=AlertLevel.choices)
    spent = models.DecimalField(max_digits=24, decimal_places=4)
    limit = models.DecimalField(max_digits=24, decimal_places=4)
    message = models.TextField()
    webhook = models.CharField(max_length=300, blank=True, default="", help_text='"", "sent" or "failed: why"')
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["budget", "period_start", "level"], name="budgetalert_once_per_crossing")
        ]

    def __str__(self) -> str:
        return f"{self.budget} {self.level} {self.period_start:%Y-%m-%d}"
