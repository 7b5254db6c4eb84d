"""Thin Celery entry points for inventory: ids in, discovery does the work."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.contrib.auth.models import User

from apps.core.logging import get_logger
from apps.core.tasks import any_of, paddock_task
from apps.dispatch.port import BackendError
from apps.inventory import discovery, services
from apps.inventory.models import Cluster
from apps.inventory.reports import SyncResult

log = get_logger("paddock.inventory")


@paddock_task("inventory.discover", changed=any_of("failed"))
def discover() -> dict[str, int]:
    """Every PADDOCK_DISCOVERY_INTERVAL seconds (beat): one discovery task per Ray cluster.

    One task each, so a cluster that is slow to answer (up to the backend's timeouts) or
    fails holds up none of the others.
    """
    queued = failed = 0
    for cluster_id in Cluster.objects.filter(kind__in=discovery.DISCOVERABLE_KINDS).values_list("pk", flat=True):
        try:
            discover_cluster.delay(cluster_id)
        except Exception as exc:  # only in-process (eager) runs raise the cluster's own errors here
            failed += 1
            log.warning("inventory.discovery_failed", cluster_id=cluster_id, error=str(exc))
        else:
            queued += 1
    return {"queued": queued, "failed": failed}


# What a discovery wrote (a pass that wrote nothing logs at DEBUG).
DISCOVERY_COUNTS = tuple(field.name for field in dataclasses.fields(SyncResult))


@paddock_task("inventory.discover_cluster", changed=any_of(*DISCOVERY_COUNTS))
def discover_cluster(cluster_id: int, actor_id: int | None = None) -> dict[str, Any]:
    """One cluster's discovery; ``actor_id``: the operator who asked for it now (audited, and
    the cluster is asked even while its breaker is open)."""
    cluster = Cluster.objects.filter(pk=cluster_id).first()
    if cluster is None or cluster.kind not in discovery.DISCOVERABLE_KINDS:
        return {"skipped": True}
    actor = User.objects.filter(pk=actor_id).first() if actor_id is not None else None
    result = discovery.discover_cluster(cluster, actor=actor)
    return {"state": cluster.state, **dataclasses.asdict(result)}


# About 40 minutes of trying (5 s doubling to 5 min) before the node is marked failed.
SYNC_NODE_RETRIES = 10


@paddock_task(services.SYNC_NODE_TASK, bind=True, max_retries=SYNC_NODE_RETRIES)
def sync_node_schedulable(self, node_id: int) -> str:  # type: ignore[no-untyped-def]
    """Tell the node's Kubernetes cluster the cordon Paddock set (after the change committed)."""
    try:
        return services.sync_node_schedulable(node_id)
    except BackendError as exc:  # the cluster did not answer: again later, then give up and say so
        if self.request.retries >= SYNC_NODE_RETRIES:
            services.record_node_sync_failed(node_id, exc.message)
            return "gave up"
        raise self.retry(exc=exc, countdown=min(5 * 2**self.request.retries, 300)) from exc
