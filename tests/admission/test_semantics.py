"""The admission semantics, one scenario each: what a pass admits, what it preempts and what
it tells a waiting job. Every scenario drives ``admit_pending()`` on real rows and checks the
independent invariants after every pass."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.admission.models import Allocation
from apps.admission.pools import ensure_pools
from apps.admission.scheduler import admit_pending
from apps.inventory.models import AcceleratorModel, Node
from apps.jobs.choices import HOLDING_STATES, AttemptState, EventKind, JobState
from apps.jobs.models import Job
from apps.jobs.services import move_job
from apps.quotas.models import Cohort, Pool, PriorityClass, Quota
from tests.admission.invariants import check_invariants
from tests.factories import (
    AcceleratorFactory,
    JobFactory,
    MaintenanceWindowFactory,
    NetworkFabricFactory,
    NodeFactory,
    TeamFactory,
)

H100 = "H100 SXM"
POOL = "gpu-a-h100-sxm"


class Scene:
    """A cluster with H100 nodes, teams, cohorts and quotas, and a scheduler to drive."""

    def __init__(self, org: Any, cluster: Any) -> None:
        self.org = org
        self.cluster = cluster
        self.model = AcceleratorModel.objects.get(name=H100)

    def nodes(self, count: int, gpus: int = 8, *, fabric: Any = None, **fields: Any) -> list[Node]:
        made = []
        for _ in range(count):
            node = NodeFactory(cluster=self.cluster, **fields)
            for index in range(gpus):
                AcceleratorFactory(node=node, index=index, model=self.model)
            if fabric is not None:
                fabric.nodes.add(node)
            made.append(node)
        ensure_pools()
        return made

    @property
    def pool(self) -> Pool:
        return Pool.objects.get(cluster=self.cluster, accelerator_model=self.model)

    def cohort(self, name: str = "research", **switches: bool) -> Cohort:
        return Cohort.objects.create(organisation=self.org, name=name, **switches)

    def team(self, slug: str, cohort: Cohort | None = None) -> Any:
        team = TeamFactory(organisation=self.org, slug=slug)
        if cohort is not None:
            team.cohort = cohort
            team.save()
        return team

    def join(self, cohort: Cohort, *teams: Any) -> None:
        for team in teams:
            team.cohort = cohort
            team.save()

    def quota(self, team: Any, guaranteed: int, max: int | None = None, **fields: Any) -> Quota:
        quota, _ = Quota.objects.update_or_create(
            team=team, pool=self.pool, defaults={"guaranteed": guaranteed, "max": max, **fields}
        )
        return quota

    def priority_class(self, name: str, value: int, *, preemptible: bool = True) -> PriorityClass:
        return PriorityClass.objects.create(organisation=self.org, name=name, value=value, preemptible=preemptible)

    def submit(self, team: Any, gpus: float, count: int = 1, *, klass: PriorityClass | None = None, **fields: Any):
        if klass is not None:
            fields.update(priority_class=klass, priority=klass.value)
        return [
            JobFactory(team=team, cluster=self.cluster, gpus=gpus, accelerator_model="H100", **fields)
            for _ in range(count)
        ]

    def schedule(self) -> int:
        admitted = admit_pending()
        assert check_invariants() == []
        return admitted

    def holding(self, team: Any = None) -> list[Job]:
        jobs = Job.objects.filter(state__in=HOLDING_STATES, cluster=self.cluster)
        if team is not None:
            jobs = jobs.filter(team=team)
        return list(jobs.order_by("id"))

    def used(self, team: Any) -> int:
        return sum(int(job.gpus) for job in self.holding(team))

    def finish(self, job: Job) -> None:
        assert move_job(job, from_states=HOLDING_STATES, to_state=JobState.SUCCEEDED, event=EventKind.SUCCEEDED)


def fresh(job: Job) -> Job:
    job.refresh_from_db()
    return job


def gpus_of(job: Job) -> list[tuple[str, int]]:
    return sorted(
        Allocation.objects.filter(job=job, released_at__isnull=True).values_list("node__hostname", "accelerator__index")
    )


@pytest.fixture
def scene(world: Any) -> Scene:
    return Scene(world.org, world.cluster)


# --- guarantees, borrowing, lending ------------------------------------------------------------


def test_a_team_gets_its_guarantee_back_from_a_borrower_by_the_next_pass(scene: Scene, world: Any) -> None:
    research = scene.cohort()
    scene.join(research, world.alpha, world.beta)
    scene.nodes(2)
    scene.quota(world.alpha, 8)
    scene.quota(world.beta, 8)
    scene.submit(world.beta, 1, 12)  # beta queued first, and more than its guarantee
    scene.submit(world.alpha, 1, 8)

    scene.schedule()
    scene.schedule()

    assert scene.used(world.alpha) == 8
    assert scene.used(world.beta) == 8


def test_a_pass_never_lends_a_guarantee_its_owner_is_queueing_for(scene: Scene, world: Any) -> None:
    research = scene.cohort()
    scene.join(research, world.alpha, world.beta)
    scene.nodes(2)
    scene.quota(world.alpha, 8)
    scene.quota(world.beta, 8)
    scene.submit(world.beta, 1, 12)
    scene.submit(world.alpha, 1, 8)

    scene.schedule()

    assert (scene.used(world.alpha), scene.used(world.beta)) == (8, 8)
    scene.schedule()
    assert not Job.objects.filter(events__kind=EventKind.PREEMPTED).exists()


def test_borrowing_goes_up_to_max_and_no_further(scene: Scene, world: Any) -> None:
    research = scene.cohort()
    scene.join(research, world.alpha, world.beta)
    scene.nodes(2)
    scene.quota(world.alpha, 4, max=6)
    scene.quota(world.beta, 8)  # idle: lends all 8
    jobs = scene.submit(world.alpha, 1, 10)

    assert scene.schedule() == 6
    scene.schedule()

    assert scene.used(world.alpha) == 6
    waiting = fresh(jobs[6])
    assert waiting.state == JobState.PENDING
    assert waiting.state_reason == (f"Waiting for 1 × H100 SXM in pool {POOL}: team alpha uses 6 of its max 6 GPUs.")


def test_a_team_borrows_no_more_than_the_lenders_lending_limit(scene: Scene, world: Any) -> None:
    research = scene.cohort()
    scene.join(research, world.alpha, world.beta)
    scene.nodes(2)
    scene.quota(world.alpha, 4)
    scene.quota(world.beta, 8, lending_limit=2)
    jobs = scene.submit(world.alpha, 1, 10)

    assert scene.schedule() == 6

    assert scene.used(world.alpha) == 6
    assert fresh(jobs[6]).state_reason == (
        f"Waiting for 1 × H100 SXM in pool {POOL}: team alpha uses 6 of its 4 guaranteed, "
        "the cohort research has 0 idle to lend."
    )
    # beta keeps the 6 it does not lend, whatever alpha borrows
    scene.submit(world.beta, 1, 6)
    assert scene.schedule() == 6
    assert scene.used(world.beta) == 6


def test_a_team_without_quota_or_cohort_does_not_run_in_a_pool_with_quotas(scene: Scene, world: Any) -> None:
    scene.nodes(1)
    scene.quota(world.alpha, 4)
    (job,) = scene.submit(world.beta, 1)

    assert scene.schedule() == 0

    assert fresh(job).state_reason == (
        f"Waiting for 1 × H100 SXM in pool {POOL}: team beta has no quota in pool {POOL} "
        "and is in no cohort to borrow from."
    )


def test_a_team_in_no_cohort_never_goes_above_its_guarantee(scene: Scene, world: Any) -> None:
    scene.nodes(2)
    scene.quota(world.alpha, 4)
    scene.submit(world.alpha, 1, 6)

    assert scene.schedule() == 4


# --- reclaim and preemption ---------------------------------------------------------------------


def test_reclaim_preempts_the_youngest_borrowing_jobs_and_requeues_them(scene: Scene, world: Any) -> None:
    research = scene.cohort()
    scene.join(research, world.alpha, world.beta)
    scene.nodes(2)
    scene.quota(world.alpha, 8)
    scene.quota(world.beta, 8)
    borrowers = scene.submit(world.beta, 1, 16)
    assert scene.schedule() == 16
    assert scene.used(world.beta) == 16

    mine = scene.submit(world.alpha, 1, 8)
    assert scene.schedule() == 8

    assert [fresh(job).state for job in mine] == [JobState.ADMITTED] * 8
    assert scene.used(world.beta) == 8
    preempted = [fresh(job) for job in borrowers if fresh(job).state == JobState.PENDING]
    assert len(preempted) == 8
    for job in preempted:
        kinds = list(job.events.order_by("id").values_list("kind", flat=True))
        assert kinds[-2:] == [EventKind.PREEMPTED, EventKind.REQUEUED]
        assert job.state_reason.startswith("Preempted (preempted for job ")
        assert "team alpha reclaims its guarantee" in job.state_reason
        assert not Allocation.objects.filter(job=job, released_at__isnull=True).exists()
        assert job.attempts.get().state == AttemptState.STOPPED
    # the youngest borrowers went: beta keeps its eight oldest jobs
    assert {job.pk for job in scene.holding(world.beta)} == {job.pk for job in borrowers[:8]}

    scene.schedule()  # the preempted jobs wait: beta is at its guarantee and alpha lends nothing now
    assert scene.used(world.beta) == 8
    assert fresh(preempted[0]).state == JobState.PENDING


def test_without_reclaim_a_team_waits_for_its_lent_guarantee(scene: Scene, world: Any) -> None:
    research = scene.cohort(reclaim_from_borrowers=False)
    scene.join(research, world.alpha, world.beta)
    scene.nodes(2)
    scene.quota(world.alpha, 8)
    scene.quota(world.beta, 8)
    scene.submit(world.beta, 1, 16)
    scene.schedule()
    (job,) = scene.submit(world.alpha, 1)

    assert scene.schedule() == 0

    assert scene.used(world.beta) == 16
    assert fresh(job).state_reason == (
        f"Waiting for 1 × H100 SXM in pool {POOL}: team alpha uses 0 of its 8 guaranteed; "
        "the rest is lent to other teams of cohort research."
    )


def test_a_higher_priority_job_preempts_a_lower_one_of_its_team(scene: Scene, world: Any) -> None:
    research = scene.cohort(preempt_lower_priority=True)
    scene.join(research, world.alpha, world.beta)
    scene.nodes(2)
    scene.quota(world.alpha, 8)
    scene.quota(world.beta, 8)
    scene.submit(world.beta, 1, 8)  # beta uses its guarantee: the cohort has nothing to lend
    low = scene.submit(world.alpha, 1, 8, priority=0)
    scene.schedule()
    (urgent,) = scene.submit(world.alpha, 1, priority=10)

    assert scene.schedule() == 1

    assert fresh(urgent).state == JobState.ADMITTED
    preempted = [job for job in low if fresh(job).state == JobState.PENDING]
    assert [job.pk for job in preempted] == [low[-1].pk]  # the youngest of the lowest priority
    assert "a higher-priority job of the same team (priority 10)" in preempted[0].state_reason
    assert scene.used(world.beta) == 8


def test_without_the_switch_a_higher_priority_job_waits_but_goes_first(scene: Scene, world: Any) -> None:
    scene.nodes(1)
    scene.quota(world.alpha, 8)
    low = scene.submit(world.alpha, 1, 8, priority=0)
    scene.schedule()
    older_low = scene.submit(world.alpha, 1, priority=0)
    (urgent,) = scene.submit(world.alpha, 1, priority=10)

    assert scene.schedule() == 0
    scene.finish(fresh(low[0]))
    assert scene.schedule() == 1

    assert fresh(urgent).state == JobState.ADMITTED
    assert fresh(older_low[0]).state == JobState.PENDING


def test_a_higher_priority_job_preempts_its_team_also_at_the_teams_max(scene: Scene, world: Any) -> None:
    research = scene.cohort(preempt_lower_priority=True)
    scene.join(research, world.alpha, world.beta)
    scene.nodes(2)
    scene.quota(world.alpha, 8, max=8)
    scene.quota(world.beta, 8)
    low = scene.submit(world.alpha, 1, 8, priority=0)
    scene.schedule()
    (urgent,) = scene.submit(world.alpha, 1, priority=10)

    scene.schedule()

    assert fresh(urgent).state == JobState.ADMITTED
    assert fresh(low[-1]).state == JobState.PENDING


def test_a_non_preemptible_job_must_fit_in_the_guarantee(scene: Scene, world: Any) -> None:
    research = scene.cohort()
    scene.join(research, world.alpha, world.beta)
    scene.nodes(2)
    scene.quota(world.alpha, 4)
    scene.quota(world.beta, 8)  # idle: there is plenty to borrow
    prod = scene.priority_class("prod", 100, preemptible=False)
    (small,) = scene.submit(world.alpha, 2, klass=prod)
    (large,) = scene.submit(world.alpha, 4, klass=prod)
    (batch,) = scene.submit(world.alpha, 4)

    assert scene.schedule() == 2

    assert fresh(small).state == JobState.ADMITTED
    assert fresh(batch).state == JobState.ADMITTED  # preemptible: it may borrow
    assert fresh(large).state == JobState.PENDING
    assert fresh(large).state_reason == (
        f"Waiting for 4 × H100 SXM in pool {POOL}: priority class prod is not preemptible, "
        "so it must fit in team alpha's guarantee: 2 of 4 in use."
    )


def test_reclaim_never_preempts_a_non_preemptible_job(scene: Scene, world: Any) -> None:
    research = scene.cohort()
    scene.join(research, world.alpha, world.beta)
    scene.nodes(1)
    scene.quota(world.alpha, 4)
    scene.quota(world.beta, 4)
    reserved = scene.priority_class("reserved", 0, preemptible=False)
    normal = scene.priority_class("normal", 5)
    (pinned,) = scene.submit(world.beta, 4, klass=reserved)
    scene.schedule()
    (borrowing,) = scene.submit(world.beta, 4, klass=normal)
    scene.schedule()
    assert scene.used(world.beta) == 8

    (mine,) = scene.submit(world.alpha, 4, klass=normal)
    scene.schedule()

    assert fresh(mine).state == JobState.ADMITTED
    assert fresh(pinned).state == JobState.ADMITTED
    assert fresh(borrowing).state == JobState.PENDING


# --- limits an operator lowers, nodes that go away ----------------------------------------------


def test_lowering_a_max_preempts_the_newest_work_down_to_it(scene: Scene, world: Any) -> None:
    research = scene.cohort()
    scene.join(research, world.alpha, world.beta)
    scene.nodes(2)
    quota = scene.quota(world.alpha, 4)
    scene.quota(world.beta, 8)
    jobs = scene.submit(world.alpha, 1, 8)
    scene.schedule()
    assert scene.used(world.alpha) == 8

    quota.max = 5
    quota.save()
    scene.schedule()

    assert [job.pk for job in scene.holding(world.alpha)] == [job.pk for job in jobs[:5]]


def test_lowering_the_guarantee_of_a_team_in_no_cohort_preempts_down_to_it(scene: Scene, world: Any) -> None:
    scene.nodes(1)
    quota = scene.quota(world.alpha, 8)
    scene.submit(world.alpha, 1, 8)
    scene.schedule()

    quota.guaranteed = 4
    quota.save()
    admit_pending()

    assert scene.used(world.alpha) == 4
    assert check_invariants() == []


def test_lowering_a_guarantee_below_non_preemptible_work_restores_the_rule(scene: Scene, world: Any) -> None:
    research = scene.cohort()
    scene.join(research, world.alpha, world.beta)
    scene.nodes(2)
    quota = scene.quota(world.alpha, 8)
    scene.quota(world.beta, 8)  # idle: alpha may borrow, but not for non-preemptible work
    prod = scene.priority_class("prod", 100, preemptible=False)
    scene.submit(world.alpha, 2, 4, klass=prod)
    scene.schedule()

    quota.guaranteed = 4
    quota.save()
    admit_pending()

    assert check_invariants() == []


def test_restoring_a_cohorts_limit_preempts_borrowing_work_before_non_preemptible_work(
    scene: Scene, world: Any
) -> None:
    research = scene.cohort()
    scene.join(research, world.alpha, world.beta)
    scene.nodes(1)
    scene.quota(world.alpha, 4)
    lender = scene.quota(world.beta, 4)
    reserved = scene.priority_class("reserved", 0, preemptible=False)
    (pinned,) = scene.submit(world.alpha, 4, klass=reserved)
    scene.schedule()
    (borrowing,) = scene.submit(world.alpha, 4, klass=scene.priority_class("normal", 5))
    scene.schedule()
    assert scene.used(world.alpha) == 8

    lender.guaranteed = 0  # beta lends nothing now: alpha must give back the 4 it borrows
    lender.save()
    scene.schedule()

    assert fresh(pinned).state == JobState.ADMITTED
    assert fresh(borrowing).state == JobState.PENDING


def test_lowering_a_max_preempts_preemptible_work_before_non_preemptible_work(scene: Scene, world: Any) -> None:
    scene.nodes(1)
    quota = scene.quota(world.alpha, 4, max=4)
    reserved = scene.priority_class("reserved", 0, preemptible=False)
    (pinned,) = scene.submit(world.alpha, 2, klass=reserved)
    (other,) = scene.submit(world.alpha, 2, klass=scene.priority_class("normal", 5))
    scene.schedule()
    assert scene.used(world.alpha) == 4

    quota.max = 2
    quota.guaranteed = 2
    quota.save()
    scene.schedule()

    assert fresh(pinned).state == JobState.ADMITTED
    assert fresh(other).state == JobState.PENDING


def test_lowering_a_lenders_guarantee_preempts_borrowers(scene: Scene, world: Any) -> None:
    research = scene.cohort()
    scene.join(research, world.alpha, world.beta)
    scene.nodes(2)
    scene.quota(world.alpha, 4)
    lender = scene.quota(world.beta, 8)
    scene.submit(world.alpha, 1, 12)
    scene.schedule()
    assert scene.used(world.alpha) == 12

    lender.lending_limit = 3
    lender.save()
    scene.schedule()

    assert scene.used(world.alpha) == 7


def test_a_job_on_a_node_that_goes_down_is_requeued_and_runs_elsewhere(scene: Scene, world: Any) -> None:
    first, _ = scene.nodes(2)
    (job,) = scene.submit(world.alpha, 8)
    scene.schedule()
    assert {host for host, _ in gpus_of(job)} == {first.hostname}
    (other,) = scene.submit(world.beta, 4)
    scene.schedule()
    assert gpus_of(other)[0][0] != first.hostname

    Node.objects.filter(pk=first.pk).update(state="down")
    scene.schedule()

    job = fresh(job)
    assert job.state == JobState.PENDING
    kinds = list(job.events.order_by("id").values_list("kind", flat=True))
    assert kinds[-2:] == [EventKind.PREEMPTED, EventKind.REQUEUED]
    assert "its node went down" in job.state_reason
    assert not Allocation.objects.filter(job=job, node=first, released_at__isnull=True).exists()

    Node.objects.filter(pk=first.pk).update(state="ready")
    scene.schedule()
    assert fresh(job).state == JobState.ADMITTED
    assert job.attempts.count() == 2


# --- fair share -------------------------------------------------------------------------------


def test_fair_share_between_weights_one_and_three_converges_to_one_to_three(scene: Scene, world: Any) -> None:
    research = scene.cohort()
    bank = scene.team("bank", research)
    scene.join(research, world.alpha, world.beta)
    scene.nodes(2)
    scene.quota(bank, 16)  # lends its idle 16
    scene.quota(world.alpha, 0, weight=1)
    scene.quota(world.beta, 0, weight=3)
    rng = random.Random(5)
    admitted = {world.alpha.pk: 0, world.beta.pk: 0}

    for _ in range(30):
        for team in (world.alpha, world.beta):
            backlog = Job.objects.filter(team=team, state=JobState.PENDING).count()
            scene.submit(team, 1, max(0, 20 - backlog))
        before = {pk: Job.objects.filter(team_id=pk, admitted_at__isnull=False).count() for pk in admitted}
        scene.schedule()
        for pk in admitted:
            admitted[pk] += Job.objects.filter(team_id=pk, admitted_at__isnull=False).count() - before[pk]
        assert (scene.used(world.alpha), scene.used(world.beta)) == (4, 12)
        for job in scene.holding():
            if rng.random() < 0.5:
                scene.finish(job)

    total = admitted[world.alpha.pk] + admitted[world.beta.pk]
    assert total > 200
    assert 0.2 <= admitted[world.alpha.pk] / total <= 0.3


# --- gang placement and node states --------------------------------------------------------------


@pytest.mark.parametrize("one_fabric", [True, False])
def test_a_gang_goes_across_nodes_only_on_one_fabric_and_never_in_part(
    scene: Scene, world: Any, one_fabric: bool
) -> None:
    ib = NetworkFabricFactory(organisation=world.org, name="ib-a")
    left = scene.nodes(1, 4, fabric=ib)[0]
    right = scene.nodes(1, 4, fabric=ib if one_fabric else NetworkFabricFactory(organisation=world.org))[0]
    (gang,) = scene.submit(world.alpha, 8)

    scene.schedule()

    if one_fabric:
        assert fresh(gang).state == JobState.ADMITTED
        assert {host for host, _ in gpus_of(gang)} == {left.hostname, right.hostname}
        placement = gang.attempts.get().placement
        assert sorted((p["hostname"], p["gpus"]) for p in placement) == [
            (left.hostname, [0, 1, 2, 3]),
            (right.hostname, [0, 1, 2, 3]),
        ]
        return
    assert fresh(gang).state == JobState.PENDING
    assert gpus_of(gang) == []
    # No fabric joins the two nodes: with this inventory it can never run, and says so.
    assert "one node or one network fabric of pool" in fresh(gang).state_reason
    assert "has 4 at most" in fresh(gang).state_reason
    (small,) = scene.submit(world.alpha, 4)  # behind the gang, and it fits
    scene.schedule()
    assert fresh(small).state == JobState.ADMITTED
    assert gpus_of(gang) == []


@pytest.mark.parametrize(("strategy", "nodes_used"), [("pack", 1), ("spread", 2)])
def test_the_pools_placement_setting_packs_or_spreads(scene: Scene, world: Any, strategy: str, nodes_used: int) -> None:
    scene.nodes(2)
    Pool.objects.filter(pk=scene.pool.pk).update(placement=strategy)
    jobs = scene.submit(world.alpha, 2, 2)

    scene.schedule()

    assert len({host for job in jobs for host, _ in gpus_of(job)}) == nodes_used


def test_cordoned_draining_down_and_maintenance_nodes_and_failed_gpus_are_skipped(scene: Scene, world: Any) -> None:
    (ready,) = scene.nodes(1)
    scene.nodes(1, state="cordoned")
    scene.nodes(1, state="draining")
    scene.nodes(1, state="down")
    (servicing,) = scene.nodes(1)
    MaintenanceWindowFactory(node=servicing, starts_at=timezone.now() - timedelta(minutes=5))
    (later,) = scene.nodes(1)
    MaintenanceWindowFactory(node=later, starts_at=timezone.now() + timedelta(hours=1))
    (sick,) = scene.nodes(1)
    sick.accelerators.filter(index=3).update(health="failed")
    jobs = scene.submit(world.alpha, 8, 4)

    assert scene.schedule() == 2

    hosts = {host for job in jobs for host, _ in gpus_of(job)}
    assert hosts == {ready.hostname, later.hostname}
    waiting = [fresh(job) for job in jobs if fresh(job).state == JobState.PENDING]
    assert len(waiting) == 2
    assert waiting[0].state_reason.startswith(f"Waiting for 8 × H100 SXM in pool {POOL}: ")
    (seven,) = scene.submit(world.alpha, 7)
    scene.schedule()
    assert {host for host, _ in gpus_of(seven)} == {sick.hostname}
    assert 3 not in [index for _, index in gpus_of(seven)]


def test_a_waiting_gang_names_the_fabric(scene: Scene, world: Any) -> None:
    scene.nodes(2, 4, fabric=NetworkFabricFactory(organisation=world.org, name="ib-east"))
    scene.nodes(1, 4, fabric=NetworkFabricFactory(organisation=world.org, name="ib-west"))
    scene.submit(world.alpha, 2)  # takes 2 of ib-east's 8
    scene.schedule()
    (gang,) = scene.submit(world.alpha, 8)

    scene.schedule()

    assert "(fabric ib-east)" in fresh(gang).state_reason


def test_a_gpu_job_without_a_pool_in_a_cluster_with_pools_is_not_admitted_outside_quotas(
    scene: Scene, world: Any, fake_backend: Any
) -> None:
    scene.nodes(1)
    a100 = AcceleratorModel.objects.get(name="A100 80GB SXM")
    other = NodeFactory(cluster=scene.cluster)
    for index in range(8):
        AcceleratorFactory(node=other, index=index, model=a100)
    ensure_pools()
    scene.quota(world.alpha, 8)  # beta has no quota anywhere and is in no cohort
    job = JobFactory(team=world.beta, cluster=scene.cluster, gpus=1, accelerator_model="")

    admit_pending()

    assert fresh(job).state == JobState.PENDING
    assert fresh(job).state_reason


# --- ordering: no head-of-line blocking, and starvation -------------------------------------------


def test_a_big_job_that_does_not_fit_does_not_block_a_small_one_behind_it(scene: Scene, world: Any) -> None:
    scene.nodes(1)
    scene.submit(world.beta, 4)
    scene.schedule()
    (big,) = scene.submit(world.alpha, 8)
    (small,) = scene.submit(world.alpha, 2)
    (other,) = scene.submit(world.beta, 1)

    assert scene.schedule() == 2

    assert fresh(big).state == JobState.PENDING
    assert (fresh(small).state, fresh(other).state) == (JobState.ADMITTED, JobState.ADMITTED)
    assert fresh(big).state_reason == (
        f"Waiting for 8 × H100 SXM in pool {POOL}: the pool has 4 free H100 SXM GPUs, fewer than the 8 asked; "
        "the most on one node is 4."
    )


def test_a_starving_large_job_eventually_runs(scene: Scene, world: Any, settings: Any) -> None:
    settings.PADDOCK_SCHEDULER_STARVATION_SECONDS = 60
    scene.nodes(1)
    scene.submit(world.alpha, 1, 8)
    scene.schedule()
    (big,) = scene.submit(world.beta, 8)
    rng = random.Random(7)

    def churn() -> list[Job]:
        """Two of alpha's jobs end, alpha submits two more, and a pass runs."""
        for job in rng.sample(scene.holding(world.alpha), 2):
            scene.finish(job)
        fresh_jobs = scene.submit(world.alpha, 1, 2)
        scene.schedule()
        return fresh_jobs

    for _ in range(5):  # not starving yet: small jobs keep taking the freed GPUs
        churn()
        assert fresh(big).state == JobState.PENDING
    assert scene.used(world.alpha) == 8

    Job.objects.filter(pk=big.pk).update(
        created_at=timezone.now() - timedelta(minutes=5), queued_at=timezone.now() - timedelta(minutes=5)
    )
    for rounds in range(1, 10):
        behind = churn()
        if fresh(big).state == JobState.ADMITTED:
            break
        assert "the pool now holds capacity for it" in fresh(big).state_reason
        assert fresh(behind[0]).state_reason == (
            f"Waiting behind job {big.pk}, which has waited over 1 minute: pool {POOL} holds capacity for it."
        )
    assert fresh(big).state == JobState.ADMITTED
    assert rounds == 4  # 8 GPUs free after four rounds of two finishing jobs
    assert scene.used(world.alpha) == 0


