"""Benchmark (``make bench``): admission throughput of the quota scheduler.

Two sizes, on this machine's PostgreSQL, 8-GPU nodes across 3 accelerator models:

* 10,000 pending jobs from 100 teams in 10 cohorts on 1,000 nodes (target ≥ 200 admissions/s);
* 100,000 pending jobs from 1,000 teams in 100 cohorts on 10,000 nodes (target ≥ 1,000/s).

Printed: admissions per second over five whole passes (loading, deciding and writing attempts,
allocations, events and reasons in one transaction), and p50 / p99 of one job's decision, side
by side with the target and Kueue's own benchmark (about 42/s). After every pass the independent
invariants (``tests/admission/invariants.py``) are checked, outside the timing. Only counts and
invariants are asserted, never a time. ``PADDOCK_BENCH_PROFILE=FILE`` writes a cProfile of the
passes to FILE.
"""

from __future__ import annotations

import cProfile
import os
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from apps.admission import eta, scheduler
from apps.admission.models import Allocation
from apps.admission.pools import ensure_pools
from apps.inventory.models import Accelerator, AcceleratorModel, NetworkFabric, Node
from apps.jobs.choices import JobState
from apps.jobs.models import Job
from apps.quotas.models import Cohort, Pool, Quota
from apps.tenancy.models import Team
from tests.admission.invariants import check_invariants
from tests.factories import UserFactory
from tests.report import table

GPUS_PER_NODE = 8
MODELS = ("H100 SXM", "H200 SXM", "A100 80GB SXM")
KUEUE_PER_SECOND = 42.0


@dataclass(frozen=True)
class Size:
    nodes: int
    teams: int
    cohorts: int
    pending: int
    target: float  # admissions/s


SMALL = Size(nodes=1_000, teams=100, cohorts=10, pending=10_000, target=200.0)
LARGE = Size(nodes=10_000, teams=1_000, cohorts=100, pending=100_000, target=1_000.0)


