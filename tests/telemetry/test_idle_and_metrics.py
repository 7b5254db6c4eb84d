"""The idle-GPU rule (a controlled clock: each report says when it was recorded), the operators'
idle view, and the per-GPU gauges on /metrics."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.jobs.models import JobEvent
from apps.telemetry import services
from apps.telemetry.models import GpuHolding
from tests.factories import (
    ClusterFactory,
    NodeFactory,
    OrganisationAdminFactory,
    OrganisationFactory,
    TeamFactory,
    UserFactory,
)
from tests.telemetry.helpers import T0, holding_job, utilisation_report

pytestmark = pytest.mark.django_db
IDLE_URL = "/api/v1/idle-gpus/"


def report(world: Any, at: datetime, utilisation: dict[int, float | None], hostname: str = "h200-2") -> int:
    result = services.record_host_readings(
        cluster=world.cluster, report=utilisation_report(hostname, utilisation), at=at
    )
    return result.idle_events


def idle_events(job_id: int) -> list[str]:
    return list(JobEvent.objects.filter(job_id=job_id, kind="idle_gpu").values_list("message", flat=True))


def test_a_gpu_under_5_percent_for_30_minutes_raises_one_event_on_its_job(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    attempt = holding_job(world, node, [0])
    for minute in range(30):
        assert report(world, T0 + timedelta(minutes=minute), {0: 4.9}) == 0
    assert idle_events(attempt.job_id) == []
    assert not services.idle_holdings(T0 + timedelta(minutes=29, seconds=59)).exists()

    assert report(world, T0 + timedelta(minutes=30), {0: 0.0}) == 1
    assert idle_events(attempt.job_id) == ["GPU 0 on h200-2 under 5 % utilisation for 30 min while held by this job."]
    event = JobEvent.objects.get(kind="idle_gpu")
    assert event.attempt_id == attempt.pk
    for minute in range(31, 90):  # still idle: no second event
        assert report(world, T0 + timedelta(minutes=minute), {0: 1.0}) == 0
    assert len(idle_events(attempt.job_id)) == 1
    assert list(services.idle_holdings(T0 + timedelta(minutes=90)).values_list("attempt_id", flat=True)) == [attempt.pk]


def test_a_busy_reading_starts_the_count_again_and_a_new_idle_run_raises_a_new_event(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    attempt = holding_job(world, node, [0])
    report(world, T0, {0: 1.0})
    report(world, T0 + timedelta(minutes=29), {0: 1.0})
    report(world, T0 + timedelta(minutes=29, seconds=30), {0: 5.0})  # exactly 5 %: not under
    assert report(world, T0 + timedelta(minutes=40), {0: 1.0}) == 0
    assert GpuHolding.objects.get().low_since == T0 + timedelta(minutes=40)
    assert report(world, T0 + timedelta(minutes=69), {0: 1.0}) == 0
    assert report(world, T0 + timedelta(minutes=70), {0: 1.0}) == 1
    report(world, T0 + timedelta(minutes=80), {0: 97.0})  # it woke up
    assert not services.idle_holdings(T0 + timedelta(minutes=80)).exists()
    report(world, T0 + timedelta(minutes=81), {0: 0.0})
    assert report(world, T0 + timedelta(minutes=111), {0: 0.0}) == 1
    assert len(idle_events(attempt.job_id)) == 2


def test_a_gpu_that_reports_no_utilisation_keeps_its_idle_count(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    holding_job(world, node, [0])
    report(world, T0, {0: 0.0})
    report(world, T0 + timedelta(minutes=10), {0: None})
    assert report(world, T0 + timedelta(minutes=30), {0: 0.0}) == 1


def test_several_idle_gpus_of_one_job_raise_one_event(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    attempt = holding_job(world, node, [0, 1, 2])
    report(world, T0, {0: 0.0, 1: 0.0, 2: 80.0})
    report(world, T0 + timedelta(minutes=5), {0: 0.0, 1: 0.0, 2: 0.0})
    assert report(world, T0 + timedelta(minutes=30), {0: 0.0, 1: 0.0, 2: 0.0}) == 1
    assert idle_events(attempt.job_id) == [
        "GPUs 0, 1 on h200-2 under 5 % utilisation for 30 min while held by this job."
    ]
    assert report(world, T0 + timedelta(minutes=35), {0: 0.0, 1: 0.0, 2: 0.0}) == 0  # GPU 2 joins, no new event
    assert len(idle_events(attempt.job_id)) == 1


def test_the_threshold_and_span_are_settings(world: Any, settings: Any) -> None:
    settings.PADDOCK_IDLE_GPU_PERCENT = 20
    settings.PADDOCK_IDLE_GPU_MINUTES = 10
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    attempt = holding_job(world, node, [0])
    report(world, T0, {0: 15.0})
    assert report(world, T0 + timedelta(minutes=10), {0: 15.0}) == 1
    assert idle_events(attempt.job_id) == ["GPU 0 on h200-2 under 20 % utilisation for 10 min while held by this job."]


def test_the_idle_view_lists_idle_gpus_longest_first_to_operators_and_own_teams(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    now = timezone.now()
    alpha = holding_job(world, node, [0])
    beta = holding_job(world, node, [1], team=world.beta)
    holding_job(world, node, [2])  # busy
    report(world, now - timedelta(minutes=50), {0: 80.0, 1: 1.0, 2: 90.0})
    report(world, now - timedelta(minutes=40), {0: 1.0, 1: 1.0, 2: 90.0})
    report(world, now, {0: 1.0, 1: 1.0, 2: 90.0})

    operator = world.client(world.org_admin).get(IDLE_URL)
    assert operator.status_code == 200
    rows = operator.json()["results"]
    assert [(r["job"], r["team"], r["hostname"], r["gpu_index"]) for r in rows] == [
        (beta.job_id, "beta", "h200-2", 1),
        (alpha.job_id, "alpha", "h200-2", 0),
    ]
    assert rows[0]["idle_seconds"] == 50 * 60 and rows[1]["idle_seconds"] == 40 * 60
    assert rows[1]["utilisation_percent"] == 1.0 and rows[1]["attempt_number"] == 1

    member = world.client(world.member).get(IDLE_URL).json()["results"]
    assert [r["job"] for r in member] == [alpha.job_id]
    assert world.client(world.org_admin).get(f"{IDLE_URL}?team={world.beta.pk}").json()["count"] == 1

    # Another organisation's operator sees none of it.
    other = OrganisationFactory(slug="other")
    stranger = OrganisationAdminFactory(organisation=other, user=UserFactory(username="stranger")).user
    assert world.client(stranger).get(IDLE_URL).json()["count"] == 0

    alpha.state = "succeeded"
    alpha.save()
    assert world.client(world.member).get(IDLE_URL).json()["count"] == 0  # ended: not held any more


def test_the_idle_view_costs_the_same_queries_however_many_rows(world: Any) -> None:
    client = world.client(world.org_admin)
    now = timezone.now()

    def grow(n: int) -> None:
        for _ in range(n):
            node = NodeFactory(cluster=world.cluster)
            team = TeamFactory(organisation=world.org)
            holding_job(world, node, [0, 1], team=team)
            for at in (now - timedelta(minutes=45), now):
                report(world, at, {0: 0.0, 1: 0.0}, hostname=node.hostname)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(IDLE_URL).status_code == 200
        return len(ctx.captured_queries)

    grow(2)
    count()
    few = count()
    grow(8)
    assert client.get(IDLE_URL).json()["count"] == 20
    assert count() == few


# --- /metrics -----------------------------------------------------------------------------------


def scrape(client: Any) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def sample_value(text: str, name: str, labels: dict[str, str]) -> float | None:
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and dict(re.findall(r'(\w+)="([^"]*)"', match.group(1))) == labels:
            return float(match.group(2))
    return None


def test_metrics_export_each_held_gpu_with_team_job_gpu_and_node_labels(world: Any, client: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    alpha = holding_job(world, node, [0])
    beta = holding_job(world, node, [3], team=world.beta)
    ended = holding_job(world, node, [5])
    silent = holding_job(world, NodeFactory(cluster=world.cluster, hostname="h200-9"), [0])
    now = timezone.now()
    report(world, now - timedelta(minutes=31), {0: 2.0, 3: 75.0, 5: 1.0})
    report(world, now - timedelta(minutes=11), {0: 60.0}, hostname="h200-9")  # its host went quiet since
    report(world, now, {0: 2.0, 3: 75.0, 5: 1.0, 6: 50.0})
    ended.state = "failed"
    ended.save()

    text = scrape(client)
    labels = {"cluster": "gpu-a", "node": "h200-2", "gpu": "0", "team": "alpha", "job": str(alpha.job_id)}
    assert sample_value(text, "paddock_gpu_utilisation_percent", labels) == 2.0
    assert sample_value(text, "paddock_gpu_memory_used_bytes", labels) == 1000 * 2**20
    assert sample_value(text, "paddock_gpu_power_watts", labels) == 100.0
    assert sample_value(text, "paddock_gpu_temperature_celsius", labels) == 40.0
    assert sample_value(text, "paddock_gpu_idle", labels) == 1.0
    beta_labels = {"cluster": "gpu-a", "node": "h200-2", "gpu": "3", "team": "beta", "job": str(beta.job_id)}
    assert sample_value(text, "paddock_gpu_utilisation_percent", beta_labels) == 75.0
    assert sample_value(text, "paddock_gpu_idle", beta_labels) == 0.0
    # Only GPUs held by active attempts and recently read: not the ended attempt's, not an
    # unheld one, not one whose host stopped reporting.
    assert (
        sample_value(text, "paddock_gpu_utilisation_percent", {**labels, "node": "h200-9", "job": str(silent.job_id)})
        is None
    )
    gpu_lines = [line for line in text.splitlines() if line.startswith("paddock_gpu_utilisation_percent{")]
    assert len(gpu_lines) == 2
    assert sample_value(text, "paddock_team_gpus_held", {"team": "alpha"}) == 3.0  # three running jobs of one GPU
    assert sample_value(text, "paddock_team_gpus_held", {"team": "beta"}) == 1.0


def test_fleet_gauges_count_the_inventory_s_gpus(world: Any, client: Any) -> None:
    from tests.factories import AcceleratorFactory, AcceleratorModelFactory

    h100 = AcceleratorModelFactory(name="H100 SXM")
    node = NodeFactory(cluster=world.cluster, hostname="n1")
    AcceleratorFactory(node=node, index=0, model=h100, utilisation_percent=10.0)
    AcceleratorFactory(node=node, index=1, model=h100, utilisation_percent=30.0)
    other = ClusterFactory(organisation=world.org, name="gpu-b")
    AcceleratorFactory(node=NodeFactory(cluster=other), index=0, model=None, utilisation_percent=None)
    text = scrape(client)
    assert sample_value(text, "paddock_fleet_gpus", {"cluster": "gpu-a", "model": "H100 SXM"}) == 2.0
    h100_labels = {"cluster": "gpu-a", "model": "H100 SXM"}
    assert sample_value(text, "paddock_fleet_gpu_utilisation_percent", h100_labels) == 20.0
    assert sample_value(text, "paddock_fleet_gpus", {"cluster": "gpu-b", "model": "unknown"}) == 1.0


def test_a_scrape_costs_the_same_queries_however_many_gpus_are_held(world: Any, client: Any) -> None:
    now = timezone.now()

    def grow(n: int) -> None:
        for _ in range(n):
            node = NodeFactory(cluster=world.cluster)
            holding_job(world, node, [0, 1], team=TeamFactory(organisation=world.org))
            report(world, now, {0: 5.0, 1: 50.0}, hostname=node.hostname)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            scrape(client)
        return len(ctx.captured_queries)

    grow(1)
    few = count()
    grow(5)
    assert count() == few
