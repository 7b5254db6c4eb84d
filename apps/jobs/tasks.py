"""Thin Celery entry points for jobs: ids in, services do the work."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import cache

from apps.core.tasks import any_of, never, paddock_task, wake_scheduler
from apps.dispatch.port import BackendError
from apps.jobs import services

WATCH_LOCK = "jobs.watch.lock"
WATCH_FOLLOW_UP = "jobs.watch.follow-up"


@paddock_task("jobs.dispatch_attempt", bind=True, max_retries=None)
def dispatch_attempt(self, attempt_id: str) -> str:  # type: ignore[no-untyped-def]
    try:
        return services.dispatch_attempt(attempt_id)
    except BackendError as exc:
        # The cluster did not answer: try again with backoff (reconcile also re-sends).
        raise self.retry(exc=exc, countdown=min(2 ** min(self.request.retries, 5), 30)) from exc


@paddock_task("jobs.watch", changed=never)
def watch() -> str:
    """Poll freshly dispatched attempts every ``PADDOCK_WATCH_POLL`` s, one loop at a time.

    The loop runs for one slice (tasks stay short, so the broker never redelivers one that
    is still running) and hands over to a fresh task while attempts remain in the window.
    """
    token = uuid.uuid4().hex
    lock_seconds = int(settings.PADDOCK_WATCH_SLICE) + 5
    if not cache.add(WATCH_LOCK, token, timeout=lock_seconds):
        # The holder may have been killed mid-loop, leaving its lock to expire: one delayed
        # follow-up (never more than one queued) takes over then if nobody else has.
        if cache.add(WATCH_FOLLOW_UP, token, timeout=lock_seconds):
            watch.apply_async(countdown=lock_seconds)
            return "already-watching; follow-up queued"
        return "already-watching"
    try:
        checks = services.watch_recent(
            seconds=settings.PADDOCK_WATCH_SLICE,
            poll=settings.PADDOCK_WATCH_POLL,
            window_seconds=settings.PADDOCK_WATCH_SECONDS,
        )
    finally:
        if cache.get(WATCH_LOCK) == token:
            cache.delete(WATCH_LOCK)
    # Checked after releasing the lock: an attempt dispatched while we held it is seen here.
    if services.watched_attempts(window_seconds=settings.PADDOCK_WATCH_SECONDS).exists():
        watch.apply_async()
        return f"continued after {checks} checks"
    return f"idle after {checks} checks"


@paddock_task("jobs.stop_attempt", bind=True, max_retries=10)
def stop_attempt(self, attempt_id: str) -> str:  # type: ignore[no-untyped-def]
    try:
        return services.stop_attempt(attempt_id)
    except BackendError as exc:
        raise self.retry(exc=exc, countdown=2) from exc


@paddock_task("jobs.refresh_logs")
def refresh_logs(attempt_id: str) -> str:
    """Copy what is new of a running attempt's log (a log reader found the stored copy stale)."""
    return services.refresh_attempt_logs(attempt_id)


@paddock_task("jobs.reconcile", changed=any_of("redispatched", "silent_clusters", "overran"))
def reconcile() -> dict[str, int]:
    result = services.reconcile()
    wake_scheduler()  # what reconcile put back in the queue, and anything a lost wake-up left
    return result
