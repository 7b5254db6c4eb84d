"""Benchmark (``make bench``): the usage ledger at scale, on this machine's PostgreSQL.

* Rollup of 1,000,000 usage records by team and day: ``GET /api/v1/costs/summary/?group_by=team,day``
  (authentication, team scoping, the aggregate, names, JSON) against the same aggregation written
  directly in SQL on the same database, same run (target: ratio ≤ 1.5, the API under 1 s).
* One accrual pass over 1,000 and over 10,000 running attempts: seconds and queries (target:
  the same number of queries for both).

Printed side by side; only counts and equal sums are asserted, never a time.
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.bulk import copy_insert
from apps.costs.accrual import accrue
from apps.costs.models import UsageRecord
from apps.inventory.models import AcceleratorModel
from apps.jobs.models import Attempt, Job
from tests.conftest import client_for, token_for
from tests.factories import (
    ClusterFactory,
    MembershipFactory,
    OrganisationFactory,
    PricePointFactory,
    TeamFactory,
    UserFactory,
)
from tests.report import table

pytestmark = pytest.mark.django_db

RECORDS = 1_000_000
TEAMS = 20
JOBS = 2_000
DAYS = 60
RUNS = 5

SQL = """
SELECT team_id, ("start" AT TIME ZONE 'UTC')::date AS day, currency, SUM(amount),
       SUM(quantity) FILTER (WHERE resource = 'gpu'), SUM(quantity) FILTER (WHERE resource = 'cpu'), COUNT(*)
