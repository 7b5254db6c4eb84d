"""The Kubernetes backend beyond the contract suite, against the emulated API server.

How a Job and its pods map to the port's states (``job_status``):

| the Job / its pod                                              | state     | also                          |
|----------------------------------------------------------------|-----------|-------------------------------|
| no Job by that name                                            | NOT_FOUND |                               |
| condition Complete=True                                        | SUCCEEDED | finished_at = completionTime  |
| condition Failed=True, container ``job`` terminated            | FAILED    | exit_code, its reason/message |
| Failed, pod Evicted / DeadlineExceeded / NodeLost / Shutdown,  | FAILED    | infrastructure=True           |
| or a DisruptionTarget pod condition (node lost, preempted)     |           |                               |
| deletionTimestamp set (foreground deletion running)            | STOPPED   | "by Paddock" when annotated   |
| condition Suspended=True or spec.suspend (Kueue queues it)     | PENDING   | "suspended …"                 |
| a pod Running                                                  | RUNNING   | started_at = status.startTime |
| pod PodScheduled=False                                         | PENDING   | "Unschedulable: <scheduler>"  |
| container waiting ImagePullBackOff / ErrImagePull / …          | PENDING   | "<reason>: <message>"         |
| no pod yet                                                     | PENDING   | "waiting for the Job controller" |
"""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from apps.dispatch.backends import kubernetes as kubernetes_backend
from apps.dispatch.backends.kubernetes import STOPPED_ANNOTATION, KubernetesBackend
from apps.dispatch.k8s_manifests import LABEL_ATTEMPT, ClusterOptions, object_name
from apps.dispatch.kubeconfig import SafeKubeconfig
from apps.dispatch.port import BackendError, JobSpec, LogChunk, PackageRef, RemoteState, Resources, ServeApp
from apps.dispatch.registry import get_backend
from apps.jobs.choices import AttemptState
from apps.jobs.failures import cause_line
from tests.dispatch.k8s_emulator import Controller, EmulatedCluster

TOKEN = "test-token-" + "x" * 8
JOBS = "/apis/batch/v1/namespaces/default/jobs"
SERVICES = "/api/v1/namespaces/default/services"
PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
def backend(k8s_cluster: EmulatedCluster) -> Iterator[KubernetesBackend]:
    made = KubernetesBackend(k8s_cluster.url, SafeKubeconfig(server=k8s_cluster.url, token=TOKEN).to_json())
    yield made
    made.close()


@pytest.fixture
def controller(k8s_controller: Controller) -> Controller:
    k8s_controller.seed_node("node-0", gpus=2, product="H100")
    return k8s_controller


def job_spec(entrypoint: str = "python -c 'print(1)'", **overrides: Any) -> JobSpec:
    return JobSpec(
        remote_id=f"pdk-k8s-{uuid.uuid4().hex[:12]}",
        entrypoint=entrypoint,
        resources=overrides.pop("resources", Resources(cpus=1)),
        **overrides,
    )


def sent(cluster: EmulatedCluster, method: str | None = None) -> list[Any]:
    """What the backend sent (the official client's requests, not the test controller's)."""
    return [r for r in cluster.requests(method) if r.headers.get("User-Agent", "").startswith("OpenAPI-Generator")]


def paths(cluster: EmulatedCluster, method: str) -> list[str]:
    return [str(request.url.path) for request in sent(cluster, method)]


def stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- submit -------------------------------------------------------------------------------------
def test_submit_creates_a_job_labelled_with_its_attempt(
    backend: KubernetesBackend, controller: Controller, k8s_cluster: EmulatedCluster
) -> None:
    spec = job_spec("python train.py")

    result = backend.submit(spec)

    assert (result.remote_id, result.adopted) == (spec.remote_id, False)
    job = controller.job(spec.remote_id)
    assert job["metadata"]["labels"][LABEL_ATTEMPT] == spec.remote_id
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == "job" and container["command"][-1] == "python train.py"
    assert paths(k8s_cluster, "POST") == [JOBS]
    assert backend.list_remote_ids() == [spec.remote_id]


