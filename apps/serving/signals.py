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


def connect() -> None:
    deployment_started.connect(_deployment_started, dispatch_uid="serving.deployment_started")
    stopped_holding.connect(_stopped_holding, dispatch_uid="serving.stopped_holding")