FROM costs_usagerecord
WHERE team_id = ANY(%s) AND "start" >= %s AND "start" < %s
GROUP BY 1, 2, 3
"""


def _jobs(team_ids: list[int], cluster_id: int, count: int, now: datetime, **fields: Any) -> list[tuple[int, Any]]:
    """``count`` jobs with one attempt each, written with COPY: [(job id, attempt id)]."""
    first = (Job.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    ids = list(range(first + 1000, first + 1000 + count))
    copy_insert(
        Job,
        [
            {
                "id": job_id,
                "team_id": team_ids[n % len(team_ids)],
                "cluster_id": cluster_id,
                "name": f"bench-{job_id}",
                "entrypoint": "true",
                "state": fields.get("state", "running"),
                "gpus": 1 + n % 8,
                "accelerator_model": "H100 SXM",
            }
            for n, job_id in enumerate(ids)
        ],
        now,
    )
    attempts = [uuid.uuid4() for _ in ids]
    copy_insert(
        Attempt,
        [
            {
                "id": attempt_id,
                "job_id": job_id,
                "number": 1,
                "state": fields.get("state", "running"),
                "started_at": fields.get("started_at", now - timedelta(hours=1)),
            }
            for job_id, attempt_id in zip(ids, attempts, strict=True)
        ],
        now,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('jobs_job', 'id'), %s)", [ids[-1]])
    return list(zip(ids, attempts, strict=True))


def test_rollup_of_a_million_records_by_team_and_day(settings: Any) -> None:
    now = timezone.now()
    org = OrganisationFactory(slug="bench-costs")
    cluster = ClusterFactory(organisation=org, name="bench-costs")
    teams = [TeamFactory(organisation=org, slug=f"bench-team-{n}") for n in range(TEAMS)]
    user = UserFactory(username="bench-costs")
    for team in teams:
        MembershipFactory(team=team, user=user, role="viewer")
    team_ids = [t.pk for t in teams]
    h100 = AcceleratorModel.objects.get(name="H100 SXM").pk
    jobs = _jobs(team_ids, cluster.pk, JOBS, now, state="succeeded")
    start = datetime.combine((now - timedelta(days=DAYS)).date(), datetime.min.time(), tzinfo=UTC)
    step = timedelta(days=DAYS) / RECORDS
    began = time.perf_counter()
    chunk = 100_000
    for offset in range(0, RECORDS, chunk):
        rows = []
        for n in range(offset, offset + chunk):
            job_id, attempt_id = jobs[n % JOBS]
            at = start + step * n
            rows.append(
                {
                    "team_id": team_ids[n % JOBS % TEAMS],
                    "job_id": job_id,
                    "attempt_id": attempt_id,
                    "cluster_id": cluster.pk,
                    "accelerator_model_id": h100,
                    "resource": "gpu",
                    "count": Decimal(8),
                    "start": at,
                    "end": at + timedelta(seconds=300),
                    "quantity": Decimal(2400),
                    "rate": Decimal("2.49"),
                    "currency": "USD",
                    "amount": Decimal("1.66"),
                    "kind": "usage",
                }
            )
        copy_insert(UsageRecord, rows, now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE costs_usagerecord")
    loaded = time.perf_counter() - began
    window = {"group_by": "team,day", "from": start.date().isoformat(), "to": now.date().isoformat()}
    frm, to = start, datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    client = client_for(token_for(user, scope="read"))

    def api() -> tuple[float, Any]:
        began = time.perf_counter()
        response = client.get("/api/v1/costs/summary/", window)
        seconds = time.perf_counter() - began
        assert response.status_code == 200
        return seconds, response.json()

    def sql() -> tuple[float, list[Any]]:
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(SQL, [team_ids, frm, to])
            rows = cursor.fetchall()
        return time.perf_counter() - began, rows

    api()
    sql()  # warm both (caches, plans)
    api_times, sql_times = [], []
    for _ in range(RUNS):  # interleaved: the same machine state for both
        seconds, body = api()
        api_times.append(seconds)
        seconds, rows = sql()
        sql_times.append(seconds)
    assert sum(r["records"] for r in body["rows"]) == RECORDS == sum(r[6] for r in rows)
    assert len(body["rows"]) == len(rows)
    assert Decimal(body["totals"][0]["amount"]) == sum((r[3] for r in rows), Decimal(0)).quantize(Decimal("0.01"))
    api_p50, sql_p50 = statistics.median(api_times), statistics.median(sql_times)
    table(
        f"Rollup of {RECORDS:,} usage records by team and day ({len(rows):,} rows; loaded in {loaded:.0f} s)",
        [
            ("path", "p50 ms", "min ms", "ratio", "target"),
            ("SQL, direct (reference)", f"{sql_p50 * 1000:.0f}", f"{min(sql_times) * 1000:.0f}", "1.00", ""),
            (
                "API /costs/summary/",
                f"{api_p50 * 1000:.0f}",
                f"{min(api_times) * 1000:.0f}",
                f"{api_p50 / sql_p50:.2f}",
                "≤ 1.5, < 1000 ms",
            ),
        ],
    )


def test_one_accrual_pass_over_ten_thousand_running_attempts() -> None:
    now = timezone.now()
    org = OrganisationFactory(slug="bench-accrual")
    cluster = ClusterFactory(organisation=org, name="bench-accrual")
    team = TeamFactory(organisation=org)
    PricePointFactory(
        accelerator_model=AcceleratorModel.objects.get(name="H100 SXM"),
        cluster=cluster,
        price_per_gpu_hour=Decimal("2.49"),
        valid_from=now - timedelta(days=2),
    )
    rows = [("attempts", "pass", "seconds", "queries", "lines written")]
    figures = {}
    for size in (1_000, 10_000):
        Attempt.objects.filter(job__team=team).update(state="succeeded", finished_at=now - timedelta(minutes=30))
        accrue(now=now - timedelta(minutes=29))  # close the last size's attempts
        _jobs([team.pk], cluster.pk, size, now, started_at=now - timedelta(hours=1))
        for label, at in (("first", now), ("next, 5 min on", now + timedelta(minutes=5))):
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                result = accrue(now=at)
                seconds = time.perf_counter() - began
            assert result.attempts == size
            figures[(size, label)] = len(queries)
            rows.append((f"{size:,}", label, f"{seconds:.2f}", str(len(queries)), f"{result.records:,}"))
    table("One accrual pass over running attempts (queries constant in their number)", rows)
    assert figures[(1_000, "first")] == figures[(10_000, "first")]