def test_a_second_submit_reads_the_job_back_and_adopts_it(
    backend: KubernetesBackend, controller: Controller, k8s_cluster: EmulatedCluster
) -> None:
    spec = job_spec()

    first = backend.submit(spec)
    second = backend.submit(spec)

    assert (first.adopted, second.adopted) == (False, True)
    assert paths(k8s_cluster, "POST") == [JOBS, JOBS]  # the second was answered 409
    assert f"{JOBS}/{object_name(spec.remote_id)}" in paths(k8s_cluster, "GET")
    assert [job["metadata"]["name"] for job in controller.objects(JOBS)] == [object_name(spec.remote_id)]


def test_a_job_of_something_else_under_the_same_name_is_not_adopted(
    backend: KubernetesBackend, controller: Controller
) -> None:
    spec = job_spec()
    controller._post(JOBS, {"metadata": {"name": object_name(spec.remote_id), "labels": {"app": "other"}}})

    with pytest.raises(BackendError) as raised:
        backend.submit(spec)

    assert raised.value.retryable is False
    assert "not this job's" in raised.value.message


def test_a_multi_node_job_is_a_headless_service_then_an_indexed_job(
    backend: KubernetesBackend, controller: Controller, k8s_cluster: EmulatedCluster
) -> None:
    spec = job_spec("torchrun train.py", metadata={"nodes": "2"})

    backend.submit(spec)

    assert paths(k8s_cluster, "POST") == [SERVICES, JOBS]
    assert controller.job(spec.remote_id)["spec"]["completionMode"] == "Indexed"
    (service,) = controller.objects(SERVICES)
    assert service["spec"]["clusterIP"] == "None"
    assert backend.submit(spec).adopted is True


def test_a_package_is_fetched_by_the_jobs_init_container_and_never_read_here(k8s_cluster: EmulatedCluster) -> None:
    backend = KubernetesBackend(k8s_cluster.url, None, ClusterOptions(api_url="https://paddock.example"))
    sha = "a" * 64
    uri = f"paddock://packages/{sha}"
    unread = PackageRef(uri=uri, sha256=sha, size_bytes=10, load=lambda: pytest.fail("the backend read the package"))
    spec = job_spec("python main.py", runtime_env={"working_dir": uri}, packages={uri: unread})

    backend.submit(spec)

    pod = Controller(k8s_cluster).job(spec.remote_id)["spec"]["template"]["spec"]
    (fetch,) = pod["initContainers"]
    env = {item["name"]: item.get("value") for item in fetch["env"]}
    (archive,) = json.loads(env["PADDOCK_FETCH"])["archives"]
    assert (archive["url"], archive["sha256"]) == (f"https://paddock.example/api/v1/job-packages/{sha}/", sha)
    assert pod["containers"][0]["workingDir"] == "/workspace"


def test_a_kind_the_backend_cannot_follow_is_refused_before_anything_is_created(
    backend: KubernetesBackend, k8s_cluster: EmulatedCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}
    monkeypatch.setattr(kubernetes_backend, "job_objects", lambda spec, options: [service, deployment])

    with pytest.raises(BackendError) as raised:
        backend.submit(job_spec())

    assert raised.value.retryable is False and "Deployment" in raised.value.message
    assert paths(k8s_cluster, "POST") == []


# --- status -------------------------------------------------------------------------------------
def submitted(backend: KubernetesBackend) -> str:
    spec = job_spec(resources=Resources(cpus=1, gpus=1), accelerator_model="H100")
    backend.submit(spec)
    return spec.remote_id


def test_a_job_without_a_pod_yet_is_pending(backend: KubernetesBackend, controller: Controller) -> None:
    status = backend.status(submitted(backend))

    assert status.state is RemoteState.PENDING and status.started_at is None
    assert "waiting for the Job controller" in status.message


def test_an_unschedulable_pod_is_pending_with_the_schedulers_reason(
    backend: KubernetesBackend, controller: Controller
) -> None:
    remote_id = submitted(backend)
    controller.unschedulable(remote_id, "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")

    status = backend.status(remote_id)

    assert status.state is RemoteState.PENDING
    assert status.message == "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "ErrImagePull"])
def test_an_image_that_cannot_be_pulled_is_pending_with_the_reason(
    backend: KubernetesBackend, controller: Controller, reason: str
) -> None:
    remote_id = submitted(backend)
    controller.pull_image_fails(remote_id, reason, 'Back-off pulling image "registry.example/none:1"')

    status = backend.status(remote_id)

    assert status.state is RemoteState.PENDING
    assert status.message == f'{reason}: Back-off pulling image "registry.example/none:1"'


