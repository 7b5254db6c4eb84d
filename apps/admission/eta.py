"""When will a pending job start? Replay the real ``decide`` forward in virtual time.

Every job that holds a pool now ends at its expected end; each replay step removes the
holders that end next and runs the same ``decide`` the pass runs (over a copy of the pass's
state, writing nothing): whoever it admits at that virtual time starts then, and from then on
holds its units until its own expected end. A job's estimate is the virtual time it is first
admitted; its confidence is the least certain of the ends the replay went through to get there.

Where an end comes from, most certain first:

* the job's declared ``max_runtime_seconds`` from its start (high);
* the planner's time estimate stored in the job's ``plan`` (``time_to_train_s``) (medium);
* the median run time of the team's recent finished jobs of the same name (medium), or of the
  same GPU count (low);
* ``PADDOCK_ESTIMATE_DEFAULT_RUNTIME`` (low).

The work is bounded: at most ``PADDOCK_ESTIMATE_MAX_STEPS`` steps, ``PADDOCK_ESTIMATE_HORIZON``
seconds ahead and ``PADDOCK_ESTIMATE_BUDGET`` seconds of work; a job still waiting then is
"later than" the last time replayed (low). A job that no end lets in (it asks for more than the pool has, or its
team has no quota) gets no estimate. Jobs submitted later are unknown to the replay: a
higher-priority submission can push an estimate back, which is why even a replay of declared
runtimes only is an estimate.
"""

from __future__ import annotations

import heapq
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from apps.admission.decide import decide
from apps.admission.state import Candidate, Holder, PassState, load_candidates, load_state, release
from apps.core.bulk import copy_update
from apps.core.locks import try_transaction_lock
from apps.core.logging import get_logger
from apps.jobs.choices import HOLDING_STATES, EstimateConfidence, JobState
from apps.jobs.models import Job

log = get_logger("admission.eta")
LOCK = "admission.estimate"
HIGH, MEDIUM, LOW, NONE = (
    EstimateConfidence.HIGH.value,
    EstimateConfidence.MEDIUM.value,
    EstimateConfidence.LOW.value,
    EstimateConfidence.NONE.value,
)
_RANK = {HIGH: 0, MEDIUM: 1, LOW: 2}


@dataclass(frozen=True)
class Runtime:
    """How long a job runs once started, and what that rests on."""

    seconds: float
    confidence: str
    basis: str  # short words: "declared max runtime", "planner's estimate", …


@dataclass(frozen=True)
class Estimate:
    start_at: datetime | None
    confidence: str
    basis: str


def worse(a: str, b: str) -> str:
    return a if _RANK[a] >= _RANK[b] else b


# --- the pure replay ---------------------------------------------------------------------------


def copy_state(state: PassState) -> PassState:
    """An independent copy of what ``decide`` mutates (ledgers, snapshots, free CPUs, holders)."""
    return replace(
        state,
        ledgers={
            pool_id: replace(ledger, shares={t: replace(s) for t, s in ledger.shares.items()})
            for pool_id, ledger in state.ledgers.items()
        },
        snapshots={pool_id: snapshot.copy() for pool_id, snapshot in state.snapshots.items()},
        cpu_free=dict(state.cpu_free),
        holders={pool_id: list(holders) for pool_id, holders in state.holders.items()},
        lost_holders=list(state.lost_holders),
    )


