"""Admission is one app and dependencies run one way: admission uses jobs, quotas and the
inventory; none of them (nor anything below them) imports admission, and quotas — the
configuration — does not import jobs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parents[2] / "apps"


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((APPS / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[str(path.relative_to(APPS.parent))] = names
    return found


@pytest.mark.parametrize("package", ["jobs", "quotas", "inventory", "tenancy", "core", "dispatch", "planner", "costs"])
def test_nothing_below_admission_imports_it(package: str) -> None:
    offenders = {
        path: sorted(name for name in names if name == "apps.admission" or name.startswith("apps.admission."))
        for path, names in imported_modules(package).items()
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_quota_configuration_does_not_import_jobs() -> None:
    offenders = {
        path: sorted(name for name in names if name.startswith("apps.jobs"))
        for path, names in imported_modules("quotas").items()
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_scheduler_and_its_parts_live_in_admission() -> None:
    for gone in ["jobs/scheduler.py", "jobs/capacity_admission.py", "quotas/accounting.py", "quotas/placement.py"]:
        assert not (APPS / gone).exists(), gone


@pytest.mark.parametrize(
    "package", ["jobs", "quotas", "inventory", "tenancy", "core", "dispatch", "planner", "costs", "admission"]
)
def test_nothing_checkpoints_builds_on_imports_it(package: str) -> None:
    """Checkpoints build on jobs (a new attempt's environment comes through a jobs signal), the
    inventory (storage) and tenancy; none of those imports checkpoints back."""
    offenders = {
        path: sorted(name for name in names if name == "apps.checkpoints" or name.startswith("apps.checkpoints."))
        for path, names in imported_modules(package).items()
    }
    assert {path: names for path, names in offenders.items() if names} == {}


@pytest.mark.parametrize(
    "package",
    ["jobs", "quotas", "inventory", "tenancy", "core", "dispatch", "planner", "costs", "admission", "checkpoints"],
)
def test_nothing_serving_builds_on_imports_it(package: str) -> None:
    """Serving builds on jobs (a deployment job holds an endpoint's quota), checkpoints (the
    registry), inventory, costs and tenancy; none of those imports serving back (jobs tells it
    through signals, checkpoints asks who serves a version through one)."""
    offenders = {
        path: sorted(name for name in names if name == "apps.serving" or name.startswith("apps.serving."))
        for path, names in imported_modules(package).items()
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_only_the_dispatch_backends_talk_to_ray_serve() -> None:
    offenders = {
        path: sorted(name for name in names if name == "ray" or name.startswith("ray."))
        for path, names in imported_modules("serving").items()
    }
    assert {path: names for path, names in offenders.items() if names} == {}
