"""The scheduler against PostgreSQL with real concurrency: several OS processes submit, finish
and schedule at once, and a scheduler killed in the middle of a pass leaves nothing half-done.

Children are plain ``python -c`` processes on the test database (committed rows, hence
``transaction=True``); they run :func:`child`, which sets Django up first. Each checks the
independent invariants after every step it takes and reports what it saw in a JSON file.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.workers import ROOT, worker_env

CHILD = (
    "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'controlplane.settings'); django.setup(); "
    "from tests.admission.test_concurrency import child; child()"
)


# --- what a child process runs --------------------------------------------------------------------


def _silence_side_effects() -> None:
    """No broker in the children: dispatch and wake-ups are someone else's tests."""
    from apps.core import tasks as core_tasks
    from apps.jobs import services

    def nothing(*args: Any, **kwargs: Any) -> None:
        return None

    core_tasks.enqueue = nothing  # type: ignore[assignment]
    services.Dispatcher.send = nothing  # type: ignore[method-assign]


def child() -> None:
    """Entry point of a child process; its role and limits come from the environment."""
    from django.db import connection

    from tests.admission.invariants import check_invariants

    _silence_side_effects()
    role = os.environ["QUOTA_CHILD_ROLE"]
    out = Path(os.environ["QUOTA_CHILD_OUT"])
    deadline = float(os.environ.get("QUOTA_CHILD_DEADLINE", "inf"))
    rng = random.Random(int(os.environ.get("QUOTA_CHILD_SEED", "0")))
    stats: dict[str, Any] = {"role": role, "steps": 0, "admitted": 0, "passes": 0, "violations": []}

    if role == "sleepy":  # stop for good in the middle of writing an admission
        from apps.admission import apply, scheduler

        def stall(*args: Any, **kwargs: Any) -> str:
            Path(os.environ["QUOTA_CHILD_MARKER"]).write_text(str(os.getpid()))
            time.sleep(600)
            return ""

        apply._admitted_message = stall  # type: ignore[assignment]
        scheduler.admit_pending()
        return

    step = _schedule_step if role == "scheduler" else _world_step
    _write(out, stats)  # tells the parent the loop has begun
    while time.time() < deadline:
        step(rng, stats)
        stats["steps"] += 1
        found = check_invariants()
        if found:
            stats["violations"].extend(found[:5])
        if stats["steps"] % 20 == 0 or len(stats["violations"]) > 20:
            _write(out, stats)
        if len(stats["violations"]) > 20:
            break
    _write(out, stats)
    connection.close()


def _write(path: Path, stats: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stats))
    tmp.replace(path)


def _schedule_step(rng: random.Random, stats: dict[str, Any]) -> None:
    from apps.admission import scheduler

    if "decisions" not in stats:  # count every decision a pass makes: admit, preempt, or say why not
        stats["decisions"] = 0
        decide = scheduler.decide

        def counting(*args: Any, **kwargs: Any) -> Any:
            made = decide(*args, **kwargs)
            stats["decisions"] += len(made.admitted) + len(made.preempted) + len(made.reasons)
            return made

        scheduler.decide = counting  # type: ignore[assignment]
    stats["admitted"] += scheduler.admit_pending()
    stats["passes"] += 1


_CACHE: dict[str, Any] = {}


def _world_step(rng: random.Random, stats: dict[str, Any]) -> None:
    """Submit a few jobs, or end, retry, start or cancel a few: what users and clusters do."""
    from django.db import transaction

    from apps.jobs.choices import HOLDING_STATES, EventKind, JobState
    from apps.jobs.models import Job
    from apps.jobs.services import move_job
    from apps.quotas.models import Pool, PriorityClass
    from apps.tenancy.models import Team

    if "world" not in _CACHE:
        _CACHE["world"] = (
            Pool.objects.filter(accelerator_model__isnull=False).values_list("pk", "cluster_id").get(),
            list(Team.objects.filter(slug__startswith="t-").values_list("pk", flat=True)),
            [None, *PriorityClass.objects.values_list("pk", "value")],
        )
    (pool_id, cluster_id), teams, classes = _CACHE["world"]
    action = rng.random()
    if action < 0.45:
        if Job.objects.filter(state=JobState.PENDING).count() >= 60:
            return
        with transaction.atomic():
            for _ in range(rng.randint(1, 3)):
                klass = rng.choice(classes)
                Job.objects.create(
                    team_id=rng.choice(teams),
                    cluster_id=cluster_id,
                    pool_id=pool_id,
                    name="load",
                    entrypoint="true",
                    gpus=rng.choice([1, 1, 1, 2, 2, 4, 8]),
                    accelerator_model="H100",
                    priority=klass[1] if klass else 0,
                    priority_class_id=klass[0] if klass else None,
                )
        return
    holding = list(Job.objects.filter(state__in=HOLDING_STATES).order_by("?")[:3])
    for job in holding:
        with transaction.atomic():
            roll = rng.random()
            if roll < 0.6:
                move_job(job, from_states=HOLDING_STATES, to_state=JobState.SUCCEEDED, event=EventKind.SUCCEEDED)
            elif roll < 0.75:
                move_job(job, from_states=HOLDING_STATES, to_state=JobState.PENDING, event=EventKind.RETRYING)
            elif roll < 0.9:
                move_job(job, from_states=[JobState.ADMITTED], to_state=JobState.RUNNING, event=EventKind.RUNNING)
            else:
                move_job(job, from_states=HOLDING_STATES, to_state=JobState.FAILED, event=EventKind.FAILED)
    if rng.random() < 0.2:
        victim = Job.objects.filter(state=JobState.PENDING).order_by("?").first()
        if victim is not None:
            with transaction.atomic():
                move_job(victim, from_states=[JobState.PENDING], to_state=JobState.CANCELLED, event=EventKind.CANCELLED)


