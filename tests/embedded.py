"""``make run``'s stack, for real, in a test: SQLite, the file-system broker, a local Ray head
with token auth, a Celery worker and beat, gunicorn — all started by ``manage.py runlocal``.

``embedded_stack`` (a session fixture) migrates a fresh data directory, bootstraps the demo
organisation, makes an API token and starts ``runlocal`` on ports of its own, so it runs
beside the suite's own Ray head and beside a developer's ``make run``. It is stopped at the
end of the session. Tests may kill parts of it; :meth:`EmbeddedStack.restart` brings it back
on the same data.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from apps.dispatch.local_ray import _proc_children

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED_GCS_PORT = int(os.environ.get("PADDOCK_TEST_EMBEDDED_GCS_PORT", "6470"))
EMBEDDED_DASHBOARD_PORT = int(os.environ.get("PADDOCK_TEST_EMBEDDED_DASHBOARD_PORT", "8440"))
READY_LINE = b"Paddock is running at"


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG: runlocal's Ctrl-C


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cmdline(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")).decode(errors="replace")
    except OSError:
        return ""


@dataclass
class EmbeddedStack:
    data_dir: Path
    port: int
    gcs_port: int
    dashboard_port: int
    env: dict[str, str]
    log_path: Path
    admin_password: str
    token: str = ""
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log_offset: int = field(default=0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ray_address(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def ray_token(self) -> str:
        return (self.data_dir / "ray-auth-token").read_text().strip()

    def session(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        return session

    def manage(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{done.stdout.decode()}\n{done.stderr.decode()}")
        return done.stdout.decode()

    def start(self, timeout: float = 240) -> None:
        log = self.log_path.open("ab")
        self._log_offset = log.tell()
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "runlocal"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # a killed test run leaves no stack behind
        )
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"runlocal exited ({self.proc.returncode}):\n{self.log_tail()}")
            if READY_LINE in self.log_path.read_bytes()[self._log_offset :]:
                return
            time.sleep(0.3)
        raise AssertionError(f"runlocal did not become ready in {timeout:.0f} s:\n{self.log_tail()}")

    def log_since_start(self) -> str:
        return self.log_path.read_bytes()[self._log_offset :].decode(errors="replace")

    def log_tail(self, limit: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-limit:]

    def children(self) -> dict[str, int]:
        """runlocal's children by role: "ray head", "celery worker", "celery beat", "web"."""
        assert self.proc is not None
        roles = {}
        for pid in _proc_children().get(self.proc.pid, []):
            line = _cmdline(pid)
            if "apps.dispatch.local_ray" in line:
                roles["ray head"] = pid
            elif " worker" in line and "celery" in line:
                roles["celery worker"] = pid
            elif " beat" in line and "celery" in line:
                roles["celery beat"] = pid
            elif "gunicorn" in line:
                roles["web"] = pid
        return roles

    def stop(self, timeout: float = 60) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


def make_stack(root: Path) -> EmbeddedStack:
    data_dir = root / "data"
    password = secrets.token_urlsafe(16)
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
        "PADDOCK_ENV": "development",
        "PADDOCK_DATA_DIR": str(data_dir),
        "PADDOCK_ADMIN_PASSWORD": password,  # a secret of the control plane that jobs must never see
        "PADDOCK_DEBUG": "false",
        "PADDOCK_LOG_LEVEL": "WARNING",
    }
    stack = EmbeddedStack(
        data_dir=data_dir,
        port=free_port(),
        gcs_port=EMBEDDED_GCS_PORT,
        dashboard_port=EMBEDDED_DASHBOARD_PORT,
        env=env,
        log_path=root / "runlocal.log",
        admin_password=password,
    )
    env.update(
        {
            "PADDOCK_PORT": str(stack.port),
            "PADDOCK_RAY_GCS_PORT": str(stack.gcs_port),
            "PADDOCK_RAY_DASHBOARD_PORT": str(stack.dashboard_port),
        }
    )
    stack.manage("migrate", "--noinput")
    stack.manage("bootstrap_demo", "--cluster-address", stack.ray_address, "--local-head-token")
    stack.token = stack.manage("create_token", "--user", "admin", "--team", "demo", "--scope", "write").strip()
    return stack


@pytest.fixture(scope="session")
def embedded_stack() -> Iterator[EmbeddedStack]:
    # Short: Ray's unix sockets live under the data dir and paths are limited to 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="pdk-emb-"))
    stack = make_stack(root)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        artifacts = ROOT / "tests" / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        (artifacts / "embedded-runlocal.log").write_bytes(stack.log_path.read_bytes())


def wait_until(predicate: Any, timeout: float, what: str, poll: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
