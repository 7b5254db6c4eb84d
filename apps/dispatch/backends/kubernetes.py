"""The Kubernetes adapter: runs Paddock jobs as Kubernetes Jobs, JobSets and KubeRay RayJobs.

The only module in Paddock that imports ``kubernetes``. It talks to the API server through the
official client's ``ApiClient`` (authentication, TLS, connection pool, timeouts), built from a
:class:`~apps.dispatch.kubeconfig.SafeKubeconfig` and nothing else: no kubeconfig file, no
``exec`` plugin, no environment. Requests go out by path and come back as plain dicts, so
one code path creates whatever :func:`~apps.dispatch.k8s_manifests.job_objects` builds and
nothing is spent turning answers into the client's models.

Every failure leaves as :class:`BackendError`; ``retryable`` is True when the API server could
not be reached, timed out or failed on its side (408, 429, 5xx), False when it refused what we
sent (400, 401, 403, 404, 409, 422). Credentials never appear in a message: every message is
scrubbed of them before it leaves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes.client.api_client import ApiClient
from kubernetes.client.configuration import Configuration
from kubernetes.client.exceptions import ApiException

from apps.dispatch.k8s_manifests import (
    GPU_PRODUCT_LABEL,
    GPU_RESOURCE,
    LABEL_ATTEMPT,
    LABEL_MANAGED,
    ClusterOptions,
    job_objects,
    object_name,
)
from apps.dispatch.k8s_serving import (
    ANNOTATION_APP,
    ANNOTATION_DEPLOYMENT_NAME,
    ANNOTATION_DIGEST,
    LABEL_ENDPOINT,
    LABEL_REVISION,
    merge_patch,
    service_url,
    serving_objects,
)
from apps.dispatch.kubeconfig import KubeconfigError, SafeKubeconfig
from apps.dispatch.port import (
    LOG_CHUNK_BYTES,
    ApplyResult,
    BackendError,
    Capacity,
    JobSpec,
    LogChunk,
    NodeInfo,
    ObjectKind,
    RemoteState,
    RemoteStatus,
    Resources,
    ServeApp,
    ServeApplyResult,
    ServeAppStatus,
    ServeDeploymentStatus,
    ServeState,
    SubmitResult,
)
from apps.dispatch.runtime_env import checked_for_dispatch


class Forbidden(BackendError):
    """The API server answered 403: the identity may not do this (RBAC)."""


CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
MESSAGE_LIMIT = 4000
JOB_CONTAINER = "job"  # the job's own container in the pod (k8s_manifests names it)
# Set by Paddock on a Job it stops, just before deleting it: while the foreground deletion
# runs the Job still answers, and says who stopped it and when.
STOPPED_ANNOTATION = "paddock.dev/stopped-at"
# The Job controller labels a Job's pods with both (``job-name`` alone before 1.27).
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
CORDONED_LABEL = "node.kubernetes.io/unschedulable"
TAINT_LABEL_PREFIX = "taint/"  # NodeInfo.labels["taint/<key>"] = "<value>:<effect>"
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
ACCELERATOR_PREFIX = "accelerator_type:"
# What a job that asked for an accelerator model holds of it, as Ray counts it (see ray.py).
ACCELERATOR_SHARE = 0.001
READ_PIECE = 64 * 1024

JOB = ("batch/v1", "Job")
JOBSET = ("jobset.x-k8s.io/v1alpha2", "JobSet")
RAYJOB = ("ray.io/v1", "RayJob")
# The kinds this adapter can create and follow (job_objects builds a JobSet or a RayJob only
# where the cluster's options say it has the CRD).
_PLURALS = {JOB: "jobs", ("v1", "Service"): "services", JOBSET: "jobsets", RAYJOB: "rayjobs"}
# JobSet labels the pods of its Jobs with its name and the Job's index within the replicated job.
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
JOBSET_JOB_INDEX_LABEL = "jobset.sigs.k8s.io/job-index"
# KubeRay: a RayCluster's pods carry its name and their type; the submitter (a Job named as the
# RayJob, owned by it) runs ``ray job submit`` and then follows the job's log.
RAY_CLUSTER_LABEL = "ray.io/cluster"
RAY_NODE_TYPE_LABEL = "ray.io/node-type"
RAY_SUBMITTER_CONTAINER = "ray-job-submitter"
# RayJob.status.jobDeploymentStatus values after which nothing more happens.
_RAY_DEPLOYMENT_ENDED = frozenset({"Complete", "Failed", "ValidationFailed"})
_RAY_JOB_ENDED = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
_EXIT_CODE = re.compile(r"exit code (-?\d+)")
# A pod that failed for one of these reasons failed because of the cluster, not its code.
_INFRASTRUCTURE_POD_REASONS = frozenset(
    {"Evicted", "DeadlineExceeded", "NodeLost", "Shutdown", "Terminated", "UnexpectedAdmissionError", "Preempting"}
)
# Why a pod waits, when it says: shown as the PENDING job's message.
_WAITING_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "CrashLoopBackOff",
    }
)
# Allocatable entries that are not compute a job asks for.
_NOT_CUSTOM = frozenset({"cpu", "memory", GPU_RESOURCE, "pods", "ephemeral-storage"})
_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_SCALE = {
    None: 1.0,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
# The API server's 400 for the log of a container that has not started ("… is waiting to start").
_NOT_STARTED = re.compile(rb"waiting to start|ContainerCreating|PodInitializing")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',()]+")


@dataclass(frozen=True)
class _Answer:
    status: int
    data: bytes


class KubernetesBackend:
    """A Kubernetes cluster reached through its API server, jobs in one namespace."""

    def __init__(
        self,
        address: str,
        credentials_json: str | None = None,
        options: ClusterOptions | None = None,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        read_timeout: float = READ_TIMEOUT_S,
    ) -> None:
        """``credentials_json`` is a stored :class:`SafeKubeconfig`; its server must be
        ``address``. Without one the API server is called anonymously (``kubectl proxy``,
        the tests' emulator). ``options`` default to the kubeconfig's namespace."""
        kubeconfig = _kubeconfig(address, credentials_json)
        self.server = kubeconfig.server.rstrip("/")
        self.options = options if options is not None else ClusterOptions(namespace=kubeconfig.namespace)
        if not _DNS_LABEL.match(self.options.namespace):
            raise BackendError(f"namespace {self.options.namespace!r} is not a DNS-1123 label", retryable=False)
        self._secrets = tuple(
            secret for secret in (kubeconfig.token, kubeconfig.client_key_data, kubeconfig.client_cert_data) if secret
        )
        self._auth = "token" if kubeconfig.token else "client-certificate" if kubeconfig.client_cert_data else "none"
        self._timeout = (connect_timeout, read_timeout)
        self._lock = threading.Lock()
        self._private_dir: str | None = None
        configuration = Configuration(host=self.server, retries=False)  # a failed call fails now: the caller retries
        configuration.verify_ssl = not kubeconfig.insecure_skip_tls_verify
        if kubeconfig.ca_data:
            # The client takes CA certificates inline (urllib3's ca_cert_data): no file needed.
            configuration.ca_cert_data = _pem(kubeconfig.ca_data, "ca_data").decode("ascii", "replace")
        if kubeconfig.client_cert_data or kubeconfig.client_key_data:
            if not (kubeconfig.client_cert_data and kubeconfig.client_key_data):
                raise BackendError("a client certificate needs both its certificate and its key", retryable=False)
            # urllib3 loads a client certificate only from files: write both to a directory only
            # this process's user can read, made here and removed with the backend.
            configuration.cert_file = self._private_file("client.crt", _pem(kubeconfig.client_cert_data, "cert"))
            configuration.key_file = self._private_file("client.key", _pem(kubeconfig.client_key_data, "key"))
        if kubeconfig.token:
            configuration.api_key = {"BearerToken": kubeconfig.token}
            configuration.api_key_prefix = {"BearerToken": "Bearer"}
        self._api = ApiClient(configuration)

    def __repr__(self) -> str:  # never shows a credential
        return f"KubernetesBackend({self.server!r}, namespace={self.options.namespace!r}, auth={self._auth})"

    def close(self) -> None:
        """Drop pooled connections and the private files (also done when the backend is collected)."""
        self._api.rest_client.close()
        if self._private_dir is not None:
            shutil.rmtree(self._private_dir, ignore_errors=True)

    @property
    def private_files(self) -> list[str]:
        """The files this backend wrote (a client certificate and key), for tests and audits."""
        if self._private_dir is None:
            return []
        return sorted(os.path.join(self._private_dir, name) for name in os.listdir(self._private_dir))

    # -- the port -----------------------------------------------------------------

    def ping(self) -> None:
        version = self._json(self._call("GET", "/version", action="ping"), "ping")
        if not isinstance(version, dict) or "gitVersion" not in version:
            raise BackendError(f"{self.server} answered, but not as a Kubernetes API server", retryable=False)

    def capacity(self) -> Capacity:
        """Allocatable of the Ready, schedulable nodes, less the requests of the pods bound
        to them that have not ended: in all namespaces where the identity may list them (other
        tenants use the nodes too), else (403: the shipped RBAC reads pods only where Paddock
        dispatches) in the job namespace, and the cluster's scheduler settles the rest."""
        nodes = {
            _name(node): node
            for node in self._list("/api/v1/nodes", action="capacity")
            if _ready(node) and not (node.get("spec") or {}).get("unschedulable")
        }
        live = [("fieldSelector", "status.phase!=Succeeded,status.phase!=Failed")]
        try:
            pods = self._list("/api/v1/pods", action="capacity", query=live)
        except Forbidden:
            pods = self._list(self._collection("v1", "Pod"), action="capacity", query=live)
        total = Resources()
        for node in nodes.values():
            total = total.plus(_node_resources(node))
        used = Resources()
        for pod in pods:
            host = nodes.get(str((pod.get("spec") or {}).get("nodeName") or ""))
            if host is not None and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                used = used.plus(_pod_demand(pod, host))
        return Capacity(total=total, available=total.minus(used), nodes=len(nodes))

    def submit(self, spec: JobSpec) -> SubmitResult:
        """Create each object :func:`job_objects` builds, in order; an object already there
        (HTTP 409) is read back and adopted when it belongs to this attempt.

        Code packages are not read here: the job's init container fetches each from Paddock's
        API, so ``PackageRef.load`` is never called."""
        if not spec.remote_id.strip() or not spec.entrypoint.strip():
            raise BackendError("a job needs a remote_id and an entrypoint", retryable=False)
        checked_for_dispatch(spec)  # refuses local paths and packages the job was not given
        try:
            objects = job_objects(spec, self.options)
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(
                f"cannot describe the job for Kubernetes: {self._scrub(str(exc))}", retryable=False
            ) from exc
        if not objects:
            raise BackendError("cannot describe the job for Kubernetes: no objects", retryable=False)
        for manifest in objects:
            kind = (str(manifest.get("apiVersion", "")), str(manifest.get("kind", "")))
            if kind not in _PLURALS:
                raise BackendError(
                    f"Paddock cannot run a {kind[1] or 'nameless'} ({kind[0]}) on Kubernetes", retryable=False
                )
        adopted = False
        for manifest in objects:
            adopted = self._create(manifest, spec.remote_id)
        return SubmitResult(remote_id=spec.remote_id, adopted=adopted)  # whether the workload (last) was there

    def status(self, remote_id: str) -> RemoteStatus:
        name = object_name(remote_id)
        found = self._workload(remote_id, action="status")
        if found is None:
            kinds = " or ".join(kind for _, kind in self._workload_kinds())
            return RemoteStatus(
                remote_id=remote_id,
                state=RemoteState.NOT_FOUND,
                message=f"Kubernetes has no {kinds} {name} in namespace {self.options.namespace}",
            )
        kind, workload = found
        if kind == JOBSET:
            ended_well = _condition(workload, "Completed") is not None
            pods = [] if ended_well else self._pods_labelled(JOBSET_NAME_LABEL, name, action="status")
            return jobset_status(remote_id, workload, pods)
        if kind == RAYJOB:
            ray_status = workload.get("status") or {}
            pods = [] if ray_status.get("jobStatus") == "SUCCEEDED" else self._ray_pods(workload, action="status")
            return rayjob_status(remote_id, workload, pods)
        if _condition(workload, "Failed") is not None or _condition(workload, "Complete") is None:
            pods = self._pods(name, action="status")
        else:
            pods = []  # a completed Job says all there is
        return job_status(remote_id, workload, pods)

    def stop(self, remote_id: str) -> bool:
        """Delete the job's Job, JobSet or RayJob with foreground propagation (its pods go first,
        then the object; a RayJob takes its Ray cluster and submitter with it) and the job's
        other objects (the Service of a multi-node Job). True when it had not ended.

        The object is annotated first, so while the deletion runs it reports STOPPED "by
        Paddock"; once it is gone it is NOT_FOUND, as for any object the cluster no longer has.
        """
        found = self._workload(remote_id, action="stop")
        active = False
        if found is not None:
            kind, workload = found
            path = self._path(kind[0], kind[1], _name(workload))
            if not _workload_ended(kind, workload) and not (workload.get("metadata") or {}).get("deletionTimestamp"):
                stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
                patch = {"metadata": {"annotations": {STOPPED_ANNOTATION: stamp}}}
                answer = self._call(
                    "PATCH", path, action="stop", body=patch, content_type="application/merge-patch+json", ok=(404,)
                )
                active = answer.status != 404 and self._delete(path, action="stop")
        services = self._list(
            self._collection("v1", "Service"), action="stop", query=[("labelSelector", f"{LABEL_ATTEMPT}={remote_id}")]
        )
        for service in services:
            if _labels(service).get(LABEL_ATTEMPT) == remote_id:  # filtered here too (a selector is a request)
                self._delete(self._path("v1", "Service", _name(service)), action="stop")
        return active

    def logs(self, remote_id: str, *, offset: int = 0, limit: int = LOG_CHUNK_BYTES) -> LogChunk:
        """The job's log: container ``job`` of its pod (rank 0 of a multi-node Job, the leader
        pod, job 0 rank 0, of a JobSet); of a RayJob, the submitter's, which follows the Ray
        job's log (the Ray head's own log while there is no submitter yet).

        The pod log API cannot start at a byte offset: it sends from the first byte, and
        ``limitBytes`` stops it after ``offset + limit + 1`` bytes (one more says whether there
        is more). The bytes before ``offset`` are dropped as they arrive, so memory stays
        within ``limit``; ``transferred`` counts all that came."""
        if offset < 0 or limit < 1:
            raise BackendError(f"bad log range: offset {offset}, limit {limit}", retryable=False)
        name = object_name(remote_id)
        # A Job's pods, or a RayJob's submitter's (KubeRay names the submitter Job as the RayJob).
        pod = _log_pod(self._pods(name, action="logs"))
        if pod is None and self.options.has_jobset:
            pod = _leader_pod(self._pods_labelled(JOBSET_NAME_LABEL, name, action="logs"))
        if pod is None and self.options.has_kuberay:
            rayjob = self._get(self._path(*RAYJOB, name), action="logs")
            if rayjob is not None:
                heads = [
                    p for p in self._ray_pods(rayjob, action="logs") if _labels(p).get(RAY_NODE_TYPE_LABEL) == "head"
                ]
                pod = _newest(heads) if heads else None
        if pod is None:
            return LogChunk(offset=offset)
        containers = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
        container = JOB_CONTAINER if JOB_CONTAINER in containers or not containers else containers[0]
        path = f"/api/v1/namespaces/{quote(self.options.namespace, safe='')}/pods/{quote(_name(pod), safe='')}/log"
        query = [("container", container), ("limitBytes", str(offset + limit + 1))]
        response = self._send("GET", path, action="logs", query=query, accept="text/plain, */*")
        try:
            if response.status != 200:
                text = response.response.data
                if response.status == 404 or (response.status == 400 and _NOT_STARTED.search(text)):
                    return LogChunk(offset=offset)  # the pod is gone, or its container has not started
                raise self._status_error(response.status, text, "logs")
            data, more, received = self._read_window(response.response, offset, limit)
        finally:
            response.response.release_conn()
        return LogChunk(offset=offset, data=data, more=more, transferred=received)

    def list_remote_ids(self) -> list[str]:
        ids: set[str] = set()
        for api_version, kind in self._workload_kinds():
            items = self._list(
                self._collection(api_version, kind),
                action=f"list {kind}s",
                query=[("labelSelector", LABEL_ATTEMPT)],
            )
            # Filtered here as well as by the selector: a server that ignores selectors (the
            # tests' emulator) must not make another tool's objects look like Paddock's.
            ids.update(_labels(item)[LABEL_ATTEMPT] for item in items if _labels(item).get(LABEL_ATTEMPT))
        return sorted(ids)

    def nodes(self) -> list[NodeInfo]:
        """Every Node object; GPU Feature Discovery labels pass through in ``labels``, with
        ``node.kubernetes.io/unschedulable=true`` on a cordoned node and each taint as
        ``taint/<key>`` = ``<value>:<effect>``."""
        return [node_info(node) for node in self._list("/api/v1/nodes", action="nodes")]

    def set_schedulable(self, node_name: str, schedulable: bool) -> bool:
        """Cordon (``schedulable`` False) or uncordon the Node, as ``kubectl cordon`` does: its
        ``spec.unschedulable``. Pods already on it keep running (Paddock evicts nothing). True
        when the Node changed; False when it already was so."""
        if not _DNS_SUBDOMAIN.match(node_name) or len(node_name) > 253:
            raise BackendError(f"{node_name!r} is not a Kubernetes node name", retryable=False)
        path = f"/api/v1/nodes/{quote(node_name, safe='')}"
        action = "uncordon node" if schedulable else "cordon node"
        node = self._get(path, action=action)
        if node is None:
            raise BackendError(f"{self._where(action)}: the cluster has no node {node_name}", retryable=False)
        if bool((node.get("spec") or {}).get("unschedulable")) != schedulable:
            return False
        # Merge patch: null removes the field, as kubectl uncordon leaves the Node.
        patch = {"spec": {"unschedulable": None if schedulable else True}}
        self._call("PATCH", path, action=action, body=patch, content_type="application/merge-patch+json")
        return True

    def serve_state(self) -> ServeState:
        """Paddock's serving objects now: each Deployment (a revision) as an app with its
        replicas and why it is not ready, each Service (an endpoint) as an app with its URL."""
        return serve_state_from(self._served(SERVE_OWNED_PREFIX), self.options.namespace)

    def serve_apply(
        self, apps: Sequence[ServeApp], *, owned_prefix: str, http_host: str, http_port: int
    ) -> ServeApplyResult:
        """Make the objects whose names start with ``owned_prefix`` and that carry Paddock's
        labels exactly what ``apps`` need (:func:`~apps.dispatch.k8s_serving.serving_objects`):
        created when missing, patched when their digest annotation differs, deleted when no app
        needs them. Objects that are not Paddock's are never written; one in the way (its name
        taken) stops the pass with an error. ``http_host``/``http_port`` do not apply: each
        endpoint has its own Service."""
        try:
            desired = serving_objects(apps, self.options, owned_prefix=owned_prefix)
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(
                f"cannot describe the apps for Kubernetes: {self._scrub(str(exc))}", retryable=False
            ) from exc
        observed = self._served(owned_prefix)
        state = serve_state_from(observed, self.options.namespace)
        current = {(kind, _name(item)): item for kind, items in observed.items() if kind != "Pod" for item in items}
        changed: set[str] = set()
        for manifest in desired:
            kind, name = str(manifest["kind"]), str(manifest["metadata"]["name"])
            existing = current.pop((kind, name), None)
            if existing is not None and _digest_of(existing) == manifest["metadata"]["annotations"][ANNOTATION_DIGEST]:
                continue
            changed.add(_app_of(manifest))
            if existing is None:
                self._serve_create(manifest)
            else:
                self._serve_patch(manifest)
        for (kind, name), item in current.items():  # owned and labelled, no longer wanted
            changed.add(_app_of(item))
            api_version, _ = _SERVE_KINDS[kind]
            self._call("DELETE", self._serve_path(api_version, kind, name), action=f"delete {kind}", ok=(404,))
        return ServeApplyResult(written=bool(changed), state=state, changed=tuple(sorted(changed)))

    def _served(self, owned_prefix: str) -> dict[str, list[dict[str, Any]]]:
        """Paddock's serving objects by kind: named with the prefix and labelled as Paddock's
        (filtered here too: a label selector is a request, and the emulator ignores it)."""
        found: dict[str, list[dict[str, Any]]] = {}
        for kind, (api_version, _) in _SERVE_KINDS.items():
            items = self._list(
                self._serve_path(api_version, kind), action=f"list {kind}s", query=[("labelSelector", _SERVE_SELECTOR)]
            )
            found[kind] = [item for item in items if _served_by_paddock(item, owned_prefix if kind != "Pod" else "")]
        return found

    def _serve_create(self, manifest: Mapping[str, Any]) -> None:
        kind, name = str(manifest["kind"]), str(manifest["metadata"]["name"])
        api_version = str(manifest["apiVersion"])
        answer = self._call(
            "POST", self._serve_path(api_version, kind), action=f"create {kind}", body=manifest, ok=(409,)
        )
        if answer.status == 409:  # its name is taken: by Paddock's (made meanwhile) or someone else's
            existing = self._get(self._serve_path(api_version, kind, name), action=f"read {kind}")
            if existing is not None and not _served_by_paddock(existing, ""):
                raise BackendError(
                    f"Kubernetes at {self.server}: a {kind} named {name} already exists in namespace "
                    f"{self.options.namespace} and is not Paddock's; Paddock leaves it alone (rename or remove it)",
                    retryable=False,
                )
            self._serve_patch(manifest)

    def _serve_patch(self, manifest: Mapping[str, Any]) -> None:
        kind, name = str(manifest["kind"]), str(manifest["metadata"]["name"])
        self._call(
            "PATCH",
            self._serve_path(str(manifest["apiVersion"]), kind, name),
            action=f"update {kind}",
            body=merge_patch(manifest),
            content_type="application/merge-patch+json",
        )

    def _serve_path(self, api_version: str, kind: str, name: str = "") -> str:
        plural = _SERVE_KINDS[kind][1]
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        path = f"{base}/namespaces/{quote(self.options.namespace, safe='')}/{plural}"
        return f"{path}/{quote(name, safe='')}" if name else path

    def apply_objects(
        self, objects: Sequence[Mapping[str, Any]], *, kinds: Sequence[ObjectKind], owner_label: tuple[str, str]
    ) -> ApplyResult:
        """Make Paddock's objects of ``kinds`` (those labelled ``owner_label``) exactly ``objects``.

        One list per kind, then: a missing object is created (POST: one of the same name that
        is not Paddock's answers 409 and is left as it is, ``refused``); an owned one whose
        digest annotation says it differs from what was last applied is updated by server-side
        apply (``fieldManager=paddock``, forced: Paddock's fields are Paddock's); an owned one no
        longer wanted is deleted, kinds in reverse order (a LocalQueue before its ClusterQueue).
        An object unchanged since it was last applied costs no write. Changes made by hand to
        an owned object are kept until its wanted state changes."""
        key, value = owner_label
        by_kind = {(kind.api_version, kind.kind): kind for kind in kinds}
        wanted: dict[tuple[str, str, str], tuple[ObjectKind, dict[str, Any], str]] = {}
        for manifest in objects:
            kind = by_kind.get((str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))))
            if kind is None:
                raise BackendError(
                    f"cannot apply a {manifest.get('kind')} ({manifest.get('apiVersion')}): not among the kinds given",
                    retryable=False,
                )
            body, digest = _owned_object(manifest, kind, owner_label, self.options.namespace)
            metadata = body["metadata"]
            ident = (kind.kind, str(metadata.get("namespace") or ""), str(metadata["name"]))
            if ident in wanted:
                raise BackendError(f"cannot apply {_object_label(*ident)} twice in one set", retryable=False)
            wanted[ident] = (kind, body, digest)

        owned: dict[tuple[str, str, str], tuple[ObjectKind, dict[str, Any]]] = {}
        for kind in kinds:
            items = self._list(
                _kind_collection(kind), action=f"list {kind.kind}", query=[("labelSelector", f"{key}={value}")]
            )
            for item in items:  # filtered here too: a selector is a request
                if _labels(item).get(key) == value:
                    metadata = item.get("metadata") or {}
                    owned[(kind.kind, str(metadata.get("namespace") or ""), _name(item))] = (kind, item)

        created: list[str] = []
        updated: list[str] = []
        unchanged: list[str] = []
        refused: list[str] = []
        messages: list[str] = []
        for ident, (kind, body, digest) in wanted.items():
            label = _object_label(*ident)
            live = owned[ident][1] if ident in owned else None
            if live is None:
                answer = self._call(
                    "POST", _kind_collection(kind, ident[1]), action=f"create {label}", body=body, ok=(409,)
                )
                if answer.status != 409:
                    created.append(label)
                    continue
                live = self._get(_kind_path(kind, ident[2], ident[1]), action=f"read {label}")
                if live is None or _labels(live).get(key) != value:
                    refused.append(label)
                    messages.append(f"{label} exists and is not Paddock's (no label {key}={value}): left as it is")
                    continue
            annotations = (live.get("metadata") or {}).get("annotations") or {}
            if annotations.get(APPLIED_DIGEST_ANNOTATION) == digest:
                unchanged.append(label)
                continue
            self._call(
                "PATCH",
                _kind_path(kind, ident[2], ident[1]),
                action=f"apply {label}",
                query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
                body=body,
                content_type="application/apply-patch+yaml",
            )
            updated.append(label)

        deleted: list[str] = []
        rank = {kind.kind: index for index, kind in enumerate(kinds)}
        for ident in sorted(set(owned) - set(wanted), key=lambda ident: (-rank[ident[0]], ident)):
            kind = owned[ident][0]
            label = _object_label(*ident)
            answer = self._call("DELETE", _kind_path(kind, ident[2], ident[1]), action=f"delete {label}", ok=(404,))
            if answer.status != 404:
                deleted.append(label)
        return ApplyResult(
            created=tuple(created),
            updated=tuple(updated),
            unchanged=tuple(unchanged),
            deleted=tuple(deleted),
            refused=tuple(refused),
            messages=tuple(messages),
        )

    # -- requests -----------------------------------------------------------------

    def _create(self, manifest: Mapping[str, Any], remote_id: str) -> bool:
        """Create one object; True when it was already there (adopted)."""
        api_version, kind = str(manifest["apiVersion"]), str(manifest["kind"])
        metadata = manifest.get("metadata") or {}
        namespace = str(metadata.get("namespace") or self.options.namespace)
        name = str(metadata.get("name") or "")
        answer = self._call(
            "POST", self._collection(api_version, kind, namespace), action=f"create {kind}", body=manifest, ok=(409,)
        )
        if answer.status != 409:
            return False
        existing = self._get(self._path(api_version, kind, name, namespace), action=f"read {kind}")
        if existing is None:
            # It went between our create and our read (deleted): create it once more.
            self._call("POST", self._collection(api_version, kind, namespace), action=f"create {kind}", body=manifest)
            return False
        owner = _labels(existing).get(LABEL_ATTEMPT)
        if owner != remote_id:
            raise BackendError(
                f"Kubernetes at {self.server}: a {kind} named {name} already exists in namespace {namespace} "
                f"and is not this job's (its {LABEL_ATTEMPT} label is {owner!r})",
                retryable=False,
            )
        return True

    def _delete(self, path: str, *, action: str) -> bool:
        """Delete with foreground propagation; False when it was already gone."""
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground"}
        return self._call("DELETE", path, action=action, body=body, ok=(404,)).status != 404

    def _get(self, path: str, *, action: str) -> dict[str, Any] | None:
        answer = self._call("GET", path, action=action, ok=(404,))
        if answer.status == 404:
            return None
        value = self._json(answer, action)
        if not isinstance(value, dict):
            raise BackendError(f"Kubernetes at {self.server}: {action}: not an object", retryable=False)
        return value

    def _list(self, path: str, *, action: str, query: Sequence[tuple[str, str]] = ()) -> list[dict[str, Any]]:
        value = self._json(self._call("GET", path, action=action, query=query), action)
        items = value.get("items") if isinstance(value, dict) else None
        if not isinstance(items, list):
            raise BackendError(f"Kubernetes at {self.server}: {action}: the answer is not a list", retryable=False)
        return [item for item in items if isinstance(item, dict)]

    def _pods(self, job_name: str, *, action: str) -> list[dict[str, Any]]:
        pods = self._list(
            self._collection("v1", "Pod"), action=action, query=[("labelSelector", f"{JOB_NAME_LABELS[1]}={job_name}")]
        )
        return [pod for pod in pods if any(_labels(pod).get(label) == job_name for label in JOB_NAME_LABELS)]

    def _pods_labelled(self, label: str, value: str, *, action: str) -> list[dict[str, Any]]:
        pods = self._list(self._collection("v1", "Pod"), action=action, query=[("labelSelector", f"{label}={value}")])
        return [pod for pod in pods if _labels(pod).get(label) == value]

    def _ray_pods(self, rayjob: Mapping[str, Any], *, action: str) -> list[dict[str, Any]]:
        """A RayJob's submitter pods and its Ray cluster's head and worker pods."""
        pods = self._pods(_name(rayjob), action=action)
        cluster = str((rayjob.get("status") or {}).get("rayClusterName") or "")
        if cluster:
            pods += self._pods_labelled(RAY_CLUSTER_LABEL, cluster, action=action)
        return pods

    def _workload_kinds(self) -> list[tuple[str, str]]:
        """What an attempt may run as here: a Job, and a JobSet or RayJob where the cluster has them."""
        return [JOB, *([JOBSET] if self.options.has_jobset else []), *([RAYJOB] if self.options.has_kuberay else [])]

    def _workload(self, remote_id: str, *, action: str) -> tuple[tuple[str, str], dict[str, Any]] | None:
        """The attempt's Job, JobSet or RayJob, whichever there is. A Job that a JobSet or a
        RayJob owns (KubeRay's submitter is a Job named as its RayJob) is not the attempt's own."""
        name = object_name(remote_id)
        for kind in self._workload_kinds():
            found = self._get(self._path(kind[0], kind[1], name), action=action)
            if found is not None and not (kind == JOB and _owned_by(found, ("JobSet", "RayJob"))):
                return kind, found
        return None

    def _call(
        self,
        method: str,
        path: str,
        *,
        action: str,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
        ok: Iterable[int] = (),
    ) -> _Answer:
        """One request whose answer is read whole; a status outside 2xx and ``ok`` raises."""
        response = self._send(method, path, action=action, query=query, body=body, content_type=content_type)
        try:
            data = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise BackendError(f"{self._where(action)}: unreachable ({type(exc).__name__})", retryable=True) from exc
        if not 200 <= response.status < 300 and response.status not in tuple(ok):
            raise self._status_error(response.status, data, action)
        return _Answer(status=response.status, data=data)

    def _send(
        self,
        method: str,
        path: str,
        *,
        action: str,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Any:
        """The client's response (``RESTResponse``), body not yet read."""
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            method, url, headers, payload, _ = self._api.param_serialize(
                method=method,
                resource_path=path,
                query_params=list(query),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            return self._api.call_api(method, url, header_params=headers, body=payload, _request_timeout=self._timeout)
        except ApiException as exc:  # the client reports a TLS failure as status 0
            reason = str(exc.reason or "")
            verify = "CERTIFICATE_VERIFY_FAILED" in reason or "certificate verify failed" in reason
            message = "TLS verification failed (is the kubeconfig's CA the cluster's?)" if verify else "TLS error"
            raise BackendError(f"{self._where(action)}: {message}", retryable=not verify) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:  # refused, unroutable, timed out, reset
            raise BackendError(f"{self._where(action)}: unreachable ({type(exc).__name__})", retryable=True) from exc

    def _read_window(self, raw: Any, offset: int, limit: int) -> tuple[bytes, bool, int]:
        """Keep bytes ``offset``..``offset + limit`` of a streamed answer; (kept, more, received)."""
        kept = bytearray()
        received = 0
        more = False
        try:
            while True:
                piece = raw.read(READ_PIECE)
                if not piece:
                    break
                start = received
                received += len(piece)
                if received <= offset:
                    continue
                window = piece[max(offset - start, 0) :]
                room = limit - len(kept)
                if len(window) > room:
                    kept += window[:room]
                    more = True
                    break
                kept += window
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise BackendError(f"{self._where('logs')}: unreachable ({type(exc).__name__})", retryable=True) from exc
        return bytes(kept), more, received

    def _json(self, answer: _Answer, action: str) -> Any:
        try:
            return json.loads(answer.data)
        except ValueError:
            raise BackendError(f"{self._where(action)}: the answer is not JSON", retryable=False) from None

    def _status_error(self, status: int, data: bytes, action: str) -> BackendError:
        where = self._where(action)
        if status == 401:
            return BackendError(f"{where}: the API server refused our credentials (HTTP 401)", retryable=False)
        text = _status_message(data)
        if status == 403:
            return Forbidden(f"{where}: HTTP 403: {self._scrub(text)}", retryable=False)
        retryable = status in (408, 429) or status >= 500
        return BackendError(f"{where}: HTTP {status}: {self._scrub(text)}", retryable=retryable)

    def _where(self, action: str) -> str:
        return f"Kubernetes at {self.server}: {action}"

    def _scrub(self, text: str) -> str:
        """``text`` with every credential this backend holds, and any bearer token, blanked."""
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return _BEARER.sub(r"\1[redacted]", text)

    def _collection(self, api_version: str, kind: str, namespace: str | None = None) -> str:
        plural = _PLURALS.get((api_version, kind)) or ("pods" if (api_version, kind) == ("v1", "Pod") else "")
        if not plural:
            raise BackendError(f"Paddock does not know the {kind} ({api_version}) resource", retryable=False)
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        return f"{base}/namespaces/{quote(namespace or self.options.namespace, safe='')}/{plural}"

    def _path(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> str:
        return f"{self._collection(api_version, kind, namespace)}/{quote(name, safe='')}"

    def _private_file(self, name: str, data: bytes) -> str:
        with self._lock:
            if self._private_dir is None:
                self._private_dir = tempfile.mkdtemp(prefix="paddock-kube-")  # mode 0700
                weakref.finalize(self, shutil.rmtree, self._private_dir, ignore_errors=True)
            path = os.path.join(self._private_dir, name)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            return path


# --- status ---------------------------------------------------------------------------------
def job_status(remote_id: str, job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> RemoteStatus:
    """A Job and its pods as a :class:`RemoteStatus` (the table is in the tests' docstring)."""
    metadata = job.get("metadata") or {}
    status = job.get("status") or {}
    started = _time(status.get("startTime"))
    complete = _condition(job, "Complete")
    if complete is not None:
        finished = _time(status.get("completionTime")) or _time(complete.get("lastTransitionTime"))
        return _succeeded(remote_id, "the Job completed", started, finished)
    failed = _condition(job, "Failed")
    if failed is not None:
        return _failed(remote_id, failed, pods, started)
    if metadata.get("deletionTimestamp"):
        return _deleted(remote_id, metadata, started, "Job")
    if _condition(job, "Suspended") is not None or (job.get("spec") or {}).get("suspend"):
        queue = _labels(job).get("kueue.x-k8s.io/queue-name")
        waiting = f"suspended: waiting in Kueue queue {queue}" if queue else "the Job is suspended"
        return RemoteStatus(remote_id=remote_id, state=RemoteState.PENDING, message=waiting)
    running = [pod for pod in pods if (pod.get("status") or {}).get("phase") == "Running"]
    if running:
        pod = _newest(running)
        node = (pod.get("spec") or {}).get("nodeName") or "a node"
        return RemoteStatus(
            remote_id=remote_id,
            state=RemoteState.RUNNING,
            message=f"running on {node}",
            started_at=started or _container_started(pod) or _now(),
        )
    ended = [pod for pod in pods if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")]
    if ended and started is not None:
        # The pod has ended and the Job controller has not said how the Job did yet.
        return RemoteStatus(
            remote_id=remote_id, state=RemoteState.RUNNING, message="its pod has ended", started_at=started
        )
    return RemoteStatus(remote_id=remote_id, state=RemoteState.PENDING, message=_pending_reason(pods))


def _pending_reason(pods: Sequence[Mapping[str, Any]]) -> str:
    if not pods:
        return "waiting for the Job controller to create the job's pod"
    pod = _newest(pods)
    pod_status = pod.get("status") or {}
    for condition in pod_status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reason = condition.get("reason") or "not scheduled"
            return _short(f"{reason}: {condition.get('message') or 'no node can take the pod yet'}")
    for container in [*(pod_status.get("initContainerStatuses") or []), *(pod_status.get("containerStatuses") or [])]:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _WAITING_REASONS:
            return _short(f"{waiting['reason']}: {waiting.get('message') or container.get('image') or ''}".rstrip(": "))
    return f"pod {_name(pod)} is {pod_status.get('phase') or 'Pending'}"


def jobset_status(remote_id: str, jobset: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> RemoteStatus:
    """A JobSet and its pods as a :class:`RemoteStatus` (the table is in the tests' docstring).

    JobSet has no start time of its own: the job started when its first pod did."""
    metadata = jobset.get("metadata") or {}
    started = _earliest_start(pods)
    completed = _condition(jobset, "Completed")
    if completed is not None:
        return _succeeded(remote_id, "the JobSet completed", started, _time(completed.get("lastTransitionTime")))
    failed = _condition(jobset, "Failed")
    if failed is not None:
        # The first pod to fail is the cause; JobSet then ends the others (their exit codes are its).
        failed_pods = [pod for pod in pods if (pod.get("status") or {}).get("phase") == "Failed"]
        cause = min(failed_pods, key=_finished_key) if failed_pods else None
        return _failed(remote_id, failed, [cause] if cause is not None else list(pods), started)
    if metadata.get("deletionTimestamp"):
        return _deleted(remote_id, metadata, started, "JobSet")
    if _condition(jobset, "Suspended") is not None or (jobset.get("spec") or {}).get("suspend"):
        return RemoteStatus(remote_id=remote_id, state=RemoteState.PENDING, message=_suspended(jobset, "JobSet"))
    running = [pod for pod in pods if (pod.get("status") or {}).get("phase") == "Running"]
    done = [pod for pod in pods if (pod.get("status") or {}).get("phase") == "Succeeded"]
    expected = _jobset_pod_count(jobset)
    if running and len(running) + len(done) >= expected:  # every rank started (some may be done)
        leader = _leader_pod(running) or _newest(running)
        node = (leader.get("spec") or {}).get("nodeName") or "a node"
        where = f"running on {node}" if expected <= 1 else f"running on {len(running)} nodes (rank 0 on {node})"
        return RemoteStatus(remote_id=remote_id, state=RemoteState.RUNNING, message=where, started_at=started or _now())
    ended = [pod for pod in pods if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")]
    if ended and not running and started is not None and len(ended) >= expected:
        return RemoteStatus(
            remote_id=remote_id, state=RemoteState.RUNNING, message="its pods have ended", started_at=started
        )
    if not pods:
        return RemoteStatus(
            remote_id=remote_id,
            state=RemoteState.PENDING,
            message="waiting for the JobSet controller to create the job's pods",
        )
    waiting = _gang_pending_reason(pods)
    if running:  # a gang runs only whole: some ranks up, the others not yet
        waiting = f"{len(running)} of {expected} pods running; {waiting}"
    return RemoteStatus(remote_id=remote_id, state=RemoteState.PENDING, message=_short(waiting), started_at=None)


def rayjob_status(remote_id: str, rayjob: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> RemoteStatus:
    """A KubeRay RayJob (``status.jobStatus``: Ray's job status; ``jobDeploymentStatus``:
    KubeRay's, for the Ray cluster and the submission) and its pods as a :class:`RemoteStatus`."""
    metadata = rayjob.get("metadata") or {}
    status = rayjob.get("status") or {}
    job_state = str(status.get("jobStatus") or "")
    deployment = str(status.get("jobDeploymentStatus") or "")
    message = str(status.get("message") or "")
    reason = str(status.get("reason") or "")
    started = _time(status.get("startTime"))
    finished = _time(status.get("endTime"))
    if job_state == "SUCCEEDED":
        return _succeeded(remote_id, _short(message or "the Ray job succeeded"), started, finished)
    if job_state == "FAILED" or deployment in ("Failed", "ValidationFailed"):
        # Ray's own FAILED is the entrypoint's failure; KubeRay failing without it (the Ray cluster
        # or the submitter could not run) is the cluster's, except a RayJob it finds invalid.
        infrastructure = job_state != "FAILED" and deployment != "ValidationFailed"
        code = _EXIT_CODE.search(message)
        words = message or f"the RayJob's deployment is {deployment or 'Failed'}"
        if infrastructure:
            pod_reason = _gang_pending_reason(pods) if pods else ""
            words = "; ".join(part for part in (words, pod_reason) if part)
        return RemoteStatus(
            remote_id=remote_id,
            state=RemoteState.FAILED,
            message=_short(f"{reason}: {words}" if reason else words, MESSAGE_LIMIT),
            started_at=started,
            finished_at=finished or _now(),
            infrastructure=infrastructure,
            exit_code=int(code.group(1)) if code else None,
            error_type=reason or (job_state if job_state == "FAILED" else deployment),
        )
    if metadata.get("deletionTimestamp"):
        return _deleted(remote_id, metadata, started, "RayJob")
    if job_state == "STOPPED":
        return RemoteStatus(
            remote_id=remote_id,
            state=RemoteState.STOPPED,
            message=_short(message or "the Ray job was stopped outside Paddock"),
            started_at=started,
            finished_at=finished or _now(),
        )
    if deployment in ("Suspended", "Suspending") or (rayjob.get("spec") or {}).get("suspend"):
        return RemoteStatus(remote_id=remote_id, state=RemoteState.PENDING, message=_suspended(rayjob, "RayJob"))
    if job_state == "RUNNING":
        return RemoteStatus(
            remote_id=remote_id,
            state=RemoteState.RUNNING,
            message=_short(message or "the Ray job is running"),
            started_at=started or _now(),
        )
    if deployment in ("", "New", "Initializing", "Waiting") or not pods:
        waiting = _gang_pending_reason(pods) if pods else "waiting for KubeRay to start the job's Ray cluster"
    else:
        waiting = message or f"the Ray cluster is up; the Ray job is {job_state or 'not submitted yet'}"
    return RemoteStatus(remote_id=remote_id, state=RemoteState.PENDING, message=_short(waiting))


def _succeeded(remote_id: str, message: str, started: datetime | None, finished: datetime | None) -> RemoteStatus:
    """Succeeded at ``finished`` (now when the object does not say); started then at the latest."""
    finished = finished or _now()
    return RemoteStatus(
        remote_id=remote_id,
        state=RemoteState.SUCCEEDED,
        message=message,
        started_at=started or finished,
        finished_at=finished,
    )


def _deleted(remote_id: str, metadata: Mapping[str, Any], started: datetime | None, kind: str) -> RemoteStatus:
    annotations = metadata.get("annotations") or {}
    by_paddock = STOPPED_ANNOTATION in annotations
    finished = _time(annotations.get(STOPPED_ANNOTATION)) or _time(metadata.get("deletionTimestamp")) or _now()
    return RemoteStatus(
        remote_id=remote_id,
        state=RemoteState.STOPPED,
        message="stopped by Paddock" if by_paddock else f"the {kind} was deleted outside Paddock",
        started_at=started,
        finished_at=finished,
    )


def _suspended(workload: Mapping[str, Any], kind: str) -> str:
    queue = _labels(workload).get("kueue.x-k8s.io/queue-name")
    return f"suspended: waiting in Kueue queue {queue}" if queue else f"the {kind} is suspended"


def _gang_pending_reason(pods: Sequence[Mapping[str, Any]]) -> str:
    """Why a gang waits: the first pod (newest first) that says why, else how the newest is."""
    ordered = sorted(
        pods, key=lambda pod: (str((pod.get("metadata") or {}).get("creationTimestamp") or ""), _name(pod))
    )
    for pod in reversed(ordered):
        if (pod.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed"):
            continue
        reason = _pending_reason([pod])
        if not reason.startswith(f"pod {_name(pod)} is "):
            return reason
    return _pending_reason(pods)


def _created_key(pod: Mapping[str, Any]) -> tuple[str, str]:
    return str((pod.get("metadata") or {}).get("creationTimestamp") or ""), _name(pod)


def _jobset_pod_count(jobset: Mapping[str, Any]) -> int:
    """The pods a JobSet runs at once: each replicated Job's replicas × parallelism."""
    count = 0
    for replicated in (jobset.get("spec") or {}).get("replicatedJobs") or []:
        job_spec = ((replicated.get("template") or {}).get("spec")) or {}
        parallelism = job_spec.get("parallelism", job_spec.get("completions", 1))
        count += int(replicated.get("replicas", 1) or 1) * int(parallelism if parallelism is not None else 1)
    return max(count, 1)


def _earliest_start(pods: Sequence[Mapping[str, Any]]) -> datetime | None:
    moments = [
        moment
        for pod in pods
        for moment in (_time((pod.get("status") or {}).get("startTime")), _container_started(pod))
        if moment is not None
    ]
    for pod in pods:
        container = next(
            (c for c in (pod.get("status") or {}).get("containerStatuses") or [] if c.get("name") == JOB_CONTAINER),
            None,
        )
        ended = _terminated(container)
        if ended and _time(ended.get("startedAt")):
            moments.append(_time(ended.get("startedAt")))  # type: ignore[arg-type]
    return min(moments) if moments else None


def _finished_key(pod: Mapping[str, Any]) -> tuple[str, str]:
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        ended = _terminated(container)
        if ended and ended.get("finishedAt"):
            return str(ended["finishedAt"]), _name(pod)
    return "~", _name(pod)  # not known: after every known time


def _leader_pod(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """A JobSet's rank 0: job index 0, completion index 0 (the newest such, after a restart)."""
    leaders = [
        pod
        for pod in pods
        if _labels(pod).get(JOBSET_JOB_INDEX_LABEL, "0") == "0" and _labels(pod).get(COMPLETION_INDEX_LABEL) == "0"
    ]
    return _newest(leaders) if leaders else (_newest(pods) if pods else None)


def _owned_by(item: Mapping[str, Any], kinds: Sequence[str]) -> bool:
    return any(ref.get("kind") in kinds for ref in (item.get("metadata") or {}).get("ownerReferences") or [])


def _workload_ended(kind: tuple[str, str], workload: Mapping[str, Any]) -> bool:
    if kind == JOBSET:
        return _condition(workload, "Completed") is not None or _condition(workload, "Failed") is not None
    if kind == RAYJOB:
        status = workload.get("status") or {}
        return (
            str(status.get("jobDeploymentStatus") or "") in _RAY_DEPLOYMENT_ENDED
            or str(status.get("jobStatus") or "") in _RAY_JOB_ENDED
        )
    return _ended(workload)


def _failed(
    remote_id: str, condition: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], started: datetime | None
) -> RemoteStatus:
    failed_pods = [pod for pod in pods if (pod.get("status") or {}).get("phase") == "Failed"]
    pod = _newest(failed_pods or list(pods)) if pods else None
    job_reason = str(condition.get("reason") or "")
    parts: list[str] = []
    infrastructure = False
    error_type = job_reason
    exit_code: int | None = None
    finished = _time(condition.get("lastTransitionTime"))
    if pod is not None:
        pod_status = pod.get("status") or {}
        pod_reason = str(pod_status.get("reason") or "")
        disruption = next(
            (
                c
                for c in pod_status.get("conditions") or []
                if c.get("type") == "DisruptionTarget" and c.get("status") == "True"
            ),
            None,
        )
        if pod_reason in _INFRASTRUCTURE_POD_REASONS or disruption is not None:
            infrastructure = True
            error_type = pod_reason or str((disruption or {}).get("reason") or "DisruptionTarget")
            why = pod_status.get("message") or (disruption or {}).get("message") or ""
            parts.append(f"pod {_name(pod)} {error_type}" + (f": {why}" if why else ""))
        for init in pod_status.get("initContainerStatuses") or []:
            ended = _terminated(init)
            if ended and ended.get("exitCode") not in (0, None):
                parts.append(
                    f"init container {init.get('name')} failed with exit code {ended['exitCode']}"
                    + (f": {ended['message']}" if ended.get("message") else "")
                )
        container = next((c for c in pod_status.get("containerStatuses") or [] if c.get("name") == JOB_CONTAINER), None)
        ended = _terminated(container) if container else None
        if ended is not None:
            code = ended.get("exitCode")
            exit_code = int(code) if isinstance(code, int) else None
            reason = str(ended.get("reason") or "")
            if not infrastructure and reason:
                error_type = reason
            text = f"exit code {exit_code}" + (f" ({reason})" if reason else "")
            parts.append(text + (f": {ended['message']}" if ended.get("message") else ""))
            finished = _time(ended.get("finishedAt")) or finished
    if not parts or not any("exit code" in part for part in parts):
        parts.append(f"{job_reason or 'Failed'}: {condition.get('message') or 'the Job failed'}")
    return RemoteStatus(
        remote_id=remote_id,
        state=RemoteState.FAILED,
        message=_short("; ".join(parts), MESSAGE_LIMIT),
        started_at=started,
        finished_at=finished or _now(),
        infrastructure=infrastructure,
        exit_code=exit_code,
        error_type=error_type,
    )


def _terminated(container: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not container:
        return None
    state = container.get("state") or {}
    last = container.get("lastState") or {}
    value = state.get("terminated") or last.get("terminated")
    return value if isinstance(value, Mapping) else None


def _container_started(pod: Mapping[str, Any]) -> datetime | None:
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        running = (container.get("state") or {}).get("running") or {}
        if running.get("startedAt"):
            return _time(running["startedAt"])
    return None


def _log_pod(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Rank 0's pod of an Indexed Job; otherwise the newest."""
    if not pods:
        return None
    first = [pod for pod in pods if _labels(pod).get(COMPLETION_INDEX_LABEL) == "0"]
    return _newest(first or list(pods))


def _newest(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    return max(pods, key=lambda pod: (str((pod.get("metadata") or {}).get("creationTimestamp") or ""), _name(pod)))


def _condition(job: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return condition  # type: ignore[no-any-return]
    return None


def _ended(job: Mapping[str, Any]) -> bool:
    return _condition(job, "Complete") is not None or _condition(job, "Failed") is not None


# --- serving ---------------------------------------------------------------------------------
SERVE_OWNED_PREFIX = "paddock-"
# The kinds serve_apply writes (and Pods, read for why a replica is not ready): apiVersion, plural.
_SERVE_KINDS = {
    "ConfigMap": ("v1", "configmaps"),
    "Service": ("v1", "services"),
    "Deployment": ("apps/v1", "deployments"),
    "HorizontalPodAutoscaler": ("autoscaling/v2", "horizontalpodautoscalers"),
    "Pod": ("v1", "pods"),
}
_SERVE_SELECTOR = f"{LABEL_MANAGED}=paddock,{LABEL_ENDPOINT}"
# A container waiting for one of these will not start by itself: the rollout failed.
_FAILED_START = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)


def serve_state_from(observed: Mapping[str, Sequence[Mapping[str, Any]]], namespace: str) -> ServeState:
    """Paddock's serving objects as the port's :class:`ServeState` (the mapping is in the
    tests' docstring): a revision's Deployment is RUNNING when every replica it wants is ready,
    DEPLOYING while they start (with why, from its pods), DEPLOY_FAILED when its rollout cannot
    finish (ProgressDeadlineExceeded, or a container that cannot start before any replica was
    ready), UNHEALTHY when replicas that had been ready fail."""
    pods: dict[str, list[Mapping[str, Any]]] = {}
    for pod in observed.get("Pod") or ():
        revision = _labels(pod).get(LABEL_REVISION)
        if revision:
            pods.setdefault(revision, []).append(pod)
    apps: dict[str, ServeAppStatus] = {}
    for item in observed.get("Deployment") or ():
        name = _name(item)
        if (item.get("metadata") or {}).get("deletionTimestamp"):
            apps[name] = ServeAppStatus(name=name, status="DELETING")
            continue
        apps[name] = deployment_status(item, pods.get(_labels(item).get(LABEL_REVISION) or "", []))
    for item in observed.get("Service") or ():
        name = _name(item)
        apps[name] = ServeAppStatus(
            name=name,
            status="DELETING" if (item.get("metadata") or {}).get("deletionTimestamp") else "RUNNING",
            url=service_url(name, namespace),
        )
    return ServeState(apps=apps)


def deployment_status(item: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> ServeAppStatus:
    name = _name(item)
    spec = item.get("spec") or {}
    status = item.get("status") or {}
    annotations = (item.get("metadata") or {}).get("annotations") or {}
    component = str(annotations.get(ANNOTATION_DEPLOYMENT_NAME) or "server")
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    ready = int(status.get("readyReplicas") or 0)
    replicas = {"RUNNING": ready, "STARTING": max(desired - ready, 0)}
    progressing = _any_condition(item, "Progressing")
    rolled_out = progressing is not None and progressing.get("reason") == "NewReplicaSetAvailable"
    failing = _failing_pods(pods)
    waiting = _why_waiting(pods)

    def app(app_status: str, deployment: str, message: str = "") -> ServeAppStatus:
        return ServeAppStatus(
            name=name,
            status=app_status,
            message=message,
            deployments=(
                ServeDeploymentStatus(
                    name=component, status=deployment, message=message, replicas=replicas, target_replicas=desired
                ),
            ),
        )

    if (
        progressing is not None
        and progressing.get("status") == "False"
        and (progressing.get("reason") == "ProgressDeadlineExceeded")
    ):
        why = "; ".join(part for part in (failing or waiting, str(progressing.get("message") or "")) if part)
        return app("DEPLOY_FAILED", "DEPLOY_FAILED", _short(f"ProgressDeadlineExceeded: {why}", MESSAGE_LIMIT))
    if ready >= desired:
        if failing:  # all it wants are ready, and another pod (an old or surplus one) fails
            return app("RUNNING", "HEALTHY", failing)
        return app("RUNNING", "UPSCALING" if status.get("unavailableReplicas") else "HEALTHY")
    if failing:
        if ready == 0 and not rolled_out:
            return app("DEPLOY_FAILED", "DEPLOY_FAILED", failing)  # it never served: it cannot start
        return app("RUNNING" if ready else "UNHEALTHY", "UNHEALTHY", failing)
    if ready == 0:
        return app("DEPLOYING", "UPDATING", waiting or "its replicas are starting")
    return app("RUNNING", "UPSCALING", waiting)


def _failing_pods(pods: Sequence[Mapping[str, Any]]) -> str:
    """Why a container of these pods cannot start, in Kubernetes' words ("" when none)."""
    for pod in sorted(pods, key=_name):
        pod_status = pod.get("status") or {}
        for container in [
            *(pod_status.get("initContainerStatuses") or []),
            *(pod_status.get("containerStatuses") or []),
        ]:
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in _FAILED_START:
                detail = str(waiting.get("message") or "")
                ended = _terminated(container)
                if ended is not None and ended.get("exitCode") not in (None, 0):
                    detail = (
                        f"exit code {ended['exitCode']}" + (f": {ended['message']}" if ended.get("message") else "")
                    ) + (f"; {detail}" if detail else "")
                return _short(f"pod {_name(pod)}: {waiting['reason']}" + (f": {detail}" if detail else ""))
    return ""


def _why_waiting(pods: Sequence[Mapping[str, Any]]) -> str:
    """Why a pod is not ready yet (not scheduled, pulling, loading), or ""."""
    for pod in sorted(pods, key=_name):
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                reason = condition.get("reason") or "not scheduled"
                return _short(f"pod {_name(pod)}: {reason}: {condition.get('message') or 'no node can take it yet'}")
    return ""


def _any_condition(item: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in (item.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition  # type: ignore[no-any-return]
    return None


def _served_by_paddock(item: Mapping[str, Any], owned_prefix: str) -> bool:
    labels = _labels(item)
    return (
        _name(item).startswith(owned_prefix)
        and labels.get(LABEL_MANAGED) == "paddock"
        and bool(labels.get(LABEL_ENDPOINT))
    )


def _digest_of(item: Mapping[str, Any]) -> str:
    return str(((item.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_DIGEST) or "")


def _app_of(item: Mapping[str, Any]) -> str:
    return str(((item.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_APP) or _name(item))


# --- nodes and capacity -----------------------------------------------------------------------
def node_info(node: Mapping[str, Any]) -> NodeInfo:
    """A Node object as the port's NodeInfo: ``node_id`` is the node's name (stable across
    kubelet restarts), ``accelerator_type`` its GPU Feature Discovery product label."""
    metadata = node.get("metadata") or {}
    spec = node.get("spec") or {}
    labels = {str(key): str(value) for key, value in (metadata.get("labels") or {}).items()}
    if spec.get("unschedulable"):
        labels[CORDONED_LABEL] = "true"
    for taint in spec.get("taints") or []:
        if taint.get("key"):
            labels[f"{TAINT_LABEL_PREFIX}{taint['key']}"] = f"{taint.get('value') or ''}:{taint.get('effect') or ''}"
    addresses = {str(a.get("type")): str(a.get("address")) for a in (node.get("status") or {}).get("addresses") or []}
    resources = _node_resources(node)
    name = _name(node)
    return NodeInfo(
        node_id=name,
        hostname=labels.get("kubernetes.io/hostname") or addresses.get("Hostname") or name,
        alive=_ready(node),
        cpus=resources.cpus,
        gpus=resources.gpus,
        memory_bytes=resources.memory_bytes,
        accelerator_type=_product(node),
        labels=labels,
        custom=dict(resources.custom),
        node_name=name,
        address=addresses.get("InternalIP") or addresses.get("ExternalIP") or "",
        is_head=CONTROL_PLANE_LABEL in labels,
        schedulable=not spec.get("unschedulable"),
    )


def _node_resources(node: Mapping[str, Any]) -> Resources:
    amounts = _amounts((node.get("status") or {}).get("allocatable") or {})
    custom = {name: amount for name, amount in amounts.items() if _is_custom(name)}
    product = _product(node)
    if product and amounts.get(GPU_RESOURCE, 0.0) > 0:
        custom[f"{ACCELERATOR_PREFIX}{product}"] = 1.0  # one per node, as Ray counts it
    return Resources(
        cpus=amounts.get("cpu", 0.0),
        gpus=amounts.get(GPU_RESOURCE, 0.0),
        memory_bytes=int(amounts.get("memory", 0.0)),
        custom=custom,
    )


def _pod_demand(pod: Mapping[str, Any], node: Mapping[str, Any]) -> Resources:
    """What a pod holds on its node: its containers' requests (limits where it set only
    limits), or its largest init container's where that is more; and a share of the node's
    accelerator when it asked for the model by node affinity."""
    spec = pod.get("spec") or {}
    running: dict[str, float] = {}
    for container in spec.get("containers") or []:
        for name, amount in _container_requests(container).items():
            running[name] = running.get(name, 0.0) + amount
    for container in spec.get("initContainers") or []:
        for name, amount in _container_requests(container).items():
            running[name] = max(running.get(name, 0.0), amount)
    for name, amount in _amounts(spec.get("overhead") or {}).items():
        running[name] = running.get(name, 0.0) + amount
    custom = {name: amount for name, amount in running.items() if _is_custom(name)}
    product = _product(node)
    if product and GPU_PRODUCT_LABEL in json.dumps((spec.get("affinity") or {}).get("nodeAffinity") or {}):
        key = f"{ACCELERATOR_PREFIX}{product}"
        custom[key] = custom.get(key, 0.0) + ACCELERATOR_SHARE
    return Resources(
        cpus=running.get("cpu", 0.0),
        gpus=running.get(GPU_RESOURCE, 0.0),
        memory_bytes=int(running.get("memory", 0.0)),
        custom=custom,
    )


def _container_requests(container: Mapping[str, Any]) -> dict[str, float]:
    resources = container.get("resources") or {}
    return _amounts({**(resources.get("limits") or {}), **(resources.get("requests") or {})})


def _is_custom(name: str) -> bool:
    return name not in _NOT_CUSTOM and not name.startswith(("hugepages-", "attachable-volumes-"))


def _amounts(values: Mapping[str, Any]) -> dict[str, float]:
    return {str(name): quantity(value) for name, value in values.items()}


def quantity(value: Any) -> float:
    """A Kubernetes quantity ("500m", "16Gi", "1e3", 2) as a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        raise BackendError(f"Kubernetes answered a quantity Paddock cannot read: {str(value)[:40]!r}", retryable=False)
    return float(match.group(1)) * _SCALE[match.group(2)]


def _product(node: Mapping[str, Any]) -> str:
    return str(((node.get("metadata") or {}).get("labels") or {}).get(GPU_PRODUCT_LABEL) or "")


def _ready(node: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )


# --- small helpers ----------------------------------------------------------------------------
def _kubeconfig(address: str, credentials_json: str | None) -> SafeKubeconfig:
    address = address.strip().rstrip("/")
    if credentials_json:
        try:
            kubeconfig = SafeKubeconfig.from_json(credentials_json)
        except (KubeconfigError, ValueError, TypeError) as exc:
            raise BackendError(f"the cluster's stored kubeconfig cannot be used: {exc}", retryable=False) from None
        if address and address != kubeconfig.server.strip().rstrip("/"):
            # Credentials go only to the server they were issued for.
            raise BackendError(
                f"the cluster's address {address} is not its kubeconfig's server {kubeconfig.server}", retryable=False
            )
        return kubeconfig
    if not address.startswith(("http://", "https://")):
        raise BackendError(f"a Kubernetes API server address is http(s)://host:port, got {address!r}", retryable=False)
    try:
        return SafeKubeconfig(server=address)
    except (KubeconfigError, ValueError) as exc:
        raise BackendError(f"bad Kubernetes API server address: {exc}", retryable=False) from None


def _pem(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BackendError(f"the kubeconfig's {what} is not base64", retryable=False) from None


def _status_message(data: bytes) -> str:
    """The ``message`` of a Kubernetes Status answer, else the start of the text."""
    try:
        value = json.loads(data)
    except ValueError:
        return _short(data.decode("utf-8", "replace"))
    if isinstance(value, dict) and value.get("message"):
        return _short(str(value.get("reason") or "") + ": " + str(value["message"]))
    return _short(data.decode("utf-8", "replace"))


def _short(text: str, limit: int = 500) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _labels(item: Mapping[str, Any]) -> dict[str, str]:
    return dict((item.get("metadata") or {}).get("labels") or {})


def _name(item: Mapping[str, Any]) -> str:
    return str((item.get("metadata") or {}).get("name") or "")


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


# --- applying owned objects -------------------------------------------------------------------
FIELD_MANAGER = "paddock"
# sha256 of the object as Paddock last applied it: an equal one means nothing to write.
APPLIED_DIGEST_ANNOTATION = "paddock.dev/applied-digest"
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def _owned_object(
    manifest: Mapping[str, Any], kind: ObjectKind, owner_label: tuple[str, str], default_namespace: str
) -> tuple[dict[str, Any], str]:
    """The object as Paddock writes it: the owner label on it, its namespace said, and the
    digest of all that in an annotation. (body, digest)."""
    metadata = dict(manifest.get("metadata") or {})
    name = str(metadata.get("name") or "")
    if not _DNS_SUBDOMAIN.match(name):
        raise BackendError(f"cannot apply a {kind.kind} named {name!r}: not a DNS-1123 name", retryable=False)
    if kind.namespaced:
        metadata["namespace"] = str(metadata.get("namespace") or default_namespace)
        if not _DNS_LABEL.match(metadata["namespace"]):
            namespace = metadata["namespace"]
            raise BackendError(f"cannot apply {kind.kind} {name}: bad namespace {namespace!r}", retryable=False)
    elif metadata.get("namespace"):
        raise BackendError(f"a {kind.kind} is cluster-scoped: {name} names a namespace", retryable=False)
    metadata["labels"] = {**(metadata.get("labels") or {}), owner_label[0]: owner_label[1]}
    body = {**manifest, "metadata": metadata}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    metadata["annotations"] = {**(metadata.get("annotations") or {}), APPLIED_DIGEST_ANNOTATION: digest}
    return body, digest


def _kind_collection(kind: ObjectKind, namespace: str = "") -> str:
    """The kind's collection: in ``namespace``, or across all of them (and cluster-scoped)."""
    base = "/api/v1" if kind.api_version == "v1" else f"/apis/{kind.api_version}"
    if kind.namespaced and namespace:
        return f"{base}/namespaces/{quote(namespace, safe='')}/{kind.plural}"
    return f"{base}/{kind.plural}"


def _kind_path(kind: ObjectKind, name: str, namespace: str = "") -> str:
    return f"{_kind_collection(kind, namespace)}/{quote(name, safe='')}"


def _object_label(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
