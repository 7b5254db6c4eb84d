"""What a scheduler pass decides on, loaded in a fixed number of queries, and the primitives
that change it as if a decision were applied (take, release, evict)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.db.models import TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone

from apps.admission.accounting import PoolLedger, Refusal, Share
from apps.admission.models import Allocation
from apps.admission.placement import NodeShare, NodeSlot, NoPlacement, Placement, PoolSnapshot
from apps.admission.policy import TeamPolicy
from apps.costs.budgets import BudgetBook, Plan, load_book, plan_spend, planned_seconds
from apps.costs.rates import RateCard
from apps.inventory.catalog import Matcher
from apps.inventory.choices import NodeState
from apps.inventory.models import Accelerator, NetworkFabric, Node
from apps.jobs.choices import HOLDING_STATES, JobState
from apps.jobs.models import Job
from apps.quotas.models import Cohort, Pool, Quota
from apps.quotas.models import TeamPolicy as StoredPolicy
from apps.quotas.pools import accepted_pools
from apps.tenancy.models import Team


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
    queued_at: datetime | None = None  # its queue-order time (LowerOrNewerEqualPriority)
    memory: int = 0  # GB, counted where the team's quota in the pool has a memory guarantee


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
    state_reason: str
    memory: int = 0  # GB
    pool_ids: tuple[int, ...] = ()  # the pools it accepts, first choice first (Kueue's flavors); () = (pool_id,)
    planned_seconds: float | None = None  # how long it should run (read only when budgets are in force)
    cpus: float = 0.0  # as asked: they run on one node (the entrypoint's), unlike ``units``
    memory_gb: float = 0.0

    @property
    def pools(self) -> tuple[int, ...]:
        return self.pool_ids or (self.pool_id,)


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
    team_policy: dict[int, TeamPolicy] = field(default_factory=dict)  # absent: NO_PREEMPTION
    gang_limit: dict[int, int] = field(default_factory=dict)  # the most GPUs one job can ever get per pool
    # Per pool, per GPU count k (0 in a CPU pool): the most CPUs and memory bytes of one node with
    # at least k of the pool's GPUs, counting the nodes gang_limit counts (inf: a node reports none).
    node_limits: dict[int, dict[int, tuple[float, float]]] = field(default_factory=dict)
    memory_per_cpu: dict[int, float] = field(default_factory=dict)  # CPU pools: GB of memory per CPU
    lost_holders: list[Holder] = field(default_factory=list)  # placed on nodes now down
    # Per pool, memory in GB as a second resource; only teams whose quota there guarantees
    # memory have a share (the others' memory is not counted).
    memory_ledgers: dict[int, PoolLedger] = field(default_factory=dict)
    # Hard budgets in force (None: none, nothing to check) and the prices to plan spend with.
    budgets: BudgetBook | None = None
    rates: RateCard | None = None
    now: datetime | None = None


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


def _memory_gb(memory_gb: float) -> int:
    return math.ceil(memory_gb - 1e-9) if memory_gb > 0 else 0


# What a pass reads of every job it weighs, holding or pending: who, where, how big, how urgent.
JOB_SHAPE = (
    "id",
    "team_id",
    "pool_id",
    "gpus",
    "cpus",
    "memory_gb",
    "priority",
    "priority_class__preemptible",
    "kind",
)


def _preemptible(row: dict[str, Any]) -> bool:
    """A job may be preempted unless its priority class says not; a deployment (an endpoint
    serving traffic) only when its priority class says it may."""
    if row["kind"] == "deployment":
        return row["priority_class__preemptible"] is True
    return row["priority_class__preemptible"] is not False


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
    # Every GPU held now, read once without joins: the nodes and GPU indices come from the maps
    # built here (80,000 joined rows a pass was a large part of loading at 10,000 nodes).
    active = list(
        Allocation.objects.filter(released_at__isnull=True).values_list("job_id", "node_id", "accelerator_id")
    )
    held = {acc_id for _, _, acc_id in active}
    gpu_index: dict[int, int] = {}
    for acc_id, node_id, index, model_id, health in Accelerator.objects.filter(
        node_id__in=list(nodes), model__isnull=False
    ).values_list("id", "node_id", "index", "model_id", "health"):
        gpu_index[acc_id] = index
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

    memory_capacity: dict[int, float] = defaultdict(float)  # GB on the nodes of each pool
    for pool_id, node_id in per_node:
        memory_capacity[pool_id] += nodes[node_id].memory_bytes / 1e9
    for pool_id, total in memory.items():
        memory_capacity[pool_id] += total

    ledgers: dict[int, PoolLedger] = {}
    memory_ledgers: dict[int, PoolLedger] = {}
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
        memory_ledgers[pool_id] = PoolLedger(
            pool_id=pool_id,
            name=pool.name,
            unit="GB",
            capacity=int(memory_capacity[pool_id]),
            team_names=ledger.team_names,
            cohort_names=cohort_names,
        )
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
            if quota.memory_guaranteed_gb is not None:
                memory_ledgers[pool_id].shares[team_id] = Share(
                    team_id=team_id,
                    guaranteed=quota.memory_guaranteed_gb,
                    max=quota.memory_max_gb,
                    lending_limit=quota.memory_lending_limit_gb,
                    weight=float(quota.weight),
                    has_quota=True,
                )
                memory_ledgers[pool_id].cohort_of[team_id] = team_cohort.get(team_id)

    placements: dict[int, list[tuple[int, str, str, int]]] = defaultdict(list)
    down_jobs: set[int] = set()
    elsewhere: list[int] = []  # GPUs on nodes not loaded above (down ones): asked for by id
    for job_id, node_id, acc_id in active:
        if node_id not in nodes or acc_id not in gpu_index:
            elsewhere.append(acc_id)
            continue
        on = nodes[node_id]
        placements[job_id].append((node_id, on.hostname, on.address, gpu_index[acc_id]))
    if elsewhere:
        for job_id, node_id, hostname, address, index, node_state in Allocation.objects.filter(
            released_at__isnull=True, accelerator_id__in=elsewhere
        ).values_list("job_id", "node_id", "node__hostname", "node__address", "accelerator__index", "node__state"):
            placements[job_id].append((node_id, hostname, address, index))
            if node_state == NodeState.DOWN:
                down_jobs.add(job_id)
    holders: dict[int, list[Holder]] = defaultdict(list)
    lost: list[Holder] = []
    for row in Job.objects.filter(state__in=HOLDING_STATES, pool__isnull=False).values(
        *JOB_SHAPE,
        "admitted_at",
        "queued_at",
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
            preemptible=_preemptible(row),
            admitted_at=row["admitted_at"],
            placement=_placement(placements.get(row["id"], [])),
            queued_at=row["queued_at"],
            memory=_memory_gb(row["memory_gb"]),
        )
        holders[holder.pool_id].append(holder)
        ledgers[holder.pool_id].add(holder.team_id, holder.units)
        if holder.team_id in memory_ledgers[holder.pool_id].shares:
            memory_ledgers[holder.pool_id].add(holder.team_id, holder.memory)
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
    node_limits = _node_limits(pools, nodes, per_node)
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
    now = timezone.now()
    budgets = load_book(now)
    return PassState(
        budgets=budgets,
        rates=RateCard.load() if budgets is not None else None,
        now=now,
        pools=pools,
        ledgers=ledgers,
        snapshots=snapshots,
        cpu_free=cpu_free,
        holders=holders,
        accelerator_ids=accelerator_ids,
        policies=policies,
        team_cohort=team_cohort,
        team_policy=_team_policies(team_cohort, policies),
        lost_holders=lost,
        memory_per_cpu=memory_per_cpu,
        gang_limit=dict(gang_limit),
        node_limits=node_limits,
        memory_ledgers=memory_ledgers,
    )


def _node_limits(
    pools: Mapping[int, Pool], nodes: Mapping[int, Node], per_node: Mapping[tuple[int, int], int]
) -> dict[int, dict[int, tuple[float, float]]]:
    """See ``PassState.node_limits``: what the largest node that could run a job's entrypoint
    has (the job's CPUs and memory are all on it; see apps.admission.feasibility)."""

    def size(node: Node) -> tuple[float, float]:
        return (node.cpus or math.inf, float(node.memory_bytes) or math.inf)

    by_pool: dict[int, list[tuple[int, tuple[float, float]]]] = defaultdict(list)
    for (pool_id, node_id), count in per_node.items():
        by_pool[pool_id].append((count, size(nodes[node_id])))
    cpu_pools = {pool.cluster_id: pk for pk, pool in pools.items() if not pool.accelerator_model_id}
    for node in nodes.values():
        if node.cluster_id in cpu_pools:
            by_pool[cpu_pools[node.cluster_id]].append((0, size(node)))
    limits: dict[int, dict[int, tuple[float, float]]] = {}
    for pool_id, sized in by_pool.items():
        most_cpus = most_memory = 0.0
        table: dict[int, tuple[float, float]] = {}
        for count, (cpus, memory) in sorted(sized, key=lambda item: -item[0]):
            most_cpus, most_memory = max(most_cpus, cpus), max(most_memory, memory)
            table[count] = (most_cpus, most_memory)  # nodes with at least ``count`` GPUs
        # Every count from 0 to the most, so that a job's check is one lookup (it runs for every
        # candidate of every pass): a count no node has takes the next one up's.
        above = table[max(table)]
        for count in range(max(table), -1, -1):
            above = table.setdefault(count, above)
        limits[pool_id] = table
    return limits


def _team_policies(team_cohort: dict[int, int | None], cohorts: dict[int, Cohort]) -> dict[int, TeamPolicy]:
    """Each team's own policy; a team without one takes its cohort's switches."""
    policies = {
        team_id: TeamPolicy.from_cohort_switches(
            reclaim_from_borrowers=cohorts[cohort_id].reclaim_from_borrowers,
            preempt_lower_priority=cohorts[cohort_id].preempt_lower_priority,
            preempt_while_borrowing=cohorts[cohort_id].preempt_while_borrowing,
        )
        for team_id, cohort_id in team_cohort.items()
        if cohort_id is not None and cohort_id in cohorts
    }
    for row in StoredPolicy.objects.filter(team_id__in=list(team_cohort)):
        policies[row.team_id] = TeamPolicy.from_row(row)
    return policies


def _placement(rows: list[tuple[int, str, str, int]]) -> Placement | None:
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
    # How long each job should run matters only to a budget's check: read only then.
    lengths = ("max_runtime_seconds", "planned_train_s") if state.budgets is not None else ()
    rows = (
        Job.objects.filter(state=JobState.PENDING, pool__isnull=False)
        .order_by("-priority", "created_at", "id")
        # As text: most jobs accept one pool, and parsing 100,000 JSON lists a pass showed up.
        .annotate(
            models_json=Cast("accelerator_models", output_field=TextField()),
            planned_train_s=KT("plan__time_to_train_s"),
        )
        .values(
            *lengths,
            *JOB_SHAPE,
            "priority_class__name",
            "created_at",
            "queued_at",
            "state_reason",
            "pool__accelerator_model_id",
            "cluster_id",
            "accelerator_model",
            "models_json",
            "min_gpu_memory_gb",
        )
    )
    shapes: dict[tuple[Any, ...], tuple[int, ...]] = {}
    matcher: list[Matcher] = []

    def accepted(row: Mapping[str, Any]) -> tuple[int, ...]:
        """The pools a job accepts, in its order, resolved once per distinct shape per pass."""
        raw, min_memory = row["models_json"], row["min_gpu_memory_gb"]
        if min_memory is None and (not raw or "," not in raw):
            return ()  # at most one model named: one pool, the job's own
        models = json.loads(raw) if raw else []
        if len(models) < 2 and min_memory is None:
            return ()
        shape = (row["cluster_id"], row["gpus"] > 0, tuple(models), min_memory)
        if shape not in shapes:
            if not matcher:
                matcher.append(Matcher.load())
            found = accepted_pools(
                state.pools.values(),
                row["cluster_id"],
                row["gpus"],
                row["accelerator_model"],
                models,
                min_memory,
                matcher[0],
            )
            shapes[shape] = tuple(pool.pk for pool in found)
        return shapes[shape]

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
            preemptible=_preemptible(row),
            priority_class=row["priority_class__name"] or "",
            created_at=row["created_at"],
            waiting_since=row["queued_at"],  # back in the queue after a preemption or a retry: from then
            state_reason=row["state_reason"],
            memory=_memory_gb(row["memory_gb"]),
            pool_ids=accepted(row),
            planned_seconds=_planned_seconds(row) if lengths else None,
            cpus=row["cpus"],
            memory_gb=row["memory_gb"],
        )
        for row in rows
    ]


