"""The admission scheduler: quotas, priorities, fair share, preemption and gang placement.

One pass at a time (a PostgreSQL advisory lock), triggered on submit, on job end, on quota or
inventory change and periodically. A pass:

1. loads the pools, their quotas and cohorts, what holds GPUs now and where (``PassState``);
2. enforces the limits an operator may just have lowered (a quota, a node gone): it preempts
   the newest, lowest-priority work until every invariant holds again;
3. takes pending jobs in order — priority, then fair share (what the team borrows over the
   pool's capacity, divided by its weight), then age — one team head at a time, so a job that
   does not fit never blocks smaller ones behind it, unless it has starved past
   ``PADDOCK_SCHEDULER_STARVATION_SECONDS``: then its pool holds capacity for it;
4. for each, asks the pool's ledger whether the quotas allow it and the pool's snapshot where
   all its GPUs could go at once; if either says no, tries preemption as the team's cohort
   allows, else records why the job waits, in words;
5. writes every admission (attempt, placement, GPU allocations, event), preemption and reason
   in the same transaction: a crash anywhere leaves nothing half-admitted.

``decide`` is pure over a loaded ``PassState`` so the admin's what-if preview runs it too.
"""

from __future__ import annotations

import heapq
import math
import re
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from apps.core.locks import try_transaction_lock
from apps.core.logging import get_logger
from apps.inventory.choices import NodeState
from apps.inventory.models import Accelerator, NetworkFabric, Node
from apps.jobs import capacity_admission
from apps.jobs.choices import HOLDING_STATES, AttemptState, EventKind, JobState
from apps.jobs.models import Attempt, Job, JobEvent
from apps.jobs.services import Dispatcher, preempt_job
from apps.quotas.accounting import PoolLedger, Refusal, Share
from apps.quotas.models import Allocation, Cohort, Pool, Quota
from apps.quotas.placement import NodeSlot, NoPlacement, Placement, PoolSnapshot
from apps.quotas.pools import ensure_pools, resolve_pools, unresolved
from apps.tenancy.models import Team

log = get_logger("jobs.scheduler")


@dataclass
class Holder:
    """A job that holds units of a pool now."""

    job_id: int
    team_id: int
    pool_id: int
    units: int
    priority: int
    preemptible: bool
    admitted_at: datetime | None
    placement: Placement | None = None


@dataclass
class Candidate:
    """A pending job, as the pass sees it."""

    job_id: int
    team_id: int
    pool_id: int
    units: int
    priority: int
    preemptible: bool
    priority_class: str
    created_at: datetime
    waiting_since: datetime
    last_attempt: int
    state_reason: str


@dataclass
class PassState:
    pools: dict[int, Pool]
    ledgers: dict[int, PoolLedger]
    snapshots: dict[int, PoolSnapshot]  # GPU pools
    cpu_free: dict[int, int]  # CPU pools
    holders: dict[int, list[Holder]]
    accelerator_ids: dict[tuple[int, int], int]  # (node id, GPU index) → Accelerator id
    policies: dict[int, Cohort]
    team_cohort: dict[int, int | None]
    gang_limit: dict[int, int] = field(default_factory=dict)  # the most GPUs one job can ever get per pool
    memory_per_cpu: dict[int, float] = field(default_factory=dict)  # CPU pools: GB of memory per CPU
    lost_holders: list[Holder] = field(default_factory=list)  # placed on nodes now down


@dataclass
class Decisions:
    admitted: list[tuple[Candidate, Placement]] = field(default_factory=list)
    preempted: list[tuple[Holder, str]] = field(default_factory=list)
    reasons: dict[int, str] = field(default_factory=dict)


# --- loading ---------------------------------------------------------------------------------


def _units(gpus: float, cpus: float, memory_gb: float, gpu_pool: bool, memory_per_cpu: float) -> int:
    """GPUs in a GPU pool. In a CPU pool, CPUs — or, for a job that asks for more memory than its
    CPUs come with on the pool's nodes, the CPUs that much memory comes with (its dominant share)."""
    if gpu_pool:
        return math.ceil(gpus)
    by_memory = math.ceil(memory_gb / memory_per_cpu - 1e-9) if memory_per_cpu > 0 and memory_gb > 0 else 0
    return max(math.ceil(cpus), by_memory)


