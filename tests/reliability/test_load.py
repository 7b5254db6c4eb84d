"""``make run`` under a bounded load: 64 clients on loopback. The embedded default's broker
crashed the worker (JSONDecodeError) and runlocal then stopped everything (findings 5, 6).
``make bench`` runs the same for ten minutes (tests/perf/test_load_bench.py)."""

from __future__ import annotations

import os

import pytest

from tests.embedded import EmbeddedStack
from tests.reliability.load import crashes, run_load
from tests.report import table as print_table

pytestmark = [pytest.mark.ray, pytest.mark.worker]
SECONDS = float(os.environ.get("PADDOCK_LOAD_SECONDS", "45"))


def test_64_clients_get_no_server_error_and_crash_nothing(embedded_stack: EmbeddedStack) -> None:
    before = embedded_stack.children()
    mark = len(embedded_stack.log_path.read_bytes())

    result = run_load(embedded_stack, clients=64, seconds=SECONDS)

    log = embedded_stack.log_path.read_bytes()[mark:].decode(errors="replace")
    print_table(f"make run under load: 64 clients, {SECONDS:.0f} s, {result.requests} requests", result.table())
    assert result.requests > 200
    assert result.server_errors == []
    assert dict(result.errors) == {}
    assert crashes(log) == []
    assert embedded_stack.children() == before  # nothing died and was started again
