"""Job logs above the port: copied incrementally, capped, and read without calling the cluster."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.dispatch.port import RemoteState
from apps.jobs import services, tasks
from apps.jobs.models import Attempt, Job
from tests.brokers import PrivateQueue, broker

pytestmark = pytest.mark.django_db

GOOD = {"name": "hello", "team": "alpha", "entrypoint": "python -c 'print(42)'"}
WRITES = ("INSERT", "UPDATE", "DELETE")


def running_attempt(world: Any, fake_backend: Any, capture: Any) -> Attempt:
    with capture(execute=True):
        response = world.client(world.member).post("/api/v1/jobs/", GOOD, format="json")
    assert response.status_code == 201, response.json()
    attempt = Job.objects.get(pk=response.json()["id"]).attempts.get()
    fake_backend.advance(attempt.remote_id, RemoteState.RUNNING)
    services.reconcile()
    return Attempt.objects.select_related("job__cluster").get(pk=attempt.pk)


def stored(attempt: Attempt) -> Attempt:
    return Attempt.objects.get(pk=attempt.pk)


def test_a_refresh_copies_only_what_is_new(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    attempt = running_attempt(world, fake_backend, django_capture_on_commit_callbacks)
    first = "x" * 3_000_000 + "\n"
    fake_backend.append_log(attempt.remote_id, first)
    services.refresh_logs(attempt)
    sent_before = fake_backend.log_bytes_sent

    fake_backend.append_log(attempt.remote_id, "step 2\n")
    services.refresh_logs(attempt)

    assert fake_backend.log_bytes_sent - sent_before == len(b"step 2\n")
    assert stored(attempt).log == first + "step 2\n"
    assert stored(attempt).log_remote_offset == len(first) + len("step 2\n")


def test_characters_cut_at_a_chunk_boundary_arrive_whole(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    attempt = running_attempt(world, fake_backend, django_capture_on_commit_callbacks)
    monkeypatch.setattr(services, "LOG_FETCH_BYTES", 5)  # every read cuts a character
    output = "€é😀a" * 30 + "\n"
    fake_backend.append_log(attempt.remote_id, output.encode()[:7])  # ends inside "😀"

    services.refresh_logs(attempt)
    assert stored(attempt).log == "€é"
    fake_backend.append_log(attempt.remote_id, output.encode()[7:])
    while stored(attempt).log_remote_offset < len(output.encode()):
        services.refresh_logs(attempt)

    assert stored(attempt).log == output


def test_a_final_read_completes_the_log_and_keeps_bytes_that_are_no_text(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    attempt = running_attempt(world, fake_backend, django_capture_on_commit_callbacks)
    fake_backend.append_log(attempt.remote_id, b"ok\n\xff\x00 then\n\xe2\x82")  # invalid, NUL, a cut-off "€"
    services.refresh_logs(attempt)
    assert stored(attempt).log == "ok\n\ufffd\ufffd then\n" and not stored(attempt).log_complete

    fake_backend.advance(attempt.remote_id, RemoteState.SUCCEEDED)
    services.reconcile()

    final = stored(attempt)
    assert final.state == "succeeded" and final.log_complete
    assert final.log == "ok\n\ufffd\ufffd then\n\ufffd"


def test_the_cap_truncates_with_its_note_and_then_nothing_more_is_read(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.PADDOCK_LOG_MAX_BYTES = 20
    attempt = running_attempt(world, fake_backend, django_capture_on_commit_callbacks)
    fake_backend.append_log(attempt.remote_id, "0123456789" * 3)
    services.refresh_logs(attempt)
    note = "\n[paddock: log truncated at 20 characters; the rest is on the cluster]\n"
    assert stored(attempt).log == "01234567890123456789" + note and stored(attempt).log_truncated

    fake_backend.append_log(attempt.remote_id, "more\n")
    fake_backend.calls.clear()
    services.refresh_logs(attempt)
    fake_backend.advance(attempt.remote_id, RemoteState.SUCCEEDED)
    services.reconcile()

    assert stored(attempt).log == "01234567890123456789" + note
    assert stored(attempt).log_complete
    assert ("logs", attempt.remote_id) not in fake_backend.calls


def test_the_cap_counts_characters_across_appends(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.PADDOCK_LOG_MAX_BYTES = 10
    attempt = running_attempt(world, fake_backend, django_capture_on_commit_callbacks)
    fake_backend.append_log(attempt.remote_id, "€€€€€€")  # 6 characters, 18 bytes
    services.refresh_logs(attempt)
    assert stored(attempt).log == "€€€€€€" and not stored(attempt).log_truncated

    fake_backend.append_log(attempt.remote_id, "éééé")  # 4 more fit exactly
    services.refresh_logs(attempt)
    assert stored(attempt).log == "€€€€€€éééé" and not stored(attempt).log_truncated

    fake_backend.append_log(attempt.remote_id, "!")
    services.refresh_logs(attempt)
    assert stored(attempt).log.startswith("€€€€€€éééé\n[paddock: log truncated at 10 characters")


def test_the_refresh_task_delivered_twice_copies_once(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    attempt = running_attempt(world, fake_backend, django_capture_on_commit_callbacks)
    fake_backend.append_log(attempt.remote_id, "epoch 1 loss 0.5\n")

    tasks.refresh_logs.apply(args=[str(attempt.pk)])
    tasks.refresh_logs.apply(args=[str(attempt.pk)])

    assert stored(attempt).log == "epoch 1 loss 0.5\n"


# --- GET /jobs/{id}/logs/ only reads ------------------------------------------------------
def test_a_read_scoped_log_read_calls_no_cluster_and_writes_nothing_but_asks_a_worker_once(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any, private_queue: PrivateQueue
) -> None:
    attempt = running_attempt(world, fake_backend, django_capture_on_commit_callbacks)
    fake_backend.append_log(attempt.remote_id, "step 1\n")
    services.refresh_logs(attempt)
    fake_backend.append_log(attempt.remote_id, "step 2\n")
    Attempt.objects.filter(pk=attempt.pk).update(log_fetched_at=None)  # stale
    client = world.client(world.viewer, scope="read")
    fake_backend.calls.clear()

    with private_queue.sending(), CaptureQueriesContext(connection) as queries:
        first = client.get(f"/api/v1/jobs/{attempt.job_id}/logs/")
        second = client.get(f"/api/v1/jobs/{attempt.job_id}/logs/?offset=3")

    assert first.status_code == 200 and first.json()["text"] == "step 1\n"
    assert second.json()["text"] == "p 1\n" and second.json()["next_offset"] == 7
    assert list(fake_backend.calls) == []
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(WRITES)]
    assert [sql for sql in writes if "tenancy_apitoken" not in sql] == []  # only the token's last use
    assert private_queue.refreshes(attempt.pk) == 1  # one refresh asked for, however many readers

    tasks.refresh_logs.apply(args=[str(attempt.pk)])  # the worker's side
    assert client.get(f"/api/v1/jobs/{attempt.job_id}/logs/").json()["text"] == "step 1\nstep 2\n"


def test_a_log_read_with_the_broker_down_answers_with_what_is_stored(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    attempt = running_attempt(world, fake_backend, django_capture_on_commit_callbacks)
    fake_backend.append_log(attempt.remote_id, "stored\n")
    services.refresh_logs(attempt)
    Attempt.objects.filter(pk=attempt.pk).update(log_fetched_at=None)

    with broker("redis://127.0.0.1:1/0"):
        response = world.client(world.viewer, scope="read").get(f"/api/v1/jobs/{attempt.job_id}/logs/")

    assert response.status_code == 200 and response.json()["text"] == "stored\n"
    assert cache.get(services.LOG_REFRESH_PENDING.format(attempt.pk)) is None  # the next read asks again


@pytest.mark.django_db(transaction=True)
def test_logs_stored_before_chunks_carry_over_and_are_not_read_again(world: Any) -> None:
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("jobs", "0007_code_packages")], [("jobs", "0008_attempt_log_in_chunks_from_remote_offset")]
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        old = executor.loader.project_state(before).apps
        job = old.get_model("jobs", "Job").objects.create(
            team_id=world.alpha.pk, cluster_id=world.cluster.pk, name="old", entrypoint="true"
        )
        attempts = old.get_model("jobs", "Attempt").objects
        running = attempts.create(job=job, number=1, state="running", log="héllo €\n")
        capped = attempts.create(
            job=job,
            number=2,
            state="succeeded",
            log="abc\n[paddock: log truncated at 3 characters; the rest is on the cluster]\n",
        )
        empty = attempts.create(job=job, number=3, state="running")

        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)

        # Only the columns this migration knows (later ones add more).
        columns = ("id", "job_id", "number", "log_length", "log_remote_offset", "log_truncated")
        running, capped, empty = (Attempt.objects.only(*columns).get(pk=a.pk) for a in (running, capped, empty))
        assert running.log == "héllo €\n" and running.log_length == 8
        assert running.log_remote_offset == len("héllo €\n".encode()) and not running.log_truncated
        assert capped.log_truncated and capped.log.startswith("abc\n[paddock")
        assert (empty.log, empty.log_length, empty.log_remote_offset, empty.log_chunks.count()) == ("", 0, 0, 0)
    finally:  # leave the schema as the next tests expect it: every later migration applied again
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_the_admin_shows_the_end_of_an_attempts_log(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any, admin_client: Any
) -> None:
    attempt = running_attempt(world, fake_backend, django_capture_on_commit_callbacks)
    fake_backend.append_log(attempt.remote_id, "early line\n" + "x" * 30_000 + "\nlast line\n")
    services.refresh_logs(attempt)

    page = admin_client.get(f"/admin/jobs/attempt/{attempt.pk}/change/")

    assert page.status_code == 200
    assert "last line" in page.content.decode() and "early line" not in page.content.decode()
