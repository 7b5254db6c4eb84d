"""The Ray adapter: runs Paddock jobs through a Ray cluster's Jobs API.

The only module in Paddock that imports ``ray``. It talks to the cluster's dashboard
address (``http://host:8265``) over HTTP: the Jobs API through Ray's own
``JobSubmissionClient``, capacity and nodes through the dashboard's REST endpoints.

Every failure leaves as :class:`BackendError`; ``retryable`` is True when the cluster could
not be reached, timed out or failed on its side (5xx), False when it refused what we sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
from ray.exceptions import AuthenticationError
from ray.job_submission import JobDetails, JobStatus, JobSubmissionClient

from apps.dispatch.backends.ray_logs import DriverLocation, RayLogReader
from apps.dispatch.port import (
    LOG_CHUNK_BYTES,
    ApplyResult,
    BackendError,
    Capacity,
    JobSpec,
    LogChunk,
    NodeInfo,
    ObjectKind,
    PackageRef,
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
from apps.dispatch.runtime_env import checked_for_dispatch, with_package_locations

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
UPLOAD_TIMEOUT_S = 120.0  # in all, for one package of up to 100 MiB
# Ray's name prefix for packages in its store (ray._private.runtime_env.packaging.RAY_PKG_PREFIX).
RAY_PACKAGE_PREFIX = "_ray_pkg_"
MESSAGE_LIMIT = 4000  # Ray's FAILED message carries up to 20,000 characters of log
NODE_TOTALS_TTL_S = 30.0  # how long capacity() trusts the node table it read

_STATES: dict[JobStatus, RemoteState] = {
    JobStatus.PENDING: RemoteState.PENDING,
    JobStatus.RUNNING: RemoteState.RUNNING,
    JobStatus.SUCCEEDED: RemoteState.SUCCEEDED,
    JobStatus.FAILED: RemoteState.FAILED,
    JobStatus.STOPPED: RemoteState.STOPPED,
}
_HTTP_STATUS = re.compile(r"status code (\d{3})")
# Ray's JobErrorType values that say the cluster failed the job, not its code (a bad pip
# requirement, RUNTIME_ENV_SETUP_FAILURE, and a non-zero exit are the job's own).
_INFRASTRUCTURE_ERRORS = frozenset(
    {
        "JOB_SUPERVISOR_ACTOR_START_TIMEOUT",
        "JOB_SUPERVISOR_ACTOR_START_FAILURE",
        "JOB_SUPERVISOR_ACTOR_UNSCHEDULABLE",
        "JOB_SUPERVISOR_ACTOR_UNKNOWN_FAILURE",
        "JOB_SUPERVISOR_ACTOR_DIED",
    }
)
# Resources Ray reports that are not compute a job asks for.
_NOT_CUSTOM = ("CPU", "GPU", "memory", "object_store_memory")


def accelerator_resource(model: str) -> str:
    """The Ray resource that marks a node's accelerator model ("H100" -> accelerator_type:H100)."""
    return f"accelerator_type:{model}"


# Ray itself asks for an accelerator type with a tiny share of this resource
# (ray._private.accelerators: ``{f"accelerator_type:{t}": 0.001}``).
ACCELERATOR_SHARE = 0.001


class _Client(JobSubmissionClient):
    """Ray's client with HTTP timeouts: it sets none, and a dead cluster must not hang a task."""

    def __init__(self, address: str, headers: dict[str, Any], timeout: tuple[float, float]) -> None:
        self._paddock_timeout = timeout  # before super(): its __init__ already calls the API
        super().__init__(address=address, headers=headers)

    def _do_request(self, method: str, endpoint: str, **kwargs: Any) -> requests.Response:
        uploading = method == "PUT" and endpoint.startswith("/api/packages/")
        kwargs.setdefault(
            "timeout", (self._paddock_timeout[0], UPLOAD_TIMEOUT_S) if uploading else self._paddock_timeout
        )
        return super()._do_request(method, endpoint, **kwargs)


class _UploadDeadline(Exception):
    """An upload ran past its deadline (raised from inside the request body)."""


