"""The planner against the real inventory: the catalog, prices and pools come from the database.

The arithmetic lives in :mod:`apps.planner.estimator` (pure Python); this module only reads
the catalog rows, the current price points and the GPUs the inventory holds, and hands them
over. The API, ``manage.py plan`` and job submission all call :func:`plan` /
:func:`check_fit`, so the three give the same answer.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Count, Min
from django.utils import timezone

from apps.costs.choices import PRICING_CLASS_PREFERENCE
from apps.costs.price_seed import PRICE_POINTS, PriceSeedRow
from apps.costs.prices import current_prices
from apps.inventory.catalog_seed import ACCELERATORS
from apps.inventory.choices import NodeState
from apps.inventory.models import Accelerator, AcceleratorModel
from apps.planner.estimator import (
    AcceleratorSpec,
    Catalog,
    Pool,
    Price,
    SpecError,
    catalog_pools,
    estimate,
    estimate_all,
    parse_spec,
)
from apps.planner.estimator.estimate import evaluate, explain
from apps.planner.estimator.hardware import merge_pools


def load_catalog() -> Catalog:
    """Every catalog accelerator with its current price and the memory its GPUs really report."""
    prices = current_prices()
    measured = dict(
        Accelerator.objects.filter(model__isnull=False, memory_total_mib__isnull=False)
        .values_list("model_id")
        .annotate(smallest=Min("memory_total_mib"))
    )
    specs: list[AcceleratorSpec] = []
    for row in AcceleratorModel.objects.order_by("name"):
        point = prices.get(row.pk)
        aliases = tuple(name for name in [*row.match_names, row.ray_accelerator_type] if name)
        specs.append(
            AcceleratorSpec(
                name=row.name,
                memory_gb=row.memory_gb,
                memory_bandwidth_gbps=row.memory_bandwidth_gbps,
                bf16_tflops=row.bf16_tflops,
                fp16_tflops=row.fp16_tflops,
                fp8_tflops=row.fp8_tflops,
                fp32_tflops=row.fp32_tflops,
                mamf_bf16_tflops=row.mamf_bf16_tflops,
                supports_bf16=row.supports_bf16,
                supports_fp8=row.supports_fp8,
                nvlink_domain_size=row.nvlink_domain_size,
                aliases=aliases,
                price=(
                    Price(
                        per_gpu_hour=point.price_per_gpu_hour,
                        currency=point.currency,
                        pricing_class=point.pricing_class,
                        offer=point.offer,
                        as_of=point.as_of,
                        source_url=point.source_url,
                    )
                    if point is not None
                    else None
                ),
                measured_memory_bytes=measured[row.pk] * 2**20 if measured.get(row.pk) else None,
            )
        )
    return Catalog(specs)


def inventory_pools(catalog: Catalog, organisation_ids: Iterable[int] | None = None) -> list[Pool]:
    """One pool per cluster × accelerator model, counting GPUs on nodes that are not down."""
    rows = (
        Accelerator.objects.filter(model__isnull=False)
        .exclude(node__state=NodeState.DOWN)
        .values("node__cluster__name", "model__name", "node_id")
        .annotate(gpus=Count("id"))
        .order_by()
    )
    if organisation_ids is not None:
        rows = rows.filter(node__cluster__organisation_id__in=list(organisation_ids))
    totals: dict[tuple[str, str], int] = defaultdict(int)
    widest: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        key = (row["node__cluster__name"], row["model__name"])
        totals[key] += row["gpus"]
        widest[key] = max(widest[key], row["gpus"])
    pools = []
    for (cluster, model), total in totals.items():
        spec = catalog.find(model)
        if spec is None:
            continue
        pools.append(
            Pool(
                name=f"{cluster}/{model}",
                accelerator=spec,
                gpus_per_node=widest[(cluster, model)],
                total_gpus=total,
                cluster=cluster,
            )
        )
    return merge_pools(pools)


def pools_for(catalog: Catalog, organisation_ids: Iterable[int] | None = None) -> list[Pool]:
    """The inventory's pools, or every priced catalog accelerator when the inventory has no GPUs."""
    return inventory_pools(catalog, organisation_ids) or catalog_pools(catalog)