def load_state(quota_overrides: Iterable[Quota] = ()) -> PassState:
    """Everything a pass decides on, in a fixed number of queries whatever the inventory's size.

    ``quota_overrides`` replaces stored quotas (same team and pool) for a what-if preview.
    """
    pools = {pool.pk: pool for pool in Pool.objects.select_related("cluster", "accelerator_model")}
    teams = {team.pk: team for team in Team.objects.only("id", "slug", "cohort_id")}
    policies = {cohort.pk: cohort for cohort in Cohort.objects.all()}
    team_cohort = {pk: team.cohort_id for pk, team in teams.items()}
    quotas = {(q.team_id, q.pool_id): q for q in Quota.objects.all()}
    for quota in quota_overrides:
        quotas[(quota.team_id, quota.pool_id)] = quota

    nodes = {
        node.pk: node
        for node in Node.objects.filter(cluster_id__in={p.cluster_id for p in pools.values()})
        .exclude(state=NodeState.DOWN)
        .only("id", "cluster_id", "hostname", "address", "cpus", "memory_bytes", "state")
    }
    schedulable = set(Node.objects.schedulable().filter(pk__in=list(nodes)).values_list("pk", flat=True))
    fabric_names = dict(NetworkFabric.objects.values_list("pk", "name"))
    fabrics: dict[int, set[int]] = defaultdict(set)
    for node_id, fabric_id in Node.fabrics.through.objects.filter(node_id__in=list(nodes)).values_list(
        "node_id", "networkfabric_id"
    ):
        fabrics[node_id].add(fabric_id)
    domains: dict[tuple[int, int], set[int]] = defaultdict(set)  # (node, domain) → GPU indices
    for domain_id, node_id, index in Accelerator.interconnect_domains.through.objects.filter(
        accelerator__node_id__in=list(nodes)
    ).values_list("interconnectdomain_id", "accelerator__node_id", "accelerator__index"):
        domains[(node_id, domain_id)].add(index)
    node_domains: dict[int, list[frozenset[int]]] = defaultdict(list)
    for (node_id, _), indices in domains.items():
        node_domains[node_id].append(frozenset(indices))

    model_pool = {(p.cluster_id, p.accelerator_model_id): pk for pk, p in pools.items() if p.accelerator_model_id}
    per_node: dict[tuple[int, int], int] = defaultdict(int)  # (pool, node) → GPUs, in use or not
    accelerator_ids: dict[tuple[int, int], int] = {}
    free: dict[int, dict[int, set[int]]] = defaultdict(dict)  # pool → node → free GPU indices
    capacity: dict[int, int] = defaultdict(int)
    held = set(Allocation.objects.filter(released_at__isnull=True).values_list("accelerator_id", flat=True))
    for acc_id, node_id, index, model_id, health in Accelerator.objects.filter(
        node_id__in=list(nodes), model__isnull=False
    ).values_list("id", "node_id", "index", "model_id", "health"):
        pool_id = model_pool.get((nodes[node_id].cluster_id, model_id))
        if pool_id is None:
            continue
        accelerator_ids[(node_id, index)] = acc_id
        capacity[pool_id] += 1
        per_node[(pool_id, node_id)] += 1  # any node not down: a cordoned one may come back
        if node_id in schedulable and acc_id not in held and health != "failed":
            free[pool_id].setdefault(node_id, set()).add(index)
        elif node_id in schedulable:
            free[pool_id].setdefault(node_id, set())

    cpu_pools = {p.cluster_id: pk for pk, p in pools.items() if not p.accelerator_model_id}
    memory: dict[int, float] = defaultdict(float)
    for node in nodes.values():
        pool_id = cpu_pools.get(node.cluster_id)
        if pool_id is not None:
            capacity[pool_id] += int(node.cpus)
            memory[pool_id] += node.memory_bytes / 1e9
    memory_per_cpu = {pool_id: memory[pool_id] / capacity[pool_id] for pool_id in memory if capacity[pool_id]}
    cpu_capacity_schedulable: dict[int, int] = defaultdict(int)
    for node in nodes.values():
        if node.pk in schedulable and node.cluster_id in cpu_pools:
            cpu_capacity_schedulable[cpu_pools[node.cluster_id]] += int(node.cpus)

    ledgers: dict[int, PoolLedger] = {}
    cohort_names = {pk: c.name for pk, c in policies.items()}
    for pool_id, pool in pools.items():
        ledger = PoolLedger(
            pool_id=pool_id,
            name=pool.name,
            unit=pool.unit,
            capacity=capacity[pool_id],
            cohort_of=dict(team_cohort),
            team_names={pk: t.slug for pk, t in teams.items()},
            cohort_names=cohort_names,
        )
        ledgers[pool_id] = ledger
    for (team_id, pool_id), quota in quotas.items():
        if pool_id in ledgers:
            ledgers[pool_id].shares[team_id] = Share(
                team_id=team_id,
                guaranteed=quota.guaranteed,
                max=quota.max,
                lending_limit=quota.lending_limit,
                weight=float(quota.weight),
                has_quota=True,
            )

    placements: dict[int, list[tuple[int, str, str, int]]] = defaultdict(list)
    down_jobs: set[int] = set()
    for job_id, node_id, hostname, address, index, node_state in Allocation.objects.filter(
        released_at__isnull=True
    ).values_list("job_id", "node_id", "node__hostname", "node__address", "accelerator__index", "node__state"):
        placements[job_id].append((node_id, hostname, address, index))
        if node_state == NodeState.DOWN:
            down_jobs.add(job_id)
    holders: dict[int, list[Holder]] = defaultdict(list)
    lost: list[Holder] = []
    for row in Job.objects.filter(state__in=HOLDING_STATES, pool__isnull=False).values(
        "id",
        "team_id",
        "pool_id",
        "gpus",
        "cpus",
        "memory_gb",
        "priority",
        "priority_class__preemptible",
        "admitted_at",
    ):
        held_in = pools.get(row["pool_id"])
        if held_in is None:
            continue
        holder = Holder(
            job_id=row["id"],
            team_id=row["team_id"],
            pool_id=row["pool_id"],
            units=_units(
                row["gpus"],
                row["cpus"],
                row["memory_gb"],
                bool(held_in.accelerator_model_id),
                memory_per_cpu.get(held_in.pk, 0.0),
            ),
            priority=row["priority"],
            preemptible=row["priority_class__preemptible"] is not False,
            admitted_at=row["admitted_at"],
            placement=_placement(placements.get(row["id"], [])),
        )
        holders[holder.pool_id].append(holder)
        ledgers[holder.pool_id].add(holder.team_id, holder.units)
        if holder.job_id in down_jobs:
            lost.append(holder)

    gang_limit: dict[int, int] = defaultdict(int)
    fabric_total: dict[tuple[int, int], int] = defaultdict(int)
    for (pool_id, node_id), count in per_node.items():
        gang_limit[pool_id] = max(gang_limit[pool_id], count)
        for fabric_id in fabrics.get(node_id, ()):
            fabric_total[(pool_id, fabric_id)] += count
    for (pool_id, _), count in fabric_total.items():
        gang_limit[pool_id] = max(gang_limit[pool_id], count)
    snapshots: dict[int, PoolSnapshot] = {}
    cpu_free: dict[int, int] = {}
    for pool_id, pool in pools.items():
        if pool.accelerator_model_id:
            snapshots[pool_id] = PoolSnapshot(
                (
                    NodeSlot(
                        node_id=node_id,
                        hostname=nodes[node_id].hostname,
                        free=set(indices),
                        fabrics=frozenset(fabrics.get(node_id, ())),
                        domains=tuple(node_domains.get(node_id, ())),
                        address=nodes[node_id].address,
                    )
                    for node_id, indices in sorted(free[pool_id].items())
                ),
                strategy=pool.placement,
                fabric_names=fabric_names,
                gpu_name=pool.accelerator_model.name if pool.accelerator_model else "GPU",
            )
        else:
            cpu_free[pool_id] = cpu_capacity_schedulable.get(pool_id, 0) - ledgers[pool_id].used_total
    return PassState(
        pools=pools,
        ledgers=ledgers,
        snapshots=snapshots,
        cpu_free=cpu_free,
        holders=holders,
        accelerator_ids=accelerator_ids,
        policies=policies,
        team_cohort=team_cohort,
        lost_holders=lost,
        memory_per_cpu=memory_per_cpu,
        gang_limit=dict(gang_limit),
    )


