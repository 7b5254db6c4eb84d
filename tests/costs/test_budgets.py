"""Budgets at admission: a hard budget stops new work before the money is spent, with the
reason on the job; raising it admits the job on the next pass; a soft limit raises one
notification (an alert, an audit entry, a webhook) per crossing, not one per job."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from django.utils import timezone

from apps.admission.pools import ensure_pools
from apps.admission.scheduler import admit_pending
from apps.core.models import AuditEntry
from apps.costs import budgets
from apps.costs.models import Budget, BudgetAlert, UsageRecord
from apps.inventory.models import AcceleratorModel
from apps.jobs.models import Attempt, Job
from tests.factories import AcceleratorFactory, JobFactory, NodeFactory, PricePointFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def priced(world: Any) -> Any:
    """8 × H100 on the world's cluster at 2.50 per GPU-hour there; its pools."""
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    node = NodeFactory(cluster=world.cluster, hostname="dgx-1")
    for index in range(8):
        AcceleratorFactory(node=node, index=index, model=h100)
    ensure_pools()
    PricePointFactory(
        accelerator_model=h100,
        cluster=world.cluster,
        price_per_gpu_hour=Decimal("2.50"),
        valid_from=timezone.now() - timedelta(days=400),
        offer="our rate",
    )
    return world


def spend(world: Any, team: Any, amount: str, *, at: datetime | None = None) -> None:
    """A ledger line of ``amount`` for the team this month (what its earlier work cost)."""
    at = at or timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(hours=1)
    job = JobFactory(team=team, cluster=world.cluster, state="succeeded")
    attempt = Attempt.objects.create(job=job, number=1, state="succeeded", started_at=at, finished_at=at)
    UsageRecord.objects.create(
        team=team,
        job=job,
        attempt=attempt,
        cluster=world.cluster,
        resource="gpu",
        count=Decimal(8),
        start=at,
        end=at + timedelta(hours=1),
        quantity=Decimal(8 * 3600),
        rate=Decimal("2.50"),
        currency="USD",
        amount=Decimal(amount),
    )


def submit(world: Any, *, gpus: int = 8, hours: float = 24, team: str = "alpha") -> Job:
    body = {
        "name": "train",
        "team": team,
        "entrypoint": "true",
        "resources": {"gpus": gpus, "accelerator_model": "H100"},
        "max_runtime_seconds": int(hours * 3600),
    }
    response = world.client(world.member if team == "alpha" else world.outsider).post(
        "/api/v1/jobs/", body, format="json"
    )
    assert response.status_code == 201, response.json()
    return Job.objects.get(pk=response.json()["id"])


