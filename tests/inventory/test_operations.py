"""Node operations change what the scheduler may use: Node.objects.schedulable()."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.core.errors import Conflict
from apps.core.models import AuditEntry
from apps.inventory import services
from apps.inventory.models import MaintenanceWindow, Node
from tests.factories import (
    AcceleratorFactory,
    AcceleratorModelFactory,
    ClusterFactory,
    MaintenanceWindowFactory,
    NodeFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def schedulable(at: Any = None) -> set[str]:
    return set(Node.objects.schedulable(at=at).values_list("hostname", flat=True))


def audit_actions(node: Node) -> list[str]:
    return list(
        AuditEntry.objects.filter(target_type="inventory.node", target_id=str(node.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


@pytest.fixture
def operator() -> Any:
    return UserFactory(username="operator")


@pytest.fixture
def nodes() -> list[Node]:
    cluster = ClusterFactory(state="ready")
    return [NodeFactory(cluster=cluster, hostname=name) for name in ("a", "b", "c")]


@pytest.mark.parametrize(
    ("operation", "state", "action"),
    [
        (services.cordon_node, "cordoned", "inventory.node_cordoned"),
        (services.drain_node, "draining", "inventory.node_drained"),
        (services.mark_node_down, "down", "inventory.node_marked_down"),
    ],
)
def test_an_operation_takes_the_node_out_and_uncordon_brings_it_back(
    nodes: list[Node], operator: Any, operation: Any, state: str, action: str
) -> None:
    a = nodes[0]
    assert schedulable() == {"a", "b", "c"}

    operation(actor=operator, node=a, reason="bad DIMM")

    a.refresh_from_db()
    assert (a.state, a.state_reason) == (state, "bad DIMM")
    assert schedulable() == {"b", "c"}
    entry = AuditEntry.objects.get(action=action)
    assert entry.actor == operator
    assert entry.data == {"from_state": "ready", "to_state": state, "reason": "bad DIMM"}

    services.uncordon_node(actor=operator, node=a)

    a.refresh_from_db()
    assert (a.state, a.state_reason) == ("ready", "")
    assert schedulable() == {"a", "b", "c"}
    assert audit_actions(a) == [action, "inventory.node_uncordoned"]


def test_drain_of_a_cordoned_node_keeps_it_out(nodes: list[Node], operator: Any) -> None:
    services.cordon_node(actor=operator, node=nodes[0])
    services.drain_node(actor=operator, node=nodes[0])
    assert Node.objects.get(pk=nodes[0].pk).state == "draining"
    assert "a" not in schedulable()


def test_a_transition_that_does_not_apply_is_a_conflict_and_writes_nothing(nodes: list[Node], operator: Any) -> None:
    a = nodes[0]
    services.cordon_node(actor=operator, node=a)
    with pytest.raises(Conflict, match="cordoned"):
        services.cordon_node(actor=operator, node=a)
    with pytest.raises(Conflict, match="ready"):
        services.uncordon_node(actor=operator, node=nodes[1])
    assert audit_actions(a) == ["inventory.node_cordoned"]
    assert audit_actions(nodes[1]) == []


def test_the_state_is_compared_in_the_database_not_in_memory(nodes: list[Node], operator: Any) -> None:
    """A stale copy (another operator cordoned the node meanwhile) cannot cordon it twice."""
    stale = Node.objects.get(pk=nodes[0].pk)
    services.cordon_node(actor=operator, node=nodes[0])
    assert stale.state == "ready"
    with pytest.raises(Conflict):
        services.cordon_node(actor=operator, node=stale)
    assert stale.state == "cordoned"  # the conflict refreshed what the caller holds
    assert AuditEntry.objects.filter(action="inventory.node_cordoned").count() == 1


def test_a_node_of_an_unreachable_cluster_is_not_schedulable(nodes: list[Node]) -> None:
    other = NodeFactory(cluster=ClusterFactory(state="unreachable"), hostname="far")
    NodeFactory(cluster=ClusterFactory(state="unknown"), hostname="new")  # not yet probed: usable
    assert schedulable() == {"a", "b", "c", "new"}
    assert other.state == "ready"


def test_a_maintenance_window_covering_now_takes_the_node_out(nodes: list[Node], operator: Any) -> None:
    now = timezone.now()
    window = services.schedule_maintenance(
        actor=operator, node=nodes[0], starts_at=now, ends_at=now + timedelta(hours=1), reason="BIOS update"
    )
    assert window.created_by == operator
    assert schedulable() == {"b", "c"}
    assert "a" in schedulable(at=now + timedelta(hours=1))  # the end is exclusive
    assert Node.objects.get(pk=nodes[0].pk).state == "ready"  # a window does not touch the state
    entry = AuditEntry.objects.get(action="inventory.maintenance_scheduled")
    assert entry.target_id == str(nodes[0].pk) and entry.data["reason"] == "BIOS update"


def test_a_future_window_applies_only_from_its_start(nodes: list[Node], operator: Any) -> None:
    starts = timezone.now() + timedelta(days=1)
    services.schedule_maintenance(
        actor=operator, node=nodes[1], starts_at=starts, ends_at=starts + timedelta(hours=4), reason="rack move"
    )
    assert schedulable() == {"a", "b", "c"}
    assert schedulable(at=starts - timedelta(seconds=1)) == {"a", "b", "c"}
    assert schedulable(at=starts) == {"a", "c"}
    assert schedulable(at=starts + timedelta(hours=3)) == {"a", "c"}
    assert schedulable(at=starts + timedelta(hours=4)) == {"a", "b", "c"}


def test_a_past_window_no_longer_applies_and_a_cancelled_one_neither(nodes: list[Node], operator: Any) -> None:
    now = timezone.now()
    MaintenanceWindowFactory(node=nodes[0], starts_at=now - timedelta(hours=3), ends_at=now - timedelta(hours=1))
    current = MaintenanceWindowFactory(node=nodes[1], starts_at=now - timedelta(hours=1))
    assert schedulable() == {"a", "c"}

    services.cancel_maintenance(actor=operator, window=current)

    assert schedulable() == {"a", "b", "c"}
    assert not MaintenanceWindow.objects.filter(pk=current.pk).exists()
    assert AuditEntry.objects.filter(action="inventory.maintenance_cancelled", target_id=str(nodes[1].pk)).exists()


@pytest.mark.parametrize(
    ("starts", "ends", "reason", "field"),
    [
        (timedelta(hours=2), timedelta(hours=1), "swap PSU", "ends_at"),
        (timedelta(hours=1), timedelta(hours=1), "swap PSU", "ends_at"),
        (timedelta(minutes=-5), timedelta(hours=1), "swap PSU", "starts_at"),
        (timedelta(seconds=-50), timedelta(seconds=-10), "swap PSU", "ends_at"),
        (timedelta(hours=1), timedelta(hours=2), "   ", "reason"),
        (timedelta(hours=1), timedelta(hours=2), "x" * 501, "reason"),
    ],
)
def test_an_invalid_window_is_refused_and_nothing_is_recorded(
    nodes: list[Node], operator: Any, starts: timedelta, ends: timedelta, reason: str, field: str
) -> None:
    now = timezone.now()
    with pytest.raises(ValidationError) as caught:
        services.schedule_maintenance(
            actor=operator, node=nodes[0], starts_at=now + starts, ends_at=now + ends, reason=reason
        )
    assert field in caught.value.message_dict
    assert not MaintenanceWindow.objects.exists()
    assert not AuditEntry.objects.exists()
    assert "a" in schedulable()


def test_a_window_may_start_within_the_last_minute(nodes: list[Node], operator: Any) -> None:
    now = timezone.now()
    starts, ends = now - timedelta(seconds=30), now + timedelta(hours=1)
    services.schedule_maintenance(actor=operator, node=nodes[0], starts_at=starts, ends_at=ends, reason="x")
    assert "a" not in schedulable()


def test_a_naive_time_is_refused(nodes: list[Node], operator: Any) -> None:
    naive = timezone.now().replace(tzinfo=None) + timedelta(hours=1)
    with pytest.raises(ValidationError) as caught:
        services.schedule_maintenance(
            actor=operator, node=nodes[0], starts_at=naive, ends_at=naive + timedelta(hours=1), reason="x"
        )
    assert "starts_at" in caught.value.message_dict


def test_free_gpus_count_what_the_hardware_reports_as_idle(nodes: list[Node]) -> None:
    a, b, _ = nodes
    AcceleratorFactory(node=a, index=0)  # idle
    AcceleratorFactory(node=a, index=1, utilisation_percent=None, health="unknown")  # idle as far as we know
    AcceleratorFactory(node=a, index=2, memory_used_mib=40000)  # memory in use
    AcceleratorFactory(node=a, index=3, utilisation_percent=60.0)  # busy
    AcceleratorFactory(node=a, index=4, health="failed")
    AcceleratorFactory(node=a, index=5, memory_used_mib=None)  # no memory reading: not known to be idle
    AcceleratorFactory(node=a, index=6, memory_used_mib=4077, memory_total_mib=81559)  # just under 5%
    AcceleratorFactory(node=a, index=7, memory_used_mib=4078, memory_total_mib=81559)  # just over 5%
    AcceleratorFactory(node=b, index=0, utilisation_percent=99.0)

    counts = {n.hostname: (n.gpus_total, n.gpus_free) for n in Node.objects.with_free_gpus()}

    assert counts == {"a": (8, 3), "b": (1, 0), "c": (0, 0)}


def test_free_gpu_counts_are_right_combined_with_a_join(nodes: list[Node]) -> None:
    """Filtering through the accelerators relation must not multiply the counts."""
    a = nodes[0]
    model = AcceleratorModelFactory()
    for index in range(4):
        AcceleratorFactory(node=a, index=index, model=model, utilisation_percent=90.0 if index else 0.0)
    rows = Node.objects.with_free_gpus().filter(accelerators__model=model).schedulable().distinct()
    assert [(n.hostname, n.gpus_total, n.gpus_free) for n in rows] == [("a", 4, 1)]


def test_discovery_does_not_revive_a_node_an_operator_marked_down(nodes: list[Node], operator: Any) -> None:
    from apps.inventory.reports import NodeReport, sync_reports

    node = nodes[0]
    report = NodeReport(hostname=node.hostname, cpus=node.cpus, memory_bytes=node.memory_bytes)
    services.mark_node_down(actor=operator, node=node, reason="PSU failed")
    sync_reports(cluster=node.cluster, reports=[report], source=node.source, complete=False)
    node.refresh_from_db()
    assert node.state == "down" and node.held_down
    assert node.hostname not in schedulable()
    services.uncordon_node(actor=operator, node=node)
    services.cordon_node(actor=operator, node=node)
    services.uncordon_node(actor=operator, node=node)
    node.refresh_from_db()
    assert node.state == "ready" and not node.held_down
    # A node that discovery itself marked down comes back when it is seen again.
    Node.objects.filter(pk=node.pk).update(state="down", state_reason="not reported by ray discovery")
    sync_reports(cluster=node.cluster, reports=[report], source=node.source, complete=False)
    node.refresh_from_db()
    assert node.state == "ready"
