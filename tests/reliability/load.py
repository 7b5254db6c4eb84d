"""A bounded load on loopback: N clients doing what dashboards and CI do, for a while."""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import requests

from tests.embedded import EmbeddedStack

# What one request does, and how often (dashboards mostly read; CI submits).
MIX = [("list", 55), ("submit", 15), ("detail", 10), ("logs", 5), ("queue", 5), ("events", 5), ("health", 5)]


@dataclass
class LoadResult:
    seconds: float
    clients: int
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    server_errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def percentile(self, kind: str, q: float) -> float:
        values = sorted(self.latencies[kind])
        return values[max(int(round(q * len(values))) - 1, 0)] * 1000 if values else float("nan")

    def table(self) -> list[tuple[str, ...]]:
        rows: list[tuple[str, ...]] = [("request", "count", "p50 ms", "p95 ms")]
        for kind, _ in MIX:
            values = self.latencies[kind]
            if values:
                rows.append(
                    (
                        kind,
                        str(len(values)),
                        f"{statistics.median(values) * 1000:.0f}",
                        f"{self.percentile(kind, 0.95):.0f}",
                    )
                )
        return rows


def run_load(stack: EmbeddedStack, *, clients: int, seconds: float, seed: int = 7) -> LoadResult:
    result = LoadResult(seconds=seconds, clients=clients)
    lock = threading.Lock()
    job_ids: list[int] = []
    end = time.monotonic() + seconds
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]

    def one(session: requests.Session, rng: random.Random) -> None:
        kind = rng.choices(kinds, weights)[0]
        some = rng.choice(job_ids) if job_ids else None
        url = stack.url
        started = time.perf_counter()
        if kind == "submit":
            response = session.post(
                f"{url}/api/v1/jobs/",
                json={"name": "load", "team": "demo", "entrypoint": "true", "resources": {"cpus": 0.1}},
                timeout=60,
            )
            if response.status_code == 201:
                with lock:
                    job_ids.append(response.json()["id"])
        elif kind == "list":
            response = session.get(f"{url}/api/v1/jobs/?page_size=20", timeout=60)
        elif kind == "detail" and some:
            response = session.get(f"{url}/api/v1/jobs/{some}/", timeout=60)
        elif kind == "logs" and some:
            response = session.get(f"{url}/api/v1/jobs/{some}/logs/", timeout=60)
        elif kind == "events" and some:
            response = session.get(f"{url}/api/v1/jobs/{some}/events/", timeout=60)
        elif kind == "queue":
            response = session.get(f"{url}/api/v1/queue/?page_size=20", timeout=60)
        else:
            kind = "health"
            response = session.get(f"{url}/{rng.choice(['healthz', 'readyz'])}", timeout=60)
        elapsed = time.perf_counter() - started
        with lock:
            result.statuses[response.status_code] += 1
            result.latencies[kind].append(elapsed)
            if response.status_code >= 500:
                result.server_errors.append(f"{kind} {response.status_code} {response.text[:200]}")

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        session = stack.session()
        while time.monotonic() < end:
            try:
                one(session, rng)
            except requests.RequestException as exc:
                with lock:
                    result.errors[type(exc).__name__] += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return result


def crashes(log: str) -> list[str]:
    """Lines of runlocal's output that say a part of the stack died or a worker failed hard."""
    needles = ("exited with", "JSONDecodeError", "WorkerLostError", "Unrecoverable error")
    return [line for line in log.splitlines() if any(needle in line for needle in needles)]
