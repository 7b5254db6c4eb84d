"""The `paddock` CLI against a live Paddock: what a CI pipeline runs."""

from __future__ import annotations

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
