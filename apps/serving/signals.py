"""Serving listens to jobs (jobs never imports serving)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

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


def _usage_subjects(sender: Any, job_ids: list[int], **kwargs: Any) -> dict[int, tuple[int, str, int | None]]:
    """Which endpoint each deployment job holds capacity for, and the revision that takes most
    of its traffic now (the costs ledger's attribution); two queries for any number of jobs."""
    from apps.serving.choices import LIVE_REVISION_STATES
    from apps.serving.models import Endpoint, Revision

    endpoints: dict[int, tuple[int, str]] = {}
    for endpoint_id, name, job_id, next_job_id in Endpoint.objects.filter(
        Q(job_id__in=job_ids) | Q(next_job_id__in=job_ids)
    ).values_list("id", "name", "job_id", "next_job_id"):
        for held in (job_id, next_job_id):
            if held in job_ids:
                endpoints[held] = (endpoint_id, name)
    leading: dict[int, int] = {}
    for endpoint_id, revision_id in (
        Revision.objects.filter(
            endpoint_id__in={e for e, _ in endpoints.values()}, state__in=list(LIVE_REVISION_STATES)
        )
        .order_by("endpoint_id", "-traffic_percent", "-number")
        .values_list("endpoint_id", "id")
    ):
        leading.setdefault(endpoint_id, revision_id)
    return {job_id: (e, name, leading.get(e)) for job_id, (e, name) in endpoints.items()}


def connect() -> None:
    from apps.checkpoints.signals import version_served
    from apps.costs.signals import usage_subjects

    usage_subjects.connect(_usage_subjects, dispatch_uid="serving.usage_subjects")
    version_served.connect(_version_served, dispatch_uid="serving.version_served")
    deployment_started.connect(_deployment_started, dispatch_uid="serving.deployment_started")
    stopped_holding.connect(_stopped_holding, dispatch_uid="serving.stopped_holding")
