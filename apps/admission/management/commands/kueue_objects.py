"""``manage.py kueue_objects --cluster NAME``: print the cluster's Kueue objects as YAML.

    python manage.py kueue_objects --cluster gke-a | kubectl apply -f -

An operator applies them (they are cluster-scoped; Paddock's service account may not).
"""

from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.admission.kueue import KueueExportError, kueue_objects, load_kueue_inputs
from apps.inventory.models import Cluster


class Command(BaseCommand):
    help = "Print Kueue ResourceFlavors, Cohorts, ClusterQueues and LocalQueues for a cluster's pools and quotas."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cluster", required=True, help="the Paddock cluster's name")
        parser.add_argument(
            "--namespace",
            default="paddock-jobs",
            help="the namespace the teams' jobs run in, where their LocalQueues go (default: paddock-jobs)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        cluster = Cluster.objects.filter(name=options["cluster"]).first()
        if cluster is None:
            raise CommandError(f"no cluster named {options['cluster']!r}")
        inputs = load_kueue_inputs(cluster)
        namespace = options["namespace"]
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