def _placement(rows: list[tuple[int, str, str, int]]) -> Placement | None:
    from apps.quotas.placement import NodeShare

    if not rows:
        return None
    by_node: dict[int, list[Any]] = defaultdict(list)
    for node_id, hostname, address, index in rows:
        by_node[node_id].append((hostname, address, index))
    shares = tuple(
        NodeShare(node_id=node_id, hostname=items[0][0], address=items[0][1], gpus=tuple(sorted(i[2] for i in items)))
        for node_id, items in sorted(by_node.items())
    )
    return Placement(shares=shares)


def load_candidates(state: PassState) -> list[Candidate]:
    rows = (
        Job.objects.filter(state=JobState.PENDING, pool__isnull=False)
        .annotate(last_attempt=Max("attempts__number"))
        .order_by("-priority", "created_at", "id")
        .values(
            "id",
            "team_id",
            "pool_id",
            "gpus",
            "cpus",
            "memory_gb",
            "priority",
            "priority_class__preemptible",
            "priority_class__name",
            "created_at",
            "updated_at",
            "last_attempt",
            "queued_at",
            "state_reason",
            "pool__accelerator_model_id",
        )
    )
    return [
        Candidate(
            job_id=row["id"],
            team_id=row["team_id"],
            pool_id=row["pool_id"],
            units=_units(
                row["gpus"],
                row["cpus"],
                row["memory_gb"],
                bool(row["pool__accelerator_model_id"]),
                state.memory_per_cpu.get(row["pool_id"], 0.0),
            ),
            priority=row["priority"],
            preemptible=row["priority_class__preemptible"] is not False,
            priority_class=row["priority_class__name"] or "",
            created_at=row["created_at"],
            waiting_since=row["queued_at"],  # back in the queue after a preemption or a retry: from then
            last_attempt=row["last_attempt"] or 0,
            state_reason=row["state_reason"],
        )
        for row in rows
    ]


