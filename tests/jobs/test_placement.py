"""Where attempts run: placement on the job's attempts, and the jobs on a node."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.jobs.models import Attempt
from apps.jobs.placement import SQLITE_ON_NODE, enrich_placements
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

pytestmark = pytest.mark.django_db


def gpu_node(world: Any, hostname: str, *, gpus: int = 2, fabric: Any = None) -> Any:
    node = NodeFactory(cluster=world.cluster, hostname=hostname, address=f"10.0.0.{len(hostname)}")
    model = AcceleratorModelFactory(name="H100 SXM")
    for index in range(gpus):
        AcceleratorFactory(node=node, index=index, uuid=f"GPU-{hostname}-{index}", model=model)
    if fabric is not None:
        fabric.nodes.add(node)
    return node


def share(node: Any, gpus: list[int]) -> dict[str, Any]:
    return {"node_id": node.pk, "hostname": node.hostname, "address": node.address, "gpus": gpus}


def attempt(job: Any, number: int, placement: list[dict[str, Any]], state: str = "running", **fields: Any) -> Any:
    return Attempt.objects.create(job=job, number=number, state=state, placement=placement, **fields)


def detail_queries(client: Any, job_id: int) -> tuple[int, dict[str, Any]]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/api/v1/jobs/{job_id}/")
    assert response.status_code == 200
    return len(ctx.captured_queries), response.json()


# --- placement on the job's attempts ------------------------------------------------------
def test_job_detail_shows_each_attempts_nodes_gpus_uuids_model_fabric_and_cluster(world: Any) -> None:
    ib = NetworkFabricFactory(organisation=world.org, name="ib-a", kind="infiniband", gbps_per_node=400, rdma=True)
    eth = NetworkFabricFactory(organisation=world.org, name="eth", kind="ethernet", gbps_per_node=25, rdma=False)
    a = gpu_node(world, "gpu-a", gpus=4, fabric=ib)
    eth.nodes.add(a)
    b = gpu_node(world, "gpu-b", gpus=4)
    job = JobFactory(team=world.alpha, cluster=world.cluster, state="running", gpus=6)
    attempt(job, 1, [share(a, [0, 1])], state="failed")
    attempt(job, 2, [share(a, [2, 3]), share(b, [1])])

    body = world.client(world.member).get(f"/api/v1/jobs/{job.pk}/").json()

    first, second = body["attempts"]
    assert first["placement"] == [
        {
            "node_id": a.pk,
            "hostname": "gpu-a",
            "address": a.address,
            "gpus": [0, 1],
            "gpu_uuids": ["GPU-gpu-a-0", "GPU-gpu-a-1"],
            "accelerator_model": "H100 SXM",
            "fabric": "ib-a (InfiniBand, 400 Gbit/s, RDMA)",  # the fastest of its two
            "cluster_id": world.cluster.pk,
        }
    ]
    assert [entry["hostname"] for entry in second["placement"]] == ["gpu-a", "gpu-b"]
    assert second["placement"][0]["gpu_uuids"] == ["GPU-gpu-a-2", "GPU-gpu-a-3"]
    assert second["placement"][1]["gpus"] == [1]
    assert second["placement"][1]["gpu_uuids"] == ["GPU-gpu-b-1"]
    assert second["placement"][1]["fabric"] == ""  # on no fabric


def test_a_cpu_only_attempt_and_a_removed_node_keep_what_was_stored(world: Any) -> None:
    gone = gpu_node(world, "gpu-gone")
    stored = share(gone, [0])
    gone.delete()
    job = JobFactory(team=world.alpha, cluster=world.cluster, state="failed")
    attempt(job, 1, [], state="failed")
    attempt(job, 2, [stored], state="failed")

    first, second = world.client(world.member).get(f"/api/v1/jobs/{job.pk}/").json()["attempts"]

    assert first["placement"] == []
    assert second["placement"] == [
        {
            "node_id": None,  # nothing to link to any more
            "hostname": "gpu-gone",
            "address": stored["address"],
            "gpus": [0],
            "gpu_uuids": [""],
            "accelerator_model": "",
            "fabric": "",
            "cluster_id": None,
        }
    ]


def test_an_unrecognised_gpu_shows_its_reported_name_and_a_gpu_gone_from_the_node_no_uuid(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="odd")
    AcceleratorFactory(node=node, index=0, uuid="GPU-odd-0", model=None, reported_name="Mystery X1")

    [placement] = enrich_placements([[share(node, [0, 5])]])

    assert placement[0]["accelerator_model"] == "Mystery X1"
    assert placement[0]["gpu_uuids"] == ["GPU-odd-0", ""]


def test_placement_is_looked_up_for_all_attempts_at_once(world: Any) -> None:
    client = world.client(world.member)
    fabric = NetworkFabricFactory(organisation=world.org, name="ib")
    small = JobFactory(team=world.alpha, cluster=world.cluster, state="running")
    attempt(small, 1, [share(gpu_node(world, "one", fabric=fabric), [0])])
    detail_queries(client, small.pk)  # the token's first use is recorded once
    few, _ = detail_queries(client, small.pk)

    big = JobFactory(team=world.alpha, cluster=world.cluster, state="running")
    nodes = [gpu_node(world, f"many-{i}", fabric=fabric) for i in range(4)]
    for number in range(1, 6):
        attempt(big, number, [share(node, [0, 1]) for node in nodes], state="failed" if number < 5 else "running")
    many, body = detail_queries(client, big.pk)

    assert many == few
    assert len(body["attempts"]) == 5
    assert all(len(a["placement"]) == 4 and a["placement"][3]["gpu_uuids"][1] for a in body["attempts"])


def test_a_job_without_placements_asks_the_inventory_nothing(world: Any) -> None:
    job = JobFactory(team=world.alpha, cluster=world.cluster)
    stored = attempt(job, 1, [], state="admitted").placement
    with CaptureQueriesContext(connection) as ctx:
        shown = enrich_placements([stored, [], None, "not a list"])
    assert shown == [[], [], [], []]
    assert ctx.captured_queries == []


def test_reconcile_answers_with_the_placement_too(world: Any) -> None:
    node = gpu_node(world, "gpu-r")
    job = JobFactory(team=world.alpha, cluster=world.cluster, state="admitted")
    attempt(job, 1, [share(node, [1])], state="admitted")  # not on the cluster yet: nothing to ask it

    response = world.client(world.member).post(f"/api/v1/jobs/{job.pk}/reconcile/")

    assert response.status_code == 200
    assert response.json()["attempts"][0]["placement"][0]["gpu_uuids"] == ["GPU-gpu-r-1"]


# --- the jobs on a node ---------------------------------------------------------------------
def node_jobs(client: Any, node_id: int, query: str = "") -> Any:
    return client.get(f"/api/v1/nodes/{node_id}/jobs/{query}")


def test_a_node_lists_the_jobs_on_it_now_first_then_the_finished_ones_latest_first(world: Any) -> None:
    node = gpu_node(world, "busy", gpus=4)
    other = gpu_node(world, "elsewhere")
    now = timezone.now()
    running = JobFactory(team=world.alpha, cluster=world.cluster, name="running-now", state="running")
    attempt(running, 1, [share(other, [0]), share(node, [2, 3])], started_at=now - timedelta(minutes=5))
    old = JobFactory(team=world.alpha, cluster=world.cluster, name="old", state="succeeded")
    attempt(old, 1, [share(node, [0])], state="succeeded", finished_at=now - timedelta(days=2))
    recent = JobFactory(team=world.alpha, cluster=world.cluster, name="recent", state="running")
    attempt(recent, 1, [share(node, [1])], state="lost", finished_at=now - timedelta(hours=1))
    attempt(recent, 2, [share(other, [1])])  # its retry went elsewhere
    elsewhere = JobFactory(team=world.alpha, cluster=world.cluster, name="elsewhere-only", state="running")
    attempt(elsewhere, 1, [share(other, [0])])

    response = node_jobs(world.client(world.member), node.pk)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    rows = body["results"]
    assert [(r["job_name"], r["number"], r["active"]) for r in rows] == [
        ("running-now", 1, True),
        ("recent", 1, False),
        ("old", 1, False),
    ]
    assert rows[0]["gpus"] == [2, 3]  # only what it holds on this node
    assert rows[0]["gpus_total"] == 3
    assert rows[0]["nodes"] == 2
    assert rows[0]["team"] == "alpha"
    assert rows[0]["cluster"] == world.cluster.name
    assert rows[0]["job"] == running.pk
    assert rows[0]["job_state"] == "running"
    assert rows[1]["state"] == "lost"

    now_only = node_jobs(world.client(world.member), node.pk, "?active=true").json()
    assert [r["job_name"] for r in now_only["results"]] == ["running-now"]
    finished = node_jobs(world.client(world.member), node.pk, "?active=false").json()
    assert [r["job_name"] for r in finished["results"]] == ["recent", "old"]


def test_a_node_shows_only_the_callers_teams_jobs(world: Any) -> None:
    node = gpu_node(world, "shared")
    mine = JobFactory(team=world.alpha, cluster=world.cluster, name="ours")
    attempt(mine, 1, [share(node, [0])])
    theirs = JobFactory(team=world.beta, cluster=world.cluster, name="theirs")
    attempt(theirs, 1, [share(node, [1])])

    assert [r["job_name"] for r in node_jobs(world.client(world.member), node.pk).json()["results"]] == ["ours"]
    assert [r["job_name"] for r in node_jobs(world.client(world.outsider), node.pk).json()["results"]] == ["theirs"]
    # An organisation admin of no team sees the node, as in the inventory, and no team's jobs.
    as_org_admin = node_jobs(world.client(world.org_admin), node.pk)
    assert as_org_admin.status_code == 200
    assert as_org_admin.json()["count"] == 0
    # A token bound to one team: that team's jobs only.
    MembershipFactory(team=world.beta, user=world.member, role="viewer")
    beta_only = node_jobs(world.client(world.member, team=world.beta), node.pk).json()
    assert [r["job_name"] for r in beta_only["results"]] == ["theirs"]
    assert [r["job_name"] for r in node_jobs(world.client(world.member), node.pk, "?team=beta").json()["results"]] == [
        "theirs"
    ]


def test_a_node_of_another_organisation_or_none_at_all_is_a_404(world: Any) -> None:
    stranger_org = OrganisationFactory(slug="elsewhere")
    far = NodeFactory(cluster=ClusterFactory(organisation=stranger_org, name="far"), hostname="far-node")
    stranger = UserFactory(username="stranger")
    MembershipFactory(team=TeamFactory(organisation=stranger_org, slug="far-team"), user=stranger)
    client = world.client(world.member)

    assert node_jobs(client, far.pk).status_code == 404
    assert node_jobs(client, 2**62).status_code == 404
    assert node_jobs(client, 2**70).status_code == 404  # past any id: still a 404, never a 500
    assert node_jobs(world.client(stranger), far.pk).status_code == 200
    assert client.get("/api/v1/nodes/abc/jobs/").status_code == 404


def test_node_jobs_bad_filter_is_a_400(world: Any) -> None:
    node = gpu_node(world, "n")
    response = node_jobs(world.client(world.member), node.pk, "?active=perhaps")
    assert response.status_code == 400
    assert "active" in response.json()


def test_node_jobs_are_paginated_in_a_constant_number_of_queries(world: Any) -> None:
    node = gpu_node(world, "paged", gpus=8)
    client = world.client(world.member)

    def grow(n: int) -> None:
        for _ in range(n):
            job = JobFactory(team=world.alpha, cluster=world.cluster, state="succeeded")
            attempt(job, 1, [share(node, [0, 1])], state="succeeded", finished_at=timezone.now())

    def count(query: str = "") -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert node_jobs(client, node.pk, query).status_code == 200
        return len(ctx.captured_queries)

    grow(2)
    count()
    few = count()
    grow(10)
    assert count() == few

    first = node_jobs(client, node.pk, "?page_size=5").json()
    assert first["count"] == 12
    assert len(first["results"]) == 5
    assert first["next"]
    last = node_jobs(client, node.pk, "?page_size=5&page=3").json()
    assert len(last["results"]) == 2
    seen = {
        r["id"] for page in (1, 2, 3) for r in node_jobs(client, node.pk, f"?page_size=5&page={page}").json()["results"]
    }
    assert len(seen) == 12  # every row once across the pages


def test_the_sqlite_fallback_finds_the_attempts_on_a_node() -> None:
    """``make run`` uses SQLite, which has no JSON containment: the json_each query instead."""
    db = sqlite3.connect(":memory:")
    db.execute('CREATE TABLE "jobs_attempt" (id INTEGER PRIMARY KEY, placement TEXT)')
    rows = {
        1: [{"node_id": 7, "hostname": "a", "address": "", "gpus": [0]}],
        2: [{"node_id": 70, "hostname": "b", "address": "", "gpus": [0]}],
        3: [{"node_id": 3, "hostname": "c", "address": "", "gpus": []}, {"node_id": 7, "gpus": [1]}],
        4: [],
    }
    db.executemany('INSERT INTO "jobs_attempt" VALUES (?, ?)', [(k, json.dumps(v)) for k, v in rows.items()])
    sql = SQLITE_ON_NODE.replace("%s", "?")
    found = [row[0] for row in db.execute(f'SELECT id FROM "jobs_attempt" WHERE {sql} ORDER BY id', (7,))]  # noqa: S608
    assert found == [1, 3]


# --- the cluster's dashboard --------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "address", "dashboard"),
    [
        ("ray", "http://10.1.2.3:8265/", "http://10.1.2.3:8265"),
        ("ray", "https://ray.example.com", "https://ray.example.com"),
        ("ray", "ray://head.internal:10001", "http://head.internal:8265"),
        ("ray", "head.internal:6379", "http://head.internal:8265"),
        ("kubernetes", "https://k8s.example.com:6443", ""),
    ],
)
def test_a_ray_cluster_links_to_its_dashboard(world: Any, kind: str, address: str, dashboard: str) -> None:
    ClusterFactory(organisation=world.org, name="dash", kind=kind, address=address)
    clusters = world.client(world.member).get("/api/v1/clusters/?page_size=50").json()["results"]
    assert next(c for c in clusters if c["name"] == "dash")["dashboard_url"] == dashboard
