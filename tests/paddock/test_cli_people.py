"""What `paddock` prints for people (tables and text, pinned to a fixed clock), what it prints
for scripts (``--json``: exactly the API's JSON), its one-line errors with their exit codes, and
the team and priority class it submits with."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from paddock import jobs_text
from paddock.cli import main
from paddock.output import refusal_line
from tests.conftest import client_for, token_for

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
IB = "ib-a (InfiniBand, 400 Gbit/s)"

RUNNING: dict[str, Any] = {
    "id": 42,
    "name": "train-llama",
    "team": "nlp",
    "cluster": "gpu-a",
    "pool": "h100",
    "kind": "training",
    "runtime": "process",
    "state": "running",
    "state_reason": "",
    "pending_reason": "",
    "entrypoint": "torchrun train.py --lr 3e-4",
    "resources": {
        "gpus": 8.0,
        "accelerator_model": "H100 SXM",
        "accelerator_models": [],
        "cpus": 32.0,
        "memory_gb": 256.0,
    },
    "priority": 100,
    "priority_class": "high",
    "submitted_by": "max",
    "created_at": "2026-12-06T09:45:00Z",
    "started_at": "2026-12-06T09:47:00Z",
    "finished_at": None,
    "duration_seconds": 7980.0,
    "nodes": ["gpu-a1"],
    "max_runtime_seconds": 86400,
    "cost": "41.60",
    "cost_currency": "USD",
    "gpu_hours": "17.333",
    "attempts": [
        {
            "number": 1,
            "state": "failed",
            "created_at": "2026-12-06T09:46:00Z",
            "started_at": "2026-12-06T09:47:00Z",
            "finished_at": "2026-12-06T09:49:00Z",
            "message": 'Traceback (most recent call last):\n  File "train.py", line 3\nValueError: bad lr',
            "exit_code": 3,
            "cause": "exit code 3: ValueError: bad lr",
            "placement": [
                {"hostname": "gpu-a2", "gpus": [0, 1, 2, 3], "accelerator_model": "H100 SXM", "fabric": IB},
                {"hostname": "gpu-a3", "gpus": [4, 5, 6, 7], "accelerator_model": "H100 SXM", "fabric": IB},
            ],
        },
        {
            "number": 2,
            "state": "running",
            "created_at": "2026-12-06T09:49:30Z",
            "started_at": "2026-12-06T09:50:00Z",
            "finished_at": None,
            "message": "",
            "placement": [
                {
                    "node_id": 7,
                    "hostname": "gpu-a1",
                    "address": "10.0.0.7",
                    "gpus": [0, 1, 2, 3, 4, 5, 6, 7],
                    "gpu_uuids": [f"GPU-{i}" for i in range(8)],
                    "accelerator_model": "H100 SXM",
                    "fabric": "ib-a (InfiniBand, 400 Gbit/s)",
                    "cluster_id": 1,
                }
            ],
        },
    ],
}

PENDING: dict[str, Any] = {
    "id": 43,
    "name": "eval",
    "team": "nlp",
    "cluster": "gpu-a",
    "pool": None,
    "kind": "batch",
    "runtime": "process",
    "state": "pending",
    "state_reason": "Waiting for GPUs: 0 of 1 H100 SXM free",
    "pending_reason": "Waiting for GPUs: 0 of 1 H100 SXM free",
    "queue_position": 2,
    "estimated_start_at": "2026-12-06T12:20:00Z",
    "estimate_confidence": "medium",
    "estimate_basis": "after job 42 ends (declared max runtime)",
    "entrypoint": "python eval.py",
    "resources": {"gpus": 1.0, "accelerator_model": "H100 SXM", "accelerator_models": ["H100 SXM", "A100 80GB SXM"]},
    "priority": 0,
    "priority_class": None,
    "submitted_by": "max",
    "created_at": "2026-12-06T11:58:00Z",
    "started_at": None,
    "finished_at": None,
    "duration_seconds": None,
    "nodes": [],
    "attempts": [],
}


# --- for people: snapshots at a fixed clock ---------------------------------------------------
def test_list_is_a_table_with_a_header_gpus_duration_age_and_nodes() -> None:
    failed = {
        **PENDING,
        "id": 40,
        "name": "smoke",
        "team": "ml",
        "state": "failed",
        "resources": {"gpus": 0.0, "cpus": 1.0},
        "created_at": "2026-12-05T10:00:00Z",
        "duration_seconds": 45.2,
    }
    assert "\n".join(jobs_text.jobs_lines([RUNNING, PENDING, failed], NOW, count=5)) == (
        "ID  NAME         TEAM  STATE    GPUS                             DURATION    AGE             NODES\n"
        "42  train-llama  nlp   running  8 × H100 SXM                     2 h 13 min  2 h 15 min ago  gpu-a1\n"
        "43  eval         nlp   pending  1 × H100 SXM (or A100 80GB SXM)  —           2 min ago       —\n"
        "40  smoke        ml    failed   —                                45 s        26 h ago        —\n"
        "… 2 more (narrow it with --team, --state or --cluster, or raise --limit)"
    )
    assert jobs_text.jobs_lines([], NOW) == ["no jobs"]


def test_status_shows_placement_duration_and_each_attempt_s_cause() -> None:
    assert "\n".join(jobs_text.status_lines(RUNNING, NOW)) == (
        "job 42 train-llama  running\n"
        "  cluster      gpu-a (pool h100)\n"
        "  nodes        gpu-a1\n"
        "  resources    8 × H100 SXM, 32 CPU, 256 GB memory\n"
        "  duration     2 h 13 min so far\n"
        "  submitted    2 h 15 min ago by max\n"
        "  team         nlp\n"
        "  kind         training\n"
        "  command      torchrun train.py --lr 3e-4\n"
        "  priority     100 (class high)\n"
        "  max runtime  24 h\n"
        "  cost         USD 41.60 (17.333 GPU-h)\n"
        "\n"
        "attempt 2  running  for 2 h 10 min\n"
        "  on gpu-a1: GPU 0, 1, 2, 3, 4, 5, 6, 7 (H100 SXM) over ib-a (InfiniBand, 400 Gbit/s)\n"
        "attempt 1  failed  ran 2 min, ended 2 h 11 min ago\n"
        "  on gpu-a2: GPU 0, 1, 2, 3 (H100 SXM) over ib-a (InfiniBand, 400 Gbit/s)\n"
        "  on gpu-a3: GPU 4, 5, 6, 7 (H100 SXM) over ib-a (InfiniBand, 400 Gbit/s)\n"
        "  cause: exit code 3: ValueError: bad lr"
    )


def test_status_of_a_failed_job_puts_its_cause_first_and_keeps_a_long_reason_short() -> None:
    failed = {
        **RUNNING,
        "state": "failed",
        "finished_at": "2026-12-06T09:49:00Z",
        "duration_seconds": 120.0,
        "exit_code": 3,
        "cause": "exit code 3: ValueError: bad lr",
        "state_reason": "Job failed: " + "ray traceback " * 100,
        "attempts": RUNNING["attempts"][:1],
    }
    lines = jobs_text.status_lines(failed, NOW)
    assert lines[:3] == [
        "job 42 train-llama  failed",
        "  cause        exit code 3: ValueError: bad lr",
        "  reason       Job failed: " + ("ray traceback " * 14)[:187] + "…",
    ]
    assert "  duration     2 min, ended 2 h 11 min ago" in lines


def test_status_of_a_pending_job_says_why_it_waits_and_when_it_may_start() -> None:
    assert "\n".join(jobs_text.status_lines(PENDING, NOW)) == (
        "job 43 eval  pending\n"
        "  reason     Waiting for GPUs: 0 of 1 H100 SXM free\n"
        "  queue      position 2 in team nlp's queue; estimated start in 20 min (medium)"
        " — after job 42 ends (declared max runtime)\n"
        "  cluster    gpu-a\n"
        "  resources  1 × H100 SXM (or A100 80GB SXM)\n"
        "  submitted  2 min ago by max\n"
        "  team       nlp\n"
        "  kind       batch\n"
        "  command    python eval.py\n"
        "  priority   0"
    )


def test_status_without_the_newer_fields_computes_duration_and_reads_the_cause_from_the_message() -> None:
    """A server without placement, cause, exit code, nodes or duration_seconds still reads well."""
    older = {key: value for key, value in RUNNING.items() if key not in ("duration_seconds", "nodes")}
    older["attempts"] = [
        {key: value for key, value in attempt.items() if key not in ("cause", "exit_code", "placement")}
        for attempt in RUNNING["attempts"]
    ]
    lines = jobs_text.status_lines(older, NOW)
    assert "  duration     2 h 13 min so far" in lines  # from the first attempt's start
    assert not any(line.lstrip().startswith(("nodes", "on ")) for line in lines)
    assert lines[-1] == "  cause: ValueError: bad lr"  # the traceback's last line, not its first
    finished = {**older, "state": "succeeded", "finished_at": "2026-12-06T11:00:00Z", "attempts": []}
    assert "  duration     1 h 13 min, ended 1 h ago" in jobs_text.status_lines(finished, NOW)


def test_plan_says_whether_it_fits_memory_cost_and_what_fits_instead() -> None:
    answer = {
        "model": {"name": "llama-2-70b"},
        "workload": {"mode": "full_finetune"},
        "hardware": {"accelerator": "H100 SXM", "gpus": 1, "memory_bytes": 80 * 2**30},
        "fits": False,
        "memory_per_gpu_bytes": 1100 * 2**30,
        "headroom_bytes": -1020 * 2**30,
        "peak_phase": "optimizer step",
        "step_time_s": 12.345,
        "time_to_train_s": 7200,
        "cost": {"currency": "USD", "per_hour": "2.790000", "to_train": "0.000108"},
        "explanation": "Does not fit:\n1100 GiB per GPU.",
        "recommendations": [
            {"pool": "h100", "gpus": 16, "accelerator": "H100 SXM", "tp": 8, "pp": 2, "dp": 1,
             "memory_per_gpu_bytes": 70 * 2**30, "time_to_train_s": 3600, "cost_to_train": "1234.5", "currency": "USD"},
        ],
    }  # fmt: skip
    assert "\n".join(jobs_text.plan_lines(answer)) == (
        "llama-2-70b, full_finetune, on 1 × H100 SXM: DOES NOT FIT\n"
        "  memory  1100.0 GiB of 80.0 GiB per GPU, 1020.0 GiB short (peak: optimizer step)\n"
        "  time    12.3 s a step, 2 h to train\n"
        "  cost    USD 2.79 an hour, USD 0.000108 to train\n"
        "  why     Does not fit: 1100 GiB per GPU.\n"
        "  what fits:\n"
        "    POOL  GPUS           PARALLEL        MEMORY/GPU  TO TRAIN  COST\n"
        "    h100  16 × H100 SXM  tp 8 pp 2 dp 1  70.0 GiB    1 h       USD 1,234.50"
    )


def test_refusal_line_summarises_nested_field_errors() -> None:
    body = {"resources": {"gpus": ["Ensure this value is less than or equal to 64."]}, "name": ["Required."]}
    assert refusal_line(body) == "resources.gpus: Ensure this value is less than or equal to 64; name: Required"


# --- against a live Paddock -------------------------------------------------------------------
def _run(server: Any, token: str, *args: str) -> int:
    return main(["--url", server.url, "--token", token, *args])


def _json_out(out: str) -> Any:
    """The JSON the command printed; the live server runs in this process and may log to stdout
    before it."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line in ("{", "[", "[]"))
    return json.loads("\n".join(lines[start:]))


@pytest.fixture
def jobs(world: Any) -> dict[str, Any]:
    """A failed job with an attempt, a succeeded one and a pending one, all in team alpha."""
    from django.utils import timezone

    from apps.jobs.models import Attempt, Job
    from tests.factories import JobFactory

    now = timezone.now()
    failed = JobFactory(team=world.alpha, cluster=world.cluster, name="fails", gpus=2, accelerator_model="H100 SXM")
    done = JobFactory(team=world.alpha, cluster=world.cluster, name="done")
    waiting = JobFactory(team=world.alpha, cluster=world.cluster, name="waits", state_reason="Waiting for GPUs")
    Job.objects.filter(pk=failed.pk).update(
        state="failed",
        state_reason="The job failed",
        created_at=now - timedelta(hours=2),
        started_at=now - timedelta(minutes=100),
        finished_at=now - timedelta(minutes=90),
    )
    Job.objects.filter(pk=done.pk).update(
        state="succeeded", started_at=now - timedelta(minutes=30), finished_at=now - timedelta(minutes=5)
    )
    Attempt.objects.create(
        job=failed,
        number=1,
        state="failed",
        message='Traceback (most recent call last):\n  File "x.py"\nValueError: bad lr',
        placement=[{"node_id": None, "hostname": "gpu-a1", "address": "10.0.0.1", "gpus": [0, 1]}],
        started_at=now - timedelta(minutes=100),
        finished_at=now - timedelta(minutes=90),
    )
    return {"failed": failed, "done": done, "waiting": waiting}


@pytest.mark.django_db(transaction=True)
def test_list_and_status_for_people_and_json_for_scripts_is_the_api_s(
    world: Any, jobs: dict[str, Any], live_server: Any, capsys: Any
) -> None:
    token = token_for(world.member)
    api = client_for(token)

    assert _run(live_server, token, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "TEAM", "STATE", "GPUS", "DURATION", "AGE", "NODES"]
    assert [line.split()[1] for line in lines[1:]] == ["waits", "done", "fails"]  # newest first
    fails = lines[3]
    assert (
        fails.endswith("gpu-a1")
        and "failed" in fails
        and "2 × H100 SXM" in fails
        and "10 min" in fails
        and "2 h ago" in fails
    )
    assert "25 min" in lines[2]  # the succeeded job's duration

    assert _run(live_server, token, "list", "--state", "failed", "--state", "succeeded", "--json") == 0
    listed = _json_out(capsys.readouterr().out)
    expected = api.get("/api/v1/jobs/", {"state": ["failed", "succeeded"]}).json()["results"]
    assert listed == expected and [job["name"] for job in listed] == ["done", "fails"]

    assert _run(live_server, token, "list", "--limit", "1") == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and out[-1].startswith("… 2 more")

    failed = jobs["failed"]
    assert _run(live_server, token, "status", str(failed.pk), "--json") == 0
    assert _json_out(capsys.readouterr().out) == api.get(f"/api/v1/jobs/{failed.pk}/").json()

    assert _run(live_server, token, "status", str(failed.pk)) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"job {failed.pk} fails  failed\n")
    assert "  reason     The job failed\n" in text
    assert "  duration   10 min, ended 1 h 30 min ago\n" in text
    assert "attempt 1  failed  ran 10 min, ended 1 h 30 min ago\n" in text  # (placement: the snapshot tests)
    assert "cause: ValueError: bad lr" in text
    assert "{" not in text


@pytest.mark.django_db(transaction=True)
def test_status_of_a_pending_job_and_cancel_for_people_and_scripts(
    world: Any, jobs: dict[str, Any], live_server: Any, capsys: Any
) -> None:
    token = token_for(world.member)
    waiting = jobs["waiting"]
    assert _run(live_server, token, "status", str(waiting.pk)) == 0
    text = capsys.readouterr().out
    assert "  reason     Waiting for GPUs\n" in text
    assert "  queue      position 1 in team alpha's queue; estimated start —\n" in text

    assert _run(live_server, token, "cancel", str(waiting.pk)) == 0
    assert f"\njob {waiting.pk} waits: cancelled — Cancelled by max.\n" in "\n" + capsys.readouterr().out
    assert _run(live_server, token, "cancel", str(jobs["done"].pk), "--json") == 5  # finished: a conflict
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("paddock cancel: error: HTTP 409: ")

    assert _run(live_server, token, "logs", str(waiting.pk), "--json") == 0
    assert _json_out(capsys.readouterr().out) == client_for(token).get(f"/api/v1/jobs/{waiting.pk}/logs/").json()


@pytest.mark.django_db(transaction=True)
def test_errors_are_one_line_on_stderr_with_an_exit_code_that_says_which(
    world: Any, live_server: Any, capsys: Any, monkeypatch: Any
) -> None:
    from tests.factories import JobFactory

    token = token_for(world.member)
    other = JobFactory(team=world.beta, cluster=world.cluster)

    def err_of(code: int, *args: str, with_token: str | None = token) -> str:
        argv = ["--url", live_server.url, *(["--token", with_token] if with_token else []), *args]
        try:
            exit_code = main(argv)
        except SystemExit as exc:  # argparse's own refusals
            exit_code = int(exc.code or 0)
        assert exit_code == code
        captured = capsys.readouterr()
        assert captured.err.count("\n") == 1 and captured.out == "", captured
        return str(captured.err)

    assert err_of(3, "status", "999999") == "paddock status: error: HTTP 404: No Job matches the given query.\n"
    assert err_of(3, "status", str(other.pk)).startswith("paddock status: error: HTTP 404")  # not yours
    assert err_of(4, "list", with_token="pdk_bad.bad").startswith("paddock list: error: HTTP 401: ")
    monkeypatch.delenv("PADDOCK_TOKEN", raising=False)
    assert "set PADDOCK_TOKEN" in err_of(4, "list", with_token=None)
    viewer = token_for(world.viewer)
    assert err_of(4, "submit", "--name", "x", "--team", "alpha", "--", "true", with_token=viewer).startswith(
        "paddock submit: error: HTTP 403: "
    )
    refused = err_of(2, "submit", "--name", "x", "--team", "alpha", "--gpus", "-1", "--", "true")
    assert refused.startswith("paddock submit: error: HTTP 400: resources.gpus: ")
    usage = err_of(2, "status", "not-a-number")
    assert usage.startswith("paddock status: error: argument JOB: invalid int value") and "--help" in usage
    assert err_of(2, "logs", "1", "--follow", "--json").startswith("paddock logs: error: --json prints one answer")

    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{free.getsockname()[1]}"
    assert main(["--url", closed, "--token", token, "list"]) == 1
    assert capsys.readouterr().err.startswith(f"paddock list: error: cannot reach Paddock at {closed}: ")


@pytest.mark.django_db(transaction=True)
def test_team_defaults_to_the_token_s_team_or_the_user_s_only_team(
    world: Any, live_server: Any, fake_backend: Any, capsys: Any
) -> None:
    from apps.jobs.models import Job
    from tests.factories import MembershipFactory, UserFactory

    submit = ["submit", "--name", "t", "--", "true"]
    assert _run(live_server, token_for(world.member), *submit) == 0  # max is in alpha only
    MembershipFactory(team=world.beta, user=world.member, role="member")
    assert _run(live_server, token_for(world.member, team=world.beta), *submit) == 0  # a token of team beta
    assert list(Job.objects.order_by("id").values_list("team__slug", flat=True)) == ["alpha", "beta"]
    capsys.readouterr()

    assert _run(live_server, token_for(world.member), *submit) == 2  # two teams: say which
    assert capsys.readouterr().err == (
        "paddock submit: error: say which team with --team: this token can use alpha (member), beta (member)\n"
    )
    loner = UserFactory(username="lonely")
    assert _run(live_server, token_for(loner), *submit) == 2
    assert "lonely belongs to no team" in capsys.readouterr().err
    assert Job.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_priority_class_reaches_the_job(world: Any, live_server: Any, fake_backend: Any, capsys: Any) -> None:
    from apps.jobs.models import Job
    from apps.quotas.models import PriorityClass

    PriorityClass.objects.create(organisation=world.org, name="urgent", value=500)
    token = token_for(world.member)
    assert _run(live_server, token, "submit", "--name", "p", "--priority-class", "urgent", "--json", "--", "true") == 0
    shown = _json_out(capsys.readouterr().out)
    assert (shown["priority_class"], shown["priority"]) == ("urgent", 500)
    job = Job.objects.get()
    assert (job.priority_class.name, job.priority) == ("urgent", 500)

    assert _run(live_server, token, "submit", "--name", "p", "--priority-class", "nope", "--", "true") == 2
    assert "priority_class: Unknown priority class 'nope'" in capsys.readouterr().err
    assert Job.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_plan_reads_as_text_and_json_is_the_api_s(
    world: Any, live_server: Any, catalog: Any, tmp_path: Any, capsys: Any
) -> None:
    token = token_for(world.member)
    spec = {"model": {"name": "llama-2-7b"}, "workload": {"mode": "lora"}, "hardware": {"accelerator": "H100"}}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))

    assert _run(live_server, token, "plan", str(path)) == 0
    text = capsys.readouterr().out
    first = text.splitlines()[0]
    assert first.startswith("llama-2-7b, lora, on 1 × H100") and first.endswith(": fits")
    assert "\n  memory  " in text and " GiB of " in text and " GiB free" in text and "\n  why     Fits" in text
    assert "{" not in text

    assert _run(live_server, token, "plan", str(path), "--json") == 0
    assert (
        _json_out(capsys.readouterr().out)
        == client_for(token).post("/api/v1/planner/estimate/", spec, format="json").json()
    )
