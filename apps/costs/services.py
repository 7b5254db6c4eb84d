"""Costs' verbs: prices checked before they are stored, budgets created and changed, and what a
job has cost (live while it runs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone

from apps.core import audit
from apps.core.tasks import wake_scheduler_on_commit
from apps.costs.accrual import ModelNames
from apps.costs.choices import BudgetPeriod, BudgetUnit, PricingClass
from apps.costs.currencies import CURRENCIES
from apps.costs.models import Budget, CpuPrice, PricePoint, UsageRecord
from apps.costs.rates import RateCard, amortised
from apps.jobs.models import Job

ON_PREM_INPUTS = (
    "purchase_cost",
    "gpus_per_server",
    "lifetime_years",
    "power_watts",
    "electricity_price_per_kwh",
    "pue",
)
CENT = Decimal("0.01")


# --- prices -------------------------------------------------------------------------------------


def check_price(point: PricePoint | CpuPrice) -> None:
    """Raise ValidationError (by field) for a price that must not be stored: an unknown
    currency, an end before its start, a cluster and a region at once, on-premises inputs
    half given, or a validity that overlaps another price with the same key (model or CPU,
    cluster, region, class, currency) — for a cluster's or a region's rate, where two prices at
    once would make the charge ambiguous. Market quotes (neither) supersede each other by date.
    Fills an on-premises price from its inputs."""
    errors: dict[str, list[str]] = {}
    if point.currency not in CURRENCIES:
        errors["currency"] = [f"Unknown currency {point.currency!r}: use an ISO 4217 code such as USD or EUR."]
    if point.valid_from and point.valid_until and point.valid_until <= point.valid_from:
        errors["valid_until"] = ["valid_until must be after valid_from."]
    if point.cluster_id is not None and point.region:
        errors["region"] = ["Give a cluster or a region, not both."]
    if isinstance(point, PricePoint):
        given = [name for name in ON_PREM_INPUTS if getattr(point, name) is not None]
        if given and len(given) < len(ON_PREM_INPUTS):
            missing = [name for name in ON_PREM_INPUTS if getattr(point, name) is None]
            errors["on_prem"] = [f"An amortised price needs all of its inputs; missing: {', '.join(missing)}."]
        elif given:
            if point.pricing_class != PricingClass.ON_PREM:
                errors["pricing_class"] = ["Purchase, lifetime and power inputs are for the on_prem class."]
            elif any(getattr(point, name) <= 0 for name in ON_PREM_INPUTS):
                errors["on_prem"] = ["Every on-premises input must be more than zero."]
            else:
                point.price_per_gpu_hour = amortised(*(getattr(point, name) for name in ON_PREM_INPUTS))
        if point.price_per_gpu_hour is None or point.price_per_gpu_hour <= 0:
            errors.setdefault("price_per_gpu_hour", ["The price must be more than zero."])
    elif point.price_per_cpu_hour is None or point.price_per_cpu_hour <= 0:
        errors["price_per_cpu_hour"] = ["The price must be more than zero."]
    if not errors and point.scoped and point.valid_from:
        clash = _overlapping(point)
        if clash is not None:
            until = f"{clash.valid_until:%Y-%m-%d %H:%M}" if clash.valid_until else "open-ended"
            errors["valid_from"] = [
                f"Overlaps price {clash.pk} ({clash.valid_from:%Y-%m-%d %H:%M} to {until}) for the same "
                "accelerator, cluster or region, class and currency: end that one first (valid_until)."
            ]
    if errors:
        raise ValidationError(errors)


def _overlapping(point: PricePoint | CpuPrice) -> Any:
    model: type[Model] = type(point)
    same = model._default_manager.filter(
        cluster_id=point.cluster_id, region=point.region, pricing_class=point.pricing_class, currency=point.currency
    )
    if isinstance(point, PricePoint):
        same = same.filter(accelerator_model_id=point.accelerator_model_id)
    if point.pk:
        same = same.exclude(pk=point.pk)
    same = same.filter(Q(valid_until__isnull=True) | Q(valid_until__gt=point.valid_from))
    if point.valid_until is not None:
        same = same.filter(valid_from__lt=point.valid_until)
    return same.order_by("valid_from").first()


# --- budgets ------------------------------------------------------------------------------------

BUDGET_FIELDS = (
    "name",
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
)


def check_budget(budget: Budget) -> None:
    errors: dict[str, list[str]] = {}
    if budget.unit == BudgetUnit.MONEY and budget.currency not in CURRENCIES:
        errors["currency"] = [f"Unknown currency {budget.currency!r}: use an ISO 4217 code such as USD or EUR."]
    if budget.amount is None or budget.amount <= 0:
        errors["amount"] = ["A budget must be more than zero."]
    if budget.period == BudgetPeriod.FIXED:
        if budget.starts_on is None or budget.ends_on is None:
            errors["starts_on"] = ["A fixed period needs starts_on and ends_on."]
        elif budget.ends_on <= budget.starts_on:
            errors["ends_on"] = ["ends_on must be after starts_on."]
    elif budget.starts_on or budget.ends_on:
        errors["period"] = ["A monthly budget takes no starts_on or ends_on (use period fixed)."]
    if budget.soft_percent is not None and not 1 <= budget.soft_percent <= 100:
        errors["soft_percent"] = ["Between 1 and 100."]
    if (budget.team_id is None) == (budget.organisation_id is None):
        errors["team"] = ["A budget is for one team or one organisation."]
    clash = Budget.objects.filter(name=budget.name).exclude(pk=budget.pk)
    clash = (
        clash.filter(team_id=budget.team_id)
        if budget.team_id
        else clash.filter(organisation_id=budget.organisation_id or 0)
    )
    if budget.name and clash.exists():
        errors["name"] = ["This team or organisation already has a budget of this name."]
    if errors:
        raise ValidationError(errors)


def create_budget(*, actor: User, budget: Budget) -> Budget:
    check_budget(budget)
    with transaction.atomic():
        budget.created_by = actor
        budget.save()
        audit.record("costs.budget_created", budget, actor=actor, team_id=budget.team_id, amount=str(budget.amount))
        wake_scheduler_on_commit()  # a job may wait for it (or now wait because of it)
    return budget


def update_budget(*, actor: User, budget: Budget, changes: dict[str, Any]) -> Budget:
    for name, value in changes.items():
        if name not in BUDGET_FIELDS:
            raise ValidationError({name: ["Cannot be changed."]})
        setattr(budget, name, value)
    check_budget(budget)
    with transaction.atomic():
        budget.save()
        audit.record("costs.budget_updated", budget, actor=actor, team_id=budget.team_id, fields=sorted(changes))
        wake_scheduler_on_commit()  # raised: what waited for it may run on the next pass
    return budget


def delete_budget(*, actor: User, budget: Budget) -> None:
    with transaction.atomic():
        audit.record("costs.budget_deleted", budget, actor=actor, team_id=budget.team_id, name=budget.name)
        budget.delete()
        wake_scheduler_on_commit()


# --- a job's cost -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobCost:
    job: Job
    currency: str
    amount: Decimal
    live_amount: Decimal
    gpu_hours: Decimal
    cpu_hours: Decimal
    accrued_until: datetime | None
    running: bool
    rate_per_hour: Decimal | None
    attempts: list[dict[str, Any]]


def job_cost(job: Job, *, now: datetime | None = None) -> JobCost:
    """The ledger's lines for the job, per attempt and per price, plus the part of a running
    attempt not yet accrued at the rate that applies now (so the figure moves between passes)."""
    now = now or timezone.now()
    lines = list(
        UsageRecord.objects.filter(job=job)
        .select_related("price_point", "cpu_price", "accelerator_model")
        .order_by("attempt_id", "start", "id")
    )
    attempts = list(job.attempts.order_by("number"))
    by_attempt: dict[Any, list[UsageRecord]] = {}
    for line in lines:
        by_attempt.setdefault(line.attempt_id, []).append(line)
    card: RateCard | None = None
    names = ModelNames()
    tail = Decimal(0)
    rate_now: Decimal | None = None
    running = False
    rows: list[dict[str, Any]] = []
    currency = job.cost_currency
    for attempt in attempts:
        mine = by_attempt.get(attempt.pk, [])
        prices: dict[tuple[Any, ...], dict[str, Any]] = {}
        for line in mine:
            key = (line.price_point_id, line.cpu_price_id, line.rate, line.currency)
            entry = prices.get(key)
            if entry is None:
                source = line.price_point or line.cpu_price
                entry = prices[key] = {
                    "rate": line.rate,
                    "currency": line.currency,
                    "pricing_class": line.pricing_class,
                    "price_point": line.price_point_id,
                    "cpu_price": line.cpu_price_id,
                    "offer": source.offer if source is not None else "",
                    "from": line.start,
                    "until": line.end,
                    "amount": Decimal(0),
                }
            entry["from"] = min(entry["from"], line.start)
            entry["until"] = max(entry["until"], line.end)
            entry["amount"] += line.amount
        amount = sum((line.amount for line in mine), Decimal(0))
        quantity = sum((line.quantity for line in mine), Decimal(0))
        live = attempt.started_at is not None and attempt.finished_at is None and not attempt.usage_closed
        if live:
            running = True
            card = card or RateCard.load()
            gpus = Decimal(str(job.gpus))
            pool_model = job.pool.accelerator_model_id if job.pool is not None else None
            model_id = names.price_key(job.gpus, pool_model, job.accelerator_model)
            count = gpus if gpus > 0 else Decimal(str(job.cpus))
            rate = card.rate(job.cluster_id, model_id, now)
            if rate is not None:
                rate_now = count * rate.rate
                currency = currency or rate.currency
                since = attempt.usage_until or attempt.started_at
                assert since is not None
                if now > since:
                    tail += rate_now * Decimal((now - since).total_seconds()) / Decimal(3600)
        rows.append(
            {
                "attempt": attempt.pk,
                "number": attempt.number,
                "state": attempt.state,
                "start": attempt.started_at,
                "end": attempt.finished_at,
                "seconds": round((attempt.finished_at - attempt.started_at).total_seconds(), 3)
                if attempt.started_at and attempt.finished_at
                else (round((now - attempt.started_at).total_seconds(), 3) if attempt.started_at else 0),
                "resource": "gpu" if job.gpus > 0 else "cpu",
                "count": Decimal(str(job.gpus if job.gpus > 0 else job.cpus)),
                "accelerator_model": mine[0].accelerator_model.name if mine and mine[0].accelerator_model else None,
                "amount": amount.quantize(CENT),
                "quantity_hours": (quantity / Decimal(3600)).quantize(Decimal("0.001")),
                "currency": next((line.currency for line in mine if line.currency), ""),
                "prices": [{**p, "amount": p["amount"].quantize(CENT)} for p in prices.values()],
            }
        )
    return JobCost(
        job=job,
        currency=currency,
        amount=job.cost.quantize(CENT),
        live_amount=(job.cost + tail).quantize(CENT),
        gpu_hours=(job.gpu_seconds / Decimal(3600)).quantize(Decimal("0.001")),
        cpu_hours=(job.cpu_seconds / Decimal(3600)).quantize(Decimal("0.001")),
        accrued_until=max((a.usage_until for a in attempts if a.usage_until), default=None),
        running=running,
        rate_per_hour=rate_now.quantize(Decimal("0.0001")) if rate_now is not None else None,
        attempts=rows,
    )
