"""The inventory API: what members see of their organisation's hardware, what its admins may
change, and that nothing of another organisation shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.models import AuditEntry
from apps.inventory.models import (
    Accelerator,
    AcceleratorModel,
    Cluster,
    InterconnectDomain,
    NetworkFabric,
    Node,
    StorageBackend,
)
from tests.factories import ClusterFactory, MembershipFactory, OrganisationFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

MIB_80GB = 81_559


def make_model(name: str = "Test H100", **extra: Any) -> AcceleratorModel:
    values: dict[str, Any] = {
        "vendor": "nvidia",
        "memory_gb": 80,
        "memory_bandwidth_gbps": 3350,
        "source_url": "https://example.com/spec",
        **extra,
    }
    return AcceleratorModel.objects.create(name=name, **values)


def make_node(cluster: Cluster, hostname: str, *, seen_ago: timedelta | None = timedelta(0), **extra: Any) -> Node:
    heartbeat = timezone.now() - seen_ago if seen_ago is not None else None
    values: dict[str, Any] = {"source": "ray", "cpus": 64, "memory_bytes": 512 * 2**30, **extra}
    return Node.objects.create(cluster=cluster, hostname=hostname, last_heartbeat_at=heartbeat, **values)


def make_gpu(node: Node, index: int, **extra: Any) -> Accelerator:
    values: dict[str, Any] = {
        "health": "ok",
        "memory_total_mib": MIB_80GB,
        "memory_used_mib": 0,
        "utilisation_percent": 0.0,
        **extra,
    }
    return Accelerator.objects.create(node=node, index=index, **values)


@dataclass
class Fleet:
    """The acme organisation's hardware, and another organisation's."""

    h100: AcceleratorModel
    node: Node
    quiet_node: Node
    idle: Accelerator
    busy: Accelerator
    failed: Accelerator
    stranger: Accelerator
    fabric: NetworkFabric
    storage: StorageBackend
    other_org: Any
    other_admin: Any
    other_node: Node
    other_fabric: NetworkFabric
    other_storage: StorageBackend


@pytest.fixture
def fleet(world: Any) -> Fleet:
    h100 = make_model()
    node = make_node(world.cluster, "gpu-node-1", driver_version="550.54")
    idle = make_gpu(node, 0, model=h100, nvlink_active_links=18, temperature_c=31, power_watts=70)
    busy = make_gpu(node, 1, model=h100, utilisation_percent=97, memory_used_mib=70_000)
    failed = make_gpu(node, 2, model=h100, health="failed")
    stranger = make_gpu(node, 3, reported_name="Mystery Accelerator 9000")
    domain = InterconnectDomain.objects.create(node=node, kind="nvlink", link_generation=4, bandwidth_gbps=900)
    domain.accelerators.set([idle, busy])
    quiet_node = make_node(world.cluster, "gpu-node-2", seen_ago=timedelta(hours=2))
    make_gpu(quiet_node, 0, model=h100)
    fabric = NetworkFabric.objects.create(
        organisation=world.org, name="ib-fabric", kind="infiniband", gbps_per_node=3200, rdma=True
    )
    fabric.nodes.set([node, quiet_node])
    storage = StorageBackend.objects.create(
        organisation=world.org,
        name="lustre-scratch",
        kind="lustre",
        uri="/mnt/lustre",
        purpose="checkpoints",
        capacity_bytes=10**15,
        used_bytes=4 * 10**14,
    )

    other_org = OrganisationFactory(slug="globex")
    other_team = TeamFactory(organisation=other_org, slug="gamma")
    other_admin = UserFactory(username="gus")
    MembershipFactory(team=other_team, user=other_admin, role="admin")
    other_cluster = ClusterFactory(organisation=other_org, name="gpu-z")
    other_node = make_node(other_cluster, "secret-node")
    make_gpu(other_node, 0, model=h100)
    other_fabric = NetworkFabric.objects.create(
        organisation=other_org, name="roce", kind="roce", gbps_per_node=400, rdma=True
    )
    other_storage = StorageBackend.objects.create(
        organisation=other_org, name="vault", kind="s3", uri="s3://globex/vault", purpose="models"
    )
    return Fleet(
        h100,
        node,
        quiet_node,
        idle,
        busy,
        failed,
        stranger,
        fabric,
        storage,
        other_org,
        other_admin,
        other_node,
        other_fabric,
        other_storage,
    )


def results(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.json()
    return list(response.json()["results"])


# --- reading: nodes, accelerators, summary --------------------------------------------------
def test_a_member_sees_nodes_with_free_and_total_gpus_and_staleness(world: Any, fleet: Fleet) -> None:
    body = {n["hostname"]: n for n in results(world.client(world.member).get("/api/v1/nodes/"))}
    assert list(body) == ["gpu-node-1", "gpu-node-2"]
    node = body["gpu-node-1"]
    assert node["cluster"] == "gpu-a"
    assert node["accelerators"] == {"total": 4, "free": 2}  # idle, and the unrecognised one
    assert node["stale"] is False
    assert node["driver_version"] == "550.54"
    assert node["interconnect_domains"] == [
        {
            "id": node["interconnect_domains"][0]["id"],
            "kind": "nvlink",
            "link_generation": 4,
            "bandwidth_gbps": 900.0,
            "accelerator_indexes": [0, 1],
        }
    ]
    quiet = body["gpu-node-2"]
    assert quiet["stale"] is True  # two hours without a heartbeat: 3 x 60 s have passed long ago
    assert quiet["last_heartbeat_at"] is not None


def test_staleness_follows_the_discovery_interval(world: Any, settings: Any) -> None:
    settings.PADDOCK_DISCOVERY_INTERVAL = 60
    make_node(world.cluster, "fresh", seen_ago=timedelta(seconds=170))
    make_node(world.cluster, "late", seen_ago=timedelta(seconds=190))
    make_node(world.cluster, "never", seen_ago=None)
    make_node(world.cluster, "typed-in", seen_ago=None, source="manual")
    client = world.client(world.member)
    stale = {n["hostname"]: n["stale"] for n in results(client.get("/api/v1/nodes/"))}
    assert stale == {"fresh": False, "late": True, "never": True, "typed-in": False}
    assert [n["hostname"] for n in results(client.get("/api/v1/nodes/?stale=true"))] == ["late", "never"]
    assert [n["hostname"] for n in results(client.get("/api/v1/nodes/?stale=false"))] == ["fresh", "typed-in"]
    settings.PADDOCK_DISCOVERY_INTERVAL = 600
    assert [n["hostname"] for n in results(client.get("/api/v1/nodes/?stale=true"))] == ["never"]


def test_accelerators_show_model_load_health_and_links(world: Any, fleet: Fleet) -> None:
    rows = results(world.client(world.member).get("/api/v1/accelerators/?cluster=gpu-a&hostname=gpu-node-1"))
    by_index = {row["index"]: row for row in rows}
    assert list(by_index) == [0, 1, 2, 3]
    idle = by_index[0]
    assert idle["model"] == "Test H100" and idle["unrecognised"] is False
    assert idle["state"] == "free"
    assert idle["cluster"] == "gpu-a" and idle["hostname"] == "gpu-node-1" and idle["node"] == fleet.node.pk
    assert (idle["memory_total_mib"], idle["memory_used_mib"], idle["utilisation_percent"]) == (MIB_80GB, 0, 0.0)
    assert (idle["temperature_c"], idle["power_watts"], idle["nvlink_active_links"]) == (31.0, 70.0, 18)
    assert idle["mig_mode"] == "unsupported" and idle["health"] == "ok"
    assert [d["accelerator_indexes"] for d in idle["interconnect_domains"]] == [[0, 1]]
    assert by_index[1]["state"] == "busy"
    assert by_index[2]["state"] == "unhealthy"
    stranger = by_index[3]
    assert stranger["model"] is None and stranger["unrecognised"] is True
    assert stranger["reported_name"] == "Mystery Accelerator 9000"
    assert stranger["interconnect_domains"] == []


def test_a_gpu_without_a_memory_reading_is_not_free(world: Any) -> None:
    node = make_node(world.cluster, "ray-only")
    make_gpu(node, 0, memory_total_mib=None, memory_used_mib=None, utilisation_percent=None, health="unknown")
    client = world.client(world.member)
    assert results(client.get("/api/v1/accelerators/"))[0]["state"] == "unknown"  # nothing says it is busy either
    assert results(client.get("/api/v1/nodes/"))[0]["accelerators"] == {"total": 1, "free": 0}
    summary = client.get("/api/v1/accelerators/summary/").json()
    assert summary["models"] == [{"model": None, "total": 1, "free": 0, "busy": 0, "unhealthy": 0, "unknown": 1}]
    assert [a["index"] for a in results(client.get("/api/v1/accelerators/?state=unknown"))] == [0]


@pytest.mark.parametrize(
    ("readings", "state"),
    [
        ({}, "free"),
        ({"health": "unknown"}, "free"),
        ({"utilisation_percent": None}, "free"),
        ({"memory_used_mib": MIB_80GB // 25}, "free"),  # 4 % of its memory
        ({"utilisation_percent": 5}, "busy"),
        ({"memory_used_mib": MIB_80GB // 10}, "busy"),  # holds memory, computes nothing
        ({"memory_used_mib": None, "utilisation_percent": 50}, "busy"),
        ({"health": "degraded"}, "unhealthy"),
        ({"health": "failed", "utilisation_percent": 90}, "unhealthy"),
        ({"memory_used_mib": None, "utilisation_percent": None}, "unknown"),
    ],
)
def test_a_gpus_state_follows_its_health_and_readings(world: Any, readings: dict[str, Any], state: str) -> None:
    make_gpu(make_node(world.cluster, "n"), 0, **readings)
    client = world.client(world.member)
    assert results(client.get("/api/v1/accelerators/"))[0]["state"] == state
    assert [a["index"] for a in results(client.get(f"/api/v1/accelerators/?state={state}"))] == [0]
    # The node's free count and the GPU's state agree.
    assert results(client.get("/api/v1/nodes/"))[0]["accelerators"]["free"] == (state == "free")
    assert client.get("/api/v1/accelerators/summary/").json()[state] == 1


def test_summary_counts_gpus_by_model_and_state(world: Any, fleet: Fleet) -> None:
    client = world.client(world.member)
    body = client.get("/api/v1/accelerators/summary/").json()
    assert body["models"] == [
        {"model": "Test H100", "total": 4, "free": 2, "busy": 1, "unhealthy": 1, "unknown": 0},
        {"model": None, "total": 1, "free": 1, "busy": 0, "unhealthy": 0, "unknown": 0},
    ]
    assert (body["total"], body["free"], body["busy"], body["unhealthy"], body["unknown"]) == (5, 3, 1, 1, 0)
    only_quiet = client.get(f"/api/v1/accelerators/summary/?node={fleet.quiet_node.pk}").json()
    assert only_quiet["models"] == [
        {"model": "Test H100", "total": 1, "free": 1, "busy": 0, "unhealthy": 0, "unknown": 0}
    ]
    assert client.get("/api/v1/accelerators/summary/?cluster=gpu-z").json()["total"] == 0  # not theirs


def test_summary_is_one_aggregate_query_however_many_gpus(world: Any, fleet: Fleet) -> None:
    client = world.client(world.member)
    client.get("/api/v1/accelerators/summary/")  # the token's first use is recorded once

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/accelerators/summary/").status_code == 200
        return sum("accelerator" in q["sql"] for q in ctx.captured_queries)

    assert count() == 1
    for i in range(5):
        node = make_node(world.cluster, f"extra-{i}")
        make_gpu(node, 0, model=make_model(f"Model {i}"))
        make_gpu(node, 1, health="degraded")
    assert count() == 1


# --- filters ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cluster=gpu-a", ["gpu-node-1", "gpu-node-2"]),
        ("cluster=gpu-z", []),  # another organisation's: filtered within what the caller sees
        ("state=down", ["gpu-node-2"]),
        ("state=ready&state=down", ["gpu-node-1", "gpu-node-2"]),
        ("hostname=node-1", ["gpu-node-1"]),
    ],
)
def test_node_filters(world: Any, fleet: Fleet, query: str, expected: list[str]) -> None:
    Node.objects.filter(pk=fleet.quiet_node.pk).update(state="down")
    rows = results(world.client(world.member).get(f"/api/v1/nodes/?{query}"))
    assert [row["hostname"] for row in rows] == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("model=test%20h100", [("gpu-node-1", 0), ("gpu-node-1", 1), ("gpu-node-1", 2), ("gpu-node-2", 0)]),
        ("unrecognised=true", [("gpu-node-1", 3)]),
        ("unrecognised=false&state=free", [("gpu-node-1", 0), ("gpu-node-2", 0)]),
        ("state=busy&state=unhealthy", [("gpu-node-1", 1), ("gpu-node-1", 2)]),
        ("health=failed", [("gpu-node-1", 2)]),
        ("hostname=gpu-node-2", [("gpu-node-2", 0)]),
    ],
)
def test_accelerator_filters(world: Any, fleet: Fleet, query: str, expected: list[tuple[str, int]]) -> None:
    rows = results(world.client(world.member).get(f"/api/v1/accelerators/?{query}"))
    assert [(row["hostname"], row["index"]) for row in rows] == expected


def test_accelerator_filter_by_node_id(world: Any, fleet: Fleet) -> None:
    rows = results(world.client(world.member).get(f"/api/v1/accelerators/?node={fleet.quiet_node.pk}"))
    assert [(row["hostname"], row["index"]) for row in rows] == [("gpu-node-2", 0)]


def test_fabric_and_storage_filters(world: Any, fleet: Fleet) -> None:
    client = world.client(world.member)
    NetworkFabric.objects.create(organisation=world.org, name="eth", kind="ethernet", gbps_per_node=100)
    StorageBackend.objects.create(organisation=world.org, name="weights", kind="s3", uri="s3://b/w", purpose="models")
    assert [f["name"] for f in results(client.get("/api/v1/network-fabrics/?kind=infiniband"))] == ["ib-fabric"]
    assert [f["name"] for f in results(client.get("/api/v1/network-fabrics/?rdma=false"))] == ["eth"]
    assert [f["name"] for f in results(client.get(f"/api/v1/network-fabrics/?node={fleet.node.pk}"))] == ["ib-fabric"]
    assert [f["name"] for f in results(client.get("/api/v1/network-fabrics/?cluster=gpu-a"))] == ["ib-fabric"]
    assert [s["name"] for s in results(client.get("/api/v1/storage-backends/?purpose=models"))] == ["weights"]
    assert [s["name"] for s in results(client.get("/api/v1/storage-backends/?kind=lustre"))] == ["lustre-scratch"]
    response = client.get("/api/v1/storage-backends/?purpose=snapshots")
    assert response.status_code == 400 and "purpose" in response.json()


def test_catalog_filters(world: Any) -> None:
    make_model("Test MI300X", vendor="amd", memory_gb=192)
    client = world.client(world.member)
    amd = results(client.get("/api/v1/accelerator-models/?vendor=amd&page_size=500"))
    assert "Test MI300X" in [m["name"] for m in amd]
    assert {m["vendor"] for m in amd} == {"amd"}
    assert [m["name"] for m in results(client.get("/api/v1/accelerator-models/?name=test%20mi3"))] == ["Test MI300X"]


# --- tenancy: another organisation's hardware does not exist for the caller ------------------
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nodes/{node}/",
        "/api/v1/accelerators/{gpu}/",
        "/api/v1/network-fabrics/{fabric}/",
        "/api/v1/storage-backends/{storage}/",
    ],
)
def test_another_organisations_objects_are_404(world: Any, fleet: Fleet, path: str) -> None:
    other_gpu = fleet.other_node.accelerators.get()
    url = path.format(
        node=fleet.other_node.pk, gpu=other_gpu.pk, fabric=fleet.other_fabric.pk, storage=fleet.other_storage.pk
    )
    assert world.client(world.org_admin).get(url).status_code == 404
    # ...and they are there: their own organisation's admin reads them.
    assert world.client(fleet.other_admin).get(url).status_code == 200


def test_lists_hold_only_the_callers_organisation(world: Any, fleet: Fleet) -> None:
    client = world.client(world.member)
    assert "secret-node" not in [n["hostname"] for n in results(client.get("/api/v1/nodes/"))]
    assert {a["cluster"] for a in results(client.get("/api/v1/accelerators/"))} == {"gpu-a"}
    assert [f["name"] for f in results(client.get("/api/v1/network-fabrics/"))] == ["ib-fabric"]
    assert [s["name"] for s in results(client.get("/api/v1/storage-backends/"))] == ["lustre-scratch"]
    theirs = world.client(fleet.other_admin)
    assert [n["hostname"] for n in results(theirs.get("/api/v1/nodes/"))] == ["secret-node"]


def test_another_organisations_admin_cannot_change_or_delete(world: Any, fleet: Fleet) -> None:
    client = world.client(fleet.other_admin)
    url = f"/api/v1/storage-backends/{fleet.storage.pk}/"
    assert client.patch(url, {"capacity_bytes": 1}, format="json").status_code == 404
    assert client.delete(url).status_code == 404
    assert client.delete(f"/api/v1/network-fabrics/{fleet.fabric.pk}/").status_code == 404
    assert StorageBackend.objects.filter(pk=fleet.storage.pk, capacity_bytes=10**15).exists()
    assert NetworkFabric.objects.filter(pk=fleet.fabric.pk).exists()


def test_the_catalog_is_visible_to_every_signed_in_user(world: Any, fleet: Fleet) -> None:
    loner = UserFactory(username="no-team")
    response = world.client(loner).get("/api/v1/accelerator-models/?name=test%20h100")
    assert [m["name"] for m in results(response)] == ["Test H100"]
    assert world.client(loner).get(f"/api/v1/accelerator-models/{fleet.h100.pk}/").json()["memory_gb"] == 80.0
    assert results(world.client(loner).get("/api/v1/nodes/")) == []
    assert world.client(loner).get("/api/v1/accelerators/summary/").json()["total"] == 0
    assert APIClient().get("/api/v1/accelerator-models/").status_code in (401, 403)


# --- writes: organisation admins ------------------------------------------------------------
FABRIC = {"name": "ib-2", "kind": "infiniband", "gbps_per_node": 1600, "rdma": True}
STORAGE = {"name": "datasets", "kind": "nfs", "uri": "/mnt/datasets", "purpose": "datasets"}


def test_an_org_admin_creates_changes_and_deletes_a_fabric(world: Any, fleet: Fleet) -> None:
    client = world.client(world.org_admin)
    response = client.post("/api/v1/network-fabrics/", {**FABRIC, "nodes": [fleet.node.pk]}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["organisation"] == "acme"  # the caller's only organisation
    assert body["nodes"] == [fleet.node.pk]
    url = f"/api/v1/network-fabrics/{body['id']}/"

    response = client.patch(url, {"nodes": [fleet.node.pk, fleet.quiet_node.pk], "gbps_per_node": 3200}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["nodes"] == sorted([fleet.node.pk, fleet.quiet_node.pk])
    assert response.json()["gbps_per_node"] == 3200.0
    assert response.json()["name"] == "ib-2"

    assert client.delete(url).status_code == 204
    assert not NetworkFabric.objects.filter(name="ib-2").exists()
    actions = list(
        AuditEntry.objects.filter(target_type="inventory.networkfabric").order_by("id").values_list("action", flat=True)
    )
    assert actions == ["inventory.fabric_created", "inventory.fabric_updated", "inventory.fabric_deleted"]
    assert AuditEntry.objects.filter(action="inventory.fabric_created", actor=world.org_admin).exists()


def test_an_org_admin_creates_and_changes_storage(world: Any, fleet: Fleet) -> None:
    client = world.client(world.org_admin)
    response = client.post("/api/v1/storage-backends/", {**STORAGE, "organisation": "acme"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["capacity_bytes"] is None and body["read_gbps"] is None and body["measured_at"] is None
    url = f"/api/v1/storage-backends/{body['id']}/"
    response = client.patch(url, {"capacity_bytes": 2 * 10**12, "used_bytes": 10**12}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["capacity_bytes"], response.json()["used_bytes"]) == (2 * 10**12, 10**12)
    # Measured figures are the probe's to write.
    response = client.patch(url, {"read_gbps": 99}, format="json")
    assert response.status_code == 200 and response.json()["read_gbps"] is None
    assert client.delete(url).status_code == 204
    assert not StorageBackend.objects.filter(name="datasets").exists()


@pytest.mark.parametrize("who", ["admin", "outsider"])
def test_a_team_admin_is_no_organisation_admin(world: Any, fleet: Fleet, who: str) -> None:
    # ada is an admin of alpha and otto of beta, both teams of acme: neither administers acme.
    client = world.client(getattr(world, who))
    assert client.post("/api/v1/storage-backends/", STORAGE, format="json").status_code == 403
    assert (
        client.patch(f"/api/v1/storage-backends/{fleet.storage.pk}/", {"used_bytes": 0}, format="json").status_code
        == 403
    )
    assert client.delete(f"/api/v1/network-fabrics/{fleet.fabric.pk}/").status_code == 403
    assert StorageBackend.objects.filter(organisation=world.org).count() == 1
    assert StorageBackend.objects.get(pk=fleet.storage.pk).used_bytes == 4 * 10**14
    assert NetworkFabric.objects.filter(pk=fleet.fabric.pk).exists()


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_members_and_viewers_read_but_cannot_write(world: Any, fleet: Fleet, who: str) -> None:
    client = world.client(getattr(world, who))
    assert [f["name"] for f in results(client.get("/api/v1/network-fabrics/"))] == ["ib-fabric"]
    assert client.get(f"/api/v1/storage-backends/{fleet.storage.pk}/").status_code == 200

    assert client.post("/api/v1/network-fabrics/", FABRIC, format="json").status_code == 403
    assert client.post("/api/v1/storage-backends/", {**STORAGE, "uri": 5}, format="json").status_code == 403
    fabric_url = f"/api/v1/network-fabrics/{fleet.fabric.pk}/"
    storage_url = f"/api/v1/storage-backends/{fleet.storage.pk}/"
    assert client.patch(fabric_url, {"rdma": False}, format="json").status_code == 403
    assert client.patch(storage_url, {"capacity_bytes": 1}, format="json").status_code == 403
    assert client.delete(fabric_url).status_code == 403
    assert client.delete(storage_url).status_code == 403
    assert NetworkFabric.objects.filter(organisation=world.org).count() == 1
    assert StorageBackend.objects.get(pk=fleet.storage.pk).capacity_bytes == 10**15
    assert not AuditEntry.objects.filter(action__startswith="inventory.").exists()


def test_an_admin_of_several_organisations_admins_only_where_they_are_admin(world: Any, fleet: Fleet) -> None:
    # olga is an admin of acme, and only a member of a team in globex.
    MembershipFactory(team=TeamFactory(organisation=fleet.other_org, slug="delta"), user=world.org_admin, role="member")
    client = world.client(world.org_admin)
    response = client.post("/api/v1/storage-backends/", STORAGE, format="json")
    assert response.status_code == 400 and "organisation" in response.json()  # which one?
    response = client.post("/api/v1/storage-backends/", {**STORAGE, "organisation": "globex"}, format="json")
    assert response.status_code == 403
    response = client.post("/api/v1/storage-backends/", {**STORAGE, "organisation": "acme"}, format="json")
    assert response.status_code == 201
    assert client.delete(f"/api/v1/storage-backends/{fleet.other_storage.pk}/").status_code == 403


def test_a_read_scoped_token_of_an_admin_cannot_write(world: Any) -> None:
    client = world.client(world.org_admin, scope="read")
    assert client.post("/api/v1/storage-backends/", STORAGE, format="json").status_code == 403
    assert not StorageBackend.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**STORAGE, "kind": "floppy"}, "kind"),
        ({**STORAGE, "purpose": "snapshots"}, "purpose"),
        ({**STORAGE, "name": "Not a slug!"}, "name"),
        ({**STORAGE, "name": "lustre-scratch"}, "name"),  # taken in this organisation
        ({**STORAGE, "uri": "mnt/relative"}, "uri"),
        ({**STORAGE, "kind": "s3", "uri": "/mnt/datasets"}, "uri"),
        ({**STORAGE, "kind": "gcs", "uri": "s3://bucket"}, "uri"),
        ({**STORAGE, "capacity_bytes": -1}, "capacity_bytes"),
        ({**STORAGE, "capacity_bytes": 10, "used_bytes": 11}, "used_bytes"),
        ({**STORAGE, "organisation": "globex"}, "organisation"),  # not one of the caller's
        ({**STORAGE, "organisation": "nope"}, "organisation"),
        ({"name": "x"}, "kind"),
    ],
)
def test_bad_storage_is_a_400_with_field_errors_and_nothing_created(
    world: Any, fleet: Fleet, body: dict[str, Any], field: str
) -> None:
    response = world.client(world.org_admin).post("/api/v1/storage-backends/", body, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert StorageBackend.objects.filter(organisation=world.org).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**FABRIC, "kind": "carrier-pigeon"}, "kind"),
        ({**FABRIC, "gbps_per_node": 0}, "gbps_per_node"),
        ({**FABRIC, "gbps_per_node": "fast"}, "gbps_per_node"),
        ({**FABRIC, "name": "ib-fabric"}, "name"),
        ({**FABRIC, "nodes": [999_999]}, "nodes"),
        ({**FABRIC, "nodes": "all"}, "nodes"),
        ("other-org-node", "nodes"),
    ],
)
def test_bad_fabric_is_a_400_with_field_errors_and_nothing_created(
    world: Any, fleet: Fleet, body: Any, field: str
) -> None:
    if body == "other-org-node":
        body = {**FABRIC, "nodes": [fleet.node.pk, fleet.other_node.pk]}
    response = world.client(world.org_admin).post("/api/v1/network-fabrics/", body, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert list(NetworkFabric.objects.filter(organisation=world.org).values_list("name", flat=True)) == ["ib-fabric"]


def test_bad_changes_are_400_and_change_nothing(world: Any, fleet: Fleet) -> None:
    client = world.client(world.org_admin)
    url = f"/api/v1/storage-backends/{fleet.storage.pk}/"
    response = client.patch(url, {"used_bytes": 2 * 10**15}, format="json")  # over the stored capacity
    assert response.status_code == 400 and "used_bytes" in response.json()
    response = client.patch(url, {"kind": "s3"}, format="json")  # the stored /mnt/lustre is no S3 URI
    assert response.status_code == 400 and "uri" in response.json()
    response = client.patch(url, {"organisation": "globex"}, format="json")
    assert response.status_code == 400 and "organisation" in response.json()
    fabric_url = f"/api/v1/network-fabrics/{fleet.fabric.pk}/"
    response = client.patch(fabric_url, {"nodes": [fleet.other_node.pk]}, format="json")
    assert response.status_code == 400 and "nodes" in response.json()
    assert client.put(fabric_url, FABRIC, format="json").status_code == 405
    storage = StorageBackend.objects.get(pk=fleet.storage.pk)
    assert (storage.kind, storage.used_bytes) == ("lustre", 4 * 10**14)
    assert set(NetworkFabric.objects.get(pk=fleet.fabric.pk).nodes.all()) == {fleet.node, fleet.quiet_node}


# --- the catalog: staff correct it ----------------------------------------------------------
def test_staff_correct_the_catalog_and_others_may_not(world: Any, fleet: Fleet) -> None:
    url = f"/api/v1/accelerator-models/{fleet.h100.pk}/"
    change = {"match_names": ["NVIDIA H100 80GB HBM3", " NVIDIA H100 80GB HBM3 "], "pci_device_ids": ["0x2330"]}
    assert world.client(world.org_admin).patch(url, change, format="json").status_code == 403
    assert world.client(world.org_admin).patch(url, {"memory_gb": "lots"}, format="json").status_code == 403
    assert AcceleratorModel.objects.get(pk=fleet.h100.pk).match_names == []

    world.member.is_staff = True
    world.member.save()
    response = world.client(world.member).patch(url, change, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["match_names"] == ["NVIDIA H100 80GB HBM3"]
    response = world.client(world.member).patch(url, {"mamf_bf16_tflops": 790.1}, format="json")
    assert response.status_code == 200 and response.json()["mamf_bf16_tflops"] == 790.1
    assert AcceleratorModel.objects.get(pk=fleet.h100.pk).pci_device_ids == ["0x2330"]
    assert AuditEntry.objects.filter(action="inventory.accelerator_model_updated", actor=world.member).exists()

    for bad, field in [
        ({"pci_device_ids": ["2330"]}, "pci_device_ids"),
        ({"memory_gb": 0}, "memory_gb"),
        ({"vendor": "acme-chips"}, "vendor"),
        ({"bf16_tflops": -1}, "bf16_tflops"),
        ({"mamf_bf16_tflops": -1}, "mamf_bf16_tflops"),
    ]:
        response = world.client(world.member).patch(url, bad, format="json")
        assert response.status_code == 400 and field in response.json(), (bad, response.json())
    assert AcceleratorModel.objects.get(pk=fleet.h100.pk).memory_gb == 80
    assert world.client(world.member).post("/api/v1/accelerator-models/", {}, format="json").status_code == 405
    assert world.client(world.member).delete(url).status_code == 405


# --- lists stay a constant number of queries --------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nodes/",
        "/api/v1/accelerators/",
        "/api/v1/accelerator-models/",
        "/api/v1/network-fabrics/",
        "/api/v1/storage-backends/",
        "/api/v1/accelerators/summary/",
    ],
)
def test_inventory_lists_make_a_constant_number_of_queries(world: Any, fleet: Fleet, path: str) -> None:
    client = world.client(world.member)
    client.get(path)  # the token's first use is recorded once

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for i in range(6):
        node = make_node(world.cluster, f"grown-{i}")
        gpus = [make_gpu(node, j, model=make_model(f"Grown {i}-{j}")) for j in range(2)]
        domain = InterconnectDomain.objects.create(node=node, kind="nvswitch")
        domain.accelerators.set(gpus)
        fabric = NetworkFabric.objects.create(organisation=world.org, name=f"f{i}", kind="ethernet", gbps_per_node=1)
        fabric.nodes.set([node, fleet.node])
        StorageBackend.objects.create(organisation=world.org, name=f"s{i}", kind="nfs", uri="/n", purpose="models")
    assert count() == few
