"""``manage.py simulate TRACE.csv --inventory FILE --quotas FILE``: replay a workload through the
real scheduler on a virtual clock, in memory (no database), and report what it would do."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.admission import simulate


class Command(BaseCommand):
    help = (
        "Replay a trace (CSV: submit_time,team,gpus,model,duration,priority) through the scheduler over an "
        "inventory and a quota set; report utilisation, waits per team, preemptions, fairness and the ETA's error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("trace", help="CSV with a header: submit_time,team,gpus,model,duration,priority")
        parser.add_argument("--inventory", required=True, help="JSON or YAML: the pools (see deploy/simulate/)")
        parser.add_argument("--quotas", required=True, help="JSON or YAML: cohorts, teams and their quotas")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument(
            "--eta-every",
            type=int,
            default=1,
            help="predict the start of every n-th job that waits, at its submission (0: none; default 1)",
        )
        parser.add_argument(
            "--eta-runtime",
            choices=("known", "unknown"),
            default="known",
            help="known: the ETA knows each job's duration (as a declared max runtime); unknown: the team's median",
        )
        parser.add_argument(
            "--tick", type=float, default=0.0, help="events this many seconds apart share one pass (default 0)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["eta_every"] < 0 or options["tick"] < 0:
            raise CommandError("--eta-every and --tick must be 0 or more", returncode=2)
        try:
            summary = simulate.run(
                options["trace"],
                options["inventory"],
                options["quotas"],
                eta_every=options["eta_every"],
                eta_runtime=options["eta_runtime"],
                tick=options["tick"],
                starvation=timedelta(seconds=float(settings.PADDOCK_SCHEDULER_STARVATION_SECONDS)),
            )
        except simulate.TraceError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            self.stdout.write(simulate.render(summary))
