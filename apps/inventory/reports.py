"""What discovery and host agents report, and the one service that records it.

Ray discovery and the NVML agent both turn what they see into :class:`NodeReport` values
and call :func:`sync_reports`. It is idempotent: the same reports twice write nothing the
second time (rows are compared before they are written), and it writes in bulk, so a
1,000-node report costs a handful of queries, not thousands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.tasks import enqueue_on_commit, wake_scheduler_on_commit
from apps.inventory import catalog
from apps.inventory.choices import ClusterSync, InterconnectKind, NodeState
from apps.inventory.models import Accelerator, Cluster, InterconnectDomain, Node


@dataclass(frozen=True)
class AcceleratorReport:
    """One accelerator as a host or cluster reports it (None: not reported, keep what we have)."""

    index: int
    reported_name: str
    uuid: str = ""
    pci_device_id: str = ""  # "0x2335": the device half of NVML's 32-bit PCI id, lower-case hex
    pci_bus_id: str = ""
    compute_capability: str = ""
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    mig_mode: str = "unsupported"
    mig_instances: list[dict[str, Any]] = field(default_factory=list)
    health: str = "unknown"
    utilisation_percent: float | None = None
    temperature_c: float | None = None
    power_watts: float | None = None
    power_limit_watts: float | None = None
    pcie_generation: int | None = None
    pcie_width: int | None = None
    nvlink_active_links: int | None = None


@dataclass(frozen=True)
class NetworkReport:
    """One network interface's traffic, as a rate over the agent's last two readings."""

    interface: str
    kind: str = "ethernet"  # "ethernet" (a NIC, from /proc/net/dev) or "infiniband" (a port's counters)
    rx_bytes_per_second: float = 0.0
    tx_bytes_per_second: float = 0.0


@dataclass(frozen=True)
class NodeReport:
    """One node: its hostname identifies it within a cluster."""

    hostname: str
    cpus: float = 0.0
    memory_bytes: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    external_id: str = ""
    address: str = ""  # the node's IP (Ray reports it; the scheduler pins single-node jobs with it)
    driver_version: str = ""
    cuda_version: str = ""
    accelerators: list[AcceleratorReport] = field(default_factory=list)
    # Whether the cluster's own scheduler may place work there (Kubernetes: not cordoned);
    # None where the source has no cordon (Ray, an agent).
    schedulable: bool | None = None
    # Traffic per interface (the host agent's; empty where the source cannot say). Not
    # inventory: telemetry records it (apps.inventory.signals.host_reported).
    network: list[NetworkReport] = field(default_factory=list)


CORDONED_ON_CLUSTER_REASON = "Cordoned on the cluster, outside Paddock."


@dataclass
class SyncResult:
    """How many rows a sync created, changed or marked down (0, 0, 0 for a repeat)."""

    nodes_created: int = 0
    nodes_updated: int = 0
    nodes_marked_down: int = 0
    accelerators_created: int = 0
    accelerators_updated: int = 0
    accelerators_removed: int = 0
    interconnect_domains_written: int = 0

    @property
    def rows_written(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


# Fields that describe a node or an accelerator; heartbeat times are written separately
# (one UPDATE per sync), so an unchanged report does not rewrite every row.
NODE_FIELDS = ("external_id", "address", "cpus", "memory_bytes", "labels", "driver_version", "cuda_version", "source")
ACCELERATOR_FIELDS = (
    "uuid",
    "model_id",
    "reported_name",
    "pci_device_id",
    "pci_bus_id",
    "compute_capability",
    "memory_total_mib",
    "memory_used_mib",
    "mig_mode",
    "mig_instances",
    "health",
    "utilisation_percent",
    "temperature_c",
    "power_watts",
    "power_limit_watts",
    "pcie_generation",
    "pcie_width",
    "nvlink_active_links",
)


@transaction.atomic
def sync_reports(
    *,
    cluster: Cluster,
    reports: list[NodeReport],
    source: str,
    complete: bool,
    now: datetime | None = None,
) -> SyncResult:
    """Record ``reports`` for ``cluster``.

    ``complete`` means the reports list every node the source knows (Ray discovery): nodes of
    that source that are missing become ``down`` (never deleted). An agent reports one host
    at a time and passes ``complete=False``. A node that comes back after being down is
    ``ready`` again; a cordoned or draining node keeps the state an operator gave it.

    Where a report says whether the cluster itself takes work there (Kubernetes' cordon), the
    two are kept consistent, unless Paddock is still telling the cluster (``cluster_sync``
    pending): a ready node cordoned on the cluster becomes ``cordoned`` (``cordoned_on_cluster``);
    such a node is ``ready`` again when the cluster uncordons it; a node an operator cordoned
    or drained here that the cluster takes work on again is told again (its cordon is Paddock's).
    """
    now = now or timezone.now()
    result = SyncResult()
    hostnames = [r.hostname for r in reports]
    if len(set(hostnames)) != len(hostnames):
        raise ValueError("each hostname may be reported once per sync")
    models_by_key = catalog.Matcher.load()
    # Only the reported hosts: an agent reports one node of a cluster that may have thousands.
    existing = {n.hostname: n for n in Node.objects.filter(cluster=cluster, hostname__in=hostnames)}

    to_create: list[Node] = []
    to_update: list[Node] = []
    node_updates: set[str] = set()
    tell_cluster: list[int] = []
    for report in reports:
        node = existing.get(report.hostname)
        values: dict[str, Any] = {
            "external_id": report.external_id,
            "cpus": report.cpus,
            "memory_bytes": report.memory_bytes,
            "labels": report.labels,
            "driver_version": report.driver_version,
            "cuda_version": report.cuda_version,
            "source": source,
        }
        if report.address:  # an agent does not know the address Ray uses; keep what discovery found
            values["address"] = report.address
        if node is None:
            node = Node(cluster=cluster, hostname=report.hostname, last_heartbeat_at=now, **values)
            if report.schedulable is False:
                node.state, node.state_reason = NodeState.CORDONED, CORDONED_ON_CLUSTER_REASON
                node.cordoned_on_cluster = True
            to_create.append(node)
            existing[report.hostname] = node
            continue
        changed = [name for name, value in values.items() if getattr(node, name) != value]
        if node.state == NodeState.DOWN and not node.held_down:
            node.state = NodeState.READY
            node.state_reason = ""
            changed += ["state", "state_reason"]
        if report.schedulable is not None and node.cluster_sync != ClusterSync.PENDING:
            changed += _follow_cluster_cordon(node, report.schedulable, tell_cluster)
        if changed:
            for name in changed:
                if name in values:
                    setattr(node, name, values[name])
            node.updated_at = now  # bulk_update does not apply auto_now
            to_update.append(node)
            node_updates.update(changed)
    if to_create:
        Node.objects.bulk_create(to_create, batch_size=1000)
        result.nodes_created = len(to_create)
    if to_update:
        Node.objects.bulk_update(to_update, sorted(node_updates | {"updated_at"}), batch_size=1000)
        result.nodes_updated = len(to_update)
    seen = [existing[r.hostname].pk for r in reports]
    Node.objects.filter(pk__in=seen).update(last_heartbeat_at=now)

    if complete:
        missing = Node.objects.filter(cluster=cluster, source=source).exclude(pk__in=seen).exclude(state=NodeState.DOWN)
        result.nodes_marked_down = missing.update(
            state=NodeState.DOWN, state_reason=f"not reported by {source} discovery", updated_at=now
        )

    _sync_accelerators(reports, existing, models_by_key, now, result)
    _sync_interconnect(reports, existing, models_by_key, result)
    if complete:
        Cluster.objects.filter(pk=cluster.pk).update(last_discovered_at=now)
    if any((result.nodes_created, result.nodes_marked_down, result.accelerators_created, result.accelerators_removed)):
        wake_scheduler_on_commit()  # pools and free GPUs changed
    for node_id in tell_cluster:
        enqueue_on_commit(SYNC_NODE_TASK, node_id)
    return result


SYNC_NODE_TASK = "inventory.sync_node_schedulable"  # (apps.inventory.tasks)


def _follow_cluster_cordon(node: Node, schedulable: bool, tell_cluster: list[int]) -> list[str]:
    """Keep a node's state and its cluster's cordon consistent (see :func:`sync_reports`); the
    fields it changed. Nodes whose cordon is Paddock's and the cluster lost are added to
    ``tell_cluster``."""
    cordoned_here = node.state in (NodeState.CORDONED, NodeState.DRAINING)
    if not schedulable and node.state == NodeState.READY:
        node.state, node.state_reason = NodeState.CORDONED, CORDONED_ON_CLUSTER_REASON
        node.cordoned_on_cluster, node.cluster_sync = True, ClusterSync.IN_STEP
        return ["state", "state_reason", "cordoned_on_cluster", "cluster_sync"]
    if schedulable and cordoned_here and node.cordoned_on_cluster:
        node.state, node.state_reason, node.cordoned_on_cluster = NodeState.READY, "", False
        return ["state", "state_reason", "cordoned_on_cluster"]
    if schedulable and cordoned_here and node.cluster_sync == ClusterSync.IN_STEP:
        node.cluster_sync = ClusterSync.PENDING  # Paddock's cordon, lost on the cluster: tell it again
        tell_cluster.append(node.pk)
        return ["cluster_sync"]
    if schedulable != (not cordoned_here) or node.cluster_sync != ClusterSync.FAILED:
        return []
    node.cluster_sync = ClusterSync.IN_STEP  # the cluster has it as Paddock does after all
    return ["cluster_sync"]


def _sync_accelerators(
    reports: list[NodeReport],
    nodes: dict[str, Node],
    matcher: catalog.Matcher,
    now: datetime,
    result: SyncResult,
) -> None:
    node_ids = [nodes[r.hostname].pk for r in reports]
    current: dict[tuple[int, int], Accelerator] = {
        (a.node_id, a.index): a for a in Accelerator.objects.filter(node_id__in=node_ids)
    }
    to_create: list[Accelerator] = []
    to_update: list[Accelerator] = []
    updated_fields: set[str] = set()
    reported: set[tuple[int, int]] = set()
    for report in reports:
        node = nodes[report.hostname]
        for acc in report.accelerators:
            key = (node.pk, acc.index)
            reported.add(key)
            model = matcher.match(acc.reported_name, acc.pci_device_id)
            values = {name: getattr(acc, name) for name in ACCELERATOR_FIELDS if name != "model_id"}
            values["model_id"] = model.pk if model is not None else None
            row = current.get(key)
            if row is None:
                to_create.append(Accelerator(node_id=node.pk, index=acc.index, last_seen_at=now, **values))
                continue
            # None: the source did not report it (Ray knows no temperature); keep what we have.
            changed = [
                name
                for name, value in values.items()
                if getattr(row, name) != value and (value is not None or name == "model_id")
            ]
            if changed:
                for name in changed:
                    setattr(row, name, values[name])
                row.updated_at = now  # bulk_update does not apply auto_now
                to_update.append(row)
                updated_fields.update(changed)
    if to_create:
        Accelerator.objects.bulk_create(to_create, batch_size=2000)
        result.accelerators_created = len(to_create)
    if to_update:
        Accelerator.objects.bulk_update(to_update, sorted(updated_fields | {"updated_at"}), batch_size=2000)
        result.accelerators_updated = len(to_update)
    gone = [row.pk for key, row in current.items() if key not in reported]
    if gone:
        # A node that reports fewer devices lost them (removed, or fell off the bus).
        result.accelerators_removed, _ = Accelerator.objects.filter(pk__in=gone).delete()
    Accelerator.objects.filter(node_id__in=node_ids).update(last_seen_at=now)


# An NVSwitch system gives every GPU all its links (18 on Hopper): fewer means direct NVLink.
NVSWITCH_MIN_LINKS = 18


def _sync_interconnect(
    reports: list[NodeReport], nodes: dict[str, Node], matcher: catalog.Matcher, result: SyncResult
) -> None:
    """Derive each node's NVLink domain from the links its GPUs report (NVML knows them).

    Reports without NVLink readings (Ray, nvidia-smi XML) leave a node's domains alone.
    """
    desired: dict[int, tuple[str, int | None, float | None, frozenset[int]] | None] = {}
    for report in reports:
        readings = [a for a in report.accelerators if a.nvlink_active_links is not None]
        if not readings:
            continue
        linked = [a for a in readings if (a.nvlink_active_links or 0) > 0]
        if len(linked) < 2:
            desired[nodes[report.hostname].pk] = None
            continue
        most_links = max(a.nvlink_active_links or 0 for a in linked)
        kind: str = InterconnectKind.NVSWITCH if most_links >= NVSWITCH_MIN_LINKS else InterconnectKind.NVLINK
        model = matcher.match(linked[0].reported_name, linked[0].pci_device_id)
        generation = _link_generation(model.scale_up_link) if model is not None else None
        bandwidth = model.scale_up_bandwidth_gbps if model is not None else None
        desired[nodes[report.hostname].pk] = (kind, generation, bandwidth, frozenset(a.index for a in linked))
    if not desired:
        return
    current: dict[int, list[InterconnectDomain]] = {}
    for domain in InterconnectDomain.objects.filter(node_id__in=list(desired)).prefetch_related("accelerators"):
        current.setdefault(domain.node_id, []).append(domain)
    stale: list[int] = []
    wanted: list[tuple[int, tuple[str, int | None, float | None, frozenset[int]]]] = []
    for node_id, want in desired.items():
        have = [
            (d.kind, d.link_generation, d.bandwidth_gbps, frozenset(a.index for a in d.accelerators.all()))
            for d in current.get(node_id, [])
        ]
        if have == ([want] if want is not None else []):
            continue
        stale.append(node_id)
        result.interconnect_domains_written += len(have)
        if want is not None:
            wanted.append((node_id, want))
    if stale:
        InterconnectDomain.objects.filter(node_id__in=stale).delete()
    if not wanted:
        return
    # In bulk: one INSERT for the domains, one for their members, whatever the fleet's size.
    domains = InterconnectDomain.objects.bulk_create(
        [
            InterconnectDomain(node_id=node_id, kind=kind, link_generation=generation, bandwidth_gbps=bandwidth)
            for node_id, (kind, generation, bandwidth, _indexes) in wanted
        ]
    )
    accelerator_ids = {
        (node_id, index): pk
        for pk, node_id, index in Accelerator.objects.filter(node_id__in=[n for n, _ in wanted]).values_list(
            "pk", "node_id", "index"
        )
    }
    membership = InterconnectDomain.accelerators.through
    InterconnectDomain.accelerators.through.objects.bulk_create(
        [
            membership(interconnectdomain_id=domain.pk, accelerator_id=accelerator_ids[(node_id, index)])
            for domain, (node_id, (_kind, _gen, _bw, indexes)) in zip(domains, wanted, strict=True)
            for index in sorted(indexes)
            if (node_id, index) in accelerator_ids
        ],
        batch_size=5000,
    )
    result.interconnect_domains_written += len(domains)


def _link_generation(link: str) -> int | None:
    """4 from "NVLink4" or "NVLink4 900 GB/s"; None when the catalog names no generation."""
    match = re.search(r"NVLink\s*(\d+)", link or "", re.IGNORECASE)
    return int(match.group(1)) if match else None
