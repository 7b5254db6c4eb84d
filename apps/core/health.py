"""Health for load balancers and operators: ``/healthz`` (alive) and ``/readyz`` (ready).

Liveness is this process and its database: cheap, no network beyond the database, so an
orchestrator never restarts a healthy web process because a cluster is slow. Readiness adds
the broker and what the control loops last learned about each cluster (apps register those
checks in ``ready()``); nothing here ever calls a cluster inline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection


@dataclass(frozen=True)
class CheckResult:
    """One dependency's health: ``critical`` failures make the endpoint answer 503.

    ``detail`` is for authenticated callers; ``public`` is what anyone may read. ``items``
    carries per-object results (clusters) with the organisation each belongs to, so a caller
    sees only their own organisations' objects.
    """

    name: str
    ok: bool
    detail: str = ""
    critical: bool = True
    public: str = ""
    items: tuple[dict[str, object], ...] = field(default=())


Check = Callable[[], list[CheckResult]]
_readiness: list[Check] = []


def register(check: Check) -> None:
    """Add a readiness check (liveness is the database only)."""
    if check not in _readiness:
        _readiness.append(check)


def database() -> list[CheckResult]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return [CheckResult("database", True, connection.vendor)]
    except Exception as exc:  # any driver error means "down"
        return [CheckResult("database", False, str(exc), public="not answering")]


def broker() -> list[CheckResult]:
    from controlplane.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return [CheckResult("broker", True, settings.CELERY_BROKER_URL.split("://", 1)[0])]
    except Exception as exc:  # kombu raises several families of errors
        return [CheckResult("broker", False, str(exc), public="not answering")]


def liveness() -> list[CheckResult]:
    return database()


def readiness() -> list[CheckResult]:
    results = database() + broker()
    for check in _readiness:
        results.extend(check())
    return results


def status_of(results: Iterable[CheckResult]) -> tuple[str, bool]:
    """("ok" | "degraded" | "down", whether every critical check passed)."""
    results = list(results)
    ok = all(r.ok for r in results if r.critical)
    return ("ok" if all(r.ok for r in results) else "degraded") if ok else "down", ok
