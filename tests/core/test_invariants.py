"""Conventions kept true by tests: scoping, task names, ordering, schema, query counts."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver
from rest_framework.viewsets import GenericViewSet

from apps.core.api.viewsets import TeamScopedViewSet

# Viewsets that are scoped more narrowly than a team (to the caller themself).
USER_SCOPED = {"ApiTokenViewSet"}


def api_viewsets() -> list[type]:
    found = []
    for pattern in get_resolver().url_patterns:
        stack = [pattern]
        while stack:
            item = stack.pop()
            if hasattr(item, "url_patterns"):
                stack.extend(item.url_patterns)
                continue
            cls = getattr(item.callback, "cls", None)
            if cls is not None and issubclass(cls, GenericViewSet) and cls not in found:
                found.append(cls)
    return found


def test_every_api_viewset_is_team_scoped() -> None:
    viewsets = api_viewsets()
    assert viewsets, "no viewsets found"
    for cls in viewsets:
        if cls.__name__ in USER_SCOPED:
            continue
        assert issubclass(cls, TeamScopedViewSet), f"{cls.__name__} is not team-scoped"


def test_every_list_is_ordered() -> None:
    for cls in api_viewsets():
        queryset = cls.queryset if cls.queryset is not None else None
        if queryset is not None:
            assert queryset.ordered, f"{cls.__name__}.queryset has no ordering"


def test_every_task_is_named_and_acks_late() -> None:
    from controlplane.celery import app

    app.loader.import_default_modules()
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert {
        "admission.schedule",
        "jobs.dispatch_attempt",
        "jobs.watch",
        "jobs.stop_attempt",
        "jobs.reconcile",
    } <= set(ours)
    for name, task in ours.items():
        assert "." in name and task.acks_late, name


def test_openapi_schema_builds_without_warnings(capsys: Any) -> None:
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert "/api/v1/jobs/" in schema["paths"]
    assert not GENERATOR_STATS._warn_cache, GENERATOR_STATS._warn_cache
    assert not GENERATOR_STATS._error_cache, GENERATOR_STATS._error_cache


def grow_inventory(world: Any) -> None:
    """One more node with two GPUs in an NVLink domain, a catalog model with a price, a fabric,
    a storage; a pool of those GPUs with a quota, a cohort with a team (with its own policy), a priority class, a job
    holding one GPU and a pending one."""
    from apps.costs.models import PricePoint
    from apps.inventory.models import (
        Accelerator,
        AcceleratorModel,
        InterconnectDomain,
        NetworkFabric,
        Node,
        StorageBackend,
    )

    i = Node.objects.count()
    node = Node.objects.create(cluster=world.cluster, hostname=f"grow-{i}", source="ray")
    model = AcceleratorModel.objects.create(
        name=f"Grown {i}", vendor="nvidia", memory_gb=80, memory_bandwidth_gbps=1, source_url="https://example.com"
    )
    PricePoint.objects.create(
        accelerator_model=model,
        price_per_gpu_hour=2,
        offer="grown",
        as_of="2026-01-01",
        source_url="https://example.com",
    )
    gpus = [Accelerator.objects.create(node=node, index=j, model=model) for j in range(2)]
    InterconnectDomain.objects.create(node=node, kind="nvlink").accelerators.set(gpus)
    fabric = NetworkFabric.objects.create(organisation=world.org, name=f"fabric-{i}", kind="ethernet", gbps_per_node=1)
    fabric.nodes.set([node])
    StorageBackend.objects.create(organisation=world.org, name=f"store-{i}", kind="nfs", uri="/mnt/n", purpose="models")
    grow_admission(world, i, node, model, gpus[0])


def grow_costs(world: Any, i: int) -> None:
    """A job that ran an hour on two GPUs, accrued into the ledger; a budget; a CPU price."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from apps.costs.accrual import accrue
    from apps.costs.models import Budget, CpuPrice
    from apps.jobs.models import Attempt
    from tests.factories import JobFactory

    now = timezone.now()
    job = JobFactory(team=world.alpha, cluster=world.cluster, gpus=2, accelerator_model="H100 SXM", state="succeeded")
    start = now - timedelta(hours=2)
    Attempt.objects.create(
        job=job, number=1, state="succeeded", started_at=start, finished_at=start + timedelta(hours=1)
    )
    accrue(now=now)
    n = Budget.objects.count()
    Budget.objects.create(team=world.alpha, name=f"budget {n}", amount=Decimal(1000 + n))
    CpuPrice.objects.create(price_per_cpu_hour=Decimal("0.04"), offer=f"cpu {n}", valid_from=now - timedelta(days=n))