def _planned_seconds(row: Mapping[str, Any]) -> float | None:
    try:
        trained = float(row["planned_train_s"]) if row["planned_train_s"] else None
    except ValueError:
        trained = None
    return planned_seconds({"time_to_train_s": trained} if trained else None, row["max_runtime_seconds"])


def beyond_every_node(state: PassState, pool_id: int, job: Candidate) -> str:
    """Why no node of the pool could ever run the job's entrypoint (its CPUs or memory are more
    than any node that could hold it has), in words; "" when one could or nothing is known."""
    table = state.node_limits.get(pool_id)
    if not table:
        return ""
    pool = state.pools[pool_id]
    limit = table.get(job.units if pool.accelerator_model_id else 0)
    if limit is None:  # a gang (more GPUs than any one node has): its entrypoint's node is any of them
        if pool.cluster.kind == "kubernetes":
            return ""  # a Kubernetes gang splits its CPUs and memory over its nodes
        limit = table[0]
    cpus, memory = limit
    if job.cpus <= cpus + 1e-9 and job.memory_gb * 2**30 <= memory:
        return ""
    if job.cpus > cpus + 1e-9:
        return f"it asks for {job.cpus:g} CPUs on one node and no node of pool {pool.name} has more than {cpus:g}"
    if job.memory_gb * 2**30 > memory:
        return (
            f"it asks for {job.memory_gb:g} GB of memory on one node and no node of pool {pool.name} "
            f"has more than {memory / 2**30:.4g} GB"
        )
    return ""


