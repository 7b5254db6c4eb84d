"""Admission listens to jobs: a job that stops holding capacity gives its GPUs back, and a
submission that can never run on its cluster's hardware is refused with why. And to
what Kueue objects are made of (pools, quotas, cohorts, team policies, teams, a cluster's
settings): once such a change commits, the Kueue clusters are synced (kueue_sync)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models.signals import post_delete, post_save

from apps.jobs.signals import checking_submission, stopped_holding


def _release_allocations(sender: Any, *, job_id: int, at: datetime, **kwargs: Any) -> None:
    from apps.admission.models import Allocation

    Allocation.objects.filter(job_id=job_id, released_at__isnull=True).update(released_at=at)


def _refuse_what_never_runs(sender: Any, *, request: Any, **kwargs: Any) -> dict[str, Any]:
    from apps.admission.feasibility import never_runs

    problems = never_runs(request.cluster, request)
    return {"resources": problems} if problems else {}


def _kueue_inputs_changed(sender: Any, **kwargs: Any) -> None:
    from apps.admission import kueue_sync

    kueue_sync.request_sync_on_commit()


def _cluster_saved(sender: Any, *, instance: Any, **kwargs: Any) -> None:
    from apps.admission import kueue_sync

    if kueue_sync.kueue_enabled(instance):  # its namespace, or Kueue just switched on
        kueue_sync.request_sync_on_commit([instance.pk])


def connect() -> None:
    from apps.inventory.models import Cluster
    from apps.quotas.models import Cohort, Pool, Quota
    from apps.quotas.models import TeamPolicy as StoredPolicy
    from apps.tenancy.models import Team

    stopped_holding.connect(_release_allocations, dispatch_uid="admission.release_allocations")
    checking_submission.connect(_refuse_what_never_runs, dispatch_uid="admission.refuse_what_never_runs")
    for model in (Pool, Quota, Cohort, StoredPolicy, Team):
        for signal in (post_save, post_delete):
            signal.connect(_kueue_inputs_changed, sender=model, dispatch_uid=f"admission.kueue.{model.__name__}")
    post_save.connect(_cluster_saved, sender=Cluster, dispatch_uid="admission.kueue.Cluster")
