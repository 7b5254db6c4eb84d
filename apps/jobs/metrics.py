"""Prometheus figures for jobs, read from the database at scrape time.

Reading PostgreSQL keeps web, worker and beat processes in agreement without a shared
metrics directory; each figure is one aggregate query.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Q, Sum
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric

from apps.jobs.choices import JobState

DISPATCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class JobsCollector:
    def collect(self) -> Iterator[Metric]:
        from apps.inventory.models import Cluster
        from apps.jobs.models import Attempt, Job

        by_state = GaugeMetricFamily("paddock_jobs", "Jobs by state", labels=["state"])
        counts = dict(Job.objects.order_by().values_list("state").annotate(n=Count("id")))
        for state in JobState.values:
            by_state.add_metric([state], counts.get(state, 0))
        yield by_state

        aggregates = {f"le_{i}": Count("id", filter=Q(dispatch_seconds__lte=b)) for i, b in enumerate(DISPATCH_BUCKETS)}
        row = (
            Attempt.objects.filter(dispatch_seconds__isnull=False)
            .order_by()
            .aggregate(total=Count("id"), seconds=Sum("dispatch_seconds"), **aggregates)
        )
        histogram = HistogramMetricFamily(
            "paddock_dispatch_latency_seconds",
            "Seconds from submission (or a retry's admission) until the cluster accepted the attempt",
        )
        buckets = [(str(b), row[f"le_{i}"]) for i, b in enumerate(DISPATCH_BUCKETS)]
        buckets.append(("+Inf", row["total"]))
        histogram.add_metric([], buckets, row["seconds"] or 0.0)
        yield histogram

        lag = GaugeMetricFamily(
            "paddock_reconcile_lag_seconds", "Seconds since each cluster was last reconciled", labels=["cluster"]
        )
        now = timezone.now()
        for name, last in Cluster.objects.order_by("name").values_list("name", "last_reconciled_at"):
            lag.add_metric([name], (now - last).total_seconds() if last else float("nan"))
        yield lag