# --- changing it as a decision would -------------------------------------------------------


def fits(state: PassState, pool_id: int, units: int) -> Placement | NoPlacement:
    snapshot = state.snapshots.get(pool_id)
    if snapshot is not None:
        return snapshot.place(units)
    free = state.cpu_free.get(pool_id, 0)
    if units <= free:
        return Placement(shares=())
    return NoPlacement(reason=f"{free} CPUs free on schedulable nodes", largest_block=free)


def counts_memory(state: PassState, pool_id: int, team_id: int) -> bool:
    """Whether the team's memory is counted in the pool (its quota there guarantees memory)."""
    ledger = state.memory_ledgers.get(pool_id)
    return ledger is not None and team_id in ledger.shares


def refuse_memory(state: PassState, pool_id: int, job: Candidate) -> Refusal | None:
    """Why the team's memory quota in the pool refuses the job's memory; None when it allows it
    (or the team's memory is not counted there)."""
    if not job.memory or not counts_memory(state, pool_id, job.team_id):
        return None
    refusal = state.memory_ledgers[pool_id].refuse(
        job.team_id, job.memory, preemptible=job.preemptible, priority_class=job.priority_class
    )
    if refusal is None:
        return None
    return replace(refusal, reason=f"memory: {refusal.reason.replace('GBs', 'GB')}; it asks for {job.memory} GB")


