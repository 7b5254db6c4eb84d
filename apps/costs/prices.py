"""Which price the planner uses for each accelerator model on a given day."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import F, Max, Window
from django.utils import timezone

from apps.costs.choices import PRICING_CLASS_PREFERENCE
from apps.costs.models import PricePoint

_CLASS_RANK = {pricing_class: rank for rank, pricing_class in enumerate(PRICING_CLASS_PREFERENCE)}


def preference(point: PricePoint) -> tuple[int, Decimal, int]:
    """Sort key among points of one model and one date: the preferred class, then the lowest
    price, then the oldest row (so that the choice is the same on every call)."""
    return (_CLASS_RANK.get(point.pricing_class, len(_CLASS_RANK)), point.price_per_gpu_hour, point.pk)


def current_prices(at: date | None = None, *, currency: str = "USD") -> dict[int, PricePoint]:
    """Accelerator model id → the price point to plan with on day ``at`` (today, UTC, if None).

    The rule, per accelerator model:

    1. only points dated on or before ``at`` count (a price announced for later is not yet one);
    2. of those, only the latest ``as_of`` counts, whatever its pricing class: a newer quote
       supersedes an older one, even of another class;
    3. when several points share that date, the pricing class decides, in the order
       on_demand > reserved > capacity_block > spot (what anyone can buy now first, what can
       be taken away last); then the lowest price; then the oldest row.

    Only points in ``currency`` are compared (a price list is not converted); a model with
    no such point dated by ``at`` is absent from the result. One query for all models; each
    point comes with its ``accelerator_model`` loaded.
    """
    day = at if at is not None else timezone.now().date()
    latest_day = Window(Max("as_of"), partition_by=[F("accelerator_model_id")])
    candidates = (
        PricePoint.objects.filter(as_of__lte=day, currency=currency)
        .select_related("accelerator_model")
        .annotate(latest_day=latest_day)
        .filter(as_of=F("latest_day"))
        .order_by()
    )
    chosen: dict[int, PricePoint] = {}
    for point in candidates:
        best = chosen.get(point.accelerator_model_id)
        if best is None or preference(point) < preference(best):
            chosen[point.accelerator_model_id] = point
    return chosen
