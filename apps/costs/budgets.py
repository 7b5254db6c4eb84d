"""Budgets: what a team (or its organisation) has spent in the budget's period, what running
work will add by its end, whether new work may start, and the once-per-crossing alerts.

:class:`BudgetBook` is the one place that decides whether a job's planned cost fits: the
scheduler's pass asks it for each job it considers (next to the pool's quota ledger), and so
does the admission of clusters without pools. It is pure over numbers loaded once per pass.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.core import audit
from apps.core.logging import get_logger
from apps.core.tasks import enqueue_on_commit
from apps.costs.accrual import ModelNames
from apps.costs.choices import AlertLevel, BudgetPeriod, BudgetUnit, OnHardLimit, Resource
from apps.costs.models import Budget, BudgetAlert, UsageRecord
from apps.costs.rates import RateCard
from apps.jobs.choices import HOLDING_STATES
from apps.jobs.models import Attempt, Job
from apps.jobs.services import cancel_job
from apps.tenancy.models import Team

log = get_logger("costs.budgets")
SECONDS_PER_HOUR = Decimal(3600)
CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    """5012.4 → "5,012.40" (how every sentence about a budget writes an amount)."""
    return f"{value.quantize(CENT):,}"


def scope_of(budget: Budget) -> str:
    """Whose budget it is, in words: "team nlp" or "organisation acme"."""
    if budget.team is not None:
        return f"team {budget.team.slug}"
    assert budget.organisation is not None  # a budget is one team's or one organisation's
    return f"organisation {budget.organisation.slug}"


def month_start(day: date) -> datetime:
    return datetime(day.year, day.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=UTC)


def period_of(budget: Budget, at: datetime) -> tuple[datetime, datetime] | None:
    """The budget's period that contains ``at``; None when a fixed period does not."""
    if budget.period == BudgetPeriod.MONTHLY:
        start = month_start(at.astimezone(UTC).date())
        return start, next_month(start)
    if budget.starts_on is None or budget.ends_on is None:
        return None
    start = datetime.combine(budget.starts_on, time.min, tzinfo=UTC)
    end = datetime.combine(budget.ends_on, time.min, tzinfo=UTC)
    return (start, end) if start <= at < end else None


def describe_period(budget: Budget) -> str:
    if budget.period == BudgetPeriod.MONTHLY:
        return "monthly"
    return f"{budget.starts_on:%Y-%m-%d} to {budget.ends_on:%Y-%m-%d}"


def unit_text(budget: Budget) -> str:
    return budget.currency if budget.unit == BudgetUnit.MONEY else "GPU-hours"


@dataclass
class Standing:
    """One budget in its current period: spent so far, and what a pass has committed since."""

    budget: Budget
    period_start: datetime
    period_end: datetime
    spent: Decimal
    team_ids: frozenset[int]
    committed: Decimal = Decimal(0)

    @property
    def remaining(self) -> Decimal:
        return self.budget.amount - self.spent - self.committed

    @property
    def scope(self) -> str:
        return scope_of(self.budget)


@dataclass
class BudgetBook:
    """Every hard budget in force, by team; asked once per job a pass considers."""

    by_team: dict[int, list[Standing]] = field(default_factory=dict)

    def refuse(self, team_id: int, cost: Decimal | None, currency: str, gpu_hours: Decimal | None) -> str | None:
        """None when the job's planned spend fits every hard budget over its team; else why not.
        ``cost`` (in ``currency``) or ``gpu_hours`` is None when the job's length is unknown:
        then only a budget already used up refuses it."""
        for standing in self.by_team.get(team_id, ()):
            budget = standing.budget
            if budget.unit == BudgetUnit.MONEY:
                planned = cost if cost is not None and currency == budget.currency else None
            else:
                planned = gpu_hours
            if planned is not None and planned <= 0:
                continue  # it spends nothing this budget counts (CPU work on a GPU-hour budget)
            left = standing.remaining
            what = f"its {money(budget.amount)} {unit_text(budget)} {describe_period(budget)} budget"
            if planned is None and left <= 0:
                return (
                    f"{standing.scope} has used all of {what} ({money(standing.spent + standing.committed)} spent); "
                    "new work waits until the budget is raised or its period ends"
                )
            if planned is not None and planned > left:
                unit = budget.currency if budget.unit == BudgetUnit.MONEY else "GPU-hours"
                return (
                    f"{standing.scope} has {money(max(left, Decimal(0)))} of {what} left; "
                    f"this job's planned {'cost' if budget.unit == BudgetUnit.MONEY else 'use'} is "
                    f"{money(planned)} {unit}"
                )
        return None

    def take(self, team_id: int, cost: Decimal | None, currency: str, gpu_hours: Decimal | None) -> None:
        """Count an admitted job's planned spend against its budgets for the rest of the pass."""
        for standing in self.by_team.get(team_id, ()):
            budget = standing.budget
            if budget.unit == BudgetUnit.MONEY:
                if cost is not None and currency == budget.currency:
                    standing.committed += cost
            elif gpu_hours is not None:
                standing.committed += gpu_hours


