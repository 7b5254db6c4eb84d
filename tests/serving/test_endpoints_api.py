"""Endpoints above the port (a fake cluster): the API's refusals, quota and the queue's words,
and the reconciler's bookkeeping. The real model server is in the *_on_ray tests."""

from __future__ import annotations

from typing import Any

import pytest

from apps.admission.pools import ensure_pools
from apps.admission.scheduler import admit_pending as admit
from apps.checkpoints.models import Model, ModelVersion
from apps.inventory.models import AcceleratorModel
from apps.jobs.models import Job
from apps.quotas.models import Pool, Quota
from apps.serving import reconcile
from apps.serving.models import Endpoint, EndpointToken
from tests.factories import AcceleratorFactory, NodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(world: Any, tmp_path: Any) -> Any:
    """8 × H100 on the world's cluster; team alpha may use 4 of them; a model version each team."""
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    node = NodeFactory(cluster=world.cluster, hostname="dgx-1", cpus=64)
    for index in range(8):
        AcceleratorFactory(node=node, index=index, model=h100)
    ensure_pools()
    world.pool = Pool.objects.get(name="gpu-a-h100-sxm")
    Quota.objects.create(team=world.alpha, pool=world.pool, guaranteed=4, max=4)
    Quota.objects.create(team=world.alpha, pool=Pool.objects.get(name="gpu-a-cpu"), guaranteed=64, max=64)
    world.version = ModelVersion.objects.create(
        model=Model.objects.create(team=world.alpha, name="tiny"), version=1, uri=str(tmp_path / "tiny")
    )
    world.beta_version = ModelVersion.objects.create(
        model=Model.objects.create(team=world.beta, name="theirs"), version=1, uri=str(tmp_path / "theirs")
    )
    return world


def create(world: Any, name: str = "chat", *, user: Any = None, **fields: Any) -> Any:
    body = {"team": "alpha", "name": name, "model_version": world.version.pk, "cpus": 1, **fields}
    return world.client(user or world.member).post("/api/v1/endpoints/", body, format="json")


