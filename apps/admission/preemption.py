"""Choosing victims: which running work a job may preempt, as its team's policy allows, and the
fewest of them that let it in."""

from __future__ import annotations

from apps.admission.accounting import Refusal
from apps.admission.placement import Placement
from apps.admission.state import Candidate, Holder, PassState, fits, release, retake
from apps.quotas.models import Cohort


def victim_order(holder: Holder) -> tuple[int, int, float]:
    admitted = holder.admitted_at.timestamp() if holder.admitted_at else 0.0
    # preemptible work first, then the lowest priority, then the youngest
    return (0 if holder.preemptible else 1, holder.priority, -admitted)


def policy_of(state: PassState, team_id: int) -> Cohort | None:
    cohort = state.team_cohort.get(team_id)
    return state.policies.get(cohort) if cohort is not None else None


def try_preempt(state: PassState, job: Candidate, refusal: Refusal | None) -> list[tuple[Holder, str]] | None:
    """Victims whose preemption lets ``job`` in, as its cohort's policy allows; None if none do."""
    policy = policy_of(state, job.team_id)
    if policy is None:
        return None
    ledger = state.ledgers[job.pool_id]
    share = ledger.share(job.team_id)
    within_guarantee = share.used + job.units <= share.guaranteed
    if not (
        (policy.reclaim_from_borrowers and within_guarantee)
        or policy.preempt_lower_priority
        or (policy.preempt_while_borrowing and not within_guarantee)
    ):
        return None  # no kind of victim is allowed: skip the scan of every holder (100,000s a pass)
    cohort = state.team_cohort.get(job.team_id)
    options: list[tuple[int, Holder, str]] = []
    for holder in state.holders.get(job.pool_id, []):
        other = holder.team_id != job.team_id
        same_cohort = other and state.team_cohort.get(holder.team_id) == cohort
        if (
            policy.reclaim_from_borrowers
            and within_guarantee
            and same_cohort
            and holder.preemptible
            and ledger.share(holder.team_id).borrowed
        ):
            options.append((0, holder, f"team {ledger.team_names.get(job.team_id)} reclaims its guarantee"))
        elif policy.preempt_lower_priority and not other and holder.preemptible and holder.priority < job.priority:
            options.append((1, holder, f"a higher-priority job of the same team (priority {job.priority})"))
        elif (
            policy.preempt_while_borrowing
            and not within_guarantee
            and same_cohort
            and holder.preemptible
            and holder.priority < job.priority
            and ledger.share(holder.team_id).borrowed
        ):
            options.append((2, holder, f"a higher-priority job borrowing in cohort {policy.name}"))
    if not options:
        return None
    options.sort(key=lambda item: (item[0], *victim_order(item[1])))
    chosen: list[tuple[Holder, str]] = []
    for kind, holder, why in options:
        if kind == 0 and not ledger.share(holder.team_id).borrowed:
            continue  # that team no longer borrows: its remaining jobs are its own guarantee
        release(state, holder)
        chosen.append((holder, why))
        if admissible(state, job):
            return fewest(state, job, chosen)
    for holder, _ in reversed(chosen):  # no set of victims is enough: undo the trial
        retake(state, holder)
    return None


def admissible(state: PassState, job: Candidate) -> bool:
    ledger = state.ledgers[job.pool_id]
    allowed = ledger.refuse(job.team_id, job.units, preemptible=job.preemptible) is None
    return allowed and isinstance(fits(state, job.pool_id, job.units), Placement)


def fewest(state: PassState, job: Candidate, chosen: list[tuple[Holder, str]]) -> list[tuple[Holder, str]]:
    """Give back every victim the job can do without (the greedy pass may take some whose GPUs
    sit elsewhere), most valuable first: highest priority, then the oldest."""
    kept = list(chosen)
    for victim in sorted(chosen, key=lambda item: victim_order(item[0]), reverse=True):
        retake(state, victim[0])
        if admissible(state, job):
            kept.remove(victim)
        else:
            release(state, victim[0])
    return kept