def standings(at: datetime, budgets: list[Budget] | None = None, *, hard_only: bool = False) -> list[Standing]:
    """Each active budget in force at ``at``, with what its scope spent in its period so far:
    one query per distinct period (monthly budgets share one), whatever the number of teams."""
    if budgets is None:
        query = Budget.objects.filter(active=True).select_related("team", "organisation")
        if hard_only:
            query = query.filter(hard=True)
        budgets = list(query)
    if not budgets:
        return []
    org_teams: dict[int, set[int]] = defaultdict(set)
    org_ids = {b.organisation_id for b in budgets if b.organisation_id is not None}
    if org_ids:
        for team_id, org_id in Team.objects.filter(organisation_id__in=org_ids).values_list("id", "organisation_id"):
            org_teams[org_id].add(team_id)
    by_period: dict[tuple[datetime, datetime], list[tuple[Budget, frozenset[int]]]] = defaultdict(list)
    for budget in budgets:
        period = period_of(budget, at)
        if period is None:
            continue
        teams = frozenset(
            {budget.team_id} if budget.team_id is not None else org_teams.get(budget.organisation_id or 0, set())
        )
        by_period[period].append((budget, teams))
    out: list[Standing] = []
    for (start, end), members in by_period.items():
        team_ids = set().union(*(teams for _, teams in members))
        sums: dict[tuple[int, str, str], tuple[Decimal, Decimal]] = {}
        for row in (
            UsageRecord.objects.filter(team_id__in=team_ids, start__gte=start, start__lt=end)
            .values("team_id", "currency", "resource")
            .annotate(amount=Sum("amount"), quantity=Sum("quantity"))
            .order_by()
        ):
            sums[(row["team_id"], row["currency"], row["resource"])] = (row["amount"], row["quantity"])
        for budget, teams in members:
            if budget.unit == BudgetUnit.MONEY:
                spent = sum((v[0] for k, v in sums.items() if k[0] in teams and k[1] == budget.currency), Decimal(0))
            else:
                seconds = sum((v[1] for k, v in sums.items() if k[0] in teams and k[2] == Resource.GPU), Decimal(0))
                spent = seconds / SECONDS_PER_HOUR
            out.append(Standing(budget, start, end, spent, teams))
    return out


def load_book(at: datetime) -> BudgetBook | None:
    """The hard budgets in force for a pass; None when there are none (nothing to check)."""
    book = BudgetBook()
    for standing in standings(at, hard_only=True):
        for team_id in standing.team_ids:
            book.by_team.setdefault(team_id, []).append(standing)
    return book if book.by_team else None


@dataclass(frozen=True)
class Plan:
    """What a job is expected to spend if admitted now."""

    cost: Decimal | None
    currency: str
    gpu_hours: Decimal | None


def planned_seconds(plan: dict[str, Any] | None, max_runtime_seconds: int | None) -> float | None:
    """How long a job is expected to run: the planner's time to train, else its declared max
    runtime; None when neither is known."""
    if plan:
        value = plan.get("time_to_train_s")
        if isinstance(value, int | float) and value > 0:
            return float(value)
    return float(max_runtime_seconds) if max_runtime_seconds else None


def plan_spend(
    card: RateCard, cluster_id: int, model_id: int | None, units: float, seconds: float | None, at: datetime
) -> Plan:
    """units × the rate that applies now × the expected hours (money and GPU-hours)."""
    if seconds is None:  # its length unknown: so is its spend (but CPU work uses no GPU-hours)
        return Plan(None, "", None if model_id is not None else Decimal(0))
    hours = Decimal(str(seconds)) / SECONDS_PER_HOUR
    count = Decimal(str(units))
    rate = card.rate(cluster_id, model_id, at)
    gpu_hours = count * hours if model_id is not None else Decimal(0)  # (an unknown GPU model counts too)
    if rate is None:
        return Plan(None, "", gpu_hours)
    return Plan((count * rate.rate * hours).quantize(CENT), rate.currency, gpu_hours)


# --- the current rate of running work, the forecast and the burn-down ----------------------------


