"""Pools come from the inventory: one per cluster × accelerator model it holds, plus its CPUs."""

from __future__ import annotations

import re

from apps.inventory.catalog import Matcher
from apps.inventory.models import Accelerator, Node
from apps.jobs.choices import JobState
from apps.jobs.models import Job
from apps.quotas.models import Pool
from apps.quotas.pools import accepted_pools


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def ensure_pools() -> int:
    """Create the pools the inventory implies and that do not exist yet; returns how many."""
    wanted = set(
        Accelerator.objects.filter(model__isnull=False)
        .values_list("node__cluster_id", "node__cluster__name", "model_id", "model__name")
        .order_by()  # the models' orderings would join the DISTINCT: a row per GPU, per node
        .distinct()
    )
    with_nodes = set(Node.objects.values_list("cluster_id", "cluster__name").order_by().distinct())
    existing = set(Pool.objects.values_list("cluster_id", "accelerator_model_id"))
    new = [
        Pool(name=f"{cluster}-{_slug(model)}"[:63], cluster_id=cluster_id, accelerator_model_id=model_id)
        for cluster_id, cluster, model_id, model in sorted(wanted)
        if (cluster_id, model_id) not in existing
    ]
    new += [
        Pool(name=f"{cluster}-cpu"[:63], cluster_id=cluster_id, accelerator_model_id=None)
        for cluster_id, cluster in sorted(with_nodes)
        if (cluster_id, None) not in existing
    ]
    if new:
        Pool.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def resolve_pools() -> int:
    """Give pending jobs without a pool the pool their cluster now has for them (one lookup per
    distinct cluster and shape, one update per pool)."""
    shapes = list(
        Job.objects.filter(state=JobState.PENDING, pool__isnull=True, cluster__pools__isnull=False)
        .values_list("cluster_id", "gpus", "accelerator_model", "accelerator_models", "min_gpu_memory_gb")
        .order_by()  # the model's ordering would join the DISTINCT: one "shape" per job
        .distinct()
    )
    if not shapes:
        return 0
    pools = list(Pool.objects.filter(cluster_id__in={shape[0] for shape in shapes}).select_related("accelerator_model"))
    matcher = Matcher.load()
    resolved = 0
    for cluster_id, gpus, accelerator, models, min_memory in shapes:
        accepted = accepted_pools(pools, cluster_id, gpus, accelerator, models, min_memory, matcher)
        pool = accepted[0] if accepted else None  # the first choice
        if pool is not None:
            same_shape = Job.objects.filter(
                cluster_id=cluster_id,
                gpus=gpus,
                accelerator_model=accelerator,
                accelerator_models=models,
                min_gpu_memory_gb=min_memory,
            )
            resolved += same_shape.filter(state=JobState.PENDING, pool__isnull=True).update(pool=pool)
    return resolved


def unresolved() -> list[tuple[Job, str]]:
    """Pending jobs of clusters that have pools but none for the job's shape, and why: each can
    never run there as it is (the pools follow the cluster's hardware), so the reason says what
    the cluster lacks and what it has."""
    out: list[tuple[Job, str]] = []
    jobs = list(
        Job.objects.filter(state=JobState.PENDING, pool__isnull=True, cluster__pools__isnull=False)
        .select_related("cluster")
        .distinct()
    )
    pool_names: dict[int, list[str]] = {}
    has_gpus: set[int] = set()
    for cluster_id, name, model_id in Pool.objects.filter(cluster_id__in={job.cluster_id for job in jobs}).values_list(
        "cluster_id", "name", "accelerator_model_id"
    ):
        pool_names.setdefault(cluster_id, []).append(name)
        if model_id is not None:
            has_gpus.add(cluster_id)
    for job in jobs:
        names = ", ".join(sorted(pool_names.get(job.cluster_id, [])))
        cluster = job.cluster.name
        if job.gpus <= 0:
            out.append((job, f"Cannot be scheduled yet: cluster {cluster} has no CPU pool (it has {names})."))
            continue
        if job.cluster_id not in has_gpus:
            lacks = "no GPUs at all"
        elif job.min_gpu_memory_gb is not None:
            lacks = f"no GPUs with {job.min_gpu_memory_gb:g} GB or more"
        elif len(job.accelerator_models) > 1:
            lacks = f"none of {', '.join(job.accelerator_models)}"
        elif not job.accelerator_model:
            lacks = "GPUs of several models and the job names none of them"
        else:
            lacks = f"no {job.accelerator_model} GPUs"
        out.append(
            (
                job,
                f"Cannot run on cluster {cluster}: it has {lacks} (its pools: {names}). "
                "Cancel it and resubmit it for what the cluster has, or to another cluster.",
            )
        )
    return out
