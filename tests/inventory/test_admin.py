"""The operator console: inventory lists, their filters and the actions that go through services."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.core.models import AuditEntry
from apps.inventory.models import AcceleratorModel, MaintenanceWindow, Node, StorageBackend
from tests.dispatch.k8s_emulator import k8s_cluster
from tests.factories import (
    AcceleratorFactory,
    AcceleratorModelFactory,
    ClusterFactory,
    InterconnectDomainFactory,
    MaintenanceWindowFactory,
    NetworkFabricFactory,
    NodeFactory,
    StorageBackendFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MODELS = [
    "cluster",
    "acceleratormodel",
    "node",
    "accelerator",
    "interconnectdomain",
    "networkfabric",
    "storagebackend",
    "maintenancewindow",
]

__all__ = ["k8s_cluster"]


@pytest.fixture
def operator() -> Any:
    return UserFactory(username="root-operator", is_staff=True, is_superuser=True)


@pytest.fixture
def console(operator: Any) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def changelist(model: str) -> str:
    return reverse(f"admin:inventory_{model}_changelist")


def add_rows(n: int) -> None:
    """``n`` more rows of every inventory model, related the way discovery relates them."""
    for _ in range(n):
        node = NodeFactory(labels={"zone": "eu-1"}, last_heartbeat_at=timezone.now())
        gpus = [AcceleratorFactory(node=node, index=i) for i in range(2)]
        AcceleratorFactory(node=node, index=2, model=None, reported_name="Mystery GPU")
        domain = InterconnectDomainFactory(node=node)
        domain.accelerators.set(gpus)
        fabric = NetworkFabricFactory(organisation=node.cluster.organisation)
        fabric.nodes.add(node)
        StorageBackendFactory(capacity_bytes=10**12, used_bytes=4 * 10**11)
        MaintenanceWindowFactory(node=node, created_by=UserFactory())


def queries(console: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = console.get(url)
        assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("model", MODELS)
def test_every_inventory_changelist_renders_with_a_constant_number_of_queries(console: Client, model: str) -> None:
    add_rows(2)
    url = changelist(model)
    queries(console, url)  # warm: the session, content types
    few = queries(console, url)
    add_rows(8)
    assert queries(console, url) == few


@pytest.mark.parametrize(
    "query",
    ["?free_gpus=yes", "?free_gpus=no", "?state__exact=ready", "?q=eu-1", "?accelerators__model__id__exact={model}"],
)
def test_node_list_filters_keep_a_constant_number_of_queries(console: Client, query: str) -> None:
    add_rows(2)
    url = changelist("node") + query.format(model=AcceleratorModel.objects.filter(accelerators__isnull=False)[0].pk)
    queries(console, url)
    few = queries(console, url)
    add_rows(8)
    assert queries(console, url) == few


@pytest.mark.parametrize("model", MODELS)
def test_every_inventory_add_page_renders(console: Client, model: str) -> None:
    assert console.get(reverse(f"admin:inventory_{model}_add")).status_code == 200


def test_node_change_page_renders_its_gpus_and_windows(console: Client) -> None:
    add_rows(1)
    node = Node.objects.get()
    response = console.get(reverse("admin:inventory_node_change", args=[node.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Mystery GPU" in body and "firmware upgrade" in body


def test_node_list_shows_gpus_free_and_a_stale_heartbeat(console: Client, settings: Any) -> None:
    settings.PADDOCK_DISCOVERY_INTERVAL = 60
    now = timezone.now()
    fresh = NodeFactory(hostname="fresh-node", source="ray", last_heartbeat_at=now - timedelta(seconds=170))
    NodeFactory(hostname="stale-node", source="agent", last_heartbeat_at=now - timedelta(seconds=190))
    NodeFactory(hostname="typed-in-node", source="manual", last_heartbeat_at=None)  # nothing reports it
    AcceleratorFactory(node=fresh, index=0)
    AcceleratorFactory(node=fresh, index=1, utilisation_percent=80.0)

    body = console.get(changelist("node")).content.decode()

    rows = body.split("<tr")[1:]
    fresh_row, stale_row, typed_row = (
        next(row for row in rows if name in row) for name in ("fresh-node", "stale-node", "typed-in-node")
    )
    assert "stale" not in fresh_row and "stale</strong>" in stale_row
    assert "never" in typed_row and "stale" not in typed_row
    assert '<td class="field-gpus">2</td><td class="field-free_gpus">1</td>' in fresh_row


def test_free_gpu_filter_and_label_search(console: Client) -> None:
    idle = NodeFactory(hostname="idle-node", labels={"pool": "h100-spot"})
    busy = NodeFactory(hostname="busy-node", labels={"pool": "a100"})
    AcceleratorFactory(node=idle, index=0)
    AcceleratorFactory(node=busy, index=0, memory_used_mib=70000)

    def hostnames(query: str) -> set[str]:
        response = console.get(changelist("node") + query)
        return {n.hostname for n in response.context["cl"].result_list}

    assert hostnames("?free_gpus=yes") == {"idle-node"}
    assert hostnames("?free_gpus=no") == {"busy-node"}
    assert hostnames("?q=h100-spot") == {"idle-node"}


def test_unrecognised_accelerators_filter(console: Client) -> None:
    AcceleratorFactory(reported_name="NVIDIA H100 80GB HBM3")
    mystery = AcceleratorFactory(model=None, reported_name="Mystery GPU")
    response = console.get(changelist("accelerator") + "?unrecognised=yes")
    assert [a.pk for a in response.context["cl"].result_list] == [mystery.pk]


@pytest.mark.parametrize(
    ("action", "start", "end", "audit_action"),
    [
        ("cordon", "ready", "cordoned", "inventory.node_cordoned"),
        ("drain", "ready", "draining", "inventory.node_drained"),
        ("mark_down", "ready", "down", "inventory.node_marked_down"),
        ("uncordon", "cordoned", "ready", "inventory.node_uncordoned"),
    ],
)
def test_node_actions_change_state_through_the_services(
    console: Client, operator: Any, action: str, start: str, end: str, audit_action: str
) -> None:
    cluster = ClusterFactory()
    chosen = [NodeFactory(cluster=cluster, state=start) for _ in range(2)]
    untouched = NodeFactory(cluster=cluster, state=start)

    response = console.post(
        changelist("node"), {"action": action, "_selected_action": [n.pk for n in chosen]}, follow=True
    )

    assert response.status_code == 200
    assert "2 node(s)" in response.content.decode()
    assert {n.state for n in Node.objects.filter(pk__in=[n.pk for n in chosen])} == {end}
    assert Node.objects.get(pk=untouched.pk).state == start
    entries = AuditEntry.objects.filter(action=audit_action)
    assert sorted(int(e.target_id) for e in entries) == sorted(n.pk for n in chosen)
    assert all(e.actor == operator for e in entries)
    schedulable = set(Node.objects.schedulable())
    assert all((n in schedulable) == (end == "ready") for n in chosen)


def test_an_action_that_does_not_apply_is_reported_not_applied(console: Client) -> None:
    down = NodeFactory(state="down", hostname="dead-node")
    response = console.post(changelist("node"), {"action": "cordon", "_selected_action": [down.pk]}, follow=True)
    body = response.content.decode()
    assert "0 node(s) cordoned" in body and "dead-node is down" in body
    assert Node.objects.get(pk=down.pk).state == "down"
    assert not AuditEntry.objects.exists()


def test_scheduling_a_maintenance_window_in_the_admin(console: Client, operator: Any) -> None:
    node = NodeFactory()
    starts = timezone.now() + timedelta(hours=1)
    ends = starts + timedelta(minutes=30)
    form = {
        "node": node.pk,
        "starts_at_0": starts.strftime("%Y-%m-%d"),
        "starts_at_1": starts.strftime("%H:%M:%S"),
        "ends_at_0": ends.strftime("%Y-%m-%d"),
        "ends_at_1": ends.strftime("%H:%M:%S"),
        "reason": "replace GPU 3",
    }

    response = console.post(reverse("admin:inventory_maintenancewindow_add"), form)

    assert response.status_code == 302
    window = MaintenanceWindow.objects.get()
    assert (window.node, window.reason, window.created_by) == (node, "replace GPU 3", operator)
    assert AuditEntry.objects.filter(action="inventory.maintenance_scheduled", target_id=str(node.pk)).exists()
    assert node in Node.objects.schedulable()
    assert node not in Node.objects.schedulable(at=window.starts_at + timedelta(minutes=1))


def test_an_invalid_window_shows_the_error_and_records_nothing(console: Client) -> None:
    node = NodeFactory()
    starts = timezone.now() - timedelta(days=2)
    form = {
        "node": node.pk,
        "starts_at_0": starts.strftime("%Y-%m-%d"),
        "starts_at_1": "10:00:00",
        "ends_at_0": starts.strftime("%Y-%m-%d"),
        "ends_at_1": "11:00:00",
        "reason": "too late",
    }
    response = console.post(reverse("admin:inventory_maintenancewindow_add"), form)
    assert response.status_code == 200
    assert "cannot start in the past" in response.content.decode()
    assert not MaintenanceWindow.objects.exists()
    assert not AuditEntry.objects.exists()


def test_windows_are_added_and_cancelled_from_the_node_page(console: Client) -> None:
    node = NodeFactory(hostname="n1", cpus=8, memory_bytes=2**34)
    old = MaintenanceWindowFactory(node=node, starts_at=timezone.now() - timedelta(minutes=10))
    starts = timezone.now() + timedelta(days=1)
    ends = starts + timedelta(hours=2)
    form = {
        "cluster": node.cluster.pk,
        "hostname": "n1",
        "cpus": "8",
        "memory_bytes": str(2**34),
        "labels": "{}",
        "driver_version": "",
        "cuda_version": "",
        "maintenance_windows-TOTAL_FORMS": "2",
        "maintenance_windows-INITIAL_FORMS": "1",
        "maintenance_windows-0-id": old.pk,
        "maintenance_windows-0-node": node.pk,
        "maintenance_windows-0-DELETE": "on",
        "maintenance_windows-1-node": node.pk,
        "maintenance_windows-1-starts_at_0": starts.strftime("%Y-%m-%d"),
        "maintenance_windows-1-starts_at_1": starts.strftime("%H:%M:%S"),
        "maintenance_windows-1-ends_at_0": ends.strftime("%Y-%m-%d"),
        "maintenance_windows-1-ends_at_1": ends.strftime("%H:%M:%S"),
        "maintenance_windows-1-reason": "PSU swap",
        "accelerators-TOTAL_FORMS": "0",
        "accelerators-INITIAL_FORMS": "0",
    }
    assert node not in Node.objects.schedulable()

    response = console.post(reverse("admin:inventory_node_change", args=[node.pk]), form)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    assert list(MaintenanceWindow.objects.values_list("reason", flat=True)) == ["PSU swap"]
    assert node in Node.objects.schedulable()
    assert node not in Node.objects.schedulable(at=starts + timedelta(minutes=1))
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"inventory.maintenance_scheduled", "inventory.maintenance_cancelled"} <= actions


def test_operators_edit_the_catalog(console: Client) -> None:
    model = AcceleratorModelFactory(name="Test GPU X", memory_gb=80)
    url = reverse("admin:inventory_acceleratormodel_change", args=[model.pk])
    form = console.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(memory_gb="96", supports_fp8="on", match_names='["NVIDIA Test X"]', pci_device_ids="[]")

    response = console.post(url, data)

    assert response.status_code == 302
    model.refresh_from_db()
    assert (model.memory_gb, model.supports_fp8, model.match_names) == (96, True, ["NVIDIA Test X"])
    assert AuditEntry.objects.filter(action="inventory.catalog_updated", target_id=str(model.pk)).exists()
    response = console.get(changelist("acceleratormodel") + "?supports_fp8__exact=1&q=Test+GPU+X")
    assert [m.pk for m in response.context["cl"].result_list] == [model.pk]


def test_storage_list_shows_use_as_a_percentage(console: Client) -> None:
    StorageBackendFactory(name="lustre-a", capacity_bytes=2 * 10**12, used_bytes=5 * 10**11)
    assert "25.0%" in console.get(changelist("storagebackend")).content.decode()


def test_probe_now_measures_file_systems_and_skips_object_stores(console: Client, tmp_path: Path) -> None:
    local = StorageBackendFactory(name="scratch", kind="local", uri=str(tmp_path))
    bucket = StorageBackendFactory(name="bucket", kind="s3", uri="s3://bucket/x")

    response = console.post(
        changelist("storagebackend"), {"action": "probe_now", "_selected_action": [local.pk, bucket.pk]}, follow=True
    )

    body = response.content.decode().lower()  # the admin capitalises messages
    assert "scratch: write" in body and "bucket: only file systems can be probed" in body
    local.refresh_from_db()
    assert local.read_gbps and local.write_gbps and local.capacity_bytes and local.measured_at
    assert StorageBackend.objects.get(pk=bucket.pk).measured_at is None
    assert list(tmp_path.iterdir()) == []


def test_discover_now_queues_discovery_once_committed_and_skips_kinds_without_it(
    console: Client, operator: Any, k8s_cluster: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from tests.dispatch.k8s_emulator import Controller

    Controller(k8s_cluster).seed_node("gpu-1", gpus=8, product="NVIDIA-H100-80GB-HBM3")
    lab = ClusterFactory(name="lab", kind="kubernetes", address=k8s_cluster.url, trusted_network=True)
    local = ClusterFactory(name="laptop", kind="local", address="local://")

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = console.post(
            changelist("cluster"), {"action": "discover_now", "_selected_action": [lab.pk, local.pk]}, follow=True
        )
    body = response.content.decode()
    assert "Discovery queued for lab" in body and "No node discovery for clusters of this kind: laptop" in body
    assert not Node.objects.exists()  # nothing asked of the cluster inside the request

    assert len(queued) == 1
    queued[0]()  # the commit: the task runs (eagerly here)
    node = Node.objects.get(cluster=lab)
    assert node.hostname == "gpu-1" and node.accelerators.count() == 8
    assert AuditEntry.objects.get(action="inventory.cluster_discovered").actor == operator
