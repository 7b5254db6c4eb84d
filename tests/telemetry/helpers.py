"""Building blocks for the telemetry tests: a GPU host, a job holding its GPUs, agent reports."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

from apps.inventory.agent import nvml
from apps.inventory.models import Node
from apps.inventory.reports import AcceleratorReport, NetworkReport, NodeReport
from apps.jobs.models import Attempt, Job
from tests.factories import JobFactory
from tests.inventory.test_agent import HOST_2, CapturedNvml, load_capture

REPORTS_URL = "/api/v1/agent/reports/"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a bucket boundary for both resolutions

SERIES = json.loads((HOST_2 / "nvml-series-during-training.json").read_text())


def sample_report(sample: dict[str, Any], *, hostname: str = "h200-2", gpus: int = 1) -> NodeReport:
    """host-2's captured NVML reading with one sample of the training series in it, read through
    the agent's NVML code (``gpus`` > 1: the same reading on that many GPUs)."""
    capture = copy.deepcopy(load_capture(HOST_2))
    device = capture["devices"][0]
    device["utilization"] = {"gpu": sample["gpu_util"], "memory": sample["mem_util"]}
    total = device["memory"]["total"]
    device["memory"] = {"total": total, "used": sample["mem_used"], "free": total - sample["mem_used"]}
    device["power_usage_mw"], device["temperature_c"] = sample["power_mw"], sample["temp_c"]
    report = nvml.read_node(hostname=hostname, cpus=16, memory_bytes=2**37, nvml=CapturedNvml(capture))
    first = report.accelerators[0]
    return replace(
        report,
        accelerators=[replace(first, index=i, uuid=f"{first.uuid[:-2]}{i:02x}") for i in range(gpus)],
    )


def utilisation_report(hostname: str, utilisation: dict[int, float | None]) -> NodeReport:
    """A host whose GPUs read the given utilisation (index → percent)."""
    return NodeReport(
        hostname=hostname,
        cpus=16,
        memory_bytes=2**37,
        accelerators=[
            AcceleratorReport(
                index=index,
                reported_name="NVIDIA H200",
                uuid=f"GPU-{hostname}-{index}",
                memory_total_mib=143771,
                memory_used_mib=1000 + index,
                utilisation_percent=percent,
                temperature_c=40.0 + index,
                power_watts=100.0 + index,
            )
            for index, percent in sorted(utilisation.items())
        ],
    )


def payload(report: NodeReport, cluster: str = "gpu-a") -> dict[str, Any]:
    return {"cluster": cluster, **asdict(report)}


def network(*interfaces: tuple[str, str, float, float]) -> list[NetworkReport]:
    return [
        NetworkReport(interface=name, kind=kind, rx_bytes_per_second=rx, tx_bytes_per_second=tx)
        for name, kind, rx, tx in interfaces
    ]


def holding_job(
    world: Any,
    node: Node | None,
    gpus: list[int],
    *,
    team: Any = None,
    hostname: str = "",
    state: str = "running",
    number: int = 1,
    job: Job | None = None,
) -> Attempt:
    """A running job whose attempt's placement holds ``gpus`` on ``node`` (or, with no node row,
    on ``hostname``), as the scheduler records it."""
    if job is None:
        job = JobFactory(
            team=team or world.alpha, cluster=world.cluster, state="running", gpus=len(gpus), submitted_by=world.member
        )
    placement = [
        {
            "node_id": node.pk if node is not None else None,
            "hostname": node.hostname if node is not None else hostname,
            "address": "10.0.0.2",
            "gpus": gpus,
        }
    ]
    return Attempt.objects.create(job=job, number=number, state=state, placement=placement)
