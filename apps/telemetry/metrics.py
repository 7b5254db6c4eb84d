"""Prometheus figures for GPUs, their jobs and the nodes' network, read at scrape time.

Per-GPU gauges carry ``cluster``, ``node``, ``gpu``, ``team`` and ``job`` labels for GPUs held
by active attempts only, so their cardinality is bounded by the GPUs in use, not by history.
Each family is one query.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Avg, Count, Sum
from prometheus_client.core import GaugeMetricFamily, Metric

GPU_LABELS = ["cluster", "node", "gpu", "team", "job"]
MIB = 2**20
# A GPU whose host has not reported for this long is left out rather than shown at its last value.
STALE_AFTER = timedelta(minutes=10)

# Every family this collector yields (the Grafana dashboard's test reads this list).
METRIC_NAMES = (
    "paddock_gpu_utilisation_percent",
    "paddock_gpu_memory_used_bytes",
    "paddock_gpu_power_watts",
    "paddock_gpu_temperature_celsius",
    "paddock_gpu_idle",
    "paddock_fleet_gpus",
    "paddock_fleet_gpu_utilisation_percent",
    "paddock_team_gpus_held",
    "paddock_node_network_receive_bytes_per_second",
    "paddock_node_network_transmit_bytes_per_second",
)


class TelemetryCollector:
    def collect(self) -> Iterator[Metric]:
        from django.utils import timezone

        from apps.inventory.models import Accelerator
        from apps.jobs.choices import ATTEMPT_ACTIVE_STATES, HOLDING_STATES
        from apps.jobs.models import Job
        from apps.telemetry.models import GpuHolding, NodeNetwork
        from apps.telemetry.services import idle_after

        utilisation = GaugeMetricFamily(
            "paddock_gpu_utilisation_percent", "GPU utilisation of each GPU held by a job", labels=GPU_LABELS
        )
        memory = GaugeMetricFamily("paddock_gpu_memory_used_bytes", "Memory used on each held GPU", labels=GPU_LABELS)
        power = GaugeMetricFamily("paddock_gpu_power_watts", "Power drawn by each held GPU", labels=GPU_LABELS)
        temperature = GaugeMetricFamily(
            "paddock_gpu_temperature_celsius", "Temperature of each held GPU", labels=GPU_LABELS
        )
        idle = GaugeMetricFamily(
            "paddock_gpu_idle",
            "1 when a held GPU has stayed under PADDOCK_IDLE_GPU_PERCENT for PADDOCK_IDLE_GPU_MINUTES",
            labels=GPU_LABELS,
        )
        now = timezone.now()
        idle_before = now - idle_after()
        rows = (
            GpuHolding.objects.filter(attempt__state__in=ATTEMPT_ACTIVE_STATES, reading_at__gte=now - STALE_AFTER)
            .order_by("node__cluster__name", "node__hostname", "gpu_index")
            .values_list(
                "node__cluster__name",
                "node__hostname",
                "gpu_index",
                "job__team__slug",
                "job_id",
                "utilisation_percent",
                "memory_used_mib",
                "power_watts",
                "temperature_c",
                "low_since",
            )
        )
        for cluster, node, gpu, team, job, util, mem, watts, celsius, low_since in rows:
            labels = [cluster, node, str(gpu), team, str(job)]
            if util is not None:
                utilisation.add_metric(labels, util)
            if mem is not None:
                memory.add_metric(labels, mem * MIB)
            if watts is not None:
                power.add_metric(labels, watts)
            if celsius is not None:
                temperature.add_metric(labels, celsius)
            idle.add_metric(labels, 1.0 if low_since is not None and low_since <= idle_before else 0.0)
        yield from (utilisation, memory, power, temperature, idle)

        fleet = GaugeMetricFamily("paddock_fleet_gpus", "GPUs in the inventory", labels=["cluster", "model"])
        fleet_utilisation = GaugeMetricFamily(
            "paddock_fleet_gpu_utilisation_percent",
            "Mean utilisation of the inventory's GPUs (held or not) as last reported",
            labels=["cluster", "model"],
        )
        for cluster, model, count, mean in (
            Accelerator.objects.order_by()
            .values_list("node__cluster__name", "model__name")
            .annotate(n=Count("id"), mean=Avg("utilisation_percent"))
            .order_by("node__cluster__name", "model__name")
        ):
            labels = [cluster, model or "unknown"]
            fleet.add_metric(labels, count)
            if mean is not None:
                fleet_utilisation.add_metric(labels, mean)
        yield from (fleet, fleet_utilisation)

        held = GaugeMetricFamily(
            "paddock_team_gpus_held", "GPUs held by each team's admitted and running jobs", labels=["team"]
        )
        for team, gpus in (
            Job.objects.filter(state__in=HOLDING_STATES)
            .order_by()
            .values_list("team__slug")
            .annotate(gpus=Sum("gpus"))
            .order_by("team__slug")
        ):
            held.add_metric([team], gpus or 0.0)
        yield held

        receive = GaugeMetricFamily(
            "paddock_node_network_receive_bytes_per_second",
            "Bytes received per second on each node's interface (NIC or InfiniBand port)",
            labels=["cluster", "node", "interface", "kind"],
        )
        transmit = GaugeMetricFamily(
            "paddock_node_network_transmit_bytes_per_second",
            "Bytes sent per second on each node's interface (NIC or InfiniBand port)",
            labels=["cluster", "node", "interface", "kind"],
        )
        for cluster, node, interface, kind, rx, tx in (
            NodeNetwork.objects.filter(reading_at__gte=now - STALE_AFTER)
            .order_by("node__cluster__name", "node__hostname", "kind", "interface")
            .values_list(
                "node__cluster__name",
                "node__hostname",
                "interface",
                "kind",
                "rx_bytes_per_second",
                "tx_bytes_per_second",
            )
        ):
            labels = [cluster, node, interface, kind]
            receive.add_metric(labels, rx)
            transmit.add_metric(labels, tx)
        yield from (receive, transmit)