GPU = {"gpus": 1, "accelerator_model": "H100", "cpus": 2}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"min_replicas": 3, "max_replicas": 2}, "min_replicas"),
        ({"min_replicas": 0}, "min_replicas"),  # zero needs scale_to_zero
        ({"target_ongoing_requests": 0}, "target_ongoing_requests"),
        ({"target_ongoing_requests": 1e9}, "target_ongoing_requests"),
        ({"max_replicas": 100_000}, "max_replicas"),
        ({"model_version": 999_999}, "model_version"),
        ({"model_version": None, "model_uri": ""}, "model_version"),
        ({"model_version": None, "model_uri": "s3://bucket/model/"}, "model_uri"),
        ({"model_version": None, "model_uri": "relative/dir"}, "model_uri"),
        ({"model_version": None, "model_uri": "/models/x", "entry_point": "not an entry point"}, "entry_point"),
        ({"name": "Not A Slug"}, "name"),
        ({"cpus": 0, "gpus": 0}, "cpus"),
        ({"runtime": "vllm"}, "runtime"),
        ({"runtime": "tgi"}, "runtime"),
        ({"cluster": "nowhere"}, "cluster"),
        ({"runtime_env": {"working_dir": "/etc"}}, "runtime_env"),
        ({"runtime_env": {"pip": ["!!!not a package"]}}, "runtime_env"),
        # What the cluster (one node: 8 × H100, 64 CPUs) can never give a replica, under its own field.
        ({**GPU, "gpus": 9}, "gpus"),
        ({**GPU, "accelerator_model": "L4"}, "accelerator_model"),
        ({**GPU, "cpus": 65}, "cpus"),
        ({**GPU, "memory_gb": 4096}, "memory_gb"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_creates_nothing(
    fleet: Any, fields: dict[str, Any], field: str
) -> None:
    response = create(fleet, **fields)
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()
    assert not Endpoint.objects.exists() and not Job.objects.exists() and not EndpointToken.objects.exists()


def test_other_teams_models_and_endpoints_are_not_found(fleet: Any) -> None:
    theirs = create(fleet, model_version=fleet.beta_version.pk)
    assert theirs.status_code == 400 and "model_version" in theirs.json()
    assert create(fleet, team="beta").status_code == 400  # not a member: "Unknown team"
    mine = create(fleet).json()
    outsider = fleet.client(fleet.outsider)
    assert outsider.get(f"/api/v1/endpoints/{mine['id']}/").status_code == 404
    assert outsider.post(f"/api/v1/endpoints/{mine['id']}/stop/").status_code == 404
    assert outsider.get("/api/v1/endpoints/").json()["results"] == []
    assert fleet.client(fleet.viewer).post(f"/api/v1/endpoints/{mine['id']}/stop/").status_code == 403
    assert create(fleet, "seen", user=fleet.viewer).status_code == 403
    duplicate = create(fleet)
    assert duplicate.status_code == 400 and "name" in duplicate.json()


def test_a_deployment_is_not_submitted_as_a_job(fleet: Any) -> None:
    response = fleet.client(fleet.member).post(
        "/api/v1/jobs/", {"name": "x", "team": "alpha", "entrypoint": "serve", "kind": "deployment"}, format="json"
    )
    assert response.status_code == 400 and "endpoint" in str(response.json()["kind"])


def test_an_endpoint_waits_for_quota_in_the_queues_words_and_deleting_one_admits_the_next(
    fleet: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    def admit_pending() -> None:  # the scheduler's pass, and what it sends once it commits
        with django_capture_on_commit_callbacks(execute=True):
            admit()

    first = create(fleet, "big", max_replicas=4, **GPU).json()
    assert first["token"]["token"].startswith("pde_") and first["state"] == "pending"
    admit_pending()
    job = Job.objects.get(pk=first["job"])
    assert job.kind == "deployment" and job.state == "running" and job.gpus == 4  # its max_replicas' worth
    reconcile.reconcile_cluster(fleet.cluster.pk)  # declares the apps (the fake starts them at once)
    reconcile.reconcile_cluster(fleet.cluster.pk)  # sees them run
    big = Endpoint.objects.get(pk=first["id"])
    assert big.state == "ready" and big.url.endswith("/alpha/big") and big.replicas_running == 1
    assert {app.name for app in [fake_backend.serve_app(f"paddock-ep-{big.pk}")] if app} == {f"paddock-ep-{big.pk}"}

    second = create(fleet, "small", **GPU).json()
    admit_pending()
    waiting = Job.objects.get(pk=second["job"])
    assert waiting.state == "pending" and waiting.state_reason
    reconcile.reconcile_cluster(fleet.cluster.pk)
    small = Endpoint.objects.get(pk=second["id"])
    assert small.state == "pending" and small.state_reason == waiting.state_reason  # the queue's own words
    listed = fleet.client(fleet.member).get(f"/api/v1/endpoints/{small.pk}/").json()
    assert listed["state_reason"] == waiting.state_reason and listed["gpus_held"] == 0
    assert fleet.client(fleet.member).get(f"/api/v1/endpoints/{big.pk}/").json()["gpus_held"] == 4

    assert fleet.client(fleet.member).delete(f"/api/v1/endpoints/{big.pk}/").status_code == 204
    assert Job.objects.get(pk=big.job_id).state == "cancelled"
    admit_pending()
    assert Job.objects.get(pk=waiting.pk).state == "running"
    reconcile.reconcile_cluster(fleet.cluster.pk)
    assert fake_backend.serve_app(f"paddock-ep-{big.pk}") is None  # taken off the cluster
    reconcile.reconcile_cluster(fleet.cluster.pk)
    assert Endpoint.objects.get(pk=small.pk).state == "ready"

    # Level-triggered: nothing new, nothing written (to the cluster or the database).
    writes = fake_backend.serve_writes
    run = reconcile.reconcile_cluster(fleet.cluster.pk)
    assert not run.written and run.db_writes == 0 and fake_backend.serve_writes == writes


def test_a_deployment_is_not_preempted_unless_its_priority_class_says_so() -> None:
    from apps.admission.state import _preemptible

    assert not _preemptible({"kind": "deployment", "priority_class__preemptible": None})
    assert not _preemptible({"kind": "deployment", "priority_class__preemptible": False})
    assert _preemptible({"kind": "deployment", "priority_class__preemptible": True})
    assert _preemptible({"kind": "training", "priority_class__preemptible": None})
    assert not _preemptible({"kind": "training", "priority_class__preemptible": False})


def test_vllm_configuration_comes_from_the_planner(fleet: Any) -> None:
    client = fleet.client(fleet.member)
    body = {"model": {"name": "llama-3-8b"}, "accelerator": "H100", "gpus": 1, "max_position_embeddings": 8192}
    response = client.post("/api/v1/endpoints/vllm-config/", body, format="json")
    assert response.status_code == 200, response.json()
    config = response.json()
    assert config["tensor_parallel_size"] == 1 and config["command"][:2] == ["vllm", "serve"]
    assert config["engine_args"]["max_num_seqs"] >= 1
    bad = client.post("/api/v1/endpoints/vllm-config/", {**body, "model": {"name": "nope"}}, format="json")
    assert bad.status_code == 400
    unknown = client.post("/api/v1/endpoints/vllm-config/", {**body, "accelerator": "Z9000"}, format="json")
    assert unknown.status_code == 400 and "accelerator" in unknown.json()


def test_the_list_reads_a_page_in_a_fixed_number_of_queries(fleet: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = fleet.client(fleet.member)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/v1/endpoints/?team=alpha")
        assert response.status_code == 200
        return len(queries.captured_queries)

    create(fleet, "one")
    count()  # the first request of a client also reads what later ones find cached
    few = count()
    for n in range(5):
        create(fleet, f"more-{n}", model_version=None, model_uri="/models/other")
    listed = client.get("/api/v1/endpoints/").json()
    assert [e["name"] for e in listed["results"]][:2] == ["more-4", "more-3"]  # newest first
    assert listed["count"] == 6
    assert count() == few
