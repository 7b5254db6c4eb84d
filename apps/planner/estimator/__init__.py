"""The capacity planner's arithmetic: pure Python, typed, no Django.

``parse_spec`` validates a JSON spec against a :class:`Catalog`; ``estimate`` answers it;
``estimate_all`` does both for one spec or a list. The Django side (``apps.planner.services``)
only builds the catalog and pools from the inventory.
"""

from apps.planner.estimator.architectures import KNOWN_MODELS, Architecture, known_model
from apps.planner.estimator.estimate import estimate, estimate_all, evaluate, pools_or_catalog, recommend
from apps.planner.estimator.hardware import AcceleratorSpec, Catalog, Pool, Price, catalog_pools
from apps.planner.estimator.spec import PlanSpec, SpecError, parse_spec

__all__ = [
    "KNOWN_MODELS",
    "AcceleratorSpec",
    "Architecture",
    "Catalog",
    "PlanSpec",
    "Pool",
    "Price",
    "SpecError",
    "catalog_pools",
    "estimate",
    "estimate_all",
    "evaluate",
    "known_model",
    "parse_spec",
    "pools_or_catalog",
    "recommend",
]
