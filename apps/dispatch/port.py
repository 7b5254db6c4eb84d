"""The dispatch port: what the control plane may ask of a compute backend.

The port speaks frozen dataclasses only. Adapters live in ``backends/``; each raises
:class:`BackendError` (and nothing else) and says whether retrying can help. Only
``backends/ray.py`` imports ``ray``; only ``backends/kubernetes.py`` imports ``kubernetes``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class BackendError(Exception):
    """A backend call failed; ``retryable`` says whether trying again later can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class RemoteState(enum.StrEnum):
    """Where a remote job stands, in the backend's own terms mapped to ours."""

    PENDING = "pending"  # accepted by the backend, not yet running
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"  # stopped on request
    NOT_FOUND = "not_found"  # the backend has no job by that name

    @property
    def is_terminal(self) -> bool:
        return self in {
            RemoteState.SUCCEEDED,
            RemoteState.FAILED,
            RemoteState.STOPPED,
            RemoteState.NOT_FOUND,
        }


@dataclass(frozen=True)
class Resources:
    """An amount of compute: CPUs, GPUs (fractional allowed), memory and custom resources."""

    cpus: float = 0.0
    gpus: float = 0.0
    memory_bytes: int = 0
    custom: Mapping[str, float] = field(default_factory=dict)

    def fits_in(self, other: Resources) -> bool:
        """True when every component of ``self`` is at most the same component of ``other``."""
        if self.cpus > other.cpus + 1e-9 or self.gpus > other.gpus + 1e-9:
            return False
        if self.memory_bytes > other.memory_bytes:
            return False
        return all(amount <= other.custom.get(name, 0.0) + 1e-9 for name, amount in self.custom.items())

    def shortfall(self, other: Resources) -> list[str]:
        """Human-readable list of what ``other`` lacks to hold ``self`` (empty when it fits)."""
        missing: list[str] = []
        if self.cpus > other.cpus + 1e-9:
            missing.append(f"{self.cpus:g} CPUs (has {other.cpus:g})")
        if self.gpus > other.gpus + 1e-9:
            missing.append(f"{self.gpus:g} GPUs (has {other.gpus:g})")
        if self.memory_bytes > other.memory_bytes:
            missing.append(f"{self.memory_bytes / 2**30:.3g} GiB memory (has {other.memory_bytes / 2**30:.3g})")
        for name, amount in self.custom.items():
            have = other.custom.get(name, 0.0)
            if amount > have + 1e-9:
                missing.append(f"{amount:g} {name} (has {have:g})")
        return missing

    def minus(self, other: Resources) -> Resources:
        """Component-wise ``self - other`` (never below zero)."""
        names = set(self.custom) | set(other.custom)
        return Resources(
            cpus=max(self.cpus - other.cpus, 0.0),
            gpus=max(self.gpus - other.gpus, 0.0),
            memory_bytes=max(self.memory_bytes - other.memory_bytes, 0),
            custom={n: max(self.custom.get(n, 0.0) - other.custom.get(n, 0.0), 0.0) for n in names},
        )

    def plus(self, other: Resources) -> Resources:
        names = set(self.custom) | set(other.custom)
        return Resources(
            cpus=self.cpus + other.cpus,
            gpus=self.gpus + other.gpus,
            memory_bytes=self.memory_bytes + other.memory_bytes,
            custom={n: self.custom.get(n, 0.0) + other.custom.get(n, 0.0) for n in names},
        )


@dataclass(frozen=True)
class PackageRef:
    """A code package the control plane keeps, named in a runtime_env by ``uri``
    (``paddock://packages/<sha256>``). ``load`` returns its bytes: a backend calls it only
    when the cluster does not have the package yet, so a large package is read only then.
    ``load`` may raise :class:`BackendError`."""

    uri: str
    sha256: str
    size_bytes: int
    load: Callable[[], bytes] = field(compare=False, repr=False)


