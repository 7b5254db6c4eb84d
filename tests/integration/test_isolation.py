"""One slow cluster delays only its own work: a cluster that accepts connections and never
answers (a tarpit) next to the real Ray head, with the real worker."""

from __future__ import annotations

import time
from typing import Any

import pytest

from apps.jobs.models import Attempt, Job
from tests.conftest import client_for, token_for
from tests.factories import ClusterFactory
from tests.integration.test_ray_flow import wait_for, wait_state

pytestmark = [pytest.mark.ray, pytest.mark.worker]


def test_a_tarpit_cluster_does_not_delay_another_clusters_dispatch(live: Any, tarpit: Any) -> None:
    """A pending job on an unresponsive cluster made every scheduler pass take 10 s, and other
    clusters' jobs waited 10-40 s to be dispatched (finding 8)."""
    ClusterFactory(organisation=live.org, name="tarpit", address=tarpit.address, trusted_network=True)
    client = client_for(token_for(live.member))
    stuck = client.post(
        "/api/v1/jobs/", {"name": "stuck", "team": "demo", "cluster": "tarpit", "entrypoint": "true"}, format="json"
    )
    assert stuck.status_code == 201, stuck.content
    wait_for(lambda: tarpit.connections >= 1, 30, "the scheduler to ask the tarpit for its capacity")

    fine = client.post("/api/v1/jobs/", {"name": "fine", "team": "demo", "entrypoint": "true"}, format="json")
    assert fine.status_code == 201, fine.content
    attempt = wait_for(
        lambda: Attempt.objects.filter(job_id=fine.json()["id"], dispatched_at__isnull=False).first(),
        60,
        "the job on the healthy cluster to be sent",
    )
    sent_at = attempt.dispatched_at.timestamp()
    # It was sent while the tarpit still held the call it was asked first (no answer, no timeout yet).
    first_opened = tarpit.opened[0]
    first_closed = tarpit.closed[0] if tarpit.closed else time.time()
    assert first_opened < sent_at < first_closed
    assert wait_state(fine.json()["id"], "succeeded", "failed", timeout=90) == "succeeded"

    # The stuck job says why it waits, in words, and the cluster is recorded as silent.
    reason = wait_for(
        lambda: "not answering" in (r := Job.objects.get(pk=stuck.json()["id"]).state_reason) and r,
        30,
        "the stuck job's reason",
    )
    assert "tarpit" in reason
    assert Job.objects.get(pk=stuck.json()["id"]).state == "pending"
