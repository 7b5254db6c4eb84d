"""``manage.py agent --api URL --token TOKEN --cluster NAME [--once] [--interval S]``: the host agent.

Reads this host's GPUs through NVML (or replays a saved ``nvidia-smi -q -x``) and its network
traffic (NIC bytes/s from ``/proc/net/dev``, InfiniBand port counters where the host has them,
each the delta between two readings) and posts them to
``{api}/api/v1/agent/reports/``, once or every ``--interval`` seconds. A refusal (bad token,
wrong cluster, a payload the API rejects) stops it with a non-zero exit: retrying would not
help. A network error or a 5xx is retried with backoff while looping, and fails ``--once``.
"""

from __future__ import annotations

import os
import random
import socket
import time
from dataclasses import asdict, replace
from typing import Any

import requests
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.inventory.agent import host, nvidia_smi, nvml
from apps.inventory.reports import NodeReport

REPORT_PATH = "/api/v1/agent/reports/"
REQUEST_TIMEOUT_S = 30
# With --once there is no previous report to measure network traffic from: read the counters
# this far apart.
ONCE_NETWORK_WINDOW_S = 1.0
MIN_BACKOFF_CAP_S = 60.0
# Worth another try: the server is restarting, overloaded, or saw a concurrent report.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class Transient(Exception):
    """The report did not arrive, but a later try may succeed."""


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _wait_for_counters(seconds: float) -> None:
    """The pause between the two network readings of a single report (not a retry's backoff)."""
    time.sleep(seconds)


def backoff(failures: int, cap: float) -> float:
    """1, 2, 4 … seconds up to ``cap``, each scaled by 0.5 to 1 so a fleet does not retry in step."""
    return min(cap, 2.0 ** (failures - 1)) * random.uniform(0.5, 1.0)


class Command(BaseCommand):
    help = (
        "Report this host, its GPUs and its network traffic to Paddock (NVML, or a saved nvidia-smi -q -x), "
        "once or periodically."
    )
    # A GPU host runs this with no database or server settings of its own: nothing to check.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--api", required=True, help="Paddock's base URL, e.g. https://paddock.example.com")
        parser.add_argument(
            "--token",
            default=os.environ.get("PADDOCK_AGENT_TOKEN"),
            help="an agent-scoped token (create_token --scope agent); default: $PADDOCK_AGENT_TOKEN",
        )
        parser.add_argument("--cluster", required=True, help="the cluster this host belongs to")
        parser.add_argument("--hostname", default=socket.gethostname(), help="default: this machine's hostname")
        parser.add_argument("--once", action="store_true", help="report once and exit")
        parser.add_argument("--interval", type=float, default=30.0, help="seconds between reports (default 30)")
        parser.add_argument(
            "--from-nvidia-smi-xml",
            dest="xml",
            metavar="FILE",
            help="replay a saved `nvidia-smi -q -x` instead of reading NVML",
        )
        parser.add_argument("--cpus", type=float, help="the host's CPUs (default: this machine's)")
        parser.add_argument("--memory-bytes", type=int, help="the host's memory (default: this machine's)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["token"]:
            raise CommandError("--token (or $PADDOCK_AGENT_TOKEN) is required")
        interval: float = options["interval"]
        if interval <= 0:
            raise CommandError("--interval must be more than 0 seconds")
        url = options["api"].rstrip("/") + REPORT_PATH
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {options['token']}"
        failures = 0
        meter = host.NetworkMeter()
        meter.prime()
        if options["once"]:
            _wait_for_counters(ONCE_NETWORK_WINDOW_S)
        try:
            while True:
                # Traffic since the previous report (or the priming read): two readings' delta.
                report = replace(self.read(options), network=meter.rates())
                try:
                    result = self.post(session, url, {"cluster": options["cluster"], **asdict(report)})
                except Transient as exc:
                    if options["once"]:
                        raise CommandError(f"could not report to {url}: {exc}") from exc
                    failures += 1
                    delay = backoff(failures, cap=max(interval, MIN_BACKOFF_CAP_S))
                    self.stderr.write(f"report failed ({exc}); retrying in {delay:.1f} s")
                    _sleep(delay)
                    continue
                failures = 0
                self.stdout.write(self.summary(report, result))
                if options["once"]:
                    return
                _sleep(interval)
        except KeyboardInterrupt:
            self.stderr.write("stopped")

    def read(self, options: dict[str, Any]) -> NodeReport:
        cpus = options["cpus"] if options["cpus"] is not None else host.cpu_count()
        memory = options["memory_bytes"] if options["memory_bytes"] is not None else host.memory_bytes()
        try:
            if options["xml"]:
                return nvidia_smi.read_file(
                    options["xml"], hostname=options["hostname"], cpus=cpus, memory_bytes=memory
                )
            return nvml.read_node(hostname=options["hostname"], cpus=cpus, memory_bytes=memory)
        except nvml.NvmlUnavailable as exc:
            raise CommandError(f"{exc} (to replay a capture instead: --from-nvidia-smi-xml FILE)") from exc
        except nvidia_smi.CaptureError as exc:
            raise CommandError(str(exc)) from exc

    def post(self, session: requests.Session, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = session.post(url, json=payload, timeout=REQUEST_TIMEOUT_S)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Transient(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code in RETRYABLE_STATUS:
            raise Transient(f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            raise CommandError(f"the API refused the report (HTTP {response.status_code}): {_detail(response, body)}")
        return body

    @staticmethod
    def summary(report: NodeReport, result: dict[str, Any]) -> str:
        return (
            f"{result.get('cluster')}/{report.hostname}: {len(report.accelerators)} accelerators reported, "
            f"{result.get('rows_written', 0)} rows written "
            f"(node +{result.get('nodes_created', 0)} ~{result.get('nodes_updated', 0)}, "
            f"accelerators +{result.get('accelerators_created', 0)} ~{result.get('accelerators_updated', 0)} "
            f"-{result.get('accelerators_removed', 0)})"
        )


def _detail(response: requests.Response, body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("detail", body))[:2000]
    return response.text[:500] or response.reason
