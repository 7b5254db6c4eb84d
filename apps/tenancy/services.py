"""Tenancy use cases: tokens, organisation admins and the demo bootstrap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.core import audit
from apps.core.errors import Conflict
from apps.tenancy import tokens
from apps.tenancy.choices import OrganisationRole, Role, TokenScope
from apps.tenancy.models import ApiToken, Membership, Organisation, OrganisationMembership, Team


@dataclass(frozen=True)
class IssuedToken:
    """A newly created token: ``plaintext`` is shown once and never stored."""

    token: ApiToken
    plaintext: str


@transaction.atomic
def create_token(
    *,
    actor: User,
    user: User,
    name: str,
    scope: str = TokenScope.READ,
    team: Team | None = None,
    expires_at: datetime | None = None,
) -> IssuedToken:
    if team is not None and not Membership.objects.filter(team=team, user=user).exists():
        raise ValueError(f"{user} is not a member of team {team.slug}")
    plaintext, key_id, secret_hash = tokens.new_token()
    token = ApiToken.objects.create(
        user=user,
        team=team,
        name=name,
        key_id=key_id,
        secret_hash=secret_hash,
        scope=scope,
        expires_at=expires_at,
    )
    audit.record(
        "tenancy.token_created",
        token,
        actor=actor,
        team_id=team.pk if team else None,
        user=user.get_username(),
        scope=scope,
    )
    return IssuedToken(token=token, plaintext=plaintext)


@transaction.atomic
def revoke_token(*, actor: User | None, token: ApiToken) -> ApiToken:
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if not updated:
        raise Conflict("This token is already revoked.")
    token.refresh_from_db()
    audit.record("tenancy.token_revoked", token, actor=actor, team_id=token.team_id)
    return token


@transaction.atomic
def grant_organisation_admin(
    *, actor: User | None, organisation: Organisation, user: User
) -> tuple[OrganisationMembership, bool]:
    """Make ``user`` an admin of ``organisation`` (idempotent); True when newly granted."""
    membership, created = OrganisationMembership.objects.get_or_create(
        organisation=organisation, user=user, defaults={"role": OrganisationRole.ADMIN}
    )
    if not created and membership.role != OrganisationRole.ADMIN:
        membership.role = OrganisationRole.ADMIN
        membership.save(update_fields=["role", "updated_at"])
        created = True
    if created:
        audit.record(
            "tenancy.organisation_admin_granted",
            membership,
            actor=actor,
            organisation=organisation.slug,
            user=user.get_username(),
        )
    return membership, created


@transaction.atomic
def revoke_organisation_admin(*, actor: User | None, organisation: Organisation, user: User) -> bool:
    """Take away ``user``'s admin role over ``organisation``; False when they did not hold it."""
    membership = (
        OrganisationMembership.objects.select_for_update()
        .filter(organisation=organisation, user=user, role=OrganisationRole.ADMIN)
        .first()
    )
    if membership is None:
        return False
    audit.record(
        "tenancy.organisation_admin_revoked",
        membership,
        actor=actor,
        organisation=organisation.slug,
        user=user.get_username(),
    )
    membership.delete()
    return True


@transaction.atomic
def set_membership(*, actor: User | None, team: Team, user: User, role: str) -> tuple[Membership, bool]:
    """Give ``user`` ``role`` in ``team`` (a new membership or a changed role), audited; False
    when nothing changed."""
    membership, created = Membership.objects.select_for_update().get_or_create(
        team=team, user=user, defaults={"role": role}
    )
    before = None if created else membership.role
    if not created and membership.role == role:
        return membership, False
    if not created:
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
    audit.record(
        "tenancy.membership_added" if created else "tenancy.membership_changed",
        membership,
        actor=actor,
        team_id=team.pk,
        user=user.get_username(),
        role=role,
        **({"from_role": before} if before else {}),
    )
    return membership, True


@transaction.atomic
def remove_membership(*, actor: User | None, membership: Membership) -> None:
    audit.record(
        "tenancy.membership_removed",
        membership,
        actor=actor,
        team_id=membership.team_id,
        user=membership.user.get_username(),
        role=membership.role,
    )
    membership.delete()


@dataclass(frozen=True)
class DemoSetup:
    organisation: Organisation
    team: Team
    admin: User
    password_created: bool


@transaction.atomic
def ensure_demo(*, admin_username: str, admin_password: str) -> DemoSetup:
    """Create (once) the demo organisation, team ``demo`` and superuser ``admin_username``,
    who is an admin of both the team and the organisation.

    Idempotent: a second run keeps existing data and never resets a password.
    """
    organisation, _ = Organisation.objects.get_or_create(slug="demo", defaults={"name": "Demo organisation"})
    team, _ = Team.objects.get_or_create(slug="demo", defaults={"name": "Demo team", "organisation": organisation})
    user_model = get_user_model()
    admin = user_model.objects.filter(username=admin_username).first()
    created = admin is None
    if admin is None:
        admin = user_model.objects.create_superuser(username=admin_username, email="", password=admin_password)
    Membership.objects.get_or_create(team=team, user=admin, defaults={"role": Role.ADMIN})
    grant_organisation_admin(actor=None, organisation=organisation, user=admin)
    return DemoSetup(organisation=organisation, team=team, admin=admin, password_created=created)