class _DeadlineBody:
    """A request body sent in small pieces that stops once its deadline has passed.

    ``requests`` sends it with a Content-Length (from ``__len__``), not chunked; each piece
    is a separate socket write, so a cluster that stops reading, or reads very slowly, ends
    the upload at the deadline instead of pinning the worker.
    """

    PIECE = 64 * 1024

    def __init__(self, data: bytes, deadline: float) -> None:
        self._data = memoryview(data)
        self._deadline = deadline

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self._data), self.PIECE):
            if time.monotonic() > self._deadline:
                raise _UploadDeadline()
            yield bytes(self._data[start : start + self.PIECE])


class RayBackend:
    """A Ray cluster reached through its dashboard address (the Jobs API)."""

    def __init__(
        self,
        address: str,
        auth_token: str | None = None,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        read_timeout: float = READ_TIMEOUT_S,
        upload_timeout: float = UPLOAD_TIMEOUT_S,
    ) -> None:
        address = address.strip().rstrip("/")
        if not address:
            raise BackendError("a Ray backend needs the cluster's dashboard address", retryable=False)
        if "://" not in address:
            address = f"http://{address}"
        if not address.startswith(("http://", "https://")):
            raise BackendError(f"Ray address must be http(s)://host:port, got {address!r}", retryable=False)
        self.address = address
        self._headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else {}
        self._timeout = (connect_timeout, read_timeout)
        self._upload_timeout = upload_timeout
        self._client_instance: _Client | None = None
        self._client_lock = threading.Lock()
        self._totals_cache: tuple[float, dict[str, float], int] | None = None
        self._log_reader = RayLogReader(address, self._headers, self._timeout)

    def __repr__(self) -> str:  # never shows the token
        return f"RayBackend({self.address!r}, auth={'token' if self._headers else 'none'})"

    # -- the port -----------------------------------------------------------------

    def ping(self) -> None:
        version = self._get_json("/api/version")
        if not isinstance(version, dict) or "ray_version" not in version:
            raise BackendError(f"{self.address} answered, but not as a Ray dashboard", retryable=False)

    def capacity(self) -> Capacity:
        """Totals from the node table, usage from the autoscaler's latest report.

        Ray has no endpoint that gives both with exact resource names. ``/api/v0/nodes``
        gives each node's totals, names intact. ``/api/cluster_status`` gives cluster-wide
        ``[used, total]`` per resource, but its JSON keys are camelCased
        (``accelerator_type:H100`` -> ``acceleratorType:H100``) and it is refreshed by the
        autoscaler monitor (every ``AUTOSCALER_UPDATE_INTERVAL_S``, 5 s by default), so
        ``available`` can lag that long behind.

        The node table changes only when nodes come and go, so it is kept for
        ``NODE_TOTALS_TTL_S`` and read again early whenever the report's totals disagree
        with it: in steady state a capacity read is one request (admission asks on every pass).
        """
        status_reply = self._get_json("/api/cluster_status")
        try:
            report = (status_reply.get("data") or {}).get("clusterStatus") or {}
            usage = (report.get("loadMetricsReport") or {}).get("usage") or {}
        except (TypeError, AttributeError) as exc:
            raise BackendError(
                f"unexpected capacity answer from Ray at {self.address}: {exc!r}", retryable=False
            ) from exc
        if not usage:
            # The first report comes a few seconds after the head starts. Autoscaler v2
            # (RAY_enable_autoscaler_v2) writes no such report at all.
            raise BackendError(f"Ray at {self.address} has not reported resource usage yet", retryable=True)
        totals = self._node_totals()
        if totals is None or not _report_matches(usage, totals[0]):
            totals = self._node_totals(refresh=True)
        assert totals is not None
        total, node_count = totals
        try:
            by_camel_name = {_ray_camel_case(name): name for name in total}
            used = {by_camel_name[key]: float(pair[0]) for key, pair in usage.items() if key in by_camel_name}
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            raise BackendError(
                f"unexpected capacity answer from Ray at {self.address}: {exc!r}", retryable=False
            ) from exc
        available = {name: max(amount - used.get(name, 0.0), 0.0) for name, amount in total.items()}
        return Capacity(total=_resources(total), available=_resources(available), nodes=node_count)

    def _node_totals(self, *, refresh: bool = False) -> tuple[dict[str, float], int] | None:
        """The alive nodes' summed resources and their count (kept a while; see capacity())."""
        with self._client_lock:
            cached = self._totals_cache
        if not refresh:
            if cached is not None and time.monotonic() < cached[0]:
                return cached[1], cached[2]
            if cached is None:
                refresh = True
        if not refresh:
            return None
        nodes_reply = self._get_json("/api/v0/nodes?detail=1&limit=10000")
        try:
            nodes = [n for n in nodes_reply["data"]["result"]["result"] if n.get("state") == "ALIVE"]
            total: dict[str, float] = {}
            for node in nodes:
                for name, amount in (node.get("resources_total") or {}).items():
                    total[name] = total.get(name, 0.0) + float(amount)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            raise BackendError(f"unexpected node list from Ray at {self.address}: {exc!r}", retryable=False) from exc
        with self._client_lock:
            self._totals_cache = (time.monotonic() + NODE_TOTALS_TTL_S, total, len(nodes))
        return total, len(nodes)

    def submit(self, spec: JobSpec) -> SubmitResult:
        if not spec.remote_id.strip() or not spec.entrypoint.strip():
            # Ray would run an empty entrypoint and call it SUCCEEDED.
            raise BackendError("a job needs a remote_id and an entrypoint", retryable=False)
        # Checked again here: a stored job may predate the API's rules, and nothing that names
        # a path on this machine may reach Ray's client (it would zip and upload it).
        _, packages = checked_for_dispatch(spec)
        locations = {ref.uri: self._ensure_package(ref) for ref in packages}
        kwargs = submit_arguments(spec, locations)
        try:
            self._client().submit_job(entrypoint=spec.entrypoint, submission_id=spec.remote_id, **kwargs)
        except BackendError:
            raise
        except Exception as exc:
            # Ray refuses a known submission_id with HTTP 500 (not 409) and this text.
            if f"submission_id {spec.remote_id} already exists" in str(exc):
                return SubmitResult(remote_id=spec.remote_id, adopted=True)
            raise self._error(exc, "submit") from exc
        return SubmitResult(remote_id=spec.remote_id, adopted=False)

    def status(self, remote_id: str) -> RemoteStatus:
        try:
            info = self._client().get_job_info(remote_id)
        except BackendError:
            raise
        except Exception as exc:
            if _http_status(exc) == 404:
                return RemoteStatus(remote_id=remote_id, state=RemoteState.NOT_FOUND, message="Ray has no such job")
            raise self._error(exc, "status") from exc
        return remote_status(remote_id, info)

    def stop(self, remote_id: str) -> bool:
        """Ask Ray to stop the job; True when Ray still had it (PENDING or RUNNING).

        A RUNNING job is STOPPED about two seconds later. A PENDING job that is waiting for
        resources stays PENDING: Ray queues the stop on the job's supervisor actor, which
        runs only once the resources appear, or fails the job after
        RAY_JOB_START_TIMEOUT_SECONDS (15 minutes by default).
        """
        try:
            return bool(self._client().stop_job(remote_id))
        except BackendError:
            raise
        except Exception as exc:
            if _http_status(exc) == 404:
                return False
            raise self._error(exc, "stop") from exc

    def logs(self, remote_id: str, *, offset: int = 0, limit: int = LOG_CHUNK_BYTES) -> LogChunk:
        """By HTTP range from the driver node's agent; see :mod:`.ray_logs` for when the whole
        log has to stream from the head instead."""
        return self._log_reader.read(remote_id, offset, limit, locate=self._driver_location)

    def _driver_location(self, remote_id: str) -> DriverLocation | None:
        try:
            info = self._client().get_job_info(remote_id)
        except BackendError:
            raise
        except Exception as exc:
            if _http_status(exc) == 404:
                return None
            raise self._error(exc, "logs") from exc
        if not info.driver_node_id:
            return None  # the driver has not started: no log yet
        return DriverLocation(node_id=info.driver_node_id, agent_address=info.driver_agent_http_address)

    def list_remote_ids(self) -> list[str]:
        try:
            jobs = self._client().list_jobs()
        except BackendError:
            raise
        except Exception as exc:
            raise self._error(exc, "list jobs") from exc
        # Drivers started with ray.init() (not through the Jobs API) have no submission id.
        return sorted(job.submission_id for job in jobs if job.submission_id)

    def nodes(self) -> list[NodeInfo]:
        """Every node Ray lists, alive and dead, with resources, labels and host name.

        Two dashboard calls, because neither has it all. The state API
        (``/api/v0/nodes?detail=1``) has ids, states, resources and labels with their names
        intact, but no host name. The dashboard's node summary (``/nodes?view=summary``) has
        the host name (``raylet.nodeManagerHostname``, from the GCS node table, so dead nodes
        keep theirs), but camelCases resource and label keys. The summary is cached by the
        dashboard for a few seconds and lists dead nodes only while it remembers them: a node
        missing from it gets ``hostname=""``.
        """
        nodes_reply = self._get_json("/api/v0/nodes?detail=1&limit=10000")
        summary_reply = self._get_json("/nodes?view=summary")
        try:
            hostnames: dict[str, str] = {}
            for entry in (summary_reply.get("data") or {}).get("summary") or []:
                raylet = entry.get("raylet") or {}
                hostname = raylet.get("nodeManagerHostname") or entry.get("hostname") or ""
                if raylet.get("nodeId") and hostname:
                    hostnames[str(raylet["nodeId"])] = str(hostname)
            return [_node_info(node, hostnames) for node in nodes_reply["data"]["result"]["result"]]
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            raise BackendError(f"unexpected node list from Ray at {self.address}: {exc!r}", retryable=False) from exc

    def set_schedulable(self, node_name: str, schedulable: bool) -> bool:
        """Ray has no cordon: nothing is sent. Paddock's own admission keeps new work off a
        cordoned or draining node (it places jobs by node), so False: the cluster did not change."""
        return False

    def apply_objects(
        self, objects: Sequence[Mapping[str, Any]], *, kinds: Sequence[ObjectKind], owner_label: tuple[str, str]
    ) -> ApplyResult:
        raise BackendError("a Ray cluster has no Kubernetes objects to apply (Kueue needs Kubernetes)", retryable=False)

    # -- internals ----------------------------------------------------------------

    # -- serving (Ray Serve's REST API on the dashboard) ------------------------------------
    def serve_state(self) -> ServeState:
        return serve_state_from(self._get_json(SERVE_PATH))

    def serve_apply(
        self, apps: Sequence[ServeApp], *, owned_prefix: str, http_host: str, http_port: int
    ) -> ServeApplyResult:
        """One GET, and one PUT only when Paddock's applications differ from ``apps``.

        Serve's PUT declares the whole set of applications, so every application not Paddock's
        goes back in it with the config it was deployed with; one deployed from Python (no
        config) cannot be written back and stops the PUT with a clear error. The HTTP proxy is
        set only by the first PUT (Serve ignores later changes): when it already listens
        elsewhere, its place is kept and reported in the state."""
        for app in apps:
            if app.container is not None:
                raise BackendError(
                    f"{app.name} is a container image; Ray Serve runs Python applications only", retryable=False
                )
        reply = self._get_json(SERVE_PATH)
        state = serve_state_from(reply)
        observed = reply.get("applications") or {} if isinstance(reply, dict) else {}
        locations: dict[str, str] = {}
        for app in apps:
            for uri, ref in app.packages.items():
                if uri not in locations:
                    locations[uri] = self._ensure_package(ref)
        desired = [serve_app_config(app, locations) for app in apps]
        ours = {name for name in observed if name.startswith(owned_prefix)}
        current = {
            name: (observed[name] or {}).get("deployed_app_config")
            for name in ours
            if (observed[name] or {}).get("status") != "DELETING"
        }
        wanted = {config["name"]: config for config in desired}
        changed = tuple(
            sorted(
                {name for name in current if name not in wanted}
                | {name for name, config in wanted.items() if _canonical(current.get(name)) != _canonical(config)}
            )
        )
        if not changed:
            return ServeApplyResult(written=False, state=state)
        others: list[dict[str, Any]] = []
        for name, app in observed.items():
            if name.startswith(owned_prefix) or (app or {}).get("status") == "DELETING":
                continue
            config = (app or {}).get("deployed_app_config")
            if not isinstance(config, dict):
                raise BackendError(
                    f"Ray at {self.address}: the Serve application {name!r} was not deployed from a config, "
                    "so a config PUT would delete it; Paddock leaves this cluster's Serve alone",
                    retryable=False,
                )
            others.append(config)
        host, port = (state.http_host, state.http_port) if state.http_port else (http_host, http_port)
        body = {"http_options": {"host": host, "port": port}, "applications": [*others, *desired]}
        try:
            response = requests.put(self.address + SERVE_PATH, json=body, headers=self._headers, timeout=self._timeout)
        except requests.RequestException as exc:
            raise self._error(exc, f"PUT {SERVE_PATH}") from exc
        if response.status_code != 200:
            raise BackendError(
                f"Ray at {self.address}: PUT {SERVE_PATH} answered HTTP {response.status_code}: "
                f"{_short(response.text, 1000)}",
                retryable=_retryable_status(response.status_code, response.text),
            )
        return ServeApplyResult(written=True, state=state, changed=changed)

    def _ensure_package(self, ref: PackageRef) -> str:
        """Put a package in the cluster's own package store (unless it is there) and return the
        ``gcs://`` URI Ray knows it by; the same calls Ray's client makes for a local
        working_dir (``GET``, then ``PUT /api/packages/gcs/<name>``), with our bytes."""
        name = f"{RAY_PACKAGE_PREFIX}{ref.sha256}.zip"
        path = f"/api/packages/gcs/{name}"
        # The GET also pins the package on the cluster for a while, so it outlives the submit.
        found = self._package_request("GET", path)
        if found.status_code == 404:
            try:
                data = ref.load()
            except BackendError:
                raise
            except Exception as exc:
                raise BackendError(f"package {ref.uri} could not be read: {exc!r}", retryable=True) from exc
            if hashlib.sha256(data).hexdigest() != ref.sha256:
                raise BackendError(f"package {ref.uri}: the stored bytes do not match its sha256", retryable=False)
            stored = self._package_request("PUT", path, data=data)
            if stored.status_code != 200:
                raise self._package_error(stored, "upload package")
        elif found.status_code != 200:
            raise self._package_error(found, "look up package")
        return f"gcs://{name}"

    def _package_request(self, method: str, path: str, data: bytes | None = None) -> requests.Response:
        """One call to the package API, with a deadline: an upload ends after ``upload_timeout``
        seconds in all, however slowly the cluster reads it."""
        body: _DeadlineBody | None = None
        timeout = self._timeout
        if data is not None:
            body = _DeadlineBody(data, time.monotonic() + self._upload_timeout)
            timeout = (self._timeout[0], self._upload_timeout)
        try:
            return requests.request(method, self.address + path, headers=self._headers, data=body, timeout=timeout)
        except _UploadDeadline as exc:
            raise BackendError(
                f"Ray at {self.address}: upload package: not done after {self._upload_timeout:g} s", retryable=True
            ) from exc
        except requests.RequestException as exc:
            raise self._error(exc, f"{method} {path}") from exc

    def _package_error(self, response: requests.Response, action: str) -> BackendError:
        if response.status_code in (401, 403):
            return BackendError(
                f"Ray at {self.address}: {action}: the cluster refused our credentials (token)", retryable=False
            )
        return BackendError(
            f"Ray at {self.address}: {action}: HTTP {response.status_code}: {_short(response.text)}",
            retryable=_retryable_status(response.status_code, response.text),
        )

    def _client(self) -> _Client:
        """Ray's client, made on first use (its constructor calls the cluster) and then kept."""
        with self._client_lock:
            if self._client_instance is None:
                try:
                    self._client_instance = _Client(self.address, dict(self._headers), self._timeout)
                except Exception as exc:
                    raise self._error(exc, "connect") from exc
            return self._client_instance

    def _get_json(self, path: str) -> Any:
        try:
            response = requests.get(self.address + path, headers=self._headers, timeout=self._timeout)
        except requests.RequestException as exc:
            raise self._error(exc, f"GET {path}") from exc
        if response.status_code != 200:
            raise BackendError(
                f"Ray at {self.address}: GET {path} answered HTTP {response.status_code}: {_short(response.text)}",
                retryable=_retryable_status(response.status_code),
            )
        try:
            return response.json()
        except ValueError as exc:
            raise BackendError(f"Ray at {self.address}: GET {path} did not answer JSON", retryable=False) from exc

    def _unexpected(self, what: str, exc: BaseException) -> BackendError:
        return BackendError(f"unexpected {what} from Ray at {self.address}: {exc!r}", retryable=False)

    def _error(self, exc: BaseException, action: str) -> BackendError:
        """Translate anything Ray's client or ``requests`` raises into a BackendError."""
        where = f"Ray at {self.address}: {action}"
        if isinstance(exc, BackendError):
            return exc
        if isinstance(exc, AuthenticationError):
            return BackendError(f"{where}: the cluster refused our credentials (token)", retryable=False)
        if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
            return BackendError(f"{where}: bad address ({exc})", retryable=False)
        if isinstance(exc, requests.RequestException | ConnectionError | TimeoutError):
            return BackendError(f"{where}: unreachable ({type(exc).__name__})", retryable=True)
        status = _http_status(exc)
        if status is not None:
            return BackendError(
                f"{where}: HTTP {status}: {_short(str(exc))}", retryable=_retryable_status(status, str(exc))
            )
        # Ray's client validates the spec (runtime_env, resources) before sending it.
        return BackendError(f"{where}: {type(exc).__name__}: {_short(str(exc))}", retryable=False)