def grow_admission(world: Any, i: int, node: Any, model: Any, gpu: Any) -> None:
    from apps.admission.models import Allocation
    from apps.jobs.models import Attempt
    from apps.quotas.models import Cohort, Pool, PriorityClass, Quota, TeamPolicy
    from apps.tenancy.models import Team
    from tests.factories import JobFactory

    pool = Pool.objects.create(name=f"grow-{i}", cluster=world.cluster, accelerator_model=model)
    Quota.objects.create(team=world.alpha, pool=pool, guaranteed=2, max=4)
    cohort = Cohort.objects.create(organisation=world.org, name=f"cohort-{i}")
    member = Team.objects.create(
        organisation=world.org, slug=f"cohort-team-{i}", name=f"Cohort team {i}", cohort=cohort
    )
    TeamPolicy.objects.create(team=member, within_team="LowerPriority")
    priority_class = PriorityClass.objects.create(organisation=world.org, name=f"class-{i}", value=i)
    holding = JobFactory(
        team=world.alpha, cluster=world.cluster, pool=pool, gpus=1, state="running", submitted_by=world.member
    )
    attempt = Attempt.objects.create(job=holding, number=1, state="running")
    Allocation.objects.create(job=holding, attempt=attempt, accelerator=gpu, node=node)
    JobFactory(
        team=world.alpha,
        cluster=world.cluster,
        pool=pool,
        gpus=2,
        priority_class=priority_class,
        priority=i,
        state_reason="Waiting for 2 × GPU",
        submitted_by=world.member,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/jobs/",
        "/api/v1/teams/",
        "/api/v1/clusters/",
        "/api/v1/tokens/",
        "/api/v1/jobs/{job}/events/",
        "/api/v1/nodes/",
        "/api/v1/accelerators/",
        "/api/v1/accelerator-models/",
        "/api/v1/network-fabrics/",
        "/api/v1/storage-backends/",
        "/api/v1/price-points/",
        "/api/v1/pools/",
        "/api/v1/quotas/",
        "/api/v1/cohorts/",
        "/api/v1/team-policies/",
        "/api/v1/priority-classes/",
        "/api/v1/queue/",
        "/api/v1/usage/",
        "/api/v1/budgets/",
        "/api/v1/cpu-prices/",
        "/api/v1/costs/summary/?group_by=team,day",
        "/api/v1/costs/summary/?group_by=job",
        "/api/v1/jobs/?ordering=-cost",
    ],
)
def test_list_query_count_does_not_grow_with_rows(world: Any, path: str) -> None:
    from apps.tenancy import services
    from tests.factories import ClusterFactory, JobFactory, MembershipFactory, TeamFactory

    client = world.client(world.member)
    job = JobFactory(team=world.alpha, cluster=world.cluster, submitted_by=world.member)
    path = path.format(job=job.pk)

    def grow(n: int) -> None:
        from apps.jobs.models import JobEvent

        for i in range(n):
            JobFactory(team=world.alpha, cluster=world.cluster, submitted_by=world.member)
            JobEvent.objects.create(job=job, kind="waiting", message=f"reason {i}", actor=world.member)
            team = TeamFactory(organisation=world.org)
            MembershipFactory(team=team, user=world.member)
            ClusterFactory(organisation=world.org)
            services.create_token(actor=world.member, user=world.member, name=f"t{i}", team=team)
            grow_inventory(world)
            grow_costs(world, i)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path)
            assert response.status_code == 200
        return len(ctx.captured_queries)

    grow(2)
    count()  # the first request also records the token's last use
    few = count()
    grow(10)
    assert count() == few
