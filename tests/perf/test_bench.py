"""Benchmarks (``make bench``): figures printed beside the reference they name; nothing asserted
about time. Run on the machine at hand; compare ratios, not absolute numbers."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.jobs.models import Job
from tests.conftest import client_for, token_for
from tests.report import p95, table

RUNS = 20
ENTRYPOINT = 'python -c "import time; time.sleep(1.5)"'


def compare_with_ray(
    ray_address: str,
    ray_token: str | None,
    through_paddock: Any,
    *,
    runs: int = RUNS,
) -> tuple[list[float], list[float]]:
    """Submit → running, raw Ray and Paddock interleaved job by job on the same head, each job
    stopped (and gone from the head's CPUs) before the next: both see the same head, warm and
    equally busy. ``through_paddock()`` submits one job and returns (seconds to running, the
    Ray submission id it became)."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    headers = {"Authorization": f"Bearer {ray_token}"} if ray_token else None
    ray = JobSubmissionClient(ray_address, headers=headers)

    def settle(submission_id: str) -> None:
        ray.stop_job(submission_id)
        deadline = time.monotonic() + 30
        while ray.get_job_status(submission_id) not in (JobStatus.STOPPED, JobStatus.SUCCEEDED, JobStatus.FAILED):
            assert time.monotonic() < deadline
            time.sleep(0.05)

    direct: list[float] = []
    through: list[float] = []
    for _ in range(runs + 1):  # the first pair warms both paths up and is not counted
        started = time.perf_counter()
        submission_id = ray.submit_job(entrypoint=ENTRYPOINT, entrypoint_num_cpus=1)
        while ray.get_job_status(submission_id) != JobStatus.RUNNING:
            time.sleep(0.01)
        direct.append(time.perf_counter() - started)
        settle(submission_id)
        seconds, remote_id = through_paddock()
        through.append(seconds)
        settle(remote_id)
    return direct[1:], through[1:]


def ratio_table(title: str, label: str, direct: list[float], through: list[float]) -> None:
    paddock_median, ray_median = statistics.median(through), statistics.median(direct)
    table(
        title,
        [
            ("path", "median s", "p95 s", "min s"),
            ("Ray JobSubmissionClient", f"{ray_median:.3f}", f"{p95(direct):.3f}", f"{min(direct):.3f}"),
            (label, f"{paddock_median:.3f}", f"{p95(through):.3f}", f"{min(through):.3f}"),
            ("ratio Paddock / Ray", f"{paddock_median / ray_median:.2f}", "target ≤ 1.15", ""),
        ],
    )


def test_submit_to_running_latency_against_ray_directly(live: Any, live_server: Any, ray_head: Any) -> None:
    from apps.jobs.models import Attempt

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token_for(live.member)}"

    def through_paddock() -> tuple[float, str]:
        started = time.perf_counter()
        response = session.post(
            f"{live_server.url}/api/v1/jobs/",
            json={"name": "bench", "team": "demo", "entrypoint": ENTRYPOINT},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        job_id = response.json()["id"]
        while Job.objects.values_list("state", flat=True).get(pk=job_id) != "running":
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        return seconds, str(Attempt.objects.get(job_id=job_id).pk)

    direct, through = compare_with_ray(ray_head.address, ray_head.auth_token, through_paddock)
    ratio_table(
        f"Submit → running, {RUNS} jobs each, interleaved (same Ray head), PostgreSQL + Redis",
        "Paddock REST → PostgreSQL + Redis",
        direct,
        through,
    )


@pytest.mark.django_db(transaction=True)  # committed rows, so VACUUM can run as autovacuum would
def test_job_list_with_100k_jobs(world: Any) -> None:
    """100,000 jobs of which 20,000 wait, in one team's queue (the worst case for positions:
    every pending row of every page stands in the same 20,000-long queue), priorities mixed."""
    rows = 100_000
    template = {
        "team": world.alpha,
        "cluster": world.cluster,
        "kind": "batch",
        "entrypoint": "python train.py --config configs/base.yaml",
        "submitted_by": world.member,
    }
    states = ["succeeded", "failed", "running", "pending", "cancelled"]
    Job.objects.bulk_create(
        [Job(name=f"job-{i}", state=states[i % len(states)], priority=i % 3, **template) for i in range(rows)],
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE jobs_job")
    pending = Job.objects.filter(state="pending").count()
    pages, queue_pages = -(-rows // 50), -(-pending // 50)
    client = client_for(token_for(world.member))
    results = []
    for label, path, before in [
        ("jobs, page 1 (newest)", "/api/v1/jobs/", "96"),
        ("jobs, page 100", "/api/v1/jobs/?page=100", "3,300"),
        (f"jobs, page {pages // 2:,} (middle)", f"/api/v1/jobs/?page={pages // 2}", ""),
        (f"jobs, page {pages:,} (last)", f"/api/v1/jobs/?page={pages}", ""),
        ("jobs, state=pending, page 1", "/api/v1/jobs/?state=pending", ""),
        ("queue, page 1", "/api/v1/queue/", ""),
        (f"queue, page {queue_pages // 2:,} (middle)", f"/api/v1/queue/?page={queue_pages // 2}", ""),
        (f"queue, page {queue_pages:,} (last)", f"/api/v1/queue/?page={queue_pages}", ""),
    ]:
        client.get(path)  # warm
        timings = []
        for _ in range(100):
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                response = client.get(path)
                timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        results.append(
            (label, f"{statistics.median(timings):.1f}", f"{p95(timings):.1f}", str(len(ctx.captured_queries)), before)
        )
    table(
        f"GET /api/v1/jobs/ and /api/v1/queue/ with {rows:,} jobs, {pending:,} pending, in PostgreSQL "
        "(100 requests each, 50 per page)",
        [
            ("request", "median ms", "p95 ms", "queries", "before the fix (ms)"),
            *results,
            ("target", "", "≤ 100", "constant", ""),
        ],
    )
