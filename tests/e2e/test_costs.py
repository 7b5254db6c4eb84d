"""Costs in a real browser: a team with a monthly budget and a finished 8-GPU job whose usage is
in the ledger; the banner warns of the budget, the jobs list and the job's page show what the
job cost, the quotas page the month's spend, the costs page charts it and shows the budget, and
both CSV downloads arrive with their header line."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.factories import (
    ClusterFactory,
    JobFactory,
    MembershipFactory,
    OrganisationFactory,
    PricePointFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser]

PASSWORD = "a-long-test-password"
# 8 × H100 SXM for 90 minutes at 2.49 per GPU-hour: 12 GPU-hours, USD 29.88.
GPUS = 8
SECONDS = 5400
RATE = Decimal("2.49")
COST = Decimal("29.88")


def team_with_a_budget_and_a_costed_job() -> dict[str, Any]:
    """Team nlp with a USD 35.00 monthly budget (soft at 80 %), and its finished job, charged by
    the accrual at its cluster's price: one usage line of USD 29.88 this month, 85 % spent."""
    from django.utils import timezone

    from apps.costs.accrual import accrue
    from apps.costs.models import Budget, UsageRecord
    from apps.inventory.models import AcceleratorModel
    from apps.jobs.models import Attempt, Job

    org = OrganisationFactory(slug="acme")
    cluster = ClusterFactory(organisation=org, name="dgx-a")
    nlp = TeamFactory(organisation=org, slug="nlp", default_cluster=cluster)
    user = UserFactory(username="cost-watcher")
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(team=nlp, user=user, role="member")

    # 90 minutes that ended a minute ago; in the first 95 minutes of a month they would cross
    # into the last one, so then they are the month's first 90 (the clock is not the test's).
    now = timezone.now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = max(now - timedelta(seconds=SECONDS + 60), month_start)
    end = start + timedelta(seconds=SECONDS)

    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    PricePointFactory(accelerator_model=h100, cluster=cluster, price_per_gpu_hour=RATE, valid_from=start - timedelta(1))
    job = JobFactory(
        team=nlp,
        cluster=cluster,
        name="finetune-7b",
        cpus=16,
        gpus=GPUS,
        accelerator_model="H100 SXM",
        submitted_by=user,
    )
    Job.objects.filter(pk=job.pk).update(state="succeeded", started_at=start, finished_at=end)
    Attempt.objects.create(job=job, number=1, state="succeeded", started_at=start, finished_at=end)
    accrue(now=max(now, end))  # the ledger as the periodic accrual writes it, and the job's sums
    assert sum(line.amount for line in UsageRecord.objects.filter(job=job)) == COST  # one line, or two over midnight
    budget = Budget.objects.create(
        team=nlp,
        organisation=None,
        name="nlp monthly",
        unit="money",
        amount=Decimal("35.00"),
        currency="USD",
        period="monthly",
        soft_percent=80,
        hard=True,
        on_hard_limit="continue",
    )
    return {"job": job, "budget": budget}


def log_in(page: Any, live_server: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{live_server.url}/login")
    page.get_by_label("Username").fill("cost-watcher")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/jobs"))


def read_csv(download: Any) -> tuple[str, list[dict[str, str]]]:
    """The file's header line as it is, and its rows by column."""
    path = download.path()
    assert path is not None, download.failure()
    text = Path(path).read_text(encoding="utf-8")
    return text.splitlines()[0], list(csv.DictReader(io.StringIO(text)))


def test_the_costs_page_charts_spend_shows_the_budget_and_downloads_csv(
    transactional_db: Any, catalog: None, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    seeded = team_with_a_budget_and_a_costed_job()
    job, budget = seeded["job"], seeded["budget"]
    log_in(page, live_server)

    # 29.88 of 35.00 is past the soft limit (80 %): every page says so, linking to the costs.
    banner = page.get_by_test_id("budget-banner")
    expect(banner).to_contain_text("Team nlp has used 85 % of its USD 35.00 monthly budget")

    # The jobs list: what the job ran on, its GPU-hours and its cost.
    row = page.get_by_test_id(f"job-row-{job.pk}")
    expect(row.get_by_test_id("job-resources")).to_have_text("8 × H100 SXM")
    expect(row.get_by_test_id("job-gpu-hours")).to_have_text("12")
    expect(row.get_by_test_id("job-cost")).to_have_text("USD 29.88")

    # The job's page: its cost card; the quotas page: the team's month against its budget.
    page.goto(f"{live_server.url}/jobs/{job.pk}")
    expect(page.get_by_test_id("job-cost-so-far")).to_have_text("USD 29.88")
    expect(page.get_by_test_id("attempt-cost-1")).to_contain_text("8 × H100 SXM")
    page.goto(f"{live_server.url}/quotas")
    expect(page.get_by_test_id("team-spend-nlp")).to_contain_text("USD 29.88 of 35.00 (85 %)")

    page.get_by_test_id("budget-banner").get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"/costs$"))
    expect(page.get_by_role("heading", name="Costs", exact=True)).to_be_visible()
    expect(page.get_by_test_id("spend-chart").locator("canvas")).to_be_visible()
    expect(page.get_by_test_id("cost-total-USD")).to_contain_text("USD 29.88")
    top_job = page.get_by_test_id(f"top-job-{job.pk}")
    expect(top_job.get_by_role("link")).to_have_attribute("href", f"/jobs/{job.pk}")
    expect(top_job).to_contain_text("USD 29.88")

    card = page.get_by_test_id(f"budget-{budget.pk}")
    expect(card.get_by_test_id("budget-spent")).to_have_text(re.compile(r"USD 29\.88 of 35\.00 \(85 %\)"))
    expect(card.get_by_test_id("budget-status")).to_have_text("Nearing its limit")
    expect(card.get_by_test_id("budget-remaining")).to_have_text("USD 5.12")
    expect(page.get_by_test_id(f"burn-{budget.pk}").locator("canvas")).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-costs.png"), full_page=True)

    with page.expect_download() as summary:
        page.get_by_role("link", name="Download this summary (CSV)").click()
    header, rows = read_csv(summary.value)
    # The same columns as the JSON rows: the dimensions, then the sums.
    assert header == "team,day,currency,amount,gpu_hours,cpu_hours,records"
    assert {(r["team"], r["currency"]) for r in rows} == {("nlp", "USD")}
    assert sum(Decimal(r["amount"]) for r in rows) == COST

    with page.expect_download() as usage:
        page.get_by_role("link", name="Download the usage records (CSV)").click()
    header, records = read_csv(usage.value)
    assert header.split(",")[0] == "id"
    assert {"team", "job", "resource", "count", "rate", "currency", "amount"} <= set(header.split(","))
    assert {(r["team"], r["job"], r["resource"]) for r in records} == {("nlp", str(job.pk), "gpu")}
    assert sum(Decimal(r["amount"]) for r in records) == COST