def builtin_catalog(at: date | None = None) -> Catalog:
    """The catalog and prices a fresh database starts with — the seed data its migrations
    load — for planning where there is no database yet (``manage.py plan`` on a fresh checkout).
    Prices follow :func:`apps.costs.prices.current_prices`' rule."""
    day = at or timezone.now().date()
    # The measured matmul ceilings live in the migration that loads them (0007).
    mamf: dict[str, float] = importlib.import_module("apps.inventory.migrations.0007_seed_mamf_bf16").MAMF_BF16_TFLOPS
    chosen: dict[str, tuple[tuple[int, int, Decimal, int], PriceSeedRow]] = {}
    for index, point in enumerate(PRICE_POINTS):
        if point["as_of"] > day or point["currency"] != "USD":
            continue
        # Latest date first, then the preferred class, the lowest price, the oldest row.
        rank = PRICING_CLASS_PREFERENCE.index(point["pricing_class"])
        key = (-point["as_of"].toordinal(), rank, point["price_per_gpu_hour"], index)
        name = point["accelerator_model"]
        if name not in chosen or key < chosen[name][0]:
            chosen[name] = (key, point)
    specs = []
    for row in ACCELERATORS:
        best = chosen[row["name"]][1] if row["name"] in chosen else None
        specs.append(
            AcceleratorSpec(
                name=row["name"],
                memory_gb=row["memory_gb"],
                memory_bandwidth_gbps=row["memory_bandwidth_gbps"],
                bf16_tflops=row["bf16_tflops"],
                fp16_tflops=row["fp16_tflops"],
                fp8_tflops=row["fp8_tflops"],
                fp32_tflops=row["fp32_tflops"],
                mamf_bf16_tflops=mamf.get(row["name"]),
                supports_bf16=row["supports_bf16"],
                supports_fp8=row["supports_fp8"],
                nvlink_domain_size=row["nvlink_domain_size"],
                aliases=tuple(name for name in [*row["match_names"], row["ray_accelerator_type"]] if name),
                price=(
                    Price(
                        per_gpu_hour=best["price_per_gpu_hour"],
                        currency=best["currency"],
                        pricing_class=best["pricing_class"],
                        offer=best["offer"],
                        as_of=best["as_of"],
                        source_url=best["source_url"],
                    )
                    if best is not None
                    else None
                ),
            )
        )
    return Catalog(specs)


def plan(data: Any, organisation_ids: Iterable[int] | None = None, *, catalog: Catalog | None = None) -> Any:
    """Answer one spec (an object) or several (a list) with the same shape. Raises SpecError.

    With ``catalog`` given (the built-in one), the database is not read at all.
    """
    if catalog is None:
        catalog = load_catalog()
        pools = pools_for(catalog, organisation_ids)
    else:
        pools = catalog_pools(catalog)
    results = estimate_all(data, catalog, pools)
    return results if isinstance(data, list) else results[0]


@dataclass(frozen=True)
class FitCheck:
    fits: bool
    explanation: str
    alternative: str
    summary: dict[str, Any]


def check_fit(
    *,
    model: Any,
    workload: Any,
    accelerator: str,
    gpus: int,
    organisation_ids: Iterable[int] | None = None,
) -> FitCheck:
    """Would a job of this model and workload fit the GPUs it asks for? Raises SpecError."""
    catalog = load_catalog()
    spec = parse_spec(
        {
            "model": model,
            "workload": workload,
            "hardware": {"accelerator": accelerator, "gpus": gpus},
            "recommendations": 3,
        },
        catalog,
    )
    ev = evaluate(spec)
    summary = {
        "accelerator": spec.hardware.accelerator.name,
        "gpus": gpus,
        "memory_per_gpu_bytes": ev.memory_per_gpu,
        "headroom_bytes": ev.headroom,
        "fits": ev.fits,
        "peak_phase": ev.memory.peak_phase,
        "step_time_s": ev.timing.step_time_s,
        "time_to_train_s": ev.timing.time_to_train_s,
    }
    alternative = ""
    if not ev.fits:
        answer = estimate(replace(spec, recommendations=1), pools_for(catalog, organisation_ids))
        best = answer["recommendations"][0] if answer["recommendations"] else None
        alternative = (
            describe_alternative(best)
            if best
            else ("No configuration of the GPUs in the inventory fits it; reduce the batch, sequence or model size.")
        )
    return FitCheck(fits=ev.fits, explanation=explain(ev), alternative=alternative, summary=summary)


def describe_alternative(row: dict[str, Any]) -> str:
    setup = [f"tp={row['tp']}"]
    if row.get("zero_stage"):
        setup.append(f"ZeRO-{row['zero_stage']}")
    if row.get("activation_checkpointing") and row["activation_checkpointing"] != "none":
        setup.append(f"{row['activation_checkpointing']} activation checkpointing")
    where = f" in pool {row['pool']}" if row.get("in_inventory") else ""
    text = (
        f"Cheapest configuration that fits: {row['gpus']} × {row['accelerator']}{where} ({', '.join(setup)}), "
        f"{row['memory_per_gpu_bytes'] / 2**30:.1f} GiB per GPU"
    )
    if row.get("cost_per_hour") is not None:
        text += f", {row['currency']} {Decimal(row['cost_per_hour']):.2f}/h"
    return text + "."


__all__ = [
    "FitCheck",
    "SpecError",
    "builtin_catalog",
    "check_fit",
    "inventory_pools",
    "load_catalog",
    "plan",
    "pools_for",
]
