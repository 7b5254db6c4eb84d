"""GPU readings from host reports, attributed to the jobs holding the GPUs, kept as a series."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from statistics import fmean
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.inventory.agent import nvml
from apps.inventory.models import Node
from apps.inventory.services import record_agent_report
from apps.telemetry import services
from apps.telemetry.models import GpuHolding, GpuSample
from tests.conftest import client_for, token_for
from tests.factories import NodeFactory
from tests.telemetry.helpers import (
    REPORTS_URL,
    SERIES,
    T0,
    holding_job,
    payload,
    sample_report,
    utilisation_report,
)

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: Any) -> Iterator[Clock]:
    """Django's clock, set by the test (the report path reads it as it would the real one)."""
    clock = Clock(T0)
    monkeypatch.setattr("django.utils.timezone.now", clock)
    yield clock


def series_url(job_id: int, query: str = "") -> str:
    return f"/api/v1/jobs/{job_id}/gpu-series/{query}"


def test_the_training_series_replayed_through_the_agent_endpoint_is_the_job_s_series(world: Any, clock: Clock) -> None:
    """host-2's NVML series, posted by the agent every 15 s, becomes the job's 1-minute means."""
    agent = client_for(token_for(world.org_admin, scope="agent"))
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    attempt = holding_job(world, node, [0])
    step = timedelta(seconds=15)
    for i, sample in enumerate(SERIES):
        clock.now = T0 + i * step
        response = agent.post(REPORTS_URL, payload(sample_report(sample)), format="json")
        assert response.status_code == 200, response.content

    response = world.client(world.viewer).get(series_url(attempt.job_id))
    assert response.status_code == 200
    body = response.json()
    assert (body["job"], body["resolution_seconds"], body["truncated"]) == (attempt.job_id, 60, False)
    points = body["points"]
    per_minute = [SERIES[i : i + 4] for i in range(0, len(SERIES), 4)]
    assert len(points) == len(per_minute) == 66
    for point, samples in zip(points, per_minute, strict=True):
        assert (point["hostname"], point["gpu_index"], point["attempt_number"]) == ("h200-2", 0, 1)
        assert point["utilisation_percent"] == pytest.approx(fmean(s["gpu_util"] for s in samples), abs=1e-3)
        assert point["memory_used_mib"] == pytest.approx(fmean(nvml.mib(s["mem_used"]) for s in samples), abs=1e-3)
        assert point["power_watts"] == pytest.approx(fmean(s["power_mw"] / 1000 for s in samples), abs=1e-3)
        assert point["temperature_c"] == pytest.approx(fmean(s["temp_c"] for s in samples), abs=1e-3)
    assert [p["at"][11:16] for p in points[:3]] == ["09:00", "09:01", "09:02"]
    assert max(p["utilisation_percent"] for p in points) > 90  # training ran: the chart shows it

    coarse = world.client(world.viewer).get(series_url(attempt.job_id, "?resolution=600")).json()
    per_ten = [SERIES[i : i + 40] for i in range(0, len(SERIES), 40)]
    assert [p["utilisation_percent"] for p in coarse["points"]] == pytest.approx(
        [fmean(s["gpu_util"] for s in chunk) for chunk in per_ten], abs=1e-3
    )
    latest = GpuHolding.objects.get()
    assert (latest.attempt_id, latest.utilisation_percent) == (attempt.pk, SERIES[-1]["gpu_util"])


