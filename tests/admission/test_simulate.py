"""The trace simulator: tiny traces whose outcome is worked out by hand, and the command's output
and exit codes. The simulator builds its pass state in memory: no database here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from apps.admission.simulate import TraceError, build_world, read_trace, simulate, summarise

ROOT = Path(__file__).resolve().parents[2]
ONE_NODE = {"pools": [{"name": "h100", "model": "H100", "nodes": 1, "gpus_per_node": 8, "fabrics": 0}]}


def trace(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text("submit_time,team,gpus,model,duration,priority\n" + "\n".join(rows) + "\n")
    return path


def test_a_tiny_trace_waits_and_uses_the_pool_as_worked_out_by_hand(tmp_path: Path) -> None:
    # One 8-GPU node, team a guaranteed all of it. Job 1 runs 0–100; job 2 (older than job 3,
    # same priority) takes the node at 100 until 150; job 3 then runs 150–170.
    jobs = read_trace(trace(tmp_path, "0,a,8,H100,100,0", "0,a,8,H100,50,0", "10,a,4,H100,20,0"))
    world = build_world(ONE_NODE, {"teams": [{"name": "a", "quotas": {"h100": {"guaranteed": 8}}}]})

    summary = summarise(simulate(jobs, world))

    (team,) = summary["teams"]
    assert (team["wait_p50_s"], team["wait_p95_s"], team["never_started"]) == (100.0, 140.0, 0)
    assert summary["span_s"] == 170.0
    assert summary["utilisation"] == (800 + 400 + 80) / (8 * 170)
    assert summary["preemptions"] == 0
    # Every duration is known and nothing arrives later to jump ahead: the ETA is exact.
    assert summary["eta"]["predicted_jobs"] == 3
    assert summary["eta"]["median_abs_error_s"] == 0.0


def test_a_reclaim_preempts_the_borrower_who_restarts_after_the_owner_is_done(tmp_path: Path) -> None:
    # b borrows a's half from 0; a asks for its guarantee at 10: b's job is preempted (10 s × 8
    # GPUs lost), a runs 10–60, b's job starts again at 60 and runs its whole 100 s.
    jobs = read_trace(trace(tmp_path, "0,b,8,H100,100,0", "10,a,4,H100,50,0"))
    quotas = {
        "cohorts": [{"name": "research", "reclaim_from_borrowers": True}],
        "teams": [
            {"name": "a", "cohort": "research", "quotas": {"h100": {"guaranteed": 4}}},
            {"name": "b", "cohort": "research", "quotas": {"h100": {"guaranteed": 4}}},
        ],
    }
    summary = summarise(simulate(jobs, build_world(ONE_NODE, quotas)))

    assert summary["preemptions"] == 1
    assert summary["preempted_gpu_hours_lost"] == 80 / 3600
    assert summary["span_s"] == 160.0
    assert summary["utilisation"] == (80 + 800 + 200) / (8 * 160)
    shares = {t["team"]: (t["gpu_hours"], t["weight_share"]) for t in summary["teams"]}
    assert shares == {"a": (200 / 3600, 0.5), "b": (880 / 3600, 0.5)}


def test_the_eta_error_when_runtimes_are_unknown_comes_from_the_assumed_run_time(tmp_path: Path) -> None:
    # At 50 the second job waits; nothing has finished yet, so the ETA assumes the running job
    # runs the default hour: predicted 3,600, simulated 100 → an error of 3,500 s.
    jobs = read_trace(trace(tmp_path, "0,a,8,H100,100,0", "50,a,8,H100,100,0"))
    world = build_world(ONE_NODE, {"teams": [{"name": "a", "quotas": {"h100": {"guaranteed": 8}}}]})

    summary = summarise(simulate(jobs, world, eta_runtime="unknown"))

    assert summary["eta"]["waiting_jobs_predicted"] == 1
    assert summary["eta"]["waiting_median_abs_error_s"] == 3500.0


def test_a_job_that_can_never_start_is_reported_not_waited_for(tmp_path: Path) -> None:
    jobs = read_trace(trace(tmp_path, "0,a,16,H100,100,0", "0,a,8,H100,100,0"))
    world = build_world(ONE_NODE, {"teams": [{"name": "a", "quotas": {"h100": {"guaranteed": 8}}}]})

    summary = summarise(simulate(jobs, world))

    assert summary["teams"][0]["never_started"] == 1
    assert summary["span_s"] == 100.0


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("0,a,8,H100,abc,0", "line 2: could not convert string to float: 'abc'"),
        ("0,a,8,H100,0,0", "line 2: duration must be more than 0 seconds, not 0"),
        ("yesterday,a,8,H100,10,0", "line 2: submit_time 'yesterday' is neither seconds nor an ISO 8601 time"),
    ],
)
def test_a_bad_row_is_refused_with_its_line(tmp_path: Path, rows: str, message: str) -> None:
    with pytest.raises(TraceError, match=message):
        read_trace(trace(tmp_path, rows))


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "simulate", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_command_reports_the_example_workload_and_exits_0() -> None:
    examples = ROOT / "deploy" / "simulate"
    done = manage(
        str(examples / "trace.csv"),
        "--inventory",
        str(examples / "inventory.yaml"),
        "--quotas",
        str(examples / "quotas.yaml"),
        "--json",
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["jobs"] == 10
    assert {t["team"] for t in report["teams"]} == {"nlp", "vision", "platform"}
    assert 0 < report["utilisation"] <= 1


def test_the_command_exits_2_with_the_reason_for_a_bad_trace(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("when,team,gpus\n0,a,8\n")
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(ONE_NODE))
    quotas = tmp_path / "quotas.json"
    quotas.write_text(json.dumps({"teams": [{"name": "a"}]}))

    done = manage(str(bad), "--inventory", str(inventory), "--quotas", str(quotas))

    assert done.returncode == 2
    assert "the header lacks the column(s) submit_time, model, duration, priority" in done.stderr