# --- the tests --------------------------------------------------------------------------------


class Child:
    def __init__(self, database: str, tmp: Path, role: str, index: int, **env: str) -> None:
        self.out = tmp / f"{role}-{index}.json"
        self.log = tmp / f"{role}-{index}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            cwd=ROOT,
            env=worker_env(
                database,
                QUOTA_CHILD_ROLE=role,
                QUOTA_CHILD_OUT=str(self.out),
                QUOTA_CHILD_SEED=str(index),
                **env,
            ),
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait(self, timeout: float) -> dict[str, Any]:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"child did not finish: {self.log.read_text()[-3000:]}") from None
        assert code == 0, self.log.read_text()[-3000:]
        return json.loads(self.out.read_text())

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def quiet(monkeypatch: Any) -> None:
    """This process sends no tasks either (the suite's tasks run eagerly: a pass on every commit)."""
    from apps.core import tasks as core_tasks
    from apps.jobs import services

    monkeypatch.setattr(core_tasks, "enqueue", lambda *args, **kwargs: None)
    monkeypatch.setattr(services.Dispatcher, "send", lambda *args, **kwargs: None)


def build_contended_world() -> Any:
    """Four 8-GPU nodes on two fabrics; a cohort of four teams with every preemption switch on,
    plus a team alone; three priority classes, one not preemptible."""
    from apps.quotas.models import PriorityClass
    from tests.admission.test_semantics import Scene
    from tests.factories import ClusterFactory, NetworkFabricFactory, OrganisationFactory

    org = OrganisationFactory(slug="busy")
    scene = Scene(org, ClusterFactory(organisation=org, name="gpu-c", kind="fake", address="fake://busy"))
    for name in ("ib-1", "ib-2"):
        scene.nodes(2, fabric=NetworkFabricFactory(organisation=org, name=name))
    research = scene.cohort(preempt_lower_priority=True, preempt_while_borrowing=True)
    t1, t2, t3, t4 = (scene.team(f"t-{n}", research) for n in range(1, 5))
    solo = scene.team("t-solo")
    scene.quota(t1, 8, max=12)
    scene.quota(t2, 8, lending_limit=4)
    scene.quota(t3, 4)
    scene.quota(t4, 0, weight=3)
    scene.quota(solo, 4)
    for name, value, preemptible in (("low", -5, True), ("high", 10, True), ("pinned", 5, False)):
        PriorityClass.objects.create(organisation=org, name=name, value=value, preemptible=preemptible)
    return scene


@pytest.mark.django_db(transaction=True)
def test_many_submitters_and_two_schedulers_never_break_an_invariant(
    catalog: Any, quiet: Any, test_database_name: str, tmp_path: Path
) -> None:
    from apps.admission.scheduler import admit_pending
    from apps.jobs.choices import EventKind
    from apps.jobs.models import JobEvent
    from tests.admission.invariants import check_invariants

    build_contended_world()
    deadline = time.time() + 18
    children = [
        Child(test_database_name, tmp_path, role, index, QUOTA_CHILD_DEADLINE=str(deadline))
        for index, role in enumerate(["scheduler", "scheduler", "world", "world", "world"])
    ]
    seen: list[str] = []
    checks = 0
    try:
        while time.time() < deadline:
            seen += check_invariants()
            checks += 1
            time.sleep(0.05)
        reports = [c.wait(timeout=60) for c in children]
    finally:
        for c in children:
            c.kill()

    final = admit_pending()
    assert check_invariants() == []
    assert seen == []
    for report in reports:
        assert report["violations"] == [], report
    schedulers = [r for r in reports if r["role"] == "scheduler"]
    assert all(r["passes"] > 50 for r in schedulers), schedulers
    assert checks > 100
    assert sum(r["decisions"] for r in schedulers) > 2000
    admitted = JobEvent.objects.filter(kind=EventKind.ADMITTED).count()
    assert admitted == sum(r["admitted"] for r in schedulers) + final
    assert admitted > 500
    assert JobEvent.objects.filter(kind=EventKind.PREEMPTED).exists()


