"""``manage.py runlocal`` (what ``make run`` starts): a local Ray head, a Celery worker and
beat, and the web server, supervised together.

- A child that dies is started again (after 1 s, doubling up to 30 s while it keeps dying);
  the others go on. Ctrl-C (or SIGTERM) stops everything it started, in order.
- Every child gets SIGTERM when ``runlocal`` itself dies, even by SIGKILL (Linux's
  parent-death signal), so no orphan keeps the ports for the next ``make run``.
- One ``runlocal`` per data directory (a lock file); a port already taken is named before
  anything starts.
- The Ray head requires a token (kept in ``$PADDOCK_DATA_DIR/ray-auth-token``) and starts
  with a clean environment: jobs never see the control plane's variables.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.dispatch.local_ray import RayHeadPorts, ensure_token_file, local_head_token_path, port_in_use

STOP_GRACE_SECONDS = 15
RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = 30.0
HEALTHY_AFTER_SECONDS = 60.0  # a child that ran this long starts its back-off from the start again


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when runlocal dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    """One supervised process and its restart schedule."""

    name: str
    command: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    delay: float = RESTART_FIRST_DELAY
    restart_at: float | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.command,
            env=self.env,
            # Own process group: Ctrl-C reaches runlocal once and it stops children in order.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.started_at = time.monotonic()
        self.restart_at = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Command(BaseCommand):
    help = "Run Paddock locally: Ray head, Celery worker and beat, web server (127.0.0.1 only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PADDOCK_PORT", "8000")))
        parser.add_argument("--ray-gcs-port", type=int, default=int(os.environ.get("PADDOCK_RAY_GCS_PORT", "6380")))
        parser.add_argument(
            "--ray-dashboard-port", type=int, default=int(os.environ.get("PADDOCK_RAY_DASHBOARD_PORT", "8265"))
        )
        parser.add_argument("--no-ray", action="store_true", help="do not start a Ray head (use an existing one)")
        parser.add_argument("--worker-concurrency", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["ray_gcs_port"] == 6379:
            raise CommandError("Ray's GCS port must not be 6379 (Redis uses it).")
        data_dir = Path(settings.DATA_DIR)
        data_dir.mkdir(parents=True, exist_ok=True)
        lock = self._lock(data_dir)
        try:
            self._run(data_dir, options)
        finally:
            lock.close()

    # -- setup --------------------------------------------------------------------------
    def _lock(self, data_dir: Path) -> IO[str]:
        """One runlocal per data directory: a second one would fight the first for its ports."""
        handle = (data_dir / "runlocal.lock").open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise CommandError(
                f"Paddock is already running on {data_dir} (pid {holder}). Stop it first (Ctrl-C in its "
                "terminal), or give this one its own PADDOCK_DATA_DIR and ports."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        return handle

    def _check_ports(self, options: dict[str, Any]) -> None:
        wanted = {f"web port {options['port']} (PADDOCK_PORT)": options["port"]}
        if not options["no_ray"]:
            ports = RayHeadPorts.derive(options["ray_gcs_port"], options["ray_dashboard_port"])
            for name, port in ports.listening().items():
                wanted[f"Ray {name} port {port} (PADDOCK_RAY_GCS_PORT / PADDOCK_RAY_DASHBOARD_PORT)"] = port
        busy = [name for name, port in wanted.items() if port_in_use(port)]
        if busy:
            raise CommandError(
                "Cannot start: already in use: "
                + "; ".join(busy)
                + ". Another Paddock or Ray may be running; stop it or move ports with the variables named."
            )

    def _prepare(self, data_dir: Path) -> None:
        if settings.CELERY_BROKER_URL.startswith(("paddockfs://", "filesystem://")):
            for folder in ("data_folder_in", "processed_folder", "control_folder"):
                Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS[folder])).mkdir(parents=True, exist_ok=True)
        # The shared cache's table (the embedded default keeps it in the database).
        call_command("createcachetable", verbosity=0)

    # -- run ----------------------------------------------------------------------------
    def _run(self, data_dir: Path, options: dict[str, Any]) -> None:
        self._check_ports(options)
        self._prepare(data_dir)
        python = sys.executable
        bin_dir = str(Path(python).parent)
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        celery = [python, "-m", "celery", "-A", "controlplane"]
        children: list[Child] = []
        if not options["no_ray"]:
            token_file = ensure_token_file(local_head_token_path(data_dir))
            children.append(
                Child(
                    "ray head",
                    [
                        python,
                        "-m",
                        "apps.dispatch.local_ray",
                        "--gcs-port",
                        str(options["ray_gcs_port"]),
                        "--dashboard-port",
                        str(options["ray_dashboard_port"]),
                        "--temp-dir",
                        str(data_dir / "ray"),
                        "--auth-token-file",
                        str(token_file),
                    ],
                    env=env,
                )
            )
        children += [
            Child(
                "celery worker",
                [
                    *celery,
                    "worker",
                    "--loglevel=INFO",
                    f"--concurrency={options['worker_concurrency']}",
                    "--hostname=paddock@%h",
                ],
                env=env,
            ),
            Child(
                "celery beat",
                [*celery, "beat", "--loglevel=INFO", f"--schedule={data_dir / 'celerybeat-schedule'}"],
                env=env,
            ),
            Child(
                "web",
                [
                    python,
                    "-m",
                    "gunicorn",
                    "controlplane.wsgi",
                    f"--bind=127.0.0.1:{options['port']}",
                    "--workers=2",
                    "--threads=4",
                    "--access-logfile=-",
                ],
                env=env,
            ),
        ]
        stopping = False

        def request_stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        try:
            for child in children:
                self._say(f"starting {child.name}: {' '.join(child.command)}")
                child.start()
                if child.name == "ray head":
                    token = local_head_token_path(data_dir).read_text().strip()
                    self._wait_for(
                        f"http://127.0.0.1:{options['ray_dashboard_port']}/api/version",
                        "Ray head",
                        120,
                        child,
                        token=token,
                    )
            self._wait_for(f"http://127.0.0.1:{options['port']}/healthz", "web server", 60, children[-1])
            self._say(
                self.style.SUCCESS(
                    f"\nPaddock is running at http://127.0.0.1:{options['port']}/  (Ctrl-C stops everything)\n"
                )
            )
            while not stopping:
                self._supervise(children)
                time.sleep(0.5)
        finally:
            self._stop(children)

    def _supervise(self, children: list[Child]) -> None:
        """Start again whatever died, after a back-off; the others are left running."""
        now = time.monotonic()
        for child in children:
            if child.proc is None or child.running():
                continue
            if child.restart_at is None:
                ran = now - child.started_at
                if ran >= HEALTHY_AFTER_SECONDS:
                    child.delay = RESTART_FIRST_DELAY
                self._say_error(
                    f"{child.name} exited with {child.proc.returncode} after {ran:.0f} s; "
                    f"starting it again in {child.delay:.0f} s"
                )
                child.restart_at = now + child.delay
                child.delay = min(child.delay * 2, RESTART_MAX_DELAY)
            elif now >= child.restart_at:
                child.restarts += 1
                self._say(f"starting {child.name} again (restart {child.restarts})")
                child.start()

    def _stop(self, children: list[Child]) -> None:
        self._say("\nstopping Paddock…")
        for child in reversed(children):
            if child.running():
                assert child.proc is not None
                self._say(f"  stopping {child.name}")
                child.proc.terminate()  # each stops its own children (warm shutdown)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
        self._say("stopped.")

    def _say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()  # a pipe or a log file would otherwise hold it back

    def _say_error(self, message: str) -> None:
        self.stderr.write(message)
        self.stderr.flush()

    def _wait_for(self, url: str, what: str, seconds: float, child: Child, *, token: str | None = None) -> None:
        deadline = time.monotonic() + seconds
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        while time.monotonic() < deadline:
            if not child.running():
                raise CommandError(f"{what} exited before it answered at {url}")
            try:
                request = urllib.request.Request(url, headers=headers)  # noqa: S310 (our own http://127.0.0.1 URL)
                with urllib.request.urlopen(request, timeout=2):  # noqa: S310
                    return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise CommandError(f"{what} did not answer at {url} within {seconds:.0f} s")