def test_a_suspended_job_is_pending(backend: KubernetesBackend, controller: Controller) -> None:
    remote_id = submitted(backend)
    controller.suspend(remote_id)

    status = backend.status(remote_id)

    assert status.state is RemoteState.PENDING and "suspended" in status.message


def test_a_running_pod_is_running_since_the_jobs_start_time(backend: KubernetesBackend, controller: Controller) -> None:
    remote_id = submitted(backend)
    controller.run(remote_id)

    status = backend.status(remote_id)

    assert status.state is RemoteState.RUNNING
    assert status.started_at == stamp(controller.job(remote_id)["status"]["startTime"])
    assert status.message == "running on node-0"


def test_a_complete_job_succeeded_at_its_completion_time(backend: KubernetesBackend, controller: Controller) -> None:
    remote_id = submitted(backend)
    controller.run(remote_id)
    controller.succeed(remote_id)

    status = backend.status(remote_id)

    job = controller.job(remote_id)
    assert status.state is RemoteState.SUCCEEDED
    assert status.started_at == stamp(job["status"]["startTime"])
    assert status.finished_at == stamp(job["status"]["completionTime"])


def test_a_failed_job_reports_its_containers_exit_code_and_message(
    backend: KubernetesBackend, controller: Controller
) -> None:
    remote_id = submitted(backend)
    controller.run(remote_id)
    controller.fail(remote_id, exit_code=3, message="ValueError: bad learning rate")

    status = backend.status(remote_id)

    assert status.state is RemoteState.FAILED
    assert (status.exit_code, status.infrastructure, status.error_type) == (3, False, "Error")
    assert status.message == "exit code 3 (Error): ValueError: bad learning rate"
    assert cause_line(AttemptState.FAILED, exit_code=status.exit_code, message=status.message) == (
        "exit code 3: ValueError: bad learning rate"
    )
    assert status.finished_at is not None and status.started_at is not None


def test_an_out_of_memory_kill_is_the_jobs_own_failure(backend: KubernetesBackend, controller: Controller) -> None:
    remote_id = submitted(backend)
    controller.fail(remote_id, exit_code=137, reason="OOMKilled")

    status = backend.status(remote_id)

    assert (status.state, status.exit_code, status.error_type) == (RemoteState.FAILED, 137, "OOMKilled")
    assert status.infrastructure is False
    assert cause_line(AttemptState.FAILED, exit_code=status.exit_code, message=status.message) == "out of memory"


def test_an_evicted_pod_is_an_infrastructure_failure(backend: KubernetesBackend, controller: Controller) -> None:
    remote_id = submitted(backend)
    controller.run(remote_id)
    controller.evict(remote_id, "The node was low on resource: memory.")

    status = backend.status(remote_id)

    assert status.state is RemoteState.FAILED
    assert status.infrastructure is True and status.error_type == "Evicted"
    assert "Evicted: The node was low on resource: memory." in status.message
    assert status.exit_code is None


def test_a_pod_lost_with_its_node_is_an_infrastructure_failure(
    backend: KubernetesBackend, controller: Controller
) -> None:
    remote_id = submitted(backend)
    controller.run(remote_id)
    controller.lose_node(remote_id)

    status = backend.status(remote_id)

    assert status.state is RemoteState.FAILED
    assert status.infrastructure is True and status.error_type == "DeletionByTaintManager"
    assert status.exit_code == 137


def test_a_job_deleted_outside_paddock_is_not_found(backend: KubernetesBackend, controller: Controller) -> None:
    remote_id = submitted(backend)
    controller.run(remote_id)
    controller.delete_job(remote_id)

    status = backend.status(remote_id)

    assert status.state is RemoteState.NOT_FOUND and object_name(remote_id) in status.message


