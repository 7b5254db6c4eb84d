"""Thin Celery entry points for telemetry."""

from __future__ import annotations

from dataclasses import asdict

from django.utils import timezone

from apps.core.tasks import paddock_task
from apps.telemetry import services


@paddock_task("telemetry.prune")
def prune() -> dict[str, int]:
    """Every 10 minutes (beat): keep the GPU and network series within their windows."""
    return asdict(services.prune(now=timezone.now()))
