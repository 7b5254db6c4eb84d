"""Choosing victims as Kueue does (pkg/scheduler/preemption): which running work a job may
preempt, as its team's policy allows, and the fewest of them that let it in.

A team is Kueue's ClusterQueue, a pool its flavor, a cohort a (flat) cohort. Two algorithms:

- **classical** (Kueue's ``classicalPreemptions``): candidates from the job's own team (as
  ``within_team`` allows) and from the other teams of its cohort that borrow (as
  ``reclaim_within_cohort`` allows), considered together, other teams' work first, then the
  lowest priority, then the most recently admitted. A job that fits in its guarantee reclaims
  whatever the policy allows; a job that must borrow takes other teams' work only as
  ``borrow_within_cohort`` allows (lower priority, at most the threshold), and otherwise only
  without borrowing. A candidate is skipped once its team no longer borrows (what it holds then
  is its guarantee), and the set is made minimal by giving back, in reverse, what is not needed.
- **fair sharing** (Kueue's ``fairPreemptions``), when the cohort has it on: the team with the
  highest weighted share that borrows gives first, each victim only if the cohort's strategies
  (``LessThanOrEqualToFinalShare``, then ``LessThanInitialShare``) say the preemptor stays at
  or below the victim's share.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import partial

from apps.admission.accounting import Refusal
from apps.admission.placement import Placement
from apps.admission.policy import NO_PREEMPTION, TeamPolicy
from apps.admission.state import Candidate, Holder, PassState, fits, refuse_memory, release, retake
from apps.quotas.choices import BorrowWithinCohort, FairSharingStrategy, ReclaimWithinCohort, WithinTeam
from apps.quotas.models import Cohort

Victims = list[tuple[Holder, str]]


def victim_order(holder: Holder) -> tuple[int, int, float]:
    """Enforcement's order: preemptible work first, then the lowest priority, then the youngest."""
    admitted = holder.admitted_at.timestamp() if holder.admitted_at else 0.0
    return (0 if holder.preemptible else 1, holder.priority, -admitted)


class Variant(Enum):
    """Kueue's ``preemptionVariant`` for a flat cohort."""

    WITHIN_TEAM = "within team"  # WithinCQ
    RECLAIM = "reclaim"  # HierarchicalReclaim: the job fits in its guarantee
    RECLAIM_WITHOUT_BORROWING = "reclaim without borrowing"  # only if the job then does not borrow
    RECLAIM_WHILE_BORROWING = "reclaim while borrowing"  # borrowWithinCohort allows it


@dataclass
class Option:
    holder: Holder
    variant: Variant
    why: str

    @property
    def other_team(self) -> bool:
        return self.variant is not Variant.WITHIN_TEAM


def satisfies(policy: str, job: Candidate, holder: Holder) -> bool:
    """Kueue's ``SatisfiesPreemptionPolicy``; a job's queue-order time is when it was last queued."""
    if not holder.preemptible:
        return False
    if policy == WithinTeam.LOWER_OR_NEWER_EQUAL_PRIORITY:
        queued = holder.queued_at
        newer = queued is not None and job.waiting_since < queued
        return holder.priority < job.priority or (holder.priority == job.priority and newer)
    if policy in (WithinTeam.LOWER_PRIORITY, ReclaimWithinCohort.LOWER_PRIORITY):
        return holder.priority < job.priority
    return policy == ReclaimWithinCohort.ANY


RECLAIMING = " [Kueue: InCohortReclamation]"


def candidate_order(option: Option) -> tuple[int, int, float, int]:
    """Kueue's ``CandidatesOrdering``: other teams' work first, then the lowest priority, then the
    most recently admitted (then the newest job, for a stable order)."""
    admitted = option.holder.admitted_at.timestamp() if option.holder.admitted_at else float("inf")
    return (0 if option.other_team else 1, option.holder.priority, -admitted, -option.holder.job_id)


def cohort_of(state: PassState, team_id: int) -> Cohort | None:
    cohort_id = state.team_cohort.get(team_id)
    return state.policies.get(cohort_id) if cohort_id is not None else None


