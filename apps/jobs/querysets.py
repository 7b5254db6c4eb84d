from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import connection, models
from django.db.models import F, OuterRef, Q, Subquery, Window
from django.db.models.functions import RowNumber

from apps.jobs.choices import ACTIVE_STATES, ATTEMPT_REMOTE_STATES, AttemptState, JobState

if TYPE_CHECKING:
    from apps.jobs.models import Job

# The order of a team's pending jobs in a pool, as the scheduler takes them: priority, then age.
QUEUE_ORDER = (F("priority").desc(), F("created_at").asc(), F("id").asc())
# A pending job's queue: its team's pending jobs in its pool (a pool-less job: in its cluster).
# PARTITION BY groups NULLs together, so pool-less jobs of a cluster share one queue.
QUEUE_PARTITION = (F("team_id"), F("cluster_id"), F("pool_id"))
# Every team's pending jobs in a pool: what ``jobs_ahead`` counts.
POOL_PARTITION = (F("cluster_id"), F("pool_id"))


def attach_queue_positions(jobs: Iterable[Job], *, jobs_ahead: bool = False) -> None:
    """Set ``queue_position`` (1-based within its team's queue in its pool; a pool-less job: in
    its cluster) on each pending job of ``jobs``, and with ``jobs_ahead`` also ``jobs_ahead``
    (pending jobs of any team in its pool before it); None on the others.

    One query whatever the number of rows or of pending jobs: a window over the pending jobs of
    only the queues the given jobs stand in (the partial index ``job_pending_queue`` hands them
    over in queue order, so nothing is sorted), of which the given rows are picked out. It
    replaces a correlated count per row, which made page 100 of 100,000 jobs take seconds.
    """
    from apps.jobs.models import Job

    jobs = list(jobs)
    for job in jobs:
        job.queue_position = None  # type: ignore[attr-defined]
        if jobs_ahead:
            job.jobs_ahead = None  # type: ignore[attr-defined]
    pending = [job for job in jobs if job.state == JobState.PENDING]
    if not pending:
        return
    if jobs_ahead:  # every team's queue in the pools on the page
        keys = {(job.cluster_id, job.pool_id) for job in pending}
        partitions = [Q(cluster_id=cluster, pool_id=pool) for cluster, pool in keys]
    else:
        team_keys = {(job.team_id, job.cluster_id, job.pool_id) for job in pending}
        partitions = [Q(team_id=team, cluster_id=cluster, pool_id=pool) for team, cluster, pool in team_keys]
    windows: dict[str, Window] = {
        "position": Window(RowNumber(), partition_by=list(QUEUE_PARTITION), order_by=list(QUEUE_ORDER))
    }
    if jobs_ahead:
        windows["ahead"] = Window(RowNumber(), partition_by=list(POOL_PARTITION), order_by=list(QUEUE_ORDER))
    # Jobs after the page's last one in queue order change no position on the page: the
    # window stops there (the first page of a long queue reads only its head).
    last = max(pending, key=lambda job: (-job.priority, job.created_at, job.pk))
    up_to_last = (
        Q(priority__gt=last.priority)
        | Q(priority=last.priority, created_at__lt=last.created_at)
        | Q(priority=last.priority, created_at=last.created_at, id__lte=last.pk)
    )
    ranked = (
        Job.objects.filter(functools.reduce(operator.or_, partitions), up_to_last, state=JobState.PENDING)
        .order_by()
        .annotate(**windows)
        .values("id", *windows)
    )
    inner, params = ranked.query.sql_with_params()
    columns = ", ".join(connection.ops.quote_name(name) for name in ("id", *windows))
    ids = [job.pk for job in pending]
    pick_params: list[Any]
    if connection.vendor == "postgresql":  # one array parameter, whatever the page size
        pick, pick_params = "ranked.id IN (SELECT unnest(%s))", [ids]
    else:  # SQLite (the embedded default) binds no arrays: one parameter per row of the page
        pick, pick_params = f"ranked.id IN ({', '.join(['%s'] * len(ids))})", list(ids)
    with connection.cursor() as cursor:
        # Filtering outside the window keeps it counting the whole queues.
        cursor.execute(
            f"SELECT {columns} FROM ({inner}) AS ranked WHERE {pick}",  # noqa: S608 (ORM-compiled)
            [*params, *pick_params],
        )
        found = {row[0]: row[1:] for row in cursor.fetchall()}
    for job in pending:
        row = found.get(job.pk)
        if row is None:  # it left the queue since the page was read
            continue
        job.queue_position = row[0]  # type: ignore[attr-defined]
        if jobs_ahead:
            job.jobs_ahead = row[1] - 1  # type: ignore[attr-defined]


class JobQuerySet(models.QuerySet):  # type: ignore[type-arg]
    def active(self) -> JobQuerySet:
        return self.filter(state__in=ACTIVE_STATES)

    def pending(self) -> JobQuerySet:
        return self.filter(state=JobState.PENDING)

    def for_list(self) -> JobQuerySet:
        """What the job list and detail show; their views add ``queue_position`` to the rows they
        return with :func:`attach_queue_positions` (one query per page)."""
        from apps.jobs.models import Attempt

        # Where its latest attempt runs (``nodes``): a subquery per returned row on the
        # (job, number) index, never a query per row; a keys-first page does not select it
        # while it walks the skipped rows.
        latest_placement = Attempt.objects.filter(job=OuterRef("pk")).order_by("-number").values("placement")[:1]
        return self.select_related("team", "cluster", "submitted_by", "pool", "priority_class").annotate(
            latest_placement=Subquery(latest_placement)
        )

    def queue(self) -> JobQuerySet:
        """Pending jobs in queue order, each with ``waiting_since`` (when it last joined the
        queue: submitted, or put back after a preemption or a failed try). Positions and jobs
        ahead are added to a page's rows by :func:`attach_queue_positions`."""
        return (
            self.filter(state=JobState.PENDING)
            .select_related("team", "pool", "priority_class")
            .annotate(waiting_since=F("queued_at"))
            .order_by(*QUEUE_ORDER)
        )


class AttemptQuerySet(models.QuerySet):  # type: ignore[type-arg]
    def remote_active(self) -> AttemptQuerySet:
        """Attempts the backend knows about and that have not finished (a deployment's attempt
        runs no remote job: the serving app watches what it deploys)."""
        return self.filter(state__in=ATTEMPT_REMOTE_STATES).exclude(job__kind="deployment")

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
