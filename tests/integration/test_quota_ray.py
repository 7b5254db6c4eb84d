"""Quotas for real: two teams share the local Ray head's (fake) GPUs through the scheduler."""

from __future__ import annotations

from typing import Any

import pytest

from apps.admission.pools import ensure_pools
from apps.inventory import discovery
from apps.jobs.models import Attempt, Job
from apps.quotas.models import Pool, Quota
from tests.conftest import client_for, token_for
from tests.factories import MembershipFactory
from tests.integration.test_ray_flow import wait_for, wait_state

pytestmark = [pytest.mark.ray, pytest.mark.worker]
TWO_GPUS = {"gpus": 2, "accelerator_model": "H100"}


def test_the_second_team_waits_with_a_reason_then_runs_when_the_first_finishes(live: Any, catalog: Any) -> None:
    discovery.discover_cluster(live.cluster)  # the head's node and its 2 GPUs → a pool
    ensure_pools()
    pool = Pool.objects.get(cluster=live.cluster, accelerator_model__isnull=False)
    Quota.objects.create(team=live.alpha, pool=pool, guaranteed=2)
    Quota.objects.create(team=live.beta, pool=pool, guaranteed=2)  # over-committed: both may use all of it
    MembershipFactory(team=live.beta, user=live.member, role="member")
    client = client_for(token_for(live.member))

    def submit(team: str, seconds: int) -> int:
        body = {
            "name": f"{team}-train",
            "team": team,
            "entrypoint": f"python -c \"import time; time.sleep({seconds}); print('done')\"",
            "resources": TWO_GPUS,
        }
        response = client.post("/api/v1/jobs/", body, format="json")
        assert response.status_code == 201, response.content
        return int(response.json()["id"])

    first = submit(live.alpha.slug, 6)
    assert wait_state(first, "running", "failed", timeout=90) == "running"
    second = submit(live.beta.slug, 1)
    reason = wait_for(
        lambda: Job.objects.filter(pk=second, state="pending").values_list("state_reason", flat=True).first(),
        60,
        "the second job's pending reason",
    )
    assert reason.startswith(f"Waiting for 2 × H100 SXM in pool {pool.name}"), reason
    assert wait_state(first, "succeeded", "failed", timeout=90) == "succeeded"
    assert wait_state(second, "succeeded", "failed", timeout=120) == "succeeded"
    placement = Attempt.objects.get(job_id=second).placement
    assert [share["gpus"] for share in placement] == [[0, 1]]
    assert placement[0]["address"] == "127.0.0.1"
    kinds = list(Job.objects.get(pk=second).events.values_list("kind", flat=True))
    assert kinds[:3] == ["submitted", "waiting", "admitted"]