def try_preempt(state: PassState, job: Candidate, refusal: Refusal | None) -> Victims | None:
    """Victims whose preemption lets ``job`` in, as its team's policy allows; None if none do.
    The victims are left released in ``state`` (the caller evicts them); with none, ``state``
    is as it was."""
    policy = state.team_policy.get(job.team_id, NO_PREEMPTION)
    ledger = state.ledgers[job.pool_id]
    share = ledger.share(job.team_id)
    cohort = cohort_of(state, job.team_id)
    fair = cohort is not None and cohort.fair_sharing
    may_preempt_while_borrowing = cohort is not None and (
        policy.borrow_within_cohort != BorrowWithinCohort.NEVER
        or (fair and policy.reclaim_within_cohort != ReclaimWithinCohort.NEVER)
    )
    # Kueue's flavor assigner: a job larger than its team's guarantee (it must borrow whatever
    # runs) preempts only when its team may preempt while borrowing.
    if not ledger.open and job.units > share.guaranteed and not may_preempt_while_borrowing:
        return None
    options = find_options(state, job, policy, cohort)
    if not options:
        return None
    options.sort(key=candidate_order)
    if fair and not ledger.open:
        assert cohort is not None
        return fair_preemptions(state, job, options, cohort)
    return classical_preemptions(state, job, policy, options)


def find_options(state: PassState, job: Candidate, policy: TeamPolicy, cohort: Cohort | None) -> list[Option]:
    ledger = state.ledgers[job.pool_id]
    share = ledger.share(job.team_id)
    team = ledger.team_names.get(job.team_id, str(job.team_id))
    fits_guarantee = share.used + job.units <= share.guaranteed
    options: list[Option] = []
    holders = state.holders.get(job.pool_id, [])
    if policy.within_team != WithinTeam.NEVER:
        options.extend(
            Option(
                holder,
                Variant.WITHIN_TEAM,
                f"a higher-priority job of the same team (priority {job.priority}) [Kueue: InClusterQueue]",
            )
            for holder in holders
            if holder.team_id == job.team_id and satisfies(policy.within_team, job, holder)
        )
    if cohort is None or ledger.open or policy.reclaim_within_cohort == ReclaimWithinCohort.NEVER:
        return options
    if not fits_guarantee and policy.borrow_within_cohort == BorrowWithinCohort.NEVER and not cohort.fair_sharing:
        # Other teams' work could only be taken in a run that ends within the guarantee, and
        # only the team's own work lowers its use: when that is not enough, do not look.
        own_units = sum(option.holder.units for option in options)
        if share.used - own_units + job.units > share.guaranteed:
            return options
    threshold = policy.borrow_max_priority_threshold
    for holder in holders:
        if holder.team_id == job.team_id or state.team_cohort.get(holder.team_id) != cohort.pk:
            continue
        if not ledger.share(holder.team_id).borrowed:  # Kueue looks only at ClusterQueues that borrow
            continue
        if not satisfies(policy.reclaim_within_cohort, job, holder):
            continue
        if fits_guarantee:
            options.append(Option(holder, Variant.RECLAIM, f"team {team} reclaims its guarantee{RECLAIMING}"))
        elif (
            policy.borrow_within_cohort == BorrowWithinCohort.NEVER
            or holder.priority >= job.priority
            or (threshold is not None and holder.priority > threshold)
        ):
            options.append(
                Option(holder, Variant.RECLAIM_WITHOUT_BORROWING, f"team {team} reclaims its guarantee{RECLAIMING}")
            )
        else:
            options.append(
                Option(
                    holder,
                    Variant.RECLAIM_WHILE_BORROWING,
                    f"a higher-priority job borrowing in cohort {cohort.name} [Kueue: InCohortReclaimWhileBorrowing]",
                )
            )
    return options


def admissible(state: PassState, job: Candidate) -> bool:
    ledger = state.ledgers[job.pool_id]
    allowed = ledger.refuse(job.team_id, job.units, preemptible=job.preemptible) is None
    allowed = allowed and refuse_memory(state, job.pool_id, job) is None
    return allowed and isinstance(fits(state, job.pool_id, job.units), Placement)


