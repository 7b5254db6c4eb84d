"""The usage ledger's arithmetic: exact money, runs priced in pieces, each attempt's real time
only, no gap and no double count however often (or rarely) the accrual runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.costs.accrual import accrue
from apps.costs.models import CpuPrice, UsageRecord
from apps.costs.rates import amortised
from apps.jobs.models import Attempt, Job
from tests.factories import AcceleratorModelFactory, ClusterFactory, JobFactory, PricePointFactory, TeamFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def setting():
    team = TeamFactory()
    cluster = ClusterFactory(organisation=team.organisation)
    model = AcceleratorModelFactory(name="Ledger GPU")
    PricePointFactory(
        accelerator_model=model, cluster=cluster, price_per_gpu_hour=Decimal("2.49"), valid_from=T0 - timedelta(days=30)
    )
    return team, cluster, model


def gpu_job(team, cluster, *, gpus: float = 8, model: str = "Ledger GPU") -> Job:
    return JobFactory(team=team, cluster=cluster, gpus=gpus, accelerator_model=model, state="running")


def attempt(job: Job, start: datetime, end: datetime | None, *, number: int = 1, state: str = "") -> Attempt:
    return Attempt.objects.create(
        job=job,
        number=number,
        state=state or ("succeeded" if end else "running"),
        started_at=start,
        finished_at=end,
    )


def total(job: Job) -> Decimal:
    return sum((r.amount for r in UsageRecord.objects.filter(job=job)), Decimal(0))


def test_ninety_minutes_on_eight_gpus_at_2_49_costs_exactly_29_88(setting) -> None:
    team, cluster, _ = setting
    job = gpu_job(team, cluster)
    attempt(job, T0, T0 + timedelta(minutes=90))

    accrue(now=T0 + timedelta(hours=3))

    job.refresh_from_db()
    assert total(job) == Decimal("29.88")
    assert job.cost == Decimal("29.88") and job.cost_currency == "USD"
    assert job.gpu_seconds == Decimal(8 * 90 * 60)
    line = UsageRecord.objects.get(job=job)
    assert (line.rate, line.count, line.start, line.end) == (
        Decimal("2.49"),
        Decimal(8),
        T0,
        T0 + timedelta(minutes=90),
    )


def test_a_run_that_crosses_a_price_change_is_priced_in_two_parts(setting) -> None:
    team, cluster, model = setting
    from apps.costs.models import PricePoint

    PricePoint.objects.filter(accelerator_model=model).update(valid_until=T0 + timedelta(minutes=30))
    PricePointFactory(
        accelerator_model=model,
        cluster=cluster,
        price_per_gpu_hour=Decimal("1.99"),
        valid_from=T0 + timedelta(minutes=30),
        offer="negotiated",
    )
    job = gpu_job(team, cluster)
    attempt(job, T0, T0 + timedelta(minutes=90))

    accrue(now=T0 + timedelta(hours=2))

    lines = list(UsageRecord.objects.filter(job=job).order_by("start"))
    assert [(line.rate, line.end - line.start) for line in lines] == [
        (Decimal("2.49"), timedelta(minutes=30)),
        (Decimal("1.99"), timedelta(minutes=60)),
    ]
    assert total(job) == Decimal("9.96") + Decimal("15.92")  # 8 × 2.49 × 0.5 + 8 × 1.99 × 1


def test_a_preempted_and_resumed_job_pays_for_each_attempts_real_time_only(setting) -> None:
    team, cluster, _ = setting
    job = gpu_job(team, cluster, gpus=4)
    attempt(job, T0, T0 + timedelta(minutes=20), number=1, state="stopped")  # preempted
    # 40 minutes back in the queue: not charged.
    attempt(job, T0 + timedelta(minutes=60), T0 + timedelta(minutes=100), number=2)

    accrue(now=T0 + timedelta(hours=3))

    job.refresh_from_db()
    assert job.gpu_seconds == Decimal(4 * 60 * 60)  # 20 + 40 minutes on 4 GPUs
    assert total(job) == Decimal("9.96")  # 4 × 2.49 × 1 h
    assert {r.attempt.number: r.amount for r in UsageRecord.objects.filter(job=job)} == {
        1: Decimal("3.32"),
        2: Decimal("6.64"),
    }


def test_accrual_in_many_passes_adds_up_to_the_real_interval_with_no_gap_or_overlap(setting) -> None:
    team, cluster, _ = setting
    job = gpu_job(team, cluster)
    a = attempt(job, T0, None)
    now = T0
    for minutes in (1, 7, 7, 13, 29, 30):  # passes at irregular times, one repeated
        now = T0 + timedelta(minutes=minutes)
        accrue(now=now)
    Attempt.objects.filter(pk=a.pk).update(state="succeeded", finished_at=T0 + timedelta(minutes=90))
    accrue(now=T0 + timedelta(minutes=95))
    accrue(now=T0 + timedelta(minutes=96))  # closed: nothing more

    lines = list(UsageRecord.objects.filter(job=job).order_by("start"))
    assert lines[0].start == T0 and lines[-1].end == T0 + timedelta(minutes=90)
    assert all(left.end == right.start for left, right in zip(lines, lines[1:], strict=False))
    assert total(job) == Decimal("29.88")
    a.refresh_from_db()
    assert a.usage_closed and a.usage_until == T0 + timedelta(minutes=90)


def test_an_end_reported_late_is_corrected_by_a_negative_line(setting) -> None:
    team, cluster, _ = setting
    job = gpu_job(team, cluster)
    a = attempt(job, T0, None)
    accrue(now=T0 + timedelta(minutes=100))  # still thought running at minute 100
    Attempt.objects.filter(pk=a.pk).update(state="succeeded", finished_at=T0 + timedelta(minutes=90))

    accrue(now=T0 + timedelta(minutes=101))

    correction = UsageRecord.objects.get(job=job, kind="correction")
    assert correction.amount < 0 and correction.start == T0 + timedelta(minutes=90)
    assert total(job) == Decimal("29.88")
    job.refresh_from_db()
    assert job.cost == Decimal("29.88") and job.gpu_seconds == Decimal(8 * 5400)


def test_a_run_over_midnight_is_cut_at_the_day_so_daily_sums_are_exact(setting) -> None:
    team, cluster, _ = setting
    job = gpu_job(team, cluster, gpus=1)
    late = datetime(2026, 11, 3, 23, 30, tzinfo=UTC)
    attempt(job, late, late + timedelta(hours=1))
    accrue(now=late + timedelta(hours=2))
    days = [line.start.date().isoformat() for line in UsageRecord.objects.filter(job=job).order_by("start")]
    assert days == ["2026-11-03", "2026-11-04"]
    assert total(job) == Decimal("2.49")


def test_cpu_only_work_is_priced_per_cpu_hour(setting) -> None:
    team, cluster, _ = setting
    CpuPrice.objects.create(
        cluster=cluster, price_per_cpu_hour=Decimal("0.04"), offer="m7i", valid_from=T0 - timedelta(days=1)
    )
    job = JobFactory(team=team, cluster=cluster, cpus=4, gpus=0, state="running")
    attempt(job, T0, T0 + timedelta(minutes=30))
    accrue(now=T0 + timedelta(hours=1))
    line = UsageRecord.objects.get(job=job)
    assert (line.resource, line.amount, line.quantity) == ("cpu", Decimal("0.08"), Decimal(4 * 1800))


def test_work_with_no_price_is_recorded_unpriced_not_dropped(setting) -> None:
    team, cluster, _ = setting
    job = gpu_job(team, cluster, gpus=2, model="Unpriced GPU")
    AcceleratorModelFactory(name="Unpriced GPU")
    attempt(job, T0, T0 + timedelta(minutes=30))
    accrue(now=T0 + timedelta(hours=1))
    line = UsageRecord.objects.get(job=job)
    assert line.rate is None and line.amount == 0 and line.quantity == Decimal(3600)


def test_the_region_price_applies_where_the_cluster_has_none_and_the_cluster_price_wins(setting) -> None:
    team, cluster, model = setting
    other = ClusterFactory(organisation=team.organisation, region="eu-west-1")
    PricePointFactory(
        accelerator_model=model, region="eu-west-1", price_per_gpu_hour=Decimal("3.00"), valid_from=T0 - timedelta(1)
    )
    in_region = gpu_job(team, other, gpus=1)
    attempt(in_region, T0, T0 + timedelta(hours=1))
    own = gpu_job(team, cluster, gpus=1)
    attempt(own, T0, T0 + timedelta(hours=1))
    accrue(now=T0 + timedelta(hours=2))
    assert total(in_region) == Decimal("3.00") and total(own) == Decimal("2.49")


def test_an_on_prem_price_is_amortised_from_its_inputs() -> None:
    # A 250,000 server of 8 GPUs over 4 years, drawing 10.2 kW at 0.12 per kWh in a 1.3 PUE hall:
    # 250000 / (4 × 8760) / 8 + 10.2 × 1.3 × 0.12 / 8 = 0.89183 + 0.19890 = 1.0907 per GPU-hour.
    price = amortised(Decimal(250000), 8, Decimal(4), Decimal(10200), Decimal("0.12"), Decimal("1.3"))
    assert price == Decimal("1.0907")


def test_a_pass_costs_the_same_number_of_queries_for_3_or_30_running_attempts(setting) -> None:
    team, cluster, _ = setting

    def run(count: int, at: datetime) -> int:
        for _ in range(count):
            attempt(gpu_job(team, cluster, gpus=1), at, None)
        with CaptureQueriesContext(connection) as queries:
            accrue(now=at + timedelta(minutes=5))
        return len(queries)

    few = run(3, T0)
    Attempt.objects.update(state="succeeded", finished_at=T0 + timedelta(minutes=5))
    accrue(now=T0 + timedelta(minutes=6))
    many = run(30, T0 + timedelta(hours=1))
    assert few == many


def test_an_endpoints_deployment_is_charged_to_the_endpoint_and_its_leading_revision(setting) -> None:
    from apps.serving.models import Endpoint, Revision
    from apps.serving.services import costs

    team, cluster, _ = setting
    job = JobFactory(team=team, cluster=cluster, kind="deployment", gpus=2, accelerator_model="Ledger GPU")
    endpoint = Endpoint.objects.create(
        team=team, name="chat", cluster=cluster, job=job, gpus=1, max_replicas=2, accelerator_model="Ledger GPU"
    )
    Revision.objects.create(endpoint=endpoint, number=1, model_uri="/m/a", state="ready", traffic_percent=10)
    leading = Revision.objects.create(endpoint=endpoint, number=2, model_uri="/m/b", state="ready", traffic_percent=90)
    attempt(job, T0, T0 + timedelta(hours=1))

    accrue(now=T0 + timedelta(hours=2))

    line = UsageRecord.objects.get(job=job)
    assert (line.endpoint_id, line.endpoint_name, line.revision_id) == (endpoint.pk, "chat", leading.pk)
    cost = costs([endpoint])[endpoint.pk]
    assert cost.so_far == Decimal("4.98") and cost.price_per_replica_hour == Decimal("2.49")  # 2 GPUs held × 1 h


def test_a_gpu_the_catalog_does_not_know_is_unpriced_never_charged_at_the_cpu_price(setting) -> None:
    team, cluster, _ = setting
    CpuPrice.objects.create(price_per_cpu_hour=Decimal("0.04"), offer="cpu", valid_from=T0 - timedelta(days=1))
    job = gpu_job(team, cluster, gpus=2, model="Mystery GPU")
    attempt(job, T0, T0 + timedelta(minutes=30))
    accrue(now=T0 + timedelta(hours=1))
    line = UsageRecord.objects.get(job=job)
    assert (line.resource, line.accelerator_model_id, line.rate, line.amount) == ("gpu", None, None, 0)
