"""The pure decision of a pass: what to admit, what to preempt and why every other job waits.

``decide`` works over a loaded :class:`~apps.admission.state.PassState` and writes nothing, so
the admin's what-if preview, the ETA replay and the trace simulator run the same code.
"""

from __future__ import annotations

import heapq
import time
from collections import defaultdict, deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from apps.admission.accounting import Refusal
from apps.admission.enforce import enforce
from apps.admission.placement import NoPlacement, Placement
from apps.admission.policy import TeamPolicy
from apps.admission.preemption import try_preempt
from apps.admission.state import (
    Candidate,
    Decisions,
    PassState,
    beyond_every_node,
    commit_budget,
    evict,
    fits,
    needs_borrowing,
    refuse_budget,
    refuse_memory,
    retake,
    take,
)
from apps.quotas.choices import WhenCanBorrow, WhenCanPreempt


def _describe_wait(state: PassState, job: Candidate, refusal: Refusal | None, where: NoPlacement | None) -> str:
    pool = state.pools[job.pool_id]
    what = pool.accelerator_model.name if pool.accelerator_model else "CPU"
    head = f"Waiting for {job.units} × {what} in pool {pool.name}"
    if refusal is not None:
        return f"{head}: {refusal.reason}."
    assert where is not None
    return f"{head}: {where.reason}."


def decide(
    state: PassState,
    candidates: list[Candidate],
    now: datetime,
    *,
    starvation: timedelta | None = None,
    timings: list[float] | None = None,
) -> Decisions:
    """What to admit, preempt and say; mutates ``state`` as if it were applied.

    Two rounds, as Kueue orders work: first every job that fits in its team's guarantee (by
    priority, then age), so no team's idle guarantee is lent away while that team has work
    queued for it; then the jobs that must borrow, one head per team from a heap keyed by
    priority, fair share (recomputed as the team is admitted) and age. A job that does not fit
    never stops the ones behind it, unless it has starved: then its pool holds capacity for it.
    ``timings``, when given, receives each job's decision time in seconds (for the benchmark).
    """
    starvation = starvation or timedelta(seconds=float(settings.PADDOCK_SCHEDULER_STARVATION_SECONDS))
    decisions = Decisions()
    enforce(state, decisions)
    reserved: dict[int, Candidate] = {}  # pool → the starving job it holds capacity for

    def borrows(job: Candidate) -> bool:
        """In the second round: every pool it accepts would take its team above a guarantee."""
        return all(needs_borrowing(state, pool_id, job) for pool_id in job.pools if pool_id in state.pools)

    def consider(job: Candidate) -> None:
        started = time.perf_counter()
        _consider(state, decisions, job, now, starvation, reserved)
        if timings is not None:
            timings.append(time.perf_counter() - started)

    later: dict[int, deque[Candidate]] = defaultdict(deque)
    for job in candidates:  # already in priority, then age order
        if not any(pool_id in state.pools for pool_id in job.pools):
            continue
        if borrows(job):
            later[job.team_id].append(job)
        else:
            consider(job)

    def key(job: Candidate) -> tuple[Any, ...]:
        return (-job.priority, state.ledgers[job.pool_id].fair_share(job.team_id), job.created_at, job.job_id)

    heap = [(key(queue[0]), team) for team, queue in later.items()]
    heapq.heapify(heap)
    while heap:
        _, team = heapq.heappop(heap)
        consider(later[team].popleft())
        if later[team]:  # the team's next job, keyed by its share after this decision
            heapq.heappush(heap, (key(later[team][0]), team))
    return decisions


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return f"{int(span.total_seconds())} seconds"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@dataclass
class _Option:
    """A pool where the job could go this pass: Kueue's flavor assignment and its mode."""

    pool_id: int
    borrows: bool
    preempts: bool
    placement: Placement

    def rank(self) -> tuple[int, int]:
        # Kueue's default preference (BorrowingOverPreemption): fit before preempt, then less borrowing.
        return (1 if self.preempts else 0, 1 if self.borrows else 0)


def _admit(state: PassState, decisions: Decisions, job: Candidate, pool_id: int, placement: Placement) -> None:
    take(state, pool_id, job.team_id, job.units, placement, job.memory)
    commit_budget(state, pool_id, job)
    decisions.admitted.append((job if job.pool_id == pool_id else replace(job, pool_id=pool_id), placement))


