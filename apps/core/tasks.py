"""The one decorator every Celery task uses: a dotted name, late acks, JSON ids, a log line."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from celery import shared_task
from django.core.cache import cache
from django.db import transaction

from apps.core.logging import get_logger

F = TypeVar("F", bound=Callable[..., Any])
log = get_logger("paddock.tasks")


def any_of(*keys: str) -> Callable[[Any], bool]:
    """``changed=`` for a pass whose result is a dict of counts: it changed something when any
    of ``keys`` is non-zero (or non-empty)."""

    def changed(result: Any) -> bool:
        return isinstance(result, dict) and any(result.get(key) for key in keys)

    return changed


def never(result: Any) -> bool:
    """``changed=`` for a routine pass (a fan-out, a sampler): its line is always DEBUG; what
    the tasks it queued change is logged by them."""
    return False


def paddock_task(name: str, *, changed: Callable[[Any], bool] | None = None, **options: Any) -> Callable[[F], Any]:
    """Register ``fn`` as the Celery task ``name`` (``<app>.<verb>``).

    Tasks take ids, reload and re-check state, so delivering one twice is harmless;
    ``acks_late`` keeps a task on the broker until it has finished.

    ``changed``: for periodic passes, which run every few seconds and mostly find nothing to
    do. Their ``task.done`` line is INFO only when ``changed(result)`` says the pass changed
    something, DEBUG otherwise, so that an idle Paddock's log stays quiet.
    """
    if "." not in name:
        raise ValueError(f"task name {name!r} must be dotted: <app>.<verb>")

    def decorate(fn: F) -> Any:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                log.warning(
                    "task.failed",
                    task=name,
                    args=args,
                    error=str(exc),
                    seconds=round(time.monotonic() - started, 4),
                )
                raise
            seconds = round(time.monotonic() - started, 4)
            if changed is None or changed(result):
                log.info("task.done", task=name, args=args, result=result, seconds=seconds)
            else:
                log.debug("task.done", task=name, args=args, result=result, seconds=seconds)
            return result

        return shared_task(
            name=name,
            acks_late=True,
            reject_on_worker_lost=True,
            ignore_result=True,
            serializer="json",
            **options,
        )(run)

    return decorate


def enqueue(task_name: str, *args: Any, countdown: float | None = None) -> None:
    """Queue a registered task by name (runs in-process when tasks are eager, as in tests).

    Raises when the broker cannot take the message; :func:`try_enqueue` does not.
    """
    from controlplane.celery import app

    if countdown is None:
        app.tasks[task_name].apply_async(args=tuple(args))
    else:
        app.tasks[task_name].apply_async(args=tuple(args), countdown=countdown)


def try_enqueue(task_name: str, *args: Any, countdown: float | None = None) -> bool:
    """Queue a task; a broker that cannot take it is logged, not raised. False when it failed.

    For side effects of something already committed: the database remembers, and the periodic
    passes (reconcile, the scheduler) pick up whatever a lost message would have done. In-process
    (eager) runs raise as usual, so tests see the task's own errors.
    """
    from controlplane.celery import app

    if app.conf.task_always_eager:
        enqueue(task_name, *args, countdown=countdown)
        return True
    try:
        enqueue(task_name, *args, countdown=countdown)
    except Exception as exc:  # kombu and redis raise several families of errors
        log.warning("tasks.enqueue_failed", task=task_name, args=args, error=str(exc))
        return False
    return True


def enqueue_on_commit(task_name: str, *args: Any) -> None:
    """Queue a task once the current transaction commits; never fails the change that asked."""
    transaction.on_commit(functools.partial(try_enqueue, task_name, *args))


def enqueue_once(task_name: str, *args: Any, key: str, ttl: float, countdown: float | None = None) -> bool:
    """Queue the task unless one queued under ``key`` has not started yet (coalescing).

    The task calls :func:`started` with the same key as it begins, so work that arrives while
    it runs queues the next one. ``ttl`` bounds how long a lost message can block the next: a
    message the broker dropped frees the key when it expires. True when a message was queued.
    """
    from controlplane.celery import app

    if app.conf.task_always_eager:  # runs right here, now: nothing is queued to coalesce with
        enqueue(task_name, *args, countdown=countdown)
        return True
    try:
        claimed = cache.add(key, "queued", timeout=ttl)
    except Exception as exc:  # no shared cache: queue rather than lose the work
        log.warning("tasks.coalesce_unavailable", key=key, error=str(exc))
        claimed = True
    if not claimed:
        return False
    if try_enqueue(task_name, *args, countdown=countdown):
        return True
    with contextlib.suppress(Exception):
        cache.delete(key)
    return False


def started(key: str) -> None:
    """Called by a coalesced task as it begins: later requests queue a new run."""
    with contextlib.suppress(Exception):
        cache.delete(key)


SCHEDULE_QUEUED = "admission.schedule.queued"


def wake_scheduler() -> bool:
    """Ask for a scheduler pass; at most one is ever queued (a flood of submissions asks once)."""
    return enqueue_once("admission.schedule", key=SCHEDULE_QUEUED, ttl=60)


def wake_scheduler_on_commit() -> None:
    """Ask for a scheduler pass once the current transaction commits (submissions, quotas,
    inventory, a job that stops holding GPUs). A broker that cannot take the message must not
    fail the change that asked (a quota saved in the admin): the periodic pass picks it up."""
    transaction.on_commit(wake_scheduler)
