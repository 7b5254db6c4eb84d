"""Admission for clusters without pools: first come, on the free capacity the cluster reports.

A cluster whose inventory Paddock knows gets pools and goes through the quota scheduler
(:mod:`apps.admission.scheduler`); one Paddock has not discovered yet (no nodes) still runs jobs,
admitted here in priority then submission order on what Ray says is free. Called by the
scheduler after its pass's transaction; each cluster's jobs are admitted under that cluster's
own lock.
"""

from __future__ import annotations

import concurrent.futures
import functools
import time
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.locks import try_transaction_lock
from apps.core.logging import get_logger
from apps.core.tasks import enqueue_on_commit
from apps.costs.accrual import ModelNames
from apps.costs.budgets import load_book, plan_spend, planned_seconds
from apps.costs.rates import RateCard
from apps.dispatch.fanout import Batches
from apps.dispatch.port import Capacity, Resources
from apps.dispatch.registry import note_no_answer
from apps.inventory.catalog import Matcher
from apps.inventory.models import AcceleratorModel, Cluster
from apps.inventory.services import backend_for, record_capacity, record_cluster_silent, silence_description
from apps.jobs.choices import EventKind, JobState
from apps.jobs.models import Attempt, Job
from apps.jobs.services import Dispatcher, add_event, move_job

log = get_logger("jobs.capacity_admission")
BATCH = 500


def _describe(resources: Resources) -> str:
    parts = [f"{resources.cpus:g} CPU"]
    if resources.gpus:
        parts.append(f"{resources.gpus:g} GPU")
    if resources.memory_bytes:
        parts.append(f"{resources.memory_bytes / 2**30:.3g} GiB")
    return ", ".join(parts)


def set_reason(job: Job, reason: str) -> None:
    """Record why a job waits; an event only when the reason changes (no event storms)."""
    if job.state_reason == reason:
        return
    if Job.objects.filter(pk=job.pk, state=JobState.PENDING).update(state_reason=reason, updated_at=timezone.now()):
        job.state_reason = reason
        add_event(job, EventKind.WAITING, reason)


def admit_by_capacity(dispatcher: Dispatcher | None = None, *, budget: float | None = None) -> int:
    """Admit the pool-less pending jobs that fit; returns how many were admitted.

    Every cluster is asked for its capacity at once, and each one's jobs are admitted (and,
    with a ``dispatcher``, sent) as soon as its answer comes, so a cluster that is slow to
    answer holds up only its own jobs. One that has not answered within ``budget`` seconds
    waits for the next pass, and its jobs say so.
    """
    budget = float(settings.PADDOCK_CLUSTER_BUDGET) if budget is None else budget
    pool_less = Job.objects.pending().filter(pool__isnull=True, cluster__pools__isnull=True)
    cluster_ids = list(pool_less.values_list("cluster_id", flat=True).order_by().distinct())
    if not cluster_ids:
        return 0
    clusters = {c.pk: c for c in Cluster.objects.filter(pk__in=cluster_ids)}
    # Ask before taking the lock: no network inside a transaction.
    asking: Batches[int, Capacity] = Batches(
        {cid: [(cid, backend_for(cluster).capacity)] for cid, cluster in clusters.items()}
    )
    deadline = time.monotonic() + budget
    admitted = 0
    done: set[int] = set()
    while True:
        answers = asking.wait(0.0)
        for cluster_id in [cid for cid in answers if cid not in done]:
            done.add(cluster_id)
            outcome = answers[cluster_id]
            cluster = clusters[cluster_id]
            if outcome.error is not None or outcome.value is None:
                record_cluster_silent(cluster, outcome.error.message if outcome.error else "no answer")
                admitted += _admit_on(cluster, None, dispatcher)
            else:
                record_capacity(cluster, outcome.value)
                admitted += _admit_on(cluster, outcome.value, dispatcher)
        if dispatcher is not None:
            dispatcher.collect()
        waiting = asking.pending
        if not waiting or time.monotonic() >= deadline:
            break
        concurrent.futures.wait(
            waiting | (dispatcher.pending if dispatcher is not None else set()),
            timeout=max(deadline - time.monotonic(), 0.0),
            return_when=concurrent.futures.FIRST_COMPLETED,
        )
    for cluster_id in set(clusters) - done:
        cluster = clusters[cluster_id]
        note_no_answer(backend_for(cluster), "capacity", budget)
        record_cluster_silent(cluster, f"no answer within {budget:g} s")
        _admit_on(cluster, None, dispatcher)
    if admitted:
        log.info("jobs.admitted", count=admitted)
    return admitted


