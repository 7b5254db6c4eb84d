"""Organisations, teams, memberships and API tokens."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.models import TimeStampedModel
from apps.tenancy.choices import OrganisationRole, Role, TokenScope
from apps.tenancy.querysets import ApiTokenQuerySet


class Organisation(TimeStampedModel):
    """A company or lab: owns clusters and holds teams."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=63, unique=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Team(TimeStampedModel):
    """A group of people whose jobs, quotas and costs are accounted together."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="teams")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=63, unique=True)
    default_cluster = models.ForeignKey(
        "inventory.Cluster",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Where the team's jobs go when a submission names no cluster.",
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams")
    cohort = models.ForeignKey(
        "quotas.Cohort",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="teams",
        help_text="Teams of one cohort lend idle guarantees to one another.",
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(TimeStampedModel):
    """A user's role in a team: admin, member or viewer."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        ordering = ["team__slug", "user__username"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="membership_unique_team_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class OrganisationMembership(TimeStampedModel):
    """A user's role over a whole organisation: its admins change what its teams share
    (clusters, pools, quotas, cohorts, priority classes, fabrics, storage).

    Independent of team memberships: an admin of a team is not an admin of its organisation.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="organisation_memberships"
    )
    role = models.CharField(max_length=16, choices=OrganisationRole.choices, default=OrganisationRole.ADMIN)

    class Meta:
        ordering = ["organisation__slug", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="organisation_membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation} ({self.role})"


class ApiToken(TimeStampedModel):
    """A bearer token for CI: ``pdk_<key_id>.<secret>``; only a hash of the secret is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="When set, the token sees only this team even if its user has more.",
    )
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=32, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scope = models.CharField(max_length=8, choices=TokenScope.choices, default=TokenScope.READ)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def prefix(self) -> str:
        return f"pdk_{self.key_id}"

    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
