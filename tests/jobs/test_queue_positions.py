"""Queue positions on the job list, the job and the queue: right whatever page, filter or tie,
and read in a number of queries that does not grow with the number of waiting jobs."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.inventory.models import AcceleratorModel
from apps.jobs.models import Job
from apps.quotas.models import Pool
from tests.factories import ClusterFactory, MembershipFactory

pytestmark = pytest.mark.django_db

STATES = ["pending", "running", "pending", "succeeded", "pending", "failed"]


def make_jobs(world: Any, count: int, *, start: int = 0, **fields: Any) -> None:
    template = {"team": world.alpha, "cluster": world.cluster, "entrypoint": "true", "submitted_by": world.member}
    Job.objects.bulk_create(
        [
            Job(name=f"j{start + i}", state=STATES[i % len(STATES)], priority=i % 3, **{**template, **fields})
            for i in range(count)
        ]
    )


def expected_positions() -> tuple[dict[int, int], dict[int, int]]:
    """The rule, computed the slow way from every row: per (team, cluster, pool) and per
    (cluster, pool), pending jobs by priority (high first), then age, then id."""
    pending = sorted(
        Job.objects.filter(state="pending").values("id", "team_id", "cluster_id", "pool_id", "priority", "created_at"),
        key=lambda j: (-j["priority"], j["created_at"], j["id"]),
    )
    own: dict[tuple[Any, ...], int] = defaultdict(int)
    pool: dict[tuple[Any, ...], int] = defaultdict(int)
    position, ahead = {}, {}
    for job in pending:
        own_key, pool_key = (job["team_id"], job["cluster_id"], job["pool_id"]), (job["cluster_id"], job["pool_id"])
        own[own_key] += 1
        position[job["id"]] = own[own_key]
        ahead[job["id"]] = pool[pool_key]
        pool[pool_key] += 1
    return position, ahead


def every_page(client: Any, path: str, page_size: int = 7) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for page in itertools.count(1):
        response = client.get(f"{path}{'&' if '?' in path else '?'}page={page}&page_size={page_size}")
        if response.status_code == 404:
            return rows
        assert response.status_code == 200, response.content
        rows.extend(response.json()["results"])


def queries(client: Any, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


@pytest.fixture
def mixed(world: Any) -> None:
    """Two teams on two clusters, in a pool and without one, with ties on priority and time."""
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    pool = Pool.objects.create(name="gpu-a-h100", cluster=world.cluster, accelerator_model=h100)
    other = ClusterFactory(organisation=world.org, name="gpu-b")
    MembershipFactory(team=world.beta, user=world.member, role="viewer")
    make_jobs(world, 12)  # alpha, gpu-a, no pool
    make_jobs(world, 12, start=100, pool=pool)
    make_jobs(world, 12, start=200, team=world.beta, pool=pool)
    make_jobs(world, 6, start=300, cluster=other)
    make_jobs(world, 6, start=400, team=world.beta)
    # Ties: the same priority and the same submission time fall back to the id.
    same = timezone.now() - timedelta(hours=1)
    Job.objects.filter(name__in=["j102", "j108", "j202", "j205", "j2", "j8"]).update(created_at=same, priority=7)


def test_list_and_detail_positions_count_the_teams_queue_in_its_pool_on_every_page(world: Any, mixed: None) -> None:
    client = world.client(world.member)
    position, _ = expected_positions()
    rows = every_page(client, "/api/v1/jobs/")
    assert len(rows) == Job.objects.count()
    got = {row["id"]: row["queue_position"] for row in rows}
    assert got == {job_id: position.get(job_id) for job_id in got}
    assert {row["queue_position"] for row in rows if row["state"] != "pending"} == {None}
    tied = Job.objects.filter(name__in=["j2", "j8"]).order_by("id").values_list("id", flat=True)
    assert [got[job_id] for job_id in tied] == [1, 2]  # same priority and time: the lower id first
    for job_id in list(got)[:5]:
        assert client.get(f"/api/v1/jobs/{job_id}/").json()["queue_position"] == position.get(job_id)


def test_pool_less_jobs_queue_per_cluster_apart_from_the_pool(world: Any, mixed: None) -> None:
    rows = every_page(world.client(world.member), "/api/v1/jobs/?state=pending&team=alpha")
    by_queue: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["queue_position"]):
        by_queue[(row["cluster"], row["pool"])].append(row["queue_position"])
    # Each of alpha's three queues (pool-less on gpu-a, the pool, pool-less on gpu-b) counts from 1.
    assert dict(by_queue) == {
        ("gpu-a", None): [1, 2, 3, 4, 5, 6],
        ("gpu-a", "gpu-a-h100"): [1, 2, 3, 4, 5, 6],
        ("gpu-b", None): [1, 2, 3],
    }


def test_filters_do_not_change_a_position(world: Any, mixed: None) -> None:
    client = world.client(world.member)
    position, ahead = expected_positions()
    for path in ("/api/v1/jobs/?team=alpha", "/api/v1/jobs/?name=j10", "/api/v1/jobs/?state=pending&pool=gpu-a-h100"):
        for row in every_page(client, path):
            assert row["queue_position"] == position.get(row["id"]), path
    for path in ("/api/v1/queue/", "/api/v1/queue/?team=beta", "/api/v1/queue/?pool=gpu-a-h100"):
        rows = every_page(client, path)
        assert rows
        for row in rows:
            assert (row["queue_position"], row["jobs_ahead"]) == (position[row["id"]], ahead[row["id"]]), path


def test_the_queue_counts_every_teams_jobs_ahead_in_the_pool_but_only_the_callers(world: Any, mixed: None) -> None:
    # Otto sees only beta; alpha's jobs ahead of beta's in the shared pool still count.
    rows = every_page(world.client(world.outsider), "/api/v1/queue/?pool=gpu-a-h100")
    assert {row["team"] for row in rows} == {"beta"}
    assert [row["jobs_ahead"] for row in rows] != [row["queue_position"] - 1 for row in rows]
    _, ahead = expected_positions()
    assert [row["jobs_ahead"] for row in rows] == [ahead[row["id"]] for row in rows]


def test_the_list_and_the_queue_take_as_many_queries_at_1000_pending_jobs_as_at_10(world: Any) -> None:
    client = world.client(world.member)
    paths = ["/api/v1/jobs/", "/api/v1/jobs/?state=pending&page=2", "/api/v1/queue/", "/api/v1/queue/?page=2"]
    make_jobs(world, 20)  # 10 pending
    client.get("/api/v1/jobs/")  # the token's first use writes when it was used
    assert Job.objects.filter(state="pending").count() == 10
    small = {path: queries(client, path + ("&" if "?" in path else "?") + "page_size=5") for path in paths}
    make_jobs(world, 1980, start=20)
    assert Job.objects.filter(state="pending").count() == 1000
    large = {path: queries(client, path + ("&" if "?" in path else "?") + "page_size=5") for path in paths}
    assert large == small
    # Both pages held pending jobs with positions: the position query ran each time.
    assert all(row["queue_position"] for row in client.get("/api/v1/queue/?page=2&page_size=5").json()["results"])