# --- deciding ---------------------------------------------------------------------------------


def _fits(state: PassState, pool_id: int, units: int) -> Placement | NoPlacement:
    snapshot = state.snapshots.get(pool_id)
    if snapshot is not None:
        return snapshot.place(units)
    free = state.cpu_free.get(pool_id, 0)
    if units <= free:
        return Placement(shares=())
    return NoPlacement(reason=f"{free} CPUs free on schedulable nodes", largest_block=free)


def _take(state: PassState, pool_id: int, team_id: int, units: int, placement: Placement) -> None:
    state.ledgers[pool_id].add(team_id, units)
    if pool_id in state.snapshots:
        state.snapshots[pool_id].take(placement)
    else:
        state.cpu_free[pool_id] -= units


def _release(state: PassState, holder: Holder) -> None:
    state.ledgers[holder.pool_id].remove(holder.team_id, holder.units)
    if holder.pool_id in state.snapshots:
        if holder.placement is not None and holder.placement.shares:
            state.snapshots[holder.pool_id].give_back(_schedulable_part(state, holder))
    else:
        state.cpu_free[holder.pool_id] += holder.units


def _schedulable_part(state: PassState, holder: Holder) -> Placement:
    """GPUs of the holder that sit on nodes the snapshot knows (a draining node's do not come back)."""
    snapshot = state.snapshots[holder.pool_id]
    assert holder.placement is not None

    def known(node_id: int) -> bool:
        try:
            snapshot.node(node_id)
        except KeyError:
            return False
        return True

    return Placement(shares=tuple(s for s in holder.placement.shares if known(s.node_id)))


def _victim_order(holder: Holder) -> tuple[int, int, float]:
    admitted = holder.admitted_at.timestamp() if holder.admitted_at else 0.0
    # preemptible work first, then the lowest priority, then the youngest
    return (0 if holder.preemptible else 1, holder.priority, -admitted)


def _policy(state: PassState, team_id: int) -> Cohort | None:
    cohort = state.team_cohort.get(team_id)
    return state.policies.get(cohort) if cohort is not None else None


def _try_preempt(state: PassState, job: Candidate, refusal: Refusal | None) -> list[tuple[Holder, str]] | None:
    """Victims whose preemption lets ``job`` in, as its cohort's policy allows; None if none do."""
    policy = _policy(state, job.team_id)
    if policy is None:
        return None
    ledger = state.ledgers[job.pool_id]
    share = ledger.share(job.team_id)
    within_guarantee = share.used + job.units <= share.guaranteed
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
    options.sort(key=lambda item: (item[0], *_victim_order(item[1])))
    chosen: list[tuple[Holder, str]] = []
    for kind, holder, why in options:
        if kind == 0 and not ledger.share(holder.team_id).borrowed:
            continue  # that team no longer borrows: its remaining jobs are its own guarantee
        _release(state, holder)
        chosen.append((holder, why))
        if _admissible(state, job):
            return _fewest(state, job, chosen)
    for holder, _ in reversed(chosen):  # no set of victims is enough: undo the trial
        _retake(state, holder)
    return None


