"""The embedded default (`make run`: SQLite, DEBUG on) answers numbers beyond 64 bits with a
400, never a 500 with Django's debug page.

PostgreSQL, which the rest of the suite runs on, range-checks differently, so the same requests
are sent to SQLite in a separate process (``sqlite_probe.py``, a fresh database under a
temporary ``PADDOCK_DATA_DIR``): every GET of the API with path ids and integer parameters
beyond 64 bits, and the body fields that reach an integer column.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def answers(tmp_path_factory: Any) -> dict[str, dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("sqlite-probe")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PADDOCK_", "DATABASE_", "REDIS_"))}
    env.update(
        PADDOCK_ENV="development",
        PADDOCK_DATA_DIR=str(data_dir),
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="controlplane.settings",
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "core" / "sqlite_probe.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (data_dir / "paddock.sqlite3").is_file()
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {line["case"]: line for line in lines}


def test_no_answer_is_a_server_error_or_an_html_page(answers: dict[str, dict[str, Any]]) -> None:
    assert len(answers) > 40  # every GET of the API, and its integer parameters
    bad = {case: (a["status"], a["body"][:120]) for case, a in answers.items() if a["status"] >= 500}
    assert not bad
    html = {case: a["content_type"] for case, a in answers.items() if "html" in a["content_type"]}
    assert not html


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("GET /api/v1/accelerators/?node", "node"),
        ("GET /api/v1/accelerators/summary/?node", "node"),
        ("GET /api/v1/network-fabrics/?node", "node"),
        ("POST fabric nodes", "nodes"),
        ("PATCH fabric nodes", "nodes"),
        ("POST storage capacity", "capacity_bytes"),
        ("PATCH storage used", "used_bytes"),
    ],
)
def test_the_reported_overflows_are_400s_on_their_field(
    answers: dict[str, dict[str, Any]], case: str, field: str
) -> None:
    answer = answers[case]
    assert answer["status"] == 400, answer
    assert field in json.loads(answer["body"])


def test_ids_beyond_64_bits_in_paths_are_404s(answers: dict[str, dict[str, Any]]) -> None:
    by_id = [a for case, a in answers.items() if case.startswith("GET /api/v1/jobs/5959723489471459190856744960/")]
    assert by_id and all(a["status"] == 404 for a in by_id)