# --- stop ---------------------------------------------------------------------------------------
def test_stop_deletes_the_job_in_the_foreground_and_it_is_stopped_until_gone(
    backend: KubernetesBackend, controller: Controller, k8s_cluster: EmulatedCluster
) -> None:
    remote_id = submitted(backend)
    controller.run(remote_id)

    assert backend.stop(remote_id) is True

    (delete,) = [r for r in sent(k8s_cluster, "DELETE") if str(r.url.path).startswith(JOBS)]
    assert delete.data["propagationPolicy"] == "Foreground"
    job = controller.job(remote_id)
    assert STOPPED_ANNOTATION in job["metadata"]["annotations"]
    status = backend.status(remote_id)
    assert (status.state, status.message) == (RemoteState.STOPPED, "stopped by Paddock")
    assert status.finished_at == stamp(job["metadata"]["annotations"][STOPPED_ANNOTATION])
    assert backend.stop(remote_id) is False  # already going
    controller.collect_garbage()
    assert controller.pods(remote_id) == []
    assert backend.status(remote_id).state is RemoteState.NOT_FOUND


def test_stopping_a_pending_job_deletes_it(backend: KubernetesBackend, controller: Controller) -> None:
    remote_id = submitted(backend)
    controller.unschedulable(remote_id, "0/1 nodes are available")

    assert backend.stop(remote_id) is True
    assert backend.status(remote_id).state is RemoteState.STOPPED


def test_stopping_a_finished_job_leaves_it(backend: KubernetesBackend, controller: Controller) -> None:
    remote_id = submitted(backend)
    controller.succeed(remote_id)

    assert backend.stop(remote_id) is False
    assert backend.status(remote_id).state is RemoteState.SUCCEEDED


def test_stop_deletes_a_multi_node_jobs_service_too(
    backend: KubernetesBackend, controller: Controller, k8s_cluster: EmulatedCluster
) -> None:
    spec = job_spec("torchrun train.py", metadata={"nodes": "2"})
    backend.submit(spec)
    other = job_spec("torchrun other.py", metadata={"nodes": "2"})
    backend.submit(other)

    assert backend.stop(spec.remote_id) is True

    deleted = [str(r.url.path) for r in sent(k8s_cluster, "DELETE")]
    assert f"{SERVICES}/{object_name(spec.remote_id)}" in deleted
    assert f"{SERVICES}/{object_name(other.remote_id)}" not in deleted
    assert all(r.data["propagationPolicy"] == "Foreground" for r in sent(k8s_cluster, "DELETE"))
    controller.collect_garbage()
    assert [s["metadata"]["name"] for s in controller.objects(SERVICES)] == [object_name(other.remote_id)]


# --- logs ---------------------------------------------------------------------------------------
def test_logs_are_read_by_byte_offset_from_the_job_container(
    backend: KubernetesBackend, controller: Controller, k8s_cluster: EmulatedCluster
) -> None:
    remote_id = submitted(backend)
    controller.run(remote_id)
    text = b"".join(f"line {n}\n".encode() for n in range(100))
    controller.write_log(remote_id, text)

    middle = backend.logs(remote_id, offset=5, limit=10)
    end = backend.logs(remote_id, offset=len(text) - 4, limit=10)
    past = backend.logs(remote_id, offset=len(text) + 3)

    assert (middle.data, middle.more, middle.next_offset) == (text[5:15], True, 15)
    assert middle.transferred == 16  # limitBytes: the bytes up to the window and one more
    (first, *_) = [r for r in sent(k8s_cluster, "GET") if str(r.url.path).endswith("/log")]
    assert dict(first.params) == {"container": "job", "limitBytes": "16"}
    assert (end.data, end.more) == (text[-4:], False)
    assert (past.data, past.more, past.offset) == (b"", False, len(text) + 3)


def test_a_log_before_the_container_starts_is_empty(backend: KubernetesBackend, controller: Controller) -> None:
    remote_id = submitted(backend)
    controller.pull_image_fails(remote_id)  # a pod, its container waiting: the API answers 400

    assert backend.logs(remote_id) == LogChunk(offset=0)


def test_a_multi_node_jobs_log_is_rank_zeros(backend: KubernetesBackend, controller: Controller) -> None:
    spec = job_spec("torchrun train.py", metadata={"nodes": "2"})
    backend.submit(spec)
    rank_one = controller.create_pod(spec.remote_id, index=1)
    rank_zero = controller.create_pod(spec.remote_id, index=0)
    for pod in (rank_one, rank_zero):
        controller.set_pod(
            pod,
            {
                "phase": "Running",
                "containerStatuses": [{"name": "job", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}],
            },
        )
    controller.write_log(spec.remote_id, "rank 1\n", pod=rank_one)
    controller.write_log(spec.remote_id, "rank 0\n", pod=rank_zero)

    assert backend.logs(spec.remote_id).data == b"rank 0\n"


