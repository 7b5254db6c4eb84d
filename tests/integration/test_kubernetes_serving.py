"""A vLLM endpoint on a Kubernetes cluster, end to end over the official client and real HTTP
against the emulated API server (the test plays the Deployment controller and the kubelet):
created through the API with its vLLM arguments from the planner, queued and admitted as a
deployment job, declared by the serving reconciler as a Deployment and a Service, ready with
its URL once its replicas are, scaled, rolled out (a failing revision rolled back with the
reason), and taken down when deleted. What the planner says cannot fit is refused with its
reason and creates nothing."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.admission.pools import ensure_pools
from apps.admission.scheduler import admit_pending
from apps.checkpoints.models import Model, ModelVersion
from apps.inventory.discovery import discover_cluster
from apps.inventory.models import Cluster
from apps.jobs.models import Job
from apps.serving.models import Endpoint
from apps.serving.reconcile import reconcile_cluster
from tests.dispatch.k8s_emulator import Controller, EmulatedCluster, k8s_cluster, kubeconfig
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

__all__ = ["k8s_cluster"]

NS = "paddock-jobs"
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"
SERVICES = f"/api/v1/namespaces/{NS}/services"
CONFIGMAPS = f"/api/v1/namespaces/{NS}/configmaps"
HPAS = f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers"
MODELS_VOLUME = {"name": "models", "mountPath": "/models", "persistentVolumeClaim": {"claimName": "models"}}


@pytest.fixture
def lab(world: Any, k8s_cluster: EmulatedCluster) -> Any:
    """A Kubernetes cluster registered from the operator console, with one 8 × H100 node, and
    a model version of team alpha's on the cluster's model volume."""
    console = Client()
    console.force_login(UserFactory(username="root-operator", is_staff=True, is_superuser=True))
    settings = {"serving_volumes": [MODELS_VOLUME]}
    answer = console.post(
        reverse("admin:inventory_cluster_add"),
        {
            "organisation": world.org.pk,
            "name": "lab",
            "kind": "kubernetes",
            "address": "",
            "kubernetes": json.dumps(settings),
            "kubeconfig": kubeconfig(k8s_cluster.url, token="serve-canary-token"),
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    world.lab = Cluster.objects.get(name="lab")
    world.k8s = Controller(k8s_cluster, namespace=NS)
    world.k8s.seed_node("gpu-1", cpus="64", memory="1Ti", gpus=8, product="NVIDIA-H100-80GB-HBM3")
    discover_cluster(world.lab)
    ensure_pools()
    model = Model.objects.create(team=world.alpha, name="llama")
    world.v1 = ModelVersion.objects.create(model=model, version=1, uri="/models/llama-3-8b")
    world.v2 = ModelVersion.objects.create(model=model, version=2, uri="/models/llama-3-8b-v2")
    return world


def create(world: Any, name: str = "chat", **fields: Any) -> Any:
    body = {
        "team": "alpha",
        "name": name,
        "cluster": "lab",
        "runtime": "vllm",
        "model_version": world.v1.pk,
        "cpus": 8,
        "memory_gb": 64,
        "gpus": 1,
        "accelerator_model": "H100",
        "config": {"model": {"name": "llama-3-8b"}, "max_position_embeddings": 8192, "tokens_per_sequence": 2048},
        **fields,
    }
    return world.client(world.member).post("/api/v1/endpoints/", body, format="json")


def admitted(world: Any, endpoint_id: int, capture: Any) -> Endpoint:
    """Admitted by the scheduler. Its on-commit callbacks (a reconcile task, which in this
    eager test setting would chase its own follow-ups) are left out: the test runs the passes."""
    with capture(execute=False):
        assert admit_pending() >= 1
    endpoint = Endpoint.objects.get(pk=endpoint_id)
    assert endpoint.job is not None and endpoint.job.state in ("admitted", "dispatching", "running")
    return endpoint


def settle(world: Any, passes: int = 4) -> Endpoint:
    """Reconcile passes (what the worker runs while something deploys)."""
    endpoint = None
    for _ in range(passes):
        reconcile_cluster(world.lab.pk)
    endpoint = Endpoint.objects.get(name="chat", team=world.alpha, deleted_at__isnull=True)
    return endpoint


def names(world: Any, path: str) -> set[str]:
    return {item["metadata"]["name"] for item in world.k8s.objects(path)}


def test_a_vllm_endpoint_runs_on_kubernetes_from_creation_to_deletion(
    lab: Any, django_capture_on_commit_callbacks: Any
) -> None:
    created = create(lab, min_replicas=1, max_replicas=2)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["runtime"] == "vllm" and body["state"] == "pending" and body["url"] == ""
    endpoint = admitted(lab, body["id"], django_capture_on_commit_callbacks)
    revision = endpoint.revisions.get()
    derived = revision.config["vllm"]
    assert derived["tensor_parallel_size"] == 1 and derived["max_model_len"] == 8192  # the planner's
    assert derived["command"][:3] == ["vllm", "serve", "/models/llama-3-8b"]

    endpoint = settle(lab)
    assert endpoint.state == "deploying"
    deployment = lab.k8s.deployment(revision.app_name)
    pod = deployment["spec"]["template"]["spec"]
    server = pod["containers"][0]
    assert server["image"] == "vllm/vllm-openai:v0.11.0" and server["command"] == ["vllm", "serve"]
    assert server["args"][: len(derived["command"]) - 2] == derived["command"][2:]
    for flag, value in (("--served-model-name", "chat"), ("--max-num-seqs", str(derived["max_num_seqs"]))):
        assert server["args"][server["args"].index(flag) + 1] == value
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "NVIDIA-H100-80GB-HBM3" in json.dumps(pod["affinity"])  # the catalog's GFD product
    assert {"name": "models", "mountPath": "/models", "readOnly": False} in server["volumeMounts"]
    assert deployment["metadata"]["labels"]["paddock.dev/endpoint"] == str(endpoint.pk)
    assert deployment["metadata"]["labels"]["paddock.dev/revision"] == str(revision.pk)
    assert names(lab, HPAS) == {revision.app_name}  # 1..2 replicas: autoscaled
    tokens = json.loads(lab.k8s.objects(CONFIGMAPS)[0]["data"]["tokens.json"])["token_hashes"]
    assert hashlib.sha256(body["token"]["token"].encode()).hexdigest() in tokens  # only its hash

    lab.k8s.make_ready(revision.app_name)
    endpoint = settle(lab)
    assert endpoint.state == "ready", endpoint.state_reason
    assert endpoint.url == f"http://{endpoint.app_name}.{NS}.svc.cluster.local"
    assert endpoint.replicas_running == 1
    shown = lab.client(lab.member).get(f"/api/v1/endpoints/{endpoint.pk}/").json()
    assert (shown["state"], shown["openai_base_url"]) == ("ready", f"{endpoint.url}/v1")
    quiet = reconcile_cluster(lab.lab.pk)
    assert quiet.written is False and quiet.db_writes == 0  # nothing new: nothing written anywhere

    # Deleted behind Paddock's back: put back on the next pass, and the endpoint says so.
    lab.k8s.delete(f"{DEPLOYMENTS}/{revision.app_name}")
    reconcile_cluster(lab.lab.pk)
    assert revision.app_name in names(lab, DEPLOYMENTS)
    restored = endpoint.events.filter(kind="restored").first()
    assert restored is not None and revision.app_name in restored.message
    lab.k8s.make_ready(revision.app_name)
    assert settle(lab).state == "ready"

    # Scale: a fixed two replicas (within what the job holds): no autoscaler, the Deployment says 2.
    scaled = lab.client(lab.member).patch(f"/api/v1/endpoints/{endpoint.pk}/", {"min_replicas": 2}, format="json")
    assert scaled.status_code == 200, scaled.json()
    settle(lab)
    assert lab.k8s.deployment(revision.app_name)["spec"]["replicas"] == 2 and names(lab, HPAS) == set()
    lab.k8s.make_ready(revision.app_name)
    assert settle(lab).replicas_running == 2

    # A rollout whose replicas crash: rolled back on its own, the endpoint says why and keeps serving.
    rollout = lab.client(lab.member).post(
        f"/api/v1/endpoints/{endpoint.pk}/revisions/",
        {"model_version": lab.v2.pk, "config": {"model": {"name": "llama-3-8b"}, "max_position_embeddings": 8192}},
        format="json",
    )
    assert rollout.status_code == 201, rollout.json()
    new = endpoint.revisions.get(pk=rollout.json()["id"])
    settle(lab, 2)
    assert new.app_name in names(lab, DEPLOYMENTS)
    lab.k8s.crash_loop(new.app_name, "OSError: /models/llama-3-8b-v2 does not appear to have a file named config.json")
    endpoint = settle(lab)
    new.refresh_from_db()
    assert new.state == "failed" and "CrashLoopBackOff" in new.message and "config.json" in new.message
    assert endpoint.state == "ready"
    rolled = endpoint.events.filter(kind="rolled_back").first()
    assert rolled is not None and "config.json" in rolled.message
    assert names(lab, DEPLOYMENTS) == {revision.app_name}  # the failed one is taken down

    # Deleted: every object of the endpoint goes.
    assert lab.client(lab.member).delete(f"/api/v1/endpoints/{endpoint.pk}/").status_code == 204
    reconcile_cluster(lab.lab.pk)
    for path in (DEPLOYMENTS, SERVICES, CONFIGMAPS, HPAS):
        assert names(lab, path) == set(), path


def test_a_first_rollout_that_cannot_start_fails_the_endpoint_with_the_reason(
    lab: Any, django_capture_on_commit_callbacks: Any
) -> None:
    created = create(lab)
    assert created.status_code == 201, created.json()
    endpoint = admitted(lab, created.json()["id"], django_capture_on_commit_callbacks)
    settle(lab, 2)
    app_name = endpoint.revisions.get().app_name
    lab.k8s.image_pull_fails(app_name, 'failed to pull "vllm/vllm-openai:v0.11.0": no space left on device')

    endpoint = settle(lab)

    assert endpoint.state == "failed"
    assert "ImagePullBackOff" in endpoint.state_reason and "no space left on device" in endpoint.state_reason
    job = Job.objects.get(pk=endpoint.job_id)
    assert job.state == "failed"  # its quota is given back
    reconcile_cluster(lab.lab.pk)
    assert names(lab, DEPLOYMENTS) == set()


def test_an_unschedulable_replica_keeps_the_endpoint_deploying_with_the_schedulers_reason(
    lab: Any, django_capture_on_commit_callbacks: Any
) -> None:
    created = create(lab)
    endpoint = admitted(lab, created.json()["id"], django_capture_on_commit_callbacks)
    settle(lab, 2)
    revision = endpoint.revisions.get()
    lab.k8s.replicas_unschedulable(revision.app_name, "0/1 nodes are available: 1 node(s) had untolerated taint.")

    endpoint = settle(lab)
    revision.refresh_from_db()

    assert endpoint.state == "deploying" and revision.state == "deploying"
    lab.k8s.progress_deadline_exceeded(revision.app_name)
    endpoint = settle(lab)
    assert endpoint.state == "failed" and "ProgressDeadlineExceeded" in endpoint.state_reason
    assert "untolerated taint" in endpoint.state_reason


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"config": {"model": {"name": "llama-3-70b"}, "max_position_embeddings": 8192}}, "gpus", "does not fit on 1"),
        ({"runtime": "ray-serve", "config": {}}, "runtime", "Kubernetes cluster"),
        ({"gpus": 0, "cpus": 4}, "gpus", "whole GPUs"),
        ({"config": {"model": {"name": "llama-3-8b"}, "temperature": 1}}, "config", "temperature"),
        ({"config": {"model": {"name": "nope"}}}, "config", ""),
        ({"config": {"max_position_embeddings": 8192}}, "config", "model"),
        ({"accelerator_model": ""}, "accelerator_model", "Name the accelerator"),
    ],
)
def test_what_vllm_cannot_run_is_refused_with_the_reason_and_creates_nothing(
    lab: Any, fields: dict[str, Any], field: str, words: str
) -> None:
    answer = create(lab, **fields)

    assert answer.status_code == 400, answer.json()
    assert field in answer.json() and words in json.dumps(answer.json())
    assert not Endpoint.objects.exists() and not Job.objects.exists()


def test_vllm_on_a_ray_cluster_is_still_refused(lab: Any) -> None:
    answer = create(lab, cluster=lab.cluster.name)
    assert answer.status_code == 400 and "Ray cluster" in answer.json()["runtime"][0]


def test_an_endpoint_kubernetes_cannot_run_fails_and_gives_its_quota_back(
    lab: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A revision without vLLM arguments (one made for Ray Serve, say, before the cluster was
    re-registered) cannot be declared: the endpoint fails with why, and its job ends."""
    created = create(lab)
    endpoint = admitted(lab, created.json()["id"], django_capture_on_commit_callbacks)
    endpoint.revisions.update(config={})

    endpoint = settle(lab, 2)

    assert endpoint.state == "failed" and "has no vLLM configuration" in endpoint.state_reason
    assert Job.objects.get(pk=endpoint.job_id).state == "failed"
    assert names(lab, DEPLOYMENTS) == set()


