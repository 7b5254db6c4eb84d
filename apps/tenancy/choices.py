from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class OrganisationRole(models.TextChoices):
    """A role over a whole organisation (beyond any one team)."""

    ADMIN = "admin", "Organisation admin"


# Roles allowed to submit, cancel and otherwise change a team's work.
WRITE_ROLES = {Role.ADMIN.value, Role.MEMBER.value}


class TokenScope(models.TextChoices):
    READ = "read", "Read only"
    WRITE = "write", "Read and write"
    AGENT = "agent", "Host agent (reports inventory only)"
