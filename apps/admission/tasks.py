"""Thin Celery entry points for admission: one scheduler pass; pending jobs' estimated starts."""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.core.cache import cache

from apps.admission import eta, scheduler
from apps.core.tasks import SCHEDULE_QUEUED, paddock_task, started, try_enqueue

ESTIMATE_THROTTLE = "admission.estimate.throttle"


@paddock_task("admission.schedule")
def schedule() -> int:
    started(SCHEDULE_QUEUED)  # submissions from now on ask for the next pass
    admitted = scheduler.admit_pending()
    request_estimates()
    return admitted


@paddock_task("admission.estimate")
def estimate() -> int:
    return eta.estimate_pending()


def request_estimates() -> bool:
    """Ask for fresh estimates after a pass has committed, at most once per
    ``PADDOCK_ESTIMATE_INTERVAL`` seconds (the key expires, it is never cleared): the estimate
    replays the scheduler many times, so it runs apart from the pass and never delays one.
    True when one was queued."""
    interval = float(settings.PADDOCK_ESTIMATE_INTERVAL)
    if interval <= 0:
        return False
    try:
        claimed = cache.add(ESTIMATE_THROTTLE, "queued", timeout=interval)
    except Exception:  # no shared cache: the next pass asks again
        return False
    if not claimed:
        return False
    if try_enqueue("admission.estimate"):
        return True
    with contextlib.suppress(Exception):
        cache.delete(ESTIMATE_THROTTLE)
    return False