def submit_arguments(spec: JobSpec, package_locations: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``JobSubmissionClient.submit_job`` keyword arguments for ``spec`` (besides the ids).

    ``package_locations`` maps each Paddock package URI in the runtime_env to the ``gcs://``
    URI the cluster keeps it under (:meth:`RayBackend._ensure_package`). Raises a
    non-retryable :class:`BackendError` for a runtime_env Paddock must not send.
    """
    checked, packages = checked_for_dispatch(spec)
    missing = [ref.uri for ref in packages if ref.uri not in (package_locations or {})]
    if missing:
        raise BackendError(f"package {missing[0]} was not shipped to the cluster", retryable=False)
    resources = spec.resources
    custom = {name: float(amount) for name, amount in resources.custom.items() if amount > 0}
    if spec.accelerator_model:
        key = accelerator_resource(spec.accelerator_model)
        custom[key] = max(custom.get(key, 0.0), ACCELERATOR_SHARE)
    runtime_env = with_package_locations(checked, package_locations or {})
    gpus = resources.gpus
    if spec.placement:
        # Pin the entrypoint to the (first) node the scheduler reserved; a multi-node gang's
        # entrypoint takes that node's share and finds the rest in PADDOCK_PLACEMENT (Ray
        # assigns GPU indices within a node itself).
        first = spec.placement[0]
        if first.get("address"):
            custom[f"node:{first['address']}"] = ACCELERATOR_SHARE
        if len(spec.placement) > 1:
            gpus = float(len(first.get("gpus", ())))
        env_vars = dict(runtime_env.get("env_vars") or {})
        env_vars["PADDOCK_PLACEMENT"] = json.dumps(list(spec.placement), separators=(",", ":"))
        runtime_env["env_vars"] = env_vars
    arguments: dict[str, Any] = {
        "runtime_env": runtime_env or None,
        "metadata": dict(spec.metadata) or None,
        "entrypoint_num_cpus": resources.cpus if resources.cpus > 0 else None,
        "entrypoint_num_gpus": gpus if gpus > 0 else None,
        "entrypoint_memory": resources.memory_bytes if resources.memory_bytes > 0 else None,
        "entrypoint_resources": custom or None,
    }
    return {name: value for name, value in arguments.items() if value is not None}


def remote_status(remote_id: str, info: JobDetails) -> RemoteStatus:
    state = _STATES.get(JobStatus(info.status))
    if state is None:
        raise BackendError(f"Ray reported an unknown job status {info.status!r} for {remote_id}", retryable=False)
    message = info.message or ""
    error_type = str(getattr(info.error_type, "value", info.error_type) or "")
    if state is RemoteState.FAILED:
        code = info.driver_exit_code
        if code is not None and "exit code" not in message:
            message = f"{message} (exit code {code})" if message else f"exit code {code}"
        message = message or f"Ray reported the job failed ({info.error_type or 'no reason given'})"
    if len(message) > MESSAGE_LIMIT:
        message = _head_and_tail(message, MESSAGE_LIMIT)
    return RemoteStatus(
        remote_id=remote_id,
        state=state,
        message=message,
        # Ray's start_time is when it accepted the job, so a job that ran has waited since then.
        started_at=_from_ms(info.start_time) if state is not RemoteState.PENDING else None,
        finished_at=_from_ms(info.end_time) if state.is_terminal else None,
        infrastructure=state is RemoteState.FAILED and error_type in _INFRASTRUCTURE_ERRORS,
        exit_code=info.driver_exit_code if state is RemoteState.FAILED else None,
        error_type=error_type if state is RemoteState.FAILED else "",
    )


def _head_and_tail(message: str, limit: int) -> str:
    """A long FAILED message cut in its middle: its first line says what failed, its end why (the
    last lines of the log, the traceback's exception, pip's "No matching distribution found")."""
    first, _, rest = message.partition("\n")
    first = first[: limit // 4]
    marker = "\n… (cut) …\n"
    return first + marker + rest[-(limit - len(first) - len(marker)) :]


def _node_info(node: Mapping[str, Any], hostnames: Mapping[str, str]) -> NodeInfo:
    """One entry of Ray's state API node list as the port's NodeInfo."""
    node_id = str(node["node_id"])
    total = {str(name): float(amount) for name, amount in (node.get("resources_total") or {}).items()}
    resources = _resources(total)
    prefix = accelerator_resource("")
    # A node has at most one accelerator type; sorted so that two could never flap.
    types = sorted(name.removeprefix(prefix) for name in resources.custom if name.startswith(prefix))
    return NodeInfo(
        node_id=node_id,
        hostname=hostnames.get(node_id, ""),
        alive=node.get("state") == "ALIVE",
        cpus=resources.cpus,
        gpus=resources.gpus,
        memory_bytes=resources.memory_bytes,
        accelerator_type=types[0] if types else "",
        labels={str(key): str(value) for key, value in (node.get("labels") or {}).items()},
        custom=dict(resources.custom),
        node_name=str(node.get("node_name") or ""),
        address=str(node.get("node_ip") or ""),
        is_head=bool(node.get("is_head_node")),
    )


def _resources(amounts: Mapping[str, float]) -> Resources:
    custom = {
        name: amount for name, amount in amounts.items() if name not in _NOT_CUSTOM and not name.startswith("node:")
    }
    return Resources(
        cpus=amounts.get("CPU", 0.0),
        gpus=amounts.get("GPU", 0.0),
        memory_bytes=int(amounts.get("memory", 0.0)),
        custom=custom,
    )


def _report_matches(usage: Mapping[str, Any], total: Mapping[str, float]) -> bool:
    """True when the autoscaler's report totals every resource as the node table does."""
    by_camel = {_ray_camel_case(name): amount for name, amount in total.items()}
    try:
        return all(key in by_camel and abs(float(pair[1]) - by_camel[key]) < 1e-6 for key, pair in usage.items())
    except (IndexError, TypeError, ValueError):
        return False


def _ray_camel_case(name: str) -> str:
    """The dashboard's key conversion (ray.dashboard.utils.to_camel_case), to map names back."""
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _from_ms(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, tz=UTC) if value else None


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status in Ray's client errors ("Request failed with status code 404: ...")."""
    if not isinstance(exc, RuntimeError):
        return None
    match = _HTTP_STATUS.search(str(exc))
    return int(match.group(1)) if match else None


def _retryable_status(status: int, text: str = "") -> bool:
    if status in (408, 429):
        return True
    if status >= 500:
        # The head forwards a submit to its job agent and reports the agent's 400 (a bad
        # request) as its own 500: look for the agent's status inside the text.
        inner = [int(code) for code in _HTTP_STATUS.findall(text)[1:]]
        return not any(400 <= code < 500 for code in inner)
    return False


def _short(text: str, limit: int = 300) -> str:
    """The telling line of an error text: Ray's 500s carry a whole traceback."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip().strip(".")]
    line = lines[-1] if lines else text.strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- serving --------------------------------------------------------------------------------
SERVE_PATH = "/api/serve/applications/"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Serve's messages carry the colours of Ray's logs


def serve_app_config(app: ServeApp, locations: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``app`` as an entry of Serve's declarative config (packages named where the cluster keeps them)."""
    config: dict[str, Any] = {
        "name": app.name,
        "route_prefix": app.route_prefix,
        "import_path": app.import_path,
        "args": dict(app.args),
        "deployments": [dict(d) for d in app.deployments],
    }
    if app.runtime_env:
        config["runtime_env"] = with_package_locations(app.runtime_env, locations or {})
    return config


def _canonical(value: Any) -> str:
    """A config as text to compare: numbers as floats (Serve gives back 1 as 1.0), keys sorted."""

    def norm(item: Any) -> Any:
        if isinstance(item, bool) or item is None or isinstance(item, str):
            return item
        if isinstance(item, int | float):
            return float(item)
        if isinstance(item, Mapping):
            return {str(k): norm(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [norm(v) for v in item]
        return str(item)

    return json.dumps(norm(value), sort_keys=True)


def serve_state_from(reply: Any) -> ServeState:
    """Serve's ``GET /api/serve/applications/`` answer as a :class:`ServeState`."""
    if not isinstance(reply, Mapping):
        return ServeState()
    http = reply.get("http_options") or {}
    proxies = reply.get("proxies") or {}
    apps: dict[str, ServeAppStatus] = {}
    for name, app in (reply.get("applications") or {}).items():
        app = app or {}
        deployments = []
        for dep_name, dep in (app.get("deployments") or {}).items():
            dep = dep or {}
            counts: dict[str, int] = {}
            for replica in dep.get("replicas") or ():
                replica_state = str((replica or {}).get("state", ""))
                counts[replica_state] = counts.get(replica_state, 0) + 1
            target = dep.get("target_num_replicas")
            deployments.append(
                ServeDeploymentStatus(
                    name=str(dep_name),
                    status=str(dep.get("status", "")),
                    message=_short(_ANSI.sub("", str(dep.get("message") or "")), MESSAGE_LIMIT),
                    replicas=counts,
                    target_replicas=int(target) if isinstance(target, int | float) else None,
                )
            )
        config = app.get("deployed_app_config") or {}
        apps[str(name)] = ServeAppStatus(
            name=str(name),
            status=str(app.get("status", "")),
            message=_short(_ANSI.sub("", str(app.get("message") or "")), MESSAGE_LIMIT),
            deployments=tuple(deployments),
            route_prefix=app.get("route_prefix", config.get("route_prefix")),
        )
    port = http.get("port")
    running = bool(proxies) or bool(apps)
    return ServeState(
        http_host=str(http.get("host") or ""),
        http_port=int(port) if running and isinstance(port, int) else None,
        apps=apps,
    )
