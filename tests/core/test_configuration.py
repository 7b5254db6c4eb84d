"""A fresh checkout works without setup: the data directory is created on first use, and
``manage.py plan`` answers before any database exists (from the built-in catalog, saying so).

Each command runs in a process of its own, as a user would run it, on a temporary
``PADDOCK_DATA_DIR`` that does not exist yet, with the development defaults (SQLite there).
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
SPEC = {
    "model": {"name": "llama-2-7b"},
    "workload": {"mode": "lora", "batch": 2, "seq": 1024, "tokens": 1e8},
    "hardware": {"accelerator": "H100", "gpus": 1},
    "recommendations": 2,
}


def manage(data_dir: Path, *args: str, **env_changes: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PADDOCK_", "DATABASE_", "REDIS_"))}
    env.update(PADDOCK_ENV="development", PADDOCK_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT), **env_changes)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(SPEC))
    return path


def answer_of(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_a_fresh_checkout_plans_creates_its_data_dir_and_then_plans_from_the_database(
    tmp_path: Path, spec_file: Path
) -> None:
    data_dir = tmp_path / "not" / "yet" / "there"

    fresh = manage(data_dir, "plan", str(spec_file))
    built_in = answer_of(fresh)  # was: "unable to open database file"
    assert "The database has no tables yet (run `manage.py migrate`)" in fresh.stderr
    assert "built-in accelerator catalog and prices" in fresh.stderr
    assert built_in["hardware"]["accelerator"] == "H100 SXM"
    assert built_in["cost"]["currency"] == "USD" and built_in["recommendations"]

    # `make run`'s steps, on the directory that did not exist before this test.
    assert manage(data_dir, "migrate", "--noinput", "-v0").returncode == 0
    demo = manage(data_dir, "bootstrap_demo")
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert (data_dir / "paddock.sqlite3").is_file() and (data_dir / "admin-password").is_file()

    migrated = manage(data_dir, "plan", str(spec_file))
    from_database = answer_of(migrated)
    assert "built-in" not in migrated.stderr
    # The built-in catalog is the one a fresh database is seeded with: the same answer.
    assert from_database == built_in


def test_plan_without_a_reachable_database_says_so_and_answers(tmp_path: Path, spec_file: Path) -> None:
    result = manage(tmp_path / "data", "plan", str(spec_file), DATABASE_URL="postgres://nobody@127.0.0.1:1/none")
    assert answer_of(result)["fits"] is True
    assert "The database cannot be reached" in result.stderr


def test_plan_refuses_deep_nesting_and_non_json_numbers(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    result = manage(tmp_path / "data", "plan", str(deep))
    assert result.returncode == 1 and "deeper than 64 levels" in result.stderr
    assert "Traceback" not in result.stderr
    nan = tmp_path / "nan.json"
    nan.write_text('{"model": {"params": NaN}}')
    result = manage(tmp_path / "data", "plan", str(nan))
    assert result.returncode == 1 and "NaN is not a JSON number" in result.stderr
