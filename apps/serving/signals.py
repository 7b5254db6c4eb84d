"""Serving listens to jobs (jobs never imports serving)."""

from __future__ import annotations

from typing import Any

from apps.jobs.models import Job
from apps.jobs.signals import deployment_started, stopped_holding


def _deployment_started(sender: Any, job_id: int, **kwargs: Any) -> None:
    from apps.serving.services import request_reconcile

    cluster_id = Job.objects.filter(pk=job_id, kind="deployment").values_list("cluster_id", flat=True).first()
    if cluster_id is not None:
        request_reconcile(cluster_id)


def _stopped_holding(sender: Any, job_id: int, **kwargs: Any) -> None:
    # A deployment preempted, cancelled or failed: its endpoint comes off the cluster now.
    from apps.serving.services import request_reconcile_on_commit

    cluster_id = Job.objects.filter(pk=job_id, kind="deployment").values_list("cluster_id", flat=True).first()
    if cluster_id is not None:
        request_reconcile_on_commit(cluster_id)


def _version_served(sender: Any, version: Any, **kwargs: Any) -> list[dict[str, Any]]:
    from apps.serving.choices import LIVE_REVISION_STATES
    from apps.serving.models import Endpoint

    rows = (
        Endpoint.objects.filter(
            deleted_at__isnull=True,
            revisions__model_version=version,
            revisions__state__in=list(LIVE_REVISION_STATES),
        )
        .distinct()
        .order_by("name")
        .values("id", "name", "team__slug", "state")
    )
    return [{"id": r["id"], "name": r["name"], "team": r["team__slug"], "state": r["state"]} for r in rows]


def connect() -> None:
    from apps.checkpoints.signals import version_served

    version_served.connect(_version_served, dispatch_uid="serving.version_served")
    deployment_started.connect(_deployment_started, dispatch_uid="serving.deployment_started")
    stopped_holding.connect(_stopped_holding, dispatch_uid="serving.stopped_holding")
