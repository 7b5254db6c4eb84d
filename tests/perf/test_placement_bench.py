"""Benchmark (``make bench``): gang placement decisions on a 5,000-node, 40,000-GPU pool.

Reference: the admission scheduler's requirement of at most 5 ms per placement decision
(``place`` then ``take``) on a 5,000-node inventory with 8 GPUs per node. The pool has two
NVLink domains of four GPUs per node, five fabrics of 1,000 nodes, and a seeded random 30 % of
its GPUs already taken. Each row times 1,000 decisions; the oldest admitted job is given back
once 25 are held, so the pool stays near its starting state while the decisions keep changing.
Only the placements' shapes are asserted, never a time.
"""

from __future__ import annotations

import random
import statistics
import time

from apps.admission.placement import NodeSlot, NoPlacement, Placement, PoolSnapshot
from tests.report import p95, table

NODES = 5_000
GPUS_PER_NODE = 8
FABRICS = 5
TAKEN = 0.30
DECISIONS = 1_000
HELD = 25
TARGET_MS = 5.0
DOMAINS = (frozenset(range(4)), frozenset(range(4, 8)))


def inventory(seed: int = 20_240_611) -> list[NodeSlot]:
    rng = random.Random(seed)
    total = NODES * GPUS_PER_NODE
    taken = set(rng.sample(range(total), int(TAKEN * total)))
    per_fabric = NODES // FABRICS
    return [
        NodeSlot(
            node_id=node + 1,
            hostname=f"gpu-{node:05d}",
            free={gpu for gpu in range(GPUS_PER_NODE) if node * GPUS_PER_NODE + gpu not in taken},
            fabrics=frozenset({node // per_fabric + 1}),
            domains=DOMAINS,
            address=f"10.{node // 65536}.{node // 256 % 256}.{node % 256}",
        )
        for node in range(NODES)
    ]


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(int(round(q * len(ordered))) - 1, 0)]


def decisions(snapshot: PoolSnapshot, gpus: int) -> tuple[list[float], set[int]]:
    """Time ``DECISIONS`` place + take calls; returns the timings (ms) and the node counts seen."""
    held: list[Placement] = []
    timings: list[float] = []
    node_counts: set[int] = set()
    for _ in range(DECISIONS):
        started = time.perf_counter()
        placement = snapshot.place(gpus)
        if isinstance(placement, Placement):
            snapshot.take(placement)
        timings.append((time.perf_counter() - started) * 1000)
        if isinstance(placement, Placement):
            assert placement.gpus == gpus
            node_counts.add(len(placement.shares))
            held.append(placement)
        if len(held) > HELD:
            snapshot.give_back(held.pop(0))
    for placement in held:
        snapshot.give_back(placement)
    return timings, node_counts


def test_placement_decisions_on_5000_nodes() -> None:
    nodes = inventory()
    free_at_start = sum(len(node.free) for node in nodes)
    per_fabric: dict[int, int] = {}
    for node in nodes:
        for fabric in node.fabrics:
            per_fabric[fabric] = per_fabric.get(fabric, 0) + len(node.free)
    too_big = max(per_fabric.values()) + 1  # more than any fabric holds: every fabric is looked at
    rows = [("strategy", "ask", "nodes used", "p50 ms", "p95 ms", "p99 ms", "max ms", "p99 / 5 ms")]
    setup: list[tuple[str, ...]] = [("step", "median ms", "max ms")]
    for strategy in ("pack", "spread"):
        builds = []
        for _ in range(5):
            fresh = [NodeSlot(n.node_id, n.hostname, set(n.free), n.fabrics, n.domains, n.address) for n in nodes]
            started = time.perf_counter()
            snapshot = PoolSnapshot(fresh, strategy=strategy, gpu_name="H100 SXM", fabric_names={1: "ib-a"})
            builds.append((time.perf_counter() - started) * 1000)
        setup.append((f"build the snapshot ({strategy})", f"{statistics.median(builds):.1f}", f"{max(builds):.1f}"))
        for gpus in (8, 32, 4):
            timings, node_counts = decisions(snapshot, gpus)
            assert node_counts == {max(1, gpus // GPUS_PER_NODE)}
            assert snapshot.free_gpus == free_at_start
            p99 = quantile(timings, 0.99)
            rows.append(
                (
                    strategy,
                    f"{gpus} GPUs",
                    "/".join(str(n) for n in sorted(node_counts)),
                    f"{statistics.median(timings):.3f}",
                    f"{p95(timings):.3f}",
                    f"{p99:.3f}",
                    f"{max(timings):.3f}",
                    f"{p99 / TARGET_MS:.3f}",
                )
            )
        refused = []
        for _ in range(DECISIONS):
            started = time.perf_counter()
            result = snapshot.place(too_big)
            refused.append((time.perf_counter() - started) * 1000)
        assert isinstance(result, NoPlacement) and result.reason.startswith("no fabric joins nodes")
        rows.append(
            (
                strategy,
                f"{too_big:,} GPUs (refused)",
                "-",
                f"{statistics.median(refused):.3f}",
                f"{p95(refused):.3f}",
                f"{quantile(refused, 0.99):.3f}",
                f"{max(refused):.3f}",
                f"{quantile(refused, 0.99) / TARGET_MS:.3f}",
            )
        )
        copies = []
        for _ in range(20):
            started = time.perf_counter()
            snapshot.copy()
            copies.append((time.perf_counter() - started) * 1000)
        setup.append((f"copy() for a what-if ({strategy})", f"{statistics.median(copies):.1f}", f"{max(copies):.1f}"))

    table(
        f"Placement decision (place + take), {DECISIONS:,} each, {NODES:,} nodes × {GPUS_PER_NODE} GPUs, "
        f"{FABRICS} fabrics, {TAKEN:.0%} taken (target: p99 ≤ {TARGET_MS:g} ms, ratio ≤ 1)",
        rows,
    )
    table("Once per pass or per what-if (not per decision)", setup)
