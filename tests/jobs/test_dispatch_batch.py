"""A scheduler pass's sends are recorded as a batch: the same states and events as one by one,
in a number of queries that does not grow with the batch."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.admission import scheduler
from apps.dispatch.fanout import Outcome
from apps.dispatch.port import BackendError, SubmitResult
from apps.jobs import services
from apps.jobs.models import Attempt, Job

pytestmark = pytest.mark.django_db


def admitted(world: Any, count: int, monkeypatch: Any, capture: Any) -> list[Attempt]:
    """``count`` attempts admitted by one pass, their sends held back."""
    monkeypatch.setattr(services.Dispatcher, "send", lambda self, ids: None)
    jobs = [
        services.submit_job(
            actor=world.member,
            request=services.JobRequest(
                name=f"batch-{n}",
                team=world.alpha,
                cluster=world.cluster,
                kind="batch",
                entrypoint="true",
                runtime_env={},
                cpus=0.05,
                gpus=0,
                accelerator_model="",
                memory_gb=0,
                max_retries=0,
            ),
        )[0]
        for n in range(count)
    ]
    with capture(execute=True):
        assert scheduler.admit_pending() == count
    monkeypatch.undo()
    return list(Attempt.objects.filter(job__in=jobs).select_related("job__cluster", "job__team").order_by("job_id"))


def begin_and_finish(attempts: list[Attempt]) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as began:
        outcomes = services.begin_dispatches([str(a.pk) for a in attempts])
    sent = [attempt for _, attempt in outcomes.values() if attempt is not None]
    assert len(sent) == len(attempts)
    answers = [(a, Outcome(value=SubmitResult(remote_id=a.remote_id, adopted=False))) for a in sent]
    with CaptureQueriesContext(connection) as finished:
        services.finish_dispatches(answers)
    return len(began.captured_queries), len(finished.captured_queries)


def test_a_batch_takes_the_same_queries_for_three_attempts_as_for_forty(
    world: Any, fake_backend: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    attempts = admitted(world, 43, monkeypatch, django_capture_on_commit_callbacks)
    assert begin_and_finish(attempts[:3]) == begin_and_finish(attempts[3:])
    assert set(Attempt.objects.values_list("state", flat=True)) == {"submitted"}
    assert set(Job.objects.values_list("state", flat=True)) == {"dispatching"}
    for job in Job.objects.all():
        assert list(job.events.values_list("kind", "from_state", "to_state")) == [
            ("submitted", "", "pending"),
            ("admitted", "pending", "admitted"),
            ("dispatched", "admitted", "dispatching"),
        ]
    assert all(a.dispatch_seconds is not None and a.dispatch_seconds >= 0 for a in Attempt.objects.all())


def test_each_attempt_of_a_batch_gets_what_it_would_get_alone(
    world: Any, fake_backend: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    cancelled_first, refused, retried, adopted, cancelled_during, plain = admitted(
        world, 6, monkeypatch, django_capture_on_commit_callbacks
    )
    services.cancel_job(actor=world.member, job=cancelled_first.job)
    gone = str(uuid.uuid4())
    outcomes = services.begin_dispatches([str(a.pk) for a in (cancelled_first, refused, retried, adopted)] + [gone])
    assert outcomes[str(cancelled_first.pk)] == ("cancelled", None)
    assert outcomes[gone] == ("missing", None)
    # A second begin of what is already on its way sends it again (the remote name makes it safe).
    again = services.begin_dispatches([str(refused.pk), str(cancelled_during.pk), str(plain.pk)])
    assert again[str(refused.pk)][1] is not None
    sent = {str(a.pk): a for _, a in (*outcomes.values(), *again.values()) if a is not None}
    assert set(sent) == {str(a.pk) for a in (refused, retried, adopted, cancelled_during, plain)}

    services.cancel_job(actor=world.member, job=cancelled_during.job)
    stops: list[tuple[str, tuple[Any, ...]]] = []
    monkeypatch.setattr(services, "try_enqueue", lambda name, *args, **kw: stops.append((name, args)))
    answers = {
        str(refused.pk): Outcome[SubmitResult](error=BackendError("bad image", retryable=False)),
        str(retried.pk): Outcome[SubmitResult](error=BackendError("timed out", retryable=True)),
        str(adopted.pk): Outcome(value=SubmitResult(remote_id=adopted.remote_id, adopted=True)),
        str(cancelled_during.pk): Outcome(value=SubmitResult(remote_id=cancelled_during.remote_id, adopted=False)),
        str(plain.pk): Outcome(value=SubmitResult(remote_id=plain.remote_id, adopted=False)),
    }
    result = services.finish_dispatches([(sent[key], outcome) for key, outcome in answers.items()])
    assert result == {
        str(refused.pk): "refused",
        str(retried.pk): "retry",
        str(adopted.pk): "adopted",
        str(cancelled_during.pk): "submitted",
        str(plain.pk): "submitted",
    }
    states = dict(Attempt.objects.values_list("pk", "state"))
    assert states[cancelled_first.pk] == "stopped"
    assert states[refused.pk] == "failed" and Job.objects.get(pk=refused.job_id).state == "failed"
    assert states[retried.pk] == "admitted"  # the task sends it again
    assert retried.job.events.filter(kind="dispatch_error", message__contains="timed out").exists()
    assert states[adopted.pk] == states[plain.pk] == "submitted"
    assert adopted.job.events.filter(kind="adopted").count() == 1
    assert not plain.job.events.filter(kind="adopted").exists()
    # Cancelled while its submit was out: recorded as sent, and stopped on the cluster.
    assert ("jobs.stop_attempt", (str(cancelled_during.pk),)) in stops
    assert ("jobs.stop_attempt", (str(plain.pk),)) not in stops
