"""Thin Celery entry points for admission: one scheduler pass; pending jobs' estimated starts."""

from __future__ import annotations

import contextlib
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache

from apps.admission import eta, kueue_sync, scheduler
from apps.admission.kueue import KueueExportError
from apps.core.logging import get_logger
from apps.core.tasks import SCHEDULE_QUEUED, any_of, never, paddock_task, started, try_enqueue
from apps.dispatch.port import BackendError
from apps.inventory.models import Cluster

ESTIMATE_THROTTLE = "admission.estimate.throttle"
KUEUE_ATTEMPTS = 6  # the first and five retries, 15 s to 4 min apart
KUEUE_RETRY_BASE_S = 15.0

log = get_logger("paddock.admission")


@paddock_task("admission.schedule", changed=bool)
def schedule() -> int:
    started(SCHEDULE_QUEUED)  # submissions from now on ask for the next pass
    admitted = scheduler.admit_pending()
    request_estimates()
    return admitted


@paddock_task("admission.estimate", changed=never)
def estimate() -> int:
    return eta.estimate_pending()


def request_estimates() -> bool:
    """Ask for fresh estimates after a pass has committed, at most once per
    ``PADDOCK_ESTIMATE_INTERVAL`` seconds (the key expires, it is never cleared): the estimate
    replays the scheduler many times, so it runs apart from the pass and never delays one.
    True when one was queued."""
    interval = float(settings.PADDOCK_ESTIMATE_INTERVAL)
    if interval <= 0:
        return False
    try:
        claimed = cache.add(ESTIMATE_THROTTLE, "queued", timeout=interval)
    except Exception:  # no shared cache: the next pass asks again
        return False
    if not claimed:
        return False
    if try_enqueue("admission.estimate"):
        return True
    with contextlib.suppress(Exception):
        cache.delete(ESTIMATE_THROTTLE)
    return False


@paddock_task(kueue_sync.SYNC_TASK, changed=any_of("created", "updated", "deleted", "refused", "retrying", "failed"))
def sync_kueue(cluster_id: int, attempt: int = 0, actor_id: int | None = None) -> dict[str, Any]:
    """Apply one cluster's Kueue objects. A cluster that did not answer is asked again later
    (backing off); one that refused, or inputs Kueue cannot express, are recorded as failed."""
    if attempt == 0 and actor_id is None:
        started(kueue_sync.queued_key(cluster_id))  # changes from now on queue the next sync
    cluster = Cluster.objects.filter(pk=cluster_id).first()
    if cluster is None or not kueue_sync.kueue_enabled(cluster):
        return {"skipped": True}
    actor = User.objects.filter(pk=actor_id).first() if actor_id is not None else None
    try:
        result = kueue_sync.sync_kueue(cluster, actor=actor)
    except BackendError as exc:
        if exc.retryable and attempt + 1 < KUEUE_ATTEMPTS:
            delay = KUEUE_RETRY_BASE_S * 2**attempt
            log.info("admission.kueue_retry", cluster=cluster.name, attempt=attempt + 1, seconds=delay)
            if try_enqueue(kueue_sync.SYNC_TASK, cluster_id, attempt + 1, actor_id, countdown=delay):
                return {"retrying": attempt + 1, "error": exc.message}
        kueue_sync.record_failure(cluster, exc, actor=actor)
        return {"failed": exc.message}
    except KueueExportError as exc:
        kueue_sync.record_failure(cluster, exc, actor=actor)
        return {"failed": str(exc)}
    return {
        "created": len(result.created),
        "updated": len(result.updated),
        "deleted": len(result.deleted),
        "refused": len(result.refused),
        "unchanged": len(result.unchanged),
    }


@paddock_task("admission.sync_kueue_all", changed=never)
def sync_kueue_all() -> int:
    """Every PADDOCK_KUEUE_SYNC_INTERVAL seconds (beat): a sync of every Kueue cluster, for
    what no signal told of (bulk updates, a lost message, a cluster back from an outage)."""
    return len(kueue_sync.request_sync())