def replay(
    state: PassState,
    candidates: list[Candidate],
    now: datetime,
    *,
    ends: Mapping[int, tuple[datetime, Runtime]],
    runtimes: Mapping[int, Runtime],
    max_steps: int,
    horizon: timedelta,
    quantum: timedelta = timedelta(0),
    until: int | None = None,
    starvation: timedelta | None = None,
    budget: float | None = None,
) -> dict[int, Estimate]:
    """The estimate of every candidate; mutates ``state`` (pass a copy).

    ``ends``: each holder's expected end (job id → when, on what); a holder missing from it
    never ends. ``runtimes``: each candidate's run time once admitted. Ends within ``quantum``
    of the next one are taken in one step at the latest of them (fewer ``decide`` calls; an
    estimate is never earlier than the replay says). ``until``: stop once that job is placed.
    ``budget``: stop after about that many seconds of work (a queue of 100,000 jobs makes each
    step a full ``decide``); whoever is still waiting then is "later than" the last step.
    """
    deadline = time.monotonic() + budget if budget is not None else None
    estimates: dict[int, Estimate] = {}
    queue: list[tuple[datetime, int, Holder, Runtime]] = []
    live: set[int] = set()
    for holders in state.holders.values():
        for holder in holders:
            end = ends.get(holder.job_id)
            if end is not None:
                heapq.heappush(queue, (end[0], holder.job_id, holder, end[1]))
                live.add(holder.job_id)
    waiting = list(candidates)
    by_id = {c.job_id: c for c in waiting}
    limit = now + horizon
    least = HIGH
    kinds: set[str] = set()
    t = now
    last_ended: list[int] = []
    for step in range(max_steps + 1):
        if step:
            if deadline is not None and time.monotonic() > deadline:
                break
            while queue and queue[0][2].job_id not in live:
                heapq.heappop(queue)  # preempted in the replay: it no longer ends
            if not queue or queue[0][0] > limit:
                break
            t = queue[0][0]
            last_ended = []
            while queue and queue[0][0] <= t + quantum and queue[0][0] <= limit:
                end_at, job_id, holder, runtime = heapq.heappop(queue)
                if job_id not in live:
                    continue
                live.discard(job_id)
                t = max(t, end_at)
                release(state, holder)
                state.holders[holder.pool_id] = [h for h in state.holders[holder.pool_id] if h.job_id != job_id]
                least = worse(least, runtime.confidence)
                kinds.add(runtime.basis)
                last_ended.append(job_id)
            state.lost_holders = []  # the first step released them
        decisions = decide(state, waiting, t, starvation=starvation)
        for holder, _ in decisions.preempted:
            live.discard(holder.job_id)
        if not decisions.admitted:
            continue
        placed = set()
        for job, placement in decisions.admitted:
            placed.add(job.job_id)
            estimates[job.job_id] = Estimate(t, least, _basis(step, last_ended, kinds))
            own = runtimes.get(job.job_id)
            holder = Holder(
                job_id=job.job_id,
                team_id=job.team_id,
                pool_id=job.pool_id,
                units=job.units,
                priority=job.priority,
                preemptible=job.preemptible,
                admitted_at=t,
                placement=placement,
            )
            state.holders.setdefault(job.pool_id, []).append(holder)
            if own is not None:
                heapq.heappush(queue, (t + timedelta(seconds=own.seconds), job.job_id, holder, own))
                live.add(job.job_id)
        waiting = [c for c in waiting if c.job_id not in placed]
        if (until is not None and until in placed) or not waiting:
            break
    more = any(item[2].job_id in live for item in queue)
    for job in waiting:
        if job.job_id in by_id and job.job_id not in estimates:
            if more:
                estimates[job.job_id] = Estimate(
                    None, LOW, f"Later than {t:%Y-%m-%d %H:%M} UTC: beyond the ends the estimate replays."
                )
            else:
                estimates[job.job_id] = Estimate(None, NONE, "No expected end of running work lets it in.")
    return estimates


def _basis(step: int, ended: list[int], kinds: set[str]) -> str:
    if step == 0:
        return "Fits now: the next pass admits it."
    shown = ", ".join(str(job_id) for job_id in ended[:3])
    more = f" and {len(ended) - 3} more" if len(ended) > 3 else ""
    said = f"job {shown} ends" if len(ended) == 1 else f"jobs {shown}{more} end"
    return f"When {said}; ends from: {', '.join(sorted(kinds))}."[:300]


# --- what the ends rest on (database) ----------------------------------------------------------


def default_runtime() -> Runtime:
    seconds = float(settings.PADDOCK_ESTIMATE_DEFAULT_RUNTIME)
    return Runtime(seconds, LOW, "default run time")


@dataclass
class History:
    """Median run times of the teams' recent finished jobs, by name and by GPU count."""

    by_name: dict[tuple[int, str], tuple[float, int]]
    by_shape: dict[tuple[int, float], tuple[float, int]]

    @classmethod
    def load(cls, team_ids: Iterable[int], recent: int = 20_000) -> History:
        names: dict[tuple[int, str], list[float]] = defaultdict(list)
        shapes: dict[tuple[int, float], list[float]] = defaultdict(list)
        rows = (
            Job.objects.filter(
                team_id__in=list(team_ids),
                state=JobState.SUCCEEDED,
                started_at__isnull=False,
                finished_at__isnull=False,
            )
            .order_by("-finished_at")
            .values_list("team_id", "name", "gpus", "started_at", "finished_at")[:recent]
        )
        for team_id, name, gpus, started, finished in rows:
            if started is None or finished is None:
                continue
            seconds = (finished - started).total_seconds()
            if seconds > 0:
                names[(team_id, name)].append(seconds)
                shapes[(team_id, gpus)].append(seconds)
        return cls(
            {key: (statistics.median(v), len(v)) for key, v in names.items()},
            {key: (statistics.median(v), len(v)) for key, v in shapes.items()},
        )

    def runtime(self, team_id: int, name: str, gpus: float) -> Runtime | None:
        found = self.by_name.get((team_id, name))
        if found is not None:
            confidence = MEDIUM if found[1] >= 3 else LOW
            return Runtime(found[0], confidence, "the team's history of jobs of that name")
        found = self.by_shape.get((team_id, gpus))
        if found is not None:
            return Runtime(found[0], LOW, "the team's history of jobs of that size")
        return None