def test_a_bad_log_range_is_refused_without_asking_the_cluster(
    backend: KubernetesBackend, k8s_cluster: EmulatedCluster
) -> None:
    with pytest.raises(BackendError) as raised:
        backend.logs("pdk-x", offset=0, limit=0)

    assert raised.value.retryable is False
    assert k8s_cluster.requests() == []


# --- nodes and capacity ---------------------------------------------------------------------------
def test_nodes_carry_gpu_feature_discovery_labels_cordons_and_taints(
    backend: KubernetesBackend, k8s_controller: Controller
) -> None:
    k8s_controller.seed_node(
        "gpu-a", cpus="96", memory="1024Gi", gpus=8, product="NVIDIA-H100-80GB-HBM3", gpu_memory_mib=81559,
        mig_strategy="none", address="10.0.0.5",
    )  # fmt: skip
    k8s_controller.seed_node(
        "gpu-b", cpus="3500m", memory="64Gi", gpus=4, product="NVIDIA-A100-SXM4-80GB", cordoned=True,
        taints=({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},),
    )  # fmt: skip
    k8s_controller.seed_node(
        "mig-c", gpus=1, product="NVIDIA-A100-SXM4-40GB", mig_strategy="mixed",
        extended={"nvidia.com/mig-1g.5gb": "7"},
    )  # fmt: skip
    k8s_controller.seed_node("cpu-d", ready=False)

    nodes = {node.node_id: node for node in backend.nodes()}

    a, b, mig, cpu = nodes["gpu-a"], nodes["gpu-b"], nodes["mig-c"], nodes["cpu-d"]
    assert (a.hostname, a.alive, a.cpus, a.gpus, a.memory_bytes) == ("gpu-a", True, 96, 8, 1024 * 2**30)
    assert a.accelerator_type == "NVIDIA-H100-80GB-HBM3" and a.address == "10.0.0.5"
    assert (
        dict(a.labels).items()
        >= {
            "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
            "nvidia.com/gpu.memory": "81559",
            "nvidia.com/gpu.count": "8",
            "nvidia.com/mig.strategy": "none",
        }.items()
    )
    assert dict(a.custom) == {"accelerator_type:NVIDIA-H100-80GB-HBM3": 1.0}
    assert "node.kubernetes.io/unschedulable" not in a.labels
    assert b.cpus == 3.5 and b.alive is True
    assert b.labels["node.kubernetes.io/unschedulable"] == "true"
    assert b.labels["taint/nvidia.com/gpu"] == "present:NoSchedule"
    assert mig.labels["nvidia.com/mig.strategy"] == "mixed"
    assert mig.custom["nvidia.com/mig-1g.5gb"] == 7.0
    assert cpu.alive is False and cpu.gpus == 0 and cpu.accelerator_type == ""


def test_capacity_is_what_schedulable_ready_nodes_have_left(backend: KubernetesBackend, controller: Controller) -> None:
    controller.seed_node("cordoned", gpus=8, product="H100", cordoned=True)
    controller.seed_node("down", gpus=8, product="H100", ready=False)
    remote_id = submitted(backend)  # 1 CPU, 1 GPU, asks for the H100
    controller.run(remote_id)
    # Another namespace's pod on the same node counts too; a finished one does not.
    for name, phase in (("theirs", "Running"), ("done", "Succeeded")):
        controller._post(
            "/api/v1/namespaces/other/pods",
            {
                "metadata": {"name": name, "namespace": "other"},
                "spec": {"nodeName": "node-0", "containers": [{"name": "c", "resources": {"limits": {"cpu": "500m"}}}]},
                "status": {"phase": phase},
            },
        )

    capacity = backend.capacity()

    assert capacity.nodes == 1
    assert (capacity.total.cpus, capacity.total.gpus) == (4, 2)
    assert capacity.total.custom == {"accelerator_type:H100": 1.0}
    assert (capacity.available.cpus, capacity.available.gpus) == (2.5, 1)
    assert capacity.available.custom["accelerator_type:H100"] == pytest.approx(1 - 0.001)