def reclaim_in_flight() -> tuple[list[Any], list[Any]]:
    """alpha borrows all of beta's guarantee; beta asks for it back: the next pass must preempt
    eight jobs and admit eight."""
    from apps.admission.scheduler import admit_pending
    from tests.admission.test_semantics import Scene
    from tests.factories import ClusterFactory, OrganisationFactory

    org = OrganisationFactory(slug="crashy")
    scene = Scene(org, ClusterFactory(organisation=org, name="gpu-k", kind="fake", address="fake://crashy"))
    scene.nodes(2)
    research = scene.cohort()
    alpha, beta = scene.team("alpha", research), scene.team("beta", research)
    scene.quota(alpha, 8)
    scene.quota(beta, 8)
    borrowers = scene.submit(alpha, 1, 16)
    assert admit_pending() == 16
    return borrowers, scene.submit(beta, 1, 8)


@pytest.mark.django_db(transaction=True)
def test_a_scheduler_killed_while_writing_a_pass_leaves_nothing_half_admitted(
    catalog: Any, quiet: Any, test_database_name: str, tmp_path: Path
) -> None:
    from apps.admission.models import Allocation
    from apps.admission.scheduler import admit_pending
    from apps.jobs.choices import JobState
    from apps.jobs.models import Attempt, Job
    from tests.admission.invariants import check_invariants

    borrowers, owners = reclaim_in_flight()
    marker = tmp_path / "stalled"
    sleepy = Child(test_database_name, tmp_path, "sleepy", 0, QUOTA_CHILD_MARKER=str(marker))
    try:
        for _ in range(300):
            if marker.exists() or sleepy.proc.poll() is not None:
                break
            time.sleep(0.1)
        assert marker.exists(), sleepy.log.read_text()[-3000:]
        # Inside _apply: eight jobs preempted, eight updated to admitted with attempts, no allocations yet.
    finally:
        sleepy.kill()

    assert check_invariants() == []
    assert Job.objects.filter(pk__in=[j.pk for j in borrowers], state=JobState.ADMITTED).count() == 16
    assert Job.objects.filter(pk__in=[j.pk for j in owners], state=JobState.PENDING).count() == 8
    assert not Attempt.objects.filter(job__in=owners).exists()
    assert Allocation.objects.filter(released_at__isnull=True).count() == 16

    admitted = 0
    for _ in range(50):  # the dead session's lock goes with its connection
        admitted = admit_pending()
        if admitted:
            break
        time.sleep(0.1)
    assert admitted == 8
    assert check_invariants() == []
    assert Job.objects.filter(pk__in=[j.pk for j in owners], state=JobState.ADMITTED).count() == 8
    assert Job.objects.filter(pk__in=[j.pk for j in borrowers], state=JobState.PENDING).count() == 8


@pytest.mark.django_db(transaction=True)
def test_schedulers_killed_at_random_moments_leave_a_consistent_state(
    catalog: Any, quiet: Any, test_database_name: str, tmp_path: Path
) -> None:
    from apps.admission.scheduler import admit_pending
    from apps.jobs.choices import JobState
    from apps.jobs.models import Job
    from tests.admission.invariants import check_invariants

    build_contended_world()
    rng = random.Random(11)
    world = Child(test_database_name, tmp_path, "world", 99, QUOTA_CHILD_DEADLINE=str(time.time() + 9))
    kills = 0
    try:
        while world.proc.poll() is None and kills < 8:
            scheduler = Child(test_database_name, tmp_path, "scheduler", kills)
            for _ in range(100):
                if scheduler.out.exists():
                    break
                time.sleep(0.05)
            time.sleep(rng.random() * 0.6)  # somewhere inside its loop of passes
            scheduler.kill()
            kills += 1
            assert check_invariants() == []
        report = world.wait(timeout=60)
    finally:
        world.kill()
    assert kills >= 4
    assert report["violations"] == []
    admit_pending()
    assert check_invariants() == []
    assert Job.objects.exclude(state=JobState.PENDING).exists()
