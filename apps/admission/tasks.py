"""Thin Celery entry point for admission: one scheduler pass."""

from __future__ import annotations

from apps.admission import scheduler
from apps.core.tasks import SCHEDULE_QUEUED, paddock_task, started


@paddock_task("admission.schedule")
def schedule() -> int:
    started(SCHEDULE_QUEUED)  # submissions from now on ask for the next pass
    return scheduler.admit_pending()