def test_a_hard_budget_stops_admission_with_the_reason_and_raising_it_admits_on_the_next_pass(priced: Any) -> None:
    world = priced
    budget = Budget.objects.create(team=world.alpha, name="alpha monthly", amount=Decimal(5000))
    spend(world, world.alpha, "4687.60")
    job = submit(world)  # 8 GPUs × 24 h × 2.50 = 480.00

    assert admit_pending() == 0
    job.refresh_from_db()
    assert job.state == "pending"
    assert (
        "team alpha has 312.40 of its 5,000.00 USD monthly budget left; this job's planned cost is 480.00 USD"
        in job.state_reason
    )
    shown = world.client(world.member).get(f"/api/v1/jobs/{job.pk}/").json()
    assert "312.40 of its 5,000.00 USD monthly budget left" in shown["pending_reason"]

    answer = world.client(world.org_admin).patch(f"/api/v1/budgets/{budget.pk}/", {"amount": "6000"}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["remaining"] == "1312.40"
    assert admit_pending() == 1
    job.refresh_from_db()
    assert job.state == "admitted"


def test_two_jobs_of_one_pass_cannot_both_spend_what_is_left(priced: Any) -> None:
    world = priced
    Budget.objects.create(team=world.alpha, name="alpha monthly", amount=Decimal(500))
    first = submit(world, gpus=4, hours=24)  # 240.00
    second = submit(world, gpus=4, hours=24)  # 240.00 more: 480 of 500
    third = submit(world, gpus=1, hours=24)  # 60.00: over

    admit_pending()
    states = {j.pk: j.state for j in Job.objects.filter(pk__in=[first.pk, second.pk, third.pk])}
    assert [states[first.pk], states[second.pk]] == ["admitted", "admitted"]
    third.refresh_from_db()
    assert third.state == "pending" and "has 20.00 of its 500.00 USD monthly budget left" in third.state_reason


def test_a_job_of_unknown_length_waits_only_once_the_budget_is_used_up(priced: Any) -> None:
    world = priced
    budget = Budget.objects.create(team=world.alpha, name="alpha monthly", amount=Decimal(100))
    body = {
        "name": "open",
        "team": "alpha",
        "entrypoint": "true",
        "resources": {"gpus": 1, "accelerator_model": "H100"},
    }
    first = world.client(world.member).post("/api/v1/jobs/", body, format="json").json()["id"]
    assert admit_pending() == 1  # nothing spent yet: its cost is unknown, so it may start
    spend(world, world.alpha, "100.00")
    second = world.client(world.member).post("/api/v1/jobs/", body, format="json").json()["id"]
    assert admit_pending() == 0
    reason = Job.objects.get(pk=second).state_reason
    assert "team alpha has used all of its 100.00 USD monthly budget (100.00 spent)" in reason
    assert Job.objects.get(pk=first).state == "admitted" and budget.pk


def test_a_gpu_hour_budget_and_an_organisation_budget_count_every_team(priced: Any) -> None:
    world = priced
    Budget.objects.create(organisation=world.org, name="acme gpu-hours", unit="gpu_hours", amount=Decimal(100))
    spend(world, world.beta, "200.00")  # 8 GPU-hours of beta's
    job = submit(world, gpus=8, hours=12)  # 96 GPU-hours for alpha: 104 > 100
    assert admit_pending() == 0
    job.refresh_from_db()
    assert (
        "organisation acme has 92.00 of its 100.00 GPU-hours monthly budget left; this job's planned use is "
        "96.00 GPU-hours" in job.state_reason
    )


def test_a_soft_limit_raises_one_alert_and_one_webhook_per_crossing(
    priced: Any, django_capture_on_commit_callbacks: Any
) -> None:
    world = priced
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        budget = Budget.objects.create(
            team=world.alpha,
            name="alpha monthly",
            amount=Decimal(1000),
            soft_percent=80,
            webhook_url=f"http://127.0.0.1:{server.server_port}/hook",
        )
        spend(world, world.alpha, "500.00")
        with django_capture_on_commit_callbacks(execute=True):
            assert budgets.evaluate() == []  # 50 %: nothing
        spend(world, world.alpha, "350.00")
        with django_capture_on_commit_callbacks(execute=True):
            raised = budgets.evaluate()  # 85 %: crossed
        spend(world, world.alpha, "50.00")
        with django_capture_on_commit_callbacks(execute=True):
            assert budgets.evaluate() == []  # 90 %: still over, already said
    finally:
        server.shutdown()

    assert [alert.level for alert in raised] == ["soft"]
    alert = BudgetAlert.objects.get(budget=budget)
    assert alert.webhook == "sent" and alert.spent == Decimal("850.0000")
    assert "team alpha has spent 850.00 of its 1,000.00 USD monthly budget" in alert.message
    assert len(received) == 1 and received[0]["event"] == "budget.soft" and received[0]["team"] == "alpha"
    assert AuditEntry.objects.filter(action="costs.budget_soft").count() == 1
    listed = world.client(world.member).get("/api/v1/budgets/").json()["results"][0]
    assert listed["status"] == "soft" and listed["alerts"][0]["level"] == "soft"


def test_a_hard_budget_that_says_stop_cancels_running_work_once(priced: Any) -> None:
    world = priced
    Budget.objects.create(team=world.alpha, name="alpha monthly", amount=Decimal(100), on_hard_limit="stop")
    running = JobFactory(team=world.alpha, cluster=world.cluster, state="running")
    other = JobFactory(team=world.beta, cluster=world.cluster, state="running")
    spend(world, world.alpha, "100.00")
    assert [a.level for a in budgets.evaluate()] == ["soft", "hard"]
    running.refresh_from_db()
    other.refresh_from_db()
    assert running.state == "cancelled" and "reached its budget alpha monthly" in running.state_reason
    assert other.state == "running"
    assert budgets.evaluate() == []


def test_the_forecast_adds_running_work_at_its_rate_to_the_end_of_the_period(priced: Any) -> None:
    world = priced
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    budget = Budget.objects.create(team=world.alpha, name="alpha monthly", amount=Decimal(5000))
    spend(world, world.alpha, "1000.00", at=datetime(2026, 11, 2, tzinfo=UTC))
    job = JobFactory(team=world.alpha, cluster=world.cluster, gpus=2, accelerator_model="H100 SXM", state="running")
    Attempt.objects.create(job=job, number=1, state="running", started_at=now - timedelta(hours=1))
    (standing,) = budgets.standings(now, [budget])
    rates = budgets.running_rates({world.alpha.pk}, now)
    # 1000 spent + 2 GPUs × 2.50 × 252 hours left in November (10 d 12 h) = 2260.00
    assert budgets.forecast(standing, rates, now) == Decimal("2260.00")


def test_a_cluster_without_pools_checks_the_same_budget(world: Any, fake_backend: Any) -> None:
    from apps.costs.models import CpuPrice

    CpuPrice.objects.create(price_per_cpu_hour=Decimal("0.50"), offer="cpu", valid_from=timezone.now() - timedelta(1))
    Budget.objects.create(team=world.alpha, name="alpha monthly", amount=Decimal(10))
    body = {
        "name": "cpu",
        "team": "alpha",
        "entrypoint": "true",
        "resources": {"cpus": 2},
        "max_runtime_seconds": 11 * 3600,  # 2 CPUs × 11 h × 0.50 = 11.00 > 10
    }
    job_id = world.client(world.member).post("/api/v1/jobs/", body, format="json").json()["id"]
    assert admit_pending() == 0
    reason = Job.objects.get(pk=job_id).state_reason
    assert "team alpha has 10.00 of its 10.00 USD monthly budget left; this job's planned cost is 11.00 USD" in reason


def test_cpu_work_is_not_stopped_by_a_used_up_gpu_hour_budget(world: Any, fake_backend: Any) -> None:
    Budget.objects.create(team=world.alpha, name="alpha gpu-hours", unit="gpu_hours", amount=Decimal(1))
    spend(world, world.alpha, "10.00")  # 8 GPU-hours: over
    body = {"name": "cpu", "team": "alpha", "entrypoint": "true", "resources": {"cpus": 1}}
    job_id = world.client(world.member).post("/api/v1/jobs/", body, format="json").json()["id"]
    assert admit_pending() == 1
    assert Job.objects.get(pk=job_id).state == "admitted"
