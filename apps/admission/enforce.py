"""Restoring limits an operator lowered (a quota cut, a node gone) before anything is admitted."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from apps.admission.accounting import PoolLedger
from apps.admission.preemption import victim_order
from apps.admission.state import Decisions, PassState, evict, memory_over, release


def enforce(state: PassState, decisions: Decisions) -> None:
    """Restore limits lowered since the last pass: preempt the newest, lowest-priority work."""
    for holder in state.lost_holders:
        release(state, holder)
        evict(state, decisions, holder, "its node went down")
    for pool_id, ledger in state.ledgers.items():
        if ledger.open:
            continue
        firm: dict[int, int] = defaultdict(int)  # units of non-preemptible work per team
        for holder in state.holders.get(pool_id, []):
            if not holder.preemptible:
                firm[holder.team_id] += holder.units
        if _within_limits(state, ledger, firm):
            continue  # nothing to restore: skip the per-holder checks (most passes)
        for holder in sorted(state.holders.get(pool_id, []), key=victim_order):
            share = ledger.share(holder.team_id)
            team = ledger.team_names.get(holder.team_id)
            cohort = state.team_cohort.get(holder.team_id)
            why = ""
            if share.max is not None and share.used > share.max:
                why = f"team {team} is over its max in pool {ledger.name}"
            elif not share.has_quota and cohort is None and share.used:
                why = f"team {team} has no quota in pool {ledger.name}"
            elif cohort is None and share.used > share.guaranteed:
                why = f"team {team} is over its guarantee in pool {ledger.name} and has no cohort to borrow from"
            elif not holder.preemptible and firm[holder.team_id] > share.guaranteed:
                why = f"team {team}'s non-preemptible work exceeds its guarantee in pool {ledger.name}"
            elif (
                cohort is not None
                and share.borrowed
                and ledger.cohort_borrowed(cohort) > ledger.cohort_lendable(cohort)
            ):
                why = "its cohort lends less than its teams borrow"
            why = why or memory_over(state, holder)
            if why:
                if not holder.preemptible:
                    firm[holder.team_id] -= holder.units
                release(state, holder)
                evict(state, decisions, holder, why)


def _within_limits(state: PassState, ledger: PoolLedger, firm: dict[int, int]) -> bool:
    """True when no check below would preempt anything in the pool: every team within its max,
    its quota and its guarantee where it cannot borrow, every cohort lending what it borrows, and
    the same for memory where quotas count it. Evicting only lowers usage, so a pool that passes
    needs no per-holder look (O(teams), once)."""
    if not _ledger_within(ledger, state.team_cohort, firm, needs_quota=True):
        return False
    memory = state.memory_ledgers.get(ledger.pool_id)
    return memory is None or _ledger_within(memory, memory.cohort_of, {}, needs_quota=False)


def _ledger_within(
    ledger: PoolLedger, cohort_of: Mapping[int, int | None], firm: dict[int, int], *, needs_quota: bool
) -> bool:
    cohorts: set[int] = set()
    for share in ledger.shares.values():
        if not share.used:
            continue
        cohort = cohort_of.get(share.team_id)
        if share.max is not None and share.used > share.max:
            return False
        if cohort is None and ((needs_quota and not share.has_quota) or share.used > share.guaranteed):
            return False
        if firm.get(share.team_id, 0) > share.guaranteed:
            return False
        if cohort is not None and share.borrowed:
            cohorts.add(cohort)
    return all(ledger.cohort_borrowed(cohort) <= ledger.cohort_lendable(cohort) for cohort in cohorts)
