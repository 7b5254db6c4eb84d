"""The costs API as CI and the dashboard use it: rollups, the ledger (cursor pages, CSV), a
job's cost, jobs sorted by cost — each team seeing only its own — and bad input refused with
field errors and nothing written."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from apps.costs.accrual import accrue
from apps.costs.models import Budget, CpuPrice, PricePoint
from apps.inventory.models import AcceleratorModel
from apps.jobs.models import Attempt, Job
from tests.factories import JobFactory, PricePointFactory, UserFactory

pytestmark = pytest.mark.django_db

DAY1 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture
def ledger(world: Any) -> Any:
    """alpha: a 90-minute 8-GPU run on 3 November and a 1-hour one on the 4th; beta: 2 hours."""
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    PricePointFactory(
        accelerator_model=h100,
        cluster=world.cluster,
        price_per_gpu_hour=Decimal("2.49"),
        valid_from=DAY1 - timedelta(9),
    )

    def run(team: Any, user: Any, gpus: int, start: datetime, minutes: int, name: str) -> Job:
        job = JobFactory(
            team=team, cluster=world.cluster, gpus=gpus, accelerator_model="H100 SXM", submitted_by=user, name=name
        )
        Attempt.objects.create(
            job=job, number=1, state="succeeded", started_at=start, finished_at=start + timedelta(minutes=minutes)
        )
        return job

    world.big = run(world.alpha, world.member, 8, DAY1, 90, "big")  # 29.88
    world.small = run(world.alpha, world.admin, 1, DAY1 + timedelta(days=1), 60, "small")  # 2.49
    world.theirs = run(world.beta, world.outsider, 2, DAY1, 120, "theirs")  # 9.96
    accrue(now=DAY1 + timedelta(days=2))
    return world


def test_the_summary_by_team_and_day_shows_only_the_callers_teams(ledger: Any) -> None:
    answer = ledger.client(ledger.member).get("/api/v1/costs/summary/", {"group_by": "team,day", **NOVEMBER})
    assert answer.status_code == 200
    body = answer.json()
    assert [(r["team"], r["day"], r["amount"], r["gpu_hours"]) for r in body["rows"]] == [
        ("alpha", "2026-11-03", "29.88", "12.000"),
        ("alpha", "2026-11-04", "2.49", "1.000"),
    ]
    assert body["totals"] == [
        {"currency": "USD", "amount": "32.37", "gpu_hours": "13.000", "cpu_hours": "0.000", "records": 2}
    ]
    theirs = ledger.client(ledger.outsider).get("/api/v1/costs/summary/", {"group_by": "team", **NOVEMBER}).json()
    assert [(r["team"], r["amount"]) for r in theirs["rows"]] == [("beta", "9.96")]


def test_the_summary_by_user_and_job_names_them_and_limits_to_the_top(ledger: Any) -> None:
    client = ledger.client(ledger.member)
    by_user = client.get("/api/v1/costs/summary/", {"group_by": "user", **NOVEMBER}).json()
    assert [(r["user"], r["amount"]) for r in by_user["rows"]] == [("max", "29.88"), ("ada", "2.49")]
    top = client.get("/api/v1/costs/summary/", {"group_by": "job", "limit": "1", **NOVEMBER}).json()
    assert [(r["job"], r["job_name"], r["amount"]) for r in top["rows"]] == [(ledger.big.pk, "big", "29.88")]
    assert top["totals"][0]["amount"] == "32.37"  # the totals cover every row, not only the top
    month = client.get("/api/v1/costs/summary/", {"group_by": "month", **NOVEMBER}).json()
    assert [(r["month"], r["amount"]) for r in month["rows"]] == [("2026-11", "32.37")]


def test_the_summary_and_the_ledger_download_as_csv_for_chargeback(ledger: Any) -> None:
    client = ledger.client(ledger.member)
    answer = client.get("/api/v1/costs/summary/", {"group_by": "team,day", "format": "csv", **NOVEMBER})
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    assert "attachment" in answer["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert [(r["team"], r["day"], r["amount"]) for r in rows] == [
        ("alpha", "2026-11-03", "29.88"),
        ("alpha", "2026-11-04", "2.49"),
    ]
    usage = client.get("/api/v1/usage/", {"format": "csv"})
    lines = list(csv.DictReader(io.StringIO(b"".join(usage.streaming_content).decode())))
    assert sorted(line["job_name"] for line in lines) == ["big", "small"]  # never beta's
    assert {line["team"] for line in lines} == {"alpha"}
    assert sum(Decimal(line["amount"]) for line in lines) == Decimal("32.37")


def test_the_ledger_pages_by_cursor_newest_first_and_filters_by_job(ledger: Any) -> None:
    client = ledger.client(ledger.member)
    first = client.get("/api/v1/usage/", {"page_size": 1}).json()
    assert len(first["results"]) == 1 and first["next"]
    second = client.get(first["next"]).json()
    assert [first["results"][0]["job_name"], second["results"][0]["job_name"]] == ["small", "big"]
    line = client.get("/api/v1/usage/", {"job": ledger.big.pk}).json()["results"][0]
    assert (line["rate"], line["amount"], line["count"], line["priced"]) == ("2.490000", "29.8800000000", "8.000", True)
    assert line["accelerator_model"] == "H100 SXM" and line["attempt_number"] == 1
    assert client.get("/api/v1/usage/", {"job": ledger.theirs.pk}).json()["results"] == []


def test_a_jobs_cost_per_attempt_with_the_price_applied_and_another_teams_is_404(ledger: Any) -> None:
    client = ledger.client(ledger.member)
    body = client.get(f"/api/v1/costs/jobs/{ledger.big.pk}/").json()
    assert (body["amount"], body["live_amount"], body["gpu_hours"], body["running"]) == (
        "29.88",
        "29.88",
        "12.000",
        False,
    )
    (attempt,) = body["attempts"]
    assert attempt["seconds"] == 5400 and attempt["prices"][0]["rate"] == "2.490000"
    assert attempt["prices"][0]["offer"].startswith("Test cloud offer")
    assert client.get(f"/api/v1/costs/jobs/{ledger.theirs.pk}/").status_code == 404


def test_a_running_jobs_cost_moves_between_accruals(ledger: Any) -> None:
    job = JobFactory(team=ledger.alpha, cluster=ledger.cluster, gpus=1, accelerator_model="H100 SXM", state="running")
    Attempt.objects.create(job=job, number=1, state="running", started_at=datetime.now(UTC) - timedelta(hours=2))
    body = ledger.client(ledger.member).get(f"/api/v1/costs/jobs/{job.pk}/").json()
    assert body["running"] and body["amount"] == "0.00" and body["rate_per_hour"] == "2.4900"
    assert Decimal("4.97") <= Decimal(body["live_amount"]) <= Decimal("5.00")  # 2 h × 2.49, live


def test_the_jobs_list_shows_and_sorts_by_cost_gpu_hours_and_duration(ledger: Any) -> None:
    client = ledger.client(ledger.member)
    rows = client.get("/api/v1/jobs/", {"ordering": "-cost"}).json()["results"]
    assert [(r["name"], r["cost"], r["cost_currency"], r["gpu_hours"]) for r in rows[:2]] == [
        ("big", "29.88", "USD", "12.000"),
        ("small", "2.49", "USD", "1.000"),
    ]
    assert [r["name"] for r in client.get("/api/v1/jobs/", {"ordering": "gpu_hours"}).json()["results"][-2:]] == [
        "small",
        "big",
    ]
    Job.objects.filter(pk=ledger.big.pk).update(started_at=DAY1, finished_at=DAY1 + timedelta(minutes=90))
    Job.objects.filter(pk=ledger.small.pk).update(started_at=DAY1, finished_at=DAY1 + timedelta(minutes=60))
    by_duration = client.get("/api/v1/jobs/", {"ordering": "-duration"}).json()["results"]
    assert [r["name"] for r in by_duration[:2]] == ["big", "small"] and by_duration[0]["duration_seconds"] == 5400


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-11-30", "to": "2026-11-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"group_by": "colour"}, "group_by"),
        ({"group_by": "team,day,user"}, "group_by"),
        ({"team": "beta"}, "team"),  # not the caller's: as unknown as a team that does not exist
        ({"limit": "-3"}, "limit"),
    ],
)
def test_bad_summary_queries_are_400_with_the_field(ledger: Any, params: dict[str, str], field: str) -> None:
    answer = ledger.client(ledger.member).get("/api/v1/costs/summary/", params)
    assert answer.status_code == 400 and field in answer.json()


def _staff() -> Any:
    from tests.conftest import client_for, token_for

    return client_for(token_for(UserFactory(is_staff=True)))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price_per_gpu_hour": "-2.00"}, "price_per_gpu_hour"),
        ({"currency": "XYZ"}, "currency"),
        ({"valid_from": "2026-11-10T00:00:00Z", "valid_until": "2026-11-01T00:00:00Z"}, "valid_until"),
        ({"valid_from": "2026-11-15T00:00:00Z"}, "valid_from"),  # overlaps the cluster's rate
        ({"region": "eu-west-1"}, "region"),  # a cluster and a region at once
    ],
)
def test_bad_prices_are_400_and_write_nothing(ledger: Any, change: dict[str, str], field: str) -> None:
    before = PricePoint.objects.count()
    body = {
        "accelerator_model": "H100 SXM",
        "pricing_class": "on_demand",
        "price_per_gpu_hour": "2.10",
        "currency": "USD",
        "cluster": ledger.cluster.name,
        "offer": "renegotiated",
        "as_of": "2026-11-15",
        **change,
    }
    answer = _staff().post("/api/v1/price-points/", body, format="json")
    assert answer.status_code == 400, answer.json()
    assert field in answer.json()
    assert PricePoint.objects.count() == before


def test_a_price_change_is_made_by_ending_the_old_rate_first(ledger: Any) -> None:
    staff = _staff()
    old = PricePoint.objects.get(cluster=ledger.cluster)
    assert (
        staff.patch(
            f"/api/v1/price-points/{old.pk}/", {"valid_until": "2026-12-01T00:00:00Z"}, format="json"
        ).status_code
        == 200
    )
    body = {
        "accelerator_model": "H100 SXM",
        "price_per_gpu_hour": "1.99",
        "cluster": ledger.cluster.name,
        "offer": "renegotiated",
        "as_of": "2026-11-20",
        "valid_from": "2026-12-01T00:00:00Z",
    }
    assert staff.post("/api/v1/price-points/", body, format="json").status_code == 201


def test_an_on_prem_price_is_computed_from_its_inputs_and_shown_with_them(ledger: Any) -> None:
    body = {
        "accelerator_model": "A100 80GB SXM",
        "pricing_class": "on_prem",
        "region": "basement",
        "offer": "our DGX A100s",
        "as_of": "2026-01-01",
        "purchase_cost": "250000",
        "gpus_per_server": 8,
        "lifetime_years": "4",
        "power_watts": "10200",
        "electricity_price_per_kwh": "0.12",
        "pue": "1.3",
    }
    answer = _staff().post("/api/v1/price-points/", body, format="json")
    assert answer.status_code == 201, answer.json()
    assert answer.json()["price_per_gpu_hour"] == "1.0907" and answer.json()["pue"] == "1.30"
    half = {**body, "offer": "half", "pue": None}
    assert _staff().post("/api/v1/price-points/", half, format="json").status_code == 400


def test_cpu_prices_refuse_a_negative_price_and_an_unknown_currency(ledger: Any) -> None:
    for bad in ({"price_per_cpu_hour": "-0.1"}, {"currency": "ABC"}):
        body = {"price_per_cpu_hour": "0.04", "offer": "m7i", "valid_from": "2026-11-01T00:00:00Z", **bad}
        assert _staff().post("/api/v1/cpu-prices/", body, format="json").status_code == 400
    assert not CpuPrice.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currency": "XYZ"}, "currency"),
        ({"amount": "-5"}, "amount"),
        ({"period": "fixed"}, "starts_on"),
        ({"period": "fixed", "starts_on": "2026-12-01", "ends_on": "2026-11-01"}, "ends_on"),
        ({"soft_percent": 150}, "soft_percent"),
    ],
)
def test_bad_budgets_are_400_and_write_nothing(ledger: Any, body: dict[str, Any], field: str) -> None:
    answer = ledger.client(ledger.org_admin).post(
        "/api/v1/budgets/", {"team": "alpha", "name": "b", "amount": "100", **body}, format="json"
    )
    assert answer.status_code == 400 and field in answer.json(), answer.json()
    assert not Budget.objects.exists()


def test_a_teams_budget_is_seen_by_its_members_only_and_burns_down_by_day(ledger: Any) -> None:
    from tests.costs.test_budgets import spend

    created = ledger.client(ledger.org_admin).post(
        "/api/v1/budgets/", {"team": "alpha", "name": "monthly", "amount": "100"}, format="json"
    )
    assert created.status_code == 201, created.json()
    budget_id = created.json()["id"]
    assert ledger.client(ledger.outsider).get(f"/api/v1/budgets/{budget_id}/").status_code == 404
    seen = ledger.client(ledger.viewer).get("/api/v1/budgets/").json()["results"]
    assert [b["name"] for b in seen] == ["monthly"]
    spend(ledger, ledger.alpha, "40.00")
    burn = ledger.client(ledger.viewer).get(f"/api/v1/budgets/{budget_id}/burn/").json()
    assert burn["days"][0]["spent"] == "40.00" and burn["days"][-1]["cumulative"] == "40.00"
    assert burn["forecast"][-1]["cumulative"] == "40.00"  # nothing running: it stays there
    assert (
        burn["forecast"][-1]["day"]
        == (datetime.fromisoformat(burn["period_end"]) - timedelta(days=1)).date().isoformat()
    )


def test_a_page_of_the_summary_holds_at_most_max_rows_and_says_so(ledger: Any, monkeypatch: Any) -> None:
    from apps.costs.api import views

    monkeypatch.setattr(views, "MAX_ROWS", 1)
    body = ledger.client(ledger.member).get("/api/v1/costs/summary/", {"group_by": "job", **NOVEMBER}).json()
    assert body["truncated"] and [r["job_name"] for r in body["rows"]] == ["big"]
    assert body["totals"][0]["amount"] == "32.37"
    whole = ledger.client(ledger.member).get("/api/v1/costs/summary/", {"group_by": "job", "format": "csv", **NOVEMBER})
    assert b"".join(whole.streaming_content).decode().count("\n") == 3  # header and both jobs
