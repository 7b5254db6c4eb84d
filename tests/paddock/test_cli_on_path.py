"""``make cli`` (which ``make run`` runs): ``paddock`` ends up on the PATH, or the exact command
to call it is printed; nothing outside the checkout changes unless ~/.local/bin is on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin" / "paddock"

pytestmark = pytest.mark.skipif(
    not BIN.exists() or shutil.which("make") is None, reason="needs make and the installed .venv"
)


def make_cli(home: Path, path: str) -> str:
    env = {**os.environ, "HOME": str(home), "PATH": path}
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "cli"], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_a_link_in_local_bin_when_it_is_on_path_and_then_paddock_runs_anywhere(tmp_path: Path) -> None:
    local_bin = tmp_path / ".local" / "bin"
    path = f"{local_bin}:/usr/bin:/bin"

    assert make_cli(tmp_path, path) == f"paddock: on your PATH ({local_bin}/paddock -> {BIN})"
    assert (local_bin / "paddock").resolve() == BIN.resolve()
    assert make_cli(tmp_path, path) == f"paddock: on your PATH ({local_bin}/paddock)"  # a second run: as it is

    shown = subprocess.run(
        ["paddock", "--help"], env={**os.environ, "PATH": path}, cwd=tmp_path, capture_output=True, text=True
    )
    assert shown.returncode == 0 and "submit" in shown.stdout


def test_without_local_bin_on_path_it_prints_the_exact_command_and_changes_nothing(tmp_path: Path) -> None:
    said = make_cli(tmp_path, "/usr/bin:/bin")
    assert said == (
        f'paddock: not on your PATH. Run it as .venv/bin/paddock, or first: export PATH="{ROOT}/.venv/bin:$PATH"'
    )
    assert list(tmp_path.iterdir()) == []


def test_another_paddock_there_is_left_alone(tmp_path: Path) -> None:
    local_bin = tmp_path / ".local" / "bin"
    local_bin.mkdir(parents=True)
    other = tmp_path / "pipx" / "paddock"
    other.parent.mkdir()
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    (local_bin / "paddock").symlink_to(other)

    said = make_cli(tmp_path, f"{local_bin}:/usr/bin:/bin")

    assert said.startswith(f"paddock: not on your PATH (another one is: {local_bin}/paddock). Run it as .venv/bin/")
    assert (local_bin / "paddock").resolve() == other