def running_rates(team_ids: set[int], at: datetime, card: RateCard | None = None) -> dict[int, dict[str, Any]]:
    """Per team: what its running work costs per hour now ({currency: Decimal}) and its GPUs."""
    if not team_ids:
        return {}
    card = card or RateCard.load()
    names = ModelNames()
    out: dict[int, dict[str, Any]] = defaultdict(lambda: {"money": defaultdict(Decimal), "gpus": Decimal(0)})
    for row in Attempt.objects.filter(
        started_at__isnull=False, finished_at__isnull=True, usage_closed=False, job__team_id__in=team_ids
    ).values(
        "job__team_id",
        "job__cluster_id",
        "job__gpus",
        "job__cpus",
        "job__pool__accelerator_model_id",
        "job__accelerator_model",
    ):
        gpus = Decimal(str(row["job__gpus"] or 0))
        model_id = names.price_key(gpus, row["job__pool__accelerator_model_id"], row["job__accelerator_model"])
        count = gpus if gpus > 0 else Decimal(str(row["job__cpus"] or 0))
        team = out[row["job__team_id"]]
        team["gpus"] += gpus
        rate = card.rate(row["job__cluster_id"], model_id, at)
        if rate is not None:
            team["money"][rate.currency] += count * rate.rate
    return out


def forecast(standing: Standing, rates: dict[int, dict[str, Any]], at: datetime) -> Decimal:
    """Spend so far plus what the running work adds at its current rates to the period's end."""
    hours = max(Decimal((standing.period_end - at).total_seconds()) / SECONDS_PER_HOUR, Decimal(0))
    budget = standing.budget
    per_hour = Decimal(0)
    for team_id in standing.team_ids:
        team = rates.get(team_id)
        if team is None:
            continue
        per_hour += team["money"].get(budget.currency, Decimal(0)) if budget.unit == BudgetUnit.MONEY else team["gpus"]
    return (standing.spent + per_hour * hours).quantize(CENT)


def status_of(standing: Standing) -> str:
    budget = standing.budget
    if standing.spent >= budget.amount:
        return "hard"
    if budget.soft_percent and standing.spent >= budget.amount * budget.soft_percent / 100:
        return "soft"
    return "ok"


def burn(standing: Standing, rates: dict[int, dict[str, Any]], at: datetime) -> dict[str, Any]:
    """Spend per day of the period, cumulative, and the forecast line to its end."""
    budget = standing.budget
    query = UsageRecord.objects.filter(
        team_id__in=standing.team_ids, start__gte=standing.period_start, start__lt=standing.period_end
    )
    if budget.unit == BudgetUnit.MONEY:
        query = query.filter(currency=budget.currency)
        value = Sum("amount")
    else:
        query = query.filter(resource=Resource.GPU)
        value = Sum("quantity")
    per_day = dict(
        query.annotate(day=TruncDate("start", tzinfo=UTC))
        .values("day")
        .annotate(v=value)
        .order_by()
        .values_list("day", "v")
    )
    days: list[dict[str, str]] = []
    total = Decimal(0)
    day = standing.period_start.date()
    last = min(at, standing.period_end - timedelta(microseconds=1)).date()
    while day <= last:
        spent = per_day.get(day, Decimal(0))
        if budget.unit == BudgetUnit.GPU_HOURS:
            spent = spent / SECONDS_PER_HOUR
        total += spent
        days.append(
            {"day": day.isoformat(), "spent": str(spent.quantize(CENT)), "cumulative": str(total.quantize(CENT))}
        )
        day += timedelta(days=1)
    end_day = (standing.period_end - timedelta(days=1)).date()
    return {
        "days": days,
        "forecast": [
            {"day": last.isoformat(), "cumulative": str(total.quantize(CENT))},
            {"day": end_day.isoformat(), "cumulative": str(forecast(standing, rates, at))},
        ],
    }


def describe(budgets: list[Budget], at: datetime) -> dict[int, dict[str, Any]]:
    """Budget id → where it stands at ``at`` (period, spent, remaining, forecast, status, this
    period's alerts), for the budgets in force: a fixed number of queries for any number."""
    found = standings(at, budgets)
    teams: set[int] = set().union(*(s.team_ids for s in found)) if found else set()
    rates = running_rates(teams, at, RateCard.load()) if teams else {}
    alerts: dict[tuple[int, datetime], list[BudgetAlert]] = defaultdict(list)
    for alert in BudgetAlert.objects.filter(budget__in=[s.budget for s in found]).order_by("created_at"):
        alerts[(alert.budget_id, alert.period_start)].append(alert)
    return {
        s.budget.pk: {
            "period_start": s.period_start,
            "period_end": s.period_end,
            "spent": str(s.spent.quantize(CENT)),
            "remaining": str(s.remaining.quantize(CENT)),
            "forecast": str(forecast(s, rates, at)),
            "status": status_of(s),
            "alerts": alerts.get((s.budget.pk, s.period_start), []),
            "standing": s,
            "rates": rates,
        }
        for s in found
    }