def memory_over(state: PassState, holder: Holder) -> str:
    """Why the holder's team breaks a memory limit in its pool now (a lowered memory quota), in
    words; "" when none is broken or the holder holds no counted memory."""
    ledger = state.memory_ledgers.get(holder.pool_id)
    if ledger is None or not holder.memory or holder.team_id not in ledger.shares:
        return ""
    share = ledger.shares[holder.team_id]
    team = ledger.team_names.get(holder.team_id)
    cohort = ledger.cohort_of.get(holder.team_id)
    if share.max is not None and share.used > share.max:
        return f"team {team} is over its memory max in pool {ledger.name}"
    if cohort is None and share.used > share.guaranteed:
        return f"team {team} is over its memory guarantee in pool {ledger.name} and has no cohort to borrow from"
    if cohort is not None and share.borrowed and ledger.cohort_borrowed(cohort) > ledger.cohort_lendable(cohort):
        return "its cohort lends less memory than its teams borrow"
    return ""


def needs_borrowing(state: PassState, pool_id: int, job: Candidate) -> bool:
    """Whether admitting the job in the pool takes its team above a guarantee (GPUs or CPUs, or
    memory where counted): Kueue's ``borrowingLevel`` above zero."""
    ledger = state.ledgers[pool_id]
    if not ledger.open:
        share = ledger.share(job.team_id)
        if share.used + job.units > share.guaranteed:
            return True
    if job.memory and counts_memory(state, pool_id, job.team_id):
        memory = state.memory_ledgers[pool_id].share(job.team_id)
        return memory.used + job.memory > memory.guaranteed
    return False


