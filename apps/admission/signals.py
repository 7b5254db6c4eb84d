"""Admission listens to jobs: a job that stops holding capacity gives its GPUs back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apps.jobs.signals import stopped_holding


def _release_allocations(sender: Any, *, job_id: int, at: datetime, **kwargs: Any) -> None:
    from apps.admission.models import Allocation

    Allocation.objects.filter(job_id=job_id, released_at__isnull=True).update(released_at=at)


def connect() -> None:
    stopped_holding.connect(_release_allocations, dispatch_uid="admission.release_allocations")
