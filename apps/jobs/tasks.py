"""Thin Celery entry points for jobs: ids in, services do the work."""

from __future__ import annotations

import time

from django.conf import settings

from apps.core.tasks import paddock_task
from apps.dispatch.port import BackendError
from apps.jobs import scheduler, services
from apps.jobs.choices import ATTEMPT_REMOTE_STATES
from apps.jobs.models import Attempt

# How long one watch task polls before handing over to a fresh task (tasks stay short, so
# the broker never redelivers one that is still running).

LOG_EVERY_SECONDS = 1.0


@paddock_task("jobs.schedule")
def schedule() -> int:
    return scheduler.admit_pending()


@paddock_task("jobs.dispatch_attempt", bind=True, max_retries=None)
def dispatch_attempt(self, attempt_id: str) -> str:  # type: ignore[no-untyped-def]
    try:
        return services.dispatch_attempt(attempt_id)
    except BackendError as exc:
        # The cluster did not answer: try again with backoff (reconcile also re-sends).
        raise self.retry(exc=exc, countdown=min(2 ** min(self.request.retries, 5), 30)) from exc


@paddock_task("jobs.watch_attempt")
def watch_attempt(attempt_id: str, started: float | None = None) -> str:
    """Poll one freshly dispatched attempt closely, so state changes show within ~0.1 s."""
    started = started if started is not None else time.time()
    slice_end = time.monotonic() + settings.PADDOCK_WATCH_SLICE
    last_logs = 0.0
    while True:
        attempt = Attempt.objects.select_related("job__cluster", "job__team").filter(pk=attempt_id).first()
        if attempt is None or attempt.state not in ATTEMPT_REMOTE_STATES:
            return "done"
        fetch_logs = time.monotonic() - last_logs >= LOG_EVERY_SECONDS
        if fetch_logs:
            last_logs = time.monotonic()
        state = services.check_attempt(attempt, fetch_logs=fetch_logs)
        if state is not None and state.is_terminal:
            return state.value
        if time.monotonic() >= slice_end:
            break
        time.sleep(settings.PADDOCK_WATCH_POLL)
    if time.time() - started < settings.PADDOCK_WATCH_SECONDS:
        watch_attempt.apply_async(args=[attempt_id, started])
        return "continued"
    return "handed-to-reconcile"


@paddock_task("jobs.stop_attempt", bind=True, max_retries=10)
def stop_attempt(self, attempt_id: str) -> str:  # type: ignore[no-untyped-def]
    try:
        return services.stop_attempt(attempt_id)
    except BackendError as exc:
        raise self.retry(exc=exc, countdown=2) from exc


@paddock_task("jobs.reconcile")
def reconcile() -> dict[str, int]:
    result = services.reconcile()
    result["admitted"] = scheduler.admit_pending()
    return result
