"""A Kubernetes API server for tests: kmock's in-memory ``KubernetesEmulator`` on 127.0.0.1.

No kube-apiserver can run here (see the Kubernetes notes in shared/TESTING-NOTES.md). kmock
serves create (409 when the name is taken), get, 404, list, merge patch (status included) and
delete over real HTTP, so the backend drives the official client as it would a cluster. It is
an aiohttp application: :class:`EmulatedCluster` runs its event loop in a background thread.

What kmock does not do, the tests do here:

- **Controllers.** Nothing moves by itself. :class:`Controller` plays the Job controller, the
  scheduler, the kubelet and the garbage collector: it creates a Job's pods from its template,
  sets pod phases and container states, Job conditions and times, and finishes foreground
  deletions (:meth:`Controller.collect_garbage`).
- **Foreground deletion.** A DELETE with ``propagationPolicy: Foreground`` leaves the object
  with a ``foregroundDeletion`` finalizer and a ``deletionTimestamp``, as the API server does,
  until the garbage collector (the Controller) has removed its pods.
- **Pod logs.** ``GET …/pods/<name>/log`` is a route of our own serving the text the Controller
  wrote, with ``container`` and ``limitBytes``; a pod whose container has not started answers
  400 "waiting to start", as the kubelet does.
- **Failures.** :meth:`EmulatedCluster.refuse` answers every request with an error status.
- **Server-side apply** (``PATCH`` as ``application/apply-patch+yaml``) of an existing object,
  as one field manager sees it: its labels, annotations and spec become the applied ones.
  No managedFields, no conflicts between managers, no create by apply. Kueue's four kinds
  (ResourceFlavor, Cohort, ClusterQueue, LocalQueue) are served, without Kueue's defaulting.

kmock ignores label and field selectors, sets no uid or resourceVersion and applies no
defaults; the backend filters lists itself.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import kmock
import pytest
import requests

from apps.dispatch.k8s_manifests import GPU_PRODUCT_LABEL, GPU_RESOURCE, object_name

NAMESPACE = "default"
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
FOREGROUND = "foregroundDeletion"
RESOURCES = {
    "batch/v1/jobs": ("Job", True),
    "v1/pods": ("Pod", True),
    "v1/services": ("Service", True),
    "v1/nodes": ("Node", False),
    "jobset.x-k8s.io/v1alpha2/jobsets": ("JobSet", True),
    "ray.io/v1/rayjobs": ("RayJob", True),
    "kueue.x-k8s.io/v1beta2/resourceflavors": ("ResourceFlavor", False),
    "kueue.x-k8s.io/v1beta2/cohorts": ("Cohort", False),
    "kueue.x-k8s.io/v1beta2/clusterqueues": ("ClusterQueue", False),
    "kueue.x-k8s.io/v1beta2/localqueues": ("LocalQueue", True),
}
# What serving endpoints write (apps/dispatch/k8s_serving.py).
RESOURCES.update(
    {
        "apps/v1/deployments": ("Deployment", True),
        "autoscaling/v2/horizontalpodautoscalers": ("HorizontalPodAutoscaler", True),
        "v1/configmaps": ("ConfigMap", True),
    }
)
APPLY_PATCH = "application/apply-patch+yaml"
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
JOBSET_JOB_INDEX_LABEL = "jobset.sigs.k8s.io/job-index"
RAY_CLUSTER_LABEL = "ray.io/cluster"
RAY_NODE_TYPE_LABEL = "ray.io/node-type"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@attrs.define(kw_only=True)
class _Emulator(kmock.KubernetesEmulator):
    """kmock's emulator with the API server's foreground deletion.

    kmock keeps every request it has served and, to pick the reaction for a new one, walks that
    whole history through each reaction's filters: a request costs time in proportion to the
    requests before it (about 0.2 ms for each, so the 1,000th create takes about 0.2 s here).
    With ``keep_requests=False`` a request is forgotten once answered, so each costs the same;
    :meth:`EmulatedCluster.requests` then has nothing to show."""

    keep_requests: bool = True

    async def _handle(self, request: Any) -> Any:
        try:
            return await self._answer(request)
        finally:
            if not self.keep_requests:
                # By identity: kmock compares requests by value. In flight ones stay, so each
                # still finds its own reaction.
                history = self._requests
                index = next((n for n in range(len(history) - 1, -1, -1) if history[n] is request), None)
                if index is not None:
                    del history[index]

    async def _answer(self, request: Any) -> Any:
        if request.action == kmock.action.UPDATE and APPLY_PATCH in str(request.headers.get("Content-Type", "")):
            await self._server_side_apply(request)
        policy = (request.data or {}).get("propagationPolicy") if isinstance(request.data, dict) else None
        policy = policy or request.params.get("propagationPolicy")
        if request.action == kmock.action.DELETE and request.name and policy == "Foreground":
            key = (request.resource, request.namespace, request.name)
            async with self._lock:
                if key in self.objects and not self.objects[key].deleted:
                    finalizers = list(self.objects[key].get("metadata", {}).get("finalizers") or [])
                    if FOREGROUND not in finalizers:
                        self.objects[key].patch({"metadata": {"finalizers": [*finalizers, FOREGROUND]}})
        return await super()._handle(request)

    async def _server_side_apply(self, request: Any) -> None:
        """Server-side apply by one field manager, of an object that exists: the object's labels,
        annotations and spec become the applied ones (what that manager dropped is removed);
        kmock's merge patch then writes them. The API server refuses an apply without a
        fieldManager; so does this."""
        if not request.params.get("fieldManager"):
            raise kmock.KubernetesError(status=400, reason="BadRequest", message="PATCH: fieldManager is required")
        key = (request.resource, request.namespace, request.name)
        async with self._lock:
            if key in self.objects and not self.objects[key].deleted:
                self.objects[key].patch({"metadata": {"labels": None, "annotations": None}, "spec": None})


class EmulatedCluster:
    """The emulator served on a loopback port from its own thread."""

    def __init__(self, *, keep_requests: bool = True) -> None:
        """``keep_requests=False`` for many requests (benchmarks): see :class:`_Emulator`."""
        self.keep_requests = keep_requests
        self.url = ""
        self.logs: dict[tuple[str, str], bytearray] = {}
        self.logs_lock = threading.Lock()
        self._refusal: tuple[int, str, str, bool] | None = None
        self._forbidden_paths: set[str] = set()
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._emulator: _Emulator | None = None
        self._thread = threading.Thread(target=self._run, name="kmock-emulator", daemon=True)

    def start(self) -> EmulatedCluster:
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("the Kubernetes emulator did not start within 15 s")
        if self._failed is not None:
            raise RuntimeError("the Kubernetes emulator did not start") from self._failed
        return self

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)

    def refuse(self, status: int, reason: str, message: str, *, echo_authorization: bool = False) -> None:
        """Answer every request with ``status`` from now on (None: ``allow()``). With
        ``echo_authorization`` the message repeats the request's Authorization header, as a
        careless proxy might."""
        self._refusal = (status, reason, message, echo_authorization)

    def allow(self) -> None:
        self._refusal = None
        self._forbidden_paths.clear()

    def forbid(self, path: str) -> None:
        """Answer 403 to every request for exactly ``path`` (RBAC that does not grant it),
        e.g. ``/api/v1/pods``: listing pods in all namespaces; until ``allow()``."""
        self._forbidden_paths.add(path)

    def forget_objects(self) -> None:
        """Drop every object, as if the API server were new (benchmark rounds start from one:
        kmock finds an object by walking all of them, so each request costs more the more it
        holds)."""
        assert self._loop is not None and self._emulator is not None
        emulator = self._emulator

        async def clear() -> None:
            async with emulator._lock:
                emulator.objects.clear()

        asyncio.run_coroutine_threadsafe(clear(), self._loop).result(15)

    def requests(self, method: str | None = None) -> list[Any]:
        """What the emulator received (kmock's parsed requests), oldest first."""
        assert self._emulator is not None
        seen = list(self._emulator)
        return [r for r in seen if method is None or str(r.method.value).upper() == method.upper()]

    # -- inside the emulator's loop -----------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start()
            self._failed = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with _Emulator(keep_requests=self.keep_requests) as emulator, kmock.Server(emulator) as server:
            self._emulator = emulator
            for key, (kind, namespaced) in RESOURCES.items():
                emulator.resources[key] = kmock.ResourceInfo(kind=kind, namespaced=namespaced)
            # Registered first: it wins over every other reaction while it is on.
            emulator[lambda: self._refusal is not None] << self._refuse_now
            emulator[lambda request: request.url.path in self._forbidden_paths] << self._forbid_now
            emulator[kmock.resource("v1/pods"), kmock.subresource("log")] << self._serve_log
            self.url = f"http://127.0.0.1:{server.port}"
            self._ready.set()
            await self._stop.wait()

    def _refuse_now(self, request: Any) -> Any:
        assert self._refusal is not None
        status, reason, message, echo = self._refusal
        if echo:
            message = f"{message} (you sent Authorization: {request.headers.get('Authorization', '')})"
        raise kmock.KubernetesError(status=status, reason=reason, message=message, details={})

    def _forbid_now(self, request: Any) -> Any:
        raise kmock.KubernetesError(
            status=403,
            reason="Forbidden",
            message=f'{request.url.path} is forbidden: User "paddock" cannot list it at the cluster scope',
            details={},
        )

    def _serve_log(self, request: Any) -> bytes:
        assert self._emulator is not None
        key = (request.resource, request.namespace, request.name)
        if key not in self._emulator.objects or self._emulator.objects[key].deleted:
            raise kmock.KubernetesError(status=404, reason="NotFound", message=f'pods "{request.name}" not found')
        container = request.params.get("container", "job")
        pod = self._emulator.objects[key].raw
        names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        if container not in names:
            raise kmock.KubernetesError(
                status=400,
                reason="BadRequest",
                message=f"container {container} is not valid for pod {request.name}",
            )
        statuses = {c.get("name"): c for c in (pod.get("status") or {}).get("containerStatuses") or []}
        state = (statuses.get(container) or {}).get("state") or {}
        if not state.get("running") and not state.get("terminated"):
            raise kmock.KubernetesError(
                status=400,
                reason="BadRequest",
                message=f'container "{container}" in pod "{request.name}" is waiting to start: ContainerCreating',
            )
        with self.logs_lock:
            data = bytes(self.logs.get((str(request.namespace), str(request.name)), b""))
        if "limitBytes" in request.params:
            data = data[: int(request.params["limitBytes"])]
        return data


class Controller:
    """Plays Kubernetes' controllers against the emulator, over its HTTP API."""

    def __init__(self, cluster: EmulatedCluster, namespace: str = NAMESPACE) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.http = requests.Session()
        self._serial = itertools.count()

    # -- plumbing ------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return self.cluster.url + path

    def _jobs(self) -> str:
        return f"/apis/batch/v1/namespaces/{self.namespace}/jobs"

    def _pods(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods"

    def _get(self, path: str) -> Any:
        response = self.http.get(self._url(path), timeout=5)
        response.raise_for_status()
        return response.json()

    def _patch(self, path: str, body: Mapping[str, Any]) -> Any:
        response = self.http.patch(
            self._url(path), json=body, headers={"Content-Type": "application/merge-patch+json"}, timeout=5
        )
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        response = self.http.post(self._url(path), json=body, timeout=5)
        response.raise_for_status()
        return response.json()

    def _delete(self, path: str) -> None:
        response = self.http.delete(self._url(path), timeout=5)
        if response.status_code != 404:
            response.raise_for_status()

    # -- reading -------------------------------------------------------------------------
    def job(self, remote_id: str) -> dict[str, Any]:
        return self._get(f"{self._jobs()}/{object_name(remote_id)}")  # type: ignore[no-any-return]

    def has_job(self, remote_id: str) -> bool:
        return self.http.get(self._url(f"{self._jobs()}/{object_name(remote_id)}"), timeout=5).status_code == 200

    def objects(self, path: str) -> list[dict[str, Any]]:
        return list(self._get(path)["items"])

    def pods(self, remote_id: str) -> list[dict[str, Any]]:
        name = object_name(remote_id)
        return [
            pod
            for pod in self.objects(self._pods())
            if any((pod["metadata"].get("labels") or {}).get(label) == name for label in JOB_NAME_LABELS)
        ]

    # -- nodes (the kubelet and GPU Feature Discovery) ---------------------------------------
    def seed_node(
        self,
        name: str,
        *,
        cpus: str = "4",
        memory: str = "16Gi",
        gpus: int = 0,
        product: str = "",
        gpu_memory_mib: int | None = None,
        mig_strategy: str = "",
        labels: Mapping[str, str] | None = None,
        extended: Mapping[str, str] | None = None,
        ready: bool = True,
        cordoned: bool = False,
        taints: tuple[Mapping[str, str], ...] = (),
        control_plane: bool = False,
        address: str = "",
    ) -> dict[str, Any]:
        node_labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", **(labels or {})}
        if control_plane:
            node_labels["node-role.kubernetes.io/control-plane"] = ""
        if gpus:
            node_labels["nvidia.com/gpu.present"] = "true"
            node_labels["nvidia.com/gpu.count"] = str(gpus)
            if product:
                node_labels[GPU_PRODUCT_LABEL] = product
            if gpu_memory_mib is not None:
                node_labels["nvidia.com/gpu.memory"] = str(gpu_memory_mib)
            if mig_strategy:
                node_labels["nvidia.com/mig.strategy"] = mig_strategy
        allocatable = {"cpu": cpus, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi", **(extended or {})}
        if gpus:
            allocatable[GPU_RESOURCE] = str(gpus)
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": node_labels, "creationTimestamp": now()},
            "spec": {"unschedulable": True} if cordoned else {},
            "status": {
                "allocatable": allocatable,
                "capacity": dict(allocatable),
                "conditions": [{"type": "Ready", "status": "True" if ready else "Unknown", "reason": "KubeletReady"}],
                "addresses": [
                    {"type": "InternalIP", "address": address or f"10.0.0.{next(self._serial) + 10}"},
                    {"type": "Hostname", "address": name},
                ],
            },
        }
        if taints:
            node["spec"]["taints"] = [dict(taint) for taint in taints]  # type: ignore[index]
        return self._post("/api/v1/nodes", node)  # type: ignore[no-any-return]

    def node(self, name: str) -> dict[str, Any]:
        return self._get(f"/api/v1/nodes/{name}")  # type: ignore[no-any-return]

    def kubectl_cordon(self, name: str, cordoned: bool = True) -> None:
        """Someone runs ``kubectl cordon`` (or ``uncordon``) on the node, outside Paddock."""
        self._patch(f"/api/v1/nodes/{name}", {"spec": {"unschedulable": cordoned}})

    # -- the Job controller and the kubelet ------------------------------------------------
    def create_pod(self, remote_id: str, *, node: str | None = "node-0", index: int | None = None) -> str:
        """The Job controller makes a pod from the Job's template (the scheduler binds it to
        ``node``; None leaves it unbound)."""
        job = self.job(remote_id)
        name = job["metadata"]["name"]
        template = job["spec"]["template"]
        labels = {**(template.get("metadata", {}).get("labels") or {}), **dict.fromkeys(JOB_NAME_LABELS, name)}
        annotations: dict[str, str] = {}
        if index is not None:
            labels[INDEX_LABEL] = str(index)
            annotations[INDEX_LABEL] = str(index)
        pod_name = f"{name}-{'' if index is None else f'{index}-'}{uuid.uuid4().hex[:5]}"
        spec = dict(template["spec"])
        if node:
            spec["nodeName"] = node
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "namespace": self.namespace,
                "labels": labels,
                "annotations": annotations,
                "creationTimestamp": now(),
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "controller": True}],
            },
            "spec": spec,
            "status": {"phase": "Pending"},
        }
        self._post(self._pods(), pod)
        status = job.get("status") or {}
        self._patch(
            f"{self._jobs()}/{name}/status",
            {"status": {"startTime": status.get("startTime") or now(), "active": int(status.get("active", 0)) + 1}},
        )
        return pod_name

    def pod(self, remote_id: str) -> str:
        """The job's newest pod, made (bound to node-0) if it has none."""
        pods = self.pods(remote_id)
        if not pods:
            return self.create_pod(remote_id)
        return str(max(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""))["metadata"]["name"])

    def set_pod(self, pod_name: str, status: Mapping[str, Any]) -> None:
        self._patch(f"{self._pods()}/{pod_name}/status", {"status": dict(status)})

    def run(self, remote_id: str) -> str:
        pod = self.pod(remote_id)
        self.set_pod(
            pod,
            {
                "phase": "Running",
                "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "job", "ready": True, "state": {"running": {"startedAt": now()}}}],
            },
        )
        return pod

    def succeed(self, remote_id: str) -> None:
        pod = self.pod(remote_id)
        self._end_container(pod, "Succeeded", exit_code=0, reason="Completed")
        stamp = now()
        self._job_status(
            remote_id,
            {
                "active": 0,
                "succeeded": 1,
                "completionTime": stamp,
                "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": stamp},
                    {"type": "Complete", "status": "True", "lastTransitionTime": stamp},
                ],
            },
        )

    def fail(self, remote_id: str, *, exit_code: int = 1, message: str = "", reason: str = "Error") -> None:
        pod = self.pod(remote_id)
        self._end_container(pod, "Failed", exit_code=exit_code, reason=reason, message=message)
        self._fail_job(remote_id)

    def evict(self, remote_id: str, message: str = "The node was low on resource: memory.") -> None:
        pod = self.pod(remote_id)
        self.set_pod(pod, {"phase": "Failed", "reason": "Evicted", "message": message})
        self._fail_job(remote_id)

    def lose_node(self, remote_id: str) -> None:
        """The node went away: the taint manager deletes the pod (DisruptionTarget)."""
        pod = self.pod(remote_id)
        self.set_pod(
            pod,
            {
                "phase": "Failed",
                "conditions": [
                    {
                        "type": "DisruptionTarget",
                        "status": "True",
                        "reason": "DeletionByTaintManager",
                        "message": "Taint manager: deleting due to NoExecute taint",
                    }
                ],
                "containerStatuses": [
                    {"name": "job", "state": {"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": now()}}}
                ],
            },
        )
        self._fail_job(remote_id)

    def unschedulable(self, remote_id: str, message: str) -> None:
        pod = self.create_pod(remote_id, node=None)
        self.set_pod(
            pod,
            {
                "phase": "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
                ],
            },
        )

    def pull_image_fails(self, remote_id: str, reason: str = "ImagePullBackOff", message: str = "") -> None:
        pod = self.pod(remote_id)
        self.set_pod(
            pod,
            {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "True"}],
                "containerStatuses": [
                    {
                        "name": "job",
                        "image": "registry.example/none:1",
                        "state": {"waiting": {"reason": reason, "message": message}},
                    }
                ],
            },
        )

    def suspend(self, remote_id: str) -> None:
        self._patch(f"{self._jobs()}/{object_name(remote_id)}", {"spec": {"suspend": True}})
        self._job_status(remote_id, {"conditions": [{"type": "Suspended", "status": "True", "reason": "JobSuspended"}]})

    def write_log(self, remote_id: str, text: str | bytes, *, pod: str | None = None) -> None:
        pod_name = pod or self.pod(remote_id)
        with self.cluster.logs_lock:
            log = self.cluster.logs.setdefault((self.namespace, pod_name), bytearray())
            log += text.encode() if isinstance(text, str) else text

    def delete_job(self, remote_id: str) -> None:
        """Someone deletes the Job outside Paddock, without waiting for its pods."""
        self._delete(f"{self._jobs()}/{object_name(remote_id)}")

    # -- the garbage collector -----------------------------------------------------------
    def collect_garbage(self) -> None:
        """Finish every foreground deletion: delete the Jobs' pods, then drop the finalizer."""
        for path in (self._jobs(), f"/api/v1/namespaces/{self.namespace}/services"):
            for item in self.objects(path):
                metadata = item["metadata"]
                finalizers = metadata.get("finalizers") or []
                if not metadata.get("deletionTimestamp") or FOREGROUND not in finalizers:
                    continue
                if item.get("kind") == "Job" or path == self._jobs():
                    for pod in self.objects(self._pods()):
                        if (pod["metadata"].get("labels") or {}).get("job-name") == metadata["name"]:
                            self._delete(f"{self._pods()}/{pod['metadata']['name']}")
                rest = [name for name in finalizers if name != FOREGROUND]
                self._patch(f"{path}/{metadata['name']}", {"metadata": {"finalizers": rest}})

    # -- the Deployment controller, the scheduler and the kubelet, for serving ---------------
    def _deployments(self) -> str:
        return f"/apis/apps/v1/namespaces/{self.namespace}/deployments"

    def deployment(self, name: str) -> dict[str, Any]:
        return self._get(f"{self._deployments()}/{name}")  # type: ignore[no-any-return]

    def has(self, path: str) -> bool:
        return self.http.get(self._url(path), timeout=5).status_code == 200

    def deployment_pods(self, name: str) -> list[dict[str, Any]]:
        return [
            pod
            for pod in self.objects(self._pods())
            if any(ref.get("name") == f"{name}-rs" for ref in pod["metadata"].get("ownerReferences") or [])
        ]

    def delete(self, path: str) -> None:
        """Someone deletes an object outside Paddock."""
        self._delete(path)

    def put_object(self, path: str, manifest: Mapping[str, Any]) -> Any:
        """Someone else creates an object (another tool's, or one in Paddock's way)."""
        return self._post(path, manifest)

    def start_replicas(self, name: str, count: int | None = None, *, node: str | None = "node-0") -> list[str]:
        """The Deployment controller makes pods from its template up to ``count`` (default: its
        replicas), bound to ``node`` and not ready yet."""
        deployment = self.deployment(name)
        wanted = int(deployment["spec"].get("replicas", 1)) if count is None else count
        have = self.deployment_pods(name)
        template = deployment["spec"]["template"]
        made = [pod["metadata"]["name"] for pod in have]
        for _ in range(wanted - len(have)):
            spec = dict(template["spec"])
            if node:
                spec["nodeName"] = node
            pod_name = f"{name}-6d9f{next(self._serial) % 10}c-{uuid.uuid4().hex[:5]}"
            self._post(
                self._pods(),
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": pod_name,
                        "namespace": self.namespace,
                        "labels": {**(template["metadata"].get("labels") or {}), "pod-template-hash": "6d9f"},
                        "creationTimestamp": now(),
                        "ownerReferences": [
                            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{name}-rs", "controller": True}
                        ],
                    },
                    "spec": spec,
                    "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]},
                },
            )
            made.append(pod_name)
        self._deployment_status(name)
        return made

    def make_ready(self, name: str, count: int | None = None) -> None:
        """``count`` of its replicas (default: all it wants) pass their readiness probe; once
        all are, the rollout is complete (Progressing: NewReplicaSetAvailable)."""
        pods = self.start_replicas(name, count)
        wanted = len(pods) if count is None else count
        for pod_name in pods[:wanted]:
            self.set_pod(
                pod_name,
                {
                    "phase": "Running",
                    "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
                    "containerStatuses": [
                        {"name": "server", "ready": True, "restartCount": 0, "state": {"running": {"startedAt": now()}}}
                    ],
                },
            )
        self._deployment_status(name)

    def crash_loop(self, name: str, message: str, *, exit_code: int = 1) -> None:
        """Every replica's container exits at start, again and again (the kubelet backs off)."""
        for pod_name in self.start_replicas(name):
            self._waiting(pod_name, "CrashLoopBackOff", "back-off 40s restarting failed container", exit_code, message)
        self._deployment_status(name)

    def image_pull_fails(self, name: str, message: str = "") -> None:
        for pod_name in self.start_replicas(name):
            self._waiting(pod_name, "ImagePullBackOff", message or "Back-off pulling image", None, "")
        self._deployment_status(name)

    def replicas_unschedulable(self, name: str, message: str) -> None:
        for pod_name in self.start_replicas(name, node=None):
            self.set_pod(
                pod_name,
                {
                    "phase": "Pending",
                    "conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
                    ],
                },
            )
        self._deployment_status(name)

    def progress_deadline_exceeded(self, name: str) -> None:
        self._deployment_status(
            name,
            progressing={
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{name}-rs" has timed out progressing.',
            },
        )

    def _waiting(self, pod: str, reason: str, message: str, exit_code: int | None, last_message: str) -> None:
        container: dict[str, Any] = {
            "name": "server",
            "ready": False,
            "restartCount": 4,
            "image": "vllm/vllm-openai",
            "state": {"waiting": {"reason": reason, "message": message}},
        }
        if exit_code is not None:
            container["lastState"] = {
                "terminated": {"exitCode": exit_code, "reason": "Error", "message": last_message, "finishedAt": now()}
            }
        self.set_pod(
            pod,
            {
                "phase": "Running",
                "conditions": [{"type": "PodScheduled", "status": "True"}],
                "containerStatuses": [container],
            },
        )

    def _deployment_status(self, name: str, *, progressing: Mapping[str, Any] | None = None) -> None:
        """The Deployment controller's status from the pods: replicas, ready, conditions."""
        deployment = self.deployment(name)
        wanted = int(deployment["spec"].get("replicas", 1))
        pods = self.deployment_pods(name)
        ready = sum(
            1
            for pod in pods
            if any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in pod["status"].get("conditions") or []
            )
        )
        previous = {c["type"]: c for c in (deployment.get("status") or {}).get("conditions") or []}
        done = ready >= wanted
        progress = progressing or (
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "complete"}
            if done or (previous.get("Progressing") or {}).get("reason") == "NewReplicaSetAvailable"
            else {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": "progressing"}
        )
        self._patch(
            f"{self._deployments()}/{name}/status",
            {
                "status": {
                    "observedGeneration": 1,
                    "replicas": len(pods),
                    "updatedReplicas": len(pods),
                    "readyReplicas": ready,
                    "availableReplicas": ready,
                    "unavailableReplicas": max(wanted - ready, 0),
                    "conditions": [
                        {
                            "type": "Available",
                            "status": "True" if done else "False",
                            "reason": "MinimumReplicasAvailable",
                        },
                        dict(progress),
                    ],
                }
            },
        )

    # -- internals -----------------------------------------------------------------------
    def _end_container(self, pod: str, phase: str, *, exit_code: int, reason: str, message: str = "") -> None:
        terminated: dict[str, Any] = {"exitCode": exit_code, "reason": reason, "finishedAt": now()}
        if message:
            terminated["message"] = message
        self.set_pod(
            pod,
            {
                "phase": phase,
                "containerStatuses": [{"name": "job", "ready": False, "state": {"terminated": terminated}}],
            },
        )

    def _fail_job(self, remote_id: str) -> None:
        stamp = now()
        self._job_status(
            remote_id,
            {
                "active": 0,
                "failed": 1,
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                        "lastTransitionTime": stamp,
                    }
                ],
            },
        )

    def _job_status(self, remote_id: str, status: Mapping[str, Any]) -> None:
        job = self.job(remote_id)
        merged = {"startTime": (job.get("status") or {}).get("startTime") or now(), **status}
        self._patch(f"{self._jobs()}/{object_name(remote_id)}/status", {"status": merged})

    # -- the JobSet controller and the KubeRay operator --------------------------------------
    def _jobsets(self) -> str:
        return f"/apis/jobset.x-k8s.io/v1alpha2/namespaces/{self.namespace}/jobsets"

    def _rayjobs(self) -> str:
        return f"/apis/ray.io/v1/namespaces/{self.namespace}/rayjobs"

    # -- JobSet ----------------------------------------------------------------------------
    def jobset(self, remote_id: str) -> dict[str, Any]:
        return self._get(f"{self._jobsets()}/{object_name(remote_id)}")  # type: ignore[no-any-return]

    def jobset_pods(self, remote_id: str) -> list[dict[str, Any]]:
        name = object_name(remote_id)
        pods = self.objects(self._pods())
        return [pod for pod in pods if (pod["metadata"].get("labels") or {}).get(JOBSET_NAME_LABEL) == name]

    def start_jobset(self, remote_id: str, nodes: list[str | None]) -> list[str]:
        """The JobSet controller makes its one replicated Job (``<name>-<replicated>-0``), whose
        Indexed pods (one per entry of ``nodes``: where the scheduler bound it, None: unbound)
        carry JobSet's labels and their completion index. Pod names, by rank."""
        jobset = self.jobset(remote_id)
        name = jobset["metadata"]["name"]
        (replicated,) = jobset["spec"]["replicatedJobs"]
        job_name = f"{name}-{replicated['name']}-0"
        template = replicated["template"]["spec"]["template"]
        made = []
        for index, node in enumerate(nodes):
            labels = {
                **(template.get("metadata", {}).get("labels") or {}),
                **dict.fromkeys(JOB_NAME_LABELS, job_name),
                JOBSET_NAME_LABEL: name,
                "jobset.sigs.k8s.io/replicatedjob-name": replicated["name"],
                JOBSET_JOB_INDEX_LABEL: "0",
                INDEX_LABEL: str(index),
            }
            spec = dict(template["spec"])
            if node:
                spec["nodeName"] = node
            pod_name = f"{job_name}-{index}-{uuid.uuid4().hex[:5]}"
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod_name,
                    "namespace": self.namespace,
                    "labels": labels,
                    "annotations": {INDEX_LABEL: str(index)},
                    "creationTimestamp": now(),
                    "ownerReferences": [
                        {"apiVersion": "batch/v1", "kind": "Job", "name": job_name, "controller": True}
                    ],
                },
                "spec": spec,
                "status": {"phase": "Pending"},
            }
            self._post(self._pods(), pod)
            made.append(pod_name)
        self._jobset_status(remote_id, {"replicatedJobsStatus": [{"name": replicated["name"], "active": 1}]})
        return made

    def run_jobset(self, remote_id: str) -> None:
        for pod in self.jobset_pods(remote_id):
            self.set_pod(
                pod["metadata"]["name"],
                {
                    "phase": "Running",
                    "startTime": now(),
                    "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": "job", "ready": True, "state": {"running": {"startedAt": now()}}}],
                },
            )

    def succeed_jobset(self, remote_id: str) -> None:
        for pod in self.jobset_pods(remote_id):
            self._end_container(pod["metadata"]["name"], "Succeeded", exit_code=0, reason="Completed")
        stamp = now()
        self._jobset_status(
            remote_id,
            {
                "terminalState": "Completed",
                "replicatedJobsStatus": [{"name": "node", "succeeded": 1}],
                "conditions": [
                    {
                        "type": "Completed",
                        "status": "True",
                        "reason": "AllJobsCompleted",
                        "message": "jobset completed successfully",
                        "lastTransitionTime": stamp,
                    }
                ],
            },
        )

    def fail_jobset(
        self, remote_id: str, *, rank: int, exit_code: int = 1, message: str = "", evicted: bool = False
    ) -> None:
        """Rank ``rank`` fails (or its pod is evicted); JobSet then ends the other ranks (137)."""
        pods = sorted(self.jobset_pods(remote_id), key=lambda p: int(p["metadata"]["labels"][INDEX_LABEL]))
        cause = pods[rank]["metadata"]["name"]
        if evicted:
            killed = {"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": now()}}
            self.set_pod(
                cause,
                {
                    "phase": "Failed",
                    "reason": "Evicted",
                    "message": message or "low on memory",
                    "containerStatuses": [{"name": "job", "state": killed}],
                },
            )
        else:
            self._end_container(cause, "Failed", exit_code=exit_code, reason="Error", message=message)
        time.sleep(0.002)  # the others end after the cause
        for pod in pods:
            if pod["metadata"]["name"] != cause:
                self._end_container(pod["metadata"]["name"], "Failed", exit_code=137, reason="Error")
        self._jobset_status(
            remote_id,
            {
                "terminalState": "Failed",
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "FailedJobs",
                        "message": "jobset failed due to one or more job failures",
                        "lastTransitionTime": now(),
                    }
                ],
            },
        )

    def suspend_jobset(self, remote_id: str) -> None:
        self._patch(f"{self._jobsets()}/{object_name(remote_id)}", {"spec": {"suspend": True}})
        self._jobset_status(
            remote_id, {"conditions": [{"type": "Suspended", "status": "True", "reason": "SuspendedJobs"}]}
        )

    def _jobset_status(self, remote_id: str, status: Mapping[str, Any]) -> None:
        self._patch(f"{self._jobsets()}/{object_name(remote_id)}/status", {"status": dict(status)})

    # -- KubeRay ---------------------------------------------------------------------------
    def rayjob(self, remote_id: str) -> dict[str, Any]:
        return self._get(f"{self._rayjobs()}/{object_name(remote_id)}")  # type: ignore[no-any-return]

    def start_ray_cluster(self, remote_id: str, *, bound: bool = True) -> str:
        """The operator makes the RayJob's RayCluster: a head pod and its workers (bound to
        node-0, or unbound), and says so in the RayJob's status. The cluster's name."""
        rayjob = self.rayjob(remote_id)
        name = rayjob["metadata"]["name"]
        cluster = f"{name}-{uuid.uuid4().hex[:5]}"
        spec = rayjob["spec"]["rayClusterSpec"]
        groups = [("head", spec["headGroupSpec"]["template"], 1)]
        groups += [("worker", group["template"], int(group["replicas"])) for group in spec["workerGroupSpecs"]]
        for node_type, template, count in groups:
            for index in range(count):
                pod_spec = dict(template["spec"])
                if bound:
                    pod_spec["nodeName"] = "node-0"
                labels = {
                    **(template.get("metadata", {}).get("labels") or {}),
                    RAY_CLUSTER_LABEL: cluster,
                    RAY_NODE_TYPE_LABEL: node_type,
                }
                pod = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{cluster}-{node_type}-{index}",
                        "namespace": self.namespace,
                        "labels": labels,
                        "creationTimestamp": now(),
                    },
                    "spec": pod_spec,
                    "status": {"phase": "Pending"},
                }
                self._post(self._pods(), pod)
        self.set_rayjob(remote_id, deployment="Initializing", rayClusterName=cluster)
        return cluster

    def ray_cluster_unschedulable(self, remote_id: str, message: str) -> None:
        cluster = self.rayjob(remote_id)["status"]["rayClusterName"]
        for pod in self.objects(self._pods()):
            if (pod["metadata"].get("labels") or {}).get(RAY_CLUSTER_LABEL) == cluster:
                self.set_pod(
                    pod["metadata"]["name"],
                    {
                        "phase": "Pending",
                        "conditions": [
                            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
                        ],
                    },
                )

    def submit_ray_job(self, remote_id: str) -> str:
        """The Ray cluster is up: its pods run and the submitter (a Job named as the RayJob,
        owned by it) starts; the Ray job runs. The submitter pod's name."""
        rayjob = self.rayjob(remote_id)
        name = rayjob["metadata"]["name"]
        cluster = rayjob["status"]["rayClusterName"]
        for pod in self.objects(self._pods()):
            labels = pod["metadata"].get("labels") or {}
            if labels.get(RAY_CLUSTER_LABEL) == cluster:
                container = pod["spec"]["containers"][0]["name"]
                self.set_pod(
                    pod["metadata"]["name"],
                    {
                        "phase": "Running",
                        "containerStatuses": [{"name": container, "state": {"running": {"startedAt": now()}}}],
                    },
                )
        owner = [{"apiVersion": "ray.io/v1", "kind": "RayJob", "name": name, "controller": True}]
        self._post(
            self._jobs(),
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {
                    "name": name,
                    "namespace": self.namespace,
                    "ownerReferences": owner,
                    "labels": {"ray.io/originated-from-crd": "RayJob"},
                },
                "spec": {"template": {"spec": {"containers": [{"name": "ray-job-submitter", "image": "ray"}]}}},
            },
        )
        submitter = f"{name}-{uuid.uuid4().hex[:5]}"
        self._post(
            self._pods(),
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": submitter,
                    "namespace": self.namespace,
                    "labels": dict.fromkeys(JOB_NAME_LABELS, name),
                    "creationTimestamp": now(),
                },
                "spec": {"containers": [{"name": "ray-job-submitter", "image": "ray"}]},
                "status": {
                    "phase": "Running",
                    "containerStatuses": [{"name": "ray-job-submitter", "state": {"running": {"startedAt": now()}}}],
                },
            },
        )
        self.set_rayjob(remote_id, job_status="RUNNING", deployment="Running", startTime=now())
        return submitter

    def set_rayjob(
        self,
        remote_id: str,
        *,
        job_status: str | None = None,
        deployment: str | None = None,
        message: str | None = None,
        reason: str | None = None,
        **fields: Any,
    ) -> None:
        """What KubeRay writes in the RayJob's status (``jobStatus`` is Ray's, the rest KubeRay's)."""
        status: dict[str, Any] = dict(fields)
        for key, value in (
            ("jobStatus", job_status),
            ("jobDeploymentStatus", deployment),
            ("message", message),
            ("reason", reason),
        ):
            if value is not None:
                status[key] = value
        self._patch(f"{self._rayjobs()}/{object_name(remote_id)}/status", {"status": status})

    # -- the garbage collector, for these kinds ------------------------------------------
    def collect_custom_garbage(self) -> None:
        """Finish foreground deletions of JobSets and RayJobs: their pods go, then the finalizer."""
        for path, owns in (
            (self._jobsets(), lambda labels, item: labels.get(JOBSET_NAME_LABEL) == item["metadata"]["name"]),
            (
                self._rayjobs(),
                lambda labels, item: (
                    labels.get(RAY_CLUSTER_LABEL) == (item.get("status") or {}).get("rayClusterName", "-")
                    or labels.get("job-name") == item["metadata"]["name"]
                ),
            ),
        ):
            for item in self.objects(path):
                metadata = item["metadata"]
                finalizers = metadata.get("finalizers") or []
                if not metadata.get("deletionTimestamp") or FOREGROUND not in finalizers:
                    continue
                for pod in self.objects(self._pods()):
                    if owns(pod["metadata"].get("labels") or {}, item):
                        self._delete(f"{self._pods()}/{pod['metadata']['name']}")
                rest = [name for name in finalizers if name != FOREGROUND]
                self._patch(f"{path}/{metadata['name']}", {"metadata": {"finalizers": rest}})


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def exit_code_in(message: str, default: int = 1) -> int:
    match = re.search(r"exit code (-?\d+)", message)
    return int(match.group(1)) if match else default


@pytest.fixture
def k8s_cluster() -> Iterator[EmulatedCluster]:
    """A fresh emulated API server for one test."""
    cluster = EmulatedCluster().start()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def k8s_controller(k8s_cluster: EmulatedCluster) -> Controller:
    return Controller(k8s_cluster)


def kubeconfig(server: str, *, token: str = "", user: str = "") -> str:
    """A kubeconfig as an operator pastes one: context ``lab`` on ``server``, namespace
    ``paddock-jobs``, user ``paddock`` with an inline ``token`` (or ``user``: the user's own
    lines, indented four spaces, e.g. an ``exec`` block that must be refused)."""
    body = user or f"    token: {token}"
    return f"""apiVersion: v1
kind: Config
current-context: lab
clusters:
- name: lab
  cluster:
    server: {server}
contexts:
- name: lab
  context:
    cluster: lab
    user: paddock
    namespace: paddock-jobs
users:
- name: paddock
  user:
{body}
"""
