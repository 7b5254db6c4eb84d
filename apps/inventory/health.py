"""/healthz: each cluster reachable (reported, not fatal: the control plane still works)."""

from __future__ import annotations

from apps.core.health import CheckResult
from apps.dispatch.port import BackendError


def clusters_reachable() -> list[CheckResult]:
    from apps.inventory.models import Cluster
    from apps.inventory.services import backend_for

    results = []
    for cluster in Cluster.objects.order_by("name"):
        try:
            backend_for(cluster).ping()
            results.append(CheckResult(f"cluster:{cluster.name}", True, cluster.address, critical=False))
        except (BackendError, ValueError) as exc:
            results.append(CheckResult(f"cluster:{cluster.name}", False, str(exc), critical=False))
    return results
