"""A Kubernetes cluster registered the way an operator does it, in a real browser: the admin's
Clusters → Add with a pasted kubeconfig, the admin's "Discover nodes now", then the dashboard's
inventory showing the nodes GPU Feature Discovery labelled, down to their GPUs. The API server
is the emulated one (kmock, over real HTTP); the pasted token is never shown again."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission

from apps.inventory.models import Cluster
from tests.conftest import ARTIFACTS
from tests.dispatch.k8s_emulator import Controller, EmulatedCluster, k8s_cluster, kubeconfig
from tests.factories import OrganisationFactory, UserFactory

pytestmark = [pytest.mark.browser]

__all__ = ["k8s_cluster"]

PASSWORD = "a-long-test-password"
TOKEN = "e2e-canary-token-5d81b2"
GPU_NODES = ("gpu-a", "gpu-b")


def test_an_operator_registers_a_kubernetes_cluster_and_sees_its_gpus(
    transactional_db: Any, catalog: None, k8s_cluster: EmulatedCluster, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    controller = Controller(k8s_cluster)
    for name in GPU_NODES:
        controller.seed_node(
            name, cpus="96", memory="1024Gi", gpus=8, product="NVIDIA-H100-80GB-HBM3", gpu_memory_mib=81559
        )
    controller.seed_node("cpu-a", cpus="16", memory="64Gi")

    OrganisationFactory(slug="fleet", name="Fleet")
    operator = UserFactory(username="operator", is_staff=True)
    operator.set_password(PASSWORD)
    operator.save()
    operator.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="inventory", codename__endswith="_cluster")
    )

    # The operator console: log in, Clusters → Add, paste the kubeconfig, save.
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Clusters").first.click()
    page.get_by_role("link", name=re.compile("Add cluster")).click()
    page.locator("#id_organisation").select_option(label="Fleet")
    page.locator("#id_name").fill("lab")
    page.locator("#id_kind").select_option("kubernetes")
    page.locator("#id_kubeconfig").fill(kubeconfig(k8s_cluster.url, token=TOKEN))
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    cluster = Cluster.objects.get(name="lab")
    assert cluster.kind == "kubernetes" and cluster.address == k8s_cluster.url

    # Discovery, as an operator asks for it: the changelist's action.
    page.get_by_role("checkbox", name=re.compile("Select this object")).first.check()
    page.locator("select[name=action]").select_option(label="Discover nodes now")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_contain_text("Discovery queued for lab")
    # The emulator heard from Paddock with the pasted token.
    listed = [r for r in k8s_cluster.requests("GET") if str(r.url).endswith("/api/v1/nodes")]
    assert listed and all(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in listed)

    # The change page shows no trace of the credential.
    page.get_by_role("link", name="lab", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("Change cluster"))).to_be_visible()
    assert TOKEN not in page.content()
    for form_field in ("kubeconfig", "auth_token"):
        assert page.locator(f"[name={form_field}]").input_value() == ""

    # The dashboard's inventory, as the same operator (one sign-in serves both).
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/jobs"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inventory").click()
    section = page.get_by_test_id("cluster-lab")
    expect(section.get_by_role("heading", name="lab")).to_be_visible()
    expect(section.get_by_test_id("cluster-state")).to_have_text("ready")
    expect(section.get_by_test_id("node-cpu-a")).to_be_visible()
    expect(section.get_by_test_id("node-cpu-a").get_by_test_id("node-gpus")).to_have_text("none")
    for name in GPU_NODES:
        # Free needs a load reading, which only an NVML agent gives: Kubernetes counts GPUs.
        row = section.get_by_test_id(f"node-{name}")
        expect(row.get_by_test_id("node-gpus")).to_have_text(re.compile(r"^\d / 8 free$"))
    expect(page.get_by_test_id("gpu-totals")).to_contain_text("16 GPUs")

    section.get_by_test_id("node-gpu-b").get_by_role("button", name="gpu-b").click()
    gpus = page.get_by_role("table", name="GPUs of gpu-b")
    expect(gpus.get_by_test_id("gpu-row")).to_have_count(8)
    for index in (0, 7):
        expect(gpus.get_by_test_id("gpu-row").nth(index)).to_contain_text(f"#{index}")
        expect(gpus.get_by_test_id("gpu-row").nth(index)).to_contain_text("H100 SXM")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-kubernetes.png"), full_page=True)
