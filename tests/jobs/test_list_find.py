"""Finding jobs: search, sorting, "mine", duration and nodes on the list, bulk cancel, and the
log download; every list read in a number of queries that does not grow with its rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.jobs.models import Attempt, AttemptLogChunk, Job
from tests.factories import ClusterFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def make_job(world: Any, name: str, **fields: Any) -> Job:
    values = {
        "team": world.alpha,
        "cluster": world.cluster,
        "entrypoint": "true",
        "submitted_by": world.member,
        "name": name,
        **fields,
    }
    return Job.objects.create(**values)


def ids(client: Any, query: str) -> list[int]:
    response = client.get(f"/api/v1/jobs/?{query}")
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def queries(client: Any, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


# --- search -----------------------------------------------------------------------------
def test_search_finds_a_name_part_in_any_case_or_an_id_prefix(world: Any) -> None:
    llama = make_job(world, "Llama-Finetune")
    other = make_job(world, "resnet")
    third = make_job(world, "bert-llama")
    client = world.client(world.member)
    assert sorted(ids(client, "search=LLAMA")) == sorted([llama.pk, third.pk])
    assert ids(client, "search=resn") == [other.pk]
    assert ids(client, f"search={other.pk}") == [other.pk]
    assert ids(client, f"search=%23{other.pk}") == [other.pk]  # "#12" as people write it
    assert ids(client, "search=nothing-like-it") == []
    assert len(ids(client, "search=")) == 3  # blank: no filter


def test_search_by_id_prefix_matches_every_id_that_starts_so(world: Any) -> None:
    jobs = [make_job(world, "no-digits-here") for _ in range(12)]
    # All but the last digit: twelve ids in a row always span two such prefixes.
    prefix = str(jobs[-1].pk)[:-1] or str(jobs[-1].pk)
    expected = {job.pk for job in jobs if str(job.pk).startswith(prefix)}
    assert 0 < len(expected) < len(jobs) or len(str(jobs[0].pk)) == 1
    client = world.client(world.member)
    assert set(ids(client, f"search={prefix}&page_size=100")) == expected


def test_search_stays_within_the_callers_teams_and_other_filters(world: Any) -> None:
    mine = make_job(world, "shared-name")
    make_job(world, "shared-name", team=world.beta)  # another team's: never listed
    make_job(world, "shared-name", state="succeeded")
    client = world.client(world.member)
    assert ids(client, "search=shared&state=pending") == [mine.pk]


def test_an_overlong_search_is_a_400(world: Any) -> None:
    response = world.client(world.member).get("/api/v1/jobs/?search=" + "x" * 201)
    assert response.status_code == 400
    assert "search" in response.json()


# --- ordering ---------------------------------------------------------------------------
@pytest.fixture
def sortable(world: Any) -> dict[str, Job]:
    now = timezone.now()
    jobs = {
        "b": make_job(world, "b-job", priority=5, gpus=2, state="running", started_at=now - timedelta(minutes=30)),
        "a": make_job(world, "A-job", priority=1, gpus=8, state="failed",
                      started_at=now - timedelta(hours=3), finished_at=now - timedelta(hours=1)),
        "c": make_job(world, "c-job", priority=5, gpus=0, state="pending"),
        "d": make_job(world, "d-job", priority=9, gpus=1, state="succeeded",
                      started_at=now - timedelta(minutes=10), finished_at=now - timedelta(minutes=9)),
    }  # fmt: skip
    # Distinct creation times, oldest first in the order made.
    for offset, job in enumerate(jobs.values()):
        Job.objects.filter(pk=job.pk).update(created_at=now - timedelta(days=10 - offset))
    return jobs


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("created_at", "bacd"),
        ("-created_at", "dcab"),
        ("name", "abcd"),  # case-sensitive collation aside, "A-job" < "b-job"
        ("-name", "dcba"),
        ("priority", "acbd"),  # b and c tie on 5: the newest (higher id) first
        ("-priority", "dcba"),
        ("gpus", "cdba"),
        ("-gpus", "abdc"),
        ("duration", "cdba"),  # never started counts as 0; 1 min; 30 min; 2 h
        ("-duration", "abdc"),
        ("state", "acbd"),  # failed, pending, running, succeeded
        ("-state", "dbca"),
    ],
)
def test_each_ordering_sorts_the_list_and_ties_break_by_id(
    world: Any, sortable: dict[str, Job], ordering: str, expected: str
) -> None:
    client = world.client(world.member)
    by_id = {job.pk: key for key, job in sortable.items()}
    assert "".join(by_id[pk] for pk in ids(client, f"ordering={ordering}")) == expected


def test_ties_keep_one_order_across_pages(world: Any) -> None:
    for i in range(7):
        make_job(world, f"same-{i}", priority=3)
    client = world.client(world.member)
    pages = [ids(client, f"ordering=priority&page_size=3&page={n}") for n in (1, 2, 3)]
    seen = [pk for page in pages for pk in page]
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 7


def test_an_unknown_ordering_falls_back_to_newest_first(world: Any) -> None:
    first, second = make_job(world, "one"), make_job(world, "two")
    assert ids(world.client(world.member), "ordering=entrypoint") == [second.pk, first.pk]


# --- mine and cluster -------------------------------------------------------------------
def test_mine_lists_only_the_callers_own_jobs(world: Any) -> None:
    own = make_job(world, "mine")
    theirs = make_job(world, "theirs", submitted_by=world.admin)
    client = world.client(world.member)
    assert ids(client, "mine=true") == [own.pk]
    assert ids(client, "mine=false") == [theirs.pk, own.pk]
    assert ids(world.client(world.admin), "mine=true") == [theirs.pk]
    assert client.get("/api/v1/jobs/?mine=perhaps").status_code == 400


def test_cluster_filter_combines_with_search_and_mine(world: Any) -> None:
    other = ClusterFactory(organisation=world.org, name="gpu-b")
    here = make_job(world, "train-x")
    there = make_job(world, "train-x", cluster=other)
    client = world.client(world.member)
    assert ids(client, "cluster=gpu-b&search=train&mine=true") == [there.pk]
    assert ids(client, "cluster=gpu-a&search=train") == [here.pk]


# --- duration and nodes -----------------------------------------------------------------
def test_duration_and_nodes_on_list_and_detail(world: Any) -> None:
    now = timezone.now()
    started, finished = now - timedelta(seconds=90), now - timedelta(seconds=30)
    done = make_job(world, "done", state="succeeded", started_at=started, finished_at=finished)
    Attempt.objects.create(job=done, number=1, state="failed", placement=[{"node_id": 1, "hostname": "old-node"}])
    Attempt.objects.create(
        job=done,
        number=2,
        state="succeeded",
        placement=[
            {"node_id": 2, "hostname": "gpu-node-1", "address": "10.0.0.1", "gpus": [0, 1]},
            {"node_id": 3, "hostname": "gpu-node-2", "address": "10.0.0.2", "gpus": [0, 1]},
        ],
    )
    running = make_job(world, "running", state="running", started_at=now - timedelta(seconds=100))
    waiting = make_job(world, "waiting")
    client = world.client(world.member)
    rows = {row["id"]: row for row in client.get("/api/v1/jobs/").json()["results"]}
    assert rows[done.pk]["duration_seconds"] == pytest.approx(60, abs=0.01)
    assert rows[done.pk]["nodes"] == ["gpu-node-1", "gpu-node-2"]  # the latest attempt's
    assert rows[running.pk]["duration_seconds"] >= 100  # until now
    assert rows[running.pk]["nodes"] == []
    assert rows[waiting.pk]["duration_seconds"] is None
    detail = client.get(f"/api/v1/jobs/{done.pk}/").json()
    assert detail["nodes"] == ["gpu-node-1", "gpu-node-2"]
    assert detail["duration_seconds"] == pytest.approx(60, abs=0.01)


def test_a_retry_keeps_the_jobs_first_start(world: Any, fake_backend: Any) -> None:
    from apps.dispatch.port import RemoteState, RemoteStatus
    from apps.jobs import services

    first_start = timezone.now() - timedelta(minutes=10)
    job = make_job(world, "retried", state="dispatching", started_at=first_start)
    attempt = Attempt.objects.create(job=job, number=2, state="submitted")
    later = timezone.now() - timedelta(minutes=1)
    services.sync_attempt(
        Attempt.objects.select_related("job").get(pk=attempt.pk),
        RemoteStatus(remote_id=str(attempt.pk), state=RemoteState.RUNNING, message="", started_at=later),
        fetch_logs=False,
    )
    job.refresh_from_db()
    attempt.refresh_from_db()
    assert job.state == "running"
    assert attempt.started_at == later
    assert job.started_at == first_start  # so its duration counts the first try too


# --- query counts -----------------------------------------------------------------------
def test_the_list_reads_in_constant_queries_whatever_the_rows_and_parameters(world: Any) -> None:
    client = world.client(world.member)
    now = timezone.now()

    def grow(n: int, start: int) -> None:
        for i in range(start, start + n):
            job = make_job(world, f"grow-{i}", state="running", started_at=now)
            Attempt.objects.create(job=job, number=1, state="running", placement=[{"hostname": f"n{i}"}])
            Attempt.objects.create(job=job, number=2, state="running", placement=[{"hostname": f"m{i}"}])

    paths = [
        "/api/v1/jobs/",
        "/api/v1/jobs/?search=grow&mine=true&cluster=gpu-a",
        "/api/v1/jobs/?search=1",
        "/api/v1/jobs/?ordering=-duration",
        "/api/v1/jobs/?ordering=gpus&page=2&page_size=2",
    ]
    grow(3, 0)
    queries(client, "/api/v1/jobs/")  # the token's first use writes when it was last used
    small = [queries(client, path) for path in paths]
    grow(12, 3)
    large = [queries(client, path) for path in paths]
    assert small == large


def test_the_default_list_path_reads_the_page_keys_without_the_nodes_subquery(world: Any) -> None:
    """The keys-first page walks skipped rows on the index alone: nothing per row there."""
    make_job(world, "one")
    client = world.client(world.member)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/api/v1/jobs/?page_size=1").status_code == 200
    job_reads = [q["sql"] for q in ctx.captured_queries if 'FROM "jobs_job"' in q["sql"]]
    with_limit = [sql for sql in job_reads if "LIMIT" in sql and "jobs_attempt" not in sql]
    assert with_limit, job_reads  # the keys query names no attempt
    assert any("jobs_attempt" in sql for sql in job_reads)  # the page's rows carry the nodes


# --- bulk cancel ------------------------------------------------------------------------
def test_bulk_cancel_reports_each_ids_outcome(world: Any) -> None:
    pending = make_job(world, "pending")
    running = make_job(world, "running", state="running")
    finished = make_job(world, "finished", state="succeeded")
    foreign = make_job(world, "foreign", team=world.beta)
    client = world.client(world.member)
    response = client.post(
        "/api/v1/jobs/cancel/",
        {"ids": [pending.pk, running.pk, finished.pk, foreign.pk, 999_999, pending.pk]},
        format="json",
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [(r["id"], r["outcome"], r["state"]) for r in results] == [
        (pending.pk, "cancelled", "cancelled"),
        (running.pk, "cancelled", "cancelled"),
        (finished.pk, "already_final", "succeeded"),
        (foreign.pk, "not_found", None),
        (999_999, "not_found", None),
    ]
    assert Job.objects.get(pk=pending.pk).state == "cancelled"
    assert Job.objects.get(pk=foreign.pk).state == "pending"  # another team's job is untouched
    assert Job.objects.get(pk=finished.pk).state == "succeeded"


def test_bulk_cancel_by_a_viewer_cancels_nothing(world: Any) -> None:
    job = make_job(world, "pending")
    response = world.client(world.viewer).post("/api/v1/jobs/cancel/", {"ids": [job.pk]}, format="json")
    assert response.status_code == 200
    assert response.json()["results"][0]["outcome"] == "forbidden"
    assert Job.objects.get(pk=job.pk).state == "pending"


def test_bulk_cancel_with_a_read_only_token_is_refused(world: Any) -> None:
    job = make_job(world, "pending")
    response = world.client(world.member, scope="read").post("/api/v1/jobs/cancel/", {"ids": [job.pk]}, format="json")
    assert response.status_code == 403
    assert Job.objects.get(pk=job.pk).state == "pending"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ids": []},
        {"ids": "1,2"},
        {"ids": ["x"]},
        {"ids": [0]},
        {"ids": list(range(1, 502))},
        [1, 2],
    ],
)
def test_bulk_cancel_bad_input_is_a_400_and_cancels_nothing(world: Any, body: Any) -> None:
    job = make_job(world, "pending")
    response = world.client(world.member).post("/api/v1/jobs/cancel/", body, format="json")
    assert response.status_code == 400, response.content
    assert Job.objects.get(pk=job.pk).state == "pending"


def test_a_single_cancel_still_answers_on_its_own_route(world: Any) -> None:
    job = make_job(world, "pending")
    response = world.client(world.member).post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"


# --- log download -----------------------------------------------------------------------
def test_the_log_downloads_whole_as_a_text_file(world: Any) -> None:
    job = make_job(world, "logged", state="succeeded")
    first = Attempt.objects.create(job=job, number=1, state="failed")
    AttemptLogChunk.objects.create(attempt=first, start=0, stop=6, text="first\n")
    second = Attempt.objects.create(job=job, number=2, state="succeeded")
    text = "".join(f"line {i} ünïcode\n" for i in range(40_000))  # past the windowed read's 256 KiB
    cut = len(text) // 2
    AttemptLogChunk.objects.create(attempt=second, start=cut, stop=len(text), text=text[cut:])
    AttemptLogChunk.objects.create(attempt=second, start=0, stop=cut, text=text[:cut])
    client = world.client(world.member)
    response = client.get(f"/api/v1/jobs/{job.pk}/logs/download/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response["Content-Disposition"] == f'attachment; filename="job-{job.pk}-attempt-2.log"'
    assert b"".join(response.streaming_content).decode() == text
    older = client.get(f"/api/v1/jobs/{job.pk}/logs/download/?attempt=1")
    assert b"".join(older.streaming_content) == b"first\n"
    assert client.get(f"/api/v1/jobs/{job.pk}/logs/download/?attempt=7").status_code == 400


def test_the_log_download_of_a_job_without_attempts_is_empty_and_of_another_team_404(world: Any) -> None:
    job = make_job(world, "new")
    foreign = make_job(world, "foreign", team=world.beta)
    client = world.client(world.member)
    response = client.get(f"/api/v1/jobs/{job.pk}/logs/download/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b""
    assert client.get(f"/api/v1/jobs/{foreign.pk}/logs/download/").status_code == 404
    MembershipFactory(team=world.beta, user=world.member, role="viewer")
    assert client.get(f"/api/v1/jobs/{foreign.pk}/logs/download/").status_code == 200
