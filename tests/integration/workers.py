"""Start and stop real Celery worker processes for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """A real ``celery worker`` in its own process group, pointed at the test database."""

    def __init__(self, env: dict[str, str], *, name: str, log_dir: Path, argv: list[str] | None = None) -> None:
        self.env = env
        self.name = name
        self.log_path = log_dir / f"celery-{name}.log"
        self.argv = argv or [sys.executable, "-m", "celery", "-A", "controlplane"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        start_at = log.tell()
        self.proc = subprocess.Popen(
            [
                *self.argv,
                "worker",
                "--loglevel=INFO",
                "--pool=prefork",
                "--concurrency=2",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                f"--hostname={self.name}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited: {self.log_path.read_text()[-3000:]}")
            if b"ready." in self.log_path.read_bytes()[start_at:]:
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker {self.name} did not become ready: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no chance to ack or requeue anything."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def worker_env(database_name: str, **extra: str) -> dict[str, str]:
    """The environment of the test process, with the test database's name."""
    env = dict(os.environ)
    url = env.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/paddock")
    base, _, _ = url.rpartition("/")
    env["DATABASE_URL"] = f"{base}/{database_name}"
    env["PADDOCK_WATCH_SECONDS"] = "60"
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


class AfterSubmit:
    """A real backend that runs ``hook(spec)`` right after the cluster accepted a job: the
    window between "the cluster has it" and "Paddock recorded it" that worker-kill tests use."""

    def __init__(self, backend: Any, hook: Any) -> None:
        self._backend = backend
        self._hook = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def submit(self, spec: Any) -> Any:
        result = self._backend.submit(spec)
        self._hook(spec)
        return result
