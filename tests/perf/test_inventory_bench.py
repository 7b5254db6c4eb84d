"""Benchmark (``make bench``): recording a 1,000-node, 8,000-GPU inventory through
``sync_reports``, the service the host agent's endpoint and Ray discovery both call.
Figures are printed; only row counts and query counts are asserted, never a time."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, replace
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.inventory.models import Accelerator, Node
from apps.inventory.reports import AcceleratorReport, NodeReport, SyncResult, sync_reports
from tests.conftest import client_for, token_for
from tests.report import p95, table

NODES = 1_000
GPUS_PER_NODE = 8
REPEATS = 5
AGENT_POSTS = 50


def gpu(node: int, index: int, utilisation: float) -> AcceleratorReport:
    return AcceleratorReport(
        index=index,
        reported_name="NVIDIA H200",
        uuid=f"GPU-{node:08x}-0000-0000-0000-{index:012x}",
        pci_device_id="0x2335",
        pci_bus_id=f"00000000:{index + 0x18:02x}:00.0",
        compute_capability="9.0",
        memory_total_mib=143771,
        memory_used_mib=4,
        mig_mode="disabled",
        health="ok",
        utilisation_percent=utilisation,
        temperature_c=40.0,
        power_watts=80.0,
        power_limit_watts=700.0,
        pcie_generation=5,
        pcie_width=16,
        nvlink_active_links=18,
    )


def inventory(utilisation: float = 0.0) -> list[NodeReport]:
    return [
        NodeReport(
            hostname=f"gpu-{n:04d}",
            cpus=224.0,
            memory_bytes=2 * 2**40,
            labels={"rack": f"r{n // 32:02d}"},
            driver_version="580.159.04",
            cuda_version="13.0",
            accelerators=[gpu(n, i, utilisation) for i in range(GPUS_PER_NODE)],
        )
        for n in range(NODES)
    ]


def timed_sync(cluster: Any, reports: list[NodeReport]) -> tuple[SyncResult, float, int]:
    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        result = sync_reports(cluster=cluster, reports=reports, source="agent", complete=False)
        elapsed = time.perf_counter() - started
    return result, elapsed, len(ctx.captured_queries)


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if rows else "0"


@pytest.mark.django_db
def test_sync_of_a_1000_node_8000_gpu_inventory(world: Any) -> None:
    reports = inventory()
    # Nodes, GPUs, and one NVSwitch domain per node (every GPU reports 18 active links).
    rows = NODES + NODES * GPUS_PER_NODE + NODES

    first, first_s, first_q = timed_sync(world.cluster, reports)
    assert (first.nodes_created, first.accelerators_created) == (NODES, NODES * GPUS_PER_NODE)
    assert first.rows_written == rows

    repeats = [timed_sync(world.cluster, reports) for _ in range(REPEATS)]
    assert all(r.rows_written == 0 for r, _, _ in repeats), "an identical sync must write nothing"
    repeat_s = statistics.median(s for _, s, _ in repeats)
    repeat_q = {q for _, _, q in repeats}
    assert len(repeat_q) == 1

    # Every GPU's utilisation moved since the last report: what a busy fleet's interval looks like.
    changed = [timed_sync(world.cluster, inventory(utilisation=float(10 + k))) for k in range(REPEATS)]
    assert all(r.accelerators_updated == NODES * GPUS_PER_NODE and r.nodes_updated == 0 for r, _, _ in changed)
    changed_s = statistics.median(s for _, s, _ in changed)
    changed_q = {q for _, _, q in changed}

    # One host's heartbeat through the agent endpoint, in this 1,000-node cluster.
    client = client_for(token_for(world.org_admin, scope="agent"))
    host = inventory(utilisation=10.0 + REPEATS - 1)[0]
    posts: list[float] = []
    post_q = set()
    for k in range(AGENT_POSTS):
        warmer = replace(host.accelerators[0], temperature_c=41.0 + k % 2)  # one GPU's reading moved
        body = {"cluster": world.cluster.name, **asdict(replace(host, accelerators=[warmer, *host.accelerators[1:]]))}
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.post("/api/v1/agent/reports/", body, format="json")
            posts.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content
        post_q.add(len(ctx.captured_queries))
    assert Node.objects.count() == NODES and Accelerator.objects.count() == NODES * GPUS_PER_NODE

    table(
        f"sync_reports: {NODES:,} nodes × {GPUS_PER_NODE} GPUs ({rows:,} rows), PostgreSQL, one call each",
        [
            ("sync", "seconds", "rows written", "rows/s", "queries"),
            (
                "first (creates everything)",
                f"{first_s:.2f}",
                f"{first.rows_written:,}",
                rate(rows, first_s),
                str(first_q),
            ),
            (
                f"identical again (median of {REPEATS})",
                f"{repeat_s:.2f}",
                "0",
                "0",
                str(repeat_q.pop()),
            ),
            (
                f"every GPU's readings changed (median of {REPEATS})",
                f"{changed_s:.2f}",
                f"{NODES * GPUS_PER_NODE:,}",
                rate(NODES * GPUS_PER_NODE, changed_s),
                "/".join(str(q) for q in sorted(changed_q)),
            ),
            (
                f"one host's agent POST, 1 GPU changed (median / p95 ms of {AGENT_POSTS})",
                f"{statistics.median(posts):.1f} / {p95(posts):.1f} ms",
                "1",
                "",
                "/".join(str(q) for q in sorted(post_q)),
            ),
        ],
    )
