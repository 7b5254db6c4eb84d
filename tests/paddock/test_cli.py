"""The `paddock` CLI against a live Paddock: what a CI pipeline runs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from paddock.cli import main
from tests.conftest import token_for


@pytest.mark.ray
@pytest.mark.worker
def test_submit_wait_follows_the_log_and_exits_with_the_outcome(live: Any, live_server: Any, capsys: Any) -> None:
    token = token_for(live.member)
    base = ["--url", live_server.url, "--token", token]
    ok = main(
        [
            *base,
            "submit",
            "--name",
            "ci",
            "--team",
            "demo",
            "--env",
            "WHO=ci",
            "--wait",
            "--",
            "python",
            "-c",
            "import os; print('hi', os.environ['WHO'])",
        ]
    )
    out = capsys.readouterr()
    assert ok == 0, out.err
    assert "hi ci" in out.out
    assert "succeeded" in out.err

    failed = main(
        [*base, "submit", "--name", "ci-fail", "--team", "demo", "--wait", "--", "python", "-c", "raise SystemExit(4)"]
    )
    assert failed == 1
    assert "failed" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_bad_input_prints_the_field_errors_and_exits_2(world: Any, live_server: Any, capsys: Any) -> None:
    token = token_for(world.member)
    code = main(["--url", live_server.url, "--token", token, "submit", "--name", "x", "--team", "nope", "--", "true"])
    assert code == 2
    assert "Unknown team" in capsys.readouterr().err
    assert main(["--url", live_server.url, "--token", "pdk_bad.bad", "list"]) == 2


@pytest.mark.django_db(transaction=True)
def test_plan_prints_the_estimate_and_require_fit_fails_a_pipeline(
    world: Any, live_server: Any, catalog: Any, tmp_path: Any, capsys: Any
) -> None:
    base = ["--url", live_server.url, "--token", token_for(world.member)]
    small = {"model": {"name": "llama-2-7b"}, "workload": {"mode": "lora"}, "hardware": {"accelerator": "H100"}}
    big = {**small, "model": {"name": "llama-2-70b"}, "workload": {"mode": "full_finetune"}}
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps([small, big]))
    assert main([*base, "plan", str(spec)]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert [answer["fits"] for answer in answers] == [True, False]
    assert main([*base, "plan", "--require-fit", str(spec)]) == 1

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"model": big["model"], "workload": big["workload"]}))
    submit = [*base, "submit", "--name", "big", "--team", "alpha", "--gpus", "1", "--accelerator", "H100"]
    assert main([*submit, "--plan", str(plan), "--", "python", "train.py"]) == 2
    assert "Does not fit" in capsys.readouterr().err
    assert main([*submit, "--plan", str(plan), "--override-planner", "--", "python", "train.py"]) == 0
