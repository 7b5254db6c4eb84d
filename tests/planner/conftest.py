"""A planner catalog built from the seed data alone (no database), as the migrations load it."""

from __future__ import annotations

from typing import Any

import pytest

from apps.costs.price_seed import PRICE_POINTS
from apps.inventory.catalog_seed import ACCELERATORS
from apps.planner.estimator import AcceleratorSpec, Catalog, Price, catalog_pools, estimate_all, parse_spec
from apps.planner.estimator.estimate import evaluate

MAMF = {
    "A100 40GB SXM": 271.2,
    "A100 80GB SXM": 271.2,
    "H100 SXM": 794.5,
    "H200 SXM": 794.5,
    "B200": 1745,
    "MI300X": 668.4,
}


def _latest_prices() -> dict[str, Price]:
    rank = {"on_demand": 0, "reserved": 1, "capacity_block": 2, "spot": 3}
    best: dict[str, Any] = {}
    for row in PRICE_POINTS:
        key = (-row["as_of"].toordinal(), rank[row["pricing_class"]], row["price_per_gpu_hour"])
        if row["accelerator_model"] not in best or key < best[row["accelerator_model"]][0]:
            best[row["accelerator_model"]] = (key, row)
    return {
        name: Price(per_gpu_hour=row["price_per_gpu_hour"], pricing_class=row["pricing_class"], as_of=row["as_of"])
        for name, (_, row) in best.items()
    }


def build_catalog() -> Catalog:
    prices = _latest_prices()
    return Catalog(
        [
            AcceleratorSpec(
                name=row["name"],
                memory_gb=row["memory_gb"],
                memory_bandwidth_gbps=row["memory_bandwidth_gbps"],
                bf16_tflops=row["bf16_tflops"],
                fp16_tflops=row["fp16_tflops"],
                fp8_tflops=row["fp8_tflops"],
                fp32_tflops=row["fp32_tflops"],
                mamf_bf16_tflops=MAMF.get(row["name"]),
                supports_bf16=row["supports_bf16"],
                supports_fp8=row["supports_fp8"],
                nvlink_domain_size=row["nvlink_domain_size"],
                aliases=tuple(n for n in [*row["match_names"], row["ray_accelerator_type"]] if n),
                price=prices.get(row["name"]),
            )
            for row in ACCELERATORS
        ]
    )


CATALOG = build_catalog()


@pytest.fixture
def planner_catalog() -> Catalog:
    return CATALOG


def plan(spec: dict[str, Any], *, pools: bool = False) -> dict[str, Any]:
    """Estimate one spec against the seed catalog (recommendations only when asked)."""
    if not pools:
        spec = {**spec, "recommendations": 0}
    return estimate_all(spec, CATALOG, catalog_pools(CATALOG) if pools else [])[0]


def evaluation(spec: dict[str, Any]) -> Any:
    return evaluate(parse_spec({**spec, "recommendations": 0}, CATALOG))