def _consider(
    state: PassState,
    decisions: Decisions,
    job: Candidate,
    now: datetime,
    starvation: timedelta,
    reserved: dict[int, Candidate],
) -> None:
    """Try the job's pools in its order with Kueue's flavor fungibility: take the first where it
    fits without borrowing or preemption; a pool where it must borrow is taken at once when the
    team's ``when_can_borrow`` is Borrow, one where it must preempt when ``when_can_preempt`` is
    Preempt (and borrowing, if it must, is allowed to stop the search too); otherwise it looks at
    its next pool first and, when none fits outright, goes to the best one it found (fit before
    preempt, then no borrowing before borrowing, then its own order)."""
    policy = state.team_policy.get(job.team_id) or TeamPolicy()
    pools = [pool_id for pool_id in job.pools if pool_id in state.pools]
    several = len(pools) > 1
    passed: list[str] = []  # per pool, why the job did not go there
    best: _Option | None = None
    first_wait: tuple[int, Refusal | None, NoPlacement | None] | None = None
    starve_in: int | None = None  # the first pool whose quota allows the job but whose nodes do not yet
    for pool_id in pools:
        trial = job if pool_id == job.pool_id else replace(job, pool_id=pool_id)
        pool = state.pools[pool_id]
        holder_for = reserved.get(pool_id)
        if holder_for is not None:
            if not several:
                decisions.reasons[job.job_id] = (
                    f"Waiting behind job {holder_for.job_id}, which has waited over {_duration(starvation)}: "
                    f"pool {pool.name} holds capacity for it."
                )
                return
            passed.append(f"pool {pool.name} holds capacity for job {holder_for.job_id}, which has waited longer")
            continue
        ledger = state.ledgers[pool_id]
        limit = state.gang_limit.get(pool_id, 0) if pool_id in state.snapshots else ledger.capacity
        if job.units > limit:
            scope = "one node or one network fabric of " if pool_id in state.snapshots else ""
            if not several:
                decisions.reasons[job.job_id] = (
                    f"Cannot run: it asks for {job.units} {ledger.unit}s and {scope}pool {pool.name} has {limit} "
                    "at most. Cancel it and resubmit with fewer, or to another pool."
                )
                return
            passed.append(f"pool {pool.name}: {scope}it has {limit} {ledger.unit}s at most")
            continue
        too_big = beyond_every_node(state, pool_id, job)
        if too_big:
            if not several:
                decisions.reasons[job.job_id] = (
                    f"Cannot run: {too_big}. Cancel it and resubmit with fewer, or to another pool."
                )
                return
            passed.append(f"pool {pool.name}: {too_big}")
            continue
        # A budget first: what no preemption can make room for (its refusal allows none).
        refusal = (
            refuse_budget(state, pool_id, trial)
            or ledger.refuse(job.team_id, job.units, preemptible=job.preemptible, priority_class=job.priority_class)
            or refuse_memory(state, pool_id, trial)
        )
        where = fits(state, pool_id, job.units) if refusal is None else None
        borrows = needs_borrowing(state, pool_id, trial)
        if refusal is None and isinstance(where, Placement):
            if not borrows or policy.when_can_borrow == WhenCanBorrow.BORROW:
                _admit(state, decisions, trial, pool_id, where)
                return
            passed.append(f"pool {pool.name}: it fits only by borrowing, so its next pool comes first")
            best = _better(best, _Option(pool_id, borrows, False, where))
            continue
        can_preempt = refusal is None or refusal.reclaim or refusal.borrowing or refusal.own
        victims = try_preempt(state, trial, refusal) if can_preempt and job.units else None
        placed = fits(state, pool_id, job.units) if victims else None
        if victims and isinstance(placed, Placement):
            stop = policy.when_can_preempt == WhenCanPreempt.PREEMPT and (
                not borrows or policy.when_can_borrow == WhenCanBorrow.BORROW
            )
            if stop or not several:
                for holder, why in victims:
                    evict(state, decisions, holder, f"preempted for job {job.job_id}: {why}")
                _admit(state, decisions, trial, pool_id, placed)
                return
            for holder, _ in reversed(victims):  # only a trial: its next pool comes first
                retake(state, holder)
            count = len(victims)
            passed.append(
                f"pool {pool.name}: it fits only by preempting {count} job{'s' if count != 1 else ''}, "
                "so its next pool comes first"
            )
            best = _better(best, _Option(pool_id, borrows, True, placed))
            continue
        nowhere = where if isinstance(where, NoPlacement) else None
        if first_wait is None:
            first_wait = (pool_id, refusal, nowhere)
        if refusal is None and starve_in is None:
            starve_in = pool_id
        why = refusal.reason if refusal is not None else nowhere.reason if nowhere is not None else "no room"
        passed.append(f"pool {pool.name}: {why}")
    if best is not None:
        trial = job if best.pool_id == job.pool_id else replace(job, pool_id=best.pool_id)
        if not best.preempts:
            _admit(state, decisions, trial, best.pool_id, best.placement)
            return
        refusal = state.ledgers[best.pool_id].refuse(
            job.team_id, job.units, preemptible=job.preemptible, priority_class=job.priority_class
        ) or refuse_memory(state, best.pool_id, trial)
        victims = try_preempt(state, trial, refusal)  # the same state as its trial: the same victims
        placed = fits(state, best.pool_id, job.units) if victims else None
        if victims and isinstance(placed, Placement):
            for holder, why in victims:
                evict(state, decisions, holder, f"preempted for job {job.job_id}: {why}")
            _admit(state, decisions, trial, best.pool_id, placed)
            return
    if not pools:
        decisions.reasons[job.job_id] = "Cannot be scheduled: none of the pools it accepts exists any more."
        return
    if several or first_wait is None:
        names = ", ".join(state.pools[pool_id].name for pool_id in pools)
        head = f"Waiting for {job.units} × {_what(state, job)} in any of the pools {names}"
        reason = f"{head}: {'; '.join(passed)}."
    else:
        _, refusal, nowhere = first_wait
        reason = _describe_wait(state, job, refusal, nowhere)
    if now - job.waiting_since > starvation and starve_in is not None:
        reserved[starve_in] = job
        held = f" {state.pools[starve_in].name}" if several else ""
        reason = reason[:-1] + f"; it has waited long enough that the pool{held} now holds capacity for it."
    decisions.reasons[job.job_id] = reason


def _better(best: _Option | None, option: _Option) -> _Option:
    """The preferred of two options; the earlier pool (``best``) on a tie."""
    return option if best is None or option.rank() < best.rank() else best


def _what(state: PassState, job: Candidate) -> str:
    return "GPU" if state.pools[job.pool_id].accelerator_model_id else "CPU"
