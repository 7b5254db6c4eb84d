"""The usage ledger's writer: every started attempt is charged for the time it held what it
asked for, line by line, with no gap and no double count whatever restarts in between.

Each attempt carries a cursor (``usage_until``): the ledger holds its usage from its start up to
there. A pass, under one lock, reads the open attempts (started, not yet closed: a partial
index), prices each one's time from its cursor to now (or to its end) in pieces
(:mod:`apps.costs.rates`), appends the lines, moves the cursors and adds the sums to the jobs'
totals — all in one transaction, so a pass killed anywhere leaves the ledger and the cursors
as they were, and the next pass continues where the last committed one stopped. The database
refuses a second line for the same attempt and instant (a unique constraint) should anything
ever race.

An attempt whose end turns out earlier than the time already charged (its cluster reported
the end late) gets a correction line for the difference: the ledger is append-only, so it is
put right by a negative line, never by an edit. Queries per pass are constant in the number of
attempts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.bulk import copy_insert
from apps.core.locks import try_transaction_lock
from apps.core.logging import get_logger
from apps.costs.choices import RecordKind, Resource
from apps.costs.models import AccrualRun, UsageRecord
from apps.costs.rates import UNKNOWN_GPU, RateCard, amount_of, quantity_of
from apps.costs.signals import usage_subjects
from apps.inventory.models import AcceleratorModel
from apps.jobs.choices import AttemptState, JobKind
from apps.jobs.models import Attempt
from apps.jobs.services import UsageProgress, record_usage_progress

log = get_logger("costs.accrual")
LOCK = "costs.accrual"
FINAL_ATTEMPT_STATES = {AttemptState.SUCCEEDED, AttemptState.FAILED, AttemptState.STOPPED, AttemptState.LOST}

ATTEMPT_SHAPE = (
    "id",
    "state",
    "started_at",
    "finished_at",
    "usage_until",
    "job_id",
    "job__team_id",
    "job__submitted_by_id",
    "job__cluster_id",
    "job__pool_id",
    "job__pool__accelerator_model_id",
    "job__accelerator_model",
    "job__gpus",
    "job__cpus",
    "job__kind",
)


@dataclass(frozen=True)
class AccrualResult:
    attempts: int
    records: int
    ran: bool = True


class ModelNames:
    """A job's accelerator model by the name it gave (catalog name or Ray's accelerator type)."""

    def __init__(self) -> None:
        self._by_name: dict[str, int] | None = None

    def price_key(self, gpus: float | Decimal, pool_model_id: int | None, name: str) -> int | None:
        """What prices a job's hardware: None for CPU work (CPU prices), else its GPU model — its
        pool's, or the one it names — or UNKNOWN_GPU when the catalog does not know it (unpriced,
        never at a CPU price)."""
        if not gpus or gpus <= 0:
            return None
        return pool_model_id or self.resolve(name) or UNKNOWN_GPU

    def resolve(self, name: str) -> int | None:
        if self._by_name is None:
            self._by_name = {}
            for pk, model_name, ray_type in AcceleratorModel.objects.values_list("id", "name", "ray_accelerator_type"):
                self._by_name[model_name.lower()] = pk
                if ray_type:
                    self._by_name.setdefault(ray_type.lower(), pk)
        return self._by_name.get(name.lower()) if name else None


def accrue(now: datetime | None = None) -> AccrualResult:
    """One pass; does nothing (``ran=False``) when another pass holds the lock."""
    started = time.perf_counter()
    with transaction.atomic():
        if not try_transaction_lock(LOCK):
            return AccrualResult(0, 0, ran=False)
        now = now or timezone.now()
        rows = list(
            Attempt.objects.filter(started_at__isnull=False, usage_closed=False)
            .filter(Q(usage_until__isnull=True) | Q(usage_until__lt=now) | Q(finished_at__isnull=False))
            .values(*ATTEMPT_SHAPE)
        )
        if not rows:
            return AccrualResult(0, 0)
        card = RateCard.load()
        names = ModelNames()
        deployments = [row["job_id"] for row in rows if row["job__kind"] == JobKind.DEPLOYMENT]
        subjects: dict[int, tuple[int, str, int | None]] = {}
        if deployments:
            for _, answer in usage_subjects.send(sender=None, job_ids=deployments):
                if isinstance(answer, dict):
                    subjects.update(answer)
        records: list[dict[str, Any]] = []
        progress: list[UsageProgress] = []
        for row in rows:
            written = _accrue_one(row, now, card, names, subjects.get(row["job_id"]))
            if written is None:
                continue
            lines, item = written
            records.extend(lines)
            progress.append(item)
        copy_insert(UsageRecord, records, now)
        record_usage_progress(progress)
        AccrualRun.objects.create(
            ran_at=now, attempts=len(progress), records=len(records), seconds=time.perf_counter() - started
        )
    if records:
        log.info("costs.accrued", attempts=len(progress), records=len(records))
    return AccrualResult(len(progress), len(records))


def _accrue_one(
    row: dict[str, Any],
    now: datetime,
    card: RateCard,
    names: ModelNames,
    subject: tuple[int, str, int | None] | None,
) -> tuple[list[dict[str, Any]], UsageProgress] | None:
    start: datetime = row["started_at"]
    cursor: datetime = row["usage_until"] or start
    finished: datetime | None = row["finished_at"]
    final = row["state"] in FINAL_ATTEMPT_STATES
    if finished is not None:
        end, closed = max(finished, start), True
    elif final:
        end, closed = cursor, True  # over without an end time: charged up to where it was seen
    else:
        end, closed = now, False
    gpus, cpus = Decimal(str(row["job__gpus"] or 0)), Decimal(str(row["job__cpus"] or 0))
    model_id = names.price_key(row["job__gpus"], row["job__pool__accelerator_model_id"], row["job__accelerator_model"])
    resource, count = (Resource.GPU, gpus) if gpus > 0 else (Resource.CPU, cpus)
    base = {
        "team_id": row["job__team_id"],
        "user_id": row["job__submitted_by_id"],
        "job_id": row["job_id"],
        "attempt_id": row["id"],
        "cluster_id": row["job__cluster_id"],
        "pool_id": row["job__pool_id"],
        "accelerator_model_id": model_id if model_id and model_id != UNKNOWN_GPU else None,
        "resource": resource,
        "count": count,
        "endpoint_id": subject[0] if subject else None,
        "endpoint_name": subject[1] if subject else "",
        "revision_id": subject[2] if subject else None,
    }
    lines: list[dict[str, Any]] = []
    if end > cursor and count > 0:
        lines = _lines(base, card, row["job__cluster_id"], model_id, cursor, end, count, RecordKind.USAGE, 1)
    elif end < cursor and count > 0:
        # It ended before the time already charged: take the difference back.
        lines = _lines(base, card, row["job__cluster_id"], model_id, end, cursor, count, RecordKind.CORRECTION, -1)
    if not lines and end == cursor and not closed:
        return None  # nothing new (the pass ran twice in the same instant)
    amount = sum((line["amount"] for line in lines), Decimal(0))
    quantity = sum((line["quantity"] for line in lines), Decimal(0))
    currency = next((line["currency"] for line in lines if line["currency"]), "")
    return lines, UsageProgress(
        attempt_id=row["id"],
        job_id=row["job_id"],
        until=end,
        closed=closed,
        amount=amount,
        currency=currency,
        gpu_seconds=quantity if resource == Resource.GPU else Decimal(0),
        cpu_seconds=quantity if resource == Resource.CPU else Decimal(0),
    )


def _lines(
    base: dict[str, Any],
    card: RateCard,
    cluster_id: int,
    model_id: int | None,
    start: datetime,
    end: datetime,
    count: Decimal,
    kind: str,
    sign: int,
) -> list[dict[str, Any]]:
    lines = []
    for piece in card.pieces(cluster_id, model_id, start, end):
        rate = piece.rate
        quantity = quantity_of(count, piece.start, piece.end) * sign
        lines.append(
            {
                **base,
                "kind": kind,
                "start": piece.start,
                "end": piece.end,
                "quantity": quantity,
                "price_point_id": rate.price_point_id if rate else None,
                "cpu_price_id": rate.cpu_price_id if rate else None,
                "pricing_class": rate.pricing_class if rate else "",
                "rate": rate.rate if rate else None,
                "currency": rate.currency if rate else "",
                "amount": amount_of(count, rate.rate, piece.start, piece.end) * sign if rate else Decimal(0),
            }
        )
    return lines
