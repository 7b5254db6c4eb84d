"""Reusable inventory queries: which nodes may take new work, and how many GPUs sit idle."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.db.models.lookups import LessThan
from django.utils import timezone

from apps.inventory.choices import SCHEDULABLE_NODE_STATES, AcceleratorHealth, ClusterState, NodeSource

# An accelerator the hardware reports as idle: healthy (or not yet known to be otherwise),
# under 5% of its memory in use and under 5% busy (or no utilisation reading).
IDLE_ACCELERATOR = (
    Q(health__in=[AcceleratorHealth.OK, AcceleratorHealth.UNKNOWN])
    & Q(LessThan(F("memory_used_mib") * 20, F("memory_total_mib")))
    & (Q(utilisation_percent__isnull=True) | Q(utilisation_percent__lt=5))
)


class ClusterQuerySet(models.QuerySet):  # type: ignore[type-arg]
    def usable_by(self, team_ids: list[int], organisation_ids: list[int]) -> ClusterQuerySet:
        """Clusters that at least one of the teams may submit to.

        A cluster with no allowed teams takes every team of its own organisation
        (``organisation_ids`` holds those teams' organisations); a cluster with allowed teams
        takes exactly those, whatever their organisation.
        """
        through = self.model.allowed_teams.through  # type: ignore[attr-defined]
        restricted = Exists(through.objects.filter(cluster_id=OuterRef("pk")))
        lists_a_team = Exists(through.objects.filter(cluster_id=OuterRef("pk"), team_id__in=team_ids))
        return self.filter(lists_a_team | (Q(organisation_id__in=organisation_ids) & ~restricted))

    def usable_by_team(self, team: models.Model) -> ClusterQuerySet:
        """Clusters ``team`` may submit to (see ``usable_by``)."""
        return self.usable_by([team.pk], [team.organisation_id])  # type: ignore[attr-defined]


class NodeQuerySet(models.QuerySet):  # type: ignore[type-arg]
    def schedulable(self, at: datetime | None = None) -> NodeQuerySet:
        """Nodes that may take new work at ``at`` (default: now).

        The node is ``ready`` (not cordoned, draining or down), its cluster is not
        unreachable, and no maintenance window covers ``at`` (a window is [starts_at,
        ends_at)). State is the state now: asking about a later ``at`` answers "if nothing
        else changes before then", which is what a scheduler planning ahead needs.
        """
        from apps.inventory.models import MaintenanceWindow

        at = at or timezone.now()
        in_maintenance = MaintenanceWindow.objects.filter(node=OuterRef("pk"), starts_at__lte=at, ends_at__gt=at)
        return (
            self.filter(state__in=SCHEDULABLE_NODE_STATES)
            .exclude(cluster__state=ClusterState.UNREACHABLE)
            .exclude(Exists(in_maintenance))
        )

    def with_free_gpus(self) -> NodeQuerySet:
        """Annotate ``gpus_total`` and ``gpus_free`` (see :data:`IDLE_ACCELERATOR`).

        "Free" is what the hardware says (memory and utilisation from the last report), not
        what Paddock has handed out: Paddock does not place jobs on specific nodes yet. When
        the scheduler does, free will also subtract the accelerators it has placed work on.
        An accelerator without a memory reading is not counted free: nothing says it is idle.
        Counted in subqueries, so the figures stay right whatever else the query joins.
        """
        from apps.inventory.models import Accelerator

        def count(condition: Q) -> Coalesce:
            rows = (
                Accelerator.objects.filter(condition, node=OuterRef("pk"))
                .order_by()
                .values("node")
                .annotate(n=Count("pk"))
                .values("n")
            )
            return Coalesce(Subquery(rows, output_field=models.IntegerField()), Value(0))

        return self.annotate(gpus_total=count(Q()), gpus_free=count(IDLE_ACCELERATOR))


def stale_before(now: datetime) -> datetime:
    """A node whose last heartbeat is older than this missed three discovery passes."""
    return now - timedelta(seconds=3 * float(settings.PADDOCK_DISCOVERY_INTERVAL))


def stale_nodes_q(cutoff: datetime) -> Q:
    """Nodes a source should report but has not lately (an operator-entered node never is)."""
    silent = Q(last_heartbeat_at__isnull=True) | Q(last_heartbeat_at__lt=cutoff)
    return ~Q(source=NodeSource.MANUAL) & silent
