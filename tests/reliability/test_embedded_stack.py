"""``make run``'s own stack (runlocal: SQLite, the file-system broker, a token-guarded Ray head,
worker, beat, web) taken apart while it works: jobs never see the control plane, a part that
dies comes back, and a killed runlocal leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from apps.dispatch.local_ray import port_in_use
from tests.embedded import EmbeddedStack, wait_until

pytestmark = [pytest.mark.ray, pytest.mark.worker]
ENV_PRINTER = "python -c \"import os, json; print('ENV=' + json.dumps(dict(os.environ)))\""


def submit(stack: EmbeddedStack, entrypoint: str, **extra: Any) -> dict[str, Any]:
    response = stack.session().post(
        f"{stack.url}/api/v1/jobs/",
        json={"name": "embedded", "team": "demo", "entrypoint": entrypoint, **extra},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def job(stack: EmbeddedStack, job_id: int) -> dict[str, Any]:
    response = stack.session().get(f"{stack.url}/api/v1/jobs/{job_id}/", timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def finished(stack: EmbeddedStack, job_id: int, timeout: float = 180) -> dict[str, Any]:
    return wait_until(
        lambda: (found := job(stack, job_id))["state"] in ("succeeded", "failed", "cancelled") and found,
        timeout,
        f"job {job_id} to finish",
        poll=0.5,
    )


def log_text(stack: EmbeddedStack, job_id: int) -> str:
    def complete() -> str | None:
        body = stack.session().get(f"{stack.url}/api/v1/jobs/{job_id}/logs/", timeout=30).json()
        return body["text"] if body["complete"] else None

    return str(wait_until(complete, 60, f"job {job_id}'s whole log", poll=0.5))


def test_the_local_head_refuses_callers_without_its_token(embedded_stack: EmbeddedStack) -> None:
    """The local head ran with RAY_AUTH_MODE=disabled: a job called its dashboard and stopped
    another team's job (finding 3)."""
    refused = requests.get(f"{embedded_stack.ray_address}/api/jobs/", timeout=10)
    assert refused.status_code in (401, 403)
    token = {"Authorization": f"Bearer {embedded_stack.ray_token}"}
    assert requests.get(f"{embedded_stack.ray_address}/api/jobs/", headers=token, timeout=10).status_code == 200
    assert oct(os.stat(embedded_stack.data_dir / "ray-auth-token").st_mode & 0o777) == "0o600"


def test_a_job_sees_nothing_of_the_control_planes_environment(embedded_stack: EmbeddedStack) -> None:
    """Every job saw PADDOCK_ADMIN_PASSWORD: the local head copied os.environ to it (finding 4)."""
    created = submit(embedded_stack, ENV_PRINTER, runtime_env={"env_vars": {"MINE": "1"}})
    assert finished(embedded_stack, created["id"])["state"] == "succeeded"
    line = next(x for x in log_text(embedded_stack, created["id"]).splitlines() if x.startswith("ENV="))
    seen = json.loads(line[4:])
    assert seen["MINE"] == "1"
    # Only what Paddock gives every job: its own token, Paddock's address, its checkpoint prefix.
    from apps.jobs.choices import JOB_ENVIRONMENT

    assert sorted(name for name in seen if name.startswith("PADDOCK_") and name not in JOB_ENVIRONMENT) == []
    assert seen["PADDOCK_JOB_TOKEN"].startswith("pdj_") and seen["PADDOCK_JOB_ID"] == str(created["id"])
    assert embedded_stack.admin_password not in line
    # Nor does it start inside the checkout, next to the data directory.
    assert not Path(seen.get("PWD", "/")).joinpath("manage.py").exists()


def test_a_job_may_not_ship_the_control_planes_directory(embedded_stack: EmbeddedStack) -> None:
    """A member's job with working_dir=<data dir> received the SQLite database (finding 1)."""
    response = embedded_stack.session().post(
        f"{embedded_stack.url}/api/v1/jobs/",
        json={
            "name": "steal",
            "team": "demo",
            "entrypoint": "ls",
            "runtime_env": {"working_dir": str(embedded_stack.data_dir)},
        },
        timeout=30,
    )
    assert response.status_code == 400
    assert "working_dir" in response.json()["runtime_env"]


def test_a_worker_that_dies_is_started_again_and_the_rest_keep_running(embedded_stack: EmbeddedStack) -> None:
    """runlocal stopped web, beat and Ray when one child exited (finding 6)."""
    before = embedded_stack.children()
    os.killpg(before["celery worker"], signal.SIGKILL)

    after = wait_until(
        lambda: (now := embedded_stack.children()).get("celery worker") not in (None, before["celery worker"]) and now,
        60,
        "runlocal to start the worker again",
    )
    assert {role: after[role] for role in ("ray head", "celery beat", "web")} == {
        role: before[role] for role in ("ray head", "celery beat", "web")
    }
    assert "celery worker exited" in embedded_stack.log_since_start()
    created = submit(embedded_stack, "python -c \"print('after the restart')\"")
    assert finished(embedded_stack, created["id"])["state"] == "succeeded"


def test_a_restarted_ray_head_does_not_fail_a_job_that_can_be_retried(embedded_stack: EmbeddedStack) -> None:
    """The head came back with an empty job history and a running job with max_retries 0 ended
    failed ("local no longer knows job ..."): the cluster's failure, now retried by cause."""
    created = submit(
        embedded_stack, "python -c \"import time; print('working', flush=True); time.sleep(6)\"", max_retries=0
    )
    wait_until(lambda: job(embedded_stack, created["id"])["state"] == "running", 120, "the job to run")
    head = embedded_stack.children()["ray head"]
    os.killpg(head, signal.SIGKILL)  # the head's supervisor and, through it, the whole head
    wait_until(lambda: embedded_stack.children().get("ray head") not in (None, head), 90, "runlocal to start Ray again")

    final = finished(embedded_stack, created["id"], timeout=240)
    assert final["state"] == "succeeded", final
    attempts = final["attempts"]
    assert len(attempts) >= 2 and attempts[-1]["state"] == "succeeded"
    assert attempts[0]["failure_cause"] == "infrastructure"


def test_killing_runlocal_leaves_no_process_and_no_port_behind(embedded_stack: EmbeddedStack) -> None:
    """runlocal SIGKILLed left web, worker and beat running; the next make run failed with
    "Address already in use" (finding 6)."""
    assert embedded_stack.proc is not None
    children = list(embedded_stack.children().values())
    assert len(children) == 4
    os.kill(embedded_stack.proc.pid, signal.SIGKILL)
    embedded_stack.proc.wait(timeout=10)

    def all_gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() for pid in children)

    wait_until(all_gone, 60, "every child of the killed runlocal to exit")
    wait_until(lambda: not port_in_use(embedded_stack.port), 30, "the web port to be free")
    wait_until(lambda: not port_in_use(embedded_stack.dashboard_port), 60, "the Ray dashboard port to be free")

    embedded_stack.start()  # the next `make run` on the same data starts cleanly
    assert requests.get(f"{embedded_stack.url}/healthz", timeout=10).status_code == 200
    time.sleep(0.5)
