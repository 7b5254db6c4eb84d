"""Writing audit entries from services (one row per use case, inside its transaction)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import models

from apps.core.models import AuditEntry


def record(
    action: str,
    target: models.Model,
    *,
    actor: User | AnonymousUser | None,
    team_id: int | None = None,
    **data: Any,
) -> AuditEntry:
    """Append an audit entry; ``actor`` None means the system acted."""
    return AuditEntry.objects.create(
        actor=actor if isinstance(actor, User) else None,
        team_id=team_id,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        data=data,
    )
