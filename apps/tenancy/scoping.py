"""Which teams the caller of a request may see, and with which role."""

from __future__ import annotations

from typing import Any

from apps.tenancy.models import Membership


def caller_roles(request: Any) -> dict[int, str]:
    """Team id → role for the caller, narrowed to the token's team when a token has one.

    Cached on the request: one query per request however many times it is asked.
    """
    cached: dict[int, str] | None = getattr(request, "_paddock_roles", None)
    if cached is not None:
        return cached
    user = getattr(request, "user", None)
    roles: dict[int, str] = {}
    if user is not None and user.is_authenticated:
        memberships = Membership.objects.filter(user=user)
        token_team_id = getattr(getattr(request, "auth", None), "team_id", None)
        if token_team_id is not None:
            memberships = memberships.filter(team_id=token_team_id)
        roles = dict(memberships.values_list("team_id", "role"))
    request._paddock_roles = roles
    return roles
