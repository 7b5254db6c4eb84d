"""Paddock applies a Kubernetes cluster's Kueue objects itself, so that Kueue and Paddock never
disagree for longer than one sync.

A cluster takes part when its ``kubernetes`` settings say ``"kueue": true``. Its objects are
what :func:`apps.admission.kueue.kueue_objects` builds from its pools, quotas, cohorts and team
policies (LocalQueues in the cluster's job namespace), written through the dispatch port's
``apply_objects``: created, updated by server-side apply, and deleted when no longer wanted,
only ever those labelled as this cluster's (:func:`owner_label`), never any other Kueue object.

When: once the transaction that changed a quota, pool, cohort, team policy or team commits
(:mod:`apps.admission.signals`), every ``PADDOCK_KUEUE_SYNC_INTERVAL`` seconds (beat: what a
bulk update or a lost message missed), and on demand (``manage.py kueue_objects --apply``, the
admin's *Apply Kueue objects*). A sync that finds nothing changed writes nothing. Every sync
that wrote, refused, failed or was asked for is in the audit log.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction

from apps.admission.kueue import API_VERSION, KueueExportError, kueue_objects, load_kueue_inputs
from apps.core import audit
from apps.core.errors import Conflict
from apps.core.logging import get_logger
from apps.core.tasks import enqueue_once, try_enqueue
from apps.dispatch.port import ApplyResult, BackendError, ObjectKind
from apps.dispatch.registry import probing
from apps.inventory.choices import ClusterKind
from apps.inventory.models import Cluster
from apps.inventory.services import backend_for, kubernetes_options

log = get_logger("paddock.admission")

# In apply order: flavors and cohorts before the ClusterQueues naming them, LocalQueues last.
KUEUE_KINDS = (
    ObjectKind(API_VERSION, "ResourceFlavor", "resourceflavors"),
    ObjectKind(API_VERSION, "Cohort", "cohorts"),
    ObjectKind(API_VERSION, "ClusterQueue", "clusterqueues"),
    ObjectKind(API_VERSION, "LocalQueue", "localqueues", namespaced=True),
)
OWNER_LABEL = "paddock.dev/kueue-of"
SYNC_TASK = "admission.sync_kueue"
QUEUED_TTL_S = 300.0

Actor = User | AnonymousUser | None


def owner_label(cluster: Cluster) -> tuple[str, str]:
    """The label on every Kueue object Paddock applies to ``cluster``: what it may change and
    delete there. By the cluster's id, which a rename does not change."""
    return OWNER_LABEL, f"cluster-{cluster.pk}"


def kueue_enabled(cluster: Cluster) -> bool:
    return cluster.kind == ClusterKind.KUBERNETES and (cluster.kubernetes or {}).get("kueue") is True


def kueue_clusters() -> list[int]:
    """The ids of the clusters whose Kueue objects Paddock applies."""
    return list(
        Cluster.objects.filter(kind=ClusterKind.KUBERNETES, kubernetes__kueue=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def wanted_objects(cluster: Cluster) -> list[dict[str, Any]]:
    """The cluster's Kueue objects as Paddock's pools and quotas say now (raises
    :class:`KueueExportError` when they cannot be said in Kueue's terms)."""
    inputs = load_kueue_inputs(cluster)
    namespace = kubernetes_options(cluster).namespace
    return kueue_objects(
        inputs.pools,
        inputs.quotas,
        inputs.cohorts,
        inputs.teams,
        namespace_of=lambda team: namespace,
        policies=inputs.policies,
    )


def sync_kueue(cluster: Cluster, *, actor: Actor = None) -> ApplyResult:
    """Make the cluster's Kueue objects what Paddock says (see the module). Raises
    :class:`Conflict` for a cluster without Kueue, :class:`KueueExportError` and
    :class:`BackendError` as they come (the caller retries or calls :func:`record_failure`).
    ``actor``: an operator asking now (audited even when nothing changed; the cluster is asked
    even while its breaker is open)."""
    if not kueue_enabled(cluster):
        raise Conflict(f'Cluster {cluster.name} does not use Kueue (its kubernetes settings lack "kueue": true).')
    objects = wanted_objects(cluster)
    backend = backend_for(cluster)
    if isinstance(actor, User):
        backend = probing(backend)
    result = backend.apply_objects(objects, kinds=KUEUE_KINDS, owner_label=owner_label(cluster))
    if result.written or result.refused or isinstance(actor, User):
        audit.record(
            "admission.kueue_applied",
            cluster,
            actor=actor,
            created=list(result.created),
            updated=list(result.updated),
            deleted=list(result.deleted),
            refused=list(result.refused),
            unchanged=len(result.unchanged),
            messages=list(result.messages),
        )
    log.info(
        "admission.kueue_applied",
        cluster=cluster.name,
        created=len(result.created),
        updated=len(result.updated),
        deleted=len(result.deleted),
        refused=len(result.refused),
        unchanged=len(result.unchanged),
    )
    return result


def record_failure(cluster: Cluster, error: BackendError | KueueExportError, *, actor: Actor = None) -> None:
    """A sync that gave up: in the audit log and the log, with the reason."""
    message = error.message if isinstance(error, BackendError) else str(error)
    audit.record("admission.kueue_apply_failed", cluster, actor=actor, error=message)
    log.warning("admission.kueue_apply_failed", cluster=cluster.name, error=message)


def queued_key(cluster_id: int) -> str:
    return f"admission.kueue.queued.{cluster_id}"


def request_sync(cluster_ids: list[int] | None = None, *, actor: Actor = None) -> list[int]:
    """Queue a sync of each cluster (default: every Kueue cluster) unless one is queued and
    not yet started. The ids asked for."""
    ids = kueue_clusters() if cluster_ids is None else cluster_ids
    actor_id = actor.pk if isinstance(actor, User) else None
    for cluster_id in ids:
        if actor_id is None:
            enqueue_once(SYNC_TASK, cluster_id, key=queued_key(cluster_id), ttl=QUEUED_TTL_S)
        else:  # an operator's request is never folded into one already queued: it is audited as theirs
            try_enqueue(SYNC_TASK, cluster_id, 0, actor_id)
    return ids


def request_sync_on_commit(cluster_ids: list[int] | None = None, *, actor: Actor = None) -> None:
    """:func:`request_sync` once the current transaction commits (nothing when it rolls back)."""
    transaction.on_commit(lambda: request_sync(cluster_ids, actor=actor))
