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


def caller_organisation_ids(request: Any) -> list[int]:
    """The organisations of the caller's teams (one query besides the cached roles)."""
    from apps.tenancy.models import Team

    teams = Team.objects.filter(pk__in=list(caller_roles(request)))
    return sorted(set(teams.values_list("organisation_id", flat=True)))


def administers_organisation(request: Any, organisation_id: int | None = None) -> bool:
    """True when the caller is an admin of a team of the organisation (None: of any organisation).

    One query (besides the cached roles); organisation-wide writes and reports use this.
    """
    from apps.tenancy.choices import Role
    from apps.tenancy.models import Team

    admin_of = [team_id for team_id, role in caller_roles(request).items() if role == Role.ADMIN]
    if not admin_of:
        return False
    teams = Team.objects.filter(pk__in=admin_of)
    if organisation_id is not None:
        teams = teams.filter(organisation_id=organisation_id)
    return teams.exists()
