"""The queue and quota pages in a real browser: a GPU pool shared by two teams with quotas,
some jobs admitted, the rest waiting with their place and the reason in words."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.factories import (
    AcceleratorFactory,
    ClusterFactory,
    JobFactory,
    MembershipFactory,
    NodeFactory,
    OrganisationAdminFactory,
    OrganisationFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser]

PASSWORD = "a-long-test-password"
POOL = "dgx-a-h100-sxm"


def two_teams_on_one_gpu_node(role: str, *, organisation_admin: bool = False) -> dict[str, Any]:
    """One 8 × H100 node; teams nlp and vision guaranteed 4 GPUs each (nlp capped at 4, vision in
    no cohort), five 4-GPU jobs: each team's first is admitted, the other three wait. The user
    has ``role`` in nlp (and is an admin of the organisation when told). Returns the waiting
    jobs by name."""
    from apps.admission.pools import ensure_pools
    from apps.admission.scheduler import admit_pending
    from apps.inventory.models import AcceleratorModel
    from apps.jobs.models import Job
    from apps.quotas.models import Pool, Quota

    org = OrganisationFactory(slug="acme")
    cluster = ClusterFactory(organisation=org, name="dgx-a")
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    node = NodeFactory(cluster=cluster, hostname="dgx-a-1")
    for index in range(8):
        AcceleratorFactory(node=node, index=index, model=h100)
    ensure_pools()
    pool = Pool.objects.get(name=POOL)

    nlp = TeamFactory(organisation=org, slug="nlp", default_cluster=cluster)
    vision = TeamFactory(organisation=org, slug="vision", default_cluster=cluster)
    Quota.objects.create(team=nlp, pool=pool, guaranteed=4, max=4)
    Quota.objects.create(team=vision, pool=pool, guaranteed=4, max=None)
    user = UserFactory(username="scheduler-watcher")
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(team=nlp, user=user, role=role)
    MembershipFactory(team=vision, user=user, role="member")
    if organisation_admin:
        OrganisationAdminFactory(organisation=org, user=user)

    # Oldest first: each team's first job fits its guarantee, the rest wait behind them.
    for team, name in ((nlp, "nlp-train-1"), (vision, "vision-train-1"), (nlp, "nlp-train-2"), (nlp, "nlp-train-3")):
        JobFactory(team=team, cluster=cluster, name=name, gpus=4, accelerator_model="H100")
    JobFactory(team=vision, cluster=cluster, name="vision-eval", gpus=4, accelerator_model="H100")
    admit_pending()
    waiting = {job.name: job for job in Job.objects.filter(state="pending")}
    assert set(waiting) == {"nlp-train-2", "nlp-train-3", "vision-eval"}
    assert all(job.state_reason for job in waiting.values())
    return waiting


def log_in(page: Any, live_server: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{live_server.url}/login")
    page.get_by_label("Username").fill("scheduler-watcher")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/jobs"))


def test_the_queue_shows_positions_and_reasons_and_the_quota_page_shows_usage(
    transactional_db: Any, catalog: None, fake_backend: Any, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    waiting = two_teams_on_one_gpu_node(role="admin")  # of team nlp, not of the organisation
    log_in(page, live_server)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Queue").click()
    expect(page).to_have_url(re.compile(r"/queue$"))

    queue = page.get_by_test_id("queue")
    rows = queue.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.get_by_role("link")).to_have_text(["nlp-train-2", "nlp-train-3", "vision-eval"])
    first = page.get_by_test_id(f"queue-row-{waiting['nlp-train-2'].pk}")
    expect(first.get_by_test_id("queue-position")).to_have_text("1")
    expect(first.get_by_test_id("pending-reason")).to_have_text(waiting["nlp-train-2"].state_reason)
    expect(first.get_by_test_id("pending-reason")).to_contain_text(f"Waiting for 4 × H100 SXM in pool {POOL}")
    expect(first.get_by_test_id("jobs-ahead")).to_have_text("next in its pool")
    second = page.get_by_test_id(f"queue-row-{waiting['nlp-train-3'].pk}")
    expect(second.get_by_test_id("queue-position")).to_have_text("2")
    expect(second.get_by_test_id("jobs-ahead")).to_have_text("1 job ahead")
    eval_row = page.get_by_test_id(f"queue-row-{waiting['vision-eval'].pk}")
    expect(eval_row.get_by_test_id("queue-position")).to_have_text("1")
    expect(eval_row.get_by_test_id("jobs-ahead")).to_have_text("2 jobs ahead")
    expect(eval_row).to_contain_text("vision")
    expect(eval_row.get_by_test_id("pending-reason")).to_contain_text(f"pool {POOL}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-queue.png"), full_page=True)

    # A waiting job's own page says the same.
    second.get_by_role("link", name="nlp-train-3").click()
    expect(page).to_have_url(re.compile(rf"/jobs/{waiting['nlp-train-3'].pk}$"))
    expect(page.get_by_test_id("job-pool")).to_have_text(POOL)
    expect(page.get_by_test_id("job-queue-position")).to_contain_text(
        f"Position 2 among team nlp’s pending jobs in pool {POOL}"
    )
    expect(page.get_by_test_id("job-pending-reason")).to_have_text(waiting["nlp-train-3"].state_reason)
    page.go_back()

    # Filtering by team asks the server for that team's queue only.
    page.get_by_label("Team").select_option("vision")
    expect(page).to_have_url(re.compile(r"/queue\?team=vision$"))
    expect(rows).to_have_count(1)
    expect(rows.get_by_role("link")).to_have_text(["vision-eval"])

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Quotas").click()
    expect(page).to_have_url(re.compile(r"/quotas$"))
    section = page.get_by_test_id(f"pool-{POOL}")
    expect(section.get_by_role("heading", name=POOL)).to_be_visible()
    expect(section.get_by_test_id("pool-totals")).to_contain_text("8 GPUs: 8 used · 0 free · 3 pending jobs")
    nlp_row = section.get_by_test_id("quotas").get_by_test_id(f"quota-{POOL}-nlp")
    expect(nlp_row.get_by_test_id("quota-guaranteed")).to_have_text("4")
    expect(nlp_row.get_by_test_id("quota-max")).to_have_text("4")
    expect(nlp_row.get_by_test_id("quota-used")).to_have_text(re.compile(r"^\s*4$"))
    vision_row = section.get_by_test_id(f"quota-{POOL}-vision")
    expect(vision_row.get_by_test_id("quota-used")).to_have_text(re.compile(r"^\s*4$"))
    expect(vision_row.get_by_test_id("quota-max")).to_have_text("∞")
    expect(section.get_by_role("img", name=re.compile(r"^Quota use in pool"))).to_have_attribute(
        "aria-label", re.compile(r"nlp: 4 used within guarantee, 0 borrowed, 0 lent, 0 idle")
    )
    # A team admin is no organisation admin: they change nothing here.
    expect(page.get_by_role("button", name=re.compile("^Edit"))).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "e2e-quotas.png"), full_page=True)


def test_an_organisation_admin_changes_a_quota_on_the_quota_page(
    transactional_db: Any, catalog: None, fake_backend: Any, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    from apps.quotas.models import Quota

    two_teams_on_one_gpu_node(role="member", organisation_admin=True)
    log_in(page, live_server)
    page.goto(f"{live_server.url}/quotas")
    row = page.get_by_test_id(f"quota-{POOL}-nlp")
    row.get_by_role("button", name="Edit the quota of nlp").click()
    row.get_by_label("Guaranteed for nlp").fill("6")
    row.get_by_role("button", name="Save").click()
    # The server refuses a ceiling below the guarantee, next to the field.
    expect(row).to_contain_text("At least the guaranteed 6")
    expect(row.get_by_label("Max for nlp")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=str(ARTIFACTS / "e2e-quota-refused.png"), full_page=True)

    row.get_by_label("Max for nlp").fill("")
    row.get_by_role("button", name="Save").click()
    expect(row.get_by_test_id("quota-guaranteed")).to_have_text("6")
    expect(row.get_by_test_id("quota-max")).to_have_text("∞")
    quota = Quota.objects.get(team__slug="nlp")
    assert (quota.guaranteed, quota.max) == (6, None)
    assert Quota.objects.get(team__slug="vision").guaranteed == 4
