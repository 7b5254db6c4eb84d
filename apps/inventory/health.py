"""Readiness: each cluster as the control loops last found it (never called from here).

Reconcile, discovery and admission record whether each cluster answered
(``Cluster.state``, ``last_seen_at``); this reads those rows in one query. Clusters are
reported, not fatal: the control plane still works while a cluster is away.
"""

from __future__ import annotations

from apps.core.health import CheckResult
from apps.inventory.choices import ClusterState


def clusters_answering() -> list[CheckResult]:
    from apps.inventory.models import Cluster

    items = []
    for name, state, message, seen, organisation_id in Cluster.objects.order_by("name").values_list(
        "name", "state", "state_message", "last_seen_at", "organisation_id"
    ):
        items.append(
            {
                "name": name,
                "ok": state != ClusterState.UNREACHABLE,
                "state": state,
                "detail": message,
                "last_seen_at": seen.isoformat() if seen else None,
                "organisation_id": organisation_id,
            }
        )
    silent = sum(1 for item in items if not item["ok"])
    summary = f"{len(items) - silent} of {len(items)} clusters answering" if items else "no clusters registered"
    return [CheckResult("clusters", silent == 0, summary, critical=False, public=summary, items=tuple(items))]
