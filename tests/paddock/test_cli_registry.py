"""``paddock checkpoints | models | promote | finetune`` against a fake Paddock: what people and
scripts read, and the exit codes a pipeline relies on (0 ok, 1 API error, 2 usage error)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paddock.cli import build_parser, finetune_body, main, size_text
from tests.paddock.fake_paddock import USER_TOKEN, FakePaddock


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakePaddock]:
    server = FakePaddock(tmp_path).start()
    yield server
    server.stop()


def cli(fake: FakePaddock, *args: str) -> int:
    return main(["--url", fake.url, "--token", USER_TOKEN, *args])


def checkpoint(step: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": step,
        "job": 12,
        "job_name": "lora",
        "team": "alpha",
        "attempt_number": 1,
        "step": step,
        "uri": f"s3://b/teams/alpha/jobs/12/step-{step:08d}/",
        "state": "complete",
        "bytes": 1_258_291,
        "file_count": 3,
        "metrics": {"loss": 1.93456},
        "final": False,
        "deletion_reason": "",
        "retained_because": "latest",
        "model_versions": [],
        **fields,
    }


def test_sizes_read_like_people_write_them() -> None:
    assert size_text(None) == "—"
    assert size_text(512) == "512 B"
    assert size_text(1_258_291) == "1.2 MiB"
    assert size_text(5 * 1024**3) == "5.0 GiB"


def test_checkpoints_table_says_what_is_kept_and_why_the_rest_went(
    fake: FakePaddock, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.checkpoints = [
        checkpoint(20, state="deleted", bytes=None, deletion_reason="policy: keep_latest=1", retained_because=""),
        checkpoint(40, final=True, retained_because="final", model_versions=[3]),
    ]
    assert cli(fake, "checkpoints", "12") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["STEP", "ATTEMPT", "STATE", "SIZE", "FILES", "METRICS", "KEPT/DELETED"]
    assert "deleted: policy: keep_latest=1" in lines[1]
    assert lines[1].startswith("20 ")
    assert "1.2 MiB" in lines[2]
    assert "loss=1.935" in lines[2]
    assert "kept: final; versions 3" in lines[2]
    assert lines[0].index("STATE") == lines[1].index("deleted") == lines[2].index("complete")  # aligned

    assert cli(fake, "checkpoints", "12", "--json") == 0
    assert [item["step"] for item in json.loads(capsys.readouterr().out)] == [20, 40]


def test_models_lists_versions_and_stages(fake: FakePaddock, capsys: pytest.CaptureFixture[str]) -> None:
    fake.models = [{"id": 1, "team": "alpha", "name": "tiny-lora", "versions": 2, "production_version": 5}]
    fake.versions = [
        {"id": 5, "model": 1, "model_name": "tiny-lora", "team": "alpha", "version": 1, "stage": "production",
         "metrics": {"loss": 0.5}, "job": 12, "base_model": {"version": None, "name": "tiny-llama v1", "uri": ""}},
        {"id": 6, "model": 1, "model_name": "tiny-lora", "team": "alpha", "version": 2, "stage": "none",
         "metrics": {}, "job": 13, "base_model": {"version": None, "name": "", "uri": ""}},
    ]  # fmt: skip
    assert cli(fake, "models", "--team", "alpha") == 0
    out = capsys.readouterr().out
    assert "tiny-lora  (team alpha, 2 versions)" in out
    v1 = next(line for line in out.splitlines() if line.strip().startswith("v1"))
    assert "production" in v1 and "loss=0.5" in v1 and "job 12" in v1 and "tiny-llama v1" in v1
    assert out.index("v2") < out.index("v1")  # newest first

    assert cli(fake, "models", "--json") == 0
    models = json.loads(capsys.readouterr().out)
    assert [v["id"] for v in models[0]["version_list"]] == [5, 6]


def test_promote_prints_the_new_stage_and_api_errors_exit_with_their_code(
    fake: FakePaddock, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.versions = [
        {"id": 5, "model": 1, "model_name": "tiny-lora", "version": 1, "stage": "production"},
        {"id": 6, "model": 1, "model_name": "tiny-lora", "version": 2, "stage": "staging"},
    ]
    assert cli(fake, "promote", "6", "--stage", "production") == 0
    assert "tiny-lora v2 (id 6) is now production" in capsys.readouterr().out
    assert fake.versions[0]["stage"] == "archived"
    assert cli(fake, "promote", "6", "--stage", "none", "--json") == 0
    assert json.loads(capsys.readouterr().out)["stage"] == "none"

    assert cli(fake, "promote", "99", "--stage", "production") == 3
    assert "HTTP 404" in capsys.readouterr().err
    assert main(["--url", fake.url, "--token", "pdk_bad.bad", "models"]) == 4  # a refused token


def test_usage_errors_exit_2(fake: FakePaddock, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli(fake, "promote", "6", "--stage", "live")
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli(fake, "finetune", "--team", "alpha", "--dataset", "d.jsonl")  # no --base-model
    assert exc.value.code == 2


FINETUNE = ["finetune", "--team", "alpha", "--base-model", "version:3", "--dataset", "s3://b/data.jsonl"]


def test_finetune_flags_become_the_template_body() -> None:
    args = build_parser().parse_args(
        [*FINETUNE, "--steps", "200", "--rank", "16", "--learning-rate", "1e-4", "--gpus", "1", "--accelerator",
         "H100", "--cluster", "gpu", "--max-retries", "3", "--keep-latest", "2", "--model-name", "support-bot"]
    )  # fmt: skip
    assert finetune_body(args) == {
        "team": "alpha",
        "cluster": "gpu",
        "max_retries": 3,
        "resources": {"gpus": 1.0, "accelerator_model": "H100"},
        "checkpoint_policy": {"keep_latest": 2, "keep_best": None, "best_metric": "loss", "best_mode": "min"},
        "parameters": {
            "base_model": "version:3",
            "dataset": "s3://b/data.jsonl",
            "rank": 16,
            "steps": 200,
            "learning_rate": 1e-4,
            "model_name": "support-bot",
        },
    }


def test_finetune_submits_and_waits(fake: FakePaddock, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(fake, *FINETUNE, "--steps", "2") == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "41"
    assert fake.submitted[0]["parameters"] == {"base_model": "version:3", "dataset": "s3://b/data.jsonl", "steps": 2}

    assert cli(fake, *FINETUNE, "--wait") == 0
    captured = capsys.readouterr()
    assert "step 1/2 loss 2.0" in captured.out
    assert "job 42 succeeded" in captured.err

    assert cli(fake, *FINETUNE, "--json") == 0
    assert json.loads(capsys.readouterr().out)["id"] == 43
    assert cli(fake, "finetune", "--team", "beta", "--base-model", "m", "--dataset", "d") == 2
    assert "Unknown team" in capsys.readouterr().err


def test_finetune_team_defaults_to_the_only_team_the_token_sees(
    fake: FakePaddock, capsys: pytest.CaptureFixture[str]
) -> None:
    no_team = [part for part in FINETUNE if part not in ("--team", "alpha")]
    assert cli(fake, *no_team) == 0
    assert fake.submitted[-1]["team"] == "alpha" and fake.count("GET", "/api/v1/auth/me/") == 1
    assert cli(fake, *FINETUNE) == 0  # --team given: no question asked
    assert fake.count("GET", "/api/v1/auth/me/") == 1
    capsys.readouterr()

    fake.teams = [{"slug": "alpha", "role": "member"}, {"slug": "beta", "role": "viewer"}]
    assert cli(fake, *no_team) == 2
    assert capsys.readouterr().err == (
        "paddock finetune: error: say which team with --team: this token can use alpha (member), beta (viewer)\n"
    )
    assert len(fake.submitted) == 2
