"""Recording what host agents read: each GPU's readings for the attempt holding it (through the
attempt's placement), the idle-GPU rule, and each node's network traffic.

A report costs a constant number of queries whatever the fleet's size: the node, the attempts
placed on it, its holdings, then one bulk write each (``INSERT … ON CONFLICT`` adds a reading
to its buckets without reading them first).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Min, Q

from apps.inventory.models import Cluster, Node
from apps.inventory.reports import NodeReport
from apps.jobs.choices import ATTEMPT_ACTIVE_STATES, EventKind
from apps.jobs.models import Attempt, Job, JobEvent
from apps.telemetry.choices import Resolution
from apps.telemetry.models import GpuHolding, GpuSample, NodeNetwork, NodeNetworkSample

# The most points one series answer holds (the newest are kept): 8 GPUs × 6 h of minutes.
MAX_SERIES_POINTS = 2880


def idle_percent() -> float:
    return float(settings.PADDOCK_IDLE_GPU_PERCENT)


def idle_after() -> timedelta:
    return timedelta(minutes=float(settings.PADDOCK_IDLE_GPU_MINUTES))


def bucket_start(at: datetime, resolution: int) -> datetime:
    """The start of the ``resolution``-second bucket ``at`` falls in (UTC)."""
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % resolution, tz=UTC)


@dataclass(frozen=True)
class Holder:
    attempt_id: uuid.UUID
    job_id: int


def gpu_holders(node: Node) -> dict[int, Holder]:
    """GPU index → the active attempt whose placement holds it on ``node`` (one query).

    A placement entry names its node by id, or by hostname alone where the scheduler knew no
    node row; a newer attempt wins a GPU two attempts claim.
    """
    attempts = Attempt.objects.filter(state__in=ATTEMPT_ACTIVE_STATES, job__cluster_id=node.cluster_id)
    if connection.vendor == "postgresql":  # JSON containment: only the attempts placed here
        attempts = attempts.filter(
            Q(placement__contains=[{"node_id": node.pk}]) | Q(placement__contains=[{"hostname": node.hostname}])
        )
    holders: dict[int, Holder] = {}
    for attempt_id, job_id, placement in attempts.order_by("created_at").values_list("id", "job_id", "placement"):
        for entry in placement if isinstance(placement, list) else []:
            if not isinstance(entry, dict):
                continue
            node_id = entry.get("node_id")
            if node_id != node.pk and not (node_id is None and entry.get("hostname") == node.hostname):
                continue
            for gpu in entry.get("gpus") or []:
                if isinstance(gpu, int) and not isinstance(gpu, bool):
                    holders[gpu] = Holder(attempt_id, job_id)
    return holders


@dataclass
class RecordResult:
    """What one report added: GPU readings attributed, idle events raised, interfaces seen."""

    gpus_attributed: int = 0
    idle_events: int = 0
    interfaces: int = 0


@transaction.atomic
def record_host_readings(*, cluster: Cluster, report: NodeReport, at: datetime) -> RecordResult:
    """Attribute ``report``'s GPU readings to the attempts holding them, apply the idle rule,
    and record the node's network traffic (``at``: when the report was recorded)."""
    result = RecordResult()
    node = Node.objects.filter(cluster=cluster, hostname=report.hostname).only("pk", "cluster_id", "hostname").first()
    if node is None:
        return result
    _record_gpus(node, report, at, result)
    _record_network(node, report, at, result)
    return result


