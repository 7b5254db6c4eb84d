"""Memory quotas: memory (GB) is a second resource of a pool, next to its GPUs or CPUs (Kueue: a
second resource of the flavor), with its own guarantee, max and lending limit. A job is admitted
only when both dimensions allow it; the invariants check both."""

from __future__ import annotations

from typing import Any

import pytest

from apps.core.models import AuditEntry
from apps.jobs.choices import HOLDING_STATES, JobState
from apps.quotas.models import Quota
from tests.admission.test_semantics import POOL, Scene, fresh


@pytest.fixture
def scene(world: Any) -> Scene:
    return Scene(world.org, world.cluster)


def test_a_job_over_its_teams_memory_max_waits_and_the_reason_says_memory(scene: Scene, world: Any) -> None:
    scene.nodes(1)
    scene.quota(world.alpha, 8, memory_guaranteed_gb=100, memory_max_gb=100)
    first = scene.submit(world.alpha, 1, memory_gb=80)[0]
    second = scene.submit(world.alpha, 1, memory_gb=40)[0]

    assert scene.schedule() == 1

    assert fresh(first).state == JobState.ADMITTED
    assert fresh(second).state == JobState.PENDING
    assert fresh(second).state_reason == (
        f"Waiting for 1 × H100 SXM in pool {POOL}: memory: team alpha uses 80 of its max 100 GB; it asks for 40 GB."
    )


def test_a_job_within_both_guarantees_is_admitted_and_gpus_still_refuse_on_their_own(scene: Scene, world: Any) -> None:
    scene.nodes(1)
    scene.quota(world.alpha, 2, memory_guaranteed_gb=1000)
    jobs = scene.submit(world.alpha, 1, 3, memory_gb=10)

    assert scene.schedule() == 2

    assert "team alpha uses 2 of its 2 guaranteed" in fresh(jobs[2]).state_reason


def test_memory_is_rounded_up_to_whole_gb(scene: Scene, world: Any) -> None:
    scene.nodes(1)
    scene.quota(world.alpha, 8, memory_guaranteed_gb=10)
    jobs = scene.submit(world.alpha, 1, 3, memory_gb=4.5)  # 5 GB each: two fit in 10

    assert scene.schedule() == 2

    assert fresh(jobs[2]).state == JobState.PENDING
    assert "memory: team alpha uses 10 of its 10 guaranteed" in fresh(jobs[2]).state_reason


def test_a_team_borrows_memory_only_as_far_as_its_cohort_lends(scene: Scene, world: Any) -> None:
    research = scene.cohort()
    scene.join(research, world.alpha, world.beta)
    scene.nodes(1)
    scene.quota(world.alpha, 4, max=8, memory_guaranteed_gb=50)
    scene.quota(world.beta, 4, memory_guaranteed_gb=100, memory_lending_limit_gb=30)  # idle: lends 30 GB of memory
    borrower = scene.submit(world.alpha, 1, memory_gb=80)[0]  # 30 over its guarantee: all beta lends
    scene.schedule()
    over = scene.submit(world.alpha, 1, memory_gb=1)[0]

    scene.schedule()

    assert fresh(borrower).state == JobState.ADMITTED, fresh(borrower).state_reason
    assert fresh(over).state == JobState.PENDING
    assert fresh(over).state_reason == (
        f"Waiting for 1 × H100 SXM in pool {POOL}: memory: team alpha uses 80 of its 50 guaranteed, "
        "the cohort research has 0 idle to lend; it asks for 1 GB."
    )


def test_a_team_whose_quota_guarantees_no_memory_is_not_limited_by_memory(scene: Scene, world: Any) -> None:
    scene.nodes(1)
    scene.quota(world.alpha, 8)
    scene.submit(world.alpha, 1, 2, memory_gb=500)  # 1,000 GB together: more than the node, as quota goes

    assert scene.schedule() == 2


def test_preempting_lower_priority_work_frees_its_memory_too(scene: Scene, world: Any) -> None:
    research = scene.cohort(preempt_lower_priority=True)
    scene.join(research, world.alpha)
    scene.nodes(1)
    scene.quota(world.alpha, 8, max=8, memory_guaranteed_gb=100, memory_max_gb=100)
    low = scene.submit(world.alpha, 1, memory_gb=80, priority=0)[0]
    scene.schedule()
    high = scene.submit(world.alpha, 1, memory_gb=60, priority=10)[0]  # GPUs are free; memory is not

    scene.schedule()

    assert fresh(high).state in HOLDING_STATES
    assert fresh(low).state == JobState.PENDING


# --- the API -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"memory_guaranteed_gb": 100, "memory_max_gb": 50}, "memory_max_gb"),
        ({"memory_guaranteed_gb": 100, "memory_lending_limit_gb": 200}, "memory_lending_limit_gb"),
        ({"memory_max_gb": 50}, "memory_max_gb"),  # a memory ceiling with no memory guarantee
        ({"memory_guaranteed_gb": -1}, "memory_guaranteed_gb"),
    ],
)
def test_bad_memory_quotas_are_400_with_field_errors(
    scene: Scene, world: Any, body: dict[str, Any], field: str
) -> None:
    scene.nodes(1)
    response = world.client(world.org_admin).post(
        "/api/v1/quotas/", {"team": "alpha", "pool": POOL, "guaranteed": 4, **body}, format="json"
    )
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Quota.objects.exists()


def test_a_quota_shows_its_memory_limits_and_the_memory_in_use(scene: Scene, world: Any) -> None:
    scene.nodes(1)
    client = world.client(world.org_admin)
    created = client.post(
        "/api/v1/quotas/",
        {"team": "alpha", "pool": POOL, "guaranteed": 4, "memory_guaranteed_gb": 256, "memory_max_gb": 512},
        format="json",
    )
    assert created.status_code == 201, created.content
    scene.submit(world.alpha, 1, memory_gb=99.5)
    scene.schedule()

    body = client.get(f"/api/v1/quotas/{created.json()['id']}/").json()

    assert (body["memory_guaranteed_gb"], body["memory_max_gb"], body["memory_lending_limit_gb"]) == (256, 512, None)
    assert body["memory_used_gb"] == 100
    changed = client.patch(f"/api/v1/quotas/{created.json()['id']}/", {"memory_max_gb": 300}, format="json")
    assert changed.status_code == 200
    assert AuditEntry.objects.filter(action="quotas.quota_updated").latest("id").data["memory_max_gb"] == 300


def test_a_lowered_memory_max_is_restored_by_the_next_pass_newest_work_first(scene: Scene, world: Any) -> None:
    scene.nodes(1)
    quota = scene.quota(world.alpha, 8, memory_guaranteed_gb=100)
    older = scene.submit(world.alpha, 1, memory_gb=60)[0]
    scene.schedule()
    newer = scene.submit(world.alpha, 1, memory_gb=30)[0]
    scene.schedule()
    Quota.objects.filter(pk=quota.pk).update(memory_guaranteed_gb=70)

    scene.schedule()  # checks the invariants, memory included, after the pass

    assert fresh(older).state in HOLDING_STATES
    assert fresh(newer).state == JobState.PENDING
    assert fresh(newer).events.filter(message__contains="over its memory guarantee").exists()
