"""A quota, cohort, team policy, pool or priority change asks for a scheduler pass (after it commits)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from apps.core.tasks import wake_scheduler_on_commit


def _changed(sender: Any, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return  # fixtures and migrations
    wake_scheduler_on_commit()


def connect() -> None:
    from apps.quotas.models import Cohort, Pool, PriorityClass, Quota, TeamPolicy

    for model in (Quota, Cohort, Pool, PriorityClass, TeamPolicy):
        post_save.connect(_changed, sender=model, dispatch_uid=f"quotas.wake.save.{model.__name__}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"quotas.wake.delete.{model.__name__}")
