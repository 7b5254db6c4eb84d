"""The queue says the real blocker: a job that can never run on its cluster's hardware (queued
before submissions were checked, or whose cluster shrank since) reads "Cannot run" with what
the cluster lacks, is never admitted, and the queue API marks it (never "next in its pool")."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.admission.scheduler import admit_pending
from apps.inventory.models import AcceleratorModel
from apps.jobs.models import Job
from tests.factories import AcceleratorFactory, ClusterFactory, JobFactory, NodeFactory

pytestmark = pytest.mark.django_db

GIB = 2**30


def queue(world: Any) -> dict[str, dict[str, Any]]:
    rows = world.client(world.member).get("/api/v1/queue/").json()["results"]
    return {row["name"]: row for row in rows}


@pytest.fixture
def cpu_only(world: Any) -> Any:
    """The cluster as ``make run`` finds it: two 2-CPU nodes, no GPUs (a CPU pool only)."""
    for name in ("small-1", "small-2"):
        NodeFactory(cluster=world.cluster, hostname=name, cpus=2, memory_bytes=8 * GIB)
    return world


def test_a_gpu_job_on_a_cluster_without_gpus_says_so(cpu_only: Any) -> None:
    job = JobFactory(team=cpu_only.alpha, cluster=cpu_only.cluster, name="one-gpu", gpus=1)
    admit_pending()

    job.refresh_from_db()
    assert job.state == "pending"
    assert job.state_reason == (
        "Cannot run on cluster gpu-a: it has no GPUs at all (its pools: gpu-a-cpu). "
        "Cancel it and resubmit it for what the cluster has, or to another cluster."
    )
    row = queue(cpu_only)["one-gpu"]
    assert row["cannot_run"].startswith("Cluster gpu-a has no GPUs")


def test_a_cpu_job_bigger_than_any_node_is_not_admitted_and_says_why(cpu_only: Any) -> None:
    big = JobFactory(team=cpu_only.alpha, cluster=cpu_only.cluster, name="big", cpus=3)
    fits = JobFactory(team=cpu_only.alpha, cluster=cpu_only.cluster, name="fits", cpus=2, memory_gb=8)
    admit_pending()

    big.refresh_from_db()
    fits.refresh_from_db()
    assert big.state == "pending"  # 4 CPUs in the pool, but 2 on each node: never
    assert big.state_reason == (
        "Cannot run: it asks for 3 CPUs on one node and no node of pool gpu-a-cpu has more than 2. "
        "Cancel it and resubmit with fewer, or to another pool."
    )
    assert fits.state != "pending"


def test_the_queue_marks_what_can_never_run_and_only_that(cpu_only: Any) -> None:
    JobFactory(team=cpu_only.alpha, cluster=cpu_only.cluster, name="huge", cpus=64, priority=10)
    JobFactory(team=cpu_only.alpha, cluster=cpu_only.cluster, name="memory", cpus=1, memory_gb=9, priority=5)
    JobFactory(team=cpu_only.alpha, cluster=cpu_only.cluster, name="fine", cpus=2)
    undiscovered = ClusterFactory(organisation=cpu_only.org, name="fresh")
    JobFactory(team=cpu_only.alpha, cluster=undiscovered, name="unknown", gpus=64, cpus=4096)

    rows = queue(cpu_only)
    assert rows["huge"]["jobs_ahead"] == 0  # first in its pool, yet it can never run
    assert rows["huge"]["cannot_run"] == (
        "No node of cluster gpu-a has 64 CPUs (the job's CPUs run on one node): the most is 2, on small-1."
    )
    assert "the most is 8 GB" in rows["memory"]["cannot_run"]
    assert rows["fine"]["cannot_run"] == ""
    assert rows["unknown"]["cannot_run"] == ""  # nothing known of its cluster: nothing claimed


def test_on_a_cluster_without_nodes_the_queue_judges_what_it_last_reported(world: Any) -> None:
    JobFactory(team=world.alpha, cluster=world.cluster, name="gpus", gpus=8)
    JobFactory(team=world.alpha, cluster=world.cluster, name="cpus", cpus=2)
    assert queue(world)["gpus"]["cannot_run"] == ""  # it never answered: nothing known, nothing claimed

    world.cluster.total_resources = {"cpus": 4, "gpus": 2, "memory_bytes": 16 * GIB, "custom": {}}
    world.cluster.save()
    rows = queue(world)
    assert rows["gpus"]["cannot_run"] == (
        "Cluster gpu-a reported less than the job asks for in all: it asks for 8 GPUs (has 2)."
    )
    assert rows["cpus"]["cannot_run"] == ""


def test_a_gang_whose_cluster_shrank_says_it_cannot_run(world: Any) -> None:
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    nodes = [NodeFactory(cluster=world.cluster) for _ in range(2)]
    for node in nodes:
        for index in range(8):
            AcceleratorFactory(node=node, index=index, model=h100)
    admit_pending()  # the pools
    job = JobFactory(team=world.alpha, cluster=world.cluster, name="eight", gpus=8, accelerator_model="H100 SXM")
    nodes[1].accelerators.filter(index__gte=4).delete()
    nodes[0].state = "down"
    nodes[0].save()
    admit_pending()

    job.refresh_from_db()
    assert job.state == "pending"
    assert job.state_reason.startswith("Cannot run: it asks for 8 GPUs")
    assert queue(world)["eight"]["cannot_run"] == (
        "Cluster gpu-a can never give one job 8 H100 SXM GPUs: at most 4 (4 on one node), not counting 1 down node."
    )


def test_the_queue_takes_as_many_queries_for_many_clusters_and_nodes_as_for_one(cpu_only: Any) -> None:
    client = cpu_only.client(cpu_only.member)
    JobFactory(team=cpu_only.alpha, cluster=cpu_only.cluster, gpus=1)
    client.get("/api/v1/queue/")  # the token's first use writes when it was used

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/queue/").status_code == 200
        return len(queries)

    small = count()
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    for n in range(5):
        cluster = ClusterFactory(organisation=cpu_only.org, name=f"more{n}")
        node = NodeFactory(cluster=cluster)
        AcceleratorFactory(node=node, index=0, model=h100)
        JobFactory(team=cpu_only.alpha, cluster=cluster, gpus=2, accelerator_model="H100")
    assert Job.objects.count() == 6
    assert count() == small


def test_each_gpu_count_looks_up_the_largest_node_with_at_least_that_many() -> None:
    """``node_limits`` holds every count from 0 up: a count no node has (6 here) takes the nodes
    with more (the 8-GPU ones), 0 takes every node."""
    from types import SimpleNamespace

    from apps.admission.state import _node_limits

    nodes = {
        1: SimpleNamespace(cpus=64, memory_bytes=512 * GIB, cluster_id=1),  # 8 GPUs
        2: SimpleNamespace(cpus=224, memory_bytes=2048 * GIB, cluster_id=1),  # 4 GPUs
        3: SimpleNamespace(cpus=0, memory_bytes=0, cluster_id=1),  # 2 GPUs, reports no size
    }
    pools = {10: SimpleNamespace(accelerator_model_id=5, cluster_id=1)}
    table = _node_limits(pools, nodes, {(10, 1): 8, (10, 2): 4, (10, 3): 2})[10]  # type: ignore[arg-type]
    assert sorted(table) == list(range(9))
    assert table[8] == table[6] == table[5] == (64, 512 * GIB)
    assert table[4] == table[3] == (224, 2048 * GIB)
    assert table[2] == table[0] == (float("inf"), float("inf"))
