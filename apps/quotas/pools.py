"""Which pools a job of a given shape may count against, first choice first (configuration and
inventory only). A pool is Kueue's flavor: a job that accepts several tries them in this order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from apps.inventory.catalog import Matcher
from apps.quotas.models import Pool


def accepted_pools(
    pools: Iterable[Pool],
    cluster_id: int,
    gpus: float,
    accelerator: str = "",
    accelerator_models: Sequence[str] = (),
    min_gpu_memory_gb: float | None = None,
    matcher: Matcher | None = None,
) -> list[Pool]:
    """The job's pools in the order it accepts them; empty when its cluster has none for it.

    - no GPUs: the cluster's CPU pool;
    - ``accelerator_models``: the pools of those models, in the job's order (models the cluster
      lacks are skipped);
    - ``min_gpu_memory_gb``: every GPU pool of the cluster whose model has at least that much
      memory, the smallest memory first (ties by pool name), so the big GPUs stay free for the
      jobs that need them;
    - else ``accelerator``, or the cluster's only GPU pool when it names none.

    ``pools`` should have ``accelerator_model`` loaded (``select_related``) when
    ``min_gpu_memory_gb`` is given; the caller may pass a loaded ``matcher`` to save a query.
    """
    mine = [pool for pool in pools if pool.cluster_id == cluster_id]
    if gpus <= 0:
        return [pool for pool in mine if not pool.accelerator_model_id][:1]
    gpu_pools = [pool for pool in mine if pool.accelerator_model_id]
    if min_gpu_memory_gb is not None:
        big_enough = [
            pool
            for pool in gpu_pools
            if pool.accelerator_model is not None and pool.accelerator_model.memory_gb >= min_gpu_memory_gb
        ]
        return sorted(big_enough, key=lambda pool: (pool.accelerator_model.memory_gb, pool.name))  # type: ignore[union-attr]
    names = list(accelerator_models) or ([accelerator] if accelerator else [])
    if not names:
        return gpu_pools if len(gpu_pools) == 1 else []
    matcher = matcher or Matcher.load()  # Ray's type ("H100"), the catalog name or a reported name
    by_model = {pool.accelerator_model_id: pool for pool in gpu_pools}
    out: list[Pool] = []
    for name in names:
        model = matcher.match(name)
        pool = by_model.get(model.pk) if model is not None else None
        if pool is not None and pool not in out:
            out.append(pool)
    return out


def pool_for(
    cluster_id: int,
    gpus: float,
    accelerator: str,
    accelerator_models: Sequence[str] = (),
    min_gpu_memory_gb: float | None = None,
) -> Pool | None:
    """The pool a job of this shape counts against first, or None when its cluster has no pools
    (or none for it)."""
    pools = Pool.objects.filter(cluster_id=cluster_id).select_related("accelerator_model")
    found = accepted_pools(pools, cluster_id, gpus, accelerator, accelerator_models, min_gpu_memory_gb)
    return found[0] if found else None
