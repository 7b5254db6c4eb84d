"""Writing a pass's decisions: admissions (attempt, placement, GPU allocations, event),
preemptions and reasons, all in the pass's transaction."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import OuterRef, Subquery

from apps.admission import capacity
from apps.admission.models import Allocation
from apps.admission.placement import Placement
from apps.admission.state import Candidate, Decisions, PassState
from apps.core.bulk import copy_insert, copy_update
from apps.jobs.choices import AttemptState, EstimateConfidence, EventKind, JobState
from apps.jobs.models import Attempt, Job, JobEvent
from apps.jobs.services import Dispatcher, preempt_job
from apps.quotas.pools import pool_for


def apply_decisions(
    state: PassState,
    candidates: dict[int, Candidate],
    decisions: Decisions,
    now: datetime,
    dispatcher: Dispatcher | None = None,
) -> int:
    for holder, reason in decisions.preempted:
        job = Job.objects.filter(pk=holder.job_id).first()
        if (
            job is not None
            and preempt_job(job, reason=reason)
            and (len(job.accelerator_models) > 1 or job.min_gpu_memory_gb is not None)
        ):
            # Back in the queue: it shows its first choice again until it is admitted somewhere.
            first = pool_for(job.cluster_id, job.gpus, "", job.accelerator_models, job.min_gpu_memory_gb)
            if first is not None:
                Job.objects.filter(pk=job.pk).update(pool=first)
    admitted_ids = [job.job_id for job, _ in decisions.admitted]
    # Locked while still pending, each with its last attempt's number (the next one follows it):
    # asked for the admitted jobs only, in the same statement.
    last_number = Attempt.objects.filter(job_id=OuterRef("pk")).order_by("-number").values("number")[:1]
    earlier = dict(
        Job.objects.select_for_update(of=("self",))
        .filter(pk__in=admitted_ids, state=JobState.PENDING)
        .annotate(last=Subquery(last_number))
        .values_list("pk", "last")
    )
    locked = set(earlier)
    placements = {job.job_id: placement for job, placement in decisions.admitted if job.job_id in locked}
    chosen = {job.job_id: job for job, _ in decisions.admitted}  # its pool_id: where it was admitted
    if placements:
        # The pool it was admitted to becomes its pool; a job that accepts several also runs on
        # that pool's model (Ray's accelerator_type), whichever it named first.
        by_pool: dict[tuple[int, bool], list[int]] = defaultdict(list)
        for job_id in placements:
            by_pool[(chosen[job_id].pool_id, len(chosen[job_id].pools) > 1)].append(job_id)
        for (pool_id, several), job_ids in by_pool.items():
            fields: dict[str, Any] = {"pool_id": pool_id}
            model = state.pools[pool_id].accelerator_model
            if several and model is not None:
                fields["accelerator_model"] = model.ray_accelerator_type or model.name
            Job.objects.filter(pk__in=job_ids).update(
                state=JobState.ADMITTED,
                admitted_at=now,
                state_reason="",
                updated_at=now,
                # An estimate is for waiting work: an admitted job's is spent.
                estimated_start_at=None,
                estimate_confidence=EstimateConfidence.NONE,
                estimate_basis="",
                **fields,
            )
        attempt_of = {job_id: uuid.uuid4() for job_id in placements}
        copy_insert(
            Attempt,
            [
                {
                    "id": attempt_of[job_id],
                    "job_id": job_id,
                    "number": (earlier.get(job_id) or 0) + 1,
                    "state": AttemptState.ADMITTED,
                    "placement": placement.as_json(),
                }
                for job_id, placement in placements.items()
            ],
            now,
        )
        copy_insert(
            JobEvent,
            [
                {
                    "job_id": job_id,
                    "attempt_id": attempt_of[job_id],
                    "kind": EventKind.ADMITTED,
                    "from_state": JobState.PENDING,
                    "to_state": JobState.ADMITTED,
                    "message": _admitted_message(state, chosen[job_id], placement),
                }
                for job_id, placement in placements.items()
            ],
            now,
        )
        copy_insert(
            Allocation,
            [
                {
                    "job_id": job_id,
                    "attempt_id": attempt_of[job_id],
                    "node_id": share.node_id,
                    "accelerator_id": state.accelerator_ids[(share.node_id, index)],
                }
                for job_id, placement in placements.items()
                for share in placement.shares
                for index in share.gpus
            ],
            now,
        )
        capacity.send_on_commit([str(attempt_of[job_id]) for job_id in placements], dispatcher)
    changed = {
        job_id: reason
        for job_id, reason in decisions.reasons.items()
        if job_id in candidates and candidates[job_id].state_reason != reason
    }
    if changed:
        _write_reasons(changed, now)
        # An event when the kind of wait changes, not every time a count in the sentence does.
        copy_insert(
            JobEvent,
            [
                {"job_id": job_id, "kind": EventKind.WAITING, "message": reason}
                for job_id, reason in changed.items()
                if _gist(reason) != _gist(candidates[job_id].state_reason)
            ],
            now,
        )
    return len(placements)


def _gist(reason: str) -> str:
    return re.sub(r"\d+", "#", reason)


def _write_reasons(reasons: dict[int, str], now: datetime) -> None:
    """One statement for thousands of reasons (PostgreSQL); bulk_update elsewhere."""
    if connection.vendor != "postgresql":
        jobs = list(Job.objects.filter(pk__in=list(reasons), state=JobState.PENDING).only("id"))
        for job in jobs:
            job.state_reason, job.updated_at = reasons[job.pk], now
        Job.objects.bulk_update(jobs, ["state_reason", "updated_at"], batch_size=500)
        return
    copy_update(
        Job._meta.db_table,
        [("id", "bigint"), ("reason", "text")],
        reasons.items(),
        "state_reason = v.reason, updated_at = %s",
        f"{Job._meta.db_table}.state = %s",
        [now, JobState.PENDING],
    )


def _admitted_message(state: PassState, job: Candidate, placement: Placement) -> str:
    pool = state.pools[job.pool_id]
    pools = job.pools
    choice = ""
    if len(pools) > 1:  # which of the pools it accepts, so its page can say where it went and why
        rank = pools.index(job.pool_id) + 1 if job.pool_id in pools else 0
        names = ", ".join(state.pools[p].name for p in pools if p in state.pools)
        choice = f" (choice {rank} of {names})"
    if not placement.shares:
        return f"admitted to pool {pool.name}{choice} ({job.units} CPU)"
    where = "; ".join(f"{s.hostname} GPUs {','.join(map(str, s.gpus))}" for s in placement.shares)
    return f"admitted to pool {pool.name}{choice}: {where}"