@dataclass(frozen=True)
class JobSpec:
    """What to run: ``remote_id`` is the idempotency key (Ray's ``submission_id``)."""

    remote_id: str
    entrypoint: str
    resources: Resources
    runtime_env: Mapping[str, Any] = field(default_factory=dict)
    accelerator_model: str = ""  # e.g. "H100"; empty means any
    # The accelerator model as nodes label it (GPU Feature Discovery's nvidia.com/gpu.product
    # values, e.g. "NVIDIA-H100-80GB-HBM3"), worked out from the catalog by whoever builds the
    # spec; empty: a backend that needs them uses accelerator_model as given.
    accelerator_products: tuple[str, ...] = ()
    # Where the scheduler reserved the GPUs: ({"node_id", "hostname", "address", "gpus": [...]}, ...)
    placement: tuple[Mapping[str, Any], ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    # The packages the runtime_env names, by URI; the backend ships each to the cluster.
    packages: Mapping[str, PackageRef] = field(default_factory=dict)


@dataclass(frozen=True)
class SubmitResult:
    """The outcome of a submit: ``adopted`` is True when the job already existed."""

    remote_id: str
    adopted: bool


@dataclass(frozen=True)
class RemoteStatus:
    """A remote job as the backend sees it now."""

    remote_id: str
    state: RemoteState
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # FAILED because of the cluster (a node or the job's supervisor died, it could not start),
    # not the job's own code: Paddock retries it without counting it against max_retries.
    infrastructure: bool = False
    # What the backend says about why: the entrypoint's exit code (negative: killed by that
    # signal) and the backend's own error type (Ray's JobErrorType), when it knows them.
    exit_code: int | None = None
    error_type: str = ""


# The most bytes of a log one ``Backend.logs`` call returns unless the caller asks for fewer.
LOG_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class LogChunk:
    """Raw bytes of a job's log from byte ``offset`` on (a multi-byte character may be cut at
    either end: decoding is the caller's, across chunks).

    ``more`` is True when the backend held bytes past :attr:`next_offset` when it answered.
    ``transferred`` counts what the backend sent to serve this chunk: ``len(data)`` when it
    reads from an offset, more when it could only send the log from its start.
    """

    offset: int
    data: bytes = b""
    more: bool = False
    transferred: int = 0

    @property
    def next_offset(self) -> int:
        """Where the next read starts."""
        return self.offset + len(self.data)


@dataclass(frozen=True)
class Capacity:
    """A cluster's resources: ``total`` it could ever give, ``available`` free right now."""

    total: Resources
    available: Resources
    nodes: int = 0


@dataclass(frozen=True)
class NodeInfo:
    """One machine of a cluster as the backend reports it now, alive or not.

    ``node_id`` is the backend's own id (Ray's node id: a new one each time a raylet starts);
    ``hostname`` is the machine's host name ("" while the backend does not know it yet);
    ``node_name`` is Ray's node name (its IP unless ``ray start --node-name`` set one).
    ``accelerator_type`` comes from the node's ``accelerator_type:<X>`` resource ("" when it
    has none); ``custom`` holds every resource besides CPUs, GPUs and memory, that one included.
    """

    node_id: str
    hostname: str
    alive: bool
    cpus: float = 0.0
    gpus: float = 0.0
    memory_bytes: int = 0
    accelerator_type: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    custom: Mapping[str, float] = field(default_factory=dict)
    node_name: str = ""
    address: str = ""  # the node's IP address
    is_head: bool = False
    # Whether the cluster's own scheduler may place work there (Kubernetes: not cordoned,
    # spec.unschedulable unset); None where the backend has no such switch (Ray).
    schedulable: bool | None = None


# --- serving ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServeContainer:
    """A model server that runs as a container image with its own HTTP API, for backends that
    run containers (Kubernetes): what ``ServeApp.container`` describes instead of Serve's config.

    ``group`` names the address the apps of one endpoint are reached behind together (a
    Service on Kubernetes), ``files`` small text files every replica of the group reads under
    ``files_path`` and that the backend keeps current without restarting them (the token
    hashes). ``load_metric`` is a per-replica gauge the server exports that autoscaling holds
    at ``target_per_replica`` between ``min_replicas`` and ``max_replicas``; ``startup_s`` how
    long a replica may take to load before it counts as failed."""

    image: str
    command: tuple[str, ...]  # empty: the image's entrypoint
    args: tuple[str, ...]
    port: int
    health_path: str
    resources: Resources
    group: str
    endpoint_label: str
    revision_label: str
    deployment_name: str = "server"
    # The GPU product names the device plugin may report for the accelerator (GFD's label);
    # a replica goes on a node reporting one of them. Empty: any node.
    accelerator_products: tuple[str, ...] = ()
    min_replicas: int = 1
    max_replicas: int = 1
    target_per_replica: float = 1.0
    load_metric: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    files_path: str = "/etc/paddock"
    startup_s: int = 1800
    # Volumes the replicas mount, in the backend's own terms (Kubernetes: a pod volume with its
    # ``mountPath``), for where the model's files are.
    volumes: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class ServeApp:
    """One application Paddock wants on a cluster's model server (Ray Serve): its entry in
    Serve's declarative config. ``route_prefix`` None: no HTTP route (reached only through
    handles). ``runtime_env`` may name Paddock packages (``paddock://packages/…``), which the
    backend ships first, as for jobs. ``container`` set: the app is a container image instead
    (:class:`ServeContainer`; backends that run Ray Serve refuse it, and the others need it)."""

    name: str
    import_path: str
    route_prefix: str | None
    args: Mapping[str, Any] = field(default_factory=dict)
    deployments: tuple[Mapping[str, Any], ...] = ()
    runtime_env: Mapping[str, Any] = field(default_factory=dict)
    packages: Mapping[str, PackageRef] = field(default_factory=dict, compare=False)
    container: ServeContainer | None = None


@dataclass(frozen=True)
class ServeDeploymentStatus:
    """One deployment of an application as the model server sees it now."""

    name: str
    status: str  # Serve's: UPDATING, HEALTHY, UNHEALTHY, UPSCALING, DOWNSCALING, DEPLOY_FAILED
    message: str = ""
    replicas: Mapping[str, int] = field(default_factory=dict)  # replica state -> count (RUNNING, STARTING…)
    target_replicas: int | None = None

    @property
    def running(self) -> int:
        return int(self.replicas.get("RUNNING", 0))


@dataclass(frozen=True)
class ServeAppStatus:
    """One application: Serve's status (NOT_STARTED, DEPLOYING, RUNNING, DEPLOY_FAILED,
    UNHEALTHY, DELETING), its message, its deployments and the config it was deployed with."""

    name: str
    status: str
    message: str = ""
    deployments: tuple[ServeDeploymentStatus, ...] = ()
    route_prefix: str | None = None
    url: str = ""  # where clients reach it, when the backend gives each app its own address

    def deployment(self, name: str) -> ServeDeploymentStatus | None:
        return next((d for d in self.deployments if d.name == name), None)


@dataclass(frozen=True)
class ServeState:
    """The model server of a cluster now: where its HTTP proxy listens and every application."""

    http_host: str = ""
    http_port: int | None = None
    apps: Mapping[str, ServeAppStatus] = field(default_factory=dict)


@dataclass(frozen=True)
class ServeApplyResult:
    """``written``: the backend had to change something (False: it already matched);
    ``changed``: the owned applications it created, changed or deleted; ``state``: the
    model server as it was before."""

    written: bool
    state: ServeState
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObjectKind:
    """A kind of cluster object Paddock may own (Kubernetes: a resource, e.g. Kueue's
    ClusterQueue): enough to find its collection without asking the server."""

    api_version: str  # "group/version", or "v1" for the core group
    kind: str
    plural: str
    namespaced: bool = False


@dataclass(frozen=True)
class ApplyResult:
    """What :meth:`Backend.apply_objects` did, each object named ``Kind/name`` (``Kind/ns/name``
    when namespaced). ``refused``: objects of that name exist and are not Paddock's, so they
    were left as they are (the reason in ``messages``)."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()

    @property
    def written(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


class Backend(Protocol):
    """A compute backend for one cluster."""

    def ping(self) -> None:
        """Return when the backend answers; raise :class:`BackendError` when it does not."""

    def capacity(self) -> Capacity: ...

    def submit(self, spec: JobSpec) -> SubmitResult:
        """Start ``spec``; a second submit with the same ``remote_id`` adopts the first.

        Checks ``spec.runtime_env`` first (:mod:`apps.dispatch.runtime_env`): a runtime_env
        that names a local path, or a package missing from ``spec.packages``, is refused
        (not retryable) before anything is read or sent. Packages go to the cluster's own
        package store; nothing else is uploaded."""

    def status(self, remote_id: str) -> RemoteStatus: ...

    def stop(self, remote_id: str) -> bool:
        """Ask the backend to stop the job; True when it was running and is now stopping."""

    def logs(self, remote_id: str, *, offset: int = 0, limit: int = LOG_CHUNK_BYTES) -> LogChunk:
        """At most ``limit`` bytes of the job's log from byte ``offset`` on: empty at or past
        its end, before the job has a log, and for a job the backend does not know."""

    def list_remote_ids(self) -> list[str]:
        """Every job id the backend knows (for reconciliation and tests)."""

    def nodes(self) -> list[NodeInfo]:
        """Every node the backend knows, alive and dead (as long as it remembers the dead)."""

    def set_schedulable(self, node_name: str, schedulable: bool) -> bool:
        """Let the cluster's own scheduler place new work on the node ``node_name`` (its
        ``NodeInfo.node_name``) or not (a cordon); work already there is left running. True
        when the cluster changed the node, False when it already was so or the backend has no
        such switch (Ray: Paddock's own admission is what keeps work off a node there)."""

    def serve_state(self) -> ServeState:
        """The cluster's model server now (an empty state when it runs none)."""

    def serve_apply(
        self, apps: Sequence[ServeApp], *, owned_prefix: str, http_host: str, http_port: int
    ) -> ServeApplyResult:
        """Make the applications whose names start with ``owned_prefix`` exactly ``apps``
        (creating, changing and deleting), leaving every other application as it is, with the
        HTTP proxy on ``http_host:http_port``. Writes nothing when they already match."""

    def apply_objects(
        self, objects: Sequence[Mapping[str, Any]], *, kinds: Sequence[ObjectKind], owner_label: tuple[str, str]
    ) -> ApplyResult:
        """Make the objects of ``kinds`` that carry ``owner_label`` (key, value) exactly
        ``objects``, in their order: create what is missing, update what differs, delete, in
        the reverse order of ``kinds``, what carries the label and is not wanted. Never writes
        an object without the label (one of the same name is ``refused``); writes nothing for
        an object that has not changed since it was last applied. Backends that have no such
        objects (Ray) refuse, not retryable."""
