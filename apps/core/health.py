"""Health checks for /healthz: core checks here, apps register their own in ``ready()``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection


@dataclass(frozen=True)
class CheckResult:
    """One dependency's health: ``critical`` failures make /healthz answer 503."""

    name: str
    ok: bool
    detail: str = ""
    critical: bool = True


Check = Callable[[], list[CheckResult]]
_checks: list[Check] = []


def register(check: Check) -> None:
    if check not in _checks:
        _checks.append(check)


def database() -> list[CheckResult]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return [CheckResult("database", True, connection.vendor)]
    except Exception as exc:  # any driver error means "down"
        return [CheckResult("database", False, str(exc))]


def broker() -> list[CheckResult]:
    from controlplane.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return [CheckResult("broker", True, settings.CELERY_BROKER_URL.split("://", 1)[0])]
    except Exception as exc:  # kombu raises several families of errors
        return [CheckResult("broker", False, str(exc))]


def run_all() -> list[CheckResult]:
    results = database() + broker()
    for check in _checks:
        results.extend(check())
    return results
