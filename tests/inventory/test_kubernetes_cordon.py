"""Cordon, drain and uncordon reach a Kubernetes node (its ``spec.unschedulable``), after the
change commits, through a task; discovery keeps Paddock's state and the cluster's cordon
consistent without undoing Paddock's own. Against the emulated API server over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from celery.exceptions import Retry
from django.test import Client
from django.urls import reverse

from apps.core.models import AuditEntry
from apps.dispatch.backends.kubernetes import KubernetesBackend
from apps.dispatch.port import BackendError
from apps.inventory import services
from apps.inventory.discovery import discover_cluster
from apps.inventory.models import Cluster, Node
from apps.inventory.reports import CORDONED_ON_CLUSTER_REASON
from apps.inventory.tasks import SYNC_NODE_RETRIES, sync_node_schedulable
from tests.dispatch.k8s_emulator import Controller, EmulatedCluster, k8s_cluster, k8s_controller
from tests.factories import ClusterFactory, UserFactory

pytestmark = pytest.mark.django_db

__all__ = ["k8s_cluster", "k8s_controller"]


@pytest.fixture
def cluster(k8s_cluster: EmulatedCluster) -> Cluster:
    made: Cluster = ClusterFactory(
        name="k8s", kind="kubernetes", address=k8s_cluster.url, trusted_network=True, state="ready"
    )
    return made


@pytest.fixture
def nodes(cluster: Cluster, k8s_controller: Controller) -> dict[str, Node]:
    k8s_controller.seed_node("gpu-1", gpus=2, product="NVIDIA-H100-80GB-HBM3")
    k8s_controller.seed_node("gpu-2", gpus=2, product="NVIDIA-H100-80GB-HBM3")
    discover_cluster(cluster)
    return {node.hostname: node for node in Node.objects.filter(cluster=cluster)}


@pytest.fixture
def operator() -> Any:
    return UserFactory(username="root-operator", is_staff=True, is_superuser=True)


def cordoned_there(controller: Controller, name: str) -> bool:
    return bool(controller.node(name).get("spec", {}).get("unschedulable"))


def actions(node: Node) -> list[str]:
    entries = AuditEntry.objects.filter(target_type="inventory.node", target_id=str(node.pk)).order_by("id")
    return list(entries.values_list("action", flat=True))


def fresh(node: Node) -> Node:
    return Node.objects.get(pk=node.pk)


# --- the backend --------------------------------------------------------------------------------
def test_the_backend_cordons_and_uncordons_a_node_and_says_whether_it_changed(
    k8s_cluster: EmulatedCluster, k8s_controller: Controller
) -> None:
    k8s_controller.seed_node("gpu-1")
    backend = KubernetesBackend(k8s_cluster.url)

    assert backend.set_schedulable("gpu-1", False) is True
    assert cordoned_there(k8s_controller, "gpu-1")
    assert backend.set_schedulable("gpu-1", False) is False  # already cordoned: nothing sent
    assert [n for n in backend.nodes() if n.node_id == "gpu-1"][0].schedulable is False
    assert backend.set_schedulable("gpu-1", True) is True
    assert not cordoned_there(k8s_controller, "gpu-1")
    with pytest.raises(BackendError) as missing:
        backend.set_schedulable("gpu-9", False)
    assert missing.value.retryable is False and "no node gpu-9" in missing.value.message
    with pytest.raises(BackendError):
        backend.set_schedulable("../pods", False)


# --- operator actions reach the node ------------------------------------------------------------
@pytest.mark.parametrize(
    ("operation", "state"), [(services.cordon_node, "cordoned"), (services.drain_node, "draining")]
)
def test_cordon_and_drain_cordon_the_kubernetes_node_once_committed(
    nodes: dict[str, Node],
    k8s_controller: Controller,
    operator: Any,
    operation: Any,
    state: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    node = nodes["gpu-1"]
    k8s_controller._post(  # a pod running there: Paddock evicts nothing, a drain lets it finish
        "/api/v1/namespaces/default/pods",
        {"metadata": {"name": "busy", "namespace": "default"}, "spec": {"nodeName": "gpu-1"}},
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        operation(actor=operator, node=node, reason="GPU 3 throws XID 79")
    assert not cordoned_there(k8s_controller, "gpu-1")  # not inside the transaction
    assert fresh(node).cluster_sync == "pending"
    for callback in callbacks:
        callback()

    assert cordoned_there(k8s_controller, "gpu-1") and not cordoned_there(k8s_controller, "gpu-2")
    assert [p["metadata"]["name"] for p in k8s_controller.objects("/api/v1/namespaces/default/pods")] == ["busy"]
    after = fresh(node)
    assert (after.state, after.cluster_sync, after.cordoned_on_cluster) == (state, "", False)
    assert actions(node)[-1] == "inventory.node_cordoned_on_cluster"
    discover_cluster(Cluster.objects.get(pk=node.cluster_id))
    assert fresh(node).state == state  # discovery sees the cordon it made, and keeps Paddock's state


def test_uncordon_in_paddock_uncordons_the_node_on_the_cluster(
    nodes: dict[str, Node], k8s_controller: Controller, operator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    node = nodes["gpu-1"]
    with django_capture_on_commit_callbacks(execute=True):
        services.cordon_node(actor=operator, node=node)
    with django_capture_on_commit_callbacks(execute=True):
        services.uncordon_node(actor=operator, node=fresh(node))

    assert not cordoned_there(k8s_controller, "gpu-1")
    assert actions(node)[-2:] == ["inventory.node_uncordoned", "inventory.node_uncordoned_on_cluster"]
    discover_cluster(Cluster.objects.get(pk=node.cluster_id))
    assert fresh(node).state == "ready"


def test_the_admins_drain_action_reaches_the_node(
    nodes: dict[str, Node], k8s_controller: Controller, operator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    console = Client()
    console.force_login(operator)

    with django_capture_on_commit_callbacks(execute=True):
        response = console.post(
            reverse("admin:inventory_node_changelist"),
            {"action": "drain", "_selected_action": [nodes["gpu-2"].pk]},
            follow=True,
        )

    assert response.status_code == 200 and "1 node(s) draining" in response.content.decode()
    assert cordoned_there(k8s_controller, "gpu-2") and not cordoned_there(k8s_controller, "gpu-1")


def test_a_ray_clusters_node_is_not_sent_anything(operator: Any, django_capture_on_commit_callbacks: Any) -> None:
    from tests.factories import NodeFactory

    node = NodeFactory(cluster=ClusterFactory(kind="ray"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.cordon_node(actor=operator, node=node)

    assert callbacks == [] and fresh(node).cluster_sync == ""


# --- discovery and cordons made outside Paddock -------------------------------------------------
def test_a_node_cordoned_outside_paddock_shows_as_cordoned_until_it_is_uncordoned_there(
    nodes: dict[str, Node], cluster: Cluster, k8s_controller: Controller
) -> None:
    k8s_controller.kubectl_cordon("gpu-1")
    discover_cluster(cluster)
    node = fresh(nodes["gpu-1"])
    assert (node.state, node.state_reason, node.cordoned_on_cluster) == ("cordoned", CORDONED_ON_CLUSTER_REASON, True)
    assert node not in Node.objects.schedulable()
    assert fresh(nodes["gpu-2"]).state == "ready"

    k8s_controller.kubectl_cordon("gpu-1", False)
    discover_cluster(cluster)

    node = fresh(nodes["gpu-1"])
    assert (node.state, node.state_reason, node.cordoned_on_cluster) == ("ready", "", False)


def test_a_node_that_joins_cordoned_is_recorded_cordoned(cluster: Cluster, k8s_controller: Controller) -> None:
    k8s_controller.seed_node("gpu-3", cordoned=True)

    discover_cluster(cluster)

    node = Node.objects.get(cluster=cluster, hostname="gpu-3")
    assert (node.state, node.cordoned_on_cluster) == ("cordoned", True)


def test_paddocks_cordon_undone_on_the_cluster_is_sent_again_not_dropped(
    nodes: dict[str, Node],
    cluster: Cluster,
    k8s_controller: Controller,
    operator: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    node = nodes["gpu-1"]
    with django_capture_on_commit_callbacks(execute=True):
        services.drain_node(actor=operator, node=node)
    k8s_controller.kubectl_cordon("gpu-1", False)  # someone uncordons it with kubectl

    with django_capture_on_commit_callbacks(execute=True):
        discover_cluster(cluster)

    assert fresh(node).state == "draining"
    assert cordoned_there(k8s_controller, "gpu-1")


def test_discovery_leaves_a_node_alone_while_paddock_is_still_telling_the_cluster(
    nodes: dict[str, Node], cluster: Cluster, operator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    node = nodes["gpu-1"]
    with django_capture_on_commit_callbacks(execute=True):
        services.cordon_node(actor=operator, node=node)
    with django_capture_on_commit_callbacks(execute=False):  # the uncordon's task has not run yet
        services.uncordon_node(actor=operator, node=fresh(node))

    discover_cluster(cluster)  # the cluster still has the cordon

    after = fresh(node)
    assert (after.state, after.cluster_sync) == ("ready", "pending")


# --- failures ------------------------------------------------------------------------------------
def test_a_cluster_that_refuses_the_cordon_is_recorded_and_not_asked_again_by_discovery(
    nodes: dict[str, Node],
    cluster: Cluster,
    k8s_cluster: EmulatedCluster,
    k8s_controller: Controller,
    operator: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    node = nodes["gpu-1"]
    k8s_cluster.refuse(403, "Forbidden", 'nodes "gpu-1" is forbidden: cannot patch resource "nodes"')
    with django_capture_on_commit_callbacks(execute=True):
        services.cordon_node(actor=operator, node=node)
    k8s_cluster.allow()

    after = fresh(node)
    assert (after.state, after.cluster_sync) == ("cordoned", "failed")
    failure = AuditEntry.objects.get(action="inventory.node_cluster_sync_failed", target_id=str(node.pk))
    assert "forbidden" in failure.data["error"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        discover_cluster(cluster)
    assert callbacks == [] and not cordoned_there(k8s_controller, "gpu-1")
    assert fresh(node).state == "cordoned"  # Paddock's decision stands; the audit says the cluster lacks it


def test_a_cluster_that_does_not_answer_is_retried_then_marked_failed(
    nodes: dict[str, Node], k8s_cluster: EmulatedCluster, operator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    node = nodes["gpu-2"]
    k8s_cluster.refuse(503, "ServiceUnavailable", "the API server is restarting")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.cordon_node(actor=operator, node=node)

    (send,) = callbacks
    with pytest.raises(Retry):  # the first try asks Celery to try again later
        send()
    assert fresh(node).cluster_sync == "pending"
    sync_node_schedulable.apply(args=(node.pk,), retries=SYNC_NODE_RETRIES)  # the last try

    assert fresh(node).cluster_sync == "failed"
    failure = AuditEntry.objects.get(action="inventory.node_cluster_sync_failed", target_id=str(node.pk))
    assert "restarting" in failure.data["error"]
