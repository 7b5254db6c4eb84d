"""The first real path, end to end: REST → PostgreSQL → Celery worker → Ray head → back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from apps.dispatch.backends.ray import RayBackend
from apps.dispatch.port import RemoteState
from apps.jobs.models import Attempt, Job
from tests.conftest import ARTIFACTS, client_for, token_for
from tests.integration.workers import WorkerProcess, worker_env

pytestmark = [pytest.mark.ray, pytest.mark.worker]


def wait_for(predicate: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def job_state(job_id: int) -> str:
    return Job.objects.values_list("state", flat=True).get(pk=job_id)


def wait_state(job_id: int, *states: str, timeout: float = 60) -> str:
    return wait_for(lambda: job_state(job_id) in states and job_state(job_id), timeout, f"job {job_id} in {states}")


def submit(client: Any, entrypoint: str, **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/jobs/", {"name": "it", "team": "demo", "entrypoint": entrypoint, **extra}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_a_job_submitted_with_a_token_runs_on_ray_and_keeps_its_logs(live: Any) -> None:
    client = client_for(token_for(live.member))
    job = submit(client, "python -c \"print('hello from paddock')\"", runtime_env={"env_vars": {"X": "1"}})
    assert wait_state(job["id"], "succeeded", "failed") == "succeeded"
    logs = client.get(f"/api/v1/jobs/{job['id']}/logs/?offset=0").json()
    assert "hello from paddock" in logs["text"]
    assert logs["complete"]
    detail = client.get(f"/api/v1/jobs/{job['id']}/").json()
    assert [a["state"] for a in detail["attempts"]] == ["succeeded"]
    assert [e["kind"] for e in detail["events"]][:3] == ["submitted", "admitted", "dispatched"]
    # The log is ours now: it survives the Ray job (read from PostgreSQL, not Ray).
    assert "hello from paddock" in Attempt.objects.get(job_id=job["id"]).log


def test_a_failing_entrypoint_fails_with_rays_message(live: Any) -> None:
    client = client_for(token_for(live.member))
    job = submit(client, "python -c \"import sys; print('about to fail'); sys.exit(3)\"")
    assert wait_state(job["id"], "succeeded", "failed") == "failed"
    reason = Job.objects.get(pk=job["id"]).state_reason
    assert "exit code 3" in reason or "failed" in reason.lower(), reason
    assert "about to fail" in client.get(f"/api/v1/jobs/{job['id']}/logs/").json()["text"]


def test_cancelling_a_running_job_stops_it_on_ray(live: Any, ray_head: Any) -> None:
    client = client_for(token_for(live.member))
    job = submit(client, "python -c \"import time; print('working', flush=True); time.sleep(120)\"")
    wait_state(job["id"], "running")
    response = client.post(f"/api/v1/jobs/{job['id']}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    attempt = Attempt.objects.get(job_id=job["id"])
    ray = RayBackend(ray_head.address, ray_head.auth_token)
    wait_for(lambda: ray.status(str(attempt.id)).state == RemoteState.STOPPED, 30, "Ray to stop the job")
    wait_for(lambda: Attempt.objects.get(pk=attempt.pk).state == "stopped", 30, "the attempt to be stopped")
    assert job_state(job["id"]) == "cancelled"
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel/").status_code == 409


def test_an_attempt_past_its_max_runtime_is_stopped_on_ray_and_the_job_fails_without_a_retry(
    live: Any, ray_head: Any
) -> None:
    from apps.jobs import services

    client = client_for(token_for(live.member))
    job = submit(client, "sleep 60", max_runtime_seconds=2, max_retries=2)
    assert job["max_runtime_seconds"] == 2
    wait_state(job["id"], "running")
    attempt = Attempt.objects.get(job_id=job["id"])
    # The periodic reconcile (or the worker's watch loop, whichever comes first) stops it.
    wait_for(lambda: services.reconcile() and job_state(job["id"]) == "failed", 30, "the overrun to be stopped")
    stored = Job.objects.get(pk=job["id"])
    assert stored.state_reason == "ran longer than its max runtime of 2 s"
    ray = RayBackend(ray_head.address, ray_head.auth_token)
    wait_for(lambda: ray.status(str(attempt.id)).state == RemoteState.STOPPED, 30, "Ray to stop the job")
    time.sleep(1)
    services.reconcile()  # Ray's "stopped" does not reopen the job or retry it
    assert job_state(job["id"]) == "failed"
    assert [a.state for a in Attempt.objects.filter(job_id=job["id"])] == ["failed"]
    detail = client.get(f"/api/v1/jobs/{job['id']}/").json()
    assert detail["state_reason"] == "ran longer than its max runtime of 2 s"
    assert detail["events"][-1]["kind"] == "failed"


def test_a_dispatch_delivered_twice_makes_one_ray_job(live: Any, ray_head: Any) -> None:
    from controlplane.celery import app

    client = client_for(token_for(live.member))
    job = submit(client, "python -c \"print('once')\"")
    attempt = wait_for(lambda: Attempt.objects.filter(job_id=job["id"]).first(), 30, "an attempt")
    # The scheduler already sent one dispatch; deliver the same message twice more.
    app.tasks["jobs.dispatch_attempt"].apply_async(args=[str(attempt.id)])
    app.tasks["jobs.dispatch_attempt"].apply_async(args=[str(attempt.id)])
    assert wait_state(job["id"], "succeeded", "failed") == "succeeded"
    time.sleep(1)  # let any late duplicate land before counting
    ray_ids = RayBackend(ray_head.address, ray_head.auth_token).list_remote_ids()
    assert ray_ids.count(str(attempt.id)) == 1
    assert Attempt.objects.filter(job_id=job["id"]).count() == 1


def test_a_worker_killed_during_dispatch_still_runs_the_job_once(
    live: Any, ray_head: Any, celery_worker_process: Any, test_database_name: str, tmp_path: Any
) -> None:
    """SIGKILL between "Ray accepted the job" and "Paddock recorded it"; a fresh worker adopts it."""
    marker = tmp_path / "submitted"
    celery_worker_process.stop()  # only the slow worker may take the dispatch
    slow = WorkerProcess(
        worker_env(test_database_name, PADDOCK_TEST_SUBMIT_MARKER=str(marker)),
        name="slow",
        log_dir=ARTIFACTS,
        argv=[__import__("sys").executable, "-m", "tests.integration.slow_dispatch_worker", "-A", "controlplane"],
    ).start()
    try:
        client = client_for(token_for(live.member))
        job = submit(client, "python -c \"print('exactly once')\"")
        wait_for(marker.exists, 60, "the slow worker to submit to Ray")
        attempt_id = marker.read_text()
        slow.kill()
        assert Attempt.objects.get(pk=attempt_id).state == "admitted"  # Paddock never recorded it
        assert job_state(job["id"]) == "dispatching"
    finally:
        slow.kill()
        celery_worker_process.start()
    # The periodic reconcile (beat's, every few seconds) re-sends the attempt that was never
    # recorded as sent; the fresh worker finds the Ray job already there and adopts it.
    from controlplane.celery import app

    last = [0.0]

    def reconciled_to_the_end() -> bool:
        if time.monotonic() - last[0] > 2:
            last[0] = time.monotonic()
            app.tasks["jobs.reconcile"].apply_async()
        return job_state(job["id"]) in ("succeeded", "failed")

    wait_for(reconciled_to_the_end, 90, "the job to finish")
    assert job_state(job["id"]) == "succeeded"
    assert RayBackend(ray_head.address, ray_head.auth_token).list_remote_ids().count(attempt_id) == 1
    assert Attempt.objects.filter(job_id=job["id"]).count() == 1
    kinds = list(Job.objects.get(pk=job["id"]).events.values_list("kind", flat=True))
    assert "adopted" in kinds
    assert "exactly once" in Attempt.objects.get(pk=attempt_id).log


def test_the_same_idempotency_key_posted_concurrently_makes_one_job(live: Any) -> None:
    token = token_for(live.member)
    results: list[int] = []
    barrier = threading.Barrier(4)

    def post() -> None:
        from django.db import connection

        try:
            barrier.wait()
            response = client_for(token).post(
                "/api/v1/jobs/",
                {"name": "race", "team": "demo", "entrypoint": "true"},
                format="json",
                HTTP_IDEMPOTENCY_KEY="pipeline-123",
            )
            results.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 200, 200, 201]
    assert Job.objects.filter(idempotency_key="pipeline-123").count() == 1


def test_a_job_runs_in_the_code_package_its_team_uploaded(live: Any) -> None:
    import io
    import uuid
    import zipfile

    from django.core.files.uploadedfile import SimpleUploadedFile

    marker = uuid.uuid4().hex
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("main.py", "print(open('data/greeting.txt').read().strip())\n")
        archive.writestr("data/greeting.txt", f"shipped {marker}\n")
    client = client_for(token_for(live.member))
    uploaded = client.post(
        "/api/v1/packages/",
        {"team": "demo", "file": SimpleUploadedFile("code.zip", buffer.getvalue())},
        format="multipart",
    )
    assert uploaded.status_code == 201, uploaded.content

    job = submit(client, "python main.py", runtime_env={"working_dir": uploaded.json()["uri"]})

    assert wait_state(job["id"], "succeeded", "failed") == "succeeded", Job.objects.get(pk=job["id"]).state_reason
    logs = client.get(f"/api/v1/jobs/{job['id']}/logs/?offset=0").json()
    assert f"shipped {marker}" in logs["text"]
