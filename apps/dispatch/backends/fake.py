"""An in-memory backend for tests above the port.

It keeps the contract the Ray adapter keeps (tests/dispatch/test_contract.py runs the same
suite against both): a second submit of a ``remote_id`` adopts the first, unknown ids are
NOT_FOUND, terminal states are final, stopping a finished job answers False, a runtime_env
naming a local path is refused, and a package is read only when the cluster lacks it. The cluster
never moves by itself: a test plays it with :meth:`FakeBackend.advance`,
:meth:`FakeBackend.append_log` and :meth:`FakeBackend.set_nodes`, and injects failures
with :meth:`FakeBackend.fail_next` and :meth:`FakeBackend.set_reachable`. Every port call is
recorded in :attr:`FakeBackend.calls`, so a test can say that something did not reach the cluster.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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

DEFAULT_TOTAL = Resources(cpus=4, gpus=2, memory_bytes=16 * 2**30, custom={"accelerator_type:H100": 1.0})

# What Ray says in each state, so messages look alike in tests.
_DEFAULT_MESSAGES = {
    RemoteState.PENDING: "Job has not started yet.",
    RemoteState.RUNNING: "Job is currently running.",
    RemoteState.SUCCEEDED: "Job finished successfully.",
    RemoteState.FAILED: "Job failed.",
    RemoteState.STOPPED: "Job was intentionally stopped.",
}


@dataclass
class _Job:
    spec: JobSpec
    state: RemoteState = RemoteState.PENDING
    message: str = _DEFAULT_MESSAGES[RemoteState.PENDING]
    log: bytearray = field(default_factory=bytearray)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    infrastructure: bool = False
    exit_code: int | None = None


class FakeBackend:
    """A pretend cluster held in memory; safe to share between threads."""

    def __init__(
        self,
        address: str = "fake://cluster",
        *,
        total: Resources = DEFAULT_TOTAL,
        nodes: int = 1,
        node_infos: Sequence[NodeInfo] | None = None,
    ) -> None:
        """``node_infos`` is what :meth:`nodes` reports; by default one alive node holding
        ``total``."""
        self.address = address
        self.total = total
        self.node_count = nodes
        self._node_infos = list(node_infos) if node_infos is not None else [default_node(total)]
        self._jobs: dict[str, _Job] = {}
        self._failures: list[tuple[str | None, BackendError]] = []
        self._reachable = True
        self._packages: dict[str, int] = {}  # sha256 -> size: the cluster's package store
        self.package_uploads = 0  # how many packages were read and "uploaded"
        self._lock = threading.RLock()
        # (port method, remote id or ""), oldest first; bounded, as a long-lived fake cluster may serve `make run`.
        self.calls: deque[tuple[str, str]] = deque(maxlen=10_000)
        self.log_bytes_sent = 0  # every byte of log the cluster has sent, all jobs together
        # The model server: applications by name, with what each is now; new ones start RUNNING
        # with their replicas unless a test turns ``serve_starts_running`` off and plays them.
        self._serve_apps: dict[str, tuple[ServeApp, ServeAppStatus]] = {}
        self._serve_http: tuple[str, int] | None = None
        self.serve_starts_running = True
        self.serve_writes = 0
        self.schedulable: dict[str, bool] = {}  # node id -> as set_schedulable last set it

    def __repr__(self) -> str:
        return f"FakeBackend({self.address!r})"

    # -- the port -----------------------------------------------------------------

    def ping(self) -> None:
        with self._lock:
            self._check("ping")

    def capacity(self) -> Capacity:
        with self._lock:
            self._check("capacity")
            used = Resources()
            for job in self._jobs.values():
                if job.state is RemoteState.RUNNING:
                    used = used.plus(_demand(job.spec))
            return Capacity(total=self.total, available=self.total.minus(used), nodes=self.node_count)

    def submit(self, spec: JobSpec) -> SubmitResult:
        with self._lock:
            self._check("submit", spec.remote_id)
            _validate(spec)
            _, packages = checked_for_dispatch(spec)
            for ref in packages:
                if ref.sha256 not in self._packages:
                    data = ref.load()
                    if hashlib.sha256(data).hexdigest() != ref.sha256:
                        raise BackendError(f"package {ref.uri}: the bytes do not match its sha256", retryable=False)
                    self._packages[ref.sha256] = len(data)
                    self.package_uploads += 1
            if spec.remote_id in self._jobs:
                return SubmitResult(remote_id=spec.remote_id, adopted=True)
            self._jobs[spec.remote_id] = _Job(spec=spec)
            return SubmitResult(remote_id=spec.remote_id, adopted=False)

    def status(self, remote_id: str) -> RemoteStatus:
        with self._lock:
            self._check("status", remote_id)
            job = self._jobs.get(remote_id)
            if job is None:
                return RemoteStatus(remote_id=remote_id, state=RemoteState.NOT_FOUND, message="no such job")
            return RemoteStatus(
                remote_id=remote_id,
                state=job.state,
                message=job.message,
                started_at=job.started_at,
                finished_at=job.finished_at,
                infrastructure=job.infrastructure,
                exit_code=job.exit_code,
            )

    def stop(self, remote_id: str) -> bool:
        """As Ray does: a RUNNING job stops; a PENDING one stays PENDING (the stop waits for
        resources that may never come) until the test plays it on."""
        with self._lock:
            self._check("stop", remote_id)
            job = self._jobs.get(remote_id)
            if job is None or job.state.is_terminal:
                return False
            if job.state is RemoteState.RUNNING:
                self._move(job, RemoteState.STOPPED, "")
            return True

    def logs(self, remote_id: str, *, offset: int = 0, limit: int = LOG_CHUNK_BYTES) -> LogChunk:
        with self._lock:
            self._check("logs", remote_id)
            if offset < 0 or limit < 1:
                raise BackendError(f"bad log range: offset {offset}, limit {limit}", retryable=False)
            job = self._jobs.get(remote_id)
            log = job.log if job else bytearray()
            data = bytes(log[offset : offset + limit])
            self.log_bytes_sent += len(data)
            return LogChunk(offset=offset, data=data, more=offset + len(data) < len(log), transferred=len(data))

    def list_remote_ids(self) -> list[str]:
        with self._lock:
            self._check("list_remote_ids")
            return sorted(self._jobs)

    def nodes(self) -> list[NodeInfo]:
        with self._lock:
            self._check("nodes")
            return [
                dataclasses.replace(info, schedulable=self.schedulable[info.node_id])
                if info.node_id in self.schedulable
                else info
                for info in self._node_infos
            ]

    def apply_objects(
        self, objects: Sequence[Mapping[str, Any]], *, kinds: Sequence[ObjectKind], owner_label: tuple[str, str]
    ) -> ApplyResult:
        raise BackendError("the fake backend keeps no cluster objects", retryable=False)

    # -- for tests: play the cluster ------------------------------------------------

    def set_schedulable(self, node_name: str, schedulable: bool) -> bool:
        """Cordons as a Kubernetes cluster keeps them: :attr:`schedulable` holds what was set
        by node name, and ``nodes()`` reports it in ``NodeInfo.schedulable``."""
        with self._lock:
            self._check("set_schedulable", node_name)
            info = next((i for i in self._node_infos if node_name in (i.node_name, i.node_id)), None)
            if info is None:
                raise BackendError(f"fake cluster at {self.address} has no node {node_name!r}", retryable=False)
            before = self.schedulable.get(info.node_id, info.schedulable is not False)
            self.schedulable[info.node_id] = schedulable
            return before != schedulable

    def serve_state(self) -> ServeState:
        with self._lock:
            self._check("serve_state")
            host, port = self._serve_http or ("", None)
            return ServeState(
                http_host=host, http_port=port, apps={name: status for name, (_, status) in self._serve_apps.items()}
            )

    def serve_apply(
        self, apps: Sequence[ServeApp], *, owned_prefix: str, http_host: str, http_port: int
    ) -> ServeApplyResult:
        with self._lock:
            self._check("serve_apply")
            before = self.serve_state()
            ours = {name: app for name, (app, _) in self._serve_apps.items() if name.startswith(owned_prefix)}
            wanted = {app.name: app for app in apps}
            if ours == wanted:
                return ServeApplyResult(written=False, state=before)
            changed = tuple(
                sorted({n for n in ours if n not in wanted} | {n for n, a in wanted.items() if ours.get(n) != a})
            )
            for name in set(ours) - set(wanted):
                del self._serve_apps[name]
            for name, app in wanted.items():
                if ours.get(name) != app:
                    self._serve_apps[name] = (app, self._initial_status(app))
            self._serve_http = self._serve_http or (http_host, http_port)
            self.serve_writes += 1
            return ServeApplyResult(written=True, state=before, changed=changed)

    def _initial_status(self, app: ServeApp) -> ServeAppStatus:
        deployments = []
        for config in app.deployments:
            autoscaling = config.get("autoscaling_config") or {}
            count = int(
                config.get("num_replicas", autoscaling.get("initial_replicas", autoscaling.get("min_replicas", 1)))
            )
            running = self.serve_starts_running
            deployments.append(
                ServeDeploymentStatus(
                    name=str(config.get("name", "")),
                    status="HEALTHY" if running else "UPDATING",
                    replicas={"RUNNING" if running else "STARTING": count} if count else {},
                    target_replicas=count,
                )
            )
        status = "RUNNING" if self.serve_starts_running else "DEPLOYING"
        return ServeAppStatus(
            name=app.name, status=status, deployments=tuple(deployments), route_prefix=app.route_prefix
        )

    def set_serve_status(
        self, name: str, status: str, message: str = "", *, deployment_status: str = "", running: int | None = None
    ) -> None:
        """Play the model server: application ``name`` is now ``status`` (its deployments too)."""
        with self._lock:
            app, current = self._serve_apps[name]
            deployments = tuple(
                ServeDeploymentStatus(
                    name=d.name,
                    status=deployment_status or d.status,
                    message=message,
                    replicas={"RUNNING": d.running if running is None else running},
                    target_replicas=d.target_replicas,
                )
                for d in current.deployments
            )
            self._serve_apps[name] = (app, ServeAppStatus(name, status, message, deployments, current.route_prefix))

    def delete_serve_app(self, name: str) -> None:
        """Someone removed an application behind Paddock's back."""
        with self._lock:
            self._serve_apps.pop(name, None)

    def serve_app(self, name: str) -> ServeApp | None:
        with self._lock:
            entry = self._serve_apps.get(name)
            return entry[0] if entry else None

    def advance(
        self,
        remote_id: str,
        state: RemoteState,
        message: str = "",
        *,
        infrastructure: bool = False,
        exit_code: int | None = None,
    ) -> None:
        """Move a job as the cluster would; NOT_FOUND makes the cluster forget it.
        ``infrastructure``: a FAILED that is the cluster's fault (a node died), not the code's;
        ``exit_code``: the entrypoint's (negative: the signal that killed it)."""
        with self._lock:
            job = self._jobs.get(remote_id)
            if job is None:
                raise KeyError(f"fake cluster has no job {remote_id!r}")
            if state is RemoteState.NOT_FOUND:
                del self._jobs[remote_id]
                return
            if job.state.is_terminal:
                raise ValueError(f"{remote_id} is already {job.state}; a cluster never leaves a terminal state")
            self._move(job, state, message)
            job.infrastructure = infrastructure and state is RemoteState.FAILED
            job.exit_code = exit_code if state is RemoteState.FAILED else None

    def append_log(self, remote_id: str, text: str | bytes) -> None:
        """The job writes ``text`` (UTF-8) or raw ``bytes`` to its log."""
        with self._lock:
            job = self._jobs.get(remote_id)
            if job is None:
                raise KeyError(f"fake cluster has no job {remote_id!r}")
            job.log += text.encode() if isinstance(text, str) else text

    def set_nodes(self, nodes: Sequence[NodeInfo]) -> None:
        """What :meth:`nodes` reports from now on (nodes joining, dying, restarting)."""
        with self._lock:
            self._node_infos = list(nodes)

    def fail_next(self, error: BackendError, *, on: str | None = None) -> None:
        """Make the next call (or the next call of the port method ``on``) raise ``error``."""
        with self._lock:
            self._failures.append((on, error))

    def set_reachable(self, reachable: bool) -> None:
        """While unreachable every call raises a retryable BackendError, as a dead cluster would."""
        with self._lock:
            self._reachable = reachable

    def has_package(self, sha256: str) -> bool:
        """Whether the cluster's package store holds the package (as Ray's GCS would)."""
        with self._lock:
            return sha256 in self._packages

    def spec_of(self, remote_id: str) -> JobSpec:
        """What was submitted under ``remote_id`` (KeyError when nothing was)."""
        with self._lock:
            return self._jobs[remote_id].spec

    def reset(self) -> None:
        """Forget every job and injected failure; reachable again."""
        with self._lock:
            self._jobs.clear()
            self._packages.clear()
            self._failures.clear()
            self.calls.clear()
            self.log_bytes_sent = 0
            self._reachable = True
            self._serve_apps.clear()
            self._serve_http = None
            self.serve_starts_running = True
            self.serve_writes = 0
            self.schedulable.clear()

    # -- internals ----------------------------------------------------------------

    def _check(self, method: str, remote_id: str = "") -> None:
        self.calls.append((method, remote_id))
        if not self._reachable:
            raise BackendError(f"fake cluster at {self.address} is unreachable", retryable=True)
        for index, (on, error) in enumerate(self._failures):
            if on is None or on == method:
                del self._failures[index]
                raise error

    @staticmethod
    def _move(job: _Job, state: RemoteState, message: str) -> None:
        now = datetime.now(UTC)
        job.state = state
        job.message = message or _DEFAULT_MESSAGES[state]
        if state is RemoteState.RUNNING and job.started_at is None:
            job.started_at = now
        if state.is_terminal:
            job.finished_at = now


