"""The pure decision of a pass: what to admit, what to preempt and why every other job waits.

``decide`` works over a loaded :class:`~apps.admission.state.PassState` and writes nothing, so
the admin's what-if preview, the ETA replay and the trace simulator run the same code.
"""

from __future__ import annotations

import heapq
import time
from collections import defaultdict, deque
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from apps.admission.accounting import Refusal
from apps.admission.enforce import enforce
from apps.admission.placement import NoPlacement, Placement
from apps.admission.preemption import try_preempt
from apps.admission.state import Candidate, Decisions, PassState, evict, fits, take


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
        ledger = state.ledgers[job.pool_id]
        return not ledger.open and ledger.share(job.team_id).used + job.units > ledger.share(job.team_id).guaranteed

    def consider(job: Candidate) -> None:
        started = time.perf_counter()
        _consider(state, decisions, job, now, starvation, reserved)
        if timings is not None:
            timings.append(time.perf_counter() - started)

    later: dict[int, deque[Candidate]] = defaultdict(deque)
    for job in candidates:  # already in priority, then age order
        if job.pool_id not in state.pools:
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


def _consider(
    state: PassState,
    decisions: Decisions,
    job: Candidate,
    now: datetime,
    starvation: timedelta,
    reserved: dict[int, Candidate],
) -> None:
    holder_for = reserved.get(job.pool_id)
    if holder_for is not None:
        decisions.reasons[job.job_id] = (
            f"Waiting behind job {holder_for.job_id}, which has waited over {_duration(starvation)}: "
            f"pool {state.pools[job.pool_id].name} holds capacity for it."
        )
        return
    ledger = state.ledgers[job.pool_id]
    limit = state.gang_limit.get(job.pool_id, 0) if job.pool_id in state.snapshots else ledger.capacity
    if job.units > limit:
        pool = state.pools[job.pool_id]
        scope = "one node or one network fabric of " if job.pool_id in state.snapshots else ""
        decisions.reasons[job.job_id] = (
            f"Cannot run: it asks for {job.units} {ledger.unit}s and {scope}pool {pool.name} has {limit} at most. "
            "Cancel it and resubmit with fewer, or to another pool."
        )
        return
    refusal = ledger.refuse(job.team_id, job.units, preemptible=job.preemptible, priority_class=job.priority_class)
    where = fits(state, job.pool_id, job.units) if refusal is None else None
    if refusal is None and isinstance(where, Placement):
        take(state, job.pool_id, job.team_id, job.units, where)
        decisions.admitted.append((job, where))
        return
    can_preempt = refusal is None or refusal.reclaim or refusal.borrowing or refusal.own
    victims = try_preempt(state, job, refusal) if can_preempt and job.units else None
    placed = fits(state, job.pool_id, job.units) if victims else None
    if victims and isinstance(placed, Placement):
        for holder, why in victims:
            evict(state, decisions, holder, f"preempted for job {job.job_id}: {why}")
        take(state, job.pool_id, job.team_id, job.units, placed)
        decisions.admitted.append((job, placed))
        return
    reason = _describe_wait(state, job, refusal, where if isinstance(where, NoPlacement) else None)
    if now - job.waiting_since > starvation and refusal is None:
        reserved[job.pool_id] = job
        reason = reason[:-1] + "; it has waited long enough that the pool now holds capacity for it."
    decisions.reasons[job.job_id] = reason