def fits_with(state: PassState, job: Candidate, *, borrowing: bool) -> bool:
    """Kueue's ``workloadFits``: without borrowing, the job must also stay within its guarantee."""
    ledger = state.ledgers[job.pool_id]
    if not borrowing and not ledger.open:
        share = ledger.share(job.team_id)
        if share.used + job.units > share.guaranteed:
            return False
    return admissible(state, job)


def classical_preemptions(
    state: PassState, job: Candidate, policy: TeamPolicy, options: list[Option]
) -> Victims | None:
    ledger = state.ledgers[job.pool_id]
    share = ledger.share(job.team_id)
    from_others = [option for option in options if option.other_team]
    bwc_forbidden = policy.borrow_within_cohort == BorrowWithinCohort.NEVER
    under_guarantee = share.used < share.guaranteed
    # The order of the two runs (with and without borrowing) is Kueue's.
    if not from_others or (bwc_forbidden and not under_guarantee):
        attempts = [True]
    elif bwc_forbidden and not any(option.variant is Variant.RECLAIM for option in from_others):
        attempts = [False, True]
    else:
        attempts = [True, False]
    own_units = sum(option.holder.units for option in options if not option.other_team)
    for borrowing in attempts:
        if not borrowing and not ledger.open and share.used - own_units + job.units > share.guaranteed:
            continue  # only its own work lowers its use: this run cannot end within its guarantee
        removed: list[Option] = []
        for option in options:
            if option.other_team:
                if borrowing and option.variant is Variant.RECLAIM_WITHOUT_BORROWING:
                    continue
                if not ledger.share(option.holder.team_id).borrowed:
                    continue  # that team no longer borrows: what it still runs is its guarantee
            release(state, option.holder)
            removed.append(option)
            if fits_with(state, job, borrowing=borrowing):
                kept = fill_back(state, removed, partial(fits_with, state, job, borrowing=borrowing))
                return [(victim.holder, victim.why) for victim in kept]
        for option in reversed(removed):
            retake(state, option.holder)
    return None


def fill_back(state: PassState, removed: list[Option], fits_now: Callable[[], bool]) -> list[Option]:
    """Kueue's ``fillBackWorkloads``: in reverse order of removal (the last one is needed), give
    back each victim the job can do without. Leaves the kept victims released."""
    kept = list(removed)
    for option in reversed(removed[:-1]):
        retake(state, option.holder)
        if fits_now():
            kept.remove(option)
        else:
            release(state, option.holder)
    return kept


# --- fair sharing --------------------------------------------------------------------------

Strategy = Callable[[float, float, float], bool]


def less_than_or_equal_to_final_share(preemptor_new: float, _target_old: float, target_new: float) -> bool:
    return preemptor_new <= target_new


def less_than_initial_share(preemptor_new: float, target_old: float, _target_new: float) -> bool:
    return preemptor_new < target_old


STRATEGIES: dict[str, Strategy] = {
    FairSharingStrategy.LESS_THAN_OR_EQUAL_TO_FINAL_SHARE: less_than_or_equal_to_final_share,
    FairSharingStrategy.LESS_THAN_INITIAL_SHARE: less_than_initial_share,
}
DEFAULT_STRATEGIES = [
    FairSharingStrategy.LESS_THAN_OR_EQUAL_TO_FINAL_SHARE.value,
    FairSharingStrategy.LESS_THAN_INITIAL_SHARE.value,
]


