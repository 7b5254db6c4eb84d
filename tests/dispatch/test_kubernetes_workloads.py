"""JobSets and KubeRay RayJobs through the Kubernetes backend, against the emulated API server
(the tests play the JobSet controller and the KubeRay operator, see ``k8s_emulator.Controller``).

How a JobSet maps to the port's states (``jobset_status``):

| the JobSet / its pods                                   | state     | also                                |
|---------------------------------------------------------|-----------|-------------------------------------|
| none by that name                                       | NOT_FOUND |                                     |
| condition Completed=True                                | SUCCEEDED | finished_at = its transition time   |
| condition Failed=True                                   | FAILED    | the first failed pod's exit code;   |
|                                                         |           | infrastructure when it was evicted  |
| deletionTimestamp set                                   | STOPPED   | "by Paddock" when annotated         |
| condition Suspended=True or spec.suspend                | PENDING   | "suspended …" (Kueue)               |
| every pod Running                                       | RUNNING   | started_at = the first pod's start  |
| some pods Running, others not                           | PENDING   | "1 of 2 pods running; <why>"        |
| a pod unschedulable / its image not pulled              | PENDING   | the scheduler's or kubelet's reason |
| no pods yet                                             | PENDING   | "waiting for the JobSet controller" |

How a RayJob maps (``rayjob_status``; ``jobStatus`` is Ray's, ``jobDeploymentStatus`` KubeRay's):

| jobStatus / jobDeploymentStatus                         | state     | also                                |
|---------------------------------------------------------|-----------|-------------------------------------|
| SUCCEEDED                                               | SUCCEEDED | startTime, endTime                  |
| FAILED                                                  | FAILED    | exit code from Ray's message        |
| not FAILED, deployment Failed                           | FAILED    | infrastructure=True                 |
| deployment ValidationFailed                             | FAILED    | not infrastructure (the spec's)     |
| deletionTimestamp set                                   | STOPPED   | "by Paddock" when annotated         |
| STOPPED (``ray job stop`` outside Paddock)              | STOPPED   |                                     |
| deployment Suspended / spec.suspend                     | PENDING   | "suspended …"                       |
| RUNNING                                                 | RUNNING   | started_at = startTime              |
| deployment Initializing, pods unschedulable             | PENDING   | the scheduler's reason              |
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from apps.dispatch.backends.kubernetes import STOPPED_ANNOTATION, KubernetesBackend
from apps.dispatch.k8s_manifests import LABEL_ATTEMPT, ClusterOptions, object_name
from apps.dispatch.port import JobSpec, LogChunk, RemoteState, Resources
from tests.dispatch.k8s_emulator import Controller, EmulatedCluster
from tests.k8s_schemas import validate

JOBS = "/apis/batch/v1/namespaces/default/jobs"
JOBSETS = "/apis/jobset.x-k8s.io/v1alpha2/namespaces/default/jobsets"
RAYJOBS = "/apis/ray.io/v1/namespaces/default/rayjobs"
SERVICES = "/api/v1/namespaces/default/services"


@pytest.fixture
def backend(k8s_cluster: EmulatedCluster) -> Iterator[KubernetesBackend]:
    made = KubernetesBackend(k8s_cluster.url, None, ClusterOptions(has_jobset=True, has_kuberay=True))
    yield made
    made.close()


@pytest.fixture
def controller(k8s_controller: Controller) -> Controller:
    for name in ("node-0", "node-1"):
        k8s_controller.seed_node(name, gpus=2, product="NVIDIA-H100-80GB-HBM3")
    return k8s_controller


def sent(cluster: EmulatedCluster, method: str | None) -> list[Any]:
    """What the backend sent (the official client's requests, not the test controller's)."""
    return [r for r in cluster.requests(method) if r.headers.get("User-Agent", "").startswith("OpenAPI-Generator")]


def paths(cluster: EmulatedCluster, method: str) -> list[str]:
    return [str(request.url.path) for request in sent(cluster, method)]


def gang(entrypoint: str = "torchrun train.py") -> JobSpec:
    placement = tuple({"hostname": f"node-{n}", "gpus": [0, 1]} for n in range(2))
    return JobSpec(
        remote_id=f"pdk-gang-{uuid.uuid4().hex[:12]}",
        entrypoint=entrypoint,
        resources=Resources(cpus=4, gpus=4),
        placement=placement,
    )


def ray_job(nodes: int = 2) -> JobSpec:
    return JobSpec(
        remote_id=f"pdk-ray-{uuid.uuid4().hex[:12]}",
        entrypoint="python tune.py",
        resources=Resources(cpus=2 * nodes, gpus=2 * nodes),
        metadata={"nodes": str(nodes), "runtime": "ray"},
    )


def stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- JobSet: submit ----------------------------------------------------------------------------
def test_a_gang_is_created_as_one_valid_jobset_and_a_second_submit_adopts_it(
    backend: KubernetesBackend, controller: Controller, k8s_cluster: EmulatedCluster
) -> None:
    spec = gang()

    first = backend.submit(spec)
    second = backend.submit(spec)

    assert (first.adopted, second.adopted) == (False, True)
    assert paths(k8s_cluster, "POST") == [JOBSETS, JOBSETS]  # the second was answered 409, then read back
    assert f"{JOBSETS}/{object_name(spec.remote_id)}" in paths(k8s_cluster, "GET")
    (body, _) = [request.data for request in sent(k8s_cluster, "POST")]
    validate(body)  # the JobSet CRD's schema, strictly, and the pod template against Kubernetes'
    assert controller.objects(JOBS) == [] and controller.objects(SERVICES) == []  # JobSet makes its own
    assert backend.list_remote_ids() == [spec.remote_id]


def test_a_jobset_of_something_else_under_the_same_name_is_not_adopted(
    backend: KubernetesBackend, controller: Controller
) -> None:
    spec = gang()
    controller._post(JOBSETS, {"metadata": {"name": object_name(spec.remote_id), "labels": {"app": "other"}}})

    with pytest.raises(Exception) as raised:
        backend.submit(spec)

    assert "not this job's" in str(raised.value)


# --- JobSet: status ----------------------------------------------------------------------------
def test_a_jobset_walks_pending_running_succeeded(backend: KubernetesBackend, controller: Controller) -> None:
    spec = gang()
    backend.submit(spec)
    assert backend.status(spec.remote_id).state is RemoteState.PENDING
    assert "JobSet controller" in backend.status(spec.remote_id).message

    controller.start_jobset(spec.remote_id, ["node-0", "node-1"])
    pending = backend.status(spec.remote_id)
    controller.run_jobset(spec.remote_id)
    running = backend.status(spec.remote_id)
    controller.succeed_jobset(spec.remote_id)
    done = backend.status(spec.remote_id)

    assert pending.state is RemoteState.PENDING and pending.message.startswith("pod ")
    assert running.state is RemoteState.RUNNING and running.message == "running on 2 nodes (rank 0 on node-0)"
    first_start = min(stamp(p["status"]["startTime"]) for p in controller.jobset_pods(spec.remote_id))
    assert running.started_at == first_start
    condition = controller.jobset(spec.remote_id)["status"]["conditions"][0]
    assert (done.state, done.finished_at) == (RemoteState.SUCCEEDED, stamp(condition["lastTransitionTime"]))


def test_a_gang_with_a_rank_that_cannot_be_placed_is_pending_with_the_schedulers_reason(
    backend: KubernetesBackend, controller: Controller
) -> None:
    spec = gang()
    backend.submit(spec)
    _, rank_one = controller.start_jobset(spec.remote_id, ["node-0", None])
    controller.set_pod(
        controller.jobset_pods(spec.remote_id)[0]["metadata"]["name"],
        {
            "phase": "Running",
            "containerStatuses": [{"name": "job", "state": {"running": {"startedAt": "2026-12-06T09:00:00Z"}}}],
        },
    )
    controller.set_pod(
        rank_one,
        {
            "phase": "Pending",
            "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/2 nodes free"}
            ],
        },
    )

    status = backend.status(spec.remote_id)

    assert status.state is RemoteState.PENDING  # a gang runs whole or not at all
    assert status.message == "1 of 2 pods running; Unschedulable: 0/2 nodes free"


def test_a_gang_whose_follower_finished_first_is_still_running(
    backend: KubernetesBackend, controller: Controller
) -> None:
    spec = gang()
    backend.submit(spec)
    _, follower = controller.start_jobset(spec.remote_id, ["node-0", "node-1"])
    controller.run_jobset(spec.remote_id)
    controller._end_container(follower, "Succeeded", exit_code=0, reason="Completed")

    status = backend.status(spec.remote_id)

    assert status.state is RemoteState.RUNNING and "rank 0 on node-0" in status.message


def test_a_failed_jobset_reports_the_first_failing_ranks_exit_code(
    backend: KubernetesBackend, controller: Controller
) -> None:
    spec = gang()
    backend.submit(spec)
    controller.start_jobset(spec.remote_id, ["node-0", "node-1"])
    controller.run_jobset(spec.remote_id)
    controller.fail_jobset(spec.remote_id, rank=1, exit_code=3, message="NCCL error: unhandled system error")

    status = backend.status(spec.remote_id)

    assert (status.state, status.exit_code, status.infrastructure) == (RemoteState.FAILED, 3, False)
    assert "exit code 3" in status.message and "NCCL error" in status.message
    assert status.error_type == "Error"


def test_an_evicted_rank_fails_the_jobset_because_of_the_cluster(
    backend: KubernetesBackend, controller: Controller
) -> None:
    spec = gang()
    backend.submit(spec)
    controller.start_jobset(spec.remote_id, ["node-0", "node-1"])
    controller.run_jobset(spec.remote_id)
    controller.fail_jobset(spec.remote_id, rank=0, evicted=True, message="The node was low on resource: memory.")

    status = backend.status(spec.remote_id)

    assert (status.state, status.infrastructure, status.error_type) == (RemoteState.FAILED, True, "Evicted")
    assert "low on resource" in status.message


def test_a_suspended_jobset_is_pending(backend: KubernetesBackend, controller: Controller) -> None:
    spec = gang()
    backend.submit(spec)
    controller.suspend_jobset(spec.remote_id)

    status = backend.status(spec.remote_id)

    assert status.state is RemoteState.PENDING and status.message == "the JobSet is suspended"


# --- JobSet: stop, logs ------------------------------------------------------------------------
def test_stop_deletes_the_jobset_in_the_foreground_and_it_is_stopped_until_gone(
    backend: KubernetesBackend, controller: Controller, k8s_cluster: EmulatedCluster
) -> None:
    spec = gang()
    backend.submit(spec)
    controller.start_jobset(spec.remote_id, ["node-0", "node-1"])
    controller.run_jobset(spec.remote_id)

    assert backend.stop(spec.remote_id) is True

    (delete,) = [r for r in sent(k8s_cluster, "DELETE") if str(r.url.path).startswith(JOBSETS)]
    assert delete.data["propagationPolicy"] == "Foreground"
    annotations = controller.jobset(spec.remote_id)["metadata"]["annotations"]
    status = backend.status(spec.remote_id)
    assert (status.state, status.message) == (RemoteState.STOPPED, "stopped by Paddock")
    assert status.finished_at == stamp(annotations[STOPPED_ANNOTATION])
    assert backend.stop(spec.remote_id) is False  # already going
    controller.collect_custom_garbage()
    assert controller.jobset_pods(spec.remote_id) == []
    assert backend.status(spec.remote_id).state is RemoteState.NOT_FOUND


def test_stopping_a_finished_jobset_leaves_it(backend: KubernetesBackend, controller: Controller) -> None:
    spec = gang()
    backend.submit(spec)
    controller.start_jobset(spec.remote_id, ["node-0", "node-1"])
    controller.succeed_jobset(spec.remote_id)

    assert backend.stop(spec.remote_id) is False
    assert backend.status(spec.remote_id).state is RemoteState.SUCCEEDED


def test_a_jobsets_log_is_its_leaders(backend: KubernetesBackend, controller: Controller) -> None:
    spec = gang()
    backend.submit(spec)
    assert backend.logs(spec.remote_id) == LogChunk(offset=0)  # no pods yet
    rank_zero, rank_one = controller.start_jobset(spec.remote_id, ["node-0", "node-1"])
    controller.run_jobset(spec.remote_id)
    controller.write_log(spec.remote_id, "rank 1\n", pod=rank_one)
    controller.write_log(spec.remote_id, "rank 0 says hello\n", pod=rank_zero)

    chunk = backend.logs(spec.remote_id, offset=7)

    assert chunk.data == b"says hello\n"


def test_a_jobset_that_is_not_there_is_not_found(backend: KubernetesBackend, controller: Controller) -> None:
    status = backend.status("pdk-gang-none")

    assert status.state is RemoteState.NOT_FOUND and "JobSet" in status.message
    assert backend.stop("pdk-gang-none") is False
    assert backend.logs("pdk-gang-none") == LogChunk(offset=0)


def test_without_jobset_on_the_cluster_a_jobset_is_not_looked_for(
    k8s_cluster: EmulatedCluster, controller: Controller
) -> None:
    backend = KubernetesBackend(k8s_cluster.url, None, ClusterOptions())

    assert backend.status("pdk-gang-none").state is RemoteState.NOT_FOUND
    assert backend.list_remote_ids() == []

    assert not [p for p in paths(k8s_cluster, "GET") if "jobset" in p or "rayjob" in p]


# --- RayJob ------------------------------------------------------------------------------------
def test_a_ray_job_is_created_as_one_valid_rayjob_and_a_second_submit_adopts_it(
    backend: KubernetesBackend, controller: Controller, k8s_cluster: EmulatedCluster
) -> None:
    spec = ray_job()

    assert backend.submit(spec).adopted is False
    assert backend.submit(spec).adopted is True

    assert paths(k8s_cluster, "POST") == [RAYJOBS, RAYJOBS]
    validate(sent(k8s_cluster, "POST")[0].data)  # the KubeRay CRD's schema
    rayjob = controller.rayjob(spec.remote_id)
    assert rayjob["metadata"]["labels"][LABEL_ATTEMPT] == spec.remote_id
    assert backend.list_remote_ids() == [spec.remote_id]


def test_a_rayjob_walks_pending_running_succeeded_and_its_submitter_is_not_taken_for_it(
    backend: KubernetesBackend, controller: Controller
) -> None:
    spec = ray_job()
    backend.submit(spec)
    assert "KubeRay" in backend.status(spec.remote_id).message

    controller.start_ray_cluster(spec.remote_id, bound=False)
    controller.ray_cluster_unschedulable(spec.remote_id, "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.")
    waiting = backend.status(spec.remote_id)
    controller.submit_ray_job(spec.remote_id)  # KubeRay's submitter: a Job named as the RayJob
    running = backend.status(spec.remote_id)
    controller.set_rayjob(spec.remote_id, job_status="SUCCEEDED", deployment="Complete", endTime="2026-12-06T10:00:00Z")
    done = backend.status(spec.remote_id)

    assert waiting.state is RemoteState.PENDING
    assert waiting.message == "Unschedulable: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    assert running.state is RemoteState.RUNNING
    assert running.started_at == stamp(controller.rayjob(spec.remote_id)["status"]["startTime"])
    assert (done.state, done.finished_at) == (RemoteState.SUCCEEDED, stamp("2026-12-06T10:00:00Z"))
    assert backend.list_remote_ids() == [spec.remote_id]  # the submitter Job is not listed as a job


@pytest.mark.parametrize(
    ("job_status", "deployment", "reason", "message", "expected"),
    [
        (
            "FAILED",
            "Complete",
            "AppFailed",
            "Job entrypoint command failed with exit code 2, last available logs: oops",
            (False, 2, "AppFailed"),
        ),
        ("PENDING", "Failed", "SubmissionFailed", "the submitter's Job failed", (True, None, "SubmissionFailed")),
        ("", "ValidationFailed", "ValidationFailed", "rayClusterSpec is invalid", (False, None, "ValidationFailed")),
    ],
)
def test_a_failed_rayjob_says_whose_failure_it_was(
    backend: KubernetesBackend,
    controller: Controller,
    job_status: str,
    deployment: str,
    reason: str,
    message: str,
    expected: tuple[bool, int | None, str],
) -> None:
    spec = ray_job()
    backend.submit(spec)
    controller.start_ray_cluster(spec.remote_id)
    controller.set_rayjob(spec.remote_id, job_status=job_status, deployment=deployment, reason=reason, message=message)

    status = backend.status(spec.remote_id)

    assert status.state is RemoteState.FAILED
    assert (status.infrastructure, status.exit_code, status.error_type) == expected
    assert message in status.message


def test_a_ray_job_stopped_outside_paddock_is_stopped(backend: KubernetesBackend, controller: Controller) -> None:
    spec = ray_job()
    backend.submit(spec)
    controller.start_ray_cluster(spec.remote_id)
    controller.submit_ray_job(spec.remote_id)
    controller.set_rayjob(spec.remote_id, job_status="STOPPED", deployment="Complete")

    assert backend.status(spec.remote_id).state is RemoteState.STOPPED
    assert backend.stop(spec.remote_id) is False


def test_a_suspended_rayjob_is_pending(backend: KubernetesBackend, controller: Controller) -> None:
    spec = ray_job()
    backend.submit(spec)
    controller.set_rayjob(spec.remote_id, deployment="Suspended")

    status = backend.status(spec.remote_id)

    assert status.state is RemoteState.PENDING and status.message == "the RayJob is suspended"


def test_stop_deletes_the_rayjob_in_the_foreground(
    backend: KubernetesBackend, controller: Controller, k8s_cluster: EmulatedCluster
) -> None:
    spec = ray_job()
    backend.submit(spec)
    controller.start_ray_cluster(spec.remote_id)
    controller.submit_ray_job(spec.remote_id)

    assert backend.stop(spec.remote_id) is True

    deleted = sent(k8s_cluster, "DELETE")
    assert [str(r.url.path) for r in deleted] == [f"{RAYJOBS}/{object_name(spec.remote_id)}"]
    assert deleted[0].data["propagationPolicy"] == "Foreground"
    assert STOPPED_ANNOTATION in controller.rayjob(spec.remote_id)["metadata"]["annotations"]
    assert backend.status(spec.remote_id).message == "stopped by Paddock"
    controller.collect_custom_garbage()
    assert backend.status(spec.remote_id).state is RemoteState.NOT_FOUND


def test_a_rayjobs_log_is_its_submitters_then_the_heads(backend: KubernetesBackend, controller: Controller) -> None:
    spec = ray_job()
    backend.submit(spec)
    cluster = controller.start_ray_cluster(spec.remote_id)
    controller.set_pod(
        f"{cluster}-head-0",
        {
            "phase": "Running",
            "containerStatuses": [{"name": "ray-head", "state": {"running": {"startedAt": "2026-12-06T09:00:00Z"}}}],
        },
    )
    controller.write_log(spec.remote_id, "ray head starting\n", pod=f"{cluster}-head-0")
    before = backend.logs(spec.remote_id)
    submitter = controller.submit_ray_job(spec.remote_id)
    controller.write_log(spec.remote_id, "tune: trial 1 done\n", pod=submitter)

    after = backend.logs(spec.remote_id)

    assert before.data == b"ray head starting\n"
    assert after.data == b"tune: trial 1 done\n"


# --- what the backend asks of the API server is what Paddock's RBAC grants ------------------------
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)(?:/namespaces/[^/]+)?/(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)


def granted() -> dict[tuple[str, str], set[str]]:
    rules: dict[tuple[str, str], set[str]] = {}
    for path in (DEPLOY / "dispatch-namespace" / "rbac.yaml", DEPLOY / "base" / "nodes-rbac.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] in ("Role", "ClusterRole"):
                for rule in document["rules"]:
                    for group in rule["apiGroups"]:
                        for resource in rule["resources"]:
                            rules.setdefault((group, resource), set()).update(rule["verbs"])
    return rules


def asked(cluster: EmulatedCluster) -> set[tuple[str, str, str]]:
    """(API group, resource, verb) of every request the backend sent."""
    verbs = {"POST": "create", "PATCH": "patch", "DELETE": "delete", "PUT": "update"}
    found = set()
    for request in sent(cluster, None):
        match = _PATH.match(str(request.url.path))
        assert match is not None, request.url.path
        resource = match["resource"] + (f"/{match['sub']}" if match["sub"] else "")
        method = str(request.method.value).upper()
        verb = verbs.get(method) or ("get" if match["name"] else "list")
        found.add((match["group"] or "", resource, verb))
    return found


def test_everything_the_backend_asks_for_is_granted_by_paddocks_rbac(
    backend: KubernetesBackend, controller: Controller, k8s_cluster: EmulatedCluster
) -> None:
    one = JobSpec(remote_id="pdk-one", entrypoint="python a.py", resources=Resources(cpus=1))
    indexed = JobSpec(remote_id="pdk-two", entrypoint="torchrun a.py", resources=Resources(cpus=2))
    plain = KubernetesBackend(k8s_cluster.url, None, ClusterOptions())
    for each, spec in (
        (backend, one),
        (plain, dataclasses.replace(indexed, metadata={"nodes": "2"})),
        (backend, gang()),
        (backend, ray_job()),
    ):
        each.submit(spec)
        each.submit(spec)  # 409, read back
        each.status(spec.remote_id)
        each.logs(spec.remote_id)
        each.list_remote_ids()
        each.stop(spec.remote_id)
    backend.set_schedulable("node-0", False)
    backend.set_schedulable("node-0", True)
    backend.nodes()

    rules = granted()
    missing = sorted(
        f"{verb} {group or 'core'}/{resource}"
        for group, resource, verb in asked(k8s_cluster)
        if verb not in rules.get((group, resource), set())
    )
    assert missing == []
