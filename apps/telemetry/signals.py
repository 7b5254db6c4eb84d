"""Telemetry listens to inventory: each host report's readings are recorded with it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apps.inventory.models import Cluster
from apps.inventory.reports import NodeReport
from apps.inventory.signals import host_reported


def _on_host_reported(sender: Any, *, cluster: Cluster, report: NodeReport, at: datetime, **kwargs: Any) -> None:
    from apps.telemetry import services

    services.record_host_readings(cluster=cluster, report=report, at=at)


def connect() -> None:
    host_reported.connect(_on_host_reported, dispatch_uid="telemetry.record_host_readings")
