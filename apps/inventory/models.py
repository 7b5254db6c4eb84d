"""Clusters (this issue: kind ``ray``); nodes and accelerators come with the inventory issue."""

from __future__ import annotations

from django.db import models

from apps.core import crypto
from apps.core.models import TimeStampedModel
from apps.dispatch.port import Resources
from apps.inventory.choices import ClusterKind, ClusterState


class Cluster(TimeStampedModel):
    """A compute cluster Paddock dispatches to (a Ray head's dashboard address, for now)."""

    organisation = models.ForeignKey("tenancy.Organisation", on_delete=models.PROTECT, related_name="clusters")
    name = models.SlugField(max_length=63, unique=True)
    kind = models.CharField(max_length=16, choices=ClusterKind.choices, default=ClusterKind.RAY)
    address = models.CharField(
        max_length=255, help_text="Ray: the dashboard / Jobs API address, e.g. http://127.0.0.1:8265"
    )
    auth_token_encrypted = models.TextField(blank=True, default="", editable=False)
    state = models.CharField(max_length=16, choices=ClusterState.choices, default=ClusterState.UNKNOWN)
    state_message = models.CharField(max_length=500, blank=True, default="")
    # Capacity as the backend last reported it (total: what it could ever give).
    total_resources = models.JSONField(default=dict, blank=True)
    available_resources = models.JSONField(default=dict, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_reconciled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def auth_token(self) -> str | None:
        return crypto.decrypt(self.auth_token_encrypted) if self.auth_token_encrypted else None

    def set_auth_token(self, token: str | None) -> None:
        self.auth_token_encrypted = crypto.encrypt(token) if token else ""

    @property
    def has_auth_token(self) -> bool:
        return bool(self.auth_token_encrypted)

    def total(self) -> Resources:
        return resources_from_json(self.total_resources)

    def available(self) -> Resources:
        return resources_from_json(self.available_resources)


def resources_to_json(resources: Resources) -> dict[str, object]:
    return {
        "cpus": resources.cpus,
        "gpus": resources.gpus,
        "memory_bytes": resources.memory_bytes,
        "custom": dict(resources.custom),
    }


def resources_from_json(data: dict[str, object]) -> Resources:
    custom = data.get("custom") or {}
    return Resources(
        cpus=float(data.get("cpus", 0.0)),  # type: ignore[arg-type]
        gpus=float(data.get("gpus", 0.0)),  # type: ignore[arg-type]
        memory_bytes=int(data.get("memory_bytes", 0)),  # type: ignore[call-overload]
        custom={str(k): float(v) for k, v in custom.items()},  # type: ignore[attr-defined]
    )
