"""Which backend object serves a cluster: one per (kind, address, token), made on first use.

Callers say what a cluster is (``kind``, ``address``, token) and get a :class:`Backend`;
nothing above this module names an adapter class. Tests swap every backend for one of
their own with :func:`override_backend`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from apps.dispatch.backends.fake import FakeBackend
from apps.dispatch.port import Backend, BackendError

KINDS = ("ray", "fake")

_lock = threading.Lock()
_backends: dict[tuple[str, str, str | None], Backend] = {}
# A stack, process-wide rather than per thread: an in-process Celery worker thread must see
# the override its test set.
_overrides: list[Backend] = []


def get_backend(kind: str, address: str, auth_token: str | None = None) -> Backend:
    """The backend for a cluster; the same object for the same arguments.

    ``"ray"`` gives a RayBackend (``address`` is the dashboard URL); ``"fake"`` gives the
    process-wide FakeBackend for that address (the token is ignored).
    """
    with _lock:
        if _overrides:
            return _overrides[-1]
        key = (kind, address, auth_token if kind != "fake" else None)
        backend = _backends.get(key)
        if backend is None:
            backend = _make(kind, address, auth_token)
            _backends[key] = backend
        return backend


def _make(kind: str, address: str, auth_token: str | None) -> Backend:
    if kind == "ray":
        # Imported here: ray takes about a second to import and only Ray users need it.
        from apps.dispatch.backends.ray import RayBackend

        return RayBackend(address, auth_token)
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


def forget_backends() -> None:
    """Drop every cached backend (the fakes' jobs with them); for tests and config reloads."""
    with _lock:
        _backends.clear()
