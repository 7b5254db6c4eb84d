from __future__ import annotations

from django.db import models
from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, Subquery, Value, When, Window
from django.db.models.functions import Coalesce, RowNumber

from apps.jobs.choices import ACTIVE_STATES, ATTEMPT_REMOTE_STATES, AttemptState, JobState

# The order of a team's pending jobs in a pool, as the scheduler takes them: priority, then age.
QUEUE_ORDER = (F("priority").desc(), F("created_at").asc(), F("id").asc())
# A pending job's queue: its team's pending jobs in its pool (a pool-less job: in its cluster).
QUEUE_PARTITION = (F("team_id"), F("cluster_id"), F("pool_id"))


def _pool_key(field: str | OuterRef) -> Coalesce:
    # Pool-less jobs (a cluster without pools) queue together: NULL compares equal to NULL here.
    return Coalesce(F(field) if isinstance(field, str) else field, Value(0))


def pending_ahead(*, same_team: bool) -> Coalesce:
    """For each row: how many pending jobs of its pool (and with ``same_team``, of its team) come
    before it in :data:`QUEUE_ORDER`. One correlated subquery: no query per row, and right
    whatever else filters the outer list."""
    from apps.jobs.models import Job

    before = (
        Q(priority__gt=OuterRef("priority"))
        | Q(priority=OuterRef("priority"), created_at__lt=OuterRef("created_at"))
        | Q(priority=OuterRef("priority"), created_at=OuterRef("created_at"), id__lt=OuterRef("id"))
    )
    rows = (
        Job.objects.filter(before, state=JobState.PENDING, cluster_id=OuterRef("cluster_id"))
        .alias(pool_key=_pool_key("pool_id"))
        .filter(pool_key=_pool_key(OuterRef("pool_id")))
    )
    if same_team:
        rows = rows.filter(team_id=OuterRef("team_id"))
    counted = rows.order_by().values("state").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


class JobQuerySet(models.QuerySet):  # type: ignore[type-arg]
    def active(self) -> JobQuerySet:
        return self.filter(state__in=ACTIVE_STATES)

    def pending(self) -> JobQuerySet:
        return self.filter(state=JobState.PENDING)

    def for_list(self) -> JobQuerySet:
        """What the job list and detail show, with ``queue_position`` (1-based within its team
        and pool; None unless pending)."""
        position = Case(
            When(state=JobState.PENDING, then=pending_ahead(same_team=True) + 1),
            default=Value(None),
            output_field=IntegerField(),
        )
        return self.select_related("team", "cluster", "submitted_by", "pool", "priority_class").annotate(
            queue_position=position
        )

    def queue(self) -> JobQuerySet:
        """Pending jobs in queue order, each with ``queue_position`` (a window over its team's
        queue in its pool: filter only by team or pool, which keep each queue whole) and
        ``jobs_ahead`` (pending jobs of any team in its pool before it) and ``waiting_since``
        (when it last joined the queue: submitted, or put back after a preemption or a failed try)."""
        return (
            self.filter(state=JobState.PENDING)
            .select_related("team", "pool", "priority_class")
            .annotate(
                queue_position=Window(RowNumber(), partition_by=list(QUEUE_PARTITION), order_by=list(QUEUE_ORDER)),
                jobs_ahead=pending_ahead(same_team=False),
                waiting_since=F("queued_at"),
            )
            .order_by(*QUEUE_ORDER)
        )


class AttemptQuerySet(models.QuerySet):  # type: ignore[type-arg]
    def remote_active(self) -> AttemptQuerySet:
        """Attempts the backend knows about and that have not finished."""
        return self.filter(state__in=ATTEMPT_REMOTE_STATES)

    def undispatched(self) -> AttemptQuerySet:
        return self.filter(state=AttemptState.ADMITTED)


class AttemptLogChunkQuerySet(models.QuerySet):  # type: ignore[type-arg]
    def window(self, attempt_id: object, offset: int, length: int) -> str:
        """Characters ``offset .. offset+length`` of an attempt's stored log (only the chunks
        that hold them are read)."""
        pieces = (
            self.filter(attempt_id=attempt_id, stop__gt=offset, start__lt=offset + length)
            .order_by("start")
            .values_list("start", "text")
        )
        return "".join(text[max(offset - start, 0) : offset + length - start] for start, text in pieces)