def _admissible(state: PassState, job: Candidate) -> bool:
    ledger = state.ledgers[job.pool_id]
    allowed = ledger.refuse(job.team_id, job.units, preemptible=job.preemptible) is None
    return allowed and isinstance(_fits(state, job.pool_id, job.units), Placement)


def _fewest(state: PassState, job: Candidate, chosen: list[tuple[Holder, str]]) -> list[tuple[Holder, str]]:
    """Give back every victim the job can do without (the greedy pass may take some whose GPUs
    sit elsewhere), most valuable first: highest priority, then the oldest."""
    kept = list(chosen)
    for victim in sorted(chosen, key=lambda item: _victim_order(item[0]), reverse=True):
        _retake(state, victim[0])
        if _admissible(state, job):
            kept.remove(victim)
        else:
            _release(state, victim[0])
    return kept


def _retake(state: PassState, holder: Holder) -> None:
    state.ledgers[holder.pool_id].add(holder.team_id, holder.units)
    if holder.pool_id in state.snapshots:
        if holder.placement is not None and holder.placement.shares:
            state.snapshots[holder.pool_id].take(_schedulable_part(state, holder))
    else:
        state.cpu_free[holder.pool_id] -= holder.units


def _evict(state: PassState, decisions: Decisions, holder: Holder, reason: str) -> None:
    decisions.preempted.append((holder, reason))
    state.holders[holder.pool_id] = [h for h in state.holders[holder.pool_id] if h.job_id != holder.job_id]


def enforce(state: PassState, decisions: Decisions) -> None:
    """Restore limits lowered since the last pass: preempt the newest, lowest-priority work."""
    for holder in state.lost_holders:
        _release(state, holder)
        _evict(state, decisions, holder, "its node went down")
    for pool_id, ledger in state.ledgers.items():
        if ledger.open:
            continue
        firm: dict[int, int] = defaultdict(int)  # units of non-preemptible work per team
        for holder in state.holders.get(pool_id, []):
            if not holder.preemptible:
                firm[holder.team_id] += holder.units
        for holder in sorted(state.holders.get(pool_id, []), key=_victim_order):
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
            if why:
                if not holder.preemptible:
                    firm[holder.team_id] -= holder.units
                _release(state, holder)
                _evict(state, decisions, holder, why)


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
    where = _fits(state, job.pool_id, job.units) if refusal is None else None
    if refusal is None and isinstance(where, Placement):
        _take(state, job.pool_id, job.team_id, job.units, where)
        decisions.admitted.append((job, where))
        return
    can_preempt = refusal is None or refusal.reclaim or refusal.borrowing or refusal.own
    victims = _try_preempt(state, job, refusal) if can_preempt and job.units else None
    placed = _fits(state, job.pool_id, job.units) if victims else None
    if victims and isinstance(placed, Placement):
        for holder, why in victims:
            _evict(state, decisions, holder, f"preempted for job {job.job_id}: {why}")
        _take(state, job.pool_id, job.team_id, job.units, placed)
        decisions.admitted.append((job, placed))
        return
    reason = _describe_wait(state, job, refusal, where if isinstance(where, NoPlacement) else None)
    if now - job.waiting_since > starvation and refusal is None:
        reserved[job.pool_id] = job
        reason = reason[:-1] + "; it has waited long enough that the pool now holds capacity for it."
    decisions.reasons[job.job_id] = reason


# --- applying --------------------------------------------------------------------------------