def build(world: Any, size: Size) -> None:
    NODES, TEAMS, COHORTS, PENDING = size.nodes, size.teams, size.cohorts, size.pending  # noqa: N806
    rng = random.Random(7)
    models = [AcceleratorModel.objects.get(name=name) for name in MODELS]
    nodes = Node.objects.bulk_create(
        [Node(cluster=world.cluster, hostname=f"n{i:04d}", cpus=224, memory_bytes=2 * 2**40) for i in range(NODES)]
    )
    Accelerator.objects.bulk_create(
        [
            Accelerator(node=node, index=g, model=models[i % len(models)], memory_total_mib=81559, health="ok")
            for i, node in enumerate(nodes)
            for g in range(GPUS_PER_NODE)
        ]
    )
    for f in range(NODES // 100):  # 100 nodes per fabric
        fabric = NetworkFabric.objects.create(
            organisation=world.org, name=f"ib-{f}", kind="infiniband", gbps_per_node=400
        )
        fabric.nodes.set(nodes[f * 100 : (f + 1) * 100])
    ensure_pools()
    pools = list(Pool.objects.filter(accelerator_model__isnull=False))
    cohorts = [Cohort.objects.create(organisation=world.org, name=f"dept-{c}") for c in range(COHORTS)]
    teams = Team.objects.bulk_create(
        [
            Team(organisation=world.org, name=f"t{t}", slug=f"t{t:03d}", cohort=cohorts[t % COHORTS])
            for t in range(TEAMS)
        ]
    )
    per_pool = NODES * GPUS_PER_NODE // len(MODELS)
    Quota.objects.bulk_create(
        [
            Quota(team=team, pool=pool, guaranteed=per_pool // TEAMS, max=3 * (per_pool // TEAMS), weight=1 + t % 3)
            for t, team in enumerate(teams)
            for pool in pools
        ]
    )
    user = UserFactory(username="bench")
    sizes = [1, 1, 2, 2, 4, 4, 8, 8, 16]
    Job.objects.bulk_create(
        [
            Job(
                team=teams[rng.randrange(TEAMS)],
                cluster=world.cluster,
                pool=(pool := pools[rng.randrange(len(pools))]),
                name=f"j{j}",
                entrypoint="true",
                gpus=rng.choice(sizes),
                accelerator_model=pool.accelerator_model.ray_accelerator_type if pool.accelerator_model else "",
                priority=rng.choice([0, 0, 0, 10, 100]),
                submitted_by=user,
            )
            for j in range(PENDING)
        ]
    )


def run_passes(world: Any, size: Size) -> None:
    build(world, size)
    rows = [("pass", "pending before", "admitted", "seconds", "admissions/s", "decision p50 ms", "decision p99 ms")]
    total_admitted, total_seconds = 0, 0.0
    all_timings: list[float] = []
    profile = cProfile.Profile() if os.environ.get("PADDOCK_BENCH_PROFILE") else None
    violations: list[str] = []
    for n in range(1, 6):
        pending = Job.objects.filter(state=JobState.PENDING).count()
        timings: list[float] = []
        if profile is not None:
            profile.enable()
        started = time.perf_counter()
        admitted = scheduler.admit_pending(timings)
        seconds = time.perf_counter() - started
        if profile is not None:
            profile.disable()
        violations += check_invariants()
        total_admitted += admitted
        total_seconds += seconds
        all_timings += timings
        ordered = sorted(timings) or [0.0]
        rows.append(
            (
                str(n),
                f"{pending:,}",
                f"{admitted:,}",
                f"{seconds:.2f}",
                f"{admitted / seconds:,.0f}",
                f"{statistics.median(ordered) * 1000:.3f}",
                f"{ordered[int(0.99 * (len(ordered) - 1))] * 1000:.3f}",
            )
        )
        # Finish a fifth of what runs, so the next pass has room to admit.
        holding = list(Job.objects.filter(state=JobState.ADMITTED).values_list("pk", flat=True))
        finished = holding[: len(holding) // 5]
        Job.objects.filter(pk__in=finished).update(state=JobState.SUCCEEDED)
        Allocation.objects.filter(job_id__in=finished, released_at__isnull=True).update(released_at=timezone.now())
    if profile is not None:
        profile.dump_stats(os.environ["PADDOCK_BENCH_PROFILE"])
    rate = total_admitted / total_seconds
    table(
        f"Admission: {size.pending:,} pending, {size.teams:,} teams in {size.cohorts} cohorts, "
        f"{size.nodes:,} nodes × {GPUS_PER_NODE} GPUs, {len(MODELS)} models (PostgreSQL)",
        rows,
    )
    ordered = sorted(all_timings)
    table(
        "Admission throughput vs the target and Kueue's benchmark",
        [
            ("", "admissions/s", "ratio to Paddock"),
            ("Paddock (five passes)", f"{rate:,.0f}", "1.00"),
            ("target", f"{size.target:,.0f}", f"{size.target / rate:.2f}"),
            ("Kueue's own benchmark", f"{KUEUE_PER_SECOND:,.0f}", f"{KUEUE_PER_SECOND / rate:.2f}"),
        ],
    )
    print(f"  decisions timed: {len(ordered):,}; p50 {statistics.median(ordered) * 1000:.3f} ms")
    print(f"  invariant violations after the passes: {len(violations)}")
    # The estimates a refresh writes after the passes (apart from them, never inside one).
    started = time.perf_counter()
    written = eta.estimate_pending()
    seconds = time.perf_counter() - started
    kinds = dict(
        Job.objects.filter(state=JobState.PENDING)
        .values_list("estimate_confidence")
        .annotate(n=Count("id"))
        .values_list("estimate_confidence", "n")
    )
    print(
        f"  estimated starts: {written:,} written in {seconds:.1f} s "
        f"(budget {settings.PADDOCK_ESTIMATE_BUDGET:.0f} s of replay); by confidence: "
        + ", ".join(f"{k or 'none'} {v:,}" for k, v in sorted(kinds.items()))
    )
    assert total_admitted > 0
    assert violations == []


@pytest.fixture
def quiet(monkeypatch: Any) -> None:
    # Measure the decision, not Celery or a cluster (nothing is sent: no transaction commits here).
    monkeypatch.setattr("apps.core.tasks.enqueue", lambda *a, **k: None)
    monkeypatch.setattr("apps.jobs.services.Dispatcher.send", lambda *a, **k: None)


@pytest.mark.django_db
def test_admission_throughput(world: Any, quiet: None) -> None:
    run_passes(world, SMALL)


@pytest.mark.django_db
def test_admission_throughput_at_100k_pending(world: Any, quiet: None) -> None:
    run_passes(world, LARGE)
