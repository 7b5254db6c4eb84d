"""Refuse early, explain well: a submission that can never run on its cluster's hardware is a
400 naming the field and the reason, and creates nothing; one at the exact limit is accepted."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.admission.models import Allocation
from apps.core.models import AuditEntry
from apps.inventory.models import AcceleratorModel
from apps.jobs.models import Job, JobEvent
from tests.factories import AcceleratorFactory, NetworkFabricFactory, NodeFactory

pytestmark = pytest.mark.django_db

GIB = 2**30


def submit(world: Any, **resources: Any) -> Any:
    body: dict[str, Any] = {"name": "big", "team": "alpha", "entrypoint": "python train.py"}
    if resources:
        body["resources"] = resources
    return world.client(world.member).post("/api/v1/jobs/", body, format="json")


def nothing_created() -> None:
    assert Job.objects.count() == 0
    assert JobEvent.objects.count() == 0


def h100() -> AcceleratorModel:
    return AcceleratorModel.objects.get(name="H100 SXM")


def gpu_node(world: Any, gpus: int, *, model: AcceleratorModel | None = None, **fields: Any) -> Any:
    node = NodeFactory(cluster=world.cluster, **fields)
    for index in range(gpus):
        AcceleratorFactory(node=node, index=index, model=model or h100())
    return node


@pytest.fixture
def cpu_only(world: Any) -> Any:
    """The cluster as ``make run`` finds it: two small nodes, no GPUs."""
    NodeFactory(cluster=world.cluster, hostname="small-1", cpus=2, memory_bytes=8 * GIB)
    NodeFactory(cluster=world.cluster, hostname="small-2", cpus=2, memory_bytes=8 * GIB)
    return world


def errors(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.content
    return dict(response.json()["resources"])


def test_gpus_on_a_cluster_without_gpus_are_refused_with_the_reason(cpu_only: Any) -> None:
    found = errors(submit(cpu_only, gpus=8, accelerator_model="H100"))
    assert "Cluster gpu-a has no GPUs" in found["gpus"][0]
    nothing_created()
    found = errors(submit(cpu_only, gpus=1))
    assert "has no GPUs" in found["gpus"][0]
    nothing_created()


def test_more_cpus_or_memory_than_any_node_is_refused(cpu_only: Any) -> None:
    found = errors(submit(cpu_only, cpus=512))
    assert found["cpus"] == [
        "No node of cluster gpu-a has 512 CPUs (the job's CPUs run on one node): the most is 2, on small-1."
    ]
    nothing_created()
    # Two 2-CPU nodes are 4 CPUs, but not on one node: still never.
    assert "the most is 2" in errors(submit(cpu_only, cpus=3))["cpus"][0]
    found = errors(submit(cpu_only, cpus=1, memory_gb=64))
    assert list(found) == ["memory_gb"]
    assert "has 64 GB of memory" in found["memory_gb"][0] and "the most is 8 GB" in found["memory_gb"][0]
    nothing_created()


def test_the_exact_limit_is_accepted(cpu_only: Any) -> None:
    response = submit(cpu_only, cpus=2, memory_gb=8)
    assert response.status_code == 201, response.content
    assert Job.objects.count() == 1


def test_an_accelerator_model_the_cluster_lacks_lists_what_it_has(world: Any) -> None:
    gpu_node(world, 8)
    a100 = AcceleratorModel.objects.get(name="A100 80GB SXM")
    gpu_node(world, 4, model=a100)
    found = errors(submit(world, gpus=1, accelerator_model="L4"))
    assert found["accelerator_model"] == ["Cluster gpu-a has no L4 GPUs (it has 4 × A100 80GB SXM, 8 × H100 SXM)."]
    # Naming none on a cluster of several models: no pool would ever take it.
    found = errors(submit(world, gpus=1))
    assert "several models" in found["accelerator_model"][0]
    found = errors(submit(world, gpus=1, accelerator_models=["L4", "T4"]))
    assert "none of L4, T4" in found["accelerator_models"][0]
    found = errors(submit(world, gpus=1, min_gpu_memory_gb=141))
    assert "no GPU with 141 GB or more" in found["min_gpu_memory_gb"][0]
    nothing_created()
    assert submit(world, gpus=4, accelerator_models=["L4", "A100-80G"]).status_code == 201


def test_more_gpus_than_one_node_without_a_fabric_is_refused_and_the_limit_accepted(world: Any) -> None:
    gpu_node(world, 8)
    gpu_node(world, 8)
    found = errors(submit(world, gpus=9, accelerator_model="H100"))
    assert found["gpus"] == ["Cluster gpu-a can never give one job 9 H100 SXM GPUs: at most 8 (8 on one node)."]
    nothing_created()
    assert submit(world, gpus=8, accelerator_model="H100").status_code == 201


def test_a_gang_may_span_the_nodes_one_fabric_joins(world: Any) -> None:
    fabric = NetworkFabricFactory(organisation=world.org)
    joined = [gpu_node(world, 8) for _ in range(2)]
    fabric.nodes.add(*joined)
    gpu_node(world, 8)  # on no fabric: single-node jobs only
    assert submit(world, gpus=16, accelerator_model="H100").status_code == 201
    found = errors(submit(world, gpus=24, accelerator_model="H100"))
    assert found["gpus"] == [
        "Cluster gpu-a can never give one job 24 H100 SXM GPUs: at most 16 "
        "(8 on one node, 16 on nodes that share one network fabric)."
    ]


def test_cordoned_and_failed_hardware_counts_but_a_down_node_does_not(world: Any) -> None:
    gpu_node(world, 8, state="cordoned")
    node = gpu_node(world, 4)
    node.accelerators.update(health="failed")
    assert submit(world, gpus=8, accelerator_model="H100").status_code == 201
    gpu_node(world, 16, state="down")
    found = errors(submit(world, gpus=16, accelerator_model="H100"))
    assert found["gpus"][0].endswith("at most 8 (8 on one node), not counting 1 down node.")


def test_a_gpu_jobs_cpus_must_fit_a_node_with_its_gpus(world: Any) -> None:
    gpu_node(world, 8, cpus=32, hostname="gpu-big")
    NodeFactory(cluster=world.cluster, hostname="cpu-huge", cpus=256)
    found = errors(submit(world, gpus=1, accelerator_model="H100", cpus=64))
    assert found["cpus"] == [
        "No node of cluster gpu-a with H100 SXM GPUs has 64 CPUs (the job's CPUs run on one node): "
        "the most is 32, on gpu-big."
    ]
    assert submit(world, gpus=1, accelerator_model="H100", cpus=32).status_code == 201


def test_a_kubernetes_gang_splits_cpus_over_its_nodes(world: Any) -> None:
    world.cluster.kind = "kubernetes"
    world.cluster.save()
    fabric = NetworkFabricFactory(organisation=world.org)
    fabric.nodes.add(*[gpu_node(world, 8, cpus=32) for _ in range(2)])
    assert submit(world, gpus=16, accelerator_model="H100", cpus=64).status_code == 201
    found = errors(submit(world, gpus=16, accelerator_model="H100", cpus=96))
    assert "has 48 CPUs (each of its 2 nodes' share): the most is 32" in found["cpus"][0]


def test_nothing_is_refused_on_a_cluster_not_discovered_yet(world: Any) -> None:
    assert submit(world, gpus=64, accelerator_model="H100", cpus=4096).status_code == 201
    NodeFactory(cluster=world.cluster, state="down", cpus=2)  # every node down: unknown again
    assert submit(world, gpus=64, accelerator_model="H100", cpus=4096).status_code == 201


def test_a_bad_pip_requirement_is_refused_and_creates_nothing(world: Any) -> None:
    body = {**{"name": "p", "team": "alpha", "entrypoint": "x"}, "runtime_env": {"pip": ["numpy", "!!!not a package"]}}
    response = world.client(world.member).post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 400
    assert "is not a PEP 508 requirement" in response.json()["runtime_env"]["pip"]["1"][0]
    nothing_created()


def test_a_refused_submission_holds_nothing_and_audits_nothing(cpu_only: Any) -> None:
    errors(submit(cpu_only, gpus=1))
    assert not AuditEntry.objects.filter(action__startswith="jobs.").exists()
    assert not Allocation.objects.exists()
    nothing_created()


def test_the_checks_cost_a_constant_number_of_queries(world: Any) -> None:
    fabric = NetworkFabricFactory(organisation=world.org)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert submit(world, gpus=8, accelerator_model="H100", cpus=8).status_code == 201
        return len(queries)

    fabric.nodes.add(gpu_node(world, 8))
    small = count()
    for _ in range(6):
        fabric.nodes.add(gpu_node(world, 8))
    assert count() == small