def _apply(
    state: PassState,
    candidates: dict[int, Candidate],
    decisions: Decisions,
    now: datetime,
    dispatcher: Dispatcher | None = None,
) -> int:
    for holder, reason in decisions.preempted:
        job = Job.objects.filter(pk=holder.job_id).first()
        if job is not None:
            preempt_job(job, reason=reason)
    admitted_ids = [job.job_id for job, _ in decisions.admitted]
    locked = set(
        Job.objects.select_for_update().filter(pk__in=admitted_ids, state=JobState.PENDING).values_list("pk", flat=True)
    )
    placements = {job.job_id: placement for job, placement in decisions.admitted if job.job_id in locked}
    if placements:
        Job.objects.filter(pk__in=list(placements)).update(
            state=JobState.ADMITTED, admitted_at=now, state_reason="", updated_at=now
        )
        attempts = Attempt.objects.bulk_create(
            [
                Attempt(
                    job_id=job_id,
                    number=candidates[job_id].last_attempt + 1,
                    state=AttemptState.ADMITTED,
                    placement=placement.as_json(),
                )
                for job_id, placement in placements.items()
            ]
        )
        by_job = {attempt.job_id: attempt for attempt in attempts}
        JobEvent.objects.bulk_create(
            [
                JobEvent(
                    job_id=job_id,
                    attempt=by_job[job_id],
                    kind=EventKind.ADMITTED,
                    from_state=JobState.PENDING,
                    to_state=JobState.ADMITTED,
                    message=_admitted_message(state, candidates[job_id], placement),
                )
                for job_id, placement in placements.items()
            ]
        )
        Allocation.objects.bulk_create(
            [
                Allocation(
                    job_id=job_id,
                    attempt=by_job[job_id],
                    node_id=share.node_id,
                    accelerator_id=state.accelerator_ids[(share.node_id, index)],
                )
                for job_id, placement in placements.items()
                for share in placement.shares
                for index in share.gpus
            ]
        )
        capacity_admission.send_on_commit([str(attempt.pk) for attempt in attempts], dispatcher)
    changed = {
        job_id: reason
        for job_id, reason in decisions.reasons.items()
        if job_id in candidates and candidates[job_id].state_reason != reason
    }
    if changed:
        _write_reasons(changed, now)
        # An event when the kind of wait changes, not every time a count in the sentence does.
        JobEvent.objects.bulk_create(
            [
                JobEvent(job_id=job_id, kind=EventKind.WAITING, message=reason)
                for job_id, reason in changed.items()
                if _gist(reason) != _gist(candidates[job_id].state_reason)
            ]
        )
    return len(placements)


def _gist(reason: str) -> str:
    return re.sub(r"\d+", "#", reason)


def _write_reasons(reasons: dict[int, str], now: datetime) -> None:
    """One statement for thousands of reasons (PostgreSQL); bulk_update elsewhere."""
    if connection.vendor != "postgresql":
        jobs = list(Job.objects.filter(pk__in=list(reasons), state=JobState.PENDING).only("id"))
        for job in jobs:
            job.state_reason, job.updated_at = reasons[job.pk], now
        Job.objects.bulk_update(jobs, ["state_reason", "updated_at"], batch_size=500)
        return
    table = Job._meta.db_table
    items = list(reasons.items())
    for start in range(0, len(items), 2000):
        chunk = items[start : start + 2000]
        values = ", ".join(["(%s::bigint, %s::text)"] * len(chunk))
        params: list[Any] = [value for pair in chunk for value in pair]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET state_reason = v.reason, updated_at = %s "  # noqa: S608 - names are ours
                f"FROM (VALUES {values}) AS v(id, reason) WHERE {table}.id = v.id AND {table}.state = %s",
                [now, *params, JobState.PENDING],
            )


def _admitted_message(state: PassState, job: Candidate, placement: Placement) -> str:
    pool = state.pools[job.pool_id]
    if not placement.shares:
        return f"admitted to pool {pool.name} ({job.units} CPU)"
    where = "; ".join(f"{s.hostname} GPUs {','.join(map(str, s.gpus))}" for s in placement.shares)
    return f"admitted to pool {pool.name}: {where}"


def admit_pending(timings: list[float] | None = None) -> int:
    """One scheduler pass; returns how many jobs were admitted (0 when another pass runs).

    What it admits it also sends to the clusters, from this same pass (no broker hop in
    between), every cluster at once; a cluster that has not answered within
    ``PADDOCK_CLUSTER_BUDGET`` seconds is left to the dispatch task.
    """
    ensure_pools()
    resolve_pools()
    for job, reason in unresolved():
        capacity_admission.set_reason(job, reason)
    admitted = 0
    dispatcher = Dispatcher()
    if Pool.objects.exists():  # no pools (no inventory yet): nothing for the quota pass to do
        with transaction.atomic():
            if not try_transaction_lock("jobs.scheduler"):
                return 0
            now = timezone.now()
            state = load_state()
            candidates = load_candidates(state)
            decisions = decide(state, candidates, now, timings=timings)
            admitted = _apply(state, {c.job_id: c for c in candidates}, decisions, now, dispatcher)
        if admitted or decisions.preempted:
            log.info("jobs.admitted", count=admitted, preempted=len(decisions.preempted))
    admitted += capacity_admission.admit_by_capacity(dispatcher)
    dispatcher.finish()
    return admitted


def preview(quotas: Iterable[Quota]) -> Decisions:
    """What the next pass would do if ``quotas`` were saved (the admin's what-if); writes nothing."""
    state = load_state(quotas)
    return decide(state, load_candidates(state), timezone.now())
