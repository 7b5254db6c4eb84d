"""``manage.py kueue_objects --cluster NAME``: print the cluster's Kueue objects as YAML, or
with ``--apply`` apply them now, as Paddock does by itself for a cluster with ``"kueue": true``
(apps.admission.kueue_sync).

    python manage.py kueue_objects --cluster gke-a              # look first
    python manage.py kueue_objects --cluster gke-a --apply      # then apply
"""

from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.admission import kueue_sync
from apps.admission.kueue import KueueExportError, kueue_objects, load_kueue_inputs
from apps.core.errors import Conflict
from apps.dispatch.port import BackendError
from apps.inventory.models import Cluster
from apps.inventory.services import kubernetes_options


class Command(BaseCommand):
    help = "Print Kueue ResourceFlavors, Cohorts, ClusterQueues and LocalQueues for a cluster's pools and quotas."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cluster", required=True, help="the Paddock cluster's name")
        parser.add_argument(
            "--namespace",
            default=None,
            help="the namespace the teams' jobs run in, where their LocalQueues go (default: the cluster's job "
            "namespace; with --apply always that one)",
        )
        parser.add_argument(
            "--apply",
            action="store_true",
            help='apply them to the cluster now (it must have "kueue": true in its kubernetes settings)',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        cluster = Cluster.objects.filter(name=options["cluster"]).first()
        if cluster is None:
            raise CommandError(f"no cluster named {options['cluster']!r}")
        if options["apply"]:
            self._apply(cluster)
            return
        inputs = load_kueue_inputs(cluster)
        namespace = options["namespace"] or kubernetes_options(cluster).namespace
        try:
            objects = kueue_objects(
                inputs.pools,
                inputs.quotas,
                inputs.cohorts,
                inputs.teams,
                namespace_of=lambda team: namespace,
                policies=inputs.policies,
            )
        except KueueExportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(yaml.safe_dump_all(objects, sort_keys=False), ending="")

    def _apply(self, cluster: Cluster) -> None:
        try:
            result = kueue_sync.sync_kueue(cluster)
        except Conflict as exc:
            raise CommandError(str(exc)) from exc
        except (BackendError, KueueExportError) as exc:
            kueue_sync.record_failure(cluster, exc)
            raise CommandError(f"not applied: {exc}") from exc
        for verb, names in (
            ("created", result.created),
            ("updated", result.updated),
            ("deleted", result.deleted),
            ("refused", result.refused),
        ):
            for name in names:
                self.stdout.write(f"{verb} {name}")
        for message in result.messages:
            self.stderr.write(message)
        self.stdout.write(f"{len(result.unchanged)} unchanged")
