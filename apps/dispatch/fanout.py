"""Calls to several clusters at once, so that one slow cluster delays only its own work.

Each cluster gets a thread of its own and its calls run there in order; all clusters run at
the same time. The caller waits at most a budget and gets what has finished; calls still
running are left to finish in the background (their backend's deadline ends them) and their
results are dropped: the next pass asks again.

Calls run in threads, so they must only talk to the backend (HTTP): the caller reads and
writes the database on its own thread, before and after. Threads close any database
connection they opened (a lazy loader may read one), so none leaks.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from apps.dispatch.port import BackendError

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

# Enough for every cluster of a large fleet at once; threads mostly wait on sockets.
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="paddock-cluster")


def _new_pool_after_fork() -> None:
    # A forked child (a Celery pool process) inherits the executor but not its threads.
    global _pool
    _pool = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="paddock-cluster")


os.register_at_fork(after_in_child=_new_pool_after_fork)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What one call gave: a value, or the backend's error."""

    value: T | None = None
    error: BackendError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def close_thread_connections() -> None:
    """Close the database connections this thread opened (a lazy package loader may open one)."""
    try:
        from django.db import connections
    except ImportError:  # pragma: no cover - the port is usable without Django
        return
    for connection in connections.all(initialized_only=True):
        connection.close()


def _run_batch(calls: Sequence[tuple[K, Callable[[], T]]], into: dict[K, Outcome[T]], lock: threading.Lock) -> None:
    try:
        failed: BackendError | None = None
        for key, call in calls:
            if failed is not None:
                outcome: Outcome[T] = Outcome(error=failed)
            else:
                try:
                    outcome = Outcome(value=call())
                except BackendError as exc:
                    outcome = Outcome(error=exc)
                    # A cluster that does not answer is not asked again in this batch.
                    failed = exc if exc.retryable else None
                except Exception as exc:  # an adapter bug must not kill the other clusters' calls
                    outcome = Outcome(error=BackendError(f"{type(exc).__name__}: {exc}", retryable=True))
            with lock:
                into[key] = outcome
    finally:
        close_thread_connections()


class Batches(Generic[K, T]):
    """Several clusters' calls in flight; :meth:`wait` collects what has finished."""

    def __init__(self, batches: Mapping[Hashable, Sequence[tuple[K, Callable[[], T]]]]) -> None:
        self._lock = threading.Lock()
        self._results: dict[K, Outcome[T]] = {}
        self._futures = {
            _pool.submit(_run_batch, calls, self._results, self._lock): group
            for group, calls in batches.items()
            if calls
        }

    @property
    def pending(self) -> set[concurrent.futures.Future[None]]:
        return {future for future in self._futures if not future.done()}

    def wait(self, timeout: float, *, first: bool = False) -> dict[K, Outcome[T]]:
        """Wait until all (or, with ``first``, any one more) cluster has finished, or ``timeout``;
        return every outcome so far (a call that has not finished is missing)."""
        pending = self.pending
        if pending:
            concurrent.futures.wait(
                pending,
                timeout=max(timeout, 0.0),
                return_when=concurrent.futures.FIRST_COMPLETED if first else concurrent.futures.ALL_COMPLETED,
            )
        with self._lock:
            return dict(self._results)


def per_cluster(
    batches: Mapping[Hashable, Sequence[tuple[K, Callable[[], T]]]], *, budget: float
) -> dict[K, Outcome[T]]:
    """Run each group's calls in order in a thread of its own, all groups at once; wait at most
    ``budget`` seconds. After a retryable failure the group's remaining calls get that failure
    without being made. A call that has not finished within the budget is missing."""
    return Batches(batches).wait(budget)


def group_calls(
    items: Iterable[tuple[Hashable, K, Callable[[], T]]],
) -> dict[Hashable, list[tuple[K, Callable[[], T]]]]:
    """``(group, key, call)`` triples as the mapping :func:`per_cluster` takes."""
    grouped: dict[Hashable, list[tuple[K, Callable[[], T]]]] = {}
    for group, key, call in items:
        grouped.setdefault(group, []).append((key, call))
    return grouped


def remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)
