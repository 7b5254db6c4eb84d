"""Ray discovery: a cluster's nodes and GPUs as its backend reports them, recorded by
:func:`apps.inventory.reports.sync_reports`.

**Which row is which Ray node.** A ``Node`` is unique by (cluster, hostname), so each Ray
node needs a name that stays the same from one discovery to the next. Ray's node id does
not: a raylet gets a new one each time it starts. The host name does, so it is the name,
with three refinements:

1. A node Paddock has already recorded keeps the name it was recorded under (looked up by
   its node id in ``external_id``) for as long as that node id lives, so nodes joining or
   leaving the same host never rename it.
2. A new node takes its bare host name when no other alive node of the cluster has that
   host name. This is the usual case, and the restart case: a raylet restarted on the same
   machine (new node id, old one dead) takes over its machine's row, history included.
3. When several alive nodes share a host name (several raylets on one machine), a new one
   is named ``<hostname>/<node name>`` when Ray's node names tell them apart (give them
   ``ray start --node-name`` and the name survives restarts too), else
   ``<hostname>/<node id>``.

A host whose NVML agent reports it (``source=agent``) is left to the agent, which sees the
GPUs themselves; Ray only counts them.

Dead nodes are not reported, so the sync marks their rows ``down`` (never deleted). An
unreachable cluster is recorded as ``unreachable`` and its nodes stay as they were: an
address that does not answer says nothing about the machines behind it. Only once it has
not answered for ``PADDOCK_NODE_DOWN_AFTER`` seconds (a stopped head, a lost network) are
its Ray-discovered nodes marked ``down``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.core import audit
from apps.core.errors import Conflict
from apps.core.logging import get_logger
from apps.dispatch.port import BackendError, NodeInfo
from apps.dispatch.registry import probing
from apps.inventory.choices import ClusterKind, ClusterState, NodeSource, NodeState
from apps.inventory.models import Cluster, Node
from apps.inventory.reports import AcceleratorReport, NodeReport, SyncResult, sync_reports
from apps.inventory.services import backend_for

log = get_logger("paddock.inventory")

# Kinds whose backend can list nodes (the registry knows no other yet).
DISCOVERABLE_KINDS = frozenset({ClusterKind.RAY, ClusterKind.KUBERNETES})
SOURCE_OF_KIND = {ClusterKind.RAY: NodeSource.RAY, ClusterKind.KUBERNETES: NodeSource.KUBERNETES}
HOSTNAME_LIMIT = 255  # Node.hostname's max_length


def discover_cluster(cluster: Cluster, *, actor: User | None = None, now: datetime | None = None) -> SyncResult:
    """Ask the cluster for its nodes and record them; repeatable (a repeat writes nothing).

    Updates ``cluster`` in place (``state``, ``state_message``, ``last_seen_at``). Raises
    :class:`~apps.core.errors.Conflict` for a kind of cluster that has no node discovery.
    """
    if cluster.kind not in DISCOVERABLE_KINDS:
        raise Conflict(f"Cluster {cluster.name} is of kind {cluster.kind}, which has no node discovery.")
    now = now or timezone.now()
    try:
        backend = backend_for(cluster)
        if actor is not None:  # an operator asked now (after a restart, say): ask even a silent cluster
            backend = probing(backend)
        infos = backend.nodes()  # outside the transaction: it may take seconds
    except BackendError as exc:
        return _record_unreachable(cluster, exc, actor=actor, now=now)

    with transaction.atomic():
        # One discovery of a cluster at a time (periodic and on demand may overlap): the
        # second waits here and then finds the first one's rows.
        if not list(Cluster.objects.select_for_update().filter(pk=cluster.pk).values_list("pk", flat=True)):
            return SyncResult()  # deleted meanwhile
        known = _known_names(cluster)
        names = node_names(infos, known)
        # A host its NVML agent reports keeps the agent's account of it: the agent reads the
        # GPUs themselves (UUIDs, memory, health), where Ray only counts them.
        agent_hosts = set(
            Node.objects.filter(cluster=cluster, hostname__in=names.values(), source=NodeSource.AGENT).values_list(
                "hostname", flat=True
            )
        )
        reports = [
            node_report(info, names[info.node_id])
            for info in infos
            if info.node_id in names and names[info.node_id] not in agent_hosts
        ]
        # An alive node whose host name Ray does not know yet (a node that has just joined)
        # cannot be named this time: record the others, but mark nothing down on a list
        # that is not complete.
        unnamed = sorted(info.node_id for info in infos if info.alive and info.node_id not in names)
        result = sync_reports(
            cluster=cluster,
            reports=reports,
            source=SOURCE_OF_KIND[ClusterKind(cluster.kind)],
            complete=not unnamed,
            now=now,
        )
        cluster.state = ClusterState.READY
        cluster.state_message = ""
        cluster.last_seen_at = now
        Cluster.objects.filter(pk=cluster.pk).update(
            state=ClusterState.READY, state_message="", last_seen_at=now, updated_at=now
        )
        if actor is not None or result.rows_written:
            audit.record("inventory.cluster_discovered", cluster, actor=actor, **_counts(result), reachable=True)
    log.info(
        "inventory.discovered",
        cluster=cluster.name,
        nodes=len(reports),
        unnamed=unnamed,
        **_counts(result),
    )
    return result


def node_names(nodes: Iterable[NodeInfo], known: Mapping[str, str]) -> dict[str, str]:
    """Node id → the name (``Node.hostname``) of each alive node; see the module docstring.

    ``known`` maps the node ids already recorded for the cluster to their names. An alive
    node with no host name that was never recorded is left out (it cannot be named yet).
    """
    alive = sorted((n for n in nodes if n.alive), key=lambda n: (not n.is_head, n.node_id))
    names: dict[str, str] = {}
    taken: set[str] = set()
    for node in alive:
        name = known.get(node.node_id)
        if name and name not in taken and (not node.hostname or _names_host(name, node.hostname)):
            names[node.node_id] = name
            taken.add(name)
    per_host = Counter(n.hostname for n in alive)
    for node in alive:
        if node.node_id in names or not node.hostname:
            continue
        candidates: list[str] = []
        if per_host[node.hostname] == 1:
            candidates.append(node.hostname)
        same_host_names = Counter(n.node_name for n in alive if n.hostname == node.hostname)
        if node.node_name and node.node_name != node.hostname and same_host_names[node.node_name] == 1:
            candidates.append(_joined(node.hostname, node.node_name))
        candidates.append(_joined(node.hostname, node.node_id))
        name = next((c for c in candidates if c not in taken), _joined(node.hostname, node.node_id))
        names[node.node_id] = name
        taken.add(name)
    return names


def node_report(info: NodeInfo, name: str) -> NodeReport:
    """What sync_reports records for one alive Ray node: one accelerator per whole GPU.

    Ray knows GPUs only as a count; each is named after the node's ``accelerator_type``
    resource ("H100"), which the catalog maps through ``AcceleratorModel.ray_accelerator_type``.
    """
    return NodeReport(
        hostname=name,
        cpus=info.cpus,
        memory_bytes=info.memory_bytes,
        labels=dict(info.labels),
        external_id=info.node_id,
        address=info.address,
        schedulable=info.schedulable,
        accelerators=[
            AcceleratorReport(index=index, reported_name=info.accelerator_type) for index in range(int(info.gpus))
        ],
    )


def _record_unreachable(cluster: Cluster, exc: BackendError, *, actor: User | None, now: datetime) -> SyncResult:
    """As refresh_capacity records it; nodes go down only after PADDOCK_NODE_DOWN_AFTER seconds."""
    message = exc.message[:500]
    result = SyncResult()
    with transaction.atomic():
        locked = Cluster.objects.select_for_update().filter(pk=cluster.pk).first()
        if locked is None:
            return result
        Cluster.objects.filter(pk=cluster.pk).update(
            state=ClusterState.UNREACHABLE, state_message=message, updated_at=now
        )
        cluster.state = ClusterState.UNREACHABLE
        cluster.state_message = message
        # The last time it answered, to whoever asked (discovery or a capacity refresh).
        answered = max((t for t in (locked.last_seen_at, locked.last_discovered_at) if t), default=None)
        grace = timedelta(seconds=float(settings.PADDOCK_NODE_DOWN_AFTER))
        if answered is None or now - answered >= grace:
            since = f"since {answered:%Y-%m-%d %H:%M:%S} UTC" if answered else "ever since it was registered"
            result.nodes_marked_down = (
                Node.objects.filter(cluster=cluster, source=SOURCE_OF_KIND[ClusterKind(cluster.kind)])
                .exclude(state=NodeState.DOWN)
                .update(
                    state=NodeState.DOWN,
                    state_reason=f"cluster unreachable {since}"[:500],
                    updated_at=now,
                )
            )
        if actor is not None or result.rows_written:
            audit.record("inventory.cluster_discovered", cluster, actor=actor, **_counts(result), reachable=False)
    log.warning(
        "inventory.discovery_unreachable",
        cluster=cluster.name,
        error=message,
        retryable=exc.retryable,
        nodes_marked_down=result.nodes_marked_down,
    )
    return result


def _known_names(cluster: Cluster) -> dict[str, str]:
    """Ray node id → the name it was recorded under (a live row wins over a down one)."""
    rows = (
        Node.objects.filter(cluster=cluster, source=SOURCE_OF_KIND[ClusterKind(cluster.kind)])
        .exclude(external_id="")
        .values_list("external_id", "hostname", "state")
    )
    known: dict[str, str] = {}
    # Sorted so that, for a node id on two rows, the last one written (the winner) is live.
    for external_id, hostname, _state in sorted(rows, key=lambda row: (row[2] != NodeState.DOWN, row[1])):
        known[external_id] = hostname
    return known


def _names_host(name: str, hostname: str) -> bool:
    return name == hostname[:HOSTNAME_LIMIT] or name.startswith(f"{hostname}/")


def _joined(hostname: str, suffix: str) -> str:
    return f"{hostname}/{suffix}"[:HOSTNAME_LIMIT]


def _counts(result: SyncResult) -> dict[str, int]:
    return dataclasses.asdict(result)