def test_capacity_reads_only_its_namespaces_pods_where_rbac_grants_no_more(
    backend: KubernetesBackend, controller: Controller, k8s_cluster: EmulatedCluster
) -> None:
    remote_id = submitted(backend)  # 1 CPU, 1 GPU
    controller.run(remote_id)
    controller._post(
        "/api/v1/namespaces/other/pods",
        {
            "metadata": {"name": "theirs", "namespace": "other"},
            "spec": {"nodeName": "node-0", "containers": [{"name": "c", "resources": {"limits": {"cpu": "500m"}}}]},
            "status": {"phase": "Running"},
        },
    )
    assert backend.capacity().available.cpus == 2.5  # all namespaces
    k8s_cluster.forbid("/api/v1/pods")  # the shipped RBAC: pods only in the job namespace

    capacity = backend.capacity()

    assert (capacity.available.cpus, capacity.available.gpus) == (3, 1)  # its own pod still counts
    assert any(r.url.path == "/api/v1/pods" for r in k8s_cluster.requests("GET"))


def test_jobs_without_paddocks_label_are_not_listed(backend: KubernetesBackend, controller: Controller) -> None:
    controller._post(JOBS, {"metadata": {"name": "someone-elses"}})
    remote_id = submitted(backend)

    assert backend.list_remote_ids() == [remote_id]


# --- failures and credentials -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (403, False), (422, False), (429, True), (500, True), (503, True)],
)
def test_an_http_error_is_retryable_only_when_the_cluster_may_get_better(
    backend: KubernetesBackend, k8s_cluster: EmulatedCluster, status: int, retryable: bool
) -> None:
    k8s_cluster.refuse(status, "Refused", 'jobs.batch is forbidden: User "paddock" cannot create resource')

    with pytest.raises(BackendError) as raised:
        backend.submit(job_spec())

    assert raised.value.retryable is retryable
    assert f"HTTP {status}" in raised.value.message


def test_a_forbidden_answer_says_what_was_refused(backend: KubernetesBackend, k8s_cluster: EmulatedCluster) -> None:
    k8s_cluster.refuse(403, "Forbidden", 'nodes is forbidden: User "paddock" cannot list resource "nodes"')

    with pytest.raises(BackendError) as raised:
        backend.nodes()

    assert raised.value.retryable is False
    assert 'cannot list resource "nodes"' in raised.value.message


def test_an_api_server_that_never_answers_is_retryable_and_quick() -> None:
    tarpit = socket.socket()
    tarpit.bind(("127.0.0.1", 0))
    tarpit.listen(8)  # accepts connections (the kernel does) and never answers
    try:
        url = f"http://127.0.0.1:{tarpit.getsockname()[1]}"
        backend = KubernetesBackend(url, None, connect_timeout=0.5, read_timeout=0.5)
        began = time.monotonic()
        with pytest.raises(BackendError) as raised:
            backend.ping()
        assert raised.value.retryable is True
        assert time.monotonic() - began < 2.0
    finally:
        tarpit.close()


def test_a_canary_credential_never_appears_in_an_error(k8s_cluster: EmulatedCluster) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    key = base64.b64encode(f"-----BEGIN PRIVATE KEY-----{canary}-----END PRIVATE KEY-----".encode()).decode()
    cert = base64.b64encode(b"-----BEGIN CERTIFICATE-----x-----END CERTIFICATE-----").decode()
    with_token = SafeKubeconfig(server=k8s_cluster.url, token=canary).to_json()
    backend = KubernetesBackend(k8s_cluster.url, with_token)
    errors: list[BackendError] = []

    def expect_error(call: Any) -> None:
        with pytest.raises(BackendError) as raised:
            call()
        errors.append(raised.value)

    # A server (or proxy) that repeats the Authorization header it received.
    k8s_cluster.refuse(403, "Forbidden", "denied", echo_authorization=True)
    expect_error(backend.ping)
    k8s_cluster.refuse(500, "InternalError", "boom", echo_authorization=True)
    expect_error(lambda: backend.submit(job_spec()))
    expect_error(lambda: backend.logs("pdk-x"))
    k8s_cluster.allow()
    expect_error(
        lambda: KubernetesBackend(
            "http://127.0.0.1:1", with_token.replace(k8s_cluster.url, "http://127.0.0.1:1")
        ).ping()
    )
    expect_error(lambda: KubernetesBackend("https://elsewhere.example", with_token))
    expect_error(
        lambda: KubernetesBackend(k8s_cluster.url, with_token.replace('"namespace"', '"stray": "x", "namespace"'))
    )
    with_key = SafeKubeconfig(server="https://127.0.0.1:1", client_cert_data=cert, client_key_data=key).to_json()
    expect_error(lambda: KubernetesBackend("https://127.0.0.1:1", with_key).ping())

    received = [r.headers.get("Authorization") for r in k8s_cluster.requests()]
    assert f"Bearer {canary}" in received  # it was sent, to the server it belongs to
    assert len(errors) == 7
    for error in errors:
        assert canary not in error.message and canary not in str(error), error.message
    assert canary not in repr(backend)


