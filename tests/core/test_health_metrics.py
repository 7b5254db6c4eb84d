from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_broker_and_clusters(client: Any, world: Any) -> None:
    response = client.get("/healthz")
    body = response.json()
    names = {c["name"]: c for c in body["checks"]}
    assert names["database"]["ok"] and names["broker"]["ok"]
    # gpu-a points at a dashboard that is not running: reported, not fatal.
    assert "cluster:gpu-a" in names
    assert response.status_code == 200


def test_metrics_exposes_jobs_by_state_dispatch_latency_and_reconcile_lag(client: Any, world: Any) -> None:
    from tests.factories import JobFactory

    JobFactory(team=world.alpha, cluster=world.cluster, state="running")
    text = client.get("/metrics").content.decode()
    assert 'paddock_jobs{state="running"} 1.0' in text
    assert 'paddock_jobs{state="pending"} 0.0' in text
    assert "paddock_dispatch_latency_seconds_bucket" in text
    assert 'paddock_reconcile_lag_seconds{cluster="gpu-a"}' in text


def test_unknown_api_route_is_a_json_404(client: Any) -> None:
    response = client.get("/api/v1/nothing-here/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
