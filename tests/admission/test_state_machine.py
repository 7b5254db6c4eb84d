"""A Hypothesis state machine over submit / finish / quota change / node loss / per-team policy
change / fair sharing on and off / scheduler pass:
after every pass, and after anything else once a pass has run, the independent invariants hold.

Each example runs inside a savepoint of the test's transaction and rolls it back at teardown,
so examples never see one another's rows.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from apps.admission.apply import apply_decisions
from apps.admission.decide import decide
from apps.admission.policy import TeamPolicy as PassPolicy
from apps.admission.pools import ensure_pools
from apps.admission.scheduler import admit_pending
from apps.admission.state import load_candidates, load_state
from apps.inventory.models import AcceleratorModel, Node
from apps.jobs.choices import HOLDING_STATES, EventKind, JobState
from apps.jobs.models import Job
from apps.jobs.services import move_job
from apps.quotas.choices import WhenCanBorrow, WhenCanPreempt
from apps.quotas.models import Cohort, Pool, Quota, TeamPolicy
from apps.quotas.services import FAIR_SHARING_STRATEGY_LISTS
from tests.admission.invariants import check_invariants
from tests.admission.test_semantics import Scene
from tests.factories import (
    AcceleratorFactory,
    ClusterFactory,
    JobFactory,
    NetworkFabricFactory,
    NodeFactory,
    OrganisationFactory,
)

TEAMS = ("t-a", "t-b", "t-solo")  # two in the cohort, one alone
CLASSES = (None, "low", "high", "pinned")
WITHIN_TEAM = ("Never", "LowerPriority", "LowerOrNewerEqualPriority")
RECLAIM = ("Never", "LowerPriority", "Any")
BORROW = ("Never", "LowerPriority")


# What a machine starts from: the cohort's switches, fair sharing, guarantees and a backlog.
SET_UP: dict[str, Any] = {
    "reclaim": st.booleans(),
    "lower_priority": st.booleans(),
    "while_borrowing": st.booleans(),
    "fair": st.booleans(),
    "strategies": st.sampled_from(FAIR_SHARING_STRATEGY_LISTS),
    "guarantees": st.tuples(st.integers(2, 12), st.integers(2, 12), st.integers(2, 8)),
    "backlog": st.lists(
        st.tuples(st.sampled_from(TEAMS), st.sampled_from([1, 1, 2, 4, 8]), st.sampled_from(CLASSES)),
        min_size=4,
        max_size=16,
    ),
}


class QuotaMachine(RuleBasedStateMachine):
    """Three 8-GPU nodes (two on one fabric), a cohort of two teams and a team alone."""

    def __init__(self) -> None:
        super().__init__()
        self.savepoint = transaction.savepoint()
        org = OrganisationFactory(slug="sm")
        self.scene = Scene(org, ClusterFactory(organisation=org, name="gpu-sm", kind="fake", address="fake://sm"))
        self.nodes = self.scene.nodes(2, fabric=NetworkFabricFactory(organisation=org, name="ib"))
        self.nodes += self.scene.nodes(1)
        self.classes = {
            name: self.scene.priority_class(name, value, preemptible=preemptible)
            for name, value, preemptible in (("low", -5, True), ("high", 10, True), ("pinned", 5, False))
        }
        self.teams: dict[str, Any] = {}
        self.dirty = False  # a quota or node changed since the last pass: limits may be broken until it runs

    @initialize(**SET_UP)
    def set_up(
        self,
        reclaim: bool,
        lower_priority: bool,
        while_borrowing: bool,
        fair: bool,
        strategies: list[str],
        guarantees: Any,
        backlog: Any,
    ) -> None:
        """A cohort with its switches (fair sharing on or off), quotas, and a busy start: a
        backlog and a first pass."""
        cohort = self.scene.cohort(
            reclaim_from_borrowers=reclaim,
            preempt_lower_priority=lower_priority,
            preempt_while_borrowing=while_borrowing,
        )
        Cohort.objects.filter(pk=cohort.pk).update(fair_sharing=fair, fair_sharing_strategies=strategies)
        for slug, guaranteed in zip(TEAMS, guarantees, strict=True):
            team = self.scene.team(slug, cohort if slug != "t-solo" else None)
            self.scene.quota(team, guaranteed)
            self.teams[slug] = team
        for slug, gpus, klass in backlog:
            self.scene.submit(self.teams[slug], gpus, klass=self.classes.get(klass or ""))
        self.schedule()

    @rule(
        team=st.sampled_from(TEAMS),
        gpus=st.sampled_from([1, 1, 2, 2, 4, 8, 12]),
        klass=st.sampled_from(CLASSES),
        count=st.integers(1, 4),
    )
    def submit(self, team: str, gpus: int, klass: str | None, count: int) -> None:
        self.scene.submit(self.teams[team], gpus, count, klass=self.classes.get(klass or ""))

    @rule(pick=st.integers(0, 1000), outcome=st.sampled_from([JobState.SUCCEEDED, JobState.FAILED, JobState.PENDING]))
    def finish(self, pick: int, outcome: str) -> None:
        holding = list(Job.objects.filter(state__in=HOLDING_STATES).order_by("id"))
        if holding:
            job = holding[pick % len(holding)]
            event = EventKind.RETRYING if outcome == JobState.PENDING else outcome
            assert move_job(job, from_states=HOLDING_STATES, to_state=outcome, event=event)

    @rule(data=st.data(), team=st.sampled_from(TEAMS))
    def change_quota(self, data: Any, team: str) -> None:
        guaranteed = data.draw(st.integers(0, 16), label="guaranteed")
        ceiling = data.draw(st.none() | st.integers(guaranteed, 20), label="max")
        lending = data.draw(st.none() | st.integers(0, guaranteed), label="lending_limit")
        weight = data.draw(st.sampled_from([1, 2, 3]), label="weight")
        self.scene.quota(self.teams[team], guaranteed, ceiling, lending_limit=lending, weight=weight)
        self.dirty = True

    @rule(team=st.sampled_from(TEAMS[:2]))
    def drop_quota(self, team: str) -> None:
        Quota.objects.filter(team=self.teams[team]).delete()
        self.dirty = True

    @rule(
        team=st.sampled_from(TEAMS),
        within=st.sampled_from(WITHIN_TEAM),
        reclaim=st.sampled_from(RECLAIM),
        borrow=st.sampled_from(BORROW),
        threshold=st.none() | st.sampled_from([-5, 0, 5, 10]),
    )
    def set_team_policy(self, team: str, within: str, reclaim: str, borrow: str, threshold: int | None) -> None:
        """A team's own policy, Kueue's fields (a threshold only with borrowing within the cohort)."""
        TeamPolicy.objects.update_or_create(
            team=self.teams[team],
            defaults={
                "within_team": within,
                "reclaim_within_cohort": reclaim,
                "borrow_within_cohort": borrow,
                "borrow_max_priority_threshold": threshold if borrow != "Never" else None,
            },
        )

    @rule(team=st.sampled_from(TEAMS))
    def drop_team_policy(self, team: str) -> None:
        TeamPolicy.objects.filter(team=self.teams[team]).delete()  # back to the cohort's switches

    @rule(fair=st.booleans(), strategies=st.sampled_from(FAIR_SHARING_STRATEGY_LISTS))
    def set_fair_sharing(self, fair: bool, strategies: list[str]) -> None:
        Cohort.objects.filter(organisation__slug="sm").update(fair_sharing=fair, fair_sharing_strategies=strategies)

    @rule(index=st.integers(0, 2), state=st.sampled_from(["down", "ready", "ready", "cordoned"]))
    def node_state(self, index: int, state: str) -> None:
        Node.objects.filter(pk=self.nodes[index].pk).update(state=state)
        self.dirty = True

    @rule()
    def schedule(self) -> None:
        admit_pending()
        self.dirty = False
        assert check_invariants() == []

    @precondition(lambda self: not self.dirty)
    @invariant()
    def limits_hold(self) -> None:
        assert check_invariants() == []

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)


SETTINGS = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints its steps, shrinking takes minutes
)


@pytest.mark.django_db
def test_every_invariant_holds_through_submit_finish_quota_change_node_loss_policies_and_fair_sharing() -> None:
    run_state_machine_as_test(QuotaMachine, settings=SETTINGS)


# --- flavors: jobs that accept two pools, and memory quotas (helper-c's block) -------------------

A100 = "A100 80GB SXM"


class FlavorMachine(QuotaMachine):
    """The same cluster and teams plus an 8-GPU A100 node (a second pool): jobs that accept both
    pools, in either order, with memory; memory quotas in both pools; passes under every flavor
    fungibility. The invariants (memory included) hold throughout."""

    def __init__(self) -> None:
        super().__init__()
        model = AcceleratorModel.objects.get(name=A100)
        node = NodeFactory(cluster=self.scene.cluster)
        for index in range(8):
            AcceleratorFactory(node=node, index=index, model=model)
        ensure_pools()
        a100 = Pool.objects.get(cluster=self.scene.cluster, accelerator_model=model)
        self.pools = {"h100": self.scene.pool, "a100": a100}
        self.models = {"h100": "H100 SXM", "a100": A100}

    @initialize(
        **SET_UP,
        a100=st.tuples(st.integers(0, 8), st.integers(0, 8), st.integers(0, 8)),
        memory=st.tuples(*(st.none() | st.integers(32, 256) for _ in TEAMS)),
    )
    def set_up(  # type: ignore[override]
        self,
        reclaim: bool,
        lower_priority: bool,
        while_borrowing: bool,
        fair: bool,
        strategies: list[str],
        guarantees: Any,
        backlog: Any,
        a100: Any,
        memory: Any,
    ) -> None:
        """As the base machine (fair sharing on or off), plus quotas in the A100 pool and memory
        guarantees in both pools."""
        super().set_up(reclaim, lower_priority, while_borrowing, fair, strategies, guarantees, backlog)
        for slug, guaranteed, gb in zip(TEAMS, a100, memory, strict=True):
            Quota.objects.create(
                team=self.teams[slug], pool=self.pools["a100"], guaranteed=guaranteed, memory_guaranteed_gb=gb
            )
            Quota.objects.filter(team=self.teams[slug], pool=self.pools["h100"]).update(memory_guaranteed_gb=gb)
        self.dirty = True

    @rule(
        team=st.sampled_from(TEAMS),
        pool=st.sampled_from(["h100", "a100"]),
        guaranteed=st.integers(0, 12),
        memory=st.none() | st.integers(0, 400),
        memory_max=st.none() | st.integers(0, 200),
    )
    def flavor_quota(self, team: str, pool: str, guaranteed: int, memory: int | None, memory_max: int | None) -> None:
        ceiling = None if memory is None or memory_max is None else memory + memory_max
        Quota.objects.update_or_create(
            team=self.teams[team],
            pool=self.pools[pool],
            defaults={
                "guaranteed": guaranteed,
                "max": None,
                "lending_limit": None,
                "memory_guaranteed_gb": memory,
                "memory_max_gb": ceiling,
            },
        )
        self.dirty = True

    @rule(
        team=st.sampled_from(TEAMS),
        order=st.sampled_from([("h100", "a100"), ("a100", "h100")]),
        gpus=st.sampled_from([1, 2, 4, 8]),
        memory=st.sampled_from([0, 16, 64, 200]),
        klass=st.sampled_from(CLASSES),
        count=st.integers(1, 3),
    )
    def submit_to_two_pools(
        self, team: str, order: tuple[str, str], gpus: int, memory: int, klass: str | None, count: int
    ) -> None:
        fields: dict[str, Any] = {}
        if klass is not None:
            fields.update(priority_class=self.classes[klass], priority=self.classes[klass].value)
        for _ in range(count):
            JobFactory(
                team=self.teams[team],
                cluster=self.scene.cluster,
                gpus=gpus,
                memory_gb=memory,
                accelerator_model=self.models[order[0]],
                accelerator_models=[self.models[name] for name in order],
                pool=self.pools[order[0]],
                **fields,
            )

    @rule(
        borrow=st.sampled_from(list(WhenCanBorrow)),
        preempt=st.sampled_from(list(WhenCanPreempt)),
    )
    def schedule_with_fungibility(self, borrow: WhenCanBorrow, preempt: WhenCanPreempt) -> None:
        """A pass in which every team has this flavor fungibility (the rest of its policy as stored)."""
        with transaction.atomic():
            state = load_state()
            for team in self.teams.values():
                policy = state.team_policy.get(team.pk) or PassPolicy()
                state.team_policy[team.pk] = replace(policy, when_can_borrow=borrow, when_can_preempt=preempt)
            candidates = load_candidates(state)
            now = timezone.now()
            apply_decisions(state, {c.job_id: c for c in candidates}, decide(state, candidates, now), now)
        self.dirty = False
        assert check_invariants() == []
        # A job that accepts two pools is admitted only to one of them.
        for job in Job.objects.filter(state__in=HOLDING_STATES).exclude(accelerator_models=[]):
            assert job.pool_id in {pool.pk for pool in self.pools.values()}


@pytest.mark.django_db
def test_every_invariant_holds_with_jobs_that_accept_two_pools_and_memory_quotas(catalog: None) -> None:
    run_state_machine_as_test(FlavorMachine, settings=SETTINGS)