def default_node(total: Resources, node_id: str = "fake-node-0", hostname: str = "fake-host-0") -> NodeInfo:
    """One alive node holding ``total``, reported the way the Ray adapter reports one."""
    prefix = "accelerator_type:"
    types = sorted(name.removeprefix(prefix) for name in total.custom if name.startswith(prefix))
    return NodeInfo(
        node_id=node_id,
        hostname=hostname,
        alive=True,
        cpus=total.cpus,
        gpus=total.gpus,
        memory_bytes=total.memory_bytes,
        accelerator_type=types[0] if types else "",
        custom=dict(total.custom),
        node_name="127.0.0.1",
        address="127.0.0.1",
        is_head=True,
    )


def _demand(spec: JobSpec) -> Resources:
    """What a running job holds, counted the way the Ray adapter asks for it."""
    custom = dict(spec.resources.custom)
    if spec.accelerator_model:
        key = f"accelerator_type:{spec.accelerator_model}"
        custom[key] = max(custom.get(key, 0.0), 0.001)
    return Resources(
        cpus=spec.resources.cpus,
        gpus=spec.resources.gpus,
        memory_bytes=spec.resources.memory_bytes,
        custom=custom,
    )


def _validate(spec: JobSpec) -> None:
    """Refuse what Ray's client refuses before sending (not retryable)."""
    problems: list[str] = []
    if not spec.remote_id or not isinstance(spec.remote_id, str):
        problems.append("remote_id must be a non-empty string")
    if not isinstance(spec.entrypoint, str) or not spec.entrypoint.strip():
        problems.append("entrypoint must be a non-empty string")
    env_vars = spec.runtime_env.get("env_vars", {})
    if not isinstance(env_vars, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env_vars.items()
    ):
        problems.append("runtime_env['env_vars'] must be of type Dict[str, str]")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in spec.metadata.items()):
        problems.append("metadata must be of type Dict[str, str]")
    if problems:
        raise BackendError(f"fake cluster refused the job: {'; '.join(problems)}", retryable=False)
