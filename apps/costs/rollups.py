"""Sums over the usage ledger: by team, user, job, endpoint, pool, day or month (one or two at
once), per currency (never mixed), for the caller's teams only.

One aggregate query grouped by ids, then one query per labelled dimension for the names of the
rows it returned: the database sums a million lines without joining a name onto each.
Every ledger line lies in one UTC day (accrual cuts at midnight), so day and month sums are
exact sums of whole lines.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from apps.costs.budgets import month_start
from apps.costs.choices import Resource
from apps.costs.models import UsageRecord
from apps.jobs.models import Job
from apps.quotas.models import Pool
from apps.tenancy.models import Team

DIMENSIONS = ("team", "user", "job", "endpoint", "pool", "day", "month")
TIME_DIMENSIONS = {"day", "month"}
_COLUMN = {"team": "team_id", "user": "user_id", "job": "job_id", "endpoint": "endpoint_id", "pool": "pool_id"}
HOUR = Decimal(3600)
CENT = Decimal("0.01")
MILLI = Decimal("0.001")


class QueryError(ValueError):
    """Bad query parameters, by name (the API answers 400 with them)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def parse_instant(text: str, name: str, *, end: bool) -> datetime:
    """A date (a whole UTC day: ``to`` includes it) or an ISO 8601 instant (naive: UTC)."""
    moment = parse_datetime(text) if "T" in text or " " in text else None
    if moment is not None:
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        day = parse_date(text)
    except ValueError:
        day = None
    if day is None:
        raise QueryError({name: [f"Not a date (YYYY-MM-DD) or an ISO 8601 time: {text!r}."]})
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def window(params: dict[str, str], now: datetime | None = None) -> tuple[datetime, datetime]:
    """``from`` and ``to`` (default: this month so far); 400 when ``from`` is after ``to``."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    start = end = None
    try:
        start = parse_instant(params["from"], "from", end=False) if params.get("from") else month_start(now.date())
    except QueryError as exc:
        errors.update(exc.errors)
    try:
        end = parse_instant(params["to"], "to", end=True) if params.get("to") else now
    except QueryError as exc:
        errors.update(exc.errors)
    if errors:
        raise QueryError(errors)
    assert start is not None and end is not None
    if start > end:
        raise QueryError({"from": [f"from ({start:%Y-%m-%d %H:%M}) is after to ({end:%Y-%m-%d %H:%M})."]})
    return start, end


def parse_group_by(text: str | None) -> list[str]:
    names = [part.strip() for part in (text or "team").split(",") if part.strip()]
    unknown = [name for name in names if name not in DIMENSIONS]
    if unknown or not names or len(names) > 2 or len(set(names)) != len(names):
        raise QueryError(
            {"group_by": [f"One or two of {', '.join(DIMENSIONS)}, comma-separated (e.g. team,day); got {text!r}."]}
        )
    return names


@dataclass(frozen=True)
class Summary:
    group_by: list[str]
    start: datetime
    end: datetime
    rows: list[dict[str, Any]]
    totals: list[dict[str, Any]]
    groups: int = 0  # rows before any limit


def ledger(team_ids: Iterable[int], start: datetime, end: datetime) -> QuerySet[UsageRecord]:
    """The caller's lines whose piece starts in [start, end)."""
    return UsageRecord.objects.filter(team_id__in=list(team_ids), start__gte=start, start__lt=end)


