"""The inventory page in a real browser: a cluster on the real Ray head, discovered, then seen
by a member of its organisation down to its GPUs."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.factories import ClusterFactory, MembershipFactory, OrganisationFactory, TeamFactory, UserFactory
from tests.raycluster import RAY_TEST_NUM_GPUS

pytestmark = [pytest.mark.browser, pytest.mark.ray]

PASSWORD = "a-long-test-password"


def test_the_inventory_page_shows_the_discovered_cluster_node_and_gpus(
    transactional_db: Any, catalog: None, ray_head: Any, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    from apps.inventory.discovery import discover_cluster
    from apps.inventory.models import Node

    org = OrganisationFactory(slug="fleet")
    cluster = ClusterFactory(organisation=org, name="local-ray", address=ray_head.address)
    if ray_head.auth_token:  # the test head requires Ray's token auth
        cluster.set_auth_token(ray_head.auth_token)
        cluster.save()
    user = UserFactory(username="watcher")
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(team=TeamFactory(organisation=org, slug="fleet-team"), user=user, role="viewer")

    discover_cluster(cluster)
    node = Node.objects.get(cluster=cluster)
    assert node.accelerators.count() == RAY_TEST_NUM_GPUS
    # Ray's accelerator_type:H100 resource maps to the catalog's H100 SXM row.
    assert set(node.accelerators.values_list("model__name", flat=True)) == {"H100 SXM"}

    page.goto(f"{live_server.url}/login")
    page.get_by_label("Username").fill("watcher")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/jobs"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inventory").click()
    expect(page).to_have_url(re.compile(r"/inventory$"))

    section = page.get_by_test_id("cluster-local-ray")
    expect(section.get_by_role("heading", name="local-ray")).to_be_visible()
    expect(section.get_by_test_id("cluster-state")).to_have_text("ready")
    row = section.get_by_test_id(f"node-{node.hostname}")
    expect(row).to_be_visible()
    expect(row.get_by_test_id("node-gpus")).to_have_text(re.compile(rf"\d+ / {RAY_TEST_NUM_GPUS} free"))
    expect(row).to_contain_text("last seen")
    expect(page.get_by_test_id("gpu-totals")).to_contain_text(f"{RAY_TEST_NUM_GPUS} GPUs")

    row.get_by_role("button", name=node.hostname).click()
    gpus = page.get_by_role("table", name=f"GPUs of {node.hostname}")
    expect(gpus.get_by_test_id("gpu-row")).to_have_count(RAY_TEST_NUM_GPUS)
    expect(gpus.get_by_test_id("gpu-row").first).to_contain_text("#0")
    expect(gpus.get_by_test_id("gpu-row").last).to_contain_text("#1")
    expect(gpus.get_by_test_id("gpu-row").first).to_contain_text("H100 SXM")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-inventory.png"), full_page=True)
