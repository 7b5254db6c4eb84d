"""Inventory use cases: registering clusters and recording what they report."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.core import audit
from apps.dispatch import registry
from apps.dispatch.port import Backend, BackendError, Capacity
from apps.inventory.choices import ClusterKind, ClusterState
from apps.inventory.models import Cluster, resources_to_json
from apps.tenancy.models import Organisation


def backend_for(cluster: Cluster) -> Backend:
    return registry.get_backend(cluster.kind, cluster.address, cluster.auth_token)


@transaction.atomic
def register_cluster(
    *,
    actor: User | None,
    organisation: Organisation,
    name: str,
    address: str,
    kind: str = ClusterKind.RAY,
    auth_token: str | None = None,
) -> Cluster:
    """Create the cluster, or update its address and token when it exists (idempotent)."""
    cluster = Cluster.objects.filter(name=name).first()
    created = cluster is None
    if cluster is None:
        cluster = Cluster(organisation=organisation, name=name)
    cluster.kind = kind
    cluster.address = address
    if auth_token is not None:
        cluster.set_auth_token(auth_token)
    cluster.save()
    audit.record("inventory.cluster_registered" if created else "inventory.cluster_updated", cluster, actor=actor)
    return cluster


def refresh_capacity(cluster: Cluster) -> Capacity | None:
    """Ask the backend what the cluster has; record it (or that it is unreachable)."""
    now = timezone.now()
    try:
        capacity = backend_for(cluster).capacity()
    except BackendError as exc:
        Cluster.objects.filter(pk=cluster.pk).update(
            state=ClusterState.UNREACHABLE, state_message=exc.message[:500], updated_at=now
        )
        cluster.state = ClusterState.UNREACHABLE
        cluster.state_message = exc.message[:500]
        return None
    cluster.total_resources = resources_to_json(capacity.total)
    cluster.available_resources = resources_to_json(capacity.available)
    cluster.state = ClusterState.READY
    cluster.state_message = ""
    cluster.last_seen_at = now
    Cluster.objects.filter(pk=cluster.pk).update(
        total_resources=cluster.total_resources,
        available_resources=cluster.available_resources,
        state=cluster.state,
        state_message="",
        last_seen_at=now,
        updated_at=now,
    )
    return capacity
