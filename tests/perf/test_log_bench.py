"""Benchmark (``make bench``): following a 50 MB job log, before (Ray's Jobs API answers the
whole log on each poll) and after (Paddock copies only what is new). Figures only."""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from apps.dispatch.backends.ray_logs import DriverLocation, RayLogReader
from apps.dispatch.port import RemoteState
from apps.jobs import services
from apps.jobs.models import Attempt
from tests.conftest import client_for, token_for
from tests.factories import ClusterFactory, JobFactory, MembershipFactory, OrganisationFactory, TeamFactory, UserFactory
from tests.report import table

pytestmark = [pytest.mark.ray, pytest.mark.django_db]

POLLS = 5
# 50 MB at once, then about 2 kB every 0.1 s (a job that keeps printing) until told to stop.
JOB = """
import os, sys, time
line = "x" * 99 + "\\n"
sys.stdout.write(line * 500_000)
sys.stdout.flush()
while not os.path.exists(sys.argv[1]):
    sys.stdout.write(line * 20)
    sys.stdout.flush()
    time.sleep(0.1)
"""


def measure(call: Callable[[], int]) -> tuple[float, int, int]:
    """(seconds, bytes received, peak bytes allocated) of one poll."""
    tracemalloc.start()
    began = time.perf_counter()
    received = call()
    seconds = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, received, peak


def row(name: str, polls: list[tuple[float, int, int]]) -> tuple[str, ...]:
    return (
        name,
        f"{statistics.median(p[0] for p in polls) * 1000:.1f}",
        f"{statistics.median(p[1] for p in polls) / 1e6:.3f}",
        f"{statistics.median(p[2] for p in polls) / 2**20:.1f}",
    )


def test_following_a_50_mb_log(ray_head: Any, tmp_path: Path, settings: Any) -> None:
    from ray.job_submission import JobSubmissionClient

    (tmp_path / "job.py").write_text(JOB)
    stop = tmp_path / "stop"
    org = OrganisationFactory(slug="bench-logs")
    cluster = ClusterFactory(organisation=org, name="bench-logs", address=ray_head.address)
    if ray_head.auth_token:
        cluster.set_auth_token(ray_head.auth_token)
        cluster.save()
    team = TeamFactory(organisation=org)
    attempts = []
    for _ in range(2):
        job = JobFactory(team=team, cluster=cluster, entrypoint=f"python {tmp_path / 'job.py'} {stop}")
        attempts.append(Attempt.objects.create(job=job, number=1, state="running"))
    attempts = [Attempt.objects.select_related("job__cluster").get(pk=a.pk) for a in attempts]
    backend = services.backend_for(cluster)
    for attempt in attempts:
        backend.submit(services.job_spec(attempt))
    headers = {"Authorization": f"Bearer {ray_head.auth_token}"} if ray_head.auth_token else {}
    ray = JobSubmissionClient(ray_head.address, headers=headers or None)
    try:
        for attempt in attempts:
            while backend.logs(attempt.remote_id, offset=50_000_000).transferred == 0:
                assert backend.status(attempt.remote_id).state is not RemoteState.FAILED
                time.sleep(0.2)
        before = [measure(lambda: len(ray.get_job_logs(attempts[0].remote_id).encode())) for _ in range(POLLS)]

        capped, whole = attempts
        services.refresh_logs(capped)  # the default cap: 8 Mi characters, then nothing more is read
        capped_polls = []
        for _ in range(POLLS):
            time.sleep(0.5)
            capped_polls.append(measure(lambda: services.refresh_logs(capped)))

        settings.PADDOCK_LOG_MAX_BYTES = 64 * 2**20  # the whole log is kept
        while services.refresh_logs(whole) >= services.LOG_LIVE_READS * services.LOG_FETCH_BYTES:
            pass  # catching up, 8 MiB a refresh
        whole_polls = []
        for _ in range(POLLS):
            time.sleep(0.5)
            whole_polls.append(measure(lambda: services.refresh_logs(whole)))

        node_id = next(node.node_id for node in backend.nodes() if node.is_head and node.alive)
        reader = RayLogReader(ray_head.address, headers, (3.0, 10.0))
        nowhere = DriverLocation(node_id=node_id, agent_address="http://127.0.0.1:1")
        offset = Attempt.objects.get(pk=whole.pk).log_remote_offset
        streamed = [
            measure(lambda: reader.read(whole.remote_id, offset, 2**20, locate=lambda _: nowhere).transferred)
            for _ in range(POLLS)
        ]

        user = UserFactory()
        MembershipFactory(team=team, user=user, role="viewer")
        client = client_for(token_for(user, scope="read"))
        length = Attempt.objects.get(pk=whole.pk).log_length

        def read(at: int) -> int:
            Attempt.objects.filter(pk=whole.pk).update(log_fetched_at=timezone.now())  # fresh: no refresh asked
            response = client.get(f"/api/v1/jobs/{whole.job_id}/logs/?offset={at}")
            assert response.status_code == 200
            return 0

        reads_at_end = [measure(lambda: read(length - 1000)) for _ in range(POLLS)]
        reads_at_start = [measure(lambda: read(0)) for _ in range(POLLS)]
    finally:
        stop.touch()
    table(
        f"Following a 50 MB job log, one poll ({POLLS} polls each, medians; peak = Python allocations)",
        [
            ("path", "ms / poll", "MB received / poll", "peak MiB"),
            row("before: Ray Jobs API, whole log (what each poll did)", before),
            row("after: refresh, stored log at its 8 Mi-character cap", capped_polls),
            row("after: refresh, whole log kept (cap 64 MiB), ~10 kB new", whole_polls),
            row("fallback: driver agent unreachable, head's stream", streamed),
            row("GET …/logs/ at the end of the 50 MB stored log (no cluster)", reads_at_end),
            row("GET …/logs/ from offset 0 (256 Ki characters)", reads_at_start),
        ],
    )
