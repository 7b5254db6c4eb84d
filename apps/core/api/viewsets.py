"""The one base every API viewset uses: querysets scoped to the caller's teams.

Tenancy fails closed: an object of another team is simply not in the queryset, so it is
a 404 (never a 403 that would confirm it exists).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import User
from django.db.models import QuerySet
from rest_framework import viewsets
from rest_framework.exceptions import PermissionDenied

from apps.tenancy.scoping import caller_roles


class TeamScopedViewSet(viewsets.GenericViewSet):  # type: ignore[type-arg]
    """Scope ``queryset`` by ``team_field`` (a lookup path to a Team) to the caller's teams."""

    team_field: ClassVar[str] = "team"

    def get_queryset(self) -> QuerySet[Any]:
        return self.scope_queryset(super().get_queryset(), list(caller_roles(self.request)))

    def scope_queryset(self, queryset: QuerySet[Any], team_ids: list[int]) -> QuerySet[Any]:
        """Override for objects shared more widely than one team (e.g. an organisation's)."""
        return queryset.filter(**{f"{self.team_field}__in": team_ids})

    @property
    def actor(self) -> User:
        """The authenticated caller (permissions have already refused anonymous ones)."""
        user = self.request.user
        assert isinstance(user, User)
        return user

    def require_role(self, team_id: int, roles: set[str], action: str) -> None:
        """403 unless the caller holds one of ``roles`` in the team (which they can see)."""
        role = caller_roles(self.request).get(team_id)
        if role not in roles:
            raise PermissionDenied(f"Your role in this team ({role}) cannot {action}.")
