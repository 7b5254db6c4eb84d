"""Which pool a job of a given shape counts against (configuration and inventory only)."""

from __future__ import annotations

from apps.inventory.catalog import Matcher
from apps.quotas.models import Pool


def pool_for(cluster_id: int, gpus: float, accelerator: str) -> Pool | None:
    """The pool a job of this shape counts against, or None when its cluster has no pools."""
    pools = list(Pool.objects.filter(cluster_id=cluster_id))
    if gpus <= 0:
        return next((pool for pool in pools if not pool.accelerator_model_id), None)
    gpu_pools = [pool for pool in pools if pool.accelerator_model_id]
    if not accelerator:
        return gpu_pools[0] if len(gpu_pools) == 1 else None
    model = Matcher.load().match(accelerator)  # Ray's type ("H100"), the catalog name or a reported name
    return next((pool for pool in gpu_pools if model is not None and pool.accelerator_model_id == model.pk), None)
