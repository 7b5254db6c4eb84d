"""Job logs copied from the real Ray head: only what is new on each refresh, exactly, capped."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from apps.dispatch.port import Backend, RemoteState
from apps.inventory.services import backend_for
from apps.jobs import services
from apps.jobs.models import Attempt
from tests.factories import ClusterFactory, JobFactory, OrganisationFactory, TeamFactory

pytestmark = [pytest.mark.ray, pytest.mark.django_db]

# 2-, 3- and 4-byte characters: 1 MiB reads cut some of them.
LINE = "€é😀a" * 25 + " step {}\n"
JOB = """
import os, sys, time
folder, first, then = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
line = {line!r}
for i in range(first):
    sys.stdout.write(line.format(i))
sys.stdout.flush()
open(os.path.join(folder, "phase1"), "w").close()
while not os.path.exists(os.path.join(folder, "go")):
    time.sleep(0.05)
for i in range(first, first + then):
    sys.stdout.write(line.format(i))
sys.stdout.flush()
"""


def output(lines: range) -> str:
    return "".join(LINE.format(i) for i in lines)


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def ray_log(backend: Backend, remote_id: str) -> bytes:
    """The job's log as Ray holds it, read straight from the backend."""
    data, offset, more = b"", 0, True
    while more:
        chunk = backend.logs(remote_id, offset=offset, limit=4 * 2**20)
        data, offset, more = data + chunk.data, chunk.next_offset, chunk.more
    return data


def start(ray_head: Any, folder: Path, first: int, then: int) -> tuple[Attempt, Backend]:
    """A running attempt whose Ray job prints ``first`` lines, waits for ``folder/go``, prints
    ``then`` more and ends."""
    script = folder / "job.py"
    script.write_text(JOB.format(line=LINE))
    org = OrganisationFactory(slug="logs")
    cluster = ClusterFactory(organisation=org, name="local-logs", address=ray_head.address)
    if ray_head.auth_token:
        cluster.set_auth_token(ray_head.auth_token)
        cluster.save()
    job = JobFactory(
        team=TeamFactory(organisation=org), cluster=cluster, entrypoint=f"python {script} {folder} {first} {then}"
    )
    attempt = Attempt.objects.create(job=job, number=1, state="running")
    backend = backend_for(cluster)
    backend.submit(services.job_spec(attempt))
    return Attempt.objects.select_related("job__cluster").get(pk=attempt.pk), backend


def test_each_refresh_copies_only_the_new_bytes_and_the_copy_is_exact(ray_head: Any, tmp_path: Path) -> None:
    attempt, backend = start(ray_head, tmp_path, first=12_000, then=400)  # about 3.2 MB, then 100 kB
    wait_for(lambda: (tmp_path / "phase1").exists(), "the job's first 3 MB")

    first_received = services.refresh_logs(attempt)
    after_first = Attempt.objects.get(pk=attempt.pk)
    (tmp_path / "go").touch()
    wait_for(lambda: backend.status(attempt.remote_id).state is RemoteState.SUCCEEDED, "the job to end")
    second_received = services.refresh_logs(attempt)
    after_second = Attempt.objects.get(pk=attempt.pk)

    whole = ray_log(backend, attempt.remote_id)
    # A read that ends inside a UTF-8 character keeps the offset before it and reads it again.
    assert 0 <= first_received - after_first.log_remote_offset < 4
    assert after_first.log_remote_offset > 3_000_000
    # The second read starts where the first stopped: only what is new, not the 3 MB again.
    assert second_received == len(whole) - after_first.log_remote_offset < 200_000
    assert after_second.log_remote_offset == len(whole)
    services.check_attempt(attempt)  # Ray says it has ended: the final read
    final = Attempt.objects.get(pk=attempt.pk)
    assert final.state == "succeeded" and final.log_complete
    assert final.log == ray_log(backend, attempt.remote_id).decode()
    assert final.log.endswith(output(range(12_400)))


def test_the_cap_keeps_its_note_and_the_rest_is_never_fetched(ray_head: Any, tmp_path: Path, settings: Any) -> None:
    settings.PADDOCK_LOG_MAX_BYTES = 1_000_000  # characters
    (tmp_path / "go").touch()
    attempt, backend = start(ray_head, tmp_path, first=24_000, then=0)  # about 6.3 MB
    wait_for(lambda: backend.status(attempt.remote_id).state is RemoteState.SUCCEEDED, "the job to end")

    services.check_attempt(attempt)
    received_after = services.refresh_logs(attempt, final=True)

    final = Attempt.objects.get(pk=attempt.pk)
    whole = ray_log(backend, attempt.remote_id).decode()
    note = "\n[paddock: log truncated at 1000000 characters; the rest is on the cluster]\n"
    assert final.log == whole[:1_000_000] + note
    assert final.log_truncated and final.log_complete and final.state == "succeeded"
    # Read up to the chunk that crossed the cap, and not a byte further: the rest stays on the cluster.
    assert final.log_remote_offset <= len(whole[:1_000_000].encode()) + services.LOG_FETCH_BYTES < len(whole.encode())
    assert received_after == 0