def _admit_on(cluster: Cluster, capacity: Capacity | None, dispatcher: Dispatcher | None) -> int:
    """Admit one cluster's pending pool-less jobs that fit ``capacity`` (None: it did not answer)."""
    admitted: list[str] = []
    with transaction.atomic():
        if not try_transaction_lock(f"admission.capacity.{cluster.pk}"):
            return 0  # another pass is admitting this cluster's jobs now
        in_flight = Resources()
        # Admitted and dispatching jobs are not yet running on the cluster, so the cluster's
        # own "available" figure does not count them: subtract them here.
        for job in Job.objects.filter(
            state__in=[JobState.ADMITTED, JobState.DISPATCHING], cluster_id=cluster.pk, pool__isnull=True
        ):
            in_flight = in_flight.plus(job.resources())
        free = capacity.available.minus(in_flight) if capacity is not None else None
        pending = (
            Job.objects.pending()
            .filter(cluster_id=cluster.pk, pool__isnull=True, cluster__pools__isnull=True)
            .select_related("cluster")
            .order_by("-priority", "created_at", "id")[:BATCH]
        )
        by_memory: dict[float, list[str]] = {}
        matchers: list[Matcher] = []
        now = timezone.now()
        budgets = load_book(now)
        rates = RateCard.load() if budgets is not None else None
        names = ModelNames()
        for job in pending:
            if capacity is None or free is None:
                set_reason(job, f"Waiting: {silence_description(cluster)}.")
                continue
            plan = None
            if budgets is not None and rates is not None:
                model_id = names.price_key(job.gpus, None, job.accelerator_model)
                plan = plan_spend(
                    rates,
                    cluster.pk,
                    model_id,
                    job.gpus if job.gpus > 0 else job.cpus,
                    planned_seconds(job.plan, job.max_runtime_seconds),
                    now,
                )
                refused = budgets.refuse(job.team_id, plan.cost, plan.currency, plan.gpu_hours)
                if refused:
                    set_reason(job, f"Waiting: {refused}.")
                    continue
            options = job_options(job, by_memory, matchers)
            possible = [(model, need) for model, need in options if not need.shortfall(capacity.total)]
            if not possible:
                never = options[0][1].shortfall(capacity.total) if options else []
                asked = f"it asks for {', '.join(never)} at most" if never else "it has none of the GPUs it accepts"
                set_reason(
                    job,
                    f"Cannot run on cluster {cluster.name}: {asked}. "
                    "Cancel it and resubmit with fewer resources or to another cluster.",
                )
                continue
            # The first model, in the job's order, with room now (Kueue's first flavor that fits).
            chosen = next(((model, need) for model, need in possible if not need.shortfall(free)), None)
            if chosen is None:
                lacking = possible[0][1].shortfall(free)
                set_reason(job, f"Waiting for free capacity on {cluster.name}: needs {', '.join(lacking)} free now.")
                continue
            model, need = chosen
            switched: dict[str, Any] = (
                {"accelerator_model": model} if len(options) > 1 or job.min_gpu_memory_gb is not None else {}
            )
            attempt = Attempt.objects.create(job=job, number=job.attempts.count() + 1)
            moved = move_job(
                job,
                from_states=[JobState.PENDING],
                to_state=JobState.ADMITTED,
                event=EventKind.ADMITTED,
                attempt=attempt,
                message=f"admitted to {cluster.name} ({_describe(need)})",
                admitted_at=timezone.now(),
                state_reason="",
                **switched,
            )
            if not moved:  # cancelled while we decided
                attempt.delete()
                continue
            free = free.minus(need)
            if budgets is not None and plan is not None:
                budgets.take(job.team_id, plan.cost, plan.currency, plan.gpu_hours)
            admitted.append(str(attempt.pk))
        if admitted:
            send_on_commit(admitted, dispatcher)
    return len(admitted)


def job_options(job: Job, by_memory: dict[float, list[str]], matchers: list[Matcher]) -> list[tuple[str, Resources]]:
    """The GPU models a pool-less job accepts, in its order, each as Ray's ``accelerator_type``
    and what the job then asks the cluster for. A cluster without an inventory has no pools, so
    its accelerator types stand for them: ``accelerator_models`` map to the catalog's Ray types,
    ``min_gpu_memory_gb`` to every catalog model with that much memory, the smallest first."""
    several = len(job.accelerator_models) > 1
    if not several and job.min_gpu_memory_gb is None:
        return [(job.accelerator_model, job.resources())]
    if job.min_gpu_memory_gb is not None:
        if job.min_gpu_memory_gb not in by_memory:
            big_enough = AcceleratorModel.objects.filter(memory_gb__gte=job.min_gpu_memory_gb).exclude(
                ray_accelerator_type=""
            )
            by_memory[job.min_gpu_memory_gb] = list(
                dict.fromkeys(m.ray_accelerator_type for m in big_enough.order_by("memory_gb", "name"))
            )
        names = by_memory[job.min_gpu_memory_gb]
    else:
        if not matchers:
            matchers.append(Matcher.load())  # once per cluster and pass
        matcher, names = matchers[0], []
        for name in job.accelerator_models:
            model = matcher.match(name)
            names.append(model.ray_accelerator_type or name if model is not None else name)
    plain = job.resources()
    return [(name, replace(plain, custom={f"accelerator_type:{name}": 0.001})) for name in dict.fromkeys(names)]


def send_on_commit(attempt_ids: list[str], dispatcher: Dispatcher | None) -> None:
    """Once the admission commits: send from this pass (``dispatcher``) or through the task."""
    if dispatcher is not None:
        transaction.on_commit(functools.partial(dispatcher.send, attempt_ids))
    else:
        for attempt_id in attempt_ids:
            enqueue_on_commit("jobs.dispatch_attempt", attempt_id)
