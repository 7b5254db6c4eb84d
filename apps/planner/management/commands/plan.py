"""``manage.py plan FILE.json``: the capacity planner for scripts.

Reads a spec (or a list of specs) from FILE (``-`` for stdin) and prints the same JSON as
``POST /api/v1/planner/estimate/``. A bad spec prints its field errors as JSON on stderr and
exits with status 2; unreadable input exits with status 1.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.planner import services
from apps.planner.estimator import SpecError


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
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from exc
        try:
            answer = services.plan(data)
        except SpecError as exc:
            self.stderr.write(json.dumps(exc.errors, indent=2))
            self.stderr.write(f"Invalid spec: {exc}")
            raise SystemExit(2) from exc
        self.stdout.write(json.dumps(answer, indent=None if options["compact"] else 2))