def test_readings_go_to_the_attempt_whose_placement_holds_each_gpu(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    other = NodeFactory(cluster=world.cluster, hostname="h200-3")
    first = holding_job(world, node, [0, 1])
    second = holding_job(world, node, [2], team=world.beta)
    by_hostname = holding_job(world, None, [3], hostname="h200-2")  # a placement with no node row
    holding_job(world, other, [4])  # another node's GPU 4: not this host's
    holding_job(world, node, [5], state="succeeded")  # finished: holds nothing
    report = utilisation_report("h200-2", {0: 10.0, 1: 20.0, 2: 30.0, 3: 40.0, 4: 50.0, 5: 60.0, 6: 70.0})

    result = services.record_host_readings(cluster=world.cluster, report=report, at=T0)

    assert result.gpus_attributed == 4
    held = {(h.attempt_id, h.gpu_index): h.utilisation_percent for h in GpuHolding.objects.all()}
    assert held == {(first.pk, 0): 10.0, (first.pk, 1): 20.0, (second.pk, 2): 30.0, (by_hostname.pk, 3): 40.0}
    assert set(GpuSample.objects.values_list("job_id", "gpu_index", "resolution")) == {
        (job, gpu, resolution)
        for job, gpu in ((first.job_id, 0), (first.job_id, 1), (second.job_id, 2), (by_hostname.job_id, 3))
        for resolution in (60, 600)
    }


def test_a_gpu_handed_to_a_new_attempt_starts_a_new_holding(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    first = holding_job(world, node, [0])
    services.record_host_readings(cluster=world.cluster, report=utilisation_report("h200-2", {0: 1.0}), at=T0)
    first.state = "failed"
    first.save()
    retry = holding_job(world, node, [0], job=first.job, number=2)
    services.record_host_readings(
        cluster=world.cluster, report=utilisation_report("h200-2", {0: 1.0}), at=T0 + timedelta(minutes=1)
    )
    holding = GpuHolding.objects.get()
    assert (holding.attempt_id, holding.low_since) == (retry.pk, T0 + timedelta(minutes=1))
    numbers = world.client(world.member).get(series_url(first.job_id)).json()["points"]
    assert [p["attempt_number"] for p in numbers] == [1, 2]


def test_a_late_report_does_not_overwrite_a_newer_reading(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    holding_job(world, node, [0])
    services.record_host_readings(
        cluster=world.cluster, report=utilisation_report("h200-2", {0: 80.0}), at=T0 + timedelta(minutes=5)
    )
    services.record_host_readings(cluster=world.cluster, report=utilisation_report("h200-2", {0: 1.0}), at=T0)
    assert GpuHolding.objects.get().utilisation_percent == 80.0


def test_old_minutes_are_pruned_and_the_series_falls_back_to_ten_minute_buckets(world: Any, settings: Any) -> None:
    settings.PADDOCK_GPU_SERIES_MINUTE_HOURS = 2
    settings.PADDOCK_GPU_SERIES_DAYS = 1
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    attempt = holding_job(world, node, [0, 1])
    for minute in range(6 * 60):  # six hours, one report a minute
        at = T0 + timedelta(minutes=minute)
        report = utilisation_report("h200-2", {0: float(minute % 100), 1: 50.0})
        services.record_host_readings(cluster=world.cluster, report=report, at=at)
    assert GpuSample.objects.filter(resolution=60).count() == 2 * 360
    assert GpuSample.objects.filter(resolution=600).count() == 2 * 36
    assert services.series_resolution(attempt.job) == 60

    now = T0 + timedelta(hours=6)
    result = services.prune(now=now)

    assert result.samples_deleted == 2 * 240
    minutes = GpuSample.objects.filter(resolution=60)
    assert minutes.count() == 2 * 120  # the last two hours
    assert min(minutes.values_list("bucket_start", flat=True)) == now - timedelta(hours=2)
    assert GpuSample.objects.filter(resolution=600).count() == 2 * 36  # kept for a day
    assert services.series_resolution(attempt.job) == 600
    body = world.client(world.member).get(series_url(attempt.job_id)).json()
    assert body["resolution_seconds"] == 600 and len(body["points"]) == 72
    first_ten = [p for p in body["points"] if p["gpu_index"] == 0][0]
    assert first_ten["utilisation_percent"] == pytest.approx(4.5)  # the mean of 0 … 9

    much_later = now + timedelta(days=2)
    services.prune(now=much_later)
    assert GpuSample.objects.count() == 0


def test_the_series_is_bounded_to_the_newest_points(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    attempt = holding_job(world, node, [0])
    for minute in range(10):
        services.record_host_readings(
            cluster=world.cluster,
            report=utilisation_report("h200-2", {0: float(minute)}),
            at=T0 + timedelta(minutes=minute),
        )
    body = services.gpu_series(attempt.job, limit=4)
    assert body["truncated"] is True
    assert [p["utilisation_percent"] for p in body["points"]] == [6.0, 7.0, 8.0, 9.0]


def test_prune_drops_holdings_of_attempts_that_ended(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    done, running = holding_job(world, node, [0]), holding_job(world, node, [1])
    services.record_host_readings(cluster=world.cluster, report=utilisation_report("h200-2", {0: 1, 1: 1}), at=T0)
    done.state = "succeeded"
    done.save()
    assert services.prune(now=T0).holdings_deleted == 1
    assert list(GpuHolding.objects.values_list("attempt_id", flat=True)) == [running.pk]


def test_one_report_costs_the_same_queries_however_many_jobs_and_gpus(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")

    def count(gpus: int) -> int:
        report = utilisation_report("h200-2", dict.fromkeys(range(gpus), 50.0))
        with CaptureQueriesContext(connection) as ctx:
            record_agent_report(actor=None, cluster=world.cluster, report=report, now=T0)
        return sum(1 for q in ctx.captured_queries if "telemetry_" in q["sql"] or "jobs_attempt" in q["sql"])

    holding_job(world, node, [0])
    count(1)  # creates the node's rows
    few = count(1)
    for gpu in range(1, 8):
        holding_job(world, node, [gpu])
    for i in range(20):
        holding_job(world, NodeFactory(cluster=world.cluster, hostname=f"elsewhere-{i}"), [0])
    count(8)
    assert count(8) == few


def test_the_series_is_its_team_s_only(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    attempt = holding_job(world, node, [0])
    services.record_host_readings(cluster=world.cluster, report=utilisation_report("h200-2", {0: 9.0}), at=T0)
    assert world.client(world.viewer).get(series_url(attempt.job_id)).status_code == 200
    assert world.client(world.outsider).get(series_url(attempt.job_id)).status_code == 404  # beta's admin
    assert world.client(world.org_admin).get(series_url(attempt.job_id)).status_code == 404  # no team role
    assert client_for(None).get(series_url(attempt.job_id)).status_code in (401, 403)
    assert world.client(world.member).get(series_url(999999)).status_code == 404


def test_a_bad_resolution_is_a_field_error(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    attempt = holding_job(world, node, [0])
    response = world.client(world.member).get(series_url(attempt.job_id, "?resolution=7"))
    assert response.status_code == 400
    assert "resolution" in response.json()


def test_the_series_costs_the_same_queries_however_many_points(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    attempt = holding_job(world, node, [0, 1, 2, 3])
    client = world.client(world.member)

    def report(minutes: range) -> None:
        for minute in minutes:
            services.record_host_readings(
                cluster=world.cluster,
                report=utilisation_report("h200-2", dict.fromkeys(range(4), 30.0)),
                at=T0 + timedelta(minutes=minute),
            )

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(series_url(attempt.job_id)).status_code == 200
        return len(ctx.captured_queries)

    report(range(2))
    count()
    few = count()
    report(range(2, 30))
    assert count() == few


def test_a_report_for_a_host_that_is_not_a_node_yet_records_no_readings(world: Any) -> None:
    result = services.record_host_readings(cluster=world.cluster, report=utilisation_report("nowhere", {0: 1.0}), at=T0)
    assert result.gpus_attributed == 0 and not Node.objects.filter(hostname="nowhere").exists()
