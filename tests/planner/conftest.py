"""A planner catalog built from the seed data alone (no database), as the migrations load it."""

from __future__ import annotations

from typing import Any

import pytest

from apps.planner.estimator import Catalog, catalog_pools, estimate_all, parse_spec
from apps.planner.estimator.estimate import evaluate
from apps.planner.services import builtin_catalog


def build_catalog() -> Catalog:
    """The seed catalog and prices, as a fresh database holds them (the service's own fallback)."""
    return builtin_catalog()


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
