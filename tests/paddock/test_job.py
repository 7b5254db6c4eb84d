"""``paddock.job`` against a real HTTP server playing Paddock: what a training script relies on."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paddock import job
from paddock.job import Reporter, StorageError
from tests.paddock.fake_paddock import TOKEN, FakePaddock


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakePaddock]:
    server = FakePaddock(tmp_path / "store").start()
    yield server
    server.stop()


def reporter(fake: FakePaddock, **options: Any) -> Reporter:
    defaults: dict[str, Any] = {
        "flush_interval": 0.05,
        "backoff_base": 0.02,
        "backoff_cap": 0.2,
        "request_timeout": 2,
        "call_deadline": 5,
    }
    return Reporter(fake.url, TOKEN, **{**defaults, **options})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Any, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_metrics_are_batched_and_sent_in_order(fake: FakePaddock) -> None:
    r = reporter(fake, flush_interval=60)
    for step in range(2500):
        r.report_metrics(step, loss=1.0 / (step + 1), lr=1e-4)
    assert r.flush(timeout=10)
    assert [p["step"] for p in fake.points] == list(range(2500))
    assert fake.points[0]["values"] == {"loss": 1.0, "lr": 1e-4}
    # batches of at most 1000 points, the server's limit
    assert 3 <= fake.count("POST", "/api/v1/job-reports/metrics/") <= 5


def test_points_wait_while_paddock_is_down_and_arrive_when_it_is_back(tmp_path: Path) -> None:
    port = free_port()
    down = FakePaddock(tmp_path, port=port)  # not started yet: connection refused
    r = Reporter(down.url, TOKEN, flush_interval=0.05, backoff_base=0.02, backoff_cap=0.1, request_timeout=1)
    for step in range(50):
        r.report_metrics(step, loss=float(step))  # never raises, never blocks on the network
    time.sleep(0.3)  # the flusher has tried and failed a few times
    assert r._failures >= 1
    assert not r.flush(timeout=0.2)  # nothing is lost, it is still queued
    down.start()
    try:
        assert r.flush(timeout=5)
        assert [p["step"] for p in down.points] == list(range(50))
    finally:
        down.stop()


def test_5xx_is_retried(fake: FakePaddock) -> None:
    fake.fail("/api/v1/job-reports/metrics/", 502, times=2)
    r = reporter(fake)
    r.report_metrics(1, loss=2.0)
    assert r.flush(timeout=5)
    assert [p["step"] for p in fake.points] == [1]
    assert fake.count("POST", "/api/v1/job-reports/metrics/") == 3


def test_429_waits_for_retry_after(fake: FakePaddock) -> None:
    fake.fail("/api/v1/job-reports/metrics/", 429, headers={"Retry-After": "1"})
    r = reporter(fake)
    r.report_metrics(1, loss=2.0)
    wait_until(lambda: fake.count("POST", "/api/v1/job-reports/metrics/") == 1)
    first = time.monotonic()
    assert r.flush(timeout=5)  # flush does not jump the server's Retry-After
    assert time.monotonic() - first >= 0.8
    assert [p["step"] for p in fake.points] == [1]


def test_a_refused_batch_is_logged_once_with_the_servers_message_and_dropped(
    fake: FakePaddock, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail("/api/v1/job-reports/metrics/", 400, times=2, body={"points": ["Steps go backwards."]})
    r = reporter(fake, flush_interval=60)
    caplog.set_level(logging.WARNING, logger="paddock.job")
    r.report_metrics(1, loss=2.0)
    assert r.flush(timeout=5)
    r.report_metrics(2, loss=2.0)
    assert r.flush(timeout=5)
    r.report_metrics(3, loss=1.0)
    assert r.flush(timeout=5)
    assert [p["step"] for p in fake.points] == [3]  # not retried: two requests refused, third sent
    assert fake.count("POST", "/api/v1/job-reports/metrics/") == 3
    refused = [rec for rec in caplog.records if "refused" in rec.getMessage()]
    assert len(refused) == 1
    assert "Steps go backwards." in refused[0].getMessage()


def test_bad_values_never_raise_and_are_left_out(fake: FakePaddock) -> None:
    r = reporter(fake)
    r.report_metrics(1, loss=float("nan"), ok=1.5, flag=True, text="x")  # type: ignore[arg-type]
    r.report_metrics(1, {"bad name!": 1.0, "eval/loss": 0.5})
    r.report_metrics(-1, loss=1.0)
    r.report_metrics("seven", loss=1.0)  # type: ignore[arg-type]
    r.report_metrics(0, loss=1.0)  # below the last step: the server would refuse the whole batch
    assert r.flush(timeout=5)
    assert fake.points == [{"step": 1, "values": {"ok": 1.5}}, {"step": 1, "values": {"eval/loss": 0.5}}]


def test_the_buffer_is_bounded_and_drops_the_oldest_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="paddock.job")
    r = Reporter(f"http://127.0.0.1:{free_port()}", TOKEN, max_buffer=100, flush_interval=60, backoff_cap=0.1)
    for step in range(250):
        r.report_metrics(step, loss=1.0)
    with r._lock:
        held = sorted(point["step"] for point in [*r._inflight, *r._buffer])
    assert len(held) == 100
    assert held[-1] == 249  # the newest are kept
    assert r.dropped_points == 150
    assert sum("dropping the oldest" in rec.getMessage() for rec in caplog.records) == 1


def test_without_a_token_everything_is_a_no_op_that_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.delenv("PADDOCK_JOB_TOKEN", raising=False)
    monkeypatch.setenv("PADDOCK_API_URL", f"http://127.0.0.1:{free_port()}")
    caplog.set_level(logging.WARNING, logger="paddock.job")
    r = job.configure()
    try:
        job.report_metrics(1, loss=1.0)
        job.report_metrics(2, loss=1.0)
        assert job.report_checkpoint("file:///x/", 1) is None
        (tmp_path / "ckpt").mkdir()
        (tmp_path / "ckpt" / "a.bin").write_bytes(b"x")
        assert job.save_checkpoint(tmp_path / "ckpt", 1) is None
        assert job.register_model_version("m", checkpoint_uri="file:///x/") is None
        assert job.flush(timeout=1)
        assert job.resume_from() is None
        assert r._thread is None  # no thread, no network
        assert sum("PADDOCK_JOB_TOKEN is not set" in rec.getMessage() for rec in caplog.records) == 1
    finally:
        job.configure(Reporter(None, None))


def test_the_module_reads_its_attempt_from_the_environment(monkeypatch: pytest.MonkeyPatch, fake: FakePaddock) -> None:
    monkeypatch.setenv("PADDOCK_API_URL", fake.url)
    monkeypatch.setenv("PADDOCK_JOB_TOKEN", TOKEN)
    monkeypatch.setenv("PADDOCK_RESUME_FROM", fake.prefix() + "step-00000040/")
    monkeypatch.setenv("PADDOCK_RESUME_STEP", "40")
    job.configure(flush_interval=0.05)
    try:
        assert job.resume_from() == fake.prefix() + "step-00000040/"
        assert job.resume_step() == 40
        job.report_metrics(41, loss=1.0)
        assert job.flush(timeout=5)
        assert fake.points == [{"step": 41, "values": {"loss": 1.0}}]
    finally:
        job.configure(Reporter(None, None))


def make_checkpoint(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "adapter.safetensors").write_bytes(b"w" * 300_000)
    (root / "sub" / "state.json").write_text('{"step": 4}')
    (root / "empty").write_bytes(b"")
    return root


def test_save_and_download_with_file_storage(fake: FakePaddock, tmp_path: Path) -> None:
    r = reporter(fake)
    source = make_checkpoint(tmp_path / "ckpt")
    uri = r.save_checkpoint(source, 4, metrics={"loss": 1.5})
    assert uri == fake.prefix() + "step-00000004/"
    stored = Path(uri[len("file://") :])
    assert (stored / "adapter.safetensors").read_bytes() == b"w" * 300_000
    assert (stored / "sub" / "state.json").read_text() == '{"step": 4}'
    assert not list(stored.rglob("*.paddock-partial"))
    assert fake.checkpoints[0]["uri"] == uri
    assert fake.checkpoints[0]["metrics"] == {"loss": 1.5}
    assert fake.checkpoints[0]["final"] is False

    back = Path(r.download_checkpoint(uri, tmp_path / "back"))
    assert sorted(p.relative_to(back).as_posix() for p in back.rglob("*") if p.is_file()) == [
        "adapter.safetensors",
        "empty",
        "sub/state.json",
    ]
    assert (back / "adapter.safetensors").read_bytes() == b"w" * 300_000


def test_save_and_download_with_s3_presigned_urls(tmp_path: Path) -> None:
    fake = FakePaddock(tmp_path / "store", storage="s3").start()
    try:
        fake.fail("/s3/", 503, times=1)  # one upload fails once and is retried alone
        r = reporter(fake)
        uri = r.save_checkpoint(make_checkpoint(tmp_path / "ckpt"), 8, final=True)
        assert uri == "s3://bucket/teams/alpha/jobs/12/step-00000008/"
        assert fake.objects["teams/alpha/jobs/12/step-00000008/adapter.safetensors"] == b"w" * 300_000
        assert fake.count("PUT", "/s3/") == 4
        assert fake.checkpoints[0]["final"] is True
        back = Path(r.download_checkpoint(uri, tmp_path / "back"))
        assert (back / "sub" / "state.json").read_text() == '{"step": 4}'
        assert (back / "empty").read_bytes() == b""
    finally:
        fake.stop()


def test_save_raises_a_clear_error_when_storage_stays_down(fake: FakePaddock, tmp_path: Path) -> None:
    fake.fail("/api/v1/job-reports/checkpoint-uploads/", 503, times=100, headers={"Retry-After": "0"})
    r = reporter(fake, call_deadline=0.5)
    with pytest.raises(StorageError, match="after retries"):
        r.save_checkpoint(make_checkpoint(tmp_path / "ckpt"), 4)
    fake.failures.clear()
    fake.fail("/api/v1/job-reports/checkpoint-uploads/", 403, body={"detail": "Outside this job."})
    with pytest.raises(StorageError, match="Outside this job"):
        r.save_checkpoint(tmp_path / "ckpt", 4)


def test_a_checkpoint_report_that_fails_is_queued_and_sent_later(fake: FakePaddock) -> None:
    fake.fail("/api/v1/job-reports/checkpoints/", 503, times=1000)
    r = reporter(fake)
    r.call_deadline = 0.3
    assert r.report_checkpoint(fake.prefix() + "step-00000004/", 4, {"loss": 1.0}) is None  # never raises
    fake.failures.clear()
    assert r.flush(timeout=5)
    assert [c["step"] for c in fake.checkpoints] == [4]


def test_register_model_version_uses_the_last_checkpoint(fake: FakePaddock, tmp_path: Path) -> None:
    r = reporter(fake)
    uri = r.save_checkpoint(make_checkpoint(tmp_path / "ckpt"), 12, final=True)
    fake.fail("/api/v1/job-reports/model-versions/", 409, body={"checkpoint": ["Still being written."]})
    version = r.register_model_version("tiny-lora", metrics={"loss": 0.5})
    assert version is not None
    assert fake.versions[0]["checkpoint"] == fake.checkpoints[0]["id"]
    assert fake.versions[0]["metrics"] == {"loss": 0.5}
    assert uri == fake.checkpoints[0]["uri"]


def test_download_outside_paddock_copies_a_file_uri(tmp_path: Path) -> None:
    source = make_checkpoint(tmp_path / "ckpt")
    r = Reporter(None, None)
    back = Path(r.download_checkpoint(source.as_uri() + "/", tmp_path / "back"))
    assert (back / "sub" / "state.json").read_text() == '{"step": 4}'
    with pytest.raises(StorageError, match="outside Paddock"):
        r.download_checkpoint("s3://bucket/x/", tmp_path / "other")


def test_a_checkpoint_is_reported_after_every_point_before_it(fake: FakePaddock) -> None:
    """A process killed right after a checkpoint has still sent every point up to its step, so
    the attempt that resumes from it continues an unbroken curve."""
    r = reporter(fake, flush_interval=60)  # the background flusher would not send in time
    for step in range(1, 11):
        r.report_metrics(step, loss=1.0 / step)
    r.report_checkpoint(f"{fake.prefix()}step-00000010/", 10, {"loss": 0.1})
    order = [path for method, path in fake.requests if method == "POST"]
    assert order.index("/api/v1/job-reports/checkpoints/") > order.index("/api/v1/job-reports/metrics/")
    assert [p["step"] for p in fake.points] == list(range(1, 11))


def test_sigterm_sends_what_is_queued_before_the_process_ends(fake: FakePaddock, tmp_path: Path) -> None:
    """Ray stops a job (a preemption, a cancel) with SIGTERM, then SIGKILL a few seconds later."""
    import subprocess
    import sys

    script = (
        "import os, signal, time\n"
        "from paddock import job\n"
        "for step in range(1, 6): job.report_metrics(step, loss=1.0)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PADDOCK_API_URL": fake.url, "PADDOCK_JOB_TOKEN": TOKEN, "PYTHONPATH": str(Path.cwd())}
    child = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=10) == -signal.SIGTERM  # it still ends as SIGTERM says
    assert [p["step"] for p in fake.points] == [1, 2, 3, 4, 5]
