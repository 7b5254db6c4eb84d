"""Thin Celery entry points for serving: ids in, the reconciler and services do the work."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import cache

from apps.core.tasks import any_of, never, paddock_task, started
from apps.serving import reconcile, sampling, services
from apps.serving.models import Endpoint

LOCK = "serving.reconcile.lock:{}"


@paddock_task("serving.reconcile", changed=any_of("written", "db_writes", "error"))
def reconcile_cluster(cluster_id: int) -> dict[str, object]:
    """One pass for one cluster, one at a time per cluster; a pass that leaves work in flight
    (deploying, rolling out, draining) asks for the next one shortly."""
    started(services.RECONCILE_QUEUED.format(cluster_id))
    token = uuid.uuid4().hex
    key = LOCK.format(cluster_id)
    if not cache.add(key, token, timeout=120):
        services.request_reconcile(cluster_id, countdown=float(settings.PADDOCK_SERVING_FOLLOW_UP))
        return {"skipped": "another pass is running"}
    try:
        run = reconcile.reconcile_cluster(cluster_id)
    finally:
        if cache.get(key) == token:
            cache.delete(key)
    if run.follow_up:
        services.request_reconcile(cluster_id, countdown=float(settings.PADDOCK_SERVING_FOLLOW_UP))
    return run.as_dict()


@paddock_task("serving.reconcile_all", changed=never)
def reconcile_all() -> int:
    """The periodic pass: every cluster that has endpoints (catches what changed behind Paddock's back)."""
    clusters = list(Endpoint.objects.values_list("cluster_id", flat=True).distinct().order_by())
    for cluster_id in clusters:
        services.request_reconcile(cluster_id)
    return len(clusters)


@paddock_task("serving.sample", changed=never)
def sample() -> int:
    return sampling.sample_all()
