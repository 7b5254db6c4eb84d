"""The one decorator every Celery task uses: a dotted name, late acks, JSON ids, a log line."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from celery import shared_task

from apps.core.logging import get_logger

F = TypeVar("F", bound=Callable[..., Any])
log = get_logger("paddock.tasks")


def paddock_task(name: str, **options: Any) -> Callable[[F], Any]:
    """Register ``fn`` as the Celery task ``name`` (``<app>.<verb>``).

    Tasks take ids, reload and re-check state, so delivering one twice is harmless;
    ``acks_late`` keeps a task on the broker until it has finished.
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
            log.info("task.done", task=name, args=args, seconds=round(time.monotonic() - started, 4))
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


def enqueue(task_name: str, *args: Any) -> None:
    """Queue a registered task by name (runs in-process when tasks are eager, as in tests)."""
    from controlplane.celery import app

    app.tasks[task_name].apply_async(args=tuple(args))


def wake_scheduler_on_commit() -> None:
    """Ask for a scheduler pass once the current transaction commits (quotas, inventory).

    A broker that cannot take the message must not fail the change that asked (a quota saved
    in the admin): the periodic pass picks the change up anyway.
    """
    from django.db import transaction

    def wake() -> None:
        try:
            enqueue("jobs.schedule")
        except Exception as exc:  # the broker is down: the periodic pass catches up
            log.warning("scheduler.wake_failed", error=str(exc))

    transaction.on_commit(wake)
