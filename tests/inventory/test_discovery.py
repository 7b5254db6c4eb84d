"""Discovery: a cluster's nodes and GPUs read from Ray and recorded, repeatably.

The tests marked ``ray`` run against real Ray heads: the session's (4 CPUs, 2 pretend GPUs,
``accelerator_type:H100``, label ``paddock-pool=test``, token auth) and a short-lived second
one that is stopped and restarted. The others play the cluster with the fake backend.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from apps.core.errors import Conflict
from apps.dispatch.backends.fake import FakeBackend
from apps.dispatch.local_ray import LocalRayHead, wait_ports_free
from apps.dispatch.port import NodeInfo
from apps.inventory import discovery, tasks
from apps.inventory.models import Accelerator, AcceleratorModel, Cluster, Node
from tests.conftest import World, client_for, token_for
from tests.factories import ClusterFactory, MembershipFactory, OrganisationFactory, TeamFactory, UserFactory
from tests.raycluster import RAY_TEST_DASHBOARD_PORT, RAY_TEST_GCS_PORT, RAY_TEST_NUM_CPUS, RAY_TEST_NUM_GPUS

pytestmark = [pytest.mark.django_db]

# The second head's ports: the two-heads test in tests/dispatch uses +10.
SECOND_GCS_PORT = RAY_TEST_GCS_PORT + 30
SECOND_DASHBOARD_PORT = RAY_TEST_DASHBOARD_PORT + 30


@pytest.fixture
def h100() -> AcceleratorModel:
    """The catalog's model for Ray's ``accelerator_type:H100`` (seeded by a migration)."""
    model, _ = AcceleratorModel.objects.get_or_create(
        ray_accelerator_type="H100",
        defaults={
            "name": "H100 SXM",
            "vendor": "nvidia",
            "memory_gb": 80,
            "memory_bandwidth_gbps": 3350,
            "source_url": "https://www.nvidia.com/en-us/data-center/h100/",
        },
    )
    return model


def ray_cluster(head: LocalRayHead, name: str = "ray-a", organisation: Any = None) -> Cluster:
    cluster = ClusterFactory(
        name=name, address=head.address, **({"organisation": organisation} if organisation else {})
    )
    cluster.set_auth_token(head.auth_token)
    cluster.save()
    return cluster


def row_counts(cluster: Cluster) -> tuple[int, int]:
    return Node.objects.filter(cluster=cluster).count(), Accelerator.objects.filter(node__cluster=cluster).count()


# --- against the session's Ray head --------------------------------------------------------


@pytest.mark.ray
def test_discovery_records_the_head_with_its_cpus_labels_and_gpus(ray_head: LocalRayHead, h100: Any) -> None:
    cluster = ray_cluster(ray_head)

    result = discovery.discover_cluster(cluster)

    assert (result.nodes_created, result.accelerators_created, result.nodes_marked_down) == (1, 2, 0)
    node = Node.objects.get(cluster=cluster)
    assert node.state == "ready" and node.source == "ray"
    assert node.hostname == socket.gethostname()  # the raylet's host, one node on it
    assert len(node.external_id) == 56  # Ray's node id (hex)
    assert node.cpus == RAY_TEST_NUM_CPUS
    assert node.memory_bytes > 0
    assert node.labels["paddock-pool"] == "test"
    accelerators = list(node.accelerators.order_by("index"))
    assert [a.index for a in accelerators] == list(range(RAY_TEST_NUM_GPUS))
    assert {a.reported_name for a in accelerators} == {"H100"}
    assert {a.model_id for a in accelerators} == {h100.pk}  # matched through ray_accelerator_type
    cluster.refresh_from_db()
    assert cluster.state == "ready" and cluster.last_discovered_at is not None


@pytest.mark.ray
def test_discovering_twice_writes_nothing_the_second_time(ray_head: LocalRayHead, h100: Any) -> None:
    cluster = ray_cluster(ray_head)
    discovery.discover_cluster(cluster)
    counts = row_counts(cluster)
    stamps = sorted(Node.objects.filter(cluster=cluster).values_list("updated_at", flat=True))

    again = discovery.discover_cluster(cluster)

    assert again.rows_written == 0
    assert row_counts(cluster) == counts == (1, RAY_TEST_NUM_GPUS)
    assert sorted(Node.objects.filter(cluster=cluster).values_list("updated_at", flat=True)) == stamps


@pytest.mark.ray
def test_an_org_admin_discovers_on_demand_and_gets_the_counts(ray_head: LocalRayHead, world: World, h100: Any) -> None:
    world.cluster.address = ray_head.address
    world.cluster.set_auth_token(ray_head.auth_token)
    world.cluster.save()
    client = world.client(world.org_admin)

    first = client.post("/api/v1/clusters/gpu-a/discover/")
    second = client.post("/api/v1/clusters/gpu-a/discover/")

    assert first.status_code == 200, first.content
    assert first.json()["cluster"] == "gpu-a" and first.json()["state"] == "ready"
    assert (first.json()["nodes_created"], first.json()["accelerators_created"]) == (1, RAY_TEST_NUM_GPUS)
    assert second.status_code == 200
    assert {k: v for k, v in second.json().items() if k not in ("cluster", "state")} == dict.fromkeys(
        ["nodes_created", "nodes_updated", "nodes_marked_down"]
        + ["accelerators_created", "accelerators_updated", "accelerators_removed", "interconnect_domains_written"],
        0,
    )
    assert row_counts(world.cluster) == (1, RAY_TEST_NUM_GPUS)


@pytest.fixture
def second_head() -> Iterator[LocalRayHead]:
    """A small Ray head of its own, which the test stops (and may start again)."""
    head = LocalRayHead(
        gcs_port=SECOND_GCS_PORT,
        dashboard_port=SECOND_DASHBOARD_PORT,
        num_cpus=1,
        num_gpus=1,
        resources={"accelerator_type:H100": 1.0},
        labels={"paddock-pool": "second"},
        auth_token=secrets.token_hex(16),
        object_store_memory=128 * 2**20,
    )
    head.start(timeout=90)
    try:
        yield head
    finally:
        head.stop()


@pytest.mark.ray
def test_a_stopped_head_is_unreachable_first_and_its_node_down_after_the_grace_period(
    second_head: LocalRayHead, settings: Any, h100: Any
) -> None:
    settings.PADDOCK_NODE_DOWN_AFTER = 300
    cluster = ray_cluster(second_head, name="short-lived")
    assert discovery.discover_cluster(cluster).nodes_created == 1
    node = Node.objects.get(cluster=cluster)
    first_id = node.external_id

    second_head.stop()
    began = time.monotonic()
    silent = discovery.discover_cluster(cluster)
    took = time.monotonic() - began

    # The address does not answer: that alone says nothing about the machine behind it.
    cluster.refresh_from_db()
    assert cluster.state == "unreachable" and cluster.state_message
    assert silent.rows_written == 0 and Node.objects.get(pk=node.pk).state == "ready"
    assert took < 5

    later = timezone.now() + timedelta(seconds=301)
    gone = discovery.discover_cluster(cluster, now=later)
    again = discovery.discover_cluster(cluster, now=later + timedelta(seconds=60))

    node.refresh_from_db()
    assert gone.nodes_marked_down == 1 and again.rows_written == 0
    assert node.state == "down" and "unreachable" in node.state_reason
    assert row_counts(cluster) == (1, 1)  # down, not deleted; its GPU kept

    # The head comes back: a new Ray node id on the same host takes over the same row.
    assert not wait_ports_free(second_head.ports.listening().values())
    second_head.start(timeout=90)
    # Three silent discoveries opened the cluster's circuit breaker: periodic passes leave it
    # alone for a cool-down, an operator's "discover now" asks anyway.
    back = discovery.discover_cluster(cluster, actor=UserFactory())

    node.refresh_from_db()
    assert (back.nodes_created, back.nodes_updated) == (0, 1)
    assert node.state == "ready" and node.external_id not in ("", first_id)
    assert row_counts(cluster) == (1, 1)
    cluster.refresh_from_db()
    assert cluster.state == "ready"


# --- the API's permissions ------------------------------------------------------------------


def test_a_member_may_not_discover(world: World) -> None:
    response = world.client(world.member).post("/api/v1/clusters/gpu-a/discover/")

    assert response.status_code == 403
    assert Node.objects.count() == 0


def test_another_organisation_cannot_see_the_cluster(world: World) -> None:
    other = TeamFactory(organisation=OrganisationFactory(slug="globex"), slug="gamma")
    stranger = UserFactory(username="sam")
    MembershipFactory(team=other, user=stranger, role="admin")

    response = client_for(token_for(stranger)).post("/api/v1/clusters/gpu-a/discover/")

    assert response.status_code == 404
    assert Node.objects.count() == 0


def test_an_unreachable_cluster_answers_503_and_is_recorded(world: World, fake_backend: FakeBackend) -> None:
    fake_backend.set_reachable(False)

    response = world.client(world.org_admin).post("/api/v1/clusters/gpu-a/discover/")

    assert response.status_code == 503 and response["Retry-After"]
    world.cluster.refresh_from_db()
    assert world.cluster.state == "unreachable"


def test_a_cluster_without_node_discovery_is_a_conflict(world: World) -> None:
    Cluster.objects.filter(pk=world.cluster.pk).update(kind="local")

    response = world.client(world.org_admin).post("/api/v1/clusters/gpu-a/discover/")

    assert response.status_code == 409
    with pytest.raises(Conflict):
        discovery.discover_cluster(Cluster.objects.get(pk=world.cluster.pk))


# --- the rules, played with the fake backend -----------------------------------------------


def info(node_id: str, hostname: str = "gpu-1", *, alive: bool = True, gpus: float = 2, **extra: Any) -> NodeInfo:
    return NodeInfo(
        node_id=node_id,
        hostname=hostname,
        alive=alive,
        cpus=8,
        gpus=gpus,
        memory_bytes=2**34,
        accelerator_type="H100" if gpus else "",
        labels={"rack": "r1"},
        **extra,
    )


def names(cluster: Cluster) -> dict[str, tuple[str, str]]:
    return {n.hostname: (n.external_id, n.state) for n in Node.objects.filter(cluster=cluster)}


def test_a_node_ray_reports_dead_goes_down_and_keeps_its_gpus(fake_backend: FakeBackend) -> None:
    cluster = ClusterFactory()
    fake_backend.set_nodes([info("a", "gpu-1"), info("b", "gpu-2")])
    discovery.discover_cluster(cluster)

    fake_backend.set_nodes([info("a", "gpu-1"), info("b", "gpu-2", alive=False)])
    result = discovery.discover_cluster(cluster)

    assert result.nodes_marked_down == 1 and result.rows_written == 1
    assert names(cluster) == {"gpu-1": ("a", "ready"), "gpu-2": ("b", "down")}
    assert row_counts(cluster) == (2, 4)


def test_nodes_sharing_a_host_are_told_apart_and_keep_their_names(fake_backend: FakeBackend) -> None:
    cluster = ClusterFactory()
    fake_backend.set_nodes([info("a1", "box", node_name="10.0.0.1"), info("b2", "box", node_name="10.0.0.1")])
    discovery.discover_cluster(cluster)
    assert names(cluster) == {"box/a1": ("a1", "ready"), "box/b2": ("b2", "ready")}

    # One leaves: the other keeps its name (no rename, no new row).
    fake_backend.set_nodes([info("a1", "box", node_name="10.0.0.1"), info("b2", "box", alive=False)])
    discovery.discover_cluster(cluster)
    assert names(cluster) == {"box/a1": ("a1", "ready"), "box/b2": ("b2", "down")}

    # Distinct node names (ray start --node-name) name the newcomers; a lone host keeps its own.
    fake_backend.set_nodes(
        [
            info("a1", "box", node_name="10.0.0.1"),
            info("c3", "box", node_name="trainer-0"),
            info("d4", "solo", node_name="10.0.0.9"),
        ]
    )
    discovery.discover_cluster(cluster)
    assert names(cluster) == {
        "box/a1": ("a1", "ready"),
        "box/b2": ("b2", "down"),
        "box/trainer-0": ("c3", "ready"),
        "solo": ("d4", "ready"),
    }


def test_a_restarted_raylet_takes_over_its_hosts_row(fake_backend: FakeBackend) -> None:
    cluster = ClusterFactory()
    fake_backend.set_nodes([info("old", "gpu-1")])
    discovery.discover_cluster(cluster)
    row = Node.objects.get(cluster=cluster)

    fake_backend.set_nodes([info("old", "gpu-1", alive=False), info("new", "gpu-1")])
    result = discovery.discover_cluster(cluster)

    assert (result.nodes_created, result.nodes_updated, result.nodes_marked_down) == (0, 1, 0)
    assert names(cluster) == {"gpu-1": ("new", "ready")}
    assert Node.objects.get(cluster=cluster).pk == row.pk


def test_a_node_whose_host_ray_does_not_know_yet_marks_nothing_down(fake_backend: FakeBackend) -> None:
    cluster = ClusterFactory()
    fake_backend.set_nodes([info("a", "gpu-1"), info("b", "gpu-2")])
    discovery.discover_cluster(cluster)

    fake_backend.set_nodes([info("a", "gpu-1"), info("c", "")])  # b gone, c just joined
    partial = discovery.discover_cluster(cluster)
    fake_backend.set_nodes([info("a", "gpu-1"), info("c", "gpu-3")])
    complete = discovery.discover_cluster(cluster)

    assert partial.rows_written == 0
    assert (complete.nodes_created, complete.nodes_marked_down) == (1, 1)
    assert names(cluster) == {"gpu-1": ("a", "ready"), "gpu-2": ("b", "down"), "gpu-3": ("c", "ready")}


def test_an_unreachable_cluster_marks_its_nodes_down_only_after_the_grace_period(
    fake_backend: FakeBackend, settings: Any
) -> None:
    settings.PADDOCK_NODE_DOWN_AFTER = 120
    cluster = ClusterFactory()
    manual = Node.objects.create(cluster=cluster, hostname="by-hand", source="manual")
    t0 = timezone.now()
    fake_backend.set_nodes([info("a", "gpu-1")])
    discovery.discover_cluster(cluster, now=t0)

    fake_backend.set_reachable(False)
    within = discovery.discover_cluster(cluster, now=t0 + timedelta(seconds=119))
    beyond = discovery.discover_cluster(cluster, now=t0 + timedelta(seconds=120))
    repeat = discovery.discover_cluster(cluster, now=t0 + timedelta(seconds=180))

    assert (within.rows_written, beyond.nodes_marked_down, repeat.rows_written) == (0, 1, 0)
    assert names(cluster)["gpu-1"] == ("a", "down")
    assert Node.objects.get(pk=manual.pk).state == "ready"  # not discovery's to judge
    cluster.refresh_from_db()
    assert cluster.state == "unreachable"

    fake_backend.set_reachable(True)
    back = discovery.discover_cluster(cluster, now=t0 + timedelta(seconds=240))
    assert back.nodes_updated == 1 and names(cluster)["gpu-1"] == ("a", "ready")
    cluster.refresh_from_db()
    assert cluster.state == "ready" and cluster.state_message == ""


def test_a_host_its_agent_reports_is_left_to_the_agent(fake_backend: FakeBackend) -> None:
    cluster = ClusterFactory()
    agent_row = Node.objects.create(cluster=cluster, hostname="gpu-1", source="agent", cpus=64)
    Accelerator.objects.create(node=agent_row, index=0, uuid="GPU-1234", reported_name="NVIDIA H100 80GB HBM3")
    fake_backend.set_nodes([info("a", "gpu-1"), info("b", "gpu-2")])

    first = discovery.discover_cluster(cluster)
    second = discovery.discover_cluster(cluster)

    assert (first.nodes_created, second.rows_written) == (1, 0)
    agent_row.refresh_from_db()
    assert (agent_row.source, agent_row.cpus, agent_row.external_id) == ("agent", 64, "")
    assert list(agent_row.accelerators.values_list("uuid", flat=True)) == ["GPU-1234"]


def test_fractional_gpus_and_nodes_without_gpus_report_whole_devices_only(fake_backend: FakeBackend) -> None:
    cluster = ClusterFactory()
    fake_backend.set_nodes([info("a", "cpu-only", gpus=0), info("b", "half", gpus=1.5)])

    discovery.discover_cluster(cluster)

    assert row_counts(cluster) == (2, 1)
    assert Node.objects.get(cluster=cluster, hostname="cpu-only").accelerators.count() == 0


# --- tasks ----------------------------------------------------------------------------------


def test_the_discovery_tasks_are_registered_under_the_beat_schedules_name() -> None:
    from controlplane.celery import app

    app.loader.import_default_modules()

    assert django_settings.CELERY_BEAT_SCHEDULE["inventory.discover"]["task"] == "inventory.discover"
    assert {"inventory.discover", "inventory.discover_cluster"} <= set(app.tasks)
    assert app.tasks["inventory.discover"].acks_late


def test_periodic_discovery_covers_every_discoverable_cluster_and_one_failure_stops_none(
    fake_backend: FakeBackend, monkeypatch: Any
) -> None:
    broken, healthy = ClusterFactory(name="broken"), ClusterFactory(name="healthy")
    ClusterFactory(name="here", kind="local")  # nothing to discover
    real = discovery.discover_cluster

    def discover(cluster: Cluster, **kwargs: Any) -> Any:
        if cluster.pk == broken.pk:
            raise RuntimeError("a bug in one cluster's discovery")
        return real(cluster, **kwargs)

    monkeypatch.setattr(discovery, "discover_cluster", discover)

    outcome = tasks.discover.delay().get()

    assert outcome == {"queued": 1, "failed": 1}
    assert row_counts(healthy) == (1, 2) and row_counts(broken) == (0, 0)


def test_discover_cluster_delivered_twice_records_once(fake_backend: FakeBackend) -> None:
    cluster = ClusterFactory()

    first = tasks.discover_cluster.delay(cluster.pk).get()
    second = tasks.discover_cluster.delay(cluster.pk).get()

    assert first["nodes_created"] == 1 and first["state"] == "ready"
    assert sum(count for name, count in second.items() if name != "state") == 0
    assert row_counts(cluster) == (1, 2)
    assert tasks.discover_cluster.delay(987654).get() == {"skipped": True}
