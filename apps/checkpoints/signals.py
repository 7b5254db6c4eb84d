"""Checkpoints listen to jobs (jobs never import checkpoints)."""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from apps.core.tasks import enqueue_on_commit
from apps.jobs.models import Attempt
from apps.jobs.signals import attempt_environment, stopped_holding

# Sent to ask who serves a model version (``version``): the serving app answers a list of
# ``{"id", "name", "team", "state"}`` (checkpoints never imports serving).
version_served = Signal()


def _environment(sender: Any, attempt: Attempt, memo: dict[Any, Any] | None = None, **kwargs: Any) -> dict[str, str]:
    from apps.checkpoints.services import attempt_environment as environment

    return environment(attempt, memo=memo)


def _job_stopped(sender: Any, job_id: int, **kwargs: Any) -> None:
    # Retention at the job's end (and when it is preempted: its resume source is then kept).
    enqueue_on_commit("checkpoints.retain", job_id)


def connect() -> None:
    attempt_environment.connect(_environment, dispatch_uid="checkpoints.environment")
    stopped_holding.connect(_job_stopped, dispatch_uid="checkpoints.retain_on_stop")
