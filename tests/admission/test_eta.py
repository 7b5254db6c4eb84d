"""Estimated starts of pending jobs: the scheduler's own ``decide`` replayed over running work's
expected ends, on real rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.admission.eta import estimate_pending
from apps.jobs.choices import EstimateConfidence, JobState
from apps.jobs.models import Job
from tests.admission.test_semantics import Scene, fresh

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(world: Any) -> Scene:
    scene = Scene(world.org, world.cluster)
    scene.nodes(1)  # one node of 8 GPUs
    scene.quota(world.alpha, 8)
    return scene


def run(scene: Scene, team: Any, gpus: int, *, started_ago: timedelta, now: Any = None, **fields: Any) -> Job:
    (job,) = scene.submit(team, gpus, **fields)
    scene.schedule()
    job = fresh(job)
    assert job.state == JobState.ADMITTED
    started = (now or timezone.now()) - started_ago
    Job.objects.filter(pk=job.pk).update(state=JobState.RUNNING, started_at=started)
    return fresh(job)


def test_a_job_behind_one_with_ten_minutes_left_starts_exactly_ten_minutes_later(scene: Scene, world: Any) -> None:
    now = timezone.now()
    running = run(scene, world.alpha, 8, started_ago=timedelta(minutes=20), now=now, max_runtime_seconds=30 * 60)
    (waiting,) = scene.submit(world.alpha, 8)
    scene.schedule()

    assert estimate_pending(now) == 1

    waiting = fresh(waiting)
    assert waiting.estimated_start_at == now + timedelta(minutes=10)
    assert waiting.estimate_confidence == EstimateConfidence.HIGH
    assert waiting.estimate_basis == f"When job {running.pk} ends; ends from: declared max runtime."


def test_a_chain_of_waits_adds_up_and_is_as_certain_as_its_least_certain_end(scene: Scene, world: Any) -> None:
    run(scene, world.alpha, 8, started_ago=timedelta(0), max_runtime_seconds=600)
    running_end = fresh(Job.objects.get(state=JobState.RUNNING)).started_at + timedelta(seconds=600)
    (second,) = scene.submit(world.alpha, 8, plan={"time_to_train_s": 1200.0})  # the planner: 20 minutes
    (third,) = scene.submit(world.alpha, 8, max_runtime_seconds=300)
    (fourth,) = scene.submit(world.alpha, 4)
    scene.schedule()

    estimate_pending(timezone.now())

    second, third, fourth = fresh(second), fresh(third), fresh(fourth)
    assert second.estimated_start_at == running_end
    assert second.estimate_confidence == EstimateConfidence.HIGH
    assert third.estimated_start_at == running_end + timedelta(seconds=1200)
    assert third.estimate_confidence == EstimateConfidence.MEDIUM
    assert fourth.estimated_start_at == running_end + timedelta(seconds=1500)
    assert fourth.estimate_confidence == EstimateConfidence.MEDIUM


def test_a_running_jobs_end_from_its_teams_history_of_that_name(scene: Scene, world: Any) -> None:
    now = timezone.now()
    for minutes in (5, 10, 15):  # median 10 minutes
        Job.objects.create(
            team=world.alpha,
            cluster=world.cluster,
            name="nightly-eval",
            entrypoint="true",
            gpus=8,
            state=JobState.SUCCEEDED,
            started_at=now - timedelta(days=1, minutes=minutes),
            finished_at=now - timedelta(days=1),
        )
    running = run(scene, world.alpha, 8, started_ago=timedelta(minutes=4), name="nightly-eval")
    (waiting,) = scene.submit(world.alpha, 8)
    scene.schedule()

    estimate_pending(now)

    waiting = fresh(waiting)
    assert waiting.estimated_start_at == running.started_at + timedelta(minutes=10)
    assert waiting.estimate_confidence == EstimateConfidence.MEDIUM
    assert "history" in waiting.estimate_basis


def test_a_job_no_end_lets_in_has_no_estimate(scene: Scene, world: Any) -> None:
    run(scene, world.alpha, 8, started_ago=timedelta(0), max_runtime_seconds=600)
    (outsider,) = scene.submit(world.beta, 1)  # beta has no quota and no cohort
    (too_big,) = scene.submit(world.alpha, 16)  # more than the pool's one node
    scene.schedule()

    estimate_pending(timezone.now())

    for job in (fresh(outsider), fresh(too_big)):
        assert job.estimated_start_at is None
        assert job.estimate_confidence == EstimateConfidence.NONE
        assert job.estimate_basis == "No expected end of running work lets it in."


def test_a_wait_past_the_horizon_is_later_than_it_with_low_confidence(scene: Scene, world: Any, settings: Any) -> None:
    settings.PADDOCK_ESTIMATE_HORIZON = 3600
    run(scene, world.alpha, 8, started_ago=timedelta(0), max_runtime_seconds=2 * 3600)
    (waiting,) = scene.submit(world.alpha, 8)
    scene.schedule()

    estimate_pending(timezone.now())

    waiting = fresh(waiting)
    assert waiting.estimated_start_at is None
    assert waiting.estimate_confidence == EstimateConfidence.LOW
    assert waiting.estimate_basis.startswith("Later than ")


def test_estimates_are_written_only_when_they_change_and_cleared_on_admission(scene: Scene, world: Any) -> None:
    running = run(scene, world.alpha, 8, started_ago=timedelta(0), max_runtime_seconds=600)
    (waiting,) = scene.submit(world.alpha, 8)
    scene.schedule()
    now = timezone.now()

    assert estimate_pending(now) == 1
    assert estimate_pending(now) == 0  # nothing changed: nothing written

    scene.finish(running)
    scene.schedule()
    waiting = fresh(waiting)
    assert waiting.state == JobState.ADMITTED
    assert (waiting.estimated_start_at, waiting.estimate_confidence, waiting.estimate_basis) == (None, "", "")


def test_the_estimate_task_run_twice_writes_once(scene: Scene, world: Any) -> None:
    from apps.admission import tasks

    run(scene, world.alpha, 8, started_ago=timedelta(0), max_runtime_seconds=600)
    (waiting,) = scene.submit(world.alpha, 8)
    scene.schedule()

    assert tasks.estimate.apply().get() == 1
    assert tasks.estimate.apply().get() == 0
    assert fresh(waiting).estimate_confidence == EstimateConfidence.HIGH


def test_estimates_are_asked_for_at_most_once_per_interval(scene: Scene, settings: Any) -> None:
    from django.core.cache import cache

    from apps.admission import tasks

    settings.PADDOCK_ESTIMATE_INTERVAL = 60
    cache.delete(tasks.ESTIMATE_THROTTLE)

    assert tasks.request_estimates() is True
    assert tasks.request_estimates() is False  # within the interval: the pass goes on alone
    cache.delete(tasks.ESTIMATE_THROTTLE)
    settings.PADDOCK_ESTIMATE_INTERVAL = 0
    assert tasks.request_estimates() is False  # switched off


@pytest.mark.django_db(transaction=True)
def test_the_estimate_reads_one_snapshot_and_writes_in_its_own_transaction(
    catalog: Any, world: Any, monkeypatch: Any
) -> None:
    # Commits happen here: nothing is sent to a cluster or queued.
    monkeypatch.setattr("apps.core.tasks.enqueue", lambda *a, **k: None)
    monkeypatch.setattr("apps.jobs.services.Dispatcher.send", lambda *a, **k: None)
    scene = Scene(world.org, world.cluster)
    scene.nodes(1)
    scene.quota(world.alpha, 8)
    now = timezone.now()
    run(scene, world.alpha, 8, started_ago=timedelta(minutes=5), now=now, max_runtime_seconds=600)
    (waiting,) = scene.submit(world.alpha, 8)
    scene.schedule()

    assert estimate_pending(now) == 1  # outside any transaction: as the task runs it

    assert fresh(waiting).estimated_start_at == now + timedelta(minutes=5)
