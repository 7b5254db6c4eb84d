"""``manage.py bootstrap_demo``: the demo organisation, team ``demo``, user ``admin`` and the
``local`` cluster. Idempotent: a second run keeps every existing row and password."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.dispatch.local_ray import ensure_token_file, local_head_token_path
from apps.inventory import services as inventory
from apps.tenancy import services as tenancy


class Command(BaseCommand):
    help = "Create the demo organisation, team and admin user, and register the local Ray cluster."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--admin", default="admin", help="the admin username")
        parser.add_argument("--cluster-name", default="local")
        parser.add_argument("--cluster-address", default="", help="the local Ray head's dashboard address")
        parser.add_argument(
            "--local-head-token",
            action="store_true",
            help="register the cluster with the token runlocal's Ray head requires (made when missing)",
        )
        parser.add_argument(
            "--cluster-auth-token-file",
            default="",
            help="a file holding the Ray head's auth token (RAY_AUTH_MODE=token); without a token the "
            "cluster is registered as on a trusted network (loopback only)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password_file = Path(settings.DATA_DIR) / "admin-password"
        password = os.environ.get("PADDOCK_ADMIN_PASSWORD") or ""
        if not password:
            password = password_file.read_text().strip() if password_file.is_file() else secrets.token_urlsafe(12)
        setup = tenancy.ensure_demo(admin_username=options["admin"], admin_password=password)
        if setup.password_created and not os.environ.get("PADDOCK_ADMIN_PASSWORD"):
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        if options["cluster_address"]:
            token_file = options["cluster_auth_token_file"]
            if options["local_head_token"]:  # make run's head: its token, made once in the data dir
                token_file = str(ensure_token_file(local_head_token_path(settings.DATA_DIR)))
            token = _read_token(token_file) if token_file else ""
            # Without a token the head must be reachable only from this machine (loopback):
            # it is registered as on a trusted network, which says so.
            cluster = inventory.register_cluster(
                actor=None,
                organisation=setup.organisation,
                name=options["cluster_name"],
                address=options["cluster_address"],
                auth_token=token or None,
                trusted_network=not token,
            )
            if setup.team.default_cluster_id is None:
                setup.team.default_cluster = cluster
                setup.team.save(update_fields=["default_cluster", "updated_at"])
        if os.environ.get("PADDOCK_ADMIN_PASSWORD"):
            where = "the password in PADDOCK_ADMIN_PASSWORD"
        elif setup.password_created or password_file.is_file():
            where = f"the password in {password_file}"
        else:
            where = "the password you set earlier"
        self.stdout.write(f"Sign in as '{options['admin']}' with {where}.")


def _read_token(path: str) -> str:
    try:
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise CommandError(f"Cannot read the cluster's auth token from {path}: {exc.strerror}.") from exc
    if not token:
        raise CommandError(f"{path} is empty: it should hold the Ray head's auth token.")
    return token