def test_a_client_key_lives_only_in_a_private_file_removed_with_the_backend() -> None:
    key = base64.b64encode(b"-----BEGIN PRIVATE KEY-----k-----END PRIVATE KEY-----").decode()
    cert = base64.b64encode(b"-----BEGIN CERTIFICATE-----c-----END CERTIFICATE-----").decode()
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----ca-----END CERTIFICATE-----").decode()
    kubeconfig = SafeKubeconfig(server="https://127.0.0.1:1", ca_data=ca, client_cert_data=cert, client_key_data=key)

    backend = KubernetesBackend("https://127.0.0.1:1", kubeconfig.to_json())

    files = backend.private_files
    assert [os.path.basename(path) for path in files] == ["client.crt", "client.key"]  # the CA stays in memory
    folder = os.path.dirname(files[0])
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(path).st_mode) == 0o600 for path in files)
    assert open(files[1], "rb").read() == base64.b64decode(key)
    backend.close()
    assert not os.path.exists(folder)


@pytest.mark.parametrize(
    ("address", "credentials", "expected"),
    [
        pytest.param("https://other.example", "https://api.example", "is not its kubeconfig's server", id="mismatch"),
        pytest.param("ftp://api.example", None, "http(s)://", id="not-http"),
        pytest.param("https://api.example", "not json", "cannot be used", id="not-json"),
    ],
)
def test_a_connection_that_cannot_be_made_safely_is_refused(
    address: str, credentials: str | None, expected: str
) -> None:
    if credentials and credentials.startswith("https://"):
        credentials = SafeKubeconfig(server=credentials, token="t").to_json()

    with pytest.raises(BackendError) as raised:
        KubernetesBackend(address, credentials)

    assert raised.value.retryable is False and expected in raised.value.message


def test_a_ray_serve_application_is_refused_for_good(backend: KubernetesBackend) -> None:
    """Serving on Kubernetes runs container images (tests/dispatch/test_kubernetes_serving.py)."""
    app = ServeApp(name="paddock-rev-1", import_path="paddock.serving.model:build", route_prefix=None)
    with pytest.raises(BackendError) as raised:
        backend.serve_apply([app], owned_prefix="paddock-", http_host="h", http_port=1)
    assert raised.value.retryable is False and "Ray Serve application" in raised.value.message
    assert backend.serve_state().apps == {}


def test_the_registry_hands_out_a_guarded_kubernetes_backend(k8s_cluster: EmulatedCluster) -> None:
    credentials = SafeKubeconfig(server=k8s_cluster.url, token=TOKEN).to_json()

    first = get_backend("kubernetes", k8s_cluster.url, credentials)

    assert get_backend("kubernetes", k8s_cluster.url, credentials) is first
    assert type(first).__name__ == "GuardedBackend" and type(first.inner).__name__ == "KubernetesBackend"  # type: ignore[attr-defined]
    first.ping()


def test_an_emulator_that_forgets_requests_serves_the_same_and_can_start_over() -> None:
    """What the benchmarks use: answered requests are dropped (kmock would walk them all on
    each new one), and ``forget_objects`` empties the API server between rounds."""
    cluster = EmulatedCluster(keep_requests=False).start()
    try:
        backend = KubernetesBackend(cluster.url)
        specs = [job_spec() for _ in range(20)]
        for spec in specs:
            assert backend.submit(spec).adopted is False
        assert backend.submit(specs[0]).adopted is True  # 409, read back: still the API server's answers
        assert backend.list_remote_ids() == sorted(spec.remote_id for spec in specs)
        assert cluster.requests() == []

        cluster.forget_objects()

        assert backend.list_remote_ids() == []
        assert backend.status(specs[0].remote_id).state is RemoteState.NOT_FOUND
        backend.close()
    finally:
        cluster.close()
