"""An independent check of the admission invariants, read straight from the database.

It deliberately shares no code with the scheduler's accounting (``apps.admission.accounting``):
it recomputes usage, borrowing and lending from rows with its own arithmetic, so a bug there
cannot hide itself here. ``check_invariants()`` returns every violation in words; empty is good.

(a) no GPU has two active allocations;
(b) every holding job of a GPU pool has exactly ceil(gpus) active allocations, on GPUs of the
    pool's model and cluster, belonging to its current attempt, whose recorded placement says
    the same; a CPU-pool job holds none; no pending, preempted or finished job holds any;
(c) per team × pool with quotas (units: GPUs, or a CPU pool's dominant share): used ≤ max; no
    quota and no cohort ⇒ nothing held; in no cohort ⇒ used ≤ guaranteed (nobody to borrow
    from); non-preemptible units ≤ guaranteed;
(d) per cohort × pool with quotas: Σ borrowed ≤ Σ lendable;
(f) memory, where a team's quota in a pool guarantees it (GB, each job's memory rounded up):
    used ≤ memory max; in no cohort ⇒ used ≤ memory guaranteed; per cohort × pool, Σ borrowed
    ≤ Σ lendable over the teams whose memory is counted there;
(e) per GPU pool: allocated GPUs ≤ GPUs of the pool's model on the cluster's nodes that are not
    down, and no active allocation sits on a down node.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from apps.admission.models import Allocation
from apps.inventory.models import Accelerator, Node
from apps.jobs.models import Attempt, Job
from apps.quotas.models import Pool, Quota
from apps.tenancy.models import Team

HOLDING = ("admitted", "dispatching", "running")
ACTIVE_ATTEMPT = ("admitted", "submitted", "running")


def check_invariants() -> list[str]:
    """Every broken invariant, in words. Reads one consistent snapshot when it can."""
    if connection.in_atomic_block:
        return _check()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return _check()


def _check() -> list[str]:
    out: list[str] = []
    pools = {
        row["id"]: row
        for row in Pool.objects.values("id", "name", "cluster_id", "accelerator_model_id", "accelerator_model__name")
    }
    gpus_of = {
        row["id"]: row
        for row in Accelerator.objects.values("id", "node_id", "node__cluster_id", "node__state", "model_id")
    }
    active = list(
        Allocation.objects.filter(released_at__isnull=True).values(
            "id", "job_id", "attempt_id", "accelerator_id", "node_id"
        )
    )
    # Holding jobs, and whatever job an active allocation names (whatever its state).
    jobs = {
        row["id"]: row
        for row in Job.objects.filter(
            Q(state__in=HOLDING, pool__isnull=False) | Q(pk__in={a["job_id"] for a in active})
        ).values("id", "state", "team_id", "pool_id", "gpus", "cpus", "memory_gb", "priority_class__preemptible")
    }

    # (a) one active allocation per GPU
    per_gpu: dict[int, list[int]] = defaultdict(list)
    for alloc in active:
        per_gpu[alloc["accelerator_id"]].append(alloc["job_id"])
    for gpu, holders in sorted(per_gpu.items()):
        if len(holders) > 1:
            out.append(f"(a) GPU {gpu} has {len(holders)} active allocations (jobs {sorted(holders)})")

    # (b) allocations match holding jobs
    allocs_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for alloc in active:
        allocs_of[alloc["job_id"]].append(alloc)
    holding = {pk: job for pk, job in jobs.items() if job["state"] in HOLDING and job["pool_id"] is not None}
    attempts: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in Attempt.objects.filter(job_id__in=list(holding)).values("id", "job_id", "number", "state", "placement"):
        attempts[row["job_id"]].append(row)
    for job_id, allocs in sorted(allocs_of.items()):
        job = jobs.get(job_id)
        if job is None or job["state"] not in HOLDING:
            state = job["state"] if job else "missing"
            out.append(f"(b) job {job_id} is {state} but holds {len(allocs)} active allocations")
    for job_id, job in sorted(holding.items()):
        pool = pools.get(job["pool_id"])
        if pool is None:
            continue
        allocs = allocs_of.get(job_id, [])
        tries = sorted(attempts.get(job_id, []), key=lambda a: a["number"])
        current = tries[-1] if tries else None
        if current is None or current["state"] not in ACTIVE_ATTEMPT:
            out.append(f"(b) job {job_id} is {job['state']} without an active current attempt")
        if pool["accelerator_model_id"] is None:
            if allocs:
                out.append(f"(b) job {job_id} in CPU pool {pool['name']} holds {len(allocs)} GPUs")
            continue
        want = math.ceil(job["gpus"])
        if len(allocs) != want:
            out.append(f"(b) job {job_id} ({job['state']}) holds {len(allocs)} GPUs, needs exactly {want}")
        placed: set[tuple[int, int]] = set()
        for alloc in allocs:
            gpu = gpus_of[alloc["accelerator_id"]]
            if gpu["model_id"] != pool["accelerator_model_id"] or gpu["node__cluster_id"] != pool["cluster_id"]:
                out.append(f"(b) job {job_id} holds GPU {alloc['accelerator_id']}, not a GPU of pool {pool['name']}")
            if gpu["node_id"] != alloc["node_id"]:
                out.append(f"(b) allocation {alloc['id']} names node {alloc['node_id']}, its GPU is elsewhere")
            if current is not None and alloc["attempt_id"] != current["id"]:
                out.append(f"(b) job {job_id} holds GPU {alloc['accelerator_id']} for an old attempt")
            placed.add((alloc["node_id"], alloc["accelerator_id"]))
        if current is not None:
            recorded = sum(len(share.get("gpus", [])) for share in current["placement"] or [])
            if recorded != len(allocs):
                out.append(f"(b) job {job_id}'s attempt records {recorded} GPUs, it holds {len(allocs)}")

    # (c), (d) quotas per team × pool and cohort × pool
    quotas = {
        (q["team_id"], q["pool_id"]): q
        for q in Quota.objects.values(
            "team_id",
            "pool_id",
            "guaranteed",
            "max",
            "lending_limit",
            "memory_guaranteed_gb",
            "memory_max_gb",
            "memory_lending_limit_gb",
        )
    }
    pools_with_quotas = {pool_id for _, pool_id in quotas}
    cohort_of = dict(Team.objects.values_list("id", "cohort_id"))
    # A CPU pool counts a job's dominant share: its CPUs, or the CPUs its memory comes with.
    memory_per_cpu: dict[int, float] = {}
    for pool_id, pool in pools.items():
        if pool["accelerator_model_id"] is None:
            nodes = Node.objects.filter(cluster_id=pool["cluster_id"]).exclude(state="down")
            cpus = sum(int(c) for c in nodes.values_list("cpus", flat=True))
            memory = sum(nodes.values_list("memory_bytes", flat=True)) / 1e9
            memory_per_cpu[pool_id] = memory / cpus if cpus else 0.0
    used: dict[tuple[int, int], int] = defaultdict(int)
    memory_used: dict[tuple[int, int], int] = defaultdict(int)
    fixed: dict[tuple[int, int], int] = defaultdict(int)  # units of non-preemptible jobs
    for job in holding.values():
        pool = pools.get(job["pool_id"])
        if pool is None:
            continue
        if pool["accelerator_model_id"]:
            units = math.ceil(job["gpus"])
        else:
            per_cpu = memory_per_cpu[pool["id"]]
            by_memory = math.ceil(job["memory_gb"] / per_cpu - 1e-9) if per_cpu and job["memory_gb"] else 0
            units = max(math.ceil(job["cpus"]), by_memory)
        used[(job["team_id"], job["pool_id"])] += units
        memory_used[(job["team_id"], job["pool_id"])] += math.ceil(job["memory_gb"])
        if job["priority_class__preemptible"] is False:
            fixed[(job["team_id"], job["pool_id"])] += units
    for pool_id in sorted(pools_with_quotas):
        name = pools[pool_id]["name"]
        borrowed: dict[int, int] = defaultdict(int)
        lendable: dict[int, int] = defaultdict(int)
        for team_id, cohort_id in cohort_of.items():
            quota = quotas.get((team_id, pool_id))
            guaranteed = quota["guaranteed"] if quota else 0
            units = used.get((team_id, pool_id), 0)
            if quota and quota["max"] is not None and units > quota["max"]:
                out.append(f"(c) pool {name}: team {team_id} uses {units}, over its max {quota['max']}")
            if quota is None and cohort_id is None and units:
                out.append(f"(c) pool {name}: team {team_id} uses {units} with no quota and no cohort")
            if quota is not None and cohort_id is None and units > guaranteed:
                out.append(f"(c) pool {name}: team {team_id} uses {units} > guaranteed {guaranteed} in no cohort")
            if fixed.get((team_id, pool_id), 0) > guaranteed:
                out.append(
                    f"(c) pool {name}: team {team_id}'s non-preemptible jobs use {fixed[(team_id, pool_id)]}"
                    f" > guaranteed {guaranteed}"
                )
            if cohort_id is not None:
                limit = guaranteed if not quota or quota["lending_limit"] is None else quota["lending_limit"]
                borrowed[cohort_id] += max(0, units - guaranteed)
                lendable[cohort_id] += min(limit, max(0, guaranteed - units))
        for cohort_id in sorted(borrowed):
            if borrowed[cohort_id] > lendable[cohort_id]:
                out.append(
                    f"(d) pool {name}: cohort {cohort_id} borrows {borrowed[cohort_id]} but lends {lendable[cohort_id]}"
                )

    # (f) memory quotas
    for pool_id in sorted(pools_with_quotas):
        name = pools[pool_id]["name"]
        memory_borrowed: dict[int, int] = defaultdict(int)
        memory_lendable: dict[int, int] = defaultdict(int)
        for team_id, cohort_id in cohort_of.items():
            quota = quotas.get((team_id, pool_id))
            if quota is None or quota["memory_guaranteed_gb"] is None:
                continue
            guaranteed, gb = quota["memory_guaranteed_gb"], memory_used.get((team_id, pool_id), 0)
            if quota["memory_max_gb"] is not None and gb > quota["memory_max_gb"]:
                out.append(f"(f) pool {name}: team {team_id} uses {gb} GB > memory max {quota['memory_max_gb']}")
            if cohort_id is None and gb > guaranteed:
                out.append(f"(f) pool {name}: team {team_id} uses {gb} GB > memory guaranteed {guaranteed}, no cohort")
            if cohort_id is not None:
                limit = guaranteed if quota["memory_lending_limit_gb"] is None else quota["memory_lending_limit_gb"]
                memory_borrowed[cohort_id] += max(0, gb - guaranteed)
                memory_lendable[cohort_id] += min(limit, max(0, guaranteed - gb))
        for cohort_id in sorted(memory_borrowed):
            if memory_borrowed[cohort_id] > memory_lendable[cohort_id]:
                out.append(
                    f"(f) pool {name}: cohort {cohort_id} borrows {memory_borrowed[cohort_id]} GB of memory "
                    f"but lends {memory_lendable[cohort_id]}"
                )

    # (e) allocations fit the GPUs of nodes that are up
    for pool_id, pool in sorted(pools.items()):
        if pool["accelerator_model_id"] is None:
            continue
        mine = {
            gpu_id
            for gpu_id, gpu in gpus_of.items()
            if gpu["model_id"] == pool["accelerator_model_id"] and gpu["node__cluster_id"] == pool["cluster_id"]
        }
        up = sum(1 for gpu_id in mine if gpus_of[gpu_id]["node__state"] != "down")
        allocated = [a for a in active if a["accelerator_id"] in mine]
        if len(allocated) > up:
            out.append(f"(e) pool {pool['name']}: {len(allocated)} GPUs allocated, {up} on nodes that are up")
        on_down = sorted({a["job_id"] for a in allocated if gpus_of[a["accelerator_id"]]["node__state"] == "down"})
        if on_down:
            out.append(f"(e) pool {pool['name']}: jobs {on_down} still hold GPUs on nodes that are down")
    return out
