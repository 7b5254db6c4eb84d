"""Inventory use cases: registering clusters, operating nodes, probing storage."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.core import audit
from apps.core.errors import Conflict
from apps.core.logging import get_logger
from apps.core.tasks import enqueue_on_commit
from apps.dispatch import registry
from apps.dispatch.k8s_manifests import ClusterOptions
from apps.dispatch.kubeconfig import KubeconfigError, SafeKubeconfig, parse_kubeconfig
from apps.dispatch.port import Backend, BackendError, Capacity
from apps.inventory.choices import (
    FILESYSTEM_STORAGE_KINDS,
    ClusterKind,
    ClusterState,
    ClusterSync,
    NodeSource,
    NodeState,
    StorageKind,
)
from apps.inventory.models import Cluster, MaintenanceWindow, Node, StorageBackend, resources_to_json
from apps.inventory.reports import SYNC_NODE_TASK, NodeReport, SyncResult, sync_reports
from apps.inventory.signals import host_reported
from apps.tenancy.models import Organisation

log = get_logger("inventory")


def backend_for(cluster: Cluster) -> Backend:
    if cluster.kind == ClusterKind.KUBERNETES:
        return registry.get_backend(cluster.kind, cluster.address, cluster.auth_token, kubernetes_options(cluster))
    return registry.get_backend(cluster.kind, cluster.address, cluster.auth_token)


KUBERNETES_SETTINGS = {
    "namespace": str,
    "image": str,
    "service_account": str,
    "tolerations": list,
    "kueue_queue": str,
    "has_jobset": bool,
    "has_kuberay": bool,
    "ttl_seconds_after_finished": int,
    "serving_image": str,  # vLLM's image for endpoints (default: apps/serving/vllm_runtime.py's pinned one)
    "serving_volumes": list,  # pod volumes, each with its mountPath, where replicas read models
    "kueue": bool,  # Paddock applies the cluster's Kueue objects (apps.admission.kueue_sync)
}


def check_kubernetes_settings(values: Any) -> None:
    """Refuse settings the backend could not use, by key, in words."""
    if not isinstance(values, dict):
        raise ValidationError({"kubernetes": ['An object of settings, e.g. {"namespace": "paddock-jobs"}.']})
    problems = [
        f"{key}: unknown (known: {', '.join(KUBERNETES_SETTINGS)})"
        if key not in KUBERNETES_SETTINGS
        else f"{key}: a {KUBERNETES_SETTINGS[key].__name__}"
        for key, value in values.items()
        if key not in KUBERNETES_SETTINGS
        or not isinstance(value, KUBERNETES_SETTINGS[key])
        or (KUBERNETES_SETTINGS[key] is int and isinstance(value, bool))
    ]
    for index, volume in enumerate(values.get("serving_volumes") or [] if not problems else []):
        if (
            not isinstance(volume, dict)
            or not isinstance(volume.get("name"), str)
            or not isinstance(volume.get("mountPath"), str)
            or not volume["mountPath"].startswith("/")
            or len(volume) < 3
        ):
            problems.append(
                f"serving_volumes[{index}]: a pod volume with its name, an absolute mountPath and its source, e.g. "
                '{"name": "models", "mountPath": "/models", "persistentVolumeClaim": {"claimName": "models"}}'
            )
    if problems:
        raise ValidationError({"kubernetes": problems})


def kubernetes_options(cluster: Cluster) -> ClusterOptions:
    """How the backend uses a Kubernetes cluster: its settings over the defaults, the
    kubeconfig's namespace when the settings name none, and where jobs reach Paddock's API."""
    values = dict(cluster.kubernetes or {})
    namespace = values.get("namespace") or ""
    if not namespace and cluster.auth_token:
        with contextlib.suppress(KubeconfigError):
            namespace = SafeKubeconfig.from_json(cluster.auth_token).namespace
    defaults = ClusterOptions()
    return ClusterOptions(
        namespace=namespace or defaults.namespace,
        image=values.get("image") or defaults.image,
        service_account=values.get("service_account", defaults.service_account),
        tolerations=tuple(values.get("tolerations") or ()),
        kueue_queue=values.get("kueue_queue", defaults.kueue_queue),
        kueue_team_queues=values.get("kueue") is True,
        has_jobset=bool(values.get("has_jobset", defaults.has_jobset)),
        has_kuberay=bool(values.get("has_kuberay", defaults.has_kuberay)),
        ttl_seconds_after_finished=int(values.get("ttl_seconds_after_finished", defaults.ttl_seconds_after_finished)),
        api_url=str(settings.PADDOCK_API_URL),
    )


def kubeconfig_for_storage(text: str) -> tuple[str, str]:
    """A kubeconfig as Paddock keeps it: (its API server's URL, the checked credentials as JSON).
    Refuses (``ValidationError`` on ``kubeconfig``, the reason in words) one that would run a
    command, read a file or talk anything but http(s); reads no file and runs nothing."""
    try:
        safe = parse_kubeconfig(text)
    except KubeconfigError as exc:
        raise ValidationError({"kubeconfig": [str(exc)]}) from exc
    return safe.server, safe.to_json()


UNAUTHENTICATED_RAY_REFUSED = (
    "A Ray cluster without an auth token lets anyone who can reach its dashboard run code on "
    "it. Give its token (RAY_AUTH_MODE=token), or set trusted_network when only trusted "
    "machines can reach it."
)


UNAUTHENTICATED_KUBERNETES_REFUSED = (
    "A Kubernetes cluster needs its kubeconfig (a token or a client certificate, inline), or "
    "trusted_network when its API server takes anonymous calls from trusted machines only."
)


def check_cluster_trust(*, kind: str, has_auth_token: bool, trusted_network: bool) -> None:
    """Refuse a Ray cluster that has no auth token (a Kubernetes one with no kubeconfig)
    unless its network is declared trusted."""
    if kind == ClusterKind.RAY and not has_auth_token and not trusted_network:
        raise ValidationError({"trusted_network": [UNAUTHENTICATED_RAY_REFUSED]})
    if kind == ClusterKind.KUBERNETES and not has_auth_token and not trusted_network:
        raise ValidationError({"kubeconfig": [UNAUTHENTICATED_KUBERNETES_REFUSED]})


@transaction.atomic
def register_cluster(
    *,
    actor: User | None,
    organisation: Organisation,
    name: str,
    address: str,
    kind: str = ClusterKind.RAY,
    auth_token: str | None = None,
    trusted_network: bool = False,
) -> Cluster:
    """Create the cluster, or update its address, token and trust when it exists (idempotent).

    ``auth_token`` None keeps a stored token. A Ray cluster left without a token is refused
    (``ValidationError`` on ``trusted_network``) unless ``trusted_network`` is True.
    """
    cluster = Cluster.objects.select_for_update().filter(name=name).first()
    created = cluster is None
    if cluster is None:
        cluster = Cluster(organisation=organisation, name=name)
    cluster.kind = kind
    cluster.address = address
    cluster.trusted_network = trusted_network
    if auth_token is not None:
        cluster.set_auth_token(auth_token)
    check_cluster_trust(kind=kind, has_auth_token=cluster.has_auth_token, trusted_network=trusted_network)
    cluster.save()
    audit.record(
        "inventory.cluster_registered" if created else "inventory.cluster_updated",
        cluster,
        actor=actor,
        trusted_network=trusted_network,
        has_auth_token=cluster.has_auth_token,
    )
    return cluster


API_CLUSTER_KINDS = (ClusterKind.RAY, ClusterKind.KUBERNETES)


@transaction.atomic
def save_cluster(
    *,
    actor: User | AnonymousUser | None,
    organisation: Organisation,
    name: str,
    kind: str,
    address: str = "",
    kubeconfig: str | None = None,
    auth_token: str | None = None,
    trusted_network: bool | None = None,
    kubernetes: Any = None,
    cluster: Cluster | None = None,
) -> Cluster:
    """Register a cluster (``cluster`` None) or change one, with the checks the admin's form
    makes: a kubeconfig is parsed by :func:`kubeconfig_for_storage` (nothing that runs a
    command or reads a file), its server becomes the address, and it is stored encrypted;
    the Kubernetes settings and the trust rule are checked. ``None`` keeps what is stored.
    Raises ``ValidationError`` by field, naming no credential."""
    errors: dict[str, list[str]] = {}
    if cluster is None and Cluster.objects.filter(name=name).exists():
        errors["name"] = ["A cluster with this name already exists."]
    if kind not in API_CLUSTER_KINDS:
        errors["kind"] = [f"One of {', '.join(API_CLUSTER_KINDS)}."]
    credentials = auth_token
    if kubeconfig is not None and kind != ClusterKind.KUBERNETES:
        errors["kubeconfig"] = ["A kubeconfig is for a cluster of kind kubernetes."]
    elif kubeconfig is not None:
        try:
            server, credentials = kubeconfig_for_storage(kubeconfig)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        else:
            if address and address.rstrip("/") != server.rstrip("/"):
                errors["address"] = [f"The kubeconfig's server is {server}: leave the address empty or give that."]
            address = server
    elif (
        kind == ClusterKind.KUBERNETES
        and cluster is not None
        and cluster.has_auth_token
        and address
        and address.rstrip("/") != cluster.address.rstrip("/")
    ):
        errors["address"] = ["The stored kubeconfig is for another server: give a new kubeconfig instead."]
    if auth_token is not None and kind == ClusterKind.KUBERNETES:
        errors["auth_token"] = ["A Kubernetes cluster's credentials come in its kubeconfig."]
    address = address or (cluster.address if cluster is not None else "")
    if not address and "address" not in errors:
        errors["address"] = ["This field is required (for Kubernetes, give a kubeconfig)."]
    elif address and not address.startswith(("http://", "https://")):
        errors["address"] = ["An http(s):// URL."]
    settings_given = kubernetes if kubernetes is not None else (cluster.kubernetes if cluster is not None else {})
    if kind == ClusterKind.KUBERNETES:
        try:
            check_kubernetes_settings(settings_given)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    elif kubernetes:
        errors["kubernetes"] = ["Settings for a cluster of kind kubernetes only."]
    trusted = trusted_network if trusted_network is not None else bool(cluster and cluster.trusted_network)
    has_token = credentials is not None or bool(cluster and cluster.has_auth_token and cluster.kind == kind)
    if not errors:
        try:
            check_cluster_trust(kind=kind, has_auth_token=has_token, trusted_network=trusted)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)  # type: ignore[arg-type]
    created = cluster is None
    if cluster is None:
        cluster = Cluster(organisation=organisation, name=name)
    elif cluster.kind != kind and credentials is None:
        cluster.set_auth_token(None)  # a Ray token is no kubeconfig, nor the other way round
    cluster.kind, cluster.address, cluster.trusted_network = kind, address, trusted
    cluster.kubernetes = settings_given if kind == ClusterKind.KUBERNETES else {}
    if credentials is not None:
        cluster.set_auth_token(credentials)
    cluster.save()
    audit.record(
        "inventory.cluster_registered" if created else "inventory.cluster_updated",
        cluster,
        actor=actor,
        kind=kind,
        trusted_network=trusted,
        has_auth_token=cluster.has_auth_token,
        credentials_changed=credentials is not None,
    )
    return cluster


# How stale ``last_seen_at`` may get before an answer is written down again: the watch loop
# hears from a cluster many times a second and must not write each time.
SEEN_WRITE_INTERVAL = timedelta(seconds=5)


def record_cluster_answered(cluster: Cluster, *, now: datetime | None = None, **fields: object) -> None:
    """The cluster answered: it is ready and was last seen now (written at most every few seconds
    unless ``fields`` change too or it was unreachable)."""
    now = now or timezone.now()
    fresh = cluster.last_seen_at is not None and now - cluster.last_seen_at < SEEN_WRITE_INTERVAL
    if cluster.state == ClusterState.READY and fresh and not fields:
        return
    if cluster.state == ClusterState.UNREACHABLE:
        log.info("inventory.cluster_answering_again", cluster=cluster.name, silent_since=str(cluster.last_seen_at))
    changes = {"state": ClusterState.READY, "state_message": "", "last_seen_at": now, **fields}
    Cluster.objects.filter(pk=cluster.pk).update(updated_at=now, **changes)
    for name, value in changes.items():
        setattr(cluster, name, value)


def record_cluster_silent(cluster: Cluster, message: str, *, now: datetime | None = None) -> None:
    """The cluster did not answer: say so (``last_seen_at`` keeps when it last did)."""
    message = message[:500]
    if cluster.state == ClusterState.UNREACHABLE and cluster.state_message == message:
        return
    if cluster.state != ClusterState.UNREACHABLE:
        log.warning("inventory.cluster_not_answering", cluster=cluster.name, error=message)
    Cluster.objects.filter(pk=cluster.pk).update(
        state=ClusterState.UNREACHABLE, state_message=message, updated_at=now or timezone.now()
    )
    cluster.state, cluster.state_message = ClusterState.UNREACHABLE, message


def silence_description(cluster: Cluster) -> str:
    """ "cluster X not answering since …" in the words jobs and the queue use."""
    since = f"{cluster.last_seen_at:%Y-%m-%d %H:%M:%S} UTC" if cluster.last_seen_at else "it was registered"
    detail = f" ({cluster.state_message})" if cluster.state_message else ""
    return f"cluster {cluster.name} not answering since {since}{detail}"


def record_capacity(cluster: Cluster, capacity: Capacity, *, now: datetime | None = None) -> None:
    """Store what the cluster reported it has (it answered)."""
    record_cluster_answered(
        cluster,
        now=now,
        total_resources=resources_to_json(capacity.total),
        available_resources=resources_to_json(capacity.available),
    )


def refresh_capacity(cluster: Cluster) -> Capacity | None:
    """Ask the backend what the cluster has; record it (or that it is unreachable)."""
    try:
        capacity = backend_for(cluster).capacity()
    except BackendError as exc:
        record_cluster_silent(cluster, exc.message)
        return None
    record_capacity(cluster, capacity)
    return capacity


def queue_discovery(clusters: Iterable[Cluster], *, actor: User | AnonymousUser | None) -> list[str]:
    """Queue a discovery pass for each cluster whose kind has one, once the caller's
    transaction commits (an operator's "discover now"). The names of those queued."""
    from apps.inventory import tasks
    from apps.inventory.discovery import DISCOVERABLE_KINDS

    actor_id = actor.pk if isinstance(actor, User) else None
    queued = []
    for cluster in clusters:
        if cluster.kind not in DISCOVERABLE_KINDS:
            continue
        transaction.on_commit(functools.partial(tasks.discover_cluster.delay, cluster.pk, actor_id=actor_id))
        queued.append(cluster.name)
    return sorted(queued)


# --- node operations (the operator console) ------------------------------------------------
# No operation here evicts or stops anything: "no new work" is what Node.objects.schedulable()
# leaves out of Paddock's placement. On a Kubernetes cluster the node's own cordon follows
# (spec.unschedulable, see sync_node_schedulable), so the cluster's scheduler places nothing
# there either; pods already running there finish.
CORDONABLE_STATES = (NodeState.READY,)
DRAINABLE_STATES = (NodeState.READY, NodeState.CORDONED)
RETURNABLE_STATES = (NodeState.CORDONED, NodeState.DRAINING, NodeState.DOWN)
DOWNABLE_STATES = (NodeState.READY, NodeState.CORDONED, NodeState.DRAINING)
REASON_MAX_LENGTH = 500


def _move_node(
    node: Node,
    *,
    actor: User | AnonymousUser | None,
    from_states: Iterable[str],
    to_state: str,
    reason: str,
    action: str,
    verb: str,
) -> Node:
    """Compare-and-set the node's state and audit it; :class:`Conflict` when it may not move."""
    expected = list(from_states)
    reason = reason.strip()[:REASON_MAX_LENGTH]
    now = timezone.now()
    # Only an operator's "mark down" holds a node down; any other move releases it.
    held_down = action == "inventory.node_marked_down"
    # A cordon, drain or uncordon is the operator's from now on, and a Kubernetes node's own
    # cordon follows it once this commits (a node marked down is left as the cluster has it).
    tell_cluster = not held_down and node.cluster.kind == ClusterKind.KUBERNETES
    extra: dict[str, Any] = {"cordoned_on_cluster": False} if not held_down else {}
    if tell_cluster:
        extra["cluster_sync"] = ClusterSync.PENDING
    moved = Node.objects.filter(pk=node.pk, state__in=expected).update(
        state=to_state, state_reason=reason, held_down=held_down, updated_at=now, **extra
    )
    if not moved:
        current = Node.objects.filter(pk=node.pk).values_list("state", flat=True).first()
        if current is None:
            raise Conflict(f"Node {node} no longer exists.")
        node.state = current
        raise Conflict(f"Node {node} is {current}; it cannot be {verb}.")
    previous = node.state if node.state in expected else ""
    node.state, node.state_reason, node.held_down, node.updated_at = to_state, reason, held_down, now
    for name, value in extra.items():
        setattr(node, name, value)
    audit.record(action, node, actor=actor, from_state=previous, to_state=to_state, reason=reason)
    log.info(action, node=node.pk, hostname=node.hostname, to=to_state)
    if tell_cluster:
        enqueue_on_commit(SYNC_NODE_TASK, node.pk)
    return node


# A node in these states takes no new work; READY takes it; DOWN is left as the cluster has it.
UNSCHEDULABLE_STATES = (NodeState.CORDONED, NodeState.DRAINING)


def sync_node_schedulable(node_id: int) -> str:
    """Tell a Kubernetes cluster whether its node takes new work, as Paddock now has it:
    cordoned or draining → ``spec.unschedulable`` set (drain too: Paddock evicts nothing, the
    pods there finish); ready → unset. Reads the node's state now, so a late or repeated task
    sends what is true when it runs. A refusal (no such node, no RBAC to patch nodes) is
    recorded as ``failed`` and audited; a cluster that did not answer raises
    :class:`BackendError` (retryable) for the task to try again."""
    node = Node.objects.select_related("cluster").filter(pk=node_id).first()
    if node is None:
        return "gone"
    if node.cluster.kind != ClusterKind.KUBERNETES or node.state not in (*UNSCHEDULABLE_STATES, NodeState.READY):
        Node.objects.filter(pk=node.pk, cluster_sync=ClusterSync.PENDING).update(cluster_sync=ClusterSync.IN_STEP)
        return f"nothing to tell ({node.cluster.kind}, {node.state})"
    schedulable = node.state == NodeState.READY
    name = node.external_id or node.hostname
    try:
        changed = backend_for(node.cluster).set_schedulable(name, schedulable)
    except BackendError as exc:
        if exc.retryable:
            raise
        record_node_sync_failed(node.pk, exc.message)
        return "refused"
    with transaction.atomic():
        # Only if the node is still as we told the cluster: a newer move has its own task queued.
        Node.objects.filter(pk=node.pk, state=node.state).update(cluster_sync=ClusterSync.IN_STEP)
        audit.record(
            "inventory.node_uncordoned_on_cluster" if schedulable else "inventory.node_cordoned_on_cluster",
            node,
            actor=None,
            node_name=name,
            state=node.state,
            changed=changed,
        )
    log.info("inventory.node_cluster_synced", node=node.pk, node_name=name, schedulable=schedulable, changed=changed)
    return f"{'uncordoned' if schedulable else 'cordoned'} {name}" + ("" if changed else " (already so)")


@transaction.atomic
def record_node_sync_failed(node_id: int, message: str) -> None:
    """Telling the cluster failed for good (refused, or no answer after every retry): say so on
    the node (``cluster_sync`` failed) and in the audit log. Discovery does not try again; the
    next cordon, drain or uncordon does."""
    node = Node.objects.filter(pk=node_id).first()
    if node is None:
        return
    Node.objects.filter(pk=node.pk).update(cluster_sync=ClusterSync.FAILED, updated_at=timezone.now())
    audit.record("inventory.node_cluster_sync_failed", node, actor=None, state=node.state, error=message[:500])
    log.warning("inventory.node_cluster_sync_failed", node=node.pk, hostname=node.hostname, error=message[:500])


@transaction.atomic
def cordon_node(*, actor: User | AnonymousUser | None, node: Node, reason: str = "") -> Node:
    """Stop new work landing on a ready node (on Kubernetes, the node is cordoned on the
    cluster too, once this commits); running work is left alone."""
    return _move_node(
        node,
        actor=actor,
        from_states=CORDONABLE_STATES,
        to_state=NodeState.CORDONED,
        reason=reason,
        action="inventory.node_cordoned",
        verb="cordoned",
    )


@transaction.atomic
def drain_node(*, actor: User | AnonymousUser | None, node: Node, reason: str = "") -> Node:
    """No new work on the node; work already running there finishes.

    Paddock never evicts: admission places nothing more there and, on a Kubernetes cluster,
    the node is cordoned on the cluster too (see :func:`sync_node_schedulable`), so it empties
    as its jobs end. ``draining`` tells the other operators that the node is being emptied;
    it stays so until an operator uncordons it or marks it down.
    """
    return _move_node(
        node,
        actor=actor,
        from_states=DRAINABLE_STATES,
        to_state=NodeState.DRAINING,
        reason=reason,
        action="inventory.node_drained",
        verb="drained",
    )


@transaction.atomic
def uncordon_node(*, actor: User | AnonymousUser | None, node: Node, reason: str = "") -> Node:
    """Return a cordoned, draining or down node to service (``ready``)."""
    return _move_node(
        node,
        actor=actor,
        from_states=RETURNABLE_STATES,
        to_state=NodeState.READY,
        reason=reason,
        action="inventory.node_uncordoned",
        verb="returned to service",
    )


@transaction.atomic
def mark_node_down(*, actor: User | AnonymousUser | None, node: Node, reason: str = "") -> Node:
    """Record that a node is out of service (broken, powered off); it takes no work."""
    return _move_node(
        node,
        actor=actor,
        from_states=DOWNABLE_STATES,
        to_state=NodeState.DOWN,
        reason=reason,
        action="inventory.node_marked_down",
        verb="marked down",
    )


# A window may start a little in the past: the minute the operator spent filling the form.
MAINTENANCE_PAST_TOLERANCE = timedelta(minutes=1)


def validate_maintenance(
    starts_at: datetime | None, ends_at: datetime | None, reason: str, *, now: datetime | None = None
) -> None:
    """Raise a :class:`ValidationError` (by field) unless the window can be scheduled."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value is None:
            errors.setdefault(name, []).append("This field is required.")
        elif timezone.is_naive(value):
            errors.setdefault(name, []).append("Give a time zone (times are stored in UTC).")
    if not reason or not reason.strip():
        errors.setdefault("reason", []).append("Say why the node goes into maintenance.")
    elif len(reason.strip()) > REASON_MAX_LENGTH:
        errors.setdefault("reason", []).append(f"At most {REASON_MAX_LENGTH} characters.")
    if starts_at is not None and ends_at is not None and not {"starts_at", "ends_at"} & errors.keys():
        if ends_at <= starts_at:
            errors["ends_at"] = ["The window must end after it starts."]
        elif ends_at <= now:
            errors["ends_at"] = ["The window is already over."]
        if starts_at < now - MAINTENANCE_PAST_TOLERANCE:
            errors["starts_at"] = ["The window cannot start in the past."]
    if errors:
        raise ValidationError(errors)  # type: ignore[arg-type]


@transaction.atomic
def schedule_maintenance(
    *,
    actor: User | AnonymousUser | None,
    node: Node,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
) -> MaintenanceWindow:
    """Record a maintenance window: from ``starts_at`` to ``ends_at`` the node takes no new work.

    The node's state is not touched: Node.objects.schedulable() leaves it out while the
    window covers the time asked about, and takes it back when the window ends.
    """
    validate_maintenance(starts_at, ends_at, reason)
    window = MaintenanceWindow.objects.create(
        node=node,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason.strip(),
        created_by=actor if isinstance(actor, User) else None,
    )
    audit.record(
        "inventory.maintenance_scheduled",
        node,
        actor=actor,
        window=window.pk,
        starts_at=starts_at.isoformat(),
        ends_at=ends_at.isoformat(),
        reason=window.reason,
    )
    log.info("inventory.maintenance_scheduled", node=node.pk, starts_at=starts_at.isoformat())
    return window


@transaction.atomic
def cancel_maintenance(*, actor: User | AnonymousUser | None, window: MaintenanceWindow) -> None:
    """Remove a maintenance window (an early end, or a plan called off); audited on the node."""
    window_id = window.pk
    if MaintenanceWindow.objects.filter(pk=window_id).delete()[0]:
        audit.record(
            "inventory.maintenance_cancelled",
            window.node,
            actor=actor,
            window=window_id,
            starts_at=window.starts_at.isoformat(),
            ends_at=window.ends_at.isoformat(),
            reason=window.reason,
        )


# --- storage probes -------------------------------------------------------------------------
PROBE_BLOCK_BYTES = 4 * 2**20


class StorageProbeError(Exception):
    """The backend cannot be probed (not a file system, path missing or not writable)."""


@dataclass(frozen=True)
class StorageProbe:
    """One measurement of a file system: throughput in GB/s (10⁹ bytes) and its usage."""

    write_gbps: float
    read_gbps: float
    capacity_bytes: int
    used_bytes: int
    size_bytes: int


def _drop_from_page_cache(fd: int) -> None:
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def measure_filesystem(directory: str, *, size_bytes: int) -> StorageProbe:
    """Write ``size_bytes`` to a temporary file (4 MiB blocks, fsync), drop it from the page
    cache and read it back; time both. The file is removed whatever happens."""
    path = Path(directory)
    if not path.is_absolute() or not path.is_dir():
        raise StorageProbeError(f"{directory!r} is not an existing directory on this machine.")
    usage = shutil.disk_usage(path)
    if usage.free < size_bytes * 2:
        raise StorageProbeError(f"{directory} has {usage.free} bytes free; a {size_bytes}-byte probe needs twice that.")
    try:
        fd, name = tempfile.mkstemp(prefix=".paddock-probe-", dir=path)
    except OSError as exc:
        raise StorageProbeError(f"Cannot write to {directory}: {exc.strerror or exc}.") from exc
    try:
        block = os.urandom(PROBE_BLOCK_BYTES)  # random: a compressing file system cannot cheat
        try:
            started = time.perf_counter()
            written = 0
            while written < size_bytes:
                written += os.write(fd, memoryview(block)[: min(PROBE_BLOCK_BYTES, size_bytes - written)])
            os.fsync(fd)
            write_seconds = time.perf_counter() - started
            _drop_from_page_cache(fd)
        finally:
            os.close(fd)
        buffer = bytearray(PROBE_BLOCK_BYTES)
        with open(name, "rb", buffering=0) as f:
            _drop_from_page_cache(f.fileno())
            started = time.perf_counter()
            read = 0
            while chunk := f.readinto(buffer):
                read += chunk
            read_seconds = time.perf_counter() - started
    except OSError as exc:
        raise StorageProbeError(f"Probing {directory} failed: {exc.strerror or exc}.") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    if read != written:
        raise StorageProbeError(f"Read back {read} of {written} bytes from {directory}.")
    usage = shutil.disk_usage(path)
    return StorageProbe(
        write_gbps=written / max(write_seconds, 1e-9) / 1e9,
        read_gbps=read / max(read_seconds, 1e-9) / 1e9,
        capacity_bytes=usage.total,
        used_bytes=usage.used,
        size_bytes=written,
    )


@transaction.atomic
def record_storage_probe(
    *,
    actor: User | AnonymousUser | None,
    backend: StorageBackend,
    write_gbps: float,
    read_gbps: float,
    capacity_bytes: int | None,
    used_bytes: int | None,
    measured_at: datetime | None = None,
) -> StorageBackend:
    """Store what a probe measured on the backend, and audit it."""
    backend.write_gbps, backend.read_gbps = write_gbps, read_gbps
    backend.capacity_bytes, backend.used_bytes = capacity_bytes, used_bytes
    backend.measured_at = measured_at or timezone.now()
    backend.save(update_fields=["write_gbps", "read_gbps", "capacity_bytes", "used_bytes", "measured_at", "updated_at"])
    audit.record(
        "inventory.storage_probed",
        backend,
        actor=actor,
        write_gbps=round(write_gbps, 3),
        read_gbps=round(read_gbps, 3),
        capacity_bytes=capacity_bytes,
        used_bytes=used_bytes,
    )
    return backend


def probe_storage(*, actor: User | AnonymousUser | None, backend: StorageBackend, size_mb: int = 256) -> StorageProbe:
    """Measure a file-system backend from this machine and record it.

    Raises :class:`StorageProbeError` (nothing recorded) for object stores, a path that is
    missing or not writable, or a size below 1 MiB. The I/O runs outside any transaction.
    """
    if backend.kind not in FILESYSTEM_STORAGE_KINDS:
        kinds = ", ".join(sorted(FILESYSTEM_STORAGE_KINDS))
        raise StorageProbeError(
            f"{backend.name} is {StorageKind(backend.kind).label} storage; only file systems ({kinds}) can be probed."
        )
    if size_mb < 1:
        raise StorageProbeError("The probe size must be at least 1 MiB.")
    probe = measure_filesystem(backend.uri, size_bytes=size_mb * 2**20)
    record_storage_probe(
        actor=actor,
        backend=backend,
        write_gbps=probe.write_gbps,
        read_gbps=probe.read_gbps,
        capacity_bytes=probe.capacity_bytes,
        used_bytes=probe.used_bytes,
    )
    log.info("inventory.storage_probed", storage=backend.name, write_gbps=probe.write_gbps, read_gbps=probe.read_gbps)
    return probe


@transaction.atomic
@transaction.atomic
def record_agent_report(
    *, actor: User | AnonymousUser | None, cluster: Cluster, report: NodeReport, now: datetime | None = None
) -> SyncResult:
    """Record one host agent's report; an audit row only when the hardware changed.

    Its readings and network traffic go to whoever listens to ``host_reported`` (telemetry),
    in the same transaction.
    """
    now = now or timezone.now()
    result = sync_reports(cluster=cluster, reports=[report], source=NodeSource.AGENT, complete=False, now=now)
    host_reported.send(sender=Cluster, cluster=cluster, report=report, at=now)
    if result.nodes_created or result.accelerators_created or result.accelerators_removed:
        # The hardware changed (not merely its readings): worth an audit row.
        audit.record("inventory.agent_report", cluster, actor=actor, hostname=report.hostname, **asdict(result))
    return result