def fair_preemptions(state: PassState, job: Candidate, options: list[Option], cohort: Cohort) -> Victims | None:
    ledger = state.ledgers[job.pool_id]
    strategies = list(cohort.fair_sharing_strategies or DEFAULT_STRATEGIES)
    team = ledger.team_names.get(job.team_id, str(job.team_id))

    def fits_now() -> bool:  # shares count the incoming job; whether it fits does not
        ledger.remove(job.team_id, job.units)
        try:
            return admissible(state, job)
        finally:
            ledger.add(job.team_id, job.units)

    ledger.add(job.team_id, job.units)  # Kueue: DRS values include the incoming workload
    within_guarantee = not ledger.share(job.team_id).borrowed
    targets: list[Option] = []
    retry: list[Option] = []
    fitted = _first_strategy(state, job, options, STRATEGIES[strategies[0]], within_guarantee, targets, retry, fits_now)
    if not fitted and len(strategies) > 1:
        fitted = _second_strategy(state, job, retry, targets, fits_now)
    ledger.remove(job.team_id, job.units)
    if not fitted:
        for option in reversed(targets):
            retake(state, option.holder)
        return None
    kept = fill_back(state, targets, lambda: fits_with(state, job, borrowing=True))
    share = ledger.fair_share(job.team_id)
    return [
        (
            victim.holder,
            victim.why
            if not victim.other_team
            else f"fair sharing in cohort {cohort.name}: team {team}'s share ({share:.3f}) is below the victim "
            "team's [Kueue: InCohortFairSharing]",
        )
        for victim in kept
    ]


def _next_team(state: PassState, job: Candidate, queues: dict[int, deque[Option]], pruned: set[int]) -> int | None:
    """Kueue's ``TargetClusterQueueOrdering`` for a flat cohort: of the teams with candidates
    left, the one with the highest weighted share that borrows (the preemptor's own team
    stays in while it has candidates); ties go to the team whose next candidate comes first."""
    ledger = state.ledgers[job.pool_id]
    best: int | None = None
    for team_id, queue in queues.items():
        if team_id in pruned:
            continue
        if not queue or (team_id != job.team_id and not ledger.share(team_id).borrowed):
            pruned.add(team_id)
            continue
        if best is None:
            best = team_id
            continue
        mine, theirs = ledger.fair_share(team_id), ledger.fair_share(best)
        if mine > theirs or (mine == theirs and candidate_order(queue[0]) < candidate_order(queues[best][0])):
            best = team_id
    return best


def _queues(options: list[Option]) -> dict[int, deque[Option]]:
    queues: dict[int, deque[Option]] = {}
    for option in options:
        queues.setdefault(option.holder.team_id, deque()).append(option)
    return queues


def _first_strategy(
    state: PassState,
    job: Candidate,
    options: list[Option],
    strategy: Strategy,
    within_guarantee: bool,
    targets: list[Option],
    retry: list[Option],
    fits_now: Callable[[], bool],
) -> bool:
    ledger = state.ledgers[job.pool_id]
    queues = _queues(options)
    pruned: set[int] = set()
    while (team_id := _next_team(state, job, queues, pruned)) is not None:
        queue = queues[team_id]
        if team_id == job.team_id or within_guarantee:
            # own work by priority; or, within its guarantee, the team's nominal entitlement
            # (Kueue's FairSharingPreemptWithinNominal) takes other teams' borrowing unconditionally
            option = queue.popleft()
            release(state, option.holder)
            targets.append(option)
            if fits_now():
                return True
            continue
        preemptor_new, target_old = ledger.fair_share(job.team_id), ledger.fair_share(team_id)
        while queue:
            option = queue.popleft()
            ledger.remove(team_id, option.holder.units)
            target_new = ledger.fair_share(team_id)
            ledger.add(team_id, option.holder.units)
            if strategy(preemptor_new, target_old, target_new):
                release(state, option.holder)
                targets.append(option)
                if fits_now():
                    return True
                break  # the shares changed: choose the team again
            retry.append(option)
    return False


def _second_strategy(
    state: PassState, job: Candidate, retry: list[Option], targets: list[Option], fits_now: Callable[[], bool]
) -> bool:
    """Kueue's rule S2-b (``LessThanInitialShare``) over the candidates the first strategy
    passed over: at most one victim per team, the highest share first."""
    ledger = state.ledgers[job.pool_id]
    queues = _queues(retry)
    pruned: set[int] = set()
    while (team_id := _next_team(state, job, queues, pruned)) is not None:
        if less_than_initial_share(ledger.fair_share(job.team_id), ledger.fair_share(team_id), 0.0):
            option = queues[team_id].popleft()
            release(state, option.holder)
            targets.append(option)
            if fits_now():
                return True
        pruned.add(team_id)
    return False