def _record_gpus(node: Node, report: NodeReport, at: datetime, result: RecordResult) -> None:
    holders = gpu_holders(node)
    previous = {(h.attempt_id, h.gpu_index): h for h in GpuHolding.objects.filter(node=node)}
    stale = [
        h.pk for (attempt_id, gpu), h in previous.items() if getattr(holders.get(gpu), "attempt_id", None) != attempt_id
    ]
    if stale:  # the attempt ended or the GPU went to another
        GpuHolding.objects.filter(pk__in=stale).delete()
    readings = {a.index: a for a in report.accelerators}
    threshold, idle_span = idle_percent(), idle_after()
    holdings: list[GpuHolding] = []
    samples: list[dict[str, Any]] = []
    newly_idle: dict[uuid.UUID, list[int]] = {}
    already_idle: set[uuid.UUID] = set()
    jobs: dict[uuid.UUID, int] = {}
    for gpu, holder in sorted(holders.items()):
        reading = readings.get(gpu)
        if reading is None:
            continue
        before = previous.get((holder.attempt_id, gpu))
        if before is not None and before.reading_at > at:
            continue  # a late report: what we have is newer
        low_since = before.low_since if before else None
        reported_at = before.idle_reported_at if before else None
        utilisation = reading.utilisation_percent
        if utilisation is not None and utilisation < threshold:
            low_since = low_since or at
        elif utilisation is not None:
            low_since = reported_at = None  # busy again: a new run under the threshold starts over
        if reported_at is not None:
            already_idle.add(holder.attempt_id)
        elif low_since is not None and at - low_since >= idle_span:
            reported_at = at
            newly_idle.setdefault(holder.attempt_id, []).append(gpu)
        jobs[holder.attempt_id] = holder.job_id
        holdings.append(
            GpuHolding(
                attempt_id=holder.attempt_id,
                job_id=holder.job_id,
                node_id=node.pk,
                gpu_index=gpu,
                gpu_uuid=reading.uuid,
                utilisation_percent=utilisation,
                memory_used_mib=reading.memory_used_mib,
                power_watts=reading.power_watts,
                temperature_c=reading.temperature_c,
                reading_at=at,
                low_since=low_since,
                idle_reported_at=reported_at,
            )
        )
        for resolution in Resolution.values:
            samples.append(
                {
                    "attempt_id": holder.attempt_id,
                    "job_id": holder.job_id,
                    "node_id": node.pk,
                    "gpu_index": gpu,
                    "resolution": resolution,
                    "bucket_start": bucket_start(at, resolution),
                    **_summed("utilisation", "utilisation_sum", utilisation),
                    **_summed("memory_used", "memory_used_mib_sum", reading.memory_used_mib),
                    **_summed("power", "power_watts_sum", reading.power_watts),
                    **_summed("temperature", "temperature_c_sum", reading.temperature_c),
                }
            )
    if holdings:
        GpuHolding.objects.bulk_create(
            holdings,
            update_conflicts=True,
            unique_fields=["attempt", "node", "gpu_index"],
            update_fields=[
                "gpu_uuid",
                "utilisation_percent",
                "memory_used_mib",
                "power_watts",
                "temperature_c",
                "reading_at",
                "low_since",
                "idle_reported_at",
            ],
        )
    upsert_adding(
        GpuSample,
        key=("attempt_id", "node_id", "gpu_index", "resolution", "bucket_start"),
        rows=samples,
    )
    result.gpus_attributed = len(holdings)
    events = [
        JobEvent(
            job_id=jobs[attempt_id],
            attempt_id=attempt_id,
            kind=EventKind.IDLE_GPU,
            message=(
                f"{_gpu_list(node.hostname, gpus)} under {threshold:g} % utilisation for "
                f"{idle_span.total_seconds() / 60:g} min while held by this job."
            ),
        )
        for attempt_id, gpus in newly_idle.items()
        if attempt_id not in already_idle  # one event per attempt while its GPUs stay idle
    ]
    if events:
        JobEvent.objects.bulk_create(events)
    result.idle_events = len(events)


def _gpu_list(hostname: str, gpus: list[int]) -> str:
    names = ", ".join(str(g) for g in gpus)
    return f"GPU {names} on {hostname}" if len(gpus) == 1 else f"GPUs {names} on {hostname}"


def _summed(count: str, total: str, value: float | int | None) -> dict[str, Any]:
    return {total: float(value) if value is not None else 0.0, f"{count}_count": int(value is not None)}


