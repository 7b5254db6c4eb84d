"""Which price applies to a piece of usage, and where a run must be cut into pieces.

A GPU-hour of accelerator model M on cluster C at instant t is priced by the first of:

1. a price for cluster C (what this organisation pays there),
2. a price for C's region,
3. a market quote (no cluster, no region),

counting only points valid at t (``valid_from <= t < valid_until``). Within one of those
levels the latest ``valid_from`` wins (a newer price supersedes an older one), then the
pricing class in PRICING_CLASS_PREFERENCE's order, then the lowest price, then the oldest row.
CPU-hours (work with no GPU) follow the same rule over :class:`~apps.costs.models.CpuPrice`.

A run is cut wherever the applicable price may change (every ``valid_from`` and
``valid_until`` inside it) and at every UTC midnight, so each ledger line has one price and
lies in one day: day and month rollups are exact sums of whole lines.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from apps.costs.choices import PRICING_CLASS_PREFERENCE
from apps.costs.models import CpuPrice, PricePoint
from apps.inventory.models import Cluster

HOURS_PER_YEAR = Decimal(8760)  # 365 days; a lifetime in years is written off over this many hours each
MICROSECONDS_PER_HOUR = Decimal(3_600_000_000)
AMOUNT_PLACES = Decimal("1e-10")
UNKNOWN_GPU = -1  # a GPU model the catalog does not know: no price applies (not a CPU price)
_CLASS_RANK = {pricing_class: rank for rank, pricing_class in enumerate(PRICING_CLASS_PREFERENCE)}


@dataclass(frozen=True)
class Rate:
    """The price applied to a piece: per unit-hour, and which row it came from."""

    rate: Decimal
    currency: str
    pricing_class: str
    price_point_id: int | None
    cpu_price_id: int | None
    offer: str


@dataclass(frozen=True)
class Piece:
    start: datetime
    end: datetime
    rate: Rate | None  # None: no price applies (the piece is recorded, unpriced)


def amortised(
    purchase_cost: Decimal,
    gpus_per_server: int,
    lifetime_years: Decimal,
    power_watts: Decimal,
    electricity_price_per_kwh: Decimal,
    pue: Decimal,
) -> Decimal:
    """One GPU-hour of owned hardware: the server's purchase written off evenly over its
    lifetime, plus its power (times the facility's PUE for cooling and losses), shared by its
    GPUs; four decimal places, like every stored price."""
    hours = lifetime_years * HOURS_PER_YEAR
    capital = purchase_cost / hours
    power = power_watts / Decimal(1000) * pue * electricity_price_per_kwh
    return ((capital + power) / Decimal(gpus_per_server)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


def amount_of(count: Decimal, rate: Decimal, start: datetime, end: datetime) -> Decimal:
    """count × rate × hours, from the exact microseconds of the piece."""
    micros = Decimal((end - start) // timedelta(microseconds=1))
    return (count * rate * micros / MICROSECONDS_PER_HOUR).quantize(AMOUNT_PLACES, rounding=ROUND_HALF_EVEN)


def quantity_of(count: Decimal, start: datetime, end: datetime) -> Decimal:
    """count × seconds (GPU-seconds or CPU-seconds), to the microsecond."""
    micros = Decimal((end - start) // timedelta(microseconds=1))
    return (count * micros / Decimal(1_000_000)).quantize(Decimal("0.000001"))


def _key(point: Any) -> tuple[Any, ...]:
    # Latest valid_from first, then the preferred class, the lowest price, the oldest row.
    return (-point.valid_from.timestamp(), _CLASS_RANK.get(point.pricing_class, 99), point.rate, point.pk)


class RateCard:
    """Every price, loaded once (two queries), answering for any cluster, model and instant."""

    def __init__(self, gpu_points: list[PricePoint], cpu_points: list[CpuPrice], regions: dict[int, str]) -> None:
        self.regions = regions
        self._gpu: dict[int, list[PricePoint]] = defaultdict(list)
        for point in gpu_points:
            self._gpu[point.accelerator_model_id].append(point)
        self._cpu = list(cpu_points)

    @classmethod
    def load(cls) -> RateCard:
        return cls(
            list(PricePoint.objects.order_by("id")),
            list(CpuPrice.objects.order_by("id")),
            dict(Cluster.objects.values_list("id", "region")),
        )

    def _candidates(self, cluster_id: int, model_id: int | None) -> list[list[Any]]:
        """The points that may apply to the cluster, most specific level first."""
        points: list[Any] = self._cpu if model_id is None else self._gpu.get(model_id, [])
        region = self.regions.get(cluster_id, "")
        levels: list[list[Any]] = [[], [], []]
        for point in points:
            if point.cluster_id is not None:
                if point.cluster_id == cluster_id:
                    levels[0].append(point)
            elif point.region:
                if region and point.region == region:
                    levels[1].append(point)
            else:
                levels[2].append(point)
        return levels

    def rate(self, cluster_id: int, model_id: int | None, at: datetime) -> Rate | None:
        for level in self._candidates(cluster_id, model_id):
            valid = [p for p in level if p.valid_from <= at and (p.valid_until is None or at < p.valid_until)]
            if valid:
                best = min(valid, key=_key)
                return Rate(
                    rate=best.rate,
                    currency=best.currency,
                    pricing_class=best.pricing_class,
                    price_point_id=best.pk if model_id is not None else None,
                    cpu_price_id=best.pk if model_id is None else None,
                    offer=best.offer,
                )
        return None

    def pieces(self, cluster_id: int, model_id: int | None, start: datetime, end: datetime) -> list[Piece]:
        """[start, end) cut at every instant a price may change and at every UTC midnight."""
        cuts = {start, end}
        for level in self._candidates(cluster_id, model_id):
            for point in level:
                for instant in (point.valid_from, point.valid_until):
                    if instant is not None and start < instant < end:
                        cuts.add(instant)
        day = datetime.combine(start.astimezone(UTC).date(), time.min, tzinfo=UTC) + timedelta(days=1)
        while day < end:
            cuts.add(day)
            day += timedelta(days=1)
        ordered = sorted(cuts)
        pieces: list[Piece] = []
        for left, right in itertools.pairwise(ordered):
            rate = self.rate(cluster_id, model_id, left)
            midnight = left.astimezone(UTC).time() == time.min
            if pieces and pieces[-1].rate == rate and not midnight:
                pieces[-1] = Piece(pieces[-1].start, right, rate)  # same price, same day: one piece
            else:
                pieces.append(Piece(left, right, rate))
        return pieces
