"""Benchmarks (``make bench``): what Paddock's in-job client costs a job. The LoRA recipe's step
time with every step reported to a live Paddock against the same loop with reporting off; and
a checkpoint's upload through Paddock (presigned URLs it hands out) against boto3 writing the
same files to the same S3 server with its own credentials. Figures and ratios only."""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from apps.checkpoints import services as checkpoint_services  # noqa: E402
from apps.checkpoints.models import Checkpoint, MetricPoint  # noqa: E402
from apps.jobs import job_tokens  # noqa: E402
from apps.jobs.models import Attempt  # noqa: E402
from paddock import job  # noqa: E402
from paddock.recipes import lora  # noqa: E402
from paddock.recipes.tiny import make_dataset, make_tiny_llama  # noqa: E402
from tests import s3 as s3_fixtures  # noqa: E402
from tests.factories import (  # noqa: E402
    ClusterFactory,
    JobFactory,
    OrganisationFactory,
    StorageBackendFactory,
    TeamFactory,
    UserFactory,
)
from tests.report import table  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)  # the live server sees committed rows

PAIRS = 4  # off, on, off, on, … : both see the same machine, equally warm
STEPS = 40
CHECKPOINT_EVERY = 20
WARM_UP = 5  # the first steps of a run (allocator, autograd graphs) are not counted
STEP_BAR = 1.02
UPLOAD_REPEATS = 4
BIG_FILES, BIG_BYTES = 4, 64 * 2**20
SMALL_FILES = {"adapter_config.json": 700, "trainer_state.json": 60, "tokenizer.json": 40_000, "README.md": 5_000}
UPLOAD_BAR = 1.10


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


class Bench:
    """A running attempt in a team whose checkpoint storage is given, as dispatch leaves it."""

    def __init__(self, org_slug: str) -> None:
        self.org = OrganisationFactory(slug=org_slug)
        self.cluster = ClusterFactory(organisation=self.org, name=f"{org_slug}-cluster")
        self.team = TeamFactory(organisation=self.org, slug=f"{org_slug}-team", default_cluster=self.cluster)
        self.user = UserFactory()

    def attempt(self) -> Attempt:
        row = JobFactory(team=self.team, cluster=self.cluster, submitted_by=self.user, state="running")
        return Attempt.objects.create(job=row, number=1, state="running")


@pytest.fixture
def paddock_process(transactional_db: Any) -> Iterator[str]:
    """Paddock's API in a process of its own on the test database, as a job meets it: the job's
    process then does only the job's work (pytest-django's live server would answer the job's
    reports on a thread of the job's own process, taking its interpreter lock)."""
    from django.db import connection

    from tests.s3 import free_port

    port = free_port()
    base, _, _ = os.environ["DATABASE_URL"].rpartition("/")
    env = {**os.environ, "DATABASE_URL": f"{base}/{connection.settings_dict['NAME']}", "PADDOCK_ENV": "test"}
    root = Path(__file__).resolve().parents[2]
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "Paddock did not start"
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture
def reporting_to(monkeypatch: pytest.MonkeyPatch, live_server: Any) -> Iterator[Any]:
    """Point ``paddock.job`` at an attempt as the control plane does: the attempt's environment."""

    def use(attempt: Attempt, url: str | None = None) -> job.Reporter:
        monkeypatch.setenv("PADDOCK_API_URL", url or live_server.url)
        monkeypatch.setenv("PADDOCK_JOB_TOKEN", job_tokens.mint(attempt.pk))
        monkeypatch.setenv("PADDOCK_JOB_ID", str(attempt.job_id))
        monkeypatch.setenv("PADDOCK_ATTEMPT", str(attempt.number))
        return job.configure()

    yield use
    job.configure(job.Reporter(None, None))