# --- alerts -------------------------------------------------------------------------------------


def evaluate(at: datetime | None = None) -> list[BudgetAlert]:
    """Raise the alerts of every budget that crossed a limit in its period (once per crossing:
    a unique row per budget, period and level); stop running work where a budget says so."""
    at = at or timezone.now()
    raised: list[BudgetAlert] = []
    for standing in standings(at):
        budget = standing.budget
        levels: list[tuple[str, Decimal]] = []
        if budget.soft_percent:
            levels.append((AlertLevel.SOFT, (budget.amount * budget.soft_percent / 100).quantize(CENT)))
        if budget.hard:
            levels.append((AlertLevel.HARD, budget.amount))
        for level, limit in levels:
            if standing.spent < limit:
                continue
            alert = _raise(standing, level, limit)
            if alert is not None:
                raised.append(alert)
                if level == AlertLevel.HARD and budget.on_hard_limit == OnHardLimit.STOP:
                    _stop_running(standing)
    return raised


def _raise(standing: Standing, level: str, limit: Decimal) -> BudgetAlert | None:
    budget = standing.budget
    unit = unit_text(budget)
    if level == AlertLevel.SOFT:
        message = (
            f"{standing.scope} has spent {money(standing.spent)} of its {money(budget.amount)} {unit} "
            f"{describe_period(budget)} budget ({budget.name}): past its soft limit of {budget.soft_percent} %."
        )
    else:
        stop = " Running work is being stopped." if budget.on_hard_limit == OnHardLimit.STOP else ""
        message = (
            f"{standing.scope} has reached its {money(budget.amount)} {unit} {describe_period(budget)} budget "
            f"({budget.name}): {money(standing.spent)} spent; new work waits.{stop}"
        )
    try:
        with transaction.atomic():
            alert = BudgetAlert.objects.create(
                budget=budget,
                period_start=standing.period_start,
                level=level,
                spent=standing.spent.quantize(Decimal("0.0001")),
                limit=limit,
                message=message,
            )
    except IntegrityError:
        return None  # raised already this period
    audit.record(f"costs.budget_{level}", budget, actor=None, spent=str(standing.spent.quantize(CENT)))
    log.warning("costs.budget_crossed", budget=budget.pk, level=level, spent=str(standing.spent.quantize(CENT)))
    if budget.webhook_url:
        enqueue_on_commit("costs.deliver_alert", alert.pk)
    return alert


def _stop_running(standing: Standing) -> None:
    reason = f"Stopped: {standing.scope} reached its budget {standing.budget.name} (on_hard_limit: stop)."
    for job in Job.objects.filter(team_id__in=standing.team_ids, state__in=HOLDING_STATES):
        try:
            cancel_job(actor=None, job=job, reason=reason)
        except Exception as exc:  # a job that finished meanwhile: nothing to stop
            log.info("costs.budget_stop_skipped", job=job.pk, error=str(exc))


WEBHOOK_TIMEOUT_SECONDS = 5.0


def deliver(alert_id: int) -> str:
    """POST the alert to its budget's webhook (JSON, one try per delivery, a 5 s deadline)."""
    alert = (
        BudgetAlert.objects.select_related("budget", "budget__team", "budget__organisation").filter(pk=alert_id).first()
    )
    if alert is None or not alert.budget.webhook_url or alert.webhook == "sent":
        return "nothing to send"
    budget = alert.budget
    body = json.dumps(
        {
            "event": f"budget.{alert.level}",
            "budget": {"id": budget.pk, "name": budget.name, "unit": budget.unit, "amount": str(budget.amount)},
            "team": budget.team.slug if budget.team is not None else None,
            "organisation": budget.organisation.slug if budget.organisation is not None else None,
            "currency": budget.currency if budget.unit == BudgetUnit.MONEY else None,
            "spent": str(alert.spent),
            "limit": str(alert.limit),
            "period_start": alert.period_start.isoformat(),
            "message": alert.message,
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - the operator's configured URL, http(s) only (validated)
        budget.webhook_url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as answer:  # noqa: S310
            outcome = "sent" if 200 <= answer.status < 300 else f"failed: HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        outcome = f"failed: HTTP {exc.code}"
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        outcome = f"failed: {getattr(exc, 'reason', exc)}"[:300]
    BudgetAlert.objects.filter(pk=alert.pk).update(webhook=outcome)
    return outcome
