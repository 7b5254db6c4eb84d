"""Side effects of a committed change: coalesced, and never a failure of the change itself."""

from __future__ import annotations

from typing import Any

import pytest

from apps.core.tasks import SCHEDULE_QUEUED, started
from apps.jobs import services
from apps.jobs.models import Job
from tests.brokers import PrivateQueue, broker
from tests.factories import job_request

GOOD = {"name": "hello", "team": "alpha", "entrypoint": "python -c 'print(42)'"}


@pytest.mark.django_db(transaction=True)
def test_a_thousand_submissions_queue_one_scheduler_pass(world: Any, private_queue: PrivateQueue) -> None:
    """Each submission queued its own wake-up: 2,600 in 75 s left 1,499 waiting, and an
    unrelated job took minutes. A pass reads every pending job, so one queued is enough."""
    request = job_request(world.alpha, world.cluster, name="flood")
    with private_queue.sending():
        for _ in range(1000):
            services.submit_job(actor=world.member, request=request)  # each in its own transaction

    try:
        assert Job.objects.filter(name="flood").count() == 1000
        assert private_queue.messages("admission.schedule") == 1
    finally:
        started(SCHEDULE_QUEUED)  # nobody will run that pass: let later tests' wake-ups through


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_a_submission_is_saved_and_answered_201(world: Any) -> None:
    """Submit committed the job and then answered 500 when the broker refused the wake-up."""
    client = world.client(world.member)
    with broker("redis://127.0.0.1:1/0", socket_connect_timeout=0.5):
        created = client.post("/api/v1/jobs/", GOOD, format="json")
        assert created.status_code == 201, created.content
        job = Job.objects.get(pk=created.json()["id"])
        assert job.state == "pending"  # the periodic pass admits it once the broker is back
        cancelled = client.post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
