"""``manage.py create_token --user NAME [--team SLUG] [--scope write]``: prints only the token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.tenancy import services
from apps.tenancy.choices import TokenScope
from apps.tenancy.models import Team


class Command(BaseCommand):
    help = "Create an API token for a user and print it (only the token, once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="username the token acts as")
        parser.add_argument("--team", help="limit the token to this team (slug)")
        parser.add_argument("--scope", choices=[s.value for s in TokenScope], default=TokenScope.READ.value)
        parser.add_argument("--name", default="cli", help="a label to recognise the token by")
        parser.add_argument(
            "--expires-days",
            type=int,
            default=settings.PADDOCK_TOKEN_DEFAULT_DAYS,
            help="days until expiry; 0 means never",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"no user named {options['user']!r}")
        team = None
        if options["team"]:
            team = Team.objects.filter(slug=options["team"]).first()
            if team is None:
                raise CommandError(f"no team {options['team']!r}")
        days = options["expires_days"]
        if days < 0:
            raise CommandError("--expires-days must be 0 (never) or more")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        try:
            issued = services.create_token(
                actor=user, user=user, name=options["name"], scope=options["scope"], team=team, expires_at=expires_at
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(issued.plaintext)