def test_a_job_that_can_never_fit_does_not_hold_the_pool(scene: Scene, world: Any, settings: Any) -> None:
    settings.PADDOCK_SCHEDULER_STARVATION_SECONDS = 60
    scene.nodes(2)
    (huge,) = scene.submit(world.alpha, 24)
    Job.objects.filter(pk=huge.pk).update(
        created_at=timezone.now() - timedelta(hours=1), queued_at=timezone.now() - timedelta(hours=1)
    )
    (small,) = scene.submit(world.beta, 1)

    scene.schedule()

    assert fresh(small).state == JobState.ADMITTED


def test_a_job_no_fabric_can_ever_place_does_not_hold_the_pool(scene: Scene, world: Any, settings: Any) -> None:
    settings.PADDOCK_SCHEDULER_STARVATION_SECONDS = 60
    scene.nodes(2)  # 16 GPUs, but no fabric joins the two nodes: a 12-GPU gang can never be placed
    (gang,) = scene.submit(world.alpha, 12)
    Job.objects.filter(pk=gang.pk).update(
        created_at=timezone.now() - timedelta(hours=1), queued_at=timezone.now() - timedelta(hours=1)
    )
    (small,) = scene.submit(world.beta, 1)

    scene.schedule()

    assert fresh(small).state == JobState.ADMITTED
    assert "holds capacity" not in fresh(gang).state_reason


