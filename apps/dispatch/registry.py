"""Which backend object serves a cluster: one per (kind, address, token), made on first use.

Callers say what a cluster is (``kind``, ``address``, token) and get a :class:`Backend`;
nothing above this module names an adapter class. Every backend handed out is guarded
(:mod:`apps.dispatch.guard`): each call has a deadline and a cluster that stops answering is
left alone for a while. Tests swap every backend for one of their own with
:func:`override_backend`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from apps.dispatch.backends.fake import FakeBackend
from apps.dispatch.guard import DEFAULT_DEADLINE_S, DEFAULT_SUBMIT_DEADLINE_S, GuardedBackend
from apps.dispatch.port import Backend, BackendError

KINDS = ("ray", "kubernetes", "fake")

_lock = threading.Lock()
_backends: dict[tuple[str, str, str | None, str | None], Backend] = {}
# A stack, process-wide rather than per thread: an in-process Celery worker thread must see
# the override its test set.
_overrides: list[Backend] = []


def get_backend(kind: str, address: str, auth_token: str | None = None, options: Any = None) -> Backend:
    """The backend for a cluster; the same object for the same arguments.

    ``"ray"`` gives a guarded RayBackend (``address`` is the dashboard URL); ``"kubernetes"`` a
    guarded KubernetesBackend (``address`` is the API server's URL and ``auth_token`` the
    stored SafeKubeconfig's JSON, or None to call it anonymously); ``"fake"`` gives the
    process-wide FakeBackend for that address (the token is ignored; in memory, unguarded).
    ``options`` (Kubernetes: a ``ClusterOptions``) are part of what makes a backend: a cluster
    whose options change gets a new one.
    """
    with _lock:
        if _overrides:
            return _overrides[-1]
        key = (kind, address, auth_token if kind != "fake" else None, repr(options) if options is not None else None)
        backend = _backends.get(key)
        if backend is None and kind == "fake":
            backend = _backends[key] = _make(kind, address, auth_token, options)  # in memory: nothing to guard
        if backend is None:
            deadline, submit_deadline = _deadlines()
            backend = GuardedBackend(
                _make(kind, address, auth_token, options),
                f"{kind} cluster at {address}",
                deadline=deadline,
                submit_deadline=submit_deadline,
            )
            _backends[key] = backend
        return backend


def _deadlines() -> tuple[float, float]:
    """PADDOCK_BACKEND_DEADLINE and PADDOCK_SUBMIT_DEADLINE from settings, when Django is set up."""
    try:
        from django.conf import settings

        return (
            float(getattr(settings, "PADDOCK_BACKEND_DEADLINE", DEFAULT_DEADLINE_S)),
            float(getattr(settings, "PADDOCK_SUBMIT_DEADLINE", DEFAULT_SUBMIT_DEADLINE_S)),
        )
    except Exception:  # the port is usable without Django (scripts, the agent)
        return DEFAULT_DEADLINE_S, DEFAULT_SUBMIT_DEADLINE_S


def _make(kind: str, address: str, auth_token: str | None, options: Any = None) -> Backend:
    if kind == "ray":
        # Imported here: ray takes about a second to import and only Ray users need it.
        from apps.dispatch.backends.ray import RayBackend

        return RayBackend(address, auth_token)
    if kind == "kubernetes":
        from apps.dispatch.backends.kubernetes import KubernetesBackend

        return KubernetesBackend(address, auth_token, options)
    if kind == "fake":
        return FakeBackend(address)
    raise BackendError(f"unknown backend kind {kind!r} (known: {', '.join(KINDS)})", retryable=False)


@contextmanager
def override_backend(backend: Backend) -> Iterator[Backend]:
    """Make :func:`get_backend` return ``backend`` for every cluster inside the block."""
    with _lock:
        _overrides.append(backend)
    try:
        yield backend
    finally:
        with _lock:
            index = max(i for i, item in enumerate(_overrides) if item is backend)
            del _overrides[index]


def probing(backend: Backend) -> Backend:
    """``backend``, asked even while its circuit breaker is open (an operator's explicit request)."""
    return backend.probing() if isinstance(backend, GuardedBackend) else backend


def note_no_answer(backend: Backend, action: str, seconds: float) -> None:
    """Tell a guarded backend that a caller stopped waiting for it (see GuardedBackend)."""
    if isinstance(backend, GuardedBackend):
        backend.note_no_answer(action, seconds)


def reset_breakers() -> None:
    """Close every circuit breaker this process has used (their state is shared; for tests)."""
    with _lock:
        guarded = [backend for backend in _backends.values() if isinstance(backend, GuardedBackend)]
    for backend in guarded:
        backend.reset()


def forget_backends() -> None:
    """Drop every cached backend (the fakes' jobs with them); for tests and config reloads."""
    with _lock:
        _backends.clear()
