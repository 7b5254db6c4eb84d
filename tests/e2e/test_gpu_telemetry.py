"""GPU telemetry in a real browser: a job's page charts the GPU its attempt held, as host-2's
training series was reported; an operator finds an idle GPU on the Idle GPUs page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.inventory.services import record_agent_report
from tests.e2e.signin import PASSWORD, sign_in
from tests.factories import (
    ClusterFactory,
    JobFactory,
    MembershipFactory,
    NodeFactory,
    OrganisationAdminFactory,
    OrganisationFactory,
    TeamFactory,
    UserFactory,
)
from tests.telemetry.helpers import SERIES, holding_job, sample_report, utilisation_report

pytestmark = [pytest.mark.browser]


def user(username: str) -> Any:
    person = UserFactory(username=username)
    person.set_password(PASSWORD)
    person.save()
    return person


def test_the_job_page_charts_the_utilisation_of_the_gpu_it_holds(
    transactional_db: Any, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    org = OrganisationFactory(slug="fleet")
    cluster = ClusterFactory(organisation=org, name="h200s")
    team = TeamFactory(organisation=org, slug="research")
    member = user("trainer")
    MembershipFactory(team=team, user=member, role="member")
    world = type("World", (), {"alpha": team, "cluster": cluster, "member": member})()
    node = NodeFactory(cluster=cluster, hostname="h200-2")
    attempt = holding_job(world, node, [0])
    start = (timezone.now() - timedelta(minutes=30)).replace(second=0, microsecond=0)  # 30 whole minutes
    for i, sample in enumerate(SERIES[:120]):  # the warm-up and the first of training, every 15 s
        record_agent_report(
            actor=None, cluster=cluster, report=sample_report(sample), now=start + i * timedelta(seconds=15)
        )

    sign_in(page, live_server, "trainer")
    page.goto(f"{live_server.url}/jobs/{attempt.job_id}")
    section = page.get_by_test_id("gpu-utilisation")
    expect(section.get_by_role("heading", name="GPUs")).to_be_visible()
    chart = section.get_by_test_id("gpu-chart").locator("canvas")
    expect(chart).to_be_visible()
    expect(chart).to_have_attribute(
        "aria-label", re.compile(r"GPU utilisation \(%\) by minute\. h200-2 GPU 0: 30 points")
    )
    # Chart.js sizes the canvas to its card once it has laid out (300 × 150 is a bare canvas's).
    page.wait_for_function(
        "(canvas) => { const box = canvas.getBoundingClientRect(); return box.width > 300 && box.height > 150; }",
        arg=chart.element_handle(),
    )
    # Chart.js drew on it: more than 1,000 pixels are not blank (waited for: it draws in frames).
    page.wait_for_function(
        """(canvas) => {
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
            return painted > 1000;
        }""",
        arg=chart.element_handle(),
    )
    expect(section.get_by_test_id("gpu-series-resolution")).to_have_text("1-minute means")
    section.get_by_label("Reading").select_option("temperature_c")
    expect(chart).to_have_attribute("aria-label", re.compile(r"GPU temperature \(°C\) by minute"))


def test_an_operator_finds_an_idle_gpu_and_its_job(transactional_db: Any, live_server: Any, page: Any) -> None:
    from playwright.sync_api import expect

    org = OrganisationFactory(slug="fleet")
    cluster = ClusterFactory(organisation=org, name="h200s")
    team = TeamFactory(organisation=org, slug="research")
    submitter = UserFactory(username="sleepy")
    MembershipFactory(team=team, user=submitter, role="member")
    operator = user("ops")
    OrganisationAdminFactory(organisation=org, user=operator)
    MembershipFactory(team=team, user=operator, role="viewer")  # to open the job's page too
    node = NodeFactory(cluster=cluster, hostname="h200-1")
    job = JobFactory(team=team, cluster=cluster, state="running", gpus=1, name="forgotten-notebook")
    world = type("World", (), {"alpha": team, "cluster": cluster, "member": submitter})()
    holding_job(world, node, [3], job=job)
    now = timezone.now()
    for minutes_ago in (45, 20, 0):
        record_agent_report(
            actor=None,
            cluster=cluster,
            report=utilisation_report("h200-1", {3: 0.0}),
            now=now - timedelta(minutes=minutes_ago),
        )

    sign_in(page, live_server, "ops")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inventory").click()
    page.get_by_role("link", name="Idle GPUs").click()
    expect(page).to_have_url(re.compile(r"/idle-gpus$"))
    row = page.get_by_test_id("idle-gpus").get_by_role("row").nth(1)
    expect(row).to_contain_text("research")
    expect(row).to_contain_text("h200s / h200-1 GPU 3")
    expect(row).to_contain_text("45 min")
    row.get_by_role("link", name="forgotten-notebook").click()
    expect(page).to_have_url(re.compile(rf"/jobs/{job.pk}$"))
    expect(page.get_by_test_id("job-events")).to_contain_text("GPU 3 on h200-1 under 5 % utilisation for 30 min")
