"""Admission, dispatch, reconcile and retries above the port, on the fake backend."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from apps.admission import scheduler
from apps.dispatch.port import RemoteState
from apps.jobs import services, tasks
from apps.jobs.models import Attempt, Job

pytestmark = pytest.mark.django_db

RAY_FAILURES = json.loads((Path(__file__).parent / "fixtures" / "ray_failures.json").read_text())
GOOD = {"name": "hello", "team": "alpha", "entrypoint": "python -c 'print(42)'"}


def submit(world: Any, capture: Any, **body: Any) -> Job:
    with capture(execute=True):
        response = world.client(world.member).post("/api/v1/jobs/", {**GOOD, **body}, format="json")
    assert response.status_code == 201, response.json()
    return Job.objects.get(pk=response.json()["id"])


def submit_running(world: Any, fake_backend: Any, capture: Any, **body: Any) -> tuple[Job, str]:
    """A submitted job its cluster reports running, seen by a reconcile; and its remote id."""
    job = submit(world, capture, **body)
    remote = str(job.attempts.get().id)
    fake_backend.advance(remote, RemoteState.RUNNING)
    services.reconcile()
    return job, remote


def test_submit_admits_and_dispatches_through_the_port(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = submit(world, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert job.state == "dispatching"
    attempt = job.attempts.get()
    assert attempt.state == "submitted"
    assert fake_backend.list_remote_ids() == [str(attempt.id)]
    assert attempt.dispatch_seconds is not None and attempt.dispatch_seconds >= 0

    fake_backend.append_log(str(attempt.id), "42\n")
    fake_backend.advance(str(attempt.id), RemoteState.RUNNING)
    services.reconcile()
    job.refresh_from_db()
    assert job.state == "running" and job.started_at is not None

    fake_backend.advance(str(attempt.id), RemoteState.SUCCEEDED)
    services.reconcile()
    job.refresh_from_db()
    attempt.refresh_from_db()
    assert job.state == "succeeded" and job.finished_at is not None
    assert attempt.log == "42\n" and attempt.log_complete
    kinds = list(job.events.values_list("kind", flat=True))
    assert kinds == ["submitted", "admitted", "dispatched", "running", "succeeded"]


def test_logs_endpoint_tails_with_offsets(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = submit(world, django_capture_on_commit_callbacks)
    remote = str(job.attempts.get().id)
    client = world.client(world.member)
    fake_backend.advance(remote, RemoteState.RUNNING)
    fake_backend.append_log(remote, "step 1\n")
    first = client.get(f"/api/v1/jobs/{job.pk}/logs/?offset=0").json()
    assert first["text"] == "step 1\n" and first["attempt"] == 1 and not first["complete"]
    fake_backend.append_log(remote, "step 2\n")
    Attempt.objects.filter(pk=remote).update(log_fetched_at=None)
    second = client.get(f"/api/v1/jobs/{job.pk}/logs/?offset={first['next_offset']}").json()
    assert second["text"] == "step 2\n"
    fake_backend.advance(remote, RemoteState.SUCCEEDED)
    services.reconcile()
    final = client.get(f"/api/v1/jobs/{job.pk}/logs/?offset={second['next_offset']}").json()
    assert final["text"] == "" and final["complete"]


def test_failure_carries_the_backend_message(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = submit(world, django_capture_on_commit_callbacks)
    remote = str(job.attempts.get().id)
    fake_backend.advance(remote, RemoteState.FAILED, message="Job entrypoint command failed with exit code 3")
    services.reconcile()
    job.refresh_from_db()
    assert job.state == "failed"
    assert "exit code 3" in job.state_reason


def test_a_failed_attempt_keeps_its_exit_code_and_cause_and_the_api_shows_them(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job, remote = submit_running(world, fake_backend, django_capture_on_commit_callbacks)
    # What a real Ray head said of a job that raised (tests/jobs/fixtures/ray_failures.json).
    ray = RAY_FAILURES["value_error"]
    fake_backend.append_log(remote, ray["log"])
    fake_backend.advance(remote, RemoteState.FAILED, ray["message"], exit_code=ray["exit_code"])
    services.reconcile()

    attempt = job.attempts.get()
    assert (attempt.exit_code, attempt.cause) == (1, "exit code 1: ValueError: bad lr")
    body = world.client(world.member).get(f"/api/v1/jobs/{job.pk}/").json()
    assert body["state"] == "failed"
    assert (body["exit_code"], body["cause"]) == (1, "exit code 1: ValueError: bad lr")
    assert (body["attempts"][0]["exit_code"], body["attempts"][0]["cause"]) == (1, "exit code 1: ValueError: bad lr")
    assert "Traceback" in body["state_reason"]  # the full message stays, for the folded view


def test_a_succeeded_or_cancelled_job_has_no_cause(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    done = submit(world, django_capture_on_commit_callbacks)
    fake_backend.advance(str(done.attempts.get().id), RemoteState.SUCCEEDED)
    running, remote = submit_running(world, fake_backend, django_capture_on_commit_callbacks, name="cancel-me")
    client = world.client(world.member)
    assert client.post(f"/api/v1/jobs/{running.pk}/cancel/").status_code == 200
    fake_backend.advance(remote, RemoteState.STOPPED)
    services.reconcile()

    for job in (done, running):
        body = client.get(f"/api/v1/jobs/{job.pk}/").json()
        assert body["state"] in ("succeeded", "cancelled")
        assert (body["exit_code"], body["cause"]) == (None, "")
        assert body["attempts"][-1]["cause"] == "" and body["attempts"][-1]["state"] in ("succeeded", "stopped")


def test_the_jobs_own_error_is_not_retried_unless_it_asks(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job, remote = submit_running(world, fake_backend, django_capture_on_commit_callbacks, max_retries=2)
    fake_backend.append_log(remote, "Traceback (most recent call last):\nValueError: bad batch size\n")
    fake_backend.advance(remote, RemoteState.FAILED, "Job entrypoint command failed with exit code 1", exit_code=1)
    services.reconcile()
    job.refresh_from_db()
    attempt = job.attempts.get()
    assert job.state == "failed" and job.attempts.count() == 1
    assert attempt.failure_cause == "code"
    assert attempt.failure_evidence == "exit code 1; its log ends with: ValueError: bad batch size"
    assert "not retried, as the job asks for retries only after the cluster's failures" in job.state_reason


def test_a_killed_process_and_a_device_out_of_memory_are_the_clusters_failures(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = submit(world, django_capture_on_commit_callbacks)  # max_retries 0: the cluster's budget applies
    first = str(job.attempts.get().id)
    fake_backend.advance(first, RemoteState.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        fake_backend.advance(first, RemoteState.FAILED, "exit code -9", exit_code=-9)
        services.reconcile()
    killed = Attempt.objects.get(pk=first)
    assert killed.failure_cause == "infrastructure" and "SIGKILL" in killed.failure_evidence
    second = str(job.attempts.get(number=2).id)
    fake_backend.advance(second, RemoteState.RUNNING)
    fake_backend.append_log(second, "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
    with django_capture_on_commit_callbacks(execute=True):
        fake_backend.advance(second, RemoteState.FAILED, "exit code 1", exit_code=1)
        services.reconcile()
    oom = Attempt.objects.get(pk=second)
    assert oom.failure_cause == "infrastructure"
    assert oom.failure_evidence.startswith("out of memory on the device: torch.OutOfMemoryError")
    job.refresh_from_db()
    assert job.attempts.count() == 3 and "the cluster's failure" in job.events.filter(kind="retrying").last().message


def test_a_failed_attempt_is_retried_up_to_max_retries_when_it_asks(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = submit(world, django_capture_on_commit_callbacks, max_retries=1, retry_on_error=True)
    first = str(job.attempts.get().id)
    with django_capture_on_commit_callbacks(execute=True):
        fake_backend.advance(first, RemoteState.FAILED, message="node died")
        services.reconcile()
    job.refresh_from_db()
    assert job.state == "dispatching"  # retried: a second attempt went out
    assert job.attempts.count() == 2
    second = str(job.attempts.get(number=2).id)
    fake_backend.advance(second, RemoteState.FAILED, message="node died again")
    services.reconcile()
    job.refresh_from_db()
    assert job.state == "failed"
    assert "retrying" in job.events.values_list("kind", flat=True)


def test_dispatch_delivered_twice_sends_one_remote_job(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        response = world.client(world.member).post("/api/v1/jobs/", GOOD, format="json")
    job = Job.objects.get(pk=response.json()["id"])
    scheduler.admit_pending()
    attempt = job.attempts.get()
    tasks.dispatch_attempt.apply(args=[str(attempt.id)])
    tasks.dispatch_attempt.apply(args=[str(attempt.id)])
    assert fake_backend.list_remote_ids() == [str(attempt.id)]
    # A delivery that finds the attempt recorded as not yet sent (the worker died after
    # the cluster accepted it) adopts the remote job instead of creating another.
    Attempt.objects.filter(pk=attempt.pk).update(state="admitted")
    tasks.dispatch_attempt.apply(args=[str(attempt.id)])
    assert fake_backend.list_remote_ids() == [str(attempt.id)]
    assert "adopted" in job.events.values_list("kind", flat=True)


def test_a_job_larger_than_the_cluster_stays_pending_with_a_reason(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = submit(world, django_capture_on_commit_callbacks, resources={"gpus": 8})
    job.refresh_from_db()
    assert job.state == "pending"
    assert "Cannot run on cluster gpu-a" in job.state_reason and "8 GPUs (has 2)" in job.state_reason
    assert fake_backend.list_remote_ids() == []
    scheduler.admit_pending()
    assert job.events.filter(kind="waiting").count() == 1  # no event storm on repeat passes


def test_admission_is_first_come_on_free_capacity(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    first = submit(world, django_capture_on_commit_callbacks, resources={"gpus": 2})
    second = submit(world, django_capture_on_commit_callbacks, resources={"gpus": 1})
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == "dispatching"
    assert second.state == "pending"
    assert "Waiting for free capacity" in second.state_reason
    remote = str(first.attempts.get().id)
    fake_backend.advance(remote, RemoteState.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        fake_backend.advance(remote, RemoteState.SUCCEEDED)
        tasks.reconcile.apply()
    second.refresh_from_db()
    assert second.state == "dispatching"


def test_cancel_running_stops_the_remote_job(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job, remote = submit_running(world, fake_backend, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        response = world.client(world.member).post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert fake_backend.status(remote).state == RemoteState.STOPPED
    services.reconcile()
    attempt = Attempt.objects.get(pk=remote)
    assert attempt.state == "stopped"
    job.refresh_from_db()
    assert job.state == "cancelled"


def test_a_remote_job_that_vanished_is_retried_as_the_clusters_failure(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    """A restarted Ray head forgets every job: that is the cluster's failure, not the job's, so
    even a job with max_retries 0 runs again, up to PADDOCK_INFRASTRUCTURE_RETRIES times."""
    settings.PADDOCK_INFRASTRUCTURE_RETRIES = 2
    job = submit(world, django_capture_on_commit_callbacks)
    for number in (1, 2, 3):
        remote = str(job.attempts.get(number=number).id)
        fake_backend.advance(remote, RemoteState.NOT_FOUND)
        with django_capture_on_commit_callbacks(execute=True):
            services.reconcile()
        lost = Attempt.objects.get(pk=remote)
        assert lost.state == "lost" and lost.failure_cause == "infrastructure"
    job.refresh_from_db()
    # Two retries for the cluster's failures were spent; the third loss ends the job.
    assert job.state == "failed" and job.attempts.count() == 3
    assert "no longer knows" in job.state_reason
    retries = list(job.events.filter(kind="retrying").values_list("message", flat=True))
    assert len(retries) == 2 and "retries for the cluster's failures, from the latest checkpoint" in retries[0]


def test_a_supervisor_that_died_is_retried_but_a_non_zero_exit_is_not(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = submit(world, django_capture_on_commit_callbacks)  # max_retries 0
    first = str(job.attempts.get().id)
    fake_backend.advance(first, RemoteState.RUNNING)
    fake_backend.advance(first, RemoteState.FAILED, "the node died", infrastructure=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.reconcile()
    job.refresh_from_db()
    assert job.attempts.count() == 2 and job.state in {"dispatching", "pending", "admitted"}

    second = str(job.attempts.get(number=2).id)
    fake_backend.advance(second, RemoteState.RUNNING)
    fake_backend.advance(second, RemoteState.FAILED, "exit code 3")
    services.reconcile()
    job.refresh_from_db()
    assert job.state == "failed" and job.attempts.count() == 2
    assert Attempt.objects.get(pk=second).failure_cause == "code"


def test_a_running_job_says_when_its_cluster_stops_answering_and_forgets_it_when_it_answers(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """While Ray was down a running job showed `running` with an empty reason for a minute."""
    job, remote = submit_running(world, fake_backend, django_capture_on_commit_callbacks)

    fake_backend.set_reachable(False)
    outcome = services.reconcile()
    job.refresh_from_db()
    world.cluster.refresh_from_db()
    assert outcome["silent_clusters"] == 1 and world.cluster.state == "unreachable"
    assert job.state == "running"
    assert f"Cluster {world.cluster.name} not answering since" in job.state_reason

    fake_backend.set_reachable(True)
    services.reconcile()
    job.refresh_from_db()
    world.cluster.refresh_from_db()
    assert world.cluster.state == "ready" and job.state_reason == ""


def test_an_attempt_past_its_max_runtime_is_stopped_and_the_job_fails_without_a_retry(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = submit(world, django_capture_on_commit_callbacks, max_runtime_seconds=60, max_retries=3)
    attempt = job.attempts.get()
    fake_backend.advance(str(attempt.id), RemoteState.RUNNING)
    services.reconcile()
    assert services.reconcile()["overran"] == 0  # within its minute
    job.refresh_from_db()
    assert job.state == "running"

    Attempt.objects.filter(pk=attempt.pk).update(started_at=timezone.now() - timedelta(seconds=61))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reconcile()["overran"] == 1
    job.refresh_from_db()
    attempt.refresh_from_db()
    assert (job.state, job.state_reason) == ("failed", "ran longer than its max runtime of 1 min")
    assert attempt.state == "failed" and attempt.failure_cause == "code"
    assert fake_backend.status(str(attempt.id)).state == RemoteState.STOPPED
    assert job.attempts.count() == 1  # not retried, though max_retries allows three
    services.reconcile()  # the cluster's "stopped" changes nothing
    job.refresh_from_db()
    assert job.state == "failed" and job.attempts.count() == 1


def test_a_job_without_a_max_runtime_runs_as_long_as_it_takes(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = submit(world, django_capture_on_commit_callbacks)
    attempt = job.attempts.get()
    fake_backend.advance(str(attempt.id), RemoteState.RUNNING)
    services.reconcile()
    Attempt.objects.filter(pk=attempt.pk).update(started_at=timezone.now() - timedelta(days=60))
    assert services.reconcile()["overran"] == 0
    job.refresh_from_db()
    assert job.state == "running"
