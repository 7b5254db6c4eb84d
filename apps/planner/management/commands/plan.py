"""``manage.py plan FILE.json``: the capacity planner for scripts.

Reads a spec (or a list of specs) from FILE (``-`` for stdin) and prints the same JSON as
``POST /api/v1/planner/estimate/``. A bad spec prints its field errors as JSON on stderr and
exits with status 2; unreadable input exits with status 1.

It needs no database: on a fresh checkout (no tables yet) or with the database out of reach it
plans with the built-in catalog and prices — those a fresh database starts with — and says so
on stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connection

from apps.core.api.parsers import check_json_depth
from apps.costs.models import PricePoint
from apps.inventory.models import AcceleratorModel
from apps.planner import services
from apps.planner.estimator import Catalog, SpecError


def _strict_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


class Command(BaseCommand):
    help = "Estimate memory, fit, time and cost for a spec (or a list of specs) in a JSON file; '-' reads stdin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="a JSON file with one spec or a list of specs; - for stdin")
        parser.add_argument("--compact", action="store_true", help="one line of JSON instead of indented")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        try:
            text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not UTF-8 text: {exc.reason}.") from exc
        try:
            check_json_depth(text)
            data = json.loads(text, parse_constant=_strict_constant)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from exc
        except ValueError as exc:
            raise CommandError(f"{path} is not usable JSON: {exc}.") from exc
        catalog = self._builtin_catalog_if_no_database()
        try:
            answer = services.plan(data, catalog=catalog)
        except SpecError as exc:
            self.stderr.write(json.dumps(exc.errors, indent=2))
            self.stderr.write(f"Invalid spec: {exc}")
            raise SystemExit(2) from exc
        self.stdout.write(json.dumps(answer, indent=None if options["compact"] else 2))

    def _builtin_catalog_if_no_database(self) -> Catalog | None:
        """None when the database holds the catalog; else the built-in one, said on stderr."""
        needed = {AcceleratorModel._meta.db_table, PricePoint._meta.db_table}
        try:
            missing = needed - set(connection.introspection.table_names())
        except DatabaseError as exc:
            reason = f"The database cannot be reached ({str(exc).strip() or type(exc).__name__})"
        else:
            if not missing:
                return None
            reason = "The database has no tables yet (run `manage.py migrate`)"
        self.stderr.write(f"{reason}: planning with Paddock's built-in accelerator catalog and prices.")
        return services.builtin_catalog()