def test_replicas_that_served_and_then_crash_degrade_the_endpoint_with_the_reason(
    lab: Any, django_capture_on_commit_callbacks: Any
) -> None:
    created = create(lab)
    endpoint = admitted(lab, created.json()["id"], django_capture_on_commit_callbacks)
    settle(lab, 2)
    app_name = endpoint.revisions.get().app_name
    lab.k8s.make_ready(app_name)
    assert settle(lab).state == "ready"
    for pod in lab.k8s.deployment_pods(app_name):  # the kubelet restarts them, and they crash
        lab.k8s.delete(f"/api/v1/namespaces/{NS}/pods/{pod['metadata']['name']}")
    lab.k8s.crash_loop(app_name, "CUDA error: an illegal memory access was encountered")

    endpoint = settle(lab)

    assert endpoint.state == "degraded" and "illegal memory access" in endpoint.state_reason
    assert endpoint.unhealthy_since is not None  # it fails after PADDOCK_ENDPOINT_FAIL_AFTER of this


def test_a_new_revision_takes_over_once_ready_and_the_old_one_is_taken_down(
    lab: Any, django_capture_on_commit_callbacks: Any
) -> None:
    created = create(lab)
    endpoint = admitted(lab, created.json()["id"], django_capture_on_commit_callbacks)
    settle(lab, 2)
    old = endpoint.revisions.get()
    lab.k8s.make_ready(old.app_name)
    assert settle(lab).state == "ready"
    rollout = lab.client(lab.member).post(
        f"/api/v1/endpoints/{endpoint.pk}/revisions/",
        {"model_version": lab.v2.pk, "config": {"model": {"name": "llama-3-8b"}, "max_position_embeddings": 8192}},
        format="json",
    )
    assert rollout.status_code == 201, rollout.json()
    new = endpoint.revisions.get(pk=rollout.json()["id"])
    settle(lab, 2)
    assert names(lab, DEPLOYMENTS) == {old.app_name, new.app_name}  # side by side while it loads
    old.refresh_from_db()
    assert old.traffic_percent == 100

    lab.k8s.make_ready(new.app_name)
    endpoint = settle(lab)

    new.refresh_from_db()
    old.refresh_from_db()
    assert (new.state, new.traffic_percent, old.state) == ("ready", 100, "retired")
    assert names(lab, DEPLOYMENTS) == {new.app_name} and endpoint.state == "ready"
    args = lab.k8s.deployment(new.app_name)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "/models/llama-3-8b-v2"
