"""Preemption in Kueue's terms: a team is a ClusterQueue, the pool its flavor, the cohort its
cohort; each scenario says what runs, what is pending, what must be preempted and what must
not, and drives ``admit_pending()`` on real rows (invariants checked after every pass).

Scenarios named ``test_kueue_*`` are ports of Kueue's own published cases
(pkg/scheduler/preemption/preemption_test.go, TestPreemption), with its ClusterQueues, quotas
(CPUs, the cohort's capacity as the pool's), priorities and policies; the others are the bugs of
issue 10, each named after the rule it proves.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.admission.pools import ensure_pools
from apps.admission.scheduler import admit_pending
from apps.jobs.choices import HOLDING_STATES, EventKind, JobState
from apps.jobs.models import Job
from apps.quotas.choices import FairSharingStrategy
from apps.quotas.models import Cohort, Pool, Quota, TeamPolicy
from tests.admission.invariants import check_invariants
from tests.factories import JobFactory, NodeFactory, TeamFactory


class Kueue:
    """One CPU pool of a given size, teams (ClusterQueues) with guarantees (nominal quotas),
    per-team policies and a cohort."""

    def __init__(self, org: Any, cluster: Any, cpus: int) -> None:
        self.org = org
        self.cluster = cluster
        NodeFactory(cluster=cluster, cpus=cpus)
        ensure_pools()
        self.pool = Pool.objects.get(cluster=cluster, accelerator_model__isnull=True)

    def cohort(self, name: str = "cohort", **fields: Any) -> Cohort:
        fields.setdefault("reclaim_from_borrowers", False)
        return Cohort.objects.create(organisation=self.org, name=name, **fields)

    def team(
        self,
        slug: str,
        guaranteed: int,
        cohort: Cohort | None = None,
        *,
        max: int | None = None,
        weight: float = 1,
        **policy: Any,
    ) -> Any:
        """A ClusterQueue: ``guaranteed`` is its nominal quota, ``max`` nominal + borrowing limit;
        ``policy`` (Kueue's preemption fields) makes it a team with a policy of its own."""
        team = TeamFactory(organisation=self.org, slug=slug, cohort=cohort)
        Quota.objects.create(team=team, pool=self.pool, guaranteed=guaranteed, max=max, weight=weight)
        if policy:
            TeamPolicy.objects.create(team=team, **policy)
        return team

    def submit(self, team: Any, cpus: int, priority: int = 0, **fields: Any) -> Job:
        return JobFactory(team=team, cluster=self.cluster, gpus=0, cpus=cpus, memory_gb=0, priority=priority, **fields)

    def run(self, team: Any, cpus: int, priority: int = 0) -> Job:
        """Admit a job now (one pass each, so later ones are admitted later)."""
        job = self.submit(team, cpus, priority)
        self.schedule()
        job.refresh_from_db()
        assert job.state in HOLDING_STATES, job.state_reason
        return job

    def schedule(self) -> int:
        admitted = admit_pending()
        assert check_invariants() == []
        return admitted

    @staticmethod
    def preempted() -> set[int]:
        return set(Job.objects.filter(events__kind=EventKind.PREEMPTED).values_list("id", flat=True))

    @staticmethod
    def holding(*jobs: Job) -> bool:
        return all(Job.objects.get(pk=job.pk).state in HOLDING_STATES for job in jobs)

    @staticmethod
    def pending(job: Job) -> Job:
        job.refresh_from_db()
        assert job.state == JobState.PENDING
        return job


@pytest.fixture
def kueue(world: Any) -> Any:
    def make(cpus: int) -> Kueue:
        return Kueue(world.org, world.cluster, cpus)

    return make


def ids(*jobs: Job) -> set[int]:
    return {job.pk for job in jobs}


# --- the bugs of issue 10, each a rule --------------------------------------------------------


def test_a_job_within_its_guarantee_reclaims_and_preempts_its_own_lower_priority_work_together(kueue: Any) -> None:
    """Kueue considers other teams' borrowing work and the team's own lower-priority work
    together (without borrowing) and takes the minimal set."""
    k = kueue(6)
    cohort = k.cohort(reclaim_from_borrowers=True, preempt_lower_priority=True)
    a = k.team("a", 4, cohort)
    b = k.team("b", 2, cohort)
    a_low = k.run(a, 2, priority=0)
    b1 = k.run(b, 2)
    b2 = k.run(b, 2)  # b borrows 2 of a's idle guarantee

    a_high = k.submit(a, 4, priority=5)
    k.schedule()

    assert k.preempted() == ids(b2, a_low)  # not b1: b is back at its guarantee
    assert k.holding(a_high, b1)
    assert "team a reclaims its guarantee [Kueue: InCohortReclamation]" in Job.objects.get(pk=b2.pk).state_reason
    assert "[Kueue: InClusterQueue]" in Job.objects.get(pk=a_low.pk).state_reason
    k.schedule()
    assert k.preempted() == ids(b2, a_low)


def test_a_job_larger_than_its_guarantee_does_not_preempt_its_own_work_to_borrow_unless_borrow_within_cohort(
    kueue: Any,
) -> None:
    k = kueue(6)
    cohort = k.cohort()
    a = k.team("a", 2, cohort, within_team="LowerPriority", reclaim_within_cohort="Any")
    k.team("b", 4, cohort)  # idle: lends 4
    k.run(a, 2)
    a_low = k.run(a, 2)

    a_high = k.submit(a, 3, priority=5)
    k.schedule()
    k.schedule()

    assert k.preempted() == set()
    assert "the cohort cohort has" in k.pending(a_high).state_reason

    TeamPolicy.objects.filter(team=a).update(borrow_within_cohort="LowerPriority")
    k.schedule()

    assert k.preempted() == ids(a_low)  # the youngest of its own lower-priority work, and no more
    assert k.holding(a_high)


def test_issue_reproduction_preempt_while_borrowing_protects_a_victim_team_back_at_its_guarantee(kueue: Any) -> None:
    """4 CPUs; a, x guaranteed 1, s 2 (idle); a1 (a, 5), x1 (x, −1), x2 (x, −2) run; a's 3-CPU
    job at priority 10 must borrow 2: preempting x2 brings x back to its guarantee, so x1 is
    protected, and 3 CPUs cannot be had without it; nothing is preempted, and nothing flaps."""
    k = kueue(4)
    cohort = k.cohort(reclaim_from_borrowers=True, preempt_while_borrowing=True)
    a = k.team("a", 1, cohort)
    x = k.team("x", 1, cohort)
    k.team("s", 2, cohort)
    a1 = k.run(a, 1, priority=5)
    x1 = k.run(x, 1, priority=-1)
    x2 = k.run(x, 1, priority=-2)

    big = k.submit(a, 3, priority=10)
    for _ in range(3):
        k.schedule()

    assert k.preempted() == set()
    assert k.holding(a1, x1, x2)
    k.pending(big)


def test_while_borrowing_other_teams_borrowing_work_is_preempted_before_the_own_teams(kueue: Any) -> None:
    k = kueue(6)
    cohort = k.cohort()
    policy = {"within_team": "LowerPriority", "reclaim_within_cohort": "Any", "borrow_within_cohort": "LowerPriority"}
    a = k.team("a", 2, cohort, **policy)
    b = k.team("b", 2, cohort, **policy)
    k.team("c", 2, cohort, **policy)
    a_low = k.run(a, 2)
    b_low = k.run(b, 2)
    b_borrowing = k.run(b, 2)

    a_high = k.submit(a, 2, priority=5)  # a must borrow 2
    k.schedule()

    assert k.preempted() == ids(b_borrowing)
    assert k.holding(a_high, a_low, b_low)


# --- fair sharing -------------------------------------------------------------------------


def fair_scene(k: Kueue, *, b_weight: float = 1, a_weight: float = 1, job_cpus: int = 1, **cohort: Any) -> tuple:
    """8 CPUs; a and b guaranteed 2, c 4 (idle, lends). a runs 2 (its guarantee); b borrows 4."""
    fair = k.cohort(fair_sharing=True, **cohort)
    policy = {"reclaim_within_cohort": "Any"}
    a = k.team("a", 2, fair, weight=a_weight, **policy)
    b = k.team("b", 2, fair, weight=b_weight, **policy)
    k.team("c", 4, fair, **policy)
    k.run(a, 2)
    b_jobs = [k.run(b, job_cpus) for _ in range(6 // job_cpus)]
    return a, b, b_jobs


def test_fair_sharing_preempts_a_borrower_down_to_the_preemptors_share_and_no_further(kueue: Any) -> None:
    k = kueue(8)
    a, _, b_jobs = fair_scene(k)

    wants = k.submit(a, 2)  # a would borrow 2 (share 2/8); b borrows 4 (4/8)
    k.schedule()

    assert k.preempted() == ids(*b_jobs[-2:])  # the youngest two: b ends at 2/8, as a does
    assert k.holding(wants)
    reason = Job.objects.get(pk=b_jobs[-1].pk).state_reason
    assert "fair sharing in cohort cohort: team a's share" in reason
    assert "[Kueue: InCohortFairSharing]" in reason


def test_fair_sharing_weights_protect_a_heavier_teams_borrowing(kueue: Any) -> None:
    k = kueue(8)
    a, _, _ = fair_scene(k, b_weight=2)  # b's share 4/8/2 = a's would-be 2/8

    wants = k.submit(a, 2)
    k.schedule()

    assert k.preempted() == set()
    k.pending(wants)


def test_fair_sharing_a_heavier_preemptor_takes_more(kueue: Any) -> None:
    k = kueue(8)
    a, _, b_jobs = fair_scene(k, a_weight=4, b_weight=1)

    wants = k.submit(a, 2)
    k.schedule()

    assert k.preempted() == ids(*b_jobs[-2:])
    assert k.holding(wants)


def test_fair_sharing_less_than_initial_share_allows_what_less_than_or_equal_to_final_share_refuses(
    kueue: Any,
) -> None:
    """b runs two 3-CPU jobs (borrows 4, share 4/8); a wants 2 (share 2/8 after). Taking one of
    b's leaves b at 1/8 < 2/8, so LessThanOrEqualToFinalShare refuses; LessThanInitialShare
    (2/8 < b's 4/8 before) allows it, and is Kueue's second rule by default."""
    k = kueue(8)
    a, _, b_jobs = fair_scene(
        k, job_cpus=3, fair_sharing_strategies=[FairSharingStrategy.LESS_THAN_OR_EQUAL_TO_FINAL_SHARE]
    )
    wants = k.submit(a, 2)
    k.schedule()
    assert k.preempted() == set()
    k.pending(wants)

    Cohort.objects.update(
        fair_sharing_strategies=[
            FairSharingStrategy.LESS_THAN_OR_EQUAL_TO_FINAL_SHARE,
            FairSharingStrategy.LESS_THAN_INITIAL_SHARE,
        ]
    )
    k.schedule()
    assert k.preempted() == ids(b_jobs[-1])
    assert k.holding(wants)


def test_without_fair_sharing_a_job_that_must_borrow_preempts_no_borrower(kueue: Any) -> None:
    k = kueue(8)
    a, _, _ = fair_scene(k)
    Cohort.objects.update(fair_sharing=False)

    wants = k.submit(a, 2)
    k.schedule()

    assert k.preempted() == set()
    k.pending(wants)


def test_fair_sharing_within_its_guarantee_a_team_reclaims_regardless_of_shares(kueue: Any) -> None:
    k = kueue(8)
    fair = k.cohort(fair_sharing=True)
    a = k.team("a", 4, fair, weight=1, reclaim_within_cohort="Any")
    b = k.team("b", 4, fair, weight=100, reclaim_within_cohort="Any")
    b_jobs = [k.run(b, 1) for _ in range(8)]

    wants = k.submit(a, 3)
    k.schedule()

    assert k.preempted() == ids(*b_jobs[-3:])
    assert k.holding(wants)


# --- Kueue's own cases (preemption_test.go, TestPreemption) ----------------------------------


def kueue_c1_c2(k: Kueue) -> tuple[Any, Any]:
    """Kueue's c1 (6 CPUs, borrowing limit 6; withinClusterQueue LowerPriority, reclaim
    LowerPriority) and c2 (6, 6; Never, reclaim Any) in one cohort of 12 CPUs."""
    cohort = k.cohort()
    c1 = k.team("c1", 6, cohort, max=12, within_team="LowerPriority", reclaim_within_cohort="LowerPriority")
    c2 = k.team("c2", 6, cohort, max=12, within_team="Never", reclaim_within_cohort="Any")
    return c1, c2


def test_kueue_do_not_reclaim_borrowed_quota_from_same_priority_for_reclaim_lower_priority(kueue: Any) -> None:
    k = kueue(12)
    c1, c2 = kueue_c1_c2(k)
    c1_job = k.run(c1, 2)
    c2_jobs = [k.run(c2, 4), k.run(c2, 4)]

    incoming = k.submit(c1, 4)
    k.schedule()

    assert k.preempted() == set()
    assert k.holding(c1_job, *c2_jobs)
    k.pending(incoming)


def test_kueue_reclaim_borrowed_quota_from_same_priority_for_reclaim_any(kueue: Any) -> None:
    k = kueue(12)
    c1, c2 = kueue_c1_c2(k)
    c1_1 = k.run(c1, 4, priority=0)
    c1_2 = k.run(c1, 4, priority=1)
    k.run(c2, 2)

    incoming = k.submit(c2, 4)
    k.schedule()

    assert k.preempted() == ids(c1_1)
    assert k.holding(incoming, c1_2)


def test_kueue_preempting_locally_and_borrowing_same_resource_in_cohort(kueue: Any) -> None:
    k = kueue(12)
    c1, c2 = kueue_c1_c2(k)
    c1_med = k.run(c1, 4, priority=0)
    c1_low = k.run(c1, 4, priority=-1)
    c2_low = k.run(c2, 4, priority=-1)

    incoming = k.submit(c1, 4, priority=1)
    k.schedule()

    assert k.preempted() == ids(c1_low)
    assert k.holding(incoming, c1_med, c2_low)


def test_kueue_preempt_newer_workloads_with_the_same_priority(kueue: Any) -> None:
    """Kueue's ``preventStarvation`` ClusterQueue (6 CPUs, no cohort, LowerOrNewerEqualPriority)."""
    k = kueue(6)
    team = k.team("prevent-starvation", 6, within_team="LowerOrNewerEqualPriority")
    k.run(team, 2, priority=2)
    wl3 = k.run(team, 2, priority=1)
    wl2 = k.run(team, 2, priority=1)  # admitted last

    earlier = timezone.now() - timedelta(seconds=15)
    incoming = k.submit(team, 2, priority=1, queued_at=earlier, created_at=earlier)
    k.schedule()

    assert k.preempted() == ids(wl2)
    assert k.holding(incoming, wl3)


def test_lower_priority_within_a_team_never_preempts_equal_priority(kueue: Any) -> None:
    k = kueue(6)
    team = k.team("standalone", 6, within_team="LowerPriority")
    running = [k.run(team, 2, priority=1) for _ in range(3)]

    earlier = timezone.now() - timedelta(seconds=15)
    incoming = k.submit(team, 2, priority=1, queued_at=earlier, created_at=earlier)
    k.schedule()

    assert k.preempted() == set()
    assert k.holding(*running)
    k.pending(incoming)


def kueue_with_shared_cq(k: Kueue) -> dict[str, Any]:
    """Kueue's cohort ``with_shared_cq``: a_standard, b_standard, a_best_effort (nominal 1,
    borrowing limit 12), b_best_effort (0, 13) and shared (10, no preemption); borrowWithinCohort
    LowerPriority with maxPriorityThreshold 0 on the four."""
    cohort = k.cohort("with-shared-cq")
    bwc = {"borrow_within_cohort": "LowerPriority", "borrow_max_priority_threshold": 0}
    return {
        "a_standard": k.team(
            "a-standard", 1, cohort, max=13, within_team="Never", reclaim_within_cohort="LowerPriority", **bwc
        ),
        "b_standard": k.team(
            "b-standard", 1, cohort, max=13, within_team="LowerPriority", reclaim_within_cohort="Any", **bwc
        ),
        "a_best_effort": k.team(
            "a-best-effort", 1, cohort, max=13, within_team="Never", reclaim_within_cohort="LowerPriority", **bwc
        ),
        "b_best_effort": k.team(
            "b-best-effort", 0, cohort, max=13, within_team="Never", reclaim_within_cohort="LowerPriority", **bwc
        ),
        "shared": k.team("shared", 10, cohort, within_team="Never", reclaim_within_cohort="Never"),
    }


def test_kueue_borrow_within_cohort_preempts_a_lower_priority_workload_of_another_team_while_borrowing(
    kueue: Any,
) -> None:
    k = kueue(13)
    cq = kueue_with_shared_cq(k)
    a_best_effort_low = k.run(cq["a_best_effort"], 10, priority=-1)
    b_best_effort_low = k.run(cq["b_best_effort"], 1, priority=-1)

    incoming = k.submit(cq["a_standard"], 10, priority=0)
    k.schedule()

    assert k.preempted() == ids(a_best_effort_low)
    assert k.holding(incoming, b_best_effort_low)


def test_kueue_borrow_within_cohort_spares_priority_above_the_threshold_when_still_borrowing(kueue: Any) -> None:
    k = kueue(13)
    cq = kueue_with_shared_cq(k)
    b_standard = k.run(cq["b_standard"], 10, priority=1)

    incoming = k.submit(cq["a_standard"], 10, priority=2)
    k.schedule()

    assert k.preempted() == set()
    assert k.holding(b_standard)
    k.pending(incoming)


def test_kueue_borrow_within_cohort_preempts_above_the_threshold_when_not_borrowing_after(kueue: Any) -> None:
    k = kueue(13)
    cq = kueue_with_shared_cq(k)
    b_standard = k.run(cq["b_standard"], 13, priority=1)

    incoming = k.submit(cq["a_standard"], 1, priority=2)
    k.schedule()

    assert k.preempted() == ids(b_standard)
    assert k.holding(incoming)


def test_kueue_borrow_within_cohort_does_not_preempt_the_own_team_when_within_team_is_never(kueue: Any) -> None:
    k = kueue(13)
    cq = kueue_with_shared_cq(k)
    a_standard = k.run(cq["a_standard"], 13, priority=1)

    incoming = k.submit(cq["a_standard"], 1, priority=2)
    k.schedule()

    assert k.preempted() == set()
    assert k.holding(a_standard)
    k.pending(incoming)


def test_a_team_without_a_policy_of_its_own_follows_its_cohorts_switches(kueue: Any) -> None:
    k = kueue(4)
    cohort = k.cohort(preempt_lower_priority=True)
    a = k.team("a", 4, cohort)
    low = k.run(a, 4, priority=0)

    high = k.submit(a, 4, priority=5)
    k.schedule()
    assert k.preempted() == ids(low)
    assert k.holding(high)

    TeamPolicy.objects.create(team=a, within_team="Never")  # its own policy wins over the cohort's
    higher = k.submit(a, 4, priority=9)
    k.schedule()
    assert k.preempted() == ids(low)
    k.pending(higher)


# --- more of Kueue's TestPreemption, as a table: its ClusterQueues, what runs (admitted in this
# order), the incoming workload and what it must preempt ---------------------------------------

Running = tuple[str, str, int, int]  # (name, ClusterQueue, CPUs, priority)


def standalone(k: Kueue) -> dict[str, Any]:
    """Kueue's ``standalone``: 6 CPUs, no cohort, withinClusterQueue LowerPriority."""
    return {"standalone": k.team("standalone", 6, within_team="LowerPriority")}


def c1_c2(k: Kueue) -> dict[str, Any]:
    c1, c2 = kueue_c1_c2(k)
    return {"c1": c1, "c2": c2}


def lend(k: Kueue) -> dict[str, Any]:
    """Kueue's ``cohort-lend``: lend1 (6 CPUs, lending limit 4) and lend2 (6, lending limit 2),
    both LowerPriority within and reclaiming."""
    cohort = k.cohort("cohort-lend")
    policy = {"within_team": "LowerPriority", "reclaim_within_cohort": "LowerPriority"}
    teams = {}
    for name, lending in (("lend1", 4), ("lend2", 2)):
        teams[name] = k.team(name, 6, cohort, **policy)
        Quota.objects.filter(team=teams[name]).update(lending_limit=lending)
    return teams


def shared(k: Kueue) -> dict[str, Any]:
    return {name.replace("-", "_"): team for name, team in kueue_with_shared_cq(k).items()}


KUEUE_CASES: dict[str, tuple[Any, list[Running], tuple[str, int, int], set[str]]] = {
    "preempt lowest priority": (
        standalone,
        [("low", "standalone", 2, -1), ("mid", "standalone", 2, 0), ("high", "standalone", 2, 1)],
        ("standalone", 2, 1),
        {"low"},
    ),
    "preempt multiple": (
        standalone,
        [("low", "standalone", 2, -1), ("mid", "standalone", 2, 0), ("high", "standalone", 2, 1)],
        ("standalone", 3, 1),
        {"low", "mid"},
    ),
    "no preemption for low priority": (
        standalone,
        [("low", "standalone", 3, -1), ("mid", "standalone", 3, 0)],
        ("standalone", 1, -1),
        set(),
    ),
    "some free quota, preempt low priority": (
        standalone,
        [("low", "standalone", 1, -1), ("mid", "standalone", 1, 0), ("high", "standalone", 3, 1)],
        ("standalone", 2, 1),
        {"low"},
    ),
    "minimal set excludes low priority": (
        standalone,
        [("low", "standalone", 1, -1), ("mid", "standalone", 2, 0), ("high", "standalone", 3, 1)],
        ("standalone", 2, 1),
        {"mid"},
    ),
    "reclaim quota from borrower": (
        c1_c2,
        [("c1-low", "c1", 3, -1), ("c2-high", "c2", 6, 1), ("c2-mid", "c2", 3, 0)],
        ("c1", 3, 1),
        {"c2-mid"},
    ),
    "not enough workloads borrowing": (
        c1_c2,
        [("c1-high", "c1", 4, 1), ("c2-low-1", "c2", 4, -1), ("c2-low-2", "c2", 4, -1)],
        ("c1", 4, 1),
        set(),
    ),
    "preempt from all ClusterQueues in cohort": (
        c1_c2,
        [("c1-low", "c1", 3, -1), ("c1-mid", "c1", 2, 0), ("c2-low", "c2", 3, -1), ("c2-mid", "c2", 4, 0)],
        ("c1", 4, 0),
        {"c1-low", "c2-low"},
    ),
    "reclaim quota from lender": (
        lend,
        [("lend1-low", "lend1", 3, -1), ("lend2-mid", "lend2", 3, 0), ("lend2-high", "lend2", 4, 1)],
        ("lend1", 3, 1),
        {"lend2-mid"},
    ),
    "preempt from all ClusterQueues in cohort-lend": (
        lend,
        [
            ("lend1-low", "lend1", 3, -1),
            ("lend1-mid", "lend1", 2, 0),
            ("lend2-low", "lend2", 3, -1),
            ("lend2-mid", "lend2", 4, 0),
        ],
        ("lend1", 4, 0),
        {"lend1-low", "lend2-low"},
    ),
    "cannot preempt from other ClusterQueues if exceeds requestable quota including lending limit": (
        lend,
        [("lend2-low", "lend2", 10, -1)],
        ("lend1", 9, 0),
        set(),
    ),
    "use BorrowWithinCohort; only preempt from CQ if no workloads below threshold and already above nominal": (
        shared,
        [
            ("b_standard_1", "b_standard", 1, 1),
            ("a_standard_1", "a_standard", 10, 1),
            ("a_standard_2", "a_standard", 1, 1),
            ("b_standard_2", "b_standard", 1, 2),
        ],
        ("b_standard", 1, 3),
        {"b_standard_1"},
    ),
    "use BorrowWithinCohort; preempt from CQ and from other CQs with workloads below threshold": (
        shared,
        [
            ("a_best_effort_low", "a_best_effort", 1, -1),
            ("b_standard_high", "b_standard", 10, 2),
            ("b_standard_mid", "b_standard", 1, 1),
            ("a_best_effort_lower", "a_best_effort", 1, -2),
        ],
        ("b_standard", 2, 2),
        {"a_best_effort_lower", "b_standard_mid"},
    ),
}
KUEUE_POOL_SIZE = {standalone: 6, c1_c2: 12, lend: 12, shared: 13}


@pytest.mark.parametrize("case", list(KUEUE_CASES), ids=list(KUEUE_CASES))
def test_kueue_published_preemption_case(kueue: Any, case: str) -> None:
    queues, running, (queue, cpus, priority), victims = KUEUE_CASES[case]
    k = kueue(KUEUE_POOL_SIZE[queues])
    teams = queues(k)
    jobs = {name: k.run(teams[cq], size, priority=prio) for name, cq, size, prio in running}

    incoming = k.submit(teams[queue], cpus, priority=priority)
    k.schedule()

    assert k.preempted() == {jobs[name].pk for name in victims}
    assert k.holding(*(job for name, job in jobs.items() if name not in victims))
    if victims:
        assert k.holding(incoming)
    else:
        k.pending(incoming)


# --- Kueue's TestFairPreemptions (preemption_fair_test.go), whole-CPU cases ------------------
# Kueue breaks ties between workloads admitted at the same instant by UID (their names); here
# they are admitted one by one, so each case lists them so that Kueue's first is admitted last.

S2A, S2B = FairSharingStrategy.LESS_THAN_OR_EQUAL_TO_FINAL_SHARE, FairSharingStrategy.LESS_THAN_INITIAL_SHARE


def fair_base(k: Kueue, *, strategies: list[str] | None = None, a_weight: float = 1) -> dict[str, Any]:
    """Kueue's ``baseCQs``: a, b, c (3 CPUs each; LowerPriority within, reclaim Any, borrow
    within cohort LowerPriority up to priority −3) and ``preemptible`` (0 CPUs), one fair cohort."""
    cohort = k.cohort("all", fair_sharing=True, fair_sharing_strategies=strategies or [S2A, S2B])
    policy = {
        "within_team": "LowerPriority",
        "reclaim_within_cohort": "Any",
        "borrow_within_cohort": "LowerPriority",
        "borrow_max_priority_threshold": -3,
    }
    teams = {name: k.team(name, 3, cohort, weight=a_weight if name == "a" else 1, **policy) for name in "abc"}
    teams["preemptible"] = k.team("preemptible", 0, cohort)
    return teams


def units(cq: str, *names: str, priority: int = 0) -> list[Running]:
    return [(name, cq, 1, priority) for name in names]


FAIR_CASES: dict[str, tuple[dict[str, Any], list[Running], tuple[str, int, int], set[str]]] = {
    "reclaim nominal from user using the most": (
        {},
        units("a", "a1", "a2", "a3") + units("b", "b5", "b4", "b3", "b2", "b1") + units("c", "c1"),
        ("c", 1, 0),
        {"b1"},
    ),
    "can reclaim from queue using less, if taking the latest workload from user using the most isn't enough": (
        {},
        [("a2", "a", 1, 0), ("a1", "a", 3, 0), ("b2", "b", 3, 0), ("b1", "b", 2, 0)],
        ("c", 3, 0),
        {"a1"},
    ),
    "reclaim borrowable quota from user using the most": (
        {},
        units("a", "a1", "a2", "a3") + units("b", "b5", "b4", "b3", "b2", "b1") + units("c", "c1"),
        ("a", 1, 0),
        {"b1"},
    ),
    "can't preempt when everyone under nominal": (
        {},
        units("a", "a1", "a2", "a3") + units("b", "b1", "b2", "b3") + units("c", "c1", "c2", "c3"),
        ("c", 1, 0),
        set(),
    ),
    "can't preempt when it would switch the imbalance": (
        {},
        units("a", "a1", "a2", "a3") + units("b", "b1", "b2", "b3", "b4", "b5"),
        ("a", 2, 0),
        set(),
    ),
    "can preempt lower priority workloads from same CQ": (
        {},
        units("a", "a2_low", "a1_low", priority=-1) + units("a", "a3", "a4") + units("b", "b1", "b2", "b3", "b4", "b5"),
        ("a", 2, 0),
        {"a1_low", "a2_low"},
    ),
    "can preempt a combination of same CQ and highest user": (
        {},
        units("a", "a_low", priority=-1) + units("a", "a2", "a3") + units("b", "b6", "b5", "b4", "b3", "b2", "b1"),
        ("a", 2, 0),
        {"a_low", "b1"},
    ),
    "preempt huge workload if there is no other option, as long as the target CQ gets a lower share": (
        {},
        [("b1", "b", 9, 0)],
        ("a", 2, 0),
        {"b1"},
    ),
    "can't preempt huge workload if the incoming is also huge": (
        {},
        [("a1", "a", 2, 0), ("b1", "b", 7, 0)],
        ("a", 5, 0),
        set(),
    ),
    "can't preempt 2 smaller workloads if the incoming is huge": (
        {},
        [("b3", "b", 3, 0), ("b2", "b", 2, 0), ("b1", "b", 2, 0)],
        ("a", 6, 0),
        set(),
    ),
    "preempt from target and others even if over nominal": (
        {},
        [("a2_low", "a", 1, -1), ("a1_low", "a", 2, -1), ("b2", "b", 3, 0), ("b1", "b", 3, 0)],
        ("a", 4, 0),
        {"a1_low", "b1"},
    ),
    "cannot preempt if it would make the candidate CQ go under nominal after preempting one element": (
        {},
        [("b2", "b", 3, 0), ("b1", "b", 3, 0), ("c1", "c", 3, 0)],
        ("a", 4, 0),
        set(),
    ),
    "workloads under priority threshold not capriciously preempted": (
        {},
        units("a", "a1", "a2", "a3")
        + units("b", "b1", "b2", "b3")
        + units("preemptible", "preemptible3", "preemptible2", "preemptible1", priority=-3),
        ("a", 2, 0),
        set(),
    ),
    "preempt lower priority first, even if big": (
        {"strategies": [S2B]},
        [("a1", "a", 3, 0), ("b_low", "b", 5, 0), ("b_high", "b", 1, 1)],
        ("a", 1, 0),
        {"b_low"},
    ),
    "preempt workload that doesn't transfer the imbalance, even if high priority": (
        {"strategies": [S2A]},
        [("a1", "a", 3, 0), ("b_low", "b", 5, 0), ("b_high", "b", 1, 1)],
        ("a", 1, 0),
        {"b_high"},
    ),
    "CQ with higher weight can preempt more": (
        {"a_weight": 2},
        units("a", "a1", "a2", "a3") + units("b", "b6", "b5", "b4", "b3", "b2", "b1"),
        ("a", 2, 0),
        {"b1", "b2"},
    ),
}


@pytest.mark.parametrize("case", list(FAIR_CASES), ids=list(FAIR_CASES))
def test_kueue_published_fair_preemption_case(kueue: Any, case: str) -> None:
    options, running, (queue, cpus, priority), victims = FAIR_CASES[case]
    k = kueue(9)
    teams = fair_base(k, **options)
    jobs = {name: k.run(teams[cq], size, priority=prio) for name, cq, size, prio in running}

    incoming = k.submit(teams[queue], cpus, priority=priority)
    k.schedule()

    assert k.preempted() == {jobs[name].pk for name in victims}
    if victims:
        assert k.holding(incoming)
    else:
        k.pending(incoming)


def test_kueue_fair_sharing_can_preempt_within_a_team_when_no_cohort(kueue: Any) -> None:
    k = kueue(1)
    team = k.team("a", 1, within_team="LowerPriority")
    a1 = k.run(team, 1)

    incoming = k.submit(team, 1, priority=1000)
    k.schedule()

    assert k.preempted() == ids(a1)
    assert k.holding(incoming)
