"""Where a job ran, in a real browser: the job page's placement, linked to the node's page,
which lists the job among those that ran there."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.conftest import ARTIFACTS
from tests.e2e.signin import PASSWORD, sign_in
from tests.factories import (
    AcceleratorFactory,
    AcceleratorModelFactory,
    ClusterFactory,
    JobFactory,
    MembershipFactory,
    NetworkFabricFactory,
    NodeFactory,
    OrganisationFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser]


def test_the_job_page_shows_its_placement_and_links_to_the_node_page(
    transactional_db: Any, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    from apps.jobs.models import Attempt

    org = OrganisationFactory(slug="where")
    cluster = ClusterFactory(organisation=org, name="where-ray", kind="ray", address="http://127.0.0.1:8265")
    team = TeamFactory(organisation=org, slug="where-team", default_cluster=cluster)
    user = UserFactory(username="placed")
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(team=team, user=user, role="member")
    node = NodeFactory(cluster=cluster, hostname="gpu-node-7", address="10.0.0.7")
    model = AcceleratorModelFactory(name="H100 SXM")
    for index in range(4):
        AcceleratorFactory(node=node, index=index, uuid=f"GPU-7c0ffee{index}-1111-2222-3333-444455556666", model=model)
    NetworkFabricFactory(organisation=org, name="ib-a", kind="infiniband", gbps_per_node=400, rdma=True).nodes.add(node)
    # Finished, so that nothing on the page asks the (absent) cluster for anything.
    now = timezone.now()
    job = JobFactory(team=team, cluster=cluster, name="placed-job", state="succeeded", gpus=2, finished_at=now)
    Attempt.objects.create(
        job=job,
        number=1,
        state="succeeded",
        placement=[{"node_id": node.pk, "hostname": node.hostname, "address": node.address, "gpus": [2, 3]}],
        started_at=now - timedelta(minutes=30),
        finished_at=now,
    )

    sign_in(page, live_server, "placed")
    page.goto(f"{live_server.url}/jobs/{job.pk}")

    placement = page.get_by_test_id("job-placement")
    expect(placement.get_by_role("heading", name="Placement")).to_be_visible()
    row = placement.get_by_test_id("placement-1")
    expect(row).to_contain_text("10.0.0.7")
    expect(row).to_contain_text("H100 SXM")
    expect(row).to_contain_text("ib-a (InfiniBand, 400 Gbit/s, RDMA)")
    expect(row.get_by_test_id("placement-gpu")).to_have_count(2)
    expect(row.get_by_test_id("placement-gpu").first).to_contain_text("#2 GPU-7c0ffee2…")
    expect(row.get_by_role("button", name="Copy the UUID of GPU 3")).to_be_visible()
    expect(placement.get_by_role("link", name="where-ray")).to_have_attribute("href", "/inventory?cluster=where-ray")
    expect(placement.get_by_test_id("ray-dashboard-link")).to_have_attribute("href", "http://127.0.0.1:8265")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-job-placement.png"), full_page=True)

    row.get_by_role("link", name="gpu-node-7").click()
    expect(page).to_have_url(re.compile(rf"/nodes/{node.pk}$"))
    expect(page.get_by_role("heading", name="gpu-node-7")).to_be_visible()
    expect(page.get_by_test_id("node-facts")).to_contain_text("10.0.0.7")
    expect(page.get_by_text("No job of your teams runs on gpu-node-7 now.")).to_be_visible()
    recent = page.get_by_role("table", name="Jobs on gpu-node-7 recently")
    expect(recent.get_by_role("link", name="placed-job")).to_have_attribute("href", f"/jobs/{job.pk}")
    expect(recent.get_by_test_id("node-job-gpus")).to_have_text("#2, #3")
    expect(page.get_by_role("table", name="GPUs of gpu-node-7").get_by_test_id("gpu-row")).to_have_count(4)
    page.screenshot(path=str(ARTIFACTS / "e2e-node-page.png"), full_page=True)
