"""``manage.py runlocal`` (what ``make run`` starts): a local Ray head, a Celery worker and
beat, and the web server, supervised together. Ctrl-C stops everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

STOP_GRACE_SECONDS = 15


class Command(BaseCommand):
    help = "Run Paddock locally: Ray head, Celery worker and beat, web server (127.0.0.1 only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PADDOCK_PORT", "8000")))
        parser.add_argument("--ray-gcs-port", type=int, default=int(os.environ.get("PADDOCK_RAY_GCS_PORT", "6380")))
        parser.add_argument(
            "--ray-dashboard-port", type=int, default=int(os.environ.get("PADDOCK_RAY_DASHBOARD_PORT", "8265"))
        )
        parser.add_argument("--no-ray", action="store_true", help="do not start a Ray head (use an existing one)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["ray_gcs_port"] == 6379:
            raise CommandError("Ray's GCS port must not be 6379 (Redis uses it).")
        python = sys.executable
        bin_dir = str(Path(python).parent)
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        Path(settings.DATA_DIR).mkdir(parents=True, exist_ok=True)
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            for folder in ("data_folder_in", "processed_folder", "control_folder"):
                Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS[folder])).mkdir(parents=True, exist_ok=True)
        children: list[tuple[str, subprocess.Popen[bytes]]] = []

        def start(name: str, command: list[str]) -> None:
            self.stdout.write(f"starting {name}: {' '.join(command)}")
            # Own process group: Ctrl-C reaches us once and we stop children in order.
            children.append((name, subprocess.Popen(command, env=env, start_new_session=True)))

        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            if stopping:
                return
            stopping = True
            self.stdout.write("\nstopping Paddock…")
            for name, proc in reversed(children):
                if proc.poll() is None:
                    self.stdout.write(f"  stopping {name}")
                    proc.terminate()  # each stops its own children (warm shutdown)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            for _name, proc in children:
                try:
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            self.stdout.write("stopped.")

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            if not options["no_ray"]:
                start(
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
                        str(Path(settings.DATA_DIR) / "ray"),
                    ],
                )
                self._wait_for(f"http://127.0.0.1:{options['ray_dashboard_port']}/api/version", "Ray head", 120)
            celery = [python, "-m", "celery", "-A", "controlplane"]
            start("celery worker", [*celery, "worker", "--loglevel=INFO", "--concurrency=2", "--hostname=paddock@%h"])
            start(
                "celery beat",
                [*celery, "beat", "--loglevel=INFO", f"--schedule={Path(settings.DATA_DIR) / 'celerybeat-schedule'}"],
            )
            start(
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
            )
            self._wait_for(f"http://127.0.0.1:{options['port']}/healthz", "web server", 60, accept_503=True)
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nPaddock is running at http://127.0.0.1:{options['port']}/  (Ctrl-C stops everything)\n"
                )
            )
            while not stopping:
                for name, proc in children:
                    if proc.poll() is not None and not stopping:
                        self.stderr.write(f"{name} exited with {proc.returncode}; stopping the rest")
                        stop()
                        raise CommandError(f"{name} exited")
                time.sleep(1)
        finally:
            stop()

    def _wait_for(self, url: str, what: str, seconds: float, *, accept_503: bool = False) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own http://127.0.0.1 URL)
                    return
            except urllib.error.HTTPError as exc:
                if accept_503 and exc.code == 503:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise CommandError(f"{what} did not answer at {url} within {seconds:.0f} s")