def test_a_requeued_old_job_does_not_starve_at_once(scene: Scene, world: Any) -> None:
    first, _ = scene.nodes(2)
    (old,) = scene.submit(world.alpha, 8)
    scene.schedule()
    scene.submit(world.alpha, 4)
    scene.schedule()
    long_ago = timezone.now() - timedelta(hours=2)
    Job.objects.filter(pk=old.pk).update(
        created_at=long_ago - timedelta(hours=1), queued_at=long_ago - timedelta(hours=1)
    )
    old.attempts.update(created_at=long_ago)  # it was admitted two hours ago and ran until now
    Node.objects.filter(pk=first.pk).update(state="down")
    scene.schedule()
    assert fresh(old).state == JobState.PENDING
    (small,) = scene.submit(world.alpha, 1)

    scene.schedule()

    assert fresh(small).state == JobState.ADMITTED
    assert "holds capacity" not in fresh(old).state_reason


# --- pending reasons ------------------------------------------------------------------------------


def test_the_pending_reason_reads_like_the_issues_example(scene: Scene, world: Any) -> None:
    research = scene.cohort("research")
    nlp = scene.team("nlp", research)
    cv = scene.team("cv", research)
    scene.nodes(3)
    scene.quota(nlp, 16)
    scene.quota(cv, 8)
    scene.submit(nlp, 1, 12)
    scene.submit(cv, 1, 8)
    scene.schedule()
    (job,) = scene.submit(nlp, 8)

    scene.schedule()

    assert fresh(job).state_reason == (
        "Waiting for 8 × H100 SXM in pool gpu-a-h100-sxm: team nlp uses 12 of its 16 guaranteed, "
        "the cohort research has 0 idle to lend."
    )


def test_a_waiting_job_gets_an_event_when_its_kind_of_wait_changes_not_every_pass(scene: Scene, world: Any) -> None:
    scene.nodes(1)
    scene.submit(world.beta, 4)
    (job,) = scene.submit(world.alpha, 8)
    for _ in range(3):
        scene.schedule()
    assert job.events.filter(kind=EventKind.WAITING).count() == 1
    scene.submit(world.beta, 2)  # the same wait, other numbers: the reason follows, no new event
    scene.schedule()
    scene.schedule()
    assert "the pool has 2 free H100 SXM GPUs" in fresh(job).state_reason
    assert job.events.filter(kind=EventKind.WAITING).count() == 1
    scene.quota(world.beta, 8)  # now alpha has no quota: another kind of wait
    scene.schedule()
    assert "team alpha has no quota" in fresh(job).state_reason
    assert job.events.filter(kind=EventKind.WAITING).count() == 2