def summarise(
    lines: QuerySet[UsageRecord], group_by: list[str], start: datetime, end: datetime, *, limit: int | None = None
) -> Summary:
    keys: list[str] = []
    annotations: dict[str, Any] = {}
    for name in group_by:
        if name == "day":
            annotations["day"] = TruncDate("start", tzinfo=UTC)
            keys.append("day")
        elif name == "month":
            annotations["month"] = TruncMonth("start", tzinfo=UTC)
            keys.append("month")
        else:
            keys.append(_COLUMN[name])
    sums = {
        "amount": Sum("amount"),
        "gpu_seconds": Sum("quantity", filter=Q(resource=Resource.GPU)),
        "cpu_seconds": Sum("quantity", filter=Q(resource=Resource.CPU)),
        "records": Count("id"),
    }
    grouped = lines.annotate(**annotations) if annotations else lines
    every = list(grouped.values(*keys, "currency").annotate(**sums).order_by())
    raw = every
    if limit is not None:  # the top rows; the totals still cover every row
        raw = sorted(every, key=lambda r: r["amount"] or 0, reverse=True)[:limit]
    labels = _labels(group_by, raw)
    rows = [_row(group_by, r, labels) for r in raw]
    time_keys = [name for name in group_by if name in TIME_DIMENSIONS]
    if time_keys:
        rows.sort(key=lambda r: (*(r[k] for k in time_keys), -Decimal(r["amount"])))
    else:
        rows.sort(key=lambda r: (-Decimal(r["amount"]), str(r.get(group_by[0]))))
    totals: dict[str, dict[str, Any]] = {}
    for r in every:
        total = totals.setdefault(
            r["currency"], {"amount": Decimal(0), "gpu": Decimal(0), "cpu": Decimal(0), "records": 0}
        )
        total["amount"] += r["amount"] or 0
        total["gpu"] += r["gpu_seconds"] or 0
        total["cpu"] += r["cpu_seconds"] or 0
        total["records"] += r["records"]
    return Summary(
        group_by=group_by,
        start=start,
        end=end,
        rows=rows,
        totals=[
            {
                "currency": currency,
                "amount": str(t["amount"].quantize(CENT)),
                "gpu_hours": str((t["gpu"] / HOUR).quantize(MILLI)),
                "cpu_hours": str((t["cpu"] / HOUR).quantize(MILLI)),
                "records": t["records"],
            }
            for currency, t in sorted(totals.items())
        ],
        groups=len(every),
    )


def _labels(group_by: list[str], raw: list[dict[str, Any]]) -> dict[str, dict[Any, Any]]:
    """Names for the ids the sums came back with: one query per dimension that has any."""
    labels: dict[str, dict[Any, Any]] = {}
    for name in group_by:
        if name in TIME_DIMENSIONS:
            continue
        ids = {r[_COLUMN[name]] for r in raw if r[_COLUMN[name]] is not None}
        if name == "team":
            labels[name] = dict(Team.objects.filter(pk__in=ids).values_list("id", "slug"))
        elif name == "user":
            labels[name] = dict(User.objects.filter(pk__in=ids).values_list("id", "username"))
        elif name == "job":
            labels[name] = dict(Job.objects.filter(pk__in=ids).values_list("id", "name"))
        elif name == "pool":
            labels[name] = dict(Pool.objects.filter(pk__in=ids).values_list("id", "name"))
        elif name == "endpoint":
            # The ledger keeps the endpoint's name on each line (serving builds on costs).
            labels[name] = dict(
                UsageRecord.objects.filter(endpoint_id__in=ids)
                .values("endpoint_id")
                .annotate(name=Max("endpoint_name"))
                .order_by()
                .values_list("endpoint_id", "name")
            )
    return labels


def _row(group_by: list[str], r: dict[str, Any], labels: dict[str, dict[Any, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name in group_by:
        if name == "day":
            row["day"] = r["day"].isoformat() if isinstance(r["day"], date) else str(r["day"])
        elif name == "month":
            row["month"] = f"{r['month']:%Y-%m}" if r["month"] is not None else ""
        elif name == "team":
            row["team"] = labels["team"].get(r["team_id"], "")
        elif name == "user":
            row["user"] = labels["user"].get(r["user_id"], "")
        elif name == "job":
            row["job"] = r["job_id"]
            row["job_name"] = labels["job"].get(r["job_id"], "")
        elif name == "pool":
            row["pool"] = r["pool_id"]
            row["pool_name"] = labels["pool"].get(r["pool_id"], "")
        elif name == "endpoint":
            row["endpoint"] = r["endpoint_id"]
            row["endpoint_name"] = labels["endpoint"].get(r["endpoint_id"], "")
    row.update(
        {
            "currency": r["currency"],
            "amount": str((r["amount"] or Decimal(0)).quantize(CENT)),
            "gpu_hours": str(((r["gpu_seconds"] or Decimal(0)) / HOUR).quantize(MILLI)),
            "cpu_hours": str(((r["cpu_seconds"] or Decimal(0)) / HOUR).quantize(MILLI)),
            "records": r["records"],
        }
    )
    return row


def csv_lines(header: list[str], rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV text, line by line (a streaming response's body)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        yield buffer.getvalue()


def summary_header(group_by: list[str]) -> list[str]:
    header: list[str] = []
    for name in group_by:
        header.append(name)
        if name in {"job", "pool", "endpoint"}:
            header.append(f"{name}_name")
    return [*header, "currency", "amount", "gpu_hours", "cpu_hours", "records"]
