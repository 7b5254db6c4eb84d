"""Benchmarks on ``make run``'s own stack (SQLite, the file-system broker, runlocal's Ray head):
dispatch overhead against raw Ray on the same head, and ten minutes of 64 clients."""

from __future__ import annotations

import os
import sqlite3
import time
import uuid

from tests.embedded import EmbeddedStack
from tests.perf.test_bench import ENTRYPOINT, RUNS, compare_with_ray, ratio_table
from tests.reliability.load import crashes, run_load
from tests.report import table as print_table


def test_submit_to_running_on_the_embedded_default(embedded_stack: EmbeddedStack) -> None:
    session = embedded_stack.session()
    database = sqlite3.connect(f"file:{embedded_stack.data_dir / 'paddock.sqlite3'}?mode=ro", uri=True)
    database.isolation_level = None  # autocommit: every read sees the latest commit

    def through_paddock() -> tuple[float, str]:
        started = time.perf_counter()
        response = session.post(
            f"{embedded_stack.url}/api/v1/jobs/",
            json={"name": "bench", "team": "demo", "entrypoint": ENTRYPOINT},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        job_id = response.json()["id"]
        # Read the state from the database file, as the PostgreSQL benchmark reads its table:
        # polling the API a hundred times a second would load the very server being measured.
        while database.execute("SELECT state FROM jobs_job WHERE id = ?", (job_id,)).fetchone()[0] != "running":
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        (remote_id,) = database.execute(
            "SELECT id FROM jobs_attempt WHERE job_id = ? ORDER BY number DESC LIMIT 1", (job_id,)
        ).fetchone()
        return seconds, str(uuid.UUID(remote_id))

    direct, through = compare_with_ray(embedded_stack.ray_address, embedded_stack.ray_token, through_paddock)
    ratio_table(
        f"Submit → running, {RUNS} jobs each, interleaved (same Ray head), make run's embedded default",
        "Paddock REST → SQLite + file broker",
        direct,
        through,
    )


def test_ten_minutes_of_64_clients_on_the_embedded_default(embedded_stack: EmbeddedStack) -> None:
    seconds = float(os.environ.get("PADDOCK_LOAD_SECONDS", "600"))
    before = embedded_stack.children()
    mark = len(embedded_stack.log_path.read_bytes())
    result = run_load(embedded_stack, clients=64, seconds=seconds)
    log = embedded_stack.log_path.read_bytes()[mark:].decode(errors="replace")
    worker_crashes = crashes(log)
    print_table(
        f"make run under load: 64 clients, {seconds:.0f} s, {result.requests} requests "
        f"({result.requests / seconds:.0f}/s); 5xx: {len(result.server_errors)}, "
        f"connection errors: {sum(result.errors.values())}, crashes: {len(worker_crashes)}, "
        f"children restarted: {embedded_stack.children() != before}",
        result.table(),
    )
