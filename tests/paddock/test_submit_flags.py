"""How `paddock submit`'s resource flags become the API's ``resources`` (no server needed)."""

from __future__ import annotations

import pytest

from paddock.cli import build_parser, list_filters, submit_resources

BASE = ["submit", "--name", "n", "--team", "alpha", "--gpus", "2"]


def test_one_accelerator_is_the_jobs_model() -> None:
    args = build_parser().parse_args([*BASE, "--accelerator", "H100", "--", "python", "x.py"])
    assert submit_resources(args) == {"gpus": 2.0, "accelerator_model": "H100"}


def test_a_repeated_accelerator_is_the_models_it_accepts_in_order() -> None:
    args = build_parser().parse_args(
        [*BASE, "--accelerator", "H100 SXM", "--accelerator", "A100 80GB SXM", "--", "python", "x.py"]
    )
    assert submit_resources(args) == {"gpus": 2.0, "accelerator_models": ["H100 SXM", "A100 80GB SXM"]}


def test_min_gpu_memory_asks_for_any_gpu_with_that_much() -> None:
    args = build_parser().parse_args([*BASE, "--min-gpu-memory-gb", "40", "--memory-gb", "64", "--", "x"])
    assert submit_resources(args) == {"gpus": 2.0, "min_gpu_memory_gb": 40.0, "memory_gb": 64.0}


def test_list_flags_are_the_jobs_api_s_query() -> None:
    args = build_parser().parse_args(
        ["list", "--team", "nlp", "--state", "running", "--state", "pending", "--cluster", "local", "--mine",
         "--search", "llama", "--sort=-duration", "--limit", "900"]
    )  # fmt: skip
    assert list_filters(args) == {
        "team": "nlp",
        "state": ["running", "pending"],
        "cluster": "local",
        "search": "llama",
        "mine": "true",
        "ordering": "-duration",
        "page_size": 500,  # the API's largest page
    }
    assert list_filters(build_parser().parse_args(["list"])) == {"page_size": 50}


def test_list_sorts_only_by_what_the_api_sorts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["list", "--sort", "cost_center"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sort by one of created_at, name, state, priority, gpus, duration" in err