def _record_network(node: Node, report: NodeReport, at: datetime, result: RecordResult) -> None:
    if not report.network:
        return  # an older agent, or its first reading: keep the last traffic we had
    NodeNetwork.objects.bulk_create(
        [
            NodeNetwork(
                node_id=node.pk,
                interface=n.interface,
                kind=n.kind,
                rx_bytes_per_second=n.rx_bytes_per_second,
                tx_bytes_per_second=n.tx_bytes_per_second,
                reading_at=at,
            )
            for n in report.network
        ],
        update_conflicts=True,
        unique_fields=["node", "kind", "interface"],
        update_fields=["rx_bytes_per_second", "tx_bytes_per_second", "reading_at"],
    )
    NodeNetwork.objects.filter(node_id=node.pk).exclude(reading_at=at).delete()  # interfaces gone
    totals: dict[str, tuple[float, float]] = {}
    for n in report.network:
        rx, tx = totals.get(n.kind, (0.0, 0.0))
        totals[n.kind] = (rx + n.rx_bytes_per_second, tx + n.tx_bytes_per_second)
    upsert_adding(
        NodeNetworkSample,
        key=("node_id", "kind", "resolution", "bucket_start"),
        rows=[
            {
                "node_id": node.pk,
                "kind": kind,
                "resolution": resolution,
                "bucket_start": bucket_start(at, resolution),
                "rx_bytes_per_second_sum": rx,
                "tx_bytes_per_second_sum": tx,
                "readings": 1,
            }
            for kind, (rx, tx) in sorted(totals.items())
            for resolution in Resolution.values
        ],
    )
    result.interfaces = len(report.network)


# Columns of a bucket that a new reading adds to; every other column names the bucket.
ADDED_COLUMNS = {
    GpuSample: (
        "utilisation_sum",
        "utilisation_count",
        "memory_used_mib_sum",
        "memory_used_count",
        "power_watts_sum",
        "power_count",
        "temperature_c_sum",
        "temperature_count",
    ),
    NodeNetworkSample: ("rx_bytes_per_second_sum", "tx_bytes_per_second_sum", "readings"),
}


def upsert_adding(model: type[models.Model], *, key: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    """Insert each row as a bucket, or add its values to the bucket already there: one query.

    PostgreSQL and SQLite both take ``INSERT … ON CONFLICT (…) DO UPDATE SET c = t.c + excluded.c``;
    Django's ``bulk_create(update_conflicts=True)`` can only overwrite.
    """
    rows = list(rows)
    if not rows:
        return
    added = ADDED_COLUMNS[model]
    columns = list(rows[0])  # the bucket's key, what is added, and what is set once (the job)
    fields: dict[str, models.Field[Any, Any]] = {}
    column: dict[str, str] = {}
    for name in columns:
        field = model._meta.get_field(name.removesuffix("_id"))
        assert isinstance(field, models.Field) and field.column  # a concrete column, never a reverse relation
        fields[name], column[name] = field, field.column
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    values: list[Any] = []
    for row in rows:
        for name in columns:
            field = fields[name]
            value = row[name]
            if isinstance(field, models.ForeignKey):
                value = field.target_field.get_db_prep_value(value, connection)
            else:
                value = field.get_db_prep_value(value, connection)
            values.append(value)
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
    # Only column names (quoted, from the model) are formatted in; every value is a parameter.
    names = ", ".join(quote(column[c]) for c in columns)
    conflict = ", ".join(quote(column[c]) for c in key)
    additions = ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in added)
    upsert = f"ON CONFLICT ({conflict}) DO UPDATE SET {additions}"
    sql = " ".join(["INSERT INTO", table, f"({names})", "VALUES", placeholders, upsert])
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


# --- reading the series back ------------------------------------------------------------------