def planned(state: PassState, pool_id: int, job: Candidate) -> Plan:
    """What the job would spend if admitted in the pool now (its units at the pool's price)."""
    assert state.rates is not None and state.now is not None
    pool = state.pools[pool_id]
    return plan_spend(
        state.rates, pool.cluster_id, pool.accelerator_model_id, job.units, job.planned_seconds, state.now
    )


def refuse_budget(state: PassState, pool_id: int, job: Candidate) -> Refusal | None:
    """Why a hard budget over the job's team refuses its planned spend; None when none does."""
    if state.budgets is None:
        return None
    plan = planned(state, pool_id, job)
    reason = state.budgets.refuse(job.team_id, plan.cost, plan.currency, plan.gpu_hours)
    return Refusal(reason) if reason else None


def commit_budget(state: PassState, pool_id: int, job: Candidate) -> None:
    if state.budgets is not None:
        plan = planned(state, pool_id, job)
        state.budgets.take(job.team_id, plan.cost, plan.currency, plan.gpu_hours)


def take(state: PassState, pool_id: int, team_id: int, units: int, placement: Placement, memory: int = 0) -> None:
    state.ledgers[pool_id].add(team_id, units)
    if memory and counts_memory(state, pool_id, team_id):
        state.memory_ledgers[pool_id].add(team_id, memory)
    if pool_id in state.snapshots:
        state.snapshots[pool_id].take(placement)
    else:
        state.cpu_free[pool_id] -= units


def release(state: PassState, holder: Holder) -> None:
    state.ledgers[holder.pool_id].remove(holder.team_id, holder.units)
    if holder.memory and counts_memory(state, holder.pool_id, holder.team_id):
        state.memory_ledgers[holder.pool_id].remove(holder.team_id, holder.memory)
    if holder.pool_id in state.snapshots:
        if holder.placement is not None and holder.placement.shares:
            state.snapshots[holder.pool_id].give_back(schedulable_part(state, holder))
    else:
        state.cpu_free[holder.pool_id] += holder.units


def schedulable_part(state: PassState, holder: Holder) -> Placement:
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


def retake(state: PassState, holder: Holder) -> None:
    state.ledgers[holder.pool_id].add(holder.team_id, holder.units)
    if holder.memory and counts_memory(state, holder.pool_id, holder.team_id):
        state.memory_ledgers[holder.pool_id].add(holder.team_id, holder.memory)
    if holder.pool_id in state.snapshots:
        if holder.placement is not None and holder.placement.shares:
            state.snapshots[holder.pool_id].take(schedulable_part(state, holder))
    else:
        state.cpu_free[holder.pool_id] -= holder.units


def evict(state: PassState, decisions: Decisions, holder: Holder, reason: str) -> None:
    decisions.preempted.append((holder, reason))
    state.holders[holder.pool_id] = [h for h in state.holders[holder.pool_id] if h.job_id != holder.job_id]
