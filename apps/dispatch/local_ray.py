"""A real Ray head on this machine, for ``make run`` and for integration tests.

The head runs as a ``ray start --head --block`` subprocess of the virtualenv's own ``ray``
CLI, so job entrypoints' ``python`` is the virtualenv's. This module never imports ``ray``
(only ``backends/ray.py`` does); it talks to the head over HTTP on 127.0.0.1.

Every port the head opens is pinned (see :class:`RayHeadPorts`), so two heads (``make run``
on GCS 6380 / dashboard 8265 and the test suite's on other ports) can run side by side.
:meth:`LocalRayHead.stop` ends only this head's processes; it never runs ``ray stop``,
which would end every Ray process of the user, the other head's included.

Run one in the foreground until Ctrl-C or SIGTERM::

    python -m apps.dispatch.local_ray --gcs-port 6380 --dashboard-port 8265
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import requests

LOCALHOST = "127.0.0.1"
# Answered in this order once a head is usable: the dashboard, its Jobs API, and the first
# resource report of the autoscaler monitor (what RayBackend.capacity() reads).
_READY_CHECKS = ("/api/version", "/api/jobs/", "/api/cluster_status")

# Worker port ranges live in 24200-31999: above the 23000-24000 range Ray's client proxy
# hands out and below Linux's ephemeral range (32768+), which outgoing connections use.
_WORKER_PORTS_FIRST = 24_200
_WORKER_PORTS_PER_HEAD = 200
_WORKER_PORT_SLOTS = 38


# What a job on the local head may inherit from whoever started it (see LocalRayHead.environment).
_JOB_ENV_NAMES = frozenset(
    {"HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "LD_LIBRARY_PATH"}
)
_JOB_ENV_PREFIXES = ("LC_", "CUDA_", "NVIDIA_", "RAY_")
_NEVER_TO_JOBS = ("RAY_ADDRESS", "RAY_AUTH")


def _passes_to_jobs(name: str) -> bool:
    if name.startswith(_NEVER_TO_JOBS):
        return False
    return name in _JOB_ENV_NAMES or name.startswith(_JOB_ENV_PREFIXES)


class LocalRayError(RuntimeError):
    """The local Ray head could not be started or did not become ready."""


@dataclass(frozen=True)
class RayHeadPorts:
    """Every port one Ray head listens on.

    :meth:`derive` lays them out from the GCS and dashboard ports: the GCS block is
    ``gcs .. gcs+3`` and the dashboard block ``dashboard .. dashboard+6``, so two heads
    whose GCS ports are at least 4 apart and dashboard ports at least 7 apart (6380/8265 and
    6390/8275, say) do not collide. Worker ports get a 200-port range picked by
    ``gcs % 38``.
    """

    gcs: int
    dashboard: int
    client_server: int
    node_manager: int
    object_manager: int
    dashboard_agent_http: int
    dashboard_agent_grpc: int
    runtime_env_agent: int
    metrics_export: int
    dashboard_metrics: int  # env DASHBOARD_METRIC_PORT: Ray's fixed default is 44227
    autoscaler_metrics: int  # env AUTOSCALER_METRIC_PORT: Ray's fixed default is 44217
    min_worker: int
    max_worker: int

    @classmethod
    def derive(cls, gcs: int, dashboard: int) -> RayHeadPorts:
        worker_first = _WORKER_PORTS_FIRST + (gcs % _WORKER_PORT_SLOTS) * _WORKER_PORTS_PER_HEAD
        return cls(
            gcs=gcs,
            dashboard=dashboard,
            client_server=gcs + 1,
            node_manager=gcs + 2,
            object_manager=gcs + 3,
            dashboard_agent_http=dashboard + 1,
            dashboard_agent_grpc=dashboard + 2,
            runtime_env_agent=dashboard + 3,
            metrics_export=dashboard + 4,
            dashboard_metrics=dashboard + 5,
            autoscaler_metrics=dashboard + 6,
            min_worker=worker_first,
            max_worker=worker_first + _WORKER_PORTS_PER_HEAD - 1,
        )

    def listening(self) -> dict[str, int]:
        """The fixed ports by name (the worker range excluded)."""
        return {
            "gcs": self.gcs,
            "dashboard": self.dashboard,
            "ray client server": self.client_server,
            "node manager": self.node_manager,
            "object manager": self.object_manager,
            "dashboard agent http": self.dashboard_agent_http,
            "dashboard agent grpc": self.dashboard_agent_grpc,
            "runtime env agent": self.runtime_env_agent,
            "metrics export": self.metrics_export,
            "dashboard metrics": self.dashboard_metrics,
            "autoscaler metrics": self.autoscaler_metrics,
        }

    def all_ports(self) -> set[int]:
        return set(self.listening().values()) | set(range(self.min_worker, self.max_worker + 1))

    def validate(self) -> None:
        ports = list(self.listening().values())
        if len(set(ports)) != len(ports):
            raise LocalRayError(f"Ray head ports overlap: {self.listening()}")
        if 6379 in ports:
            raise LocalRayError("Ray head may not use port 6379 (Redis's)")
        if not all(0 < port < 65536 for port in [*ports, self.min_worker, self.max_worker]):
            raise LocalRayError(f"Ray head ports out of range: {self}")
        if self.min_worker <= max(ports) and min(ports) <= self.max_worker:
            clash = [p for p in ports if self.min_worker <= p <= self.max_worker]
            if clash:
                raise LocalRayError(f"ports {clash} fall inside the worker port range")


def port_in_use(port: int) -> bool:
    """True when something on this machine listens on ``port`` (any interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            # Binding, not listening: any interface, so a listener on any address shows up.
            sock.bind(("0.0.0.0", port))  # noqa: S104
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def local_head_token_path(data_dir: str | os.PathLike[str]) -> Path:
    """Where ``make run`` keeps its local head's Ray auth token."""
    return Path(data_dir) / "ray-auth-token"


def ensure_token_file(path: Path) -> Path:
    """A file holding a random Ray auth token (made once, readable only by its owner)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
    return path


def _venv_bin() -> Path:
    # Not resolved: a venv's bin/python is a symlink to the base interpreter.
    return Path(sys.executable).parent


def _proc_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (to tell a live process from a reused pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime); fields are counted after the ")" that closes the command name.
    return stat.rsplit(")", 1)[1].split()[19]


def _proc_children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _descendants(root: int) -> list[int]:
    children = _proc_children()
    found: list[int] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _processes_using_dir(directory: str) -> list[int]:
    """Pids with ``directory`` or a path below it in their arguments (Ray passes its dirs to each)."""
    needles = [f"{directory}/".encode(), f"={directory}\0".encode(), f"\0{directory}\0".encode()]
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = b"\0" + (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if any(needle in cmdline for needle in needles):
            found.append(int(entry.name))
    return found


def _set_parent_death_signal() -> None:
    """In the child: get SIGTERM when the parent dies, so a killed pytest leaves no head."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class LocalRayHead:
    """A Ray head on 127.0.0.1, started and stopped as a subprocess of this process.

    On Linux the head gets SIGTERM when the thread that started it ends (prctl's parent-death
    signal), so a killed test run leaves no head behind: start it from a thread that lives
    as long as the head should.
    """

    def __init__(
        self,
        *,
        gcs_port: int = 6380,
        dashboard_port: int = 8265,
        num_cpus: int | None = None,
        num_gpus: int | None = None,
        resources: Mapping[str, float] | None = None,
        labels: Mapping[str, str] | None = None,
        temp_dir: str | os.PathLike[str] | None = None,
        auth_token: str | None = None,
        object_store_memory: int | None = None,
        ports: RayHeadPorts | None = None,
        ray_executable: str | os.PathLike[str] | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.ports = ports or RayHeadPorts.derive(gcs_port, dashboard_port)
        self.ports.validate()
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.resources = dict(resources or {})
        self.labels = dict(labels or {})
        self.auth_token = auth_token
        self.object_store_memory = object_store_memory
        self._own_temp_dir = temp_dir is None
        self._temp_dir = Path(temp_dir) if temp_dir is not None else None
        self._ray = Path(ray_executable) if ray_executable else _venv_bin() / "ray"
        self._extra_env = dict(extra_env or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._lock = threading.Lock()
        self.started_in: float | None = None  # seconds start() took

    # -- public -----------------------------------------------------------------

    @property
    def address(self) -> str:
        """The dashboard (Jobs API) address: what a RayBackend connects to."""
        return f"http://{LOCALHOST}:{self.ports.dashboard}"

    @property
    def temp_dir(self) -> Path:
        if self._temp_dir is None:
            raise LocalRayError("the head has no temp dir before start()")
        return self._temp_dir

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path | None:
        """Where ``ray start``'s own output goes (Ray's logs are under ``temp_dir``)."""
        return self._log_path

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The ``ray start`` command line (what :meth:`start` runs)."""
        p = self.ports
        cmd = [
            str(self._ray),
            "start",
            "--head",
            "--block",
            f"--node-ip-address={LOCALHOST}",
            f"--dashboard-host={LOCALHOST}",
            f"--port={p.gcs}",
            f"--dashboard-port={p.dashboard}",
            f"--ray-client-server-port={p.client_server}",
            f"--node-manager-port={p.node_manager}",
            f"--object-manager-port={p.object_manager}",
            f"--dashboard-agent-listen-port={p.dashboard_agent_http}",
            f"--dashboard-agent-grpc-port={p.dashboard_agent_grpc}",
            f"--runtime-env-agent-port={p.runtime_env_agent}",
            f"--metrics-export-port={p.metrics_export}",
            f"--min-worker-port={p.min_worker}",
            f"--max-worker-port={p.max_worker}",
            f"--temp-dir={self.temp_dir}",
            "--disable-usage-stats",
            "--log-style=record",
            "--log-color=false",
        ]
        if self.num_cpus is not None:
            cmd.append(f"--num-cpus={self.num_cpus}")
        if self.num_gpus is not None:
            cmd.append(f"--num-gpus={self.num_gpus}")
        if self.resources:
            cmd.append(f"--resources={json.dumps(self.resources)}")
        if self.labels:
            cmd.append("--labels=" + ",".join(f"{k}={v}" for k, v in self.labels.items()))
        if self.object_store_memory is not None:
            cmd.append(f"--object-store-memory={self.object_store_memory}")
        return cmd

    def environment(self) -> dict[str, str]:
        """The head's environment, which every job on it inherits: never the control plane's.

        Only what a process needs to run (PATH with the virtualenv first, HOME, the user, the
        locale, a temp dir), what GPUs need (CUDA_*, NVIDIA_*, LD_LIBRARY_PATH), Ray's own
        tuning (RAY_* but its address and auth settings), and Paddock's settings for the head
        below. Nothing else: not PADDOCK_* (an admin password), DATABASE_URL, REDIS_URL,
        secret keys or cloud credentials, which jobs of every team would otherwise read.
        """
        env = {name: value for name, value in os.environ.items() if _passes_to_jobs(name)}
        venv_bin = str(_venv_bin())
        env["PATH"] = os.pathsep.join([venv_bin, *[d for d in os.environ.get("PATH", "").split(os.pathsep) if d]])
        env["VIRTUAL_ENV"] = sys.prefix
        env.update(
            {
                # Ray turns --node-ip-address=127.0.0.1 into the machine's outward address
                # unless it runs in its single-machine mode (the one it uses on macOS).
                # In that mode agents and the client server bind to loopback only.
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
                "RAY_USAGE_STATS_ENABLED": "0",
                # Not configurable by flags; the defaults (44227, 44217) collide across heads.
                "DASHBOARD_METRIC_PORT": str(self.ports.dashboard_metrics),
                "AUTOSCALER_METRIC_PORT": str(self.ports.autoscaler_metrics),
                # Resource usage (what capacity() reports as available) is refreshed by the
                # autoscaler monitor, every 5 s by default.
                "AUTOSCALER_UPDATE_INTERVAL_S": "1",
                # SIGTERM would otherwise wait up to 30 s for the node to drain.
                "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
            }
        )
        if self.auth_token:
            env["RAY_AUTH_MODE"] = "token"
            env["RAY_AUTH_TOKEN_PATH"] = str(self.temp_dir / "auth_token")
        else:
            # Explicit: Ray turns token auth on by itself when ~/.ray/auth_token exists.
            env["RAY_AUTH_MODE"] = "disabled"
        env.update(self._extra_env)
        return env

    def start(self, timeout: float = 60.0) -> None:
        """Start the head and return once its dashboard, Jobs API and resource report answer."""
        with self._lock:
            if self.is_running():
                return
            began = time.monotonic()
            if self._temp_dir is not None and sys.platform == "linux":
                self._reap_leftovers(str(self._temp_dir))
            busy = [f"{name} {port}" for name, port in self.ports.listening().items() if port_in_use(port)]
            if busy:
                raise LocalRayError(
                    "cannot start a Ray head: port(s) already in use: "
                    + ", ".join(busy)
                    + " (another Ray head, or a leftover one?)"
                )
            if not self._ray.exists():
                raise LocalRayError(f"no ray CLI at {self._ray} (is ray[default] installed in the venv?)")
            if self._temp_dir is None:
                # Short: Ray's unix sockets live under it and paths are limited to 107 bytes.
                self._temp_dir = Path(tempfile.mkdtemp(prefix=f"pdk-ray-{self.ports.gcs}-"))
            self._temp_dir.mkdir(parents=True, exist_ok=True)
            if self.auth_token:
                fd = os.open(self._temp_dir / "auth_token", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as token_file:
                    token_file.write(self.auth_token)
            self._log_path = self._temp_dir / "ray-start.log"
            log = self._log_path.open("ab")
            try:
                self._proc = subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.environment(),
                    cwd=self._temp_dir,  # not the control plane's checkout: jobs start from here
                    start_new_session=True,  # our Ctrl-C is ours to handle, not Ray's
                    preexec_fn=_set_parent_death_signal if sys.platform == "linux" else None,
                )
            finally:
                log.close()
        try:
            self._wait_ready(began + timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began

    def stop(self, timeout: float = 30.0) -> None:
        """Stop this head's processes (and only these): SIGTERM, then SIGKILL stragglers."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            # Snapshot first: job drivers and workers run in their own sessions and process
            # groups, and once Ray's parent processes are gone they cannot be found by parentage.
            tracked = self._tracked_processes(proc.pid)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if self._temp_dir is not None and sys.platform == "linux":
                for pid in _processes_using_dir(str(self._temp_dir)):
                    tracked.setdefault(pid, _proc_start_time(pid))
            self._reap(tracked, grace=5.0)
            self._proc = None
            if self._own_temp_dir and self._temp_dir is not None:
                shutil.rmtree(self._temp_dir, ignore_errors=True)
                self._temp_dir = None

    def __enter__(self) -> LocalRayHead:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, limit: int = 4000) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")[-limit:]

    # -- internals --------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.auth_token}"} if self.auth_token else {}

    def _wait_ready(self, deadline: float) -> None:
        """Poll until every one of _READY_CHECKS answers."""
        waiting_for = "/api/version"
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise LocalRayError(f"ray start exited early; its output:\n{self.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                waiting_for = next((path for path in _READY_CHECKS if not self._answers(path)), "")
            if not waiting_for:
                return
            time.sleep(0.1)
        raise LocalRayError(
            f"Ray head at {self.address} not ready in time (waiting for {waiting_for}); output:\n{self.log_tail()}"
        )

    def _answers(self, path: str) -> bool:
        # Short: while the dashboard starts, its port accepts connections it does not yet serve.
        response = requests.get(self.address + path, headers=self._headers(), timeout=0.5)
        if response.status_code != 200:
            return False
        if path == "/api/cluster_status":
            # Present once the autoscaler monitor has written its first resource report.
            status = (response.json().get("data") or {}).get("clusterStatus") or {}
            return bool((status.get("loadMetricsReport") or {}).get("usage"))
        return True

    def _reap_leftovers(self, directory: str) -> None:
        """Processes of an earlier head on this temp dir whose supervisor was killed outright
        (SIGKILL leaves Ray's GCS and raylet holding the ports): end them before starting."""
        leftovers = {pid: _proc_start_time(pid) for pid in _processes_using_dir(directory)}
        if not leftovers:
            return
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        self._reap(leftovers, grace=5.0)
        wait_ports_free(self.ports.listening().values(), timeout=10.0)

    def _tracked_processes(self, root: int) -> dict[int, str | None]:
        if sys.platform != "linux":
            return {}
        pids = [root, *_descendants(root)]
        return {pid: _proc_start_time(pid) for pid in pids}

    @staticmethod
    def _reap(tracked: Mapping[int, str | None], grace: float) -> None:
        def alive() -> list[int]:
            return [pid for pid, started in tracked.items() if started and _proc_start_time(pid) == started]

        deadline = time.monotonic() + grace
        while alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def wait_ports_free(ports: Iterable[int], timeout: float = 10.0) -> list[int]:
    """Wait until none of ``ports`` is listened on; return the ones still busy."""
    deadline = time.monotonic() + timeout
    busy = [p for p in ports if port_in_use(p)]
    while busy and time.monotonic() < deadline:
        time.sleep(0.2)
        busy = [p for p in busy if port_in_use(p)]
    return busy


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m apps.dispatch.local_ray",
        description="Run a local Ray head on 127.0.0.1 in the foreground until Ctrl-C or SIGTERM.",
    )
    env = os.environ
    parser.add_argument("--gcs-port", type=int, default=int(env.get("PADDOCK_RAY_GCS_PORT", "6380")))
    parser.add_argument("--dashboard-port", type=int, default=int(env.get("PADDOCK_RAY_DASHBOARD_PORT", "8265")))
    parser.add_argument("--num-cpus", type=int, default=None)
    parser.add_argument("--num-gpus", type=int, default=None)
    parser.add_argument("--resources", default="", help="JSON, e.g. '{\"accelerator_type:H100\": 1}'")
    parser.add_argument("--labels", default="", help="k1=v1,k2=v2")
    parser.add_argument("--temp-dir", default=None, help="default: /tmp/pdk-ray-<gcs port>")
    parser.add_argument("--auth-token-file", default=None, help="turn on Ray token auth with this token")
    parser.add_argument("--start-timeout", type=float, default=60.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    labels = dict(item.split("=", 1) for item in args.labels.split(",") if item) if args.labels else {}
    token = Path(args.auth_token_file).read_text().strip() if args.auth_token_file else None
    try:
        head = LocalRayHead(
            gcs_port=args.gcs_port,
            dashboard_port=args.dashboard_port,
            num_cpus=args.num_cpus,
            num_gpus=args.num_gpus,
            resources=json.loads(args.resources) if args.resources else None,
            labels=labels,
            temp_dir=args.temp_dir or Path(tempfile.gettempdir()) / f"pdk-ray-{args.gcs_port}",
            auth_token=token,
        )
    except (LocalRayError, ValueError) as exc:
        print(f"local_ray: {exc}", file=sys.stderr, flush=True)
        return 2
    stopping = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        head.start(timeout=args.start_timeout)
    except LocalRayError as exc:
        print(f"local_ray: {exc}", file=sys.stderr, flush=True)
        return 1
    print(
        f"local_ray: Ray head ready at {head.address} in {head.started_in:.1f}s "
        f"(gcs {head.ports.gcs}, logs {head.temp_dir}); Ctrl-C stops it",
        flush=True,
    )
    code = 0
    while not stopping.wait(1.0):
        if not head.is_running():
            print(f"local_ray: the Ray head exited by itself; see {head.temp_dir}", file=sys.stderr, flush=True)
            code = 1
            break
    head.stop()
    print("local_ray: stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
