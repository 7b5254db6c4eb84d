"""Every call to a cluster has a deadline, and a cluster that stops answering is left alone.

:class:`GuardedBackend` wraps an adapter (the registry hands out only guarded backends):

- **Deadline.** Each call runs on a worker thread and the caller waits at most the call's
  deadline; then it gets a retryable :class:`BackendError` and goes on. The adapter's own
  socket timeouts end the abandoned call later. So no cluster, however it misbehaves (a
  tarpit that accepts and never answers, a trickle of bytes), can pin a Celery worker.
- **Bounded in-flight calls.** At most ``max_in_flight`` calls per cluster wait at once; more
  fail at once, so a stuck cluster cannot take every thread.
- **Circuit breaker.** After ``failures`` retryable failures in a row the cluster is not called
  for a cool-down (5 s, doubling up to a minute); calls fail at once with "not answering since
  …". After the cool-down one call tries again: an answer closes the breaker. Its state lives
  in Django's cache, which every process shares (Redis, or the embedded default's database),
  so one process's timeouts spare the others theirs. Errors where the cluster answered (it
  refused what we sent) do not count.
"""

from __future__ import annotations

import concurrent.futures
import copy
import hashlib
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from apps.dispatch.fanout import close_thread_connections
from apps.dispatch.port import (
    LOG_CHUNK_BYTES,
    ApplyResult,
    Backend,
    BackendError,
    Capacity,
    JobSpec,
    LogChunk,
    NodeInfo,
    ObjectKind,
    RemoteStatus,
    ServeApp,
    ServeApplyResult,
    ServeState,
    SubmitResult,
)

T = TypeVar("T")

DEFAULT_DEADLINE_S = 15.0
DEFAULT_SUBMIT_DEADLINE_S = 150.0  # a submit may upload a code package first
BREAKER_FAILURES = 3
BREAKER_BASE_COOLDOWN_S = 5.0
BREAKER_MAX_COOLDOWN_S = 60.0
MAX_IN_FLIGHT = 8

_pool = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="paddock-backend-call")


def _new_pool_after_fork() -> None:
    # A forked child (a Celery pool process) inherits the executor but not its threads.
    global _pool
    _pool = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="paddock-backend-call")


os.register_at_fork(after_in_child=_new_pool_after_fork)


def _on_worker_thread(call: Callable[[], T]) -> Callable[[], T]:
    def run() -> T:
        try:
            return call()
        finally:
            close_thread_connections()  # pooled threads live on: leave no database connection open

    return run


class BreakerStore(Protocol):
    """Where breaker state lives: Django's cache has this shape."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, timeout: float | None = ...) -> None: ...

    def delete(self, key: str) -> Any: ...


class _DjangoCache:
    """Django's default cache, imported on use; a cache that fails is treated as empty."""

    def get(self, key: str, default: Any = None) -> Any:
        try:
            from django.core.cache import cache

            return cache.get(key, default)
        except Exception:  # no cache (a broken table, Redis away): behave as if closed
            return default

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        try:
            from django.core.cache import cache

            cache.set(key, value, timeout=timeout)
        except Exception:  # the breaker is an optimisation; losing it loses nothing
            return

    def delete(self, key: str) -> Any:
        try:
            from django.core.cache import cache

            return cache.delete(key)
        except Exception:
            return None


