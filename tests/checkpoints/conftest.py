"""The checkpoint tests' job clients run what a request commits at once (the finalize task)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _commits(django_capture_on_commit_callbacks: Any) -> None:
    __import__(
        "tests.checkpoints.test_reports", fromlist=["JobClient"]
    ).JobClient.capture = django_capture_on_commit_callbacks