# --- a. the recipe's step time, reporting on and off ------------------------------------------
def test_lora_step_time_with_reporting_against_without(
    reporting_to: Any, paddock_process: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = Bench("bench-steps")
    StorageBackendFactory(organisation=bench.org, name="scratch", kind="local", uri=str(tmp_path / "store"))
    config = {
        "base_model": str(make_tiny_llama(tmp_path / "model", hidden=256, layers=4, heads=4)),
        "dataset": str(make_dataset(tmp_path / "data.jsonl", lines=400)),
        "steps": STEPS,
        "checkpoint_every": CHECKPOINT_EVERY,
        "seq_len": 128,
        "batch_size": 8,
        "model_name": "bench-lora",
    }
    # A step as the loop lives it, from the start of one step to the start of the next: its
    # compute, reporting its metrics, its log line. The recipe picks each step's batch first,
    # so that call marks the boundary, the same way with reporting on and off. Wall time on a
    # shared machine swings with its neighbours; the loop thread's CPU time (torch on that one
    # thread) does not, and still counts what reporting costs the loop itself.
    marks: list[tuple[int, float, float]] = []
    pick = lora.batch_indices

    def marked(step: int, *args: Any, **kwargs: Any) -> list[int]:
        marks.append((step, time.perf_counter(), time.thread_time()))
        return pick(step, *args, **kwargs)

    monkeypatch.setattr(lora, "batch_indices", marked)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def run(reporting: bool) -> tuple[list[float], list[float], dict[str, Any]]:
        marks.clear()
        result = lora.run(config, reporting=reporting)
        wall, cpu = [], []
        for (step, began, began_cpu), (_, ended, ended_cpu) in zip(marks, marks[1:], strict=False):
            if step > WARM_UP and step % CHECKPOINT_EVERY not in (0, 1):  # a save, and the step after it
                wall.append(ended - began)
                cpu.append(ended_cpu - began_cpu)
        return wall, cpu, result

    figures: dict[str, list[float]] = {"off wall": [], "on wall": [], "off cpu": [], "on cpu": []}
    pairs: list[tuple[float, float, float, float]] = []
    load_before = os.getloadavg()[0]  # a busy machine shows in the spread: say how busy it was
    try:
        for _ in range(PAIRS):
            off_wall, off_cpu, _ = run(reporting=False)
            attempt = bench.attempt()  # a fresh attempt each time: steps never go backwards within one
            reporting_to(attempt, paddock_process)
            on_wall, on_cpu, result = run(reporting=True)
            assert result["model_version"] is not None  # the run reached Paddock all the way to the registry
            # Measured here, as a worker would (the bench's Paddock process has none).
            for writing in Checkpoint.objects.filter(job_id=attempt.job_id, state="writing"):
                checkpoint_services.finalize_checkpoint(writing.pk)
            assert Checkpoint.objects.filter(job_id=attempt.job_id, state="complete").exists()
            job.configure(job.Reporter(None, None))
            for name, values in (
                ("off wall", off_wall),
                ("on wall", on_wall),
                ("off cpu", off_cpu),
                ("on cpu", on_cpu),
            ):
                figures[name] += values
            pairs.append(tuple(statistics.median(v) for v in (off_wall, on_wall, off_cpu, on_cpu)))  # type: ignore[misc]
    finally:
        torch.set_num_threads(threads)

    assert MetricPoint.objects.filter(name="loss").count() == PAIRS * STEPS  # every step of every run arrived
    ms = {name: (statistics.median(v) * 1000, p90(v) * 1000) for name, v in figures.items()}
    table(
        f"LoRA recipe step time (tiny Llama: hidden 256, 4 layers, seq 128, batch 8; CPU, torch on 1 thread), "
        f"{PAIRS} pairs of {STEPS}-step runs interleaved off/on; steps 1-{WARM_UP}, each checkpoint step and the "
        f"one after left out ({len(figures['off wall'])} steps a side); reporting to Paddock (PostgreSQL) in a "
        "process of its own",
        [
            ("loop", "wall median ms", "wall p90 ms", "loop CPU median ms", "loop CPU p90 ms"),
            ("reporting off (report: false)", *(f"{x:.1f}" for x in (*ms["off wall"], *ms["off cpu"]))),
            ("paddock.job reporting every step", *(f"{x:.1f}" for x in (*ms["on wall"], *ms["on cpu"]))),
            (
                f"ratio on / off (bar ≤ {STEP_BAR})",
                f"{ms['on wall'][0] / ms['off wall'][0]:.3f}",
                f"{ms['on wall'][1] / ms['off wall'][1]:.3f}",
                f"{ms['on cpu'][0] / ms['off cpu'][0]:.3f}",
                f"{ms['on cpu'][1] / ms['off cpu'][1]:.3f}",
            ),
            *(
                (
                    f"  pair {n}: median off → on",
                    f"{a * 1000:.1f} → {b * 1000:.1f}",
                    f"{b / a:.3f}",
                    f"{c * 1000:.1f} → {d * 1000:.1f}",
                    f"{d / c:.3f}",
                )
                for n, (a, b, c, d) in enumerate(pairs, 1)
            ),
            (
                f"load average before / after ({os.cpu_count()} CPUs)",
                f"{load_before:.1f} / {os.getloadavg()[0]:.1f}",
                "",
                "",
                "",
            ),
        ],
    )


# --- b. checkpoint upload through Paddock against boto3 ---------------------------------------
def make_checkpoint(root: Path) -> tuple[Path, int]:
    root.mkdir(parents=True)
    total = 0
    for index in range(BIG_FILES):
        with (root / f"model-{index + 1:05d}-of-{BIG_FILES:05d}.safetensors").open("wb") as out:
            for _ in range(BIG_BYTES // 2**20):
                out.write(os.urandom(2**20))
        total += BIG_BYTES
    for name, size in SMALL_FILES.items():
        (root / name).write_bytes(os.urandom(size))
        total += size
    return root, total


def test_checkpoint_upload_through_paddock_against_boto3(
    reporting_to: Any, s3_server: str, s3_bucket: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, bucket = s3_bucket
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # 4 × 10 boto3 threads, 10 pooled
    bench = Bench("bench-upload")
    s3_fixtures.s3_storage(bench.org, s3_server, bucket)
    source, total = make_checkpoint(tmp_path / "checkpoint")
    files = sorted(p for p in source.rglob("*") if p.is_file())
    attempt = bench.attempt()
    reporter = reporting_to(attempt)

    # Measuring a checkpoint is the worker's job after the report's 201; here the live server
    # would run it inside the report's request, so it is kept for after the clock stops.
    finalize: list[int] = []
    monkeypatch.setattr(checkpoint_services, "enqueue_on_commit", lambda _name, pk: finalize.append(pk))

    def empty_bucket() -> None:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents") or []]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys})

    def plain_upload(path: Path, repeat: int) -> None:
        client.upload_file(str(path), bucket, f"plain/{repeat}/{path.relative_to(source).as_posix()}")

    plain: list[float] = []
    plain_parallel: list[float] = []
    through: list[float] = []
    for repeat in range(1, UPLOAD_REPEATS + 2):  # the first round warms every path up and is not counted
        began = time.perf_counter()
        for path in files:
            plain_upload(path, repeat)
        plain_seconds = time.perf_counter() - began
        empty_bucket()

        # Also against boto3 given the same file-level concurrency as Paddock's client (4 files at once).
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=reporter.upload_workers) as pool:
            list(pool.map(lambda path: plain_upload(path, repeat), files))
        parallel_seconds = time.perf_counter() - began
        empty_bucket()

        began = time.perf_counter()
        uri = reporter.save_checkpoint(source, repeat)
        paddock_seconds = time.perf_counter() - began
        assert uri and uri.endswith(f"step-{repeat:08d}/")
        checkpoint_services.finalize_checkpoint(finalize.pop())
        stored = Checkpoint.objects.get(job_id=attempt.job_id, step=repeat)
        assert (stored.state, stored.bytes, stored.file_count) == ("complete", total, len(files))
        empty_bucket()
        if repeat > 1:
            plain.append(plain_seconds)
            plain_parallel.append(parallel_seconds)
            through.append(paddock_seconds)

    megabytes = total / 1e6
    plain_median, paddock_median = statistics.median(plain), statistics.median(through)
    parallel_median = statistics.median(plain_parallel)
    table(
        f"Checkpoint upload, {BIG_FILES} × {BIG_BYTES // 2**20} MiB + {len(SMALL_FILES)} small files "
        f"({megabytes:.0f} MB), to moto's S3 server on 127.0.0.1, {UPLOAD_REPEATS} repeats interleaved",
        [
            ("path", "median s", "MB/s", "min s"),
            (
                "boto3 upload_file, default TransferConfig, file by file",
                f"{plain_median:.2f}",
                f"{megabytes / plain_median:.0f}",
                f"{min(plain):.2f}",
            ),
            (
                f"boto3 upload_file, default TransferConfig, {reporter.upload_workers} files at once",
                f"{parallel_median:.2f}",
                f"{megabytes / parallel_median:.0f}",
                f"{min(plain_parallel):.2f}",
            ),
            (
                "paddock.job.save_checkpoint (plan, presigned PUTs, report)",
                f"{paddock_median:.2f}",
                f"{megabytes / paddock_median:.0f}",
                f"{min(through):.2f}",
            ),
            (
                "ratio Paddock / boto3 file by file (time)",
                f"{paddock_median / plain_median:.2f}",
                f"bar ≤ {UPLOAD_BAR}",
                "",
            ),
            (
                f"ratio Paddock / boto3 {reporter.upload_workers} at once (time)",
                f"{paddock_median / parallel_median:.2f}",
                "",
                "",
            ),
        ],
    )