def _clock(value: float) -> str:
    return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class GuardedBackend:
    """An adapter behind a deadline, a cap on waiting calls and a circuit breaker."""

    def __init__(
        self,
        inner: Backend,
        name: str,
        *,
        deadline: float = DEFAULT_DEADLINE_S,
        submit_deadline: float = DEFAULT_SUBMIT_DEADLINE_S,
        max_in_flight: int = MAX_IN_FLIGHT,
        failures: int = BREAKER_FAILURES,
        store: BreakerStore | None = None,
    ) -> None:
        self.inner = inner
        self.name = name
        self.deadline = deadline
        self.submit_deadline = submit_deadline
        self.failures = failures
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._max_in_flight = max_in_flight
        self._store: BreakerStore = store if store is not None else _DjangoCache()
        # Memcached-safe: no spaces or colons from the address.
        self._key = "paddock.breaker." + hashlib.sha256(name.encode()).hexdigest()[:32]
        self._ignore_open = False

    def __repr__(self) -> str:
        return f"GuardedBackend({self.inner!r})"

    def probing(self) -> GuardedBackend:
        """The same backend, asked even while its breaker is open: for an operator's explicit
        request ("discover now" after restarting a cluster). Deadlines still apply; an answer
        closes the breaker for everyone."""
        probe = copy.copy(self)
        probe._ignore_open = True
        return probe

    # -- the port ---------------------------------------------------------------------
    def ping(self) -> None:
        self._call("ping", self.inner.ping)

    def capacity(self) -> Capacity:
        return self._call("capacity", self.inner.capacity)

    def submit(self, spec: JobSpec) -> SubmitResult:
        return self._call("submit", lambda: self.inner.submit(spec), deadline=self.submit_deadline)

    def status(self, remote_id: str) -> RemoteStatus:
        return self._call("status", lambda: self.inner.status(remote_id))

    def stop(self, remote_id: str) -> bool:
        return self._call("stop", lambda: self.inner.stop(remote_id))

    def logs(self, remote_id: str, *, offset: int = 0, limit: int = LOG_CHUNK_BYTES) -> LogChunk:
        return self._call("logs", lambda: self.inner.logs(remote_id, offset=offset, limit=limit))

    def list_remote_ids(self) -> list[str]:
        return self._call("list jobs", self.inner.list_remote_ids)

    def nodes(self) -> list[NodeInfo]:
        return self._call("nodes", self.inner.nodes)

    def set_schedulable(self, node_name: str, schedulable: bool) -> bool:
        return self._call("set schedulable", lambda: self.inner.set_schedulable(node_name, schedulable))

    def serve_state(self) -> ServeState:
        return self._call("serve state", self.inner.serve_state)

    def serve_apply(
        self, apps: Sequence[ServeApp], *, owned_prefix: str, http_host: str, http_port: int
    ) -> ServeApplyResult:
        return self._call(
            "serve apply",
            lambda: self.inner.serve_apply(apps, owned_prefix=owned_prefix, http_host=http_host, http_port=http_port),
            deadline=self.submit_deadline,  # it may ship a package first, as a submit does
        )

    def apply_objects(
        self, objects: Sequence[Mapping[str, Any]], *, kinds: Sequence[ObjectKind], owner_label: tuple[str, str]
    ) -> ApplyResult:
        return self._call(
            "apply objects",
            lambda: self.inner.apply_objects(objects, kinds=kinds, owner_label=owner_label),
            deadline=self.submit_deadline,  # several requests, as a submit makes
        )

    # -- the breaker ------------------------------------------------------------------
    def breaker(self) -> Mapping[str, Any] | None:
        """The breaker's state (``failures``, ``since``, ``open_until``), None when closed."""
        state = self._store.get(self._key)
        return state if isinstance(state, dict) else None

    def note_no_answer(self, action: str, seconds: float) -> None:
        """A caller gave up waiting for this cluster (its pass's budget ran out): count it as a
        failure, so a tarpit is left alone after a few passes instead of a few deadlines."""
        self._failed(BackendError(f"{self.name}: no answer to {action} within {seconds:g} s", retryable=True))

    def reset(self) -> None:
        self._store.delete(self._key)

    def _refuse_if_open(self) -> bool:
        """Raise while the breaker is open; True when it holds failures (so a success clears it)."""
        state = self.breaker()
        if state is None:
            return False
        now = time.time()
        if float(state.get("open_until", 0.0)) > now and not self._ignore_open:
            wait = float(state["open_until"]) - now
            raise BackendError(
                f"{self.name} not answering since {_clock(float(state['since']))} ({state.get('message', '')}); "
                f"not asked again for {wait:.0f} s",
                retryable=True,
            )
        return True

    def _failed(self, error: BackendError) -> None:
        now = time.time()
        state = dict(self.breaker() or {"failures": 0, "since": now, "opens": 0})
        state["failures"] = int(state["failures"]) + 1
        state["message"] = error.message[:300]
        if state["failures"] >= self.failures:
            state["opens"] = int(state.get("opens", 0)) + 1
            cooldown = min(BREAKER_BASE_COOLDOWN_S * 2 ** (state["opens"] - 1), BREAKER_MAX_COOLDOWN_S)
            state["open_until"] = now + cooldown
        self._store.set(self._key, state, timeout=3600)

    def _answered(self, had_failures: bool) -> None:
        if had_failures:
            self._store.delete(self._key)

    # -- one call -----------------------------------------------------------------------
    def _call(self, action: str, call: Callable[[], T], *, deadline: float | None = None) -> T:
        had_failures = self._refuse_if_open()
        if not self._slots.acquire(blocking=False):
            raise BackendError(
                f"{self.name}: {self._max_in_flight} calls are still waiting for an answer; not adding more",
                retryable=True,
            )
        limit = self.deadline if deadline is None else deadline
        try:
            future = _pool.submit(_on_worker_thread(call))
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        try:
            result = future.result(timeout=limit)
        except concurrent.futures.TimeoutError:
            error = BackendError(f"{self.name}: no answer to {action} within {limit:g} s", retryable=True)
            self._failed(error)
            raise error from None
        except BackendError as exc:
            if exc.retryable:
                self._failed(exc)
            else:
                self._answered(had_failures)  # it answered, if only to refuse
            raise
        except Exception as exc:  # an adapter must raise only BackendError; never let one escape raw
            error = BackendError(f"{self.name}: {action} failed: {type(exc).__name__}: {exc}", retryable=True)
            self._failed(error)
            raise error from exc
        self._answered(had_failures)
        return result
