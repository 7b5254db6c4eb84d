"""Accrual survives the control plane's restarts: a real worker killed in the middle of accrual
passes (after writing ledger lines, before committing them) and a real beat killed and started
again, while twenty attempts run and end. No gap, no double count: every attempt's lines tile
its real interval exactly, and the jobs' totals are the ledger's sums."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from apps.costs.models import UsageRecord
from apps.inventory.models import AcceleratorModel
from apps.jobs.models import Attempt, Job
from tests.conftest import ARTIFACTS
from tests.factories import ClusterFactory, JobFactory, PricePointFactory, TeamFactory
from tests.integration.workers import ROOT, WorkerProcess, worker_env

pytestmark = [pytest.mark.worker]

ATTEMPTS = 20
KILLS = 3


class Beat:
    """A real ``celery beat`` (the database scheduler, from the settings' schedule)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.proc = env, log, None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(  # type: ignore[assignment]
            [sys.executable, "-m", "celery", "-A", "controlplane", "beat", "--loglevel=INFO"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:  # type: ignore[attr-defined]
            self.proc.kill()  # type: ignore[attr-defined]
            self.proc.wait(timeout=10)  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
def test_killed_workers_and_beat_leave_no_gap_and_no_double_count(
    catalog: None, celery_worker_process: Any, test_database_name: str, tmp_path: Path
) -> None:
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    team = TeamFactory(slug="ledger")
    cluster = ClusterFactory(organisation=team.organisation, name="far", address="http://127.0.0.1:9")
    PricePointFactory(
        accelerator_model=h100,
        cluster=cluster,
        price_per_gpu_hour=Decimal("2.49"),
        valid_from=timezone.now() - timedelta(days=2),
    )
    started = timezone.now() - timedelta(minutes=10)
    for n in range(ATTEMPTS):
        job = JobFactory(team=team, cluster=cluster, gpus=1 + n % 8, accelerator_model="H100 SXM", state="running")
        Attempt.objects.create(job=job, number=1, state="running", started_at=started + timedelta(seconds=n))

    celery_worker_process.stop()  # only this test's workers take its tasks
    (tmp_path / "kills").touch()
    env = worker_env(
        test_database_name,
        PADDOCK_CHAOS_DIR=str(tmp_path),
        PADDOCK_COST_ACCRUAL_SECONDS="1",
        PADDOCK_BROKER_VISIBILITY_TIMEOUT="3",
    )

    def dying_worker(probability: float) -> WorkerProcess:
        worker = WorkerProcess(
            {**env, "PADDOCK_CHAOS_P": str(probability)},
            name="accrual",
            log_dir=ARTIFACTS,
            argv=[sys.executable, "-m", "tests.reliability.accrual_worker", "-A", "controlplane"],
        )
        try:
            return worker.start()
        except RuntimeError:  # killed by its first (redelivered) pass before it said ready
            worker.kill()
            return worker

    def kills() -> int:
        return len((tmp_path / "kills").read_text().splitlines())

    beat = Beat(env, ARTIFACTS / "celery-beat-accrual.log")
    beat.start()
    worker = dying_worker(0.5)
    beat_restarted = False
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and kills() < KILLS:
            if worker.proc is None or worker.proc.poll() is not None:
                worker = dying_worker(0.5)
            if not beat_restarted and kills() >= 1:
                beat.kill()  # the control plane's clock stops too, and starts again
                time.sleep(2)
                beat.start()
                beat_restarted = True
            time.sleep(0.2)
        assert kills() >= KILLS, "the worker was not killed mid-accrual often enough"
        # The attempts end (a minute ago, as a cluster would report it late) while a calm
        # worker goes on; every one is closed at its real end.
        ended = timezone.now() - timedelta(minutes=1)
        Attempt.objects.filter(job__team=team).update(state="succeeded", finished_at=ended)
        worker.kill()
        worker = dying_worker(0.0)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not Attempt.objects.filter(job__team=team, usage_closed=False).exists():
                break
            time.sleep(0.5)
    finally:
        worker.kill()
        beat.kill()
        celery_worker_process.start()

    assert not Attempt.objects.filter(job__team=team, usage_closed=False).exists()
    lines = defaultdict(list)
    for line in UsageRecord.objects.filter(team=team).order_by("start", "id"):
        lines[line.attempt_id].append(line)
    for attempt in Attempt.objects.filter(job__team=team).select_related("job"):
        mine = lines[attempt.pk]
        usage = [line for line in mine if line.kind == "usage"]
        # The usage lines tile [start, the furthest point charged) with no gap and no overlap ...
        assert usage[0].start == attempt.started_at
        assert all(a.end == b.start for a, b in zip(usage, usage[1:], strict=False)), attempt.pk
        # ... and with the corrections, the attempt is charged for its real interval exactly.
        seconds = Decimal((attempt.finished_at - attempt.started_at) // timedelta(microseconds=1)) / 10**6
        count = Decimal(str(attempt.job.gpus))
        assert sum(line.quantity for line in mine) == count * seconds
        assert sum(line.amount for line in mine).quantize(Decimal("0.000001")) == (
            count * Decimal("2.49") * seconds / 3600
        ).quantize(Decimal("0.000001"))
        job = Job.objects.get(pk=attempt.job_id)
        assert job.cost == sum(line.amount for line in mine) and job.gpu_seconds == count * seconds
