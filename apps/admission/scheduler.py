"""The admission scheduler: quotas, priorities, fair share, preemption and gang placement.

One pass at a time (a PostgreSQL advisory lock, taken once per pass), triggered on submit, on job end, on quota or
inventory change and periodically. A pass:

1. loads the pools, their quotas and cohorts, what holds GPUs now and where (``PassState``);
2. enforces the limits an operator may just have lowered (a quota, a node gone): it preempts
   the newest, lowest-priority work until every invariant holds again;
3. takes pending jobs in order — priority, then fair share (what the team borrows over the
   pool's capacity, divided by its weight), then age — one team head at a time, so a job that
   does not fit never blocks smaller ones behind it, unless it has starved past
   ``PADDOCK_SCHEDULER_STARVATION_SECONDS``: then its pool holds capacity for it;
4. for each, in each pool it accepts (first choice first, Kueue's flavors), asks the pool's
   ledgers whether the quotas allow it (GPUs or CPUs, and memory where counted) and the pool's
   snapshot where all its GPUs could go at once; if either says no, tries preemption as the
   team's policy allows; the team's flavor fungibility says whether a pool where it must borrow
   or preempt is taken or the next one tried first; else records why the job waits, in words;
5. writes every admission (attempt, placement, GPU allocations, event), preemption and reason
   in the same transaction: a crash anywhere leaves nothing half-admitted.

``decide`` is pure over a loaded ``PassState`` so the admin's what-if preview runs it too.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from apps.admission import capacity
from apps.admission.apply import apply_decisions
from apps.admission.decide import decide
from apps.admission.pools import ensure_pools, resolve_pools, unresolved
from apps.admission.state import Decisions, load_candidates, load_state
from apps.core.locks import try_transaction_lock
from apps.core.logging import get_logger
from apps.jobs.services import Dispatcher
from apps.quotas.models import Pool, Quota

log = get_logger("admission.scheduler")
LOCK = "admission.scheduler"  # one pass at a time, across processes


def admit_pending(timings: list[float] | None = None) -> int:
    """One scheduler pass; returns how many jobs were admitted (0 when another pass runs).

    What it admits it also sends to the clusters, from this same pass (no broker hop in
    between), every cluster at once; a cluster that has not answered within
    ``PADDOCK_CLUSTER_BUDGET`` seconds is left to the dispatch task.
    """
    admitted = 0
    dispatcher = Dispatcher()
    with transaction.atomic():
        if not try_transaction_lock(LOCK):
            return 0
        ensure_pools()  # pool housekeeping under the pass's lock: no pass sees a pool half-made
        resolve_pools()
        for job, reason in unresolved():
            capacity.set_reason(job, reason)
        if Pool.objects.exists():  # no pools (no inventory yet): nothing for the quota pass to do
            now = timezone.now()
            state = load_state()
            candidates = load_candidates(state)
            decisions = decide(state, candidates, now, timings=timings)
            admitted = apply_decisions(state, {c.job_id: c for c in candidates}, decisions, now, dispatcher)
            if admitted or decisions.preempted:
                log.info("jobs.admitted", count=admitted, preempted=len(decisions.preempted))
    # Clusters without an inventory are asked over the network, so after the pass's transaction;
    # each is admitted under its own lock, so a slow one holds up only its own jobs.
    admitted += capacity.admit_by_capacity(dispatcher)
    dispatcher.finish()
    return admitted


def preview(quotas: Iterable[Quota]) -> Decisions:
    """What the next pass would do if ``quotas`` were saved (the admin's what-if); writes nothing."""
    state = load_state(quotas)
    return decide(state, load_candidates(state), timezone.now())