def runtime_of(row: Mapping[str, Any], history: History) -> Runtime:
    if row["max_runtime_seconds"]:
        return Runtime(float(row["max_runtime_seconds"]), HIGH, "declared max runtime")
    planned = (row["plan"] or {}).get("time_to_train_s") if isinstance(row["plan"], dict) else None
    if isinstance(planned, int | float) and planned > 0:
        return Runtime(float(planned), MEDIUM, "the planner's estimate")
    return history.runtime(row["team_id"], row["name"], row["gpus"]) or default_runtime()


def expected(job_ids: Iterable[int], now: datetime) -> tuple[dict[int, tuple[datetime, Runtime]], dict[int, Runtime]]:
    """Expected ends of the holders and run times of the pending jobs among ``job_ids``."""
    rows = list(
        Job.objects.filter(pk__in=list(job_ids)).values(
            "id", "team_id", "name", "gpus", "state", "max_runtime_seconds", "plan", "started_at", "admitted_at"
        )
    )
    history = History.load({row["team_id"] for row in rows})
    ends: dict[int, tuple[datetime, Runtime]] = {}
    runtimes: dict[int, Runtime] = {}
    for row in rows:
        runtime = runtime_of(row, history)
        if row["state"] in HOLDING_STATES:
            start = row["started_at"] or row["admitted_at"] or now
            end = start + timedelta(seconds=runtime.seconds)
            if end < now:  # it ran past what was expected: it may end any moment
                end, runtime = now, Runtime(0.0, LOW, "running past its expected end")
            ends[row["id"]] = (end, runtime)
        else:
            runtimes[row["id"]] = runtime
    return ends, runtimes


def estimate_pending(now: datetime | None = None) -> int:
    """Estimate every pending job's start and write the ones that changed; returns how many.

    The replay reads one consistent snapshot (a read-only repeatable-read transaction: it
    takes no row lock, so a pass is never held up by it) and writes afterwards, in its own
    short transaction, under its own lock (one estimate at a time).
    """
    from django.utils import timezone

    now = now or timezone.now()
    outermost = not connection.in_atomic_block  # (a test's transaction has begun already)
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        state = load_state()
        candidates = load_candidates(state)
        if not candidates:
            return 0
        holder_ids = [h.job_id for holders in state.holders.values() for h in holders]
        ends, runtimes = expected([*holder_ids, *(c.job_id for c in candidates)], now)
        current = {
            row[0]: Estimate(row[1], row[2], row[3])
            for row in Job.objects.filter(state=JobState.PENDING).values_list(
                "id", "estimated_start_at", "estimate_confidence", "estimate_basis"
            )
        }
    estimates = replay(
        state,
        candidates,
        now,
        ends=ends,
        runtimes=runtimes,
        max_steps=int(settings.PADDOCK_ESTIMATE_MAX_STEPS),
        horizon=timedelta(seconds=float(settings.PADDOCK_ESTIMATE_HORIZON)),
        quantum=timedelta(seconds=float(settings.PADDOCK_ESTIMATE_QUANTUM)),
        budget=float(settings.PADDOCK_ESTIMATE_BUDGET),
    )
    changed = {job_id: e for job_id, e in estimates.items() if current.get(job_id) != e}
    with transaction.atomic():
        if not try_transaction_lock(LOCK):
            return 0
        write_estimates(changed)
    log.info("admission.estimated", pending=len(candidates), changed=len(changed))
    return len(changed)


def write_estimates(estimates: Mapping[int, Estimate]) -> None:
    """One COPY and one UPDATE (PostgreSQL), only for jobs still pending."""
    if not estimates:
        return
    if connection.vendor != "postgresql":
        jobs = list(Job.objects.filter(pk__in=list(estimates), state=JobState.PENDING).only("id"))
        for job in jobs:
            e = estimates[job.pk]
            job.estimated_start_at, job.estimate_confidence, job.estimate_basis = e.start_at, e.confidence, e.basis
        Job.objects.bulk_update(jobs, ["estimated_start_at", "estimate_confidence", "estimate_basis"], batch_size=500)
        return
    copy_update(
        Job._meta.db_table,
        [("id", "bigint"), ("at", "timestamptz"), ("confidence", "text"), ("basis", "text")],
        ((job_id, e.start_at, e.confidence, e.basis) for job_id, e in estimates.items()),
        "estimated_start_at = v.at, estimate_confidence = v.confidence, estimate_basis = v.basis",
        f"{Job._meta.db_table}.state = %s",
        [JobState.PENDING],
    )
