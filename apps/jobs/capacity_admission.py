"""Admission for clusters without pools: first come, on the free capacity the cluster reports.

A cluster whose inventory Paddock knows gets pools and goes through the quota scheduler
(:mod:`apps.jobs.scheduler`); one Paddock has not discovered yet (no nodes) still runs jobs,
admitted here in priority then submission order on what Ray says is free. Called by the
scheduler inside its pass, under its lock.
"""

from __future__ import annotations

import functools
from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from apps.core.locks import try_transaction_lock
from apps.core.logging import get_logger
from apps.dispatch.port import Capacity, Resources
from apps.inventory.models import Cluster
from apps.inventory.services import refresh_capacity
from apps.jobs.choices import EventKind, JobState
from apps.jobs.models import Attempt, Job
from apps.jobs.services import add_event, enqueue, move_job

log = get_logger("jobs.capacity_admission")
BATCH = 500


def _describe(resources: Resources) -> str:
    parts = [f"{resources.cpus:g} CPU"]
    if resources.gpus:
        parts.append(f"{resources.gpus:g} GPU")
    if resources.memory_bytes:
        parts.append(f"{resources.memory_bytes / 2**30:.3g} GiB")
    return ", ".join(parts)


def set_reason(job: Job, reason: str) -> None:
    """Record why a job waits; an event only when the reason changes (no event storms)."""
    if job.state_reason == reason:
        return
    if Job.objects.filter(pk=job.pk, state=JobState.PENDING).update(state_reason=reason, updated_at=timezone.now()):
        job.state_reason = reason
        add_event(job, EventKind.WAITING, reason)


def admit_by_capacity() -> int:
    """Admit the pool-less pending jobs that fit; returns how many were admitted."""
    pool_less = Job.objects.pending().filter(pool__isnull=True, cluster__pools__isnull=True)
    cluster_ids = list(pool_less.values_list("cluster_id", flat=True).distinct())
    if not cluster_ids:
        return 0
    # Ask each cluster what it has before taking the lock: no network inside a transaction.
    capacities: dict[int, Capacity | None] = {}
    clusters = {c.pk: c for c in Cluster.objects.filter(pk__in=cluster_ids)}
    for cluster_id, cluster in clusters.items():
        capacities[cluster_id] = refresh_capacity(cluster)

    admitted = 0
    with transaction.atomic():
        if not try_transaction_lock("jobs.scheduler"):
            return 0
        in_flight: dict[int, Resources] = defaultdict(Resources)
        # Admitted and dispatching jobs are not yet running on the cluster, so the cluster's
        # own "available" figure does not count them: subtract them here.
        for job in Job.objects.filter(
            state__in=[JobState.ADMITTED, JobState.DISPATCHING], cluster_id__in=cluster_ids, pool__isnull=True
        ):
            in_flight[job.cluster_id] = in_flight[job.cluster_id].plus(job.resources())
        free = {
            cid: capacity.available.minus(in_flight[cid])
            for cid, capacity in capacities.items()
            if capacity is not None
        }
        pending = (
            Job.objects.pending()
            .filter(cluster_id__in=cluster_ids, pool__isnull=True, cluster__pools__isnull=True)
            .order_by("-priority", "created_at", "id")[:BATCH]
        )
        for job in pending:
            cluster = clusters[job.cluster_id]
            capacity = capacities.get(job.cluster_id)
            if capacity is None:
                set_reason(job, f"Waiting: cluster {cluster.name} is unreachable ({cluster.state_message}).")
                continue
            need = job.resources()
            never = need.shortfall(capacity.total)
            if never:
                set_reason(
                    job,
                    f"Cannot run on cluster {cluster.name}: it asks for {', '.join(never)} at most. "
                    "Cancel it and resubmit with fewer resources or to another cluster.",
                )
                continue
            lacking = need.shortfall(free[job.cluster_id])
            if lacking:
                set_reason(job, f"Waiting for free capacity on {cluster.name}: needs {', '.join(lacking)} free now.")
                continue
            attempt = Attempt.objects.create(job=job, number=job.attempts.count() + 1)
            moved = move_job(
                job,
                from_states=[JobState.PENDING],
                to_state=JobState.ADMITTED,
                event=EventKind.ADMITTED,
                attempt=attempt,
                message=f"admitted to {cluster.name} ({_describe(need)})",
                admitted_at=timezone.now(),
                state_reason="",
            )
            if not moved:  # cancelled while we decided
                attempt.delete()
                continue
            free[job.cluster_id] = free[job.cluster_id].minus(need)
            transaction.on_commit(functools.partial(enqueue, "jobs.dispatch_attempt", str(attempt.pk)))
            admitted += 1
    if admitted:
        log.info("jobs.admitted", count=admitted)
    return admitted
