"""`paddock submit --wait` and `paddock wait` exit with the job's own exit code, and with
documented codes for a job that has none (cancelled, lost, failed before its command ran), so
a CI step fails the way its job did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from paddock.cli import EXIT_CANCELLED, EXIT_FAILED_WITHOUT_CODE, EXIT_LOST, job_exit_status, main
from tests.conftest import token_for

RAY_FAILURES = json.loads((Path(__file__).parents[1] / "jobs" / "fixtures" / "ray_failures.json").read_text())


def _submitted(live_server: Any, world: Any, capsys: Any, name: str) -> tuple[list[str], int]:
    base = ["--url", live_server.url, "--token", token_for(world.member)]
    assert main([*base, "submit", "--name", name, "--team", "alpha", "--", "python", "train.py"]) == 0
    return base, int(capsys.readouterr().out.split()[-1])  # the id, the last line (log lines go first)


def _remote(job_id: int) -> str:
    from apps.jobs.models import Attempt

    return str(Attempt.objects.get(job_id=job_id).pk)


@pytest.mark.django_db(transaction=True)
def test_wait_exits_with_the_jobs_own_exit_code_and_says_its_cause(
    world: Any, live_server: Any, fake_backend: Any, capsys: Any
) -> None:
    from apps.dispatch.port import RemoteState
    from apps.jobs import services

    base, job_id = _submitted(live_server, world, capsys, "exits-3")
    remote = _remote(job_id)
    fake_backend.append_log(remote, "loading\nValueError: bad lr\n")
    fake_backend.advance(remote, RemoteState.FAILED, "Job entrypoint command failed with exit code 3", exit_code=3)
    services.reconcile()

    code = main([*base, "wait", str(job_id)])

    out = capsys.readouterr()
    assert code == 3
    assert "ValueError: bad lr" in out.out  # the log, followed to its end
    assert f"job {job_id} failed: exit code 3: ValueError: bad lr" in out.err


@pytest.mark.django_db(transaction=True)
def test_wait_exits_0_for_a_job_that_succeeded(world: Any, live_server: Any, fake_backend: Any, capsys: Any) -> None:
    from apps.dispatch.port import RemoteState
    from apps.jobs import services

    base, job_id = _submitted(live_server, world, capsys, "ok")
    fake_backend.advance(_remote(job_id), RemoteState.SUCCEEDED)
    services.reconcile()

    assert main([*base, "wait", "--quiet", str(job_id)]) == 0
    assert f"job {job_id} succeeded" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_wait_exits_with_the_cancelled_code_for_a_cancelled_job(
    world: Any, live_server: Any, fake_backend: Any, capsys: Any
) -> None:
    from apps.dispatch.port import RemoteState
    from apps.jobs import services

    base, job_id = _submitted(live_server, world, capsys, "cancel-me")
    fake_backend.advance(_remote(job_id), RemoteState.RUNNING)
    services.reconcile()
    assert main([*base, "cancel", str(job_id)]) == 0

    assert main([*base, "wait", "--quiet", str(job_id)]) == EXIT_CANCELLED == 123
    assert f"job {job_id} cancelled" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_environment_could_not_be_set_up_exits_with_the_no_exit_code_code(
    world: Any, live_server: Any, fake_backend: Any, capsys: Any
) -> None:
    from apps.dispatch.port import RemoteState
    from apps.jobs import services

    base, job_id = _submitted(live_server, world, capsys, "bad-pip")
    # Ray fails a job whose runtime_env cannot be set up before its command runs: no exit code.
    ray = RAY_FAILURES["bad_pip"]  # what a real Ray head said
    fake_backend.advance(_remote(job_id), RemoteState.FAILED, ray["message"], exit_code=ray["exit_code"])
    services.reconcile()

    assert main([*base, "wait", "--quiet", str(job_id)]) == EXIT_FAILED_WITHOUT_CODE == 121
    assert f"job {job_id} failed: pip could not install paddock-no-such-package-xyz==1.0" in capsys.readouterr().err


def _job(state: str, *attempts: dict[str, Any], exit_code: int | None = None) -> dict[str, Any]:
    return {"state": state, "exit_code": exit_code, "attempts": list(attempts)}


@pytest.mark.parametrize(
    ("job", "status"),
    [
        (_job("succeeded", {"state": "succeeded", "exit_code": None}), 0),
        (_job("failed", {"state": "failed", "exit_code": 3}, exit_code=3), 3),
        (_job("failed", {"state": "failed", "exit_code": 137}, exit_code=137), 137),
        (_job("failed", {"state": "failed", "exit_code": -9}, exit_code=-9), 137),  # killed by SIGKILL: 128 + 9
        (_job("failed", {"state": "failed", "exit_code": 256}, exit_code=256), EXIT_FAILED_WITHOUT_CODE),
        (_job("failed", {"state": "failed", "exit_code": None}), EXIT_FAILED_WITHOUT_CODE),
        (_job("failed"), EXIT_FAILED_WITHOUT_CODE),  # refused before any attempt
        (_job("failed", {"state": "lost", "exit_code": None}), EXIT_LOST),
        (_job("cancelled", {"state": "stopped", "exit_code": None}), EXIT_CANCELLED),
        # A server without the job-level field: the latest attempt's code.
        ({"state": "failed", "attempts": [{"state": "failed", "exit_code": 3}]}, 3),
    ],
)
def test_exit_status_of_a_finished_job(job: dict[str, Any], status: int) -> None:
    assert job_exit_status(job) == status


def test_the_codes_are_distinct_and_outside_the_shells_own() -> None:
    codes = {EXIT_FAILED_WITHOUT_CODE, EXIT_LOST, EXIT_CANCELLED}
    assert len(codes) == 3
    assert not codes & {0, 1, 2, 126, 127, 130, 137, 143}
    assert all(code < 128 for code in codes)  # never read as "killed by a signal"
