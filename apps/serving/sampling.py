"""Health samples: what each endpoint's ingress measured since the last read.

The ingress keeps counters since it started and the latencies of recent requests; each read
asks for the window since the previous one (on the ingress's own clock), so a sample covers
exactly the time between two reads, and a restarted ingress starts a new window at its start.
Every endpoint is read at once, each with a short deadline: one slow endpoint delays nothing.
"""

from __future__ import annotations

import concurrent.futures
from datetime import UTC, datetime
from typing import Any

from django.db import close_old_connections
from django.utils import timezone

from apps.serving.choices import EndpointState, Runtime
from apps.serving.models import Endpoint, HealthSample
from apps.serving.reconcile import read_stats

SAMPLED_STATES = [EndpointState.READY, EndpointState.DEGRADED, EndpointState.DEPLOYING]


def sample_all() -> int:
    endpoints = list(
        Endpoint.objects.filter(deleted_at__isnull=True, stopped=False, state__in=SAMPLED_STATES)
        .exclude(url="")
        .exclude(runtime=Runtime.VLLM)  # vLLM has no Paddock ingress to count for it (not yet sampled)
    )
    if not endpoints:
        return 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(endpoints))) as pool:
        reports = list(pool.map(_read, endpoints))
    close_old_connections()
    written = 0
    for endpoint, report in zip(endpoints, reports, strict=True):
        if report is not None and record(endpoint, report) is not None:
            written += 1
    return written


def _read(endpoint: Endpoint) -> dict[str, Any] | None:
    try:
        return read_stats(endpoint, since=endpoint.stats_since)
    finally:
        close_old_connections()


def record(endpoint: Endpoint, report: dict[str, Any]) -> HealthSample | None:
    """One sample from one stats report (None when the report covers no time)."""
    window = report.get("window") or {}
    try:
        now = float(report["now"])
        since = float(window.get("since", endpoint.stats_since))
    except (KeyError, TypeError, ValueError):
        return None
    seconds = now - since
    if seconds <= 0:
        return None
    sample = HealthSample.objects.create(
        endpoint=endpoint,
        at=datetime.fromtimestamp(now, tz=UTC) if abs(now - timezone.now().timestamp()) < 300 else timezone.now(),
        seconds=seconds,
        requests=int(window.get("requests") or 0),
        errors=int(window.get("errors") or 0),
        completion_tokens=int(window.get("completion_tokens") or 0),
        p50_ms=window.get("p50_ms"),
        p95_ms=window.get("p95_ms"),
        p99_ms=window.get("p99_ms"),
        replicas=endpoint.replicas_running,
        ongoing=int(report.get("ongoing") or 0),
    )
    Endpoint.objects.filter(pk=endpoint.pk).update(stats_since=now)
    return sample
