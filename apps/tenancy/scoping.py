"""Which teams and organisations the caller of a request may see, and with which role.

Two kinds of role exist side by side:

* a team role (admin, member, viewer) over one team's work: its jobs, logs and tokens;
* an organisation admin over what the organisation's teams share: clusters, pools, quotas,
  cohorts, priority classes, fabrics and storage. Staff hold it for every organisation.

An admin of a team is not an admin of its organisation. A token limited to one team
(``ApiToken.team``) acts only within that team: it carries no organisation-admin rights, even
when its user holds them, because organisation writes reach every other team.
"""

from __future__ import annotations

from typing import Any

from apps.tenancy.choices import OrganisationRole
from apps.tenancy.models import Membership, Organisation, OrganisationMembership, Team


def _token_team_id(request: Any) -> int | None:
    return getattr(getattr(request, "auth", None), "team_id", None)


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
        token_team_id = _token_team_id(request)
        if token_team_id is not None:
            memberships = memberships.filter(team_id=token_team_id)
        roles = dict(memberships.values_list("team_id", "role"))
    request._paddock_roles = roles
    return roles


def administered_organisation_ids(request: Any) -> frozenset[int]:
    """The organisations whose shared objects the caller may change: those they are an
    organisation admin of (every one for staff); none through a token limited to one team.

    Cached on the request: at most one query per request.
    """
    cached: frozenset[int] | None = getattr(request, "_paddock_administered", None)
    if cached is not None:
        return cached
    user = getattr(request, "user", None)
    administered: frozenset[int] = frozenset()
    if user is not None and user.is_authenticated and _token_team_id(request) is None:
        if user.is_staff:
            administered = frozenset(Organisation.objects.values_list("pk", flat=True))
        else:
            administered = frozenset(
                OrganisationMembership.objects.filter(user=user, role=OrganisationRole.ADMIN).values_list(
                    "organisation_id", flat=True
                )
            )
    request._paddock_administered = administered
    return administered


def caller_organisation_ids(request: Any) -> list[int]:
    """The organisations whose shared objects the caller may see: those of the caller's teams
    and those the caller administers (cached; at most two queries besides the roles)."""
    cached: list[int] | None = getattr(request, "_paddock_organisations", None)
    if cached is not None:
        return cached
    teams = Team.objects.filter(pk__in=list(caller_roles(request)))
    organisations = set(teams.values_list("organisation_id", flat=True)) if caller_roles(request) else set()
    organisations |= administered_organisation_ids(request)
    result = sorted(organisations)
    request._paddock_organisations = result
    return result


def administers_organisation(request: Any, organisation_id: int | None = None) -> bool:
    """True when the caller is an admin of the organisation, or staff (None: of any one).

    Organisation-wide writes (quotas, cohorts, priority classes, pools, clusters, fabrics,
    storage, host reports) ask this; a team admin is not an organisation admin.
    """
    administered = administered_organisation_ids(request)
    if organisation_id is None:
        return bool(administered)
    return organisation_id in administered