def series_resolution(job: Job) -> int:
    """1-minute buckets while they still reach back to the job's first reading, else 10-minute."""
    earliest = {
        row["resolution"]: row["first"]
        for row in GpuSample.objects.filter(job=job).order_by().values("resolution").annotate(first=Min("bucket_start"))
    }
    minute, coarse = earliest.get(Resolution.MINUTE), earliest.get(Resolution.TEN_MINUTES)
    if minute is None:
        return Resolution.TEN_MINUTES if coarse is not None else Resolution.MINUTE
    if coarse is not None and minute >= coarse + timedelta(seconds=Resolution.TEN_MINUTES):
        return Resolution.TEN_MINUTES  # the first minutes were pruned
    return Resolution.MINUTE


def gpu_series(job: Job, *, resolution: int | None = None, limit: int = MAX_SERIES_POINTS) -> dict[str, Any]:
    """The job's GPU readings, bucket averages ordered by time then node and GPU (the newest
    ``limit`` points; ``truncated`` says whether older ones were left out)."""
    resolution = resolution or series_resolution(job)
    rows = list(
        GpuSample.objects.filter(job=job, resolution=resolution)
        .order_by("-bucket_start", "-node__hostname", "-gpu_index")
        .values(
            "bucket_start",
            "gpu_index",
            "node_id",
            "node__hostname",
            "attempt__number",
            *ADDED_COLUMNS[GpuSample],
        )[: limit + 1]
    )
    truncated = len(rows) > limit
    rows = rows[:limit][::-1]
    return {
        "job": job.pk,
        "resolution_seconds": resolution,
        "truncated": truncated,
        "points": [
            {
                "at": row["bucket_start"],
                "attempt_number": row["attempt__number"],
                "node_id": row["node_id"],
                "hostname": row["node__hostname"],
                "gpu_index": row["gpu_index"],
                "utilisation_percent": _mean(row["utilisation_sum"], row["utilisation_count"]),
                "memory_used_mib": _mean(row["memory_used_mib_sum"], row["memory_used_count"]),
                "power_watts": _mean(row["power_watts_sum"], row["power_count"]),
                "temperature_c": _mean(row["temperature_c_sum"], row["temperature_count"]),
            }
            for row in rows
        ],
    }


def _mean(total: float, count: int) -> float | None:
    return round(total / count, 3) if count else None


def idle_holdings(now: datetime) -> models.QuerySet[GpuHolding]:
    """GPUs held by active attempts and under the threshold for the idle span at ``now``."""
    return GpuHolding.objects.filter(
        attempt__state__in=ATTEMPT_ACTIVE_STATES, low_since__isnull=False, low_since__lte=now - idle_after()
    )


# --- pruning ---------------------------------------------------------------------------------


@dataclass
class PruneResult:
    samples_deleted: int = 0
    holdings_deleted: int = 0
    interfaces_deleted: int = 0


def prune(*, now: datetime) -> PruneResult:
    """Drop 1-minute buckets past PADDOCK_GPU_SERIES_MINUTE_HOURS and 10-minute ones past
    PADDOCK_GPU_SERIES_DAYS, holdings of attempts that ended, and interfaces not heard of since
    the 1-minute window: the series stay bounded by the windows, not by the jobs' lengths."""
    minute_cutoff = now - timedelta(hours=float(settings.PADDOCK_GPU_SERIES_MINUTE_HOURS))
    coarse_cutoff = now - timedelta(days=float(settings.PADDOCK_GPU_SERIES_DAYS))
    result = PruneResult()
    expired = Q(resolution=Resolution.MINUTE, bucket_start__lt=minute_cutoff) | Q(
        resolution=Resolution.TEN_MINUTES, bucket_start__lt=coarse_cutoff
    )
    for model in (GpuSample, NodeNetworkSample):
        deleted, _ = model.objects.filter(expired).delete()
        result.samples_deleted += deleted
    result.holdings_deleted, _ = GpuHolding.objects.exclude(attempt__state__in=ATTEMPT_ACTIVE_STATES).delete()
    result.interfaces_deleted, _ = NodeNetwork.objects.filter(reading_at__lt=minute_cutoff).delete()
    return result
