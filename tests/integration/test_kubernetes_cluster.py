"""A Kubernetes cluster in Paddock, end to end over the official client and real HTTP against an
emulated API server (kmock; the test plays the Job controller and the kubelet): registered from
the operator console with a kubeconfig, its GPU nodes discovered from GPU Feature Discovery
labels, a job walking pending → admitted → dispatching → running → succeeded with its log, and
its usage in the ledger like a Ray job's. A bad kubeconfig is refused with the reason, and the
credential never shows in an API answer, an audit entry or a log line."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.admission.pools import ensure_pools
from apps.admission.scheduler import admit_pending
from apps.core.models import AuditEntry
from apps.costs.accrual import accrue
from apps.costs.models import UsageRecord
from apps.inventory.discovery import discover_cluster
from apps.inventory.models import AcceleratorModel, Cluster, Node
from apps.jobs import services
from apps.jobs.models import Job
from tests.dispatch.k8s_emulator import Controller, EmulatedCluster, k8s_cluster
from tests.dispatch.k8s_emulator import kubeconfig as k8s_kubeconfig
from tests.factories import PricePointFactory, UserFactory

pytestmark = pytest.mark.django_db

__all__ = ["k8s_cluster"]

CANARY = "canary-token-7f3a9c"


def kubeconfig(server: str, *, user: str = "") -> str:
    return k8s_kubeconfig(server, token=CANARY, user=user)


@pytest.fixture
def console() -> Client:
    client = Client()
    client.force_login(UserFactory(username="root-operator", is_staff=True, is_superuser=True))
    return client


def register(console: Client, world: Any, config: str) -> Any:
    return console.post(
        reverse("admin:inventory_cluster_add"),
        {
            "organisation": world.org.pk,
            "name": "lab",
            "kind": "kubernetes",
            "address": "",
            "kubernetes": '{"image": "python:3.11-slim"}',
            "kubeconfig": config,
        },
    )


def test_a_job_runs_on_kubernetes_from_registration_to_the_ledger(
    world: Any,
    console: Client,
    k8s_cluster: EmulatedCluster,
    caplog: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    k8s_controller = Controller(k8s_cluster, namespace="paddock-jobs")  # the kubeconfig's namespace
    assert register(console, world, kubeconfig(k8s_cluster.url)).status_code == 302
    cluster = Cluster.objects.get(name="lab")
    assert cluster.address == k8s_cluster.url.rstrip("/") and cluster.has_auth_token

    # Discovery: a GPU node with GPU Feature Discovery labels, and a CPU node.
    k8s_controller.seed_node("gpu-1", cpus="32", memory="256Gi", gpus=2, product="NVIDIA-H100-80GB-HBM3")
    k8s_controller.seed_node("cpu-1", cpus="8", memory="32Gi")
    discover_cluster(cluster)
    nodes = {node.hostname: node for node in Node.objects.filter(cluster=cluster).prefetch_related("accelerators")}
    assert set(nodes) == {"gpu-1", "cpu-1"} and nodes["gpu-1"].source == "kubernetes"
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    assert [a.model_id for a in nodes["gpu-1"].accelerators.all()] == [h100.pk, h100.pk]
    ensure_pools()
    PricePointFactory(
        accelerator_model=h100,
        cluster=cluster,
        price_per_gpu_hour=Decimal("2.49"),
        valid_from=timezone.now() - timedelta(1),
    )

    body = {
        "name": "train-on-k8s",
        "team": "alpha",
        "cluster": "lab",
        "entrypoint": "python -c \"print('hello from kubernetes')\"",
        "resources": {"gpus": 1, "accelerator_model": "H100"},
    }
    answer = world.client(world.member).post("/api/v1/jobs/", body, format="json")
    assert answer.status_code == 201, answer.json()
    job = Job.objects.get(pk=answer.json()["id"])
    with django_capture_on_commit_callbacks(execute=True):  # admitted, then sent to the cluster
        assert admit_pending() == 1
    job.refresh_from_db()
    attempt = job.attempts.get()
    assert job.state in {"dispatching", "running"} or attempt.state == "submitted", (job.state, attempt.state)
    made = k8s_controller.job(str(attempt.pk))
    pod_spec = made["spec"]["template"]["spec"]
    assert pod_spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] in (1, "1")
    assert "gpu-1" in str(pod_spec.get("affinity"))  # where the scheduler placed it
    # "H100" is no GPU Feature Discovery product: the affinity names the catalog's products for it.
    terms = pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    products = [e for e in terms["nodeSelectorTerms"][0]["matchExpressions"] if e["key"] == "nvidia.com/gpu.product"]
    assert products[0]["operator"] == "In" and "NVIDIA-H100-80GB-HBM3" in products[0]["values"]
    assert "H100" not in products[0]["values"]

    k8s_controller.create_pod(str(attempt.pk), node="gpu-1")
    k8s_controller.run(str(attempt.pk))
    services.reconcile()
    job.refresh_from_db()
    assert job.state == "running"

    k8s_controller.write_log(str(attempt.pk), "hello from kubernetes\n")
    k8s_controller.succeed(str(attempt.pk))
    services.reconcile()
    job.refresh_from_db()
    attempt.refresh_from_db()
    assert job.state == "succeeded" and attempt.state == "succeeded"
    assert "hello from kubernetes" in attempt.log

    accrue(now=timezone.now() + timedelta(seconds=1))
    line = UsageRecord.objects.get(attempt=attempt)
    assert (line.cluster_id, line.accelerator_model_id, line.rate) == (cluster.pk, h100.pk, Decimal("2.49"))

    # The credential is nowhere a caller or an operator reads.
    listed = world.client(world.org_admin).get("/api/v1/clusters/").content.decode()
    assert "lab" in listed and CANARY not in listed
    assert CANARY not in str(list(AuditEntry.objects.values_list("data", flat=True)))
    assert CANARY not in caplog.text
    assert CANARY not in console.get(reverse("admin:inventory_cluster_change", args=[cluster.pk])).content.decode()


@pytest.mark.parametrize(
    ("user", "why"),
    [
        ("    exec:\n      command: /bin/sh\n      apiVersion: client.authentication.k8s.io/v1", "exec"),
        ("    auth-provider:\n      name: gcp", "auth-provider"),
        ("    tokenFile: /var/run/secrets/token", "tokenFile"),
        ("    client-key: /etc/ssl/private/key.pem\n    client-certificate: /etc/ssl/cert.pem", "client-"),
    ],
)
def test_a_kubeconfig_that_would_run_a_command_or_read_a_file_is_refused(
    world: Any, console: Client, user: str, why: str
) -> None:
    response = register(console, world, kubeconfig("https://10.0.0.1:6443", user=user))
    assert response.status_code == 200  # the form again, with the reason
    assert why in response.content.decode()
    assert not Cluster.objects.filter(name="lab").exists()


def test_a_server_that_is_not_http_is_refused(world: Any, console: Client) -> None:
    response = register(console, world, kubeconfig("file:///etc/passwd"))
    assert response.status_code == 200 and "server" in response.content.decode()
    assert not Cluster.objects.filter(name="lab").exists()


def test_a_kubernetes_pod_fetches_its_jobs_own_package_with_its_job_token(world: Any) -> None:
    from rest_framework.test import APIClient

    from apps.jobs import job_tokens
    from apps.jobs.models import Attempt
    from tests.factories import JobFactory
    from tests.jobs.test_packages import make_zip

    data = make_zip({"train.py": b"print('from the package')\n"})
    package, _ = services.upload_package(actor=world.member, team=world.alpha, data=data)
    other, _ = services.upload_package(actor=world.member, team=world.alpha, data=make_zip({"x.py": b"1\n"}))
    job = JobFactory(team=world.alpha, cluster=world.cluster, runtime_env={"working_dir": package.uri}, state="running")
    attempt = Attempt.objects.create(job=job, number=1, state="running")
    pod = APIClient()
    pod.credentials(HTTP_AUTHORIZATION=f"Bearer {job_tokens.mint(attempt.pk)}")

    fetched = pod.get(f"/api/v1/job-packages/{package.sha256}/")
    assert fetched.status_code == 200 and fetched.content == data
    assert pod.get(f"/api/v1/job-packages/{other.sha256}/").status_code == 404  # not one this job names
    assert APIClient().get(f"/api/v1/job-packages/{package.sha256}/").status_code == 401
    user = world.client(world.member)  # a person's token does not open it either
    assert user.get(f"/api/v1/job-packages/{package.sha256}/").status_code in (401, 403)


def test_a_gang_on_a_cluster_with_jobset_runs_as_one_jobset_with_its_ranks(
    world: Any, k8s_cluster: EmulatedCluster, django_capture_on_commit_callbacks: Any
) -> None:
    from tests.factories import NetworkFabricFactory

    # Registered through the API this time, with JobSet on the cluster.
    answer = world.client(world.org_admin).post(
        "/api/v1/clusters/",
        {
            "name": "lab",
            "kind": "kubernetes",
            "kubeconfig": kubeconfig(k8s_cluster.url),
            "kubernetes": {"has_jobset": True},
        },
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    cluster = Cluster.objects.get(name="lab")
    controller = Controller(k8s_cluster, namespace="paddock-jobs")
    for name in ("gpu-1", "gpu-2"):
        controller.seed_node(name, cpus="32", memory="256Gi", gpus=2, product="NVIDIA-H100-80GB-HBM3")
    discover_cluster(cluster)
    NetworkFabricFactory(organisation=world.org, name="ib").nodes.set(Node.objects.filter(cluster=cluster))
    ensure_pools()

    body = {
        "name": "gang-on-k8s",
        "team": "alpha",
        "cluster": "lab",
        "entrypoint": "torchrun --nproc-per-node=2 train.py",
        "resources": {"gpus": 4, "accelerator_model": "H100"},
    }
    answer = world.client(world.member).post("/api/v1/jobs/", body, format="json")
    assert answer.status_code == 201, answer.json()
    job = Job.objects.get(pk=answer.json()["id"])
    with django_capture_on_commit_callbacks(execute=True):
        assert admit_pending() == 1
    attempt = job.attempts.get()
    remote_id = str(attempt.pk)

    # One JobSet: no Job, no Service of Paddock's; two ranks, one per placed node.
    assert controller.objects("/apis/batch/v1/namespaces/paddock-jobs/jobs") == []
    jobset = controller.jobset(remote_id)
    (replicated,) = jobset["spec"]["replicatedJobs"]
    job_spec = replicated["template"]["spec"]
    assert (job_spec["completionMode"], job_spec["completions"], job_spec["parallelism"]) == ("Indexed", 2, 2)
    pod_spec = job_spec["template"]["spec"]
    (main,) = pod_spec["containers"]
    assert main["resources"]["limits"]["nvidia.com/gpu"] == 2
    env = {item["name"]: item.get("value") for item in main["env"]}
    name = jobset["metadata"]["name"]
    assert env["MASTER_ADDR"] == f"{name}-node-0-0.{name}.paddock-jobs.svc" and env["WORLD_SIZE"] == "2"
    assert env["NODE_RANK"] == "$(JOB_COMPLETION_INDEX)"
    terms = pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    expressions = {e["key"]: e["values"] for e in terms["nodeSelectorTerms"][0]["matchExpressions"]}
    assert sorted(expressions["kubernetes.io/hostname"]) == ["gpu-1", "gpu-2"]
    assert "NVIDIA-H100-80GB-HBM3" in expressions["nvidia.com/gpu.product"]

    # JobSet makes the pods; each rank's index is its NODE_RANK.
    leader, follower = controller.start_jobset(remote_id, ["gpu-1", "gpu-2"])
    ranks = [
        pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        for pod in sorted(controller.jobset_pods(remote_id), key=lambda p: p["spec"]["nodeName"])
    ]
    assert ranks == ["0", "1"]
    controller.run_jobset(remote_id)
    services.reconcile()
    job.refresh_from_db()
    assert job.state == "running"

    controller.write_log(remote_id, "rank 1 chatter\n", pod=follower)
    controller.write_log(remote_id, "loss 0.42 from rank 0\n", pod=leader)
    controller.succeed_jobset(remote_id)
    services.reconcile()
    job.refresh_from_db()
    attempt.refresh_from_db()
    assert (job.state, attempt.state) == ("succeeded", "succeeded")
    assert "loss 0.42 from rank 0" in attempt.log and "rank 1 chatter" not in attempt.log


def test_a_job_that_asks_for_ray_runs_as_a_rayjob_where_kuberay_is(
    world: Any, k8s_cluster: EmulatedCluster, django_capture_on_commit_callbacks: Any
) -> None:
    admin = world.client(world.org_admin)
    for name, settings in (("ray-lab", {"has_kuberay": True}), ("plain-lab", {})):
        answer = admin.post(
            "/api/v1/clusters/",
            {"name": name, "kind": "kubernetes", "kubeconfig": kubeconfig(k8s_cluster.url), "kubernetes": settings},
            format="json",
        )
        assert answer.status_code == 201, answer.json()
    controller = Controller(k8s_cluster, namespace="paddock-jobs")
    controller.seed_node("node-0", cpus="32", memory="256Gi", gpus=2, product="NVIDIA-H100-80GB-HBM3")
    discover_cluster(Cluster.objects.get(name="ray-lab"))
    ensure_pools()
    member = world.client(world.member)
    body = {"name": "tune", "team": "alpha", "entrypoint": "python tune.py", "runtime": "ray"}

    refused = member.post("/api/v1/jobs/", {**body, "cluster": "plain-lab"}, format="json")
    assert refused.status_code == 400 and "KubeRay" in refused.json()["runtime"][0]
    assert not Job.objects.exists()

    answer = member.post("/api/v1/jobs/", {**body, "cluster": "ray-lab"}, format="json")
    assert answer.status_code == 201, answer.json()
    assert answer.json()["runtime"] == "ray"
    job = Job.objects.get(pk=answer.json()["id"])
    with django_capture_on_commit_callbacks(execute=True):
        assert admit_pending() == 1
    remote_id = str(job.attempts.get().pk)
    assert controller.objects("/apis/batch/v1/namespaces/paddock-jobs/jobs") == []
    rayjob = controller.rayjob(remote_id)
    assert rayjob["spec"]["entrypoint"] == "python tune.py"

    controller.start_ray_cluster(remote_id)
    controller.submit_ray_job(remote_id)
    services.reconcile()
    job.refresh_from_db()
    assert job.state == "running"
    controller.set_rayjob(remote_id, job_status="SUCCEEDED", deployment="Complete", endTime=timezone.now().isoformat())
    services.reconcile()
    job.refresh_from_db()
    assert job.state == "succeeded"
