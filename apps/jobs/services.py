"""Job use cases. Every write to jobs, attempts and events happens here.

Transitions are compare-and-set (``filter(pk=…, state__in=expected).update(…)``): a second
delivery of the same task, or a race with a cancel, finds the row moved on and does nothing.
Network calls to a backend never run inside a database transaction.
"""

from __future__ import annotations

import codecs
import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from apps.core import audit
from apps.core.bulk import copy_insert, copy_update
from apps.core.errors import Conflict
from apps.core.logging import get_logger
from apps.core.tasks import enqueue, enqueue_on_commit, try_enqueue, wake_scheduler_on_commit
from apps.dispatch.fanout import Batches, Outcome, group_calls, per_cluster
from apps.dispatch.port import BackendError, JobSpec, PackageRef, RemoteState, RemoteStatus, SubmitResult
from apps.dispatch.registry import note_no_answer
from apps.dispatch.runtime_env import is_package_uri, package_sha256, package_uri, package_uris
from apps.inventory import catalog
from apps.inventory.choices import ClusterKind, ClusterState
from apps.inventory.models import Cluster
from apps.inventory.services import backend_for, record_cluster_answered, record_cluster_silent
from apps.jobs import failures, job_tokens
from apps.jobs.choices import (
    ACTIVE_STATES,
    ATTEMPT_ACTIVE_STATES,
    ATTEMPT_REMOTE_STATES,
    HOLDING_STATES,
    JOB_ENVIRONMENT,
    TERMINAL_STATES,
    AttemptState,
    EventKind,
    FailureCause,
    JobKind,
    JobRuntime,
    JobState,
    describe_seconds,
)
from apps.jobs.models import Attempt, AttemptLogChunk, CodePackage, Job, JobEvent
from apps.jobs.packages import inspect_package
from apps.jobs.signals import attempt_environment, checking_submission, deployment_started, stopped_holding
from apps.tenancy.models import Team
from paddock.bundle import client_bundle

if TYPE_CHECKING:
    from apps.quotas.models import Pool, PriorityClass

log = get_logger("jobs")
# A closely watched running job has its log copied at most this often.
LOG_EVERY_SECONDS = 1.0
# One read of a job's log from its cluster takes at most this many bytes (the memory bound)...
LOG_FETCH_BYTES = 1024 * 1024
# ...and one refresh at most this many reads: a running job's (the rest comes with the next
# refresh) or a finished job's (until the end; reconcile goes on where it stopped).
LOG_LIVE_READS = 8
LOG_FINAL_READS = 64
# Set while a refresh a log reader asked for is queued or running (coalesces readers' requests).
LOG_REFRESH_PENDING = "jobs.refresh_logs.pending:{}"
LOG_REFRESH_PENDING_SECONDS = 30


# --- transitions --------------------------------------------------------------------------
def move_job(
    job: Job,
    *,
    from_states: Iterable[str],
    to_state: str,
    event: str,
    message: str = "",
    actor: User | None = None,
    attempt: Attempt | None = None,
    **fields: Any,
) -> bool:
    """Compare-and-set the job's state and append an event; False when it had moved on."""
    expected = list(from_states)
    now = timezone.now()
    if to_state == JobState.PENDING:
        fields.setdefault("queued_at", now)  # back in the queue: its wait starts again
    updated = Job.objects.filter(pk=job.pk, state__in=expected).update(state=to_state, updated_at=now, **fields)
    if not updated:
        return False
    previous = job.state
    if to_state not in HOLDING_STATES and HOLDING_STATES.intersection(expected):
        # The job stops holding its quota: its GPUs go back, and the queue may move.
        stopped_holding.send(sender=Job, job_id=job.pk, at=now)
        wake_scheduler_on_commit()
    job.state = to_state
    for name, value in fields.items():
        setattr(job, name, value)
    JobEvent.objects.create(
        job=job,
        attempt=attempt,
        kind=event,
        from_state=previous if previous in expected else "",
        to_state=to_state,
        message=message,
        actor=actor,
    )
    log.info("jobs.transition", job=job.pk, to=to_state, kind=event)
    return True


def move_attempt(attempt: Attempt, *, from_states: Iterable[str], to_state: str, **fields: Any) -> bool:
    updated = Attempt.objects.filter(pk=attempt.pk, state__in=list(from_states)).update(state=to_state, **fields)
    if updated:
        attempt.state = to_state
        for name, value in fields.items():
            setattr(attempt, name, value)
    return bool(updated)


def add_event(job: Job, kind: str, message: str = "", *, attempt: Attempt | None = None) -> JobEvent:
    return JobEvent.objects.create(job=job, attempt=attempt, kind=kind, message=message)


# --- submit and cancel --------------------------------------------------------------------
@dataclass(frozen=True)
class JobRequest:
    """A validated submission (the API and CLI build it; the service trusts its shape)."""

    name: str
    team: Team
    cluster: Cluster
    kind: str
    entrypoint: str
    runtime_env: dict[str, Any]
    cpus: float
    gpus: float
    accelerator_model: str
    memory_gb: float
    max_retries: int
    priority: int = 0
    plan: dict[str, Any] = field(default_factory=dict)
    priority_class: PriorityClass | None = None  # its value is ``priority``
    pool: Pool | None = None  # None: the cluster has no pools (or none fits the job's shape); else its first choice
    accelerator_models: tuple[str, ...] = ()  # several pools in order; () = just accelerator_model
    min_gpu_memory_gb: float | None = None  # any GPU model with this much memory
    max_runtime_seconds: int | None = None  # an attempt running longer is stopped; the job fails
    retry_on_error: bool = False  # retry the job's own errors too (up to max_retries)
    runtime: str = JobRuntime.PROCESS  # ray: a Ray cluster of its own (KubeRay RayJob on Kubernetes)
    checkpoint_policy: dict[str, Any] = field(default_factory=dict)


def never_runs(request: JobRequest) -> dict[str, Any]:
    """Field errors for what in ``request`` can never run on its cluster, from the apps that
    know (through ``checking_submission``); empty when nothing is known against it."""
    errors: dict[str, Any] = {}
    for _receiver, found in checking_submission.send(sender=JobRequest, request=request):
        if not isinstance(found, dict):
            continue
        for key, value in found.items():
            if isinstance(value, dict) and isinstance(errors.get(key), dict):
                errors[key] = {**errors[key], **value}
            else:
                errors[key] = value
    return errors


def submit_job(*, actor: User, request: JobRequest, idempotency_key: str | None = None) -> tuple[Job, bool]:
    """Record a job as ``pending`` and wake the scheduler. Returns (job, created).

    A repeat of the same ``idempotency_key`` by the same user returns the first job, also
    when both requests race (the unique constraint decides).
    """
    if idempotency_key:
        existing = Job.objects.filter(submitted_by=actor, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            job = Job.objects.create(
                team=request.team,
                cluster=request.cluster,
                name=request.name,
                kind=request.kind,
                entrypoint=request.entrypoint,
                runtime_env=request.runtime_env,
                runtime=request.runtime,
                cpus=request.cpus,
                gpus=request.gpus,
                accelerator_model=request.accelerator_model,
                accelerator_models=list(request.accelerator_models),
                min_gpu_memory_gb=request.min_gpu_memory_gb,
                memory_gb=request.memory_gb,
                max_retries=request.max_retries,
                retry_on_error=request.retry_on_error,
                checkpoint_policy=request.checkpoint_policy,
                max_runtime_seconds=request.max_runtime_seconds,
                priority=request.priority,
                priority_class=request.priority_class,
                pool=request.pool,
                plan=request.plan,
                submitted_by=actor,
                idempotency_key=idempotency_key or None,
            )
            JobEvent.objects.create(job=job, kind=EventKind.SUBMITTED, to_state=JobState.PENDING, actor=actor)
            audit.record("jobs.submitted", job, actor=actor, team_id=request.team.pk, cluster=request.cluster.name)
            wake_scheduler_on_commit()
    except IntegrityError:
        if not idempotency_key:
            raise
        existing = Job.objects.filter(submitted_by=actor, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing, False
    log.info("jobs.submitted", job=job.pk, team=request.team.slug, cluster=request.cluster.name)
    return job, True


@transaction.atomic
def cancel_job(*, actor: User | None, job: Job, reason: str = "") -> Job:
    """Cancel an active job: it is ``cancelled`` at once; its remote job is stopped.
    ``reason`` replaces "Cancelled by …" as its state reason (the system cancelling it, say why).

    Raises :class:`Conflict` when the job has already finished.
    """
    now = timezone.now()
    who = actor.get_username() if actor is not None else "the system"
    moved = move_job(
        job,
        from_states=ACTIVE_STATES,
        to_state=JobState.CANCELLED,
        event=EventKind.CANCELLED,
        message=reason or f"cancelled by {who}",
        actor=actor,
        cancel_requested_at=now,
        finished_at=now,
        state_reason=reason or f"Cancelled by {who}.",
    )
    if not moved:
        job.refresh_from_db()
        raise Conflict(f"Job {job.pk} has already finished ({job.state}); there is nothing to cancel.")
    audit.record("jobs.cancelled", job, actor=actor, team_id=job.team_id)
    for attempt in job.attempts.filter(state__in=ATTEMPT_REMOTE_STATES):
        enqueue_on_commit("jobs.stop_attempt", str(attempt.pk))
    return job


def cancel_jobs(*, actor: User, jobs: Iterable[Job]) -> list[tuple[Job, str]]:
    """Cancel several jobs, each through :func:`cancel_job` in its own transaction (one that has
    finished meanwhile does not undo the others). Returns each job with ``"cancelled"`` or
    ``"already_final"`` (it had finished: nothing to cancel)."""
    outcomes: list[tuple[Job, str]] = []
    for job in jobs:
        try:
            outcomes.append((cancel_job(actor=actor, job=job), "cancelled"))
        except Conflict:
            outcomes.append((job, "already_final"))
    return outcomes


def preempt_job(job: Job, *, reason: str) -> bool:
    """Take a job's GPUs back for other work: ``preempted``, its attempt stopped, then back in
    the queue (``pending``). Must run inside the scheduler's transaction."""
    if not move_job(
        job,
        from_states=HOLDING_STATES,
        to_state=JobState.PREEMPTED,
        event=EventKind.PREEMPTED,
        message=reason,
        state_reason=f"Preempted: {reason}.",
    ):
        return False
    for attempt in job.attempts.filter(state__in=ATTEMPT_ACTIVE_STATES):
        if attempt.state == AttemptState.ADMITTED:
            move_attempt(
                attempt,
                from_states=[AttemptState.ADMITTED],
                to_state=AttemptState.STOPPED,
                finished_at=timezone.now(),
                message=f"preempted before dispatch: {reason}",
            )
        else:
            enqueue_on_commit("jobs.stop_attempt", str(attempt.pk))
    move_job(
        job,
        from_states=[JobState.PREEMPTED],
        to_state=JobState.PENDING,
        event=EventKind.REQUEUED,
        message="back in the queue after preemption",
        state_reason=f"Preempted ({reason}); waiting to run again.",
    )
    audit.record("jobs.preempted", job, actor=None, team_id=job.team_id, reason=reason)
    return True


# --- dispatch -----------------------------------------------------------------------------
def job_spec(attempt: Attempt, *, memo: dict[Any, Any] | None = None) -> JobSpec:
    """What the backend gets for ``attempt``. ``memo`` is shared by the specs of one batch (a
    scheduler pass's dispatch), so what every attempt of a team gets is looked up once."""
    job = attempt.job
    memo = {} if memo is None else memo
    packages = package_refs(job)
    runtime_env = attempt_runtime_env(attempt, packages, memo=memo)
    return JobSpec(
        packages=packages,
        remote_id=attempt.remote_id,
        entrypoint=job.entrypoint,
        resources=job.resources(),
        runtime_env=runtime_env,
        accelerator_model=job.accelerator_model,
        accelerator_products=_gpu_products(job, memo),
        placement=tuple(attempt.placement or ()),
        metadata={
            "paddock_job": str(job.pk),
            "paddock_team": job.team.slug,
            "paddock_attempt": str(attempt.number),
            **({"runtime": job.runtime} if job.runtime == JobRuntime.RAY else {}),
        },
    )


def _gpu_products(job: Job, memo: dict[Any, Any]) -> tuple[str, ...]:
    """How a Kubernetes cluster's nodes label the job's accelerator model (GPU Feature
    Discovery's product names, from the catalog and what the cluster's nodes reported)."""
    if not job.accelerator_model or job.cluster.kind != ClusterKind.KUBERNETES:
        return ()
    key = ("gpu_products", job.cluster_id, job.accelerator_model)
    if key not in memo:
        memo[key] = catalog.gpu_products(job.accelerator_model, cluster_id=job.cluster_id)
    return memo[key]  # type: ignore[no-any-return]


def attempt_runtime_env(
    attempt: Attempt, packages: dict[str, PackageRef], *, memo: dict[Any, Any] | None = None
) -> dict[str, Any]:
    """The job's runtime_env plus what Paddock gives every attempt: the reporting client
    (``paddock`` on ``py_modules``, added to ``packages``), its job token, Paddock's address and
    what the apps built on jobs add (checkpoint prefix, the checkpoint to resume from), which
    the attempt records."""
    job = attempt.job
    runtime_env = dict(job.runtime_env) if isinstance(job.runtime_env, dict) else {}
    env_vars = dict(runtime_env.get("env_vars") or {})
    env_vars.update(
        {
            "PADDOCK_API_URL": settings.PADDOCK_API_URL,
            "PADDOCK_JOB_TOKEN": job_tokens.mint(attempt.pk),
            "PADDOCK_JOB_ID": str(job.pk),
            "PADDOCK_ATTEMPT": str(attempt.number),
        }
    )
    for _, extra in attempt_environment.send(sender=Attempt, attempt=attempt, memo={} if memo is None else memo):
        if isinstance(extra, dict):
            env_vars.update({str(name): str(value) for name, value in extra.items() if name in JOB_ENVIRONMENT})
    resume_uri, resume_step = env_vars.get("PADDOCK_RESUME_FROM", ""), env_vars.get("PADDOCK_RESUME_STEP")
    if resume_uri and (attempt.resume_uri != resume_uri):
        step = int(resume_step) if resume_step else None
        Attempt.objects.filter(pk=attempt.pk).update(resume_uri=resume_uri, resume_step=step)
        attempt.resume_uri, attempt.resume_step = resume_uri, step
    runtime_env["env_vars"] = env_vars
    client = client_package()
    packages[client.uri] = client
    runtime_env["py_modules"] = [*(runtime_env.get("py_modules") or []), client.uri]
    return runtime_env


@functools.cache
def client_package() -> PackageRef:
    """Paddock's reporting client (the ``paddock`` package, standard library only) as a package
    every attempt gets on ``py_modules``; the same bytes for the same code, so a cluster
    stores it once."""
    sha256, data = client_bundle()
    return PackageRef(uri=package_uri(sha256), sha256=sha256, size_bytes=len(data), load=lambda: data)


def begin_dispatch(attempt_id: str) -> tuple[str, Attempt | None]:
    """Load an admitted attempt, re-check it and move its job to ``dispatching``.

    Returns ``("", attempt)`` when the attempt should be sent now, else what happened instead
    and None (already sent, cancelled, superseded). Safe to run any number of times.
    """
    return begin_dispatches([attempt_id])[str(attempt_id)]


def begin_dispatches(attempt_ids: Iterable[str]) -> dict[str, tuple[str, Attempt | None]]:
    """:func:`begin_dispatch` for a whole batch (a scheduler pass's admissions) in a constant
    number of queries: one read, and one transaction that moves every job still ``admitted``
    to ``dispatching`` and records their events. What is rare (a job cancelled or moved on
    before its send, a deployment) goes one by one."""
    ids = [str(attempt_id) for attempt_id in dict.fromkeys(attempt_ids)]
    found = {str(a.pk): a for a in Attempt.objects.select_related("job__cluster", "job__team").filter(pk__in=ids)}
    outcomes: dict[str, tuple[str, Attempt | None]] = {}
    to_move: list[Attempt] = []
    for attempt_id in ids:
        attempt = found.get(attempt_id)
        if attempt is None:
            outcomes[attempt_id] = ("missing", None)
        elif attempt.state != AttemptState.ADMITTED:
            outcomes[attempt_id] = ("already-dispatched", None)
        elif attempt.job.state == JobState.ADMITTED and attempt.job.kind != JobKind.DEPLOYMENT:
            to_move.append(attempt)
        elif attempt.job.state == JobState.DISPATCHING and attempt.job.kind != JobKind.DEPLOYMENT:
            outcomes[attempt_id] = ("", attempt)  # sent before without an answer: send again
        else:
            outcomes[attempt_id] = _not_sent(attempt)
    if to_move:
        now = timezone.now()
        with transaction.atomic():
            moved = set(
                Job.objects.select_for_update()
                .filter(pk__in=[a.job_id for a in to_move], state=JobState.ADMITTED)
                .values_list("pk", flat=True)
            )
            if moved:
                Job.objects.filter(pk__in=moved).update(state=JobState.DISPATCHING, updated_at=now)
                copy_insert(
                    JobEvent,
                    [
                        {
                            "job_id": a.job_id,
                            "attempt_id": a.pk,
                            "kind": EventKind.DISPATCHED,
                            "from_state": JobState.ADMITTED,
                            "to_state": JobState.DISPATCHING,
                            "message": f"sending attempt {a.number} to {a.job.cluster.name}",
                        }
                        for a in to_move
                        if a.job_id in moved
                    ],
                    now,
                )
        for attempt in to_move:
            if attempt.job_id in moved:
                attempt.job.state, attempt.job.updated_at = JobState.DISPATCHING, now
                outcomes[str(attempt.pk)] = ("", attempt)
            else:  # moved on between the read and the lock (cancelled, preempted): as one by one
                attempt.job.refresh_from_db(fields=["state"])
                outcomes[str(attempt.pk)] = _not_sent(attempt)
        if moved:
            log.info("jobs.transition", jobs=len(moved), to=JobState.DISPATCHING, kind=EventKind.DISPATCHED)
    return outcomes


def _not_sent(attempt: Attempt) -> tuple[str, Attempt | None]:
    """An admitted attempt whose job is not simply waiting for its send."""
    job = attempt.job
    if job.state not in (JobState.ADMITTED, JobState.DISPATCHING, JobState.CANCELLED):
        move_attempt(
            attempt,
            from_states=[AttemptState.ADMITTED],
            to_state=AttemptState.STOPPED,
            finished_at=timezone.now(),
            message=f"not sent: the job is {job.state}",
        )
        return f"job-{job.state}", None
    if job.state == JobState.CANCELLED:
        move_attempt(
            attempt,
            from_states=[AttemptState.ADMITTED],
            to_state=AttemptState.STOPPED,
            finished_at=timezone.now(),
            message="cancelled before dispatch",
        )
        return "cancelled", None
    if job.kind == JobKind.DEPLOYMENT:
        return _start_deployment(attempt), None
    return f"job-{job.state}", None


def _start_deployment(attempt: Attempt) -> str:
    """A deployment holds its quota from admission on: its attempt runs at once (no remote job
    to submit) and the serving app, told on commit, puts the endpoint on the cluster."""
    job = attempt.job
    now = timezone.now()
    with transaction.atomic():
        moved = move_attempt(
            attempt,
            from_states=[AttemptState.ADMITTED],
            to_state=AttemptState.RUNNING,
            dispatched_at=now,
            started_at=now,
            dispatch_seconds=(now - (job.created_at if attempt.number == 1 else attempt.created_at)).total_seconds(),
        )
        if not moved:
            return "already-dispatched"
        move_job(
            job,
            from_states=[JobState.ADMITTED, JobState.DISPATCHING],
            to_state=JobState.RUNNING,
            event=EventKind.RUNNING,
            attempt=attempt,
            message=f"holds its quota on {job.cluster.name}; the endpoint is being deployed",
            started_at=now,
            state_reason="",
        )
        job_id, attempt_id = job.pk, attempt.pk
        transaction.on_commit(
            lambda: deployment_started.send(sender=Job, job_id=job_id, attempt_id=attempt_id), robust=True
        )
    return "deployment"


def end_deployment(job: Job, *, failed: bool, message: str) -> bool:
    """The serving app ends a deployment job's live attempt: failed (its endpoint could not
    serve: never retried, the endpoint says why) or stopped. True when an attempt ended."""
    ended = False
    for attempt in job.attempts.filter(state__in=ATTEMPT_ACTIVE_STATES).select_related("job__cluster"):
        state = AttemptState.FAILED if failed else AttemptState.STOPPED
        _finish_attempt(attempt, state, message, retry=False, evidence=message if failed else "")
        ended = True
    return ended


def finish_dispatch(attempt: Attempt, *, result: SubmitResult | None = None, error: BackendError | None = None) -> str:
    """Record what the cluster answered to a submit; returns what happened.

    ``"retry"``: the cluster did not answer and trying again can help (the caller schedules
    it); ``"refused"``: it refused the job, which fails with the reason.
    """
    return finish_dispatches([(attempt, Outcome(value=result, error=error))])[str(attempt.pk)]


def finish_dispatches(answers: Iterable[tuple[Attempt, Outcome[SubmitResult]]]) -> dict[str, str]:
    """:func:`finish_dispatch` for a batch of answers in a constant number of queries: the
    attempts the cluster took move to ``submitted`` in one transaction (with an event for each
    adopted one), and one read finds the jobs cancelled meanwhile, whose attempts are stopped.
    Errors (rare) are recorded one by one."""
    outcomes: dict[str, str] = {}
    taken: list[tuple[Attempt, SubmitResult]] = []
    for attempt, outcome in answers:
        if outcome.error is not None:
            outcomes[str(attempt.pk)] = _dispatch_failed(attempt, outcome.error)
        else:
            assert outcome.value is not None
            taken.append((attempt, outcome.value))
    if not taken:
        return outcomes
    now = timezone.now()
    with transaction.atomic():
        still = set(
            Attempt.objects.select_for_update()
            .filter(pk__in=[a.pk for a, _ in taken], state=AttemptState.ADMITTED)
            .values_list("pk", flat=True)
        )
        moved = [(a, result) for a, result in taken if a.pk in still]
        for attempt, _ in moved:
            origin = attempt.job.created_at if attempt.number == 1 else attempt.created_at
            attempt.state, attempt.dispatched_at = AttemptState.SUBMITTED, now
            attempt.dispatch_seconds = (now - origin).total_seconds()
        _write_submitted([a for a, _ in moved], now)
        copy_insert(
            JobEvent,
            [
                {
                    "job_id": a.job_id,
                    "attempt_id": a.pk,
                    "kind": EventKind.ADOPTED,
                    "message": f"{a.job.cluster.name} already had {a.remote_id}; adopted it",
                }
                for a, result in moved
                if result.adopted
            ],
            now,
        )
    cancelled = set(
        Job.objects.filter(pk__in={a.job_id for a, _ in taken}, state=JobState.CANCELLED).values_list("pk", flat=True)
    )
    for attempt, result in taken:
        if attempt.job_id in cancelled:
            attempt.job.state = JobState.CANCELLED
            try_enqueue("jobs.stop_attempt", str(attempt.pk))
        outcomes[str(attempt.pk)] = "adopted" if result.adopted else "submitted"
    return outcomes


def _write_submitted(attempts: list[Attempt], now: datetime) -> None:
    """Attempts a cluster took, as ``submitted``: one statement for a whole pass (PostgreSQL)."""
    if connection.vendor != "postgresql":
        Attempt.objects.bulk_update(attempts, ["state", "dispatched_at", "dispatch_seconds"], batch_size=500)
        return
    copy_update(
        Attempt._meta.db_table,
        [("id", "uuid"), ("seconds", "double precision")],
        ((a.pk, a.dispatch_seconds) for a in attempts),
        "state = %s, dispatched_at = %s, dispatch_seconds = v.seconds",
        "true",
        [AttemptState.SUBMITTED, now],
    )


def _dispatch_failed(attempt: Attempt, error: BackendError) -> str:
    job = attempt.job
    if error.retryable:
        add_event(
            job,
            EventKind.DISPATCH_ERROR,
            f"{job.cluster.name} did not accept the job yet: {error.message}",
            attempt=attempt,
        )
        return "retry"
    _finish_attempt(attempt, AttemptState.FAILED, f"{job.cluster.name} refused the job: {error.message}", retry=False)
    return "refused"


def dispatch_attempt(attempt_id: str) -> str:
    """Send an admitted attempt to its cluster; safe to run any number of times.

    Returns what happened (for the task's log line). Raises :class:`BackendError` when the
    cluster did not answer and a retry can help.
    """
    outcome, attempt = begin_dispatch(attempt_id)
    if attempt is None:
        return outcome
    try:
        result = backend_for(attempt.job.cluster).submit(job_spec(attempt))
    except BackendError as exc:
        outcome = finish_dispatch(attempt, error=exc)
        if exc.retryable:
            raise
        return outcome
    outcome = finish_dispatch(attempt, result=result)
    try_enqueue("jobs.watch")
    return outcome


class Dispatcher:
    """Sends the attempts a scheduler pass admits from that same pass, every cluster at once.

    No broker hop between admission and the cluster: :meth:`send` moves the jobs to
    ``dispatching`` and starts the submits on threads (one per cluster, so a slow cluster
    holds up only its own jobs); :meth:`collect` records the answers that have come;
    :meth:`finish` waits for the rest up to a budget and leaves any cluster that has not
    answered to the ``jobs.dispatch_attempt`` task, which sends again (the attempt id is the
    remote name, so a submit that did get through is adopted, never doubled).
    """

    def __init__(self, budget: float | None = None) -> None:
        self._in_flight: list[tuple[Batches[str, SubmitResult], dict[str, Attempt]]] = []
        self.sent = 0
        self.budget = float(settings.PADDOCK_CLUSTER_BUDGET) if budget is None else budget
        self._finished = False

    def send(self, attempt_ids: Iterable[str]) -> None:
        prepared = {key: attempt for key, (_, attempt) in begin_dispatches(attempt_ids).items() if attempt is not None}
        if not prepared:
            return
        memo: dict[Any, Any] = {}  # one lookup per team for the whole batch
        backends: dict[int, Any] = {}  # and one backend per cluster

        def submit(attempt: Attempt) -> Callable[[], SubmitResult]:
            cluster = attempt.job.cluster
            if cluster.pk not in backends:
                backends[cluster.pk] = backend_for(cluster)
            return functools.partial(backends[cluster.pk].submit, job_spec(attempt, memo=memo))

        calls = group_calls((attempt.job.cluster_id, key, submit(attempt)) for key, attempt in prepared.items())
        self._in_flight.append((Batches(calls), prepared))
        if self._finished:  # a late commit (the pass has ended): see it through here
            self._record(self.budget, final=True)

    @property
    def pending(self) -> set[Any]:
        return {future for batches, _ in self._in_flight for future in batches.pending}

    def collect(self) -> None:
        """Record every answer that has come (does not wait)."""
        self._record(0.0, final=False)

    def finish(self) -> int:
        """Wait up to the budget for the answers still out, record them, hand the rest to the
        dispatch task; returns how many attempts reached their cluster."""
        self._finished = True
        self._record(self.budget, final=True)
        return self.sent

    def _record(self, budget: float, *, final: bool) -> None:
        deadline = time.monotonic() + budget
        still: list[tuple[Batches[str, SubmitResult], dict[str, Attempt]]] = []
        sent_before = self.sent
        answered: list[tuple[Attempt, Outcome[SubmitResult]]] = []
        for batches, attempts in self._in_flight:
            outcomes = batches.wait(max(deadline - time.monotonic(), 0.0)) if final else batches.wait(0.0)
            answered.extend((attempts.pop(key), outcomes[key]) for key in [key for key in attempts if key in outcomes])
            if attempts and not final:
                still.append((batches, attempts))
            for key in attempts if final else ():
                # No answer within the budget: the task tries again (and adopts a late success).
                try_enqueue("jobs.dispatch_attempt", key)
        self._in_flight = still
        for key, outcome in finish_dispatches(answered).items():
            if outcome == "retry":
                try_enqueue("jobs.dispatch_attempt", key, countdown=1)
            elif outcome in ("submitted", "adopted"):
                self.sent += 1
        if self.sent > sent_before:
            try_enqueue("jobs.watch")


def stop_attempt(attempt_id: str) -> str:
    attempt = Attempt.objects.select_related("job__cluster").filter(pk=attempt_id).first()
    if attempt is None or attempt.state not in ATTEMPT_REMOTE_STATES:
        return "not-active"
    if attempt.job.kind == JobKind.DEPLOYMENT:  # nothing remote: serving takes the endpoint down
        _finish_attempt(attempt, AttemptState.STOPPED, "stopped by Paddock", retry=False)
        return "stopped"
    backend_for(attempt.job.cluster).stop(attempt.remote_id)
    try_enqueue("jobs.watch")
    return "stopping"


# --- reconcile ----------------------------------------------------------------------------
def sync_attempt(attempt: Attempt, status: RemoteStatus, *, fetch_logs: bool = True) -> None:
    """Apply what the backend says about an attempt to the attempt and its job."""
    job = attempt.job
    now = timezone.now()
    Attempt.objects.filter(pk=attempt.pk).update(last_checked_at=now)
    if status.state == RemoteState.PENDING:
        # Level-triggered: keep asking a cancelled job's cluster to stop it (Ray only stops
        # a pending job once it could have started).
        if job.state == JobState.CANCELLED:
            _safe_stop(attempt)
        return
    if status.state == RemoteState.RUNNING:
        with transaction.atomic():
            started = status.started_at or now
            if move_attempt(
                attempt, from_states=[AttemptState.SUBMITTED], to_state=AttemptState.RUNNING, started_at=started
            ):
                move_job(
                    job,
                    from_states=[JobState.DISPATCHING, JobState.ADMITTED],
                    to_state=JobState.RUNNING,
                    event=EventKind.RUNNING,
                    attempt=attempt,
                    # A retry keeps the job's first start: its duration counts every try.
                    started_at=job.started_at or started,
                    state_reason="",
                )
            elif job.state == JobState.DISPATCHING:
                move_job(
                    job,
                    from_states=[JobState.DISPATCHING],
                    to_state=JobState.RUNNING,
                    event=EventKind.RUNNING,
                    attempt=attempt,
                    started_at=job.started_at or started,
                    state_reason="",
                )
        if job.state == JobState.CANCELLED:
            _safe_stop(attempt)
        if fetch_logs:
            refresh_logs(attempt)
        return
    # Terminal on the backend: always take the final log first, so it is complete when we
    # say the attempt has finished (``fetch_logs`` only thins out reads of running jobs).
    if status.state != RemoteState.NOT_FOUND:
        refresh_logs(attempt, final=True)
    if status.state == RemoteState.SUCCEEDED:
        _finish_attempt(attempt, AttemptState.SUCCEEDED, status.message, finished_at=status.finished_at)
    elif status.state == RemoteState.FAILED:
        log_tail = _log_tail(attempt)
        verdict = failures.classify(AttemptState.FAILED, status, log_tail, cluster=job.cluster.name)
        _finish_attempt(
            attempt,
            AttemptState.FAILED,
            status.message or "the job failed",
            finished_at=status.finished_at,
            infrastructure=verdict.infrastructure,
            evidence=verdict.evidence,
            exit_code=status.exit_code,
            log_tail=log_tail,
        )
    elif status.state == RemoteState.STOPPED:
        _finish_attempt(attempt, AttemptState.STOPPED, status.message or "stopped", finished_at=status.finished_at)
    elif status.state == RemoteState.NOT_FOUND:
        _finish_attempt(attempt, AttemptState.LOST, f"{job.cluster.name} no longer knows job {attempt.remote_id}")


# How much of the end of a failed attempt's stored log its classification reads.
LOG_TAIL_CHARS = 16 * 1024


def _log_tail(attempt: Attempt) -> str:
    """The last characters of the stored log (its last few chunks; one query)."""
    chunks = list(
        AttemptLogChunk.objects.filter(attempt_id=attempt.pk, stop__gt=max(attempt.log_length - LOG_TAIL_CHARS, 0))
        .order_by("-start")
        .values_list("text", flat=True)[:8]
    )
    return "".join(reversed(chunks))[-LOG_TAIL_CHARS:]


def _finish_attempt(
    attempt: Attempt,
    state: str,
    message: str,
    *,
    finished_at: datetime | None = None,
    retry: bool = True,
    infrastructure: bool = False,
    evidence: str = "",
    exit_code: int | None = None,
    log_tail: str = "",
) -> None:
    """End an attempt; a failed one is retried by cause (:mod:`apps.jobs.failures`).

    The cluster's failures (it lost the job — a restarted Ray head forgets every job —, a node
    or the job's supervisor died, the process was killed, the device ran out of memory, it was
    stopped outside Paddock) are retried from the latest complete checkpoint, up to
    ``max(max_retries, PADDOCK_INFRASTRUCTURE_RETRIES)`` times. The job's own errors are
    retried only when it set ``retry_on_error``, up to ``max_retries``.
    """
    job = attempt.job
    now = timezone.now()
    live = [JobState.ADMITTED, JobState.DISPATCHING, JobState.RUNNING]
    cause = FailureCause.NONE
    if state == AttemptState.STOPPED and (
        job.state not in live or job.attempts.filter(number__gt=attempt.number).exists()
    ):
        pass  # stopped by Paddock (cancelled, preempted or retried): no failure
    elif state in (AttemptState.STOPPED, AttemptState.LOST) and retry:
        verdict = failures.classify(state, None, cluster=job.cluster.name)
        infrastructure, evidence = True, evidence or verdict.evidence
    if state in (AttemptState.FAILED, AttemptState.LOST) or (state == AttemptState.STOPPED and infrastructure):
        infrastructure = infrastructure or state == AttemptState.LOST
        cause = FailureCause.INFRASTRUCTURE if infrastructure else FailureCause.CODE
    # One line for people; "" for an attempt Paddock stopped or one that succeeded.
    cause_line = (
        failures.cause_line(state, exit_code=exit_code, message=message, log_tail=log_tail)
        if cause != FailureCause.NONE
        else ""
    )
    with transaction.atomic():
        if not move_attempt(
            attempt,
            from_states=ATTEMPT_ACTIVE_STATES,
            to_state=state,
            finished_at=finished_at or now,
            message=message[:10000],
            failure_cause=cause,
            failure_evidence=evidence[:2000],
            exit_code=exit_code,
            cause=cause_line,
        ):
            return
        superseded = job.attempts.filter(number__gt=attempt.number).exists()
        if job.state in TERMINAL_STATES or superseded or job.state in (JobState.PENDING, JobState.PREEMPTED):
            # Not the job's current try (it was preempted or retried): only say it stopped.
            if state == AttemptState.STOPPED:
                add_event(
                    job, EventKind.STOPPED, f"attempt {attempt.number} stopped on {job.cluster.name}", attempt=attempt
                )
            return
        if state == AttemptState.SUCCEEDED:
            move_job(
                job,
                from_states=live,
                to_state=JobState.SUCCEEDED,
                event=EventKind.SUCCEEDED,
                attempt=attempt,
                finished_at=finished_at or now,
                state_reason="",
            )
            return
        if state == AttemptState.STOPPED:
            message = f"stopped on {job.cluster.name} outside Paddock: {message}"
        kind = EventKind.LOST if state == AttemptState.LOST else EventKind.FAILED
        used = job.attempts.filter(failure_cause=cause).count()  # this one included
        if cause == FailureCause.INFRASTRUCTURE:
            allowed = max(job.max_retries, int(settings.PADDOCK_INFRASTRUCTURE_RETRIES))
            budget = f"{used} of {allowed} retries for the cluster's failures, from the latest checkpoint"
            why = f"the cluster's failure: {evidence}" if evidence else "the cluster's failure"
        else:
            allowed = job.max_retries if job.retry_on_error else 0
            budget = f"{used} of {allowed} retries for the job's own errors"
            why = f"the job's own error: {evidence}" if evidence else "the job's own error"
        if retry and used <= allowed:
            move_job(
                job,
                from_states=live,
                to_state=JobState.PENDING,
                event=EventKind.RETRYING,
                attempt=attempt,
                message=f"attempt {attempt.number} {state} ({why}): {message}; retrying ({budget})",
                state_reason=f"Retrying after attempt {attempt.number} {state} ({why}): {message}",
            )
            wake_scheduler_on_commit()
            return
        if cause == FailureCause.INFRASTRUCTURE and retry:
            message = f"{message} (the cluster's failure, {used - 1} retries already spent on it)"
        elif cause == FailureCause.CODE and retry and job.max_retries and not job.retry_on_error:
            message = (
                f"{message} (the job's own error: not retried, as the job asks for retries only after the "
                "cluster's failures)"
            )
        move_job(
            job,
            from_states=live,
            to_state=JobState.FAILED,
            event=kind,
            attempt=attempt,
            message=message,
            finished_at=finished_at or now,
            state_reason=message,
        )


def refresh_logs(attempt: Attempt, *, final: bool = False) -> int:
    """Copy what is new of the attempt's log from its cluster into the database (the copy
    outlives the cluster).

    Reads from the byte offset stored on the attempt, at most ``LOG_FETCH_BYTES`` a call, and
    appends what came as a new chunk row: nothing stored is read or rewritten. Only whole UTF-8
    characters are appended; a character cut at a read's end is read again with the next one.
    ``final`` (the cluster says the job has ended): the log is complete once this read reaches
    its end. Returns how many bytes the cluster sent.
    """
    backend = backend_for(attempt.job.cluster)
    at_end = False
    received = 0
    for _ in range(LOG_FINAL_READS if final else LOG_LIVE_READS):
        row = (
            Attempt.objects.filter(pk=attempt.pk)
            .values_list("log_remote_offset", "log_length", "log_truncated")
            .first()
        )
        if row is None:
            return received
        offset, length, truncated = row
        if truncated:  # what follows stays on the cluster
            at_end = True
            break
        try:
            chunk = backend.logs(attempt.remote_id, offset=offset, limit=LOG_FETCH_BYTES)
        except BackendError as exc:
            log.info("jobs.logs_unavailable", attempt=str(attempt.pk), error=exc.message)
            return received
        received += chunk.transferred
        at_end = not chunk.more
        text, used = _whole_characters(chunk.data, final=final and at_end)
        if used and not _append_log(attempt, offset=offset, length=length, text=text, next_offset=offset + used):
            at_end = False  # another refresh appended this part first: look again
            continue
        if at_end or not used:
            break
    fields: dict[str, Any] = {"log_fetched_at": timezone.now()}
    if final and at_end:
        fields["log_complete"] = True
    Attempt.objects.filter(pk=attempt.pk).update(**fields)
    for name, value in fields.items():
        setattr(attempt, name, value)
    return received


def _whole_characters(data: bytes, *, final: bool) -> tuple[str, int]:
    """The text of ``data`` up to its last whole UTF-8 character, and how many bytes that took
    (all of them when ``final``). Invalid bytes become U+FFFD, as does NUL (PostgreSQL text
    cannot hold it)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(data, final=final)
    pending, _ = decoder.getstate()
    return text.replace("\x00", "\ufffd"), len(data) - len(pending)


def _append_log(attempt: Attempt, *, offset: int, length: int, text: str, next_offset: int) -> bool:
    """Append ``text`` to the stored log unless another refresh moved it on first (False);
    past ``PADDOCK_LOG_MAX_BYTES`` characters it is cut and ends with the truncation note."""
    limit = settings.PADDOCK_LOG_MAX_BYTES
    truncated = length + len(text) > limit
    if truncated:
        text = text[: max(limit - length, 0)] + (
            f"\n[paddock: log truncated at {limit} characters; the rest is on the cluster]\n"
        )
    with transaction.atomic():
        moved = Attempt.objects.filter(
            pk=attempt.pk, log_remote_offset=offset, log_length=length, log_truncated=False
        ).update(log_remote_offset=next_offset, log_length=length + len(text), log_truncated=truncated)
        if not moved:
            return False
        AttemptLogChunk.objects.create(attempt_id=attempt.pk, start=length, stop=length + len(text), text=text)
    attempt.log_remote_offset, attempt.log_length, attempt.log_truncated = next_offset, length + len(text), truncated
    return True


def request_log_refresh(attempt_id: Any) -> bool:
    """Ask a worker to copy what is new of an attempt's log (a reader found the stored copy
    stale). At most one such request per attempt is queued or running at a time. Never
    raises: with the cache or the broker down the stored log stays as it is, and the watch
    loop and reconcile keep copying."""
    key = LOG_REFRESH_PENDING.format(attempt_id)
    try:
        if not cache.add(key, "queued", timeout=LOG_REFRESH_PENDING_SECONDS):
            return False
        enqueue("jobs.refresh_logs", str(attempt_id))
    except Exception as exc:
        log.warning("jobs.log_refresh_not_queued", attempt=str(attempt_id), error=str(exc))
        _forget_log_refresh(key)
        return False
    return True


def refresh_attempt_logs(attempt_id: str) -> str:
    """The ``jobs.refresh_logs`` task: copy what is new of a running attempt's log."""
    try:
        attempt = Attempt.objects.remote_active().select_related("job__cluster").filter(pk=attempt_id).first()
        if attempt is None:
            return "not-running"  # finished or gone: reconcile takes its final log
        received = refresh_logs(attempt)
        return f"received {received} bytes; at byte {attempt.log_remote_offset}"
    finally:
        _forget_log_refresh(LOG_REFRESH_PENDING.format(attempt_id))


def _forget_log_refresh(key: str) -> None:
    try:
        cache.delete(key)
    except Exception as exc:  # the key expires by itself
        log.warning("jobs.log_refresh_key_kept", key=key, error=str(exc))


def check_attempt(attempt: Attempt, *, fetch_logs: bool = True) -> RemoteState | None:
    """Ask the backend about one attempt and apply the answer; None when it did not answer."""
    try:
        status = backend_for(attempt.job.cluster).status(attempt.remote_id)
    except BackendError as exc:
        log.info("jobs.status_unavailable", attempt=str(attempt.pk), error=exc.message)
        return None
    sync_attempt(attempt, status, fetch_logs=fetch_logs)
    return status.state


def check_attempts(
    attempts: Iterable[Attempt], *, budget: float, fetch_logs: Any = True, count_silence: bool = True
) -> tuple[int, dict[int, tuple[Cluster, str]]]:
    """Ask every cluster about its attempts at once (one thread per cluster) and apply the
    answers; a cluster that does not answer within ``budget`` seconds delays only its own.

    ``fetch_logs`` is a bool or a predicate on the attempt. With ``count_silence`` a cluster
    that gave no answer at all within the budget counts as a failure for its circuit breaker
    (the watch loop's short polls do not count). Returns how many attempts were checked and
    the clusters that did not answer, with why.
    """
    attempts = list(attempts)
    statuses = per_cluster(
        group_calls(
            (
                attempt.job.cluster_id,
                attempt.pk,
                functools.partial(backend_for(attempt.job.cluster).status, attempt.remote_id),
            )
            for attempt in attempts
        ),
        budget=budget,
    )
    checked = 0
    silent: dict[int, tuple[Cluster, str]] = {}
    answered: dict[int, Cluster] = {}
    for attempt in attempts:
        cluster = attempt.job.cluster
        outcome = statuses.get(attempt.pk)
        if outcome is None or outcome.error is not None:
            if cluster.pk not in answered:
                why = outcome.error.message if outcome and outcome.error else f"no answer within {budget:g} s"
                silent.setdefault(cluster.pk, (cluster, why))
            continue
        answered[cluster.pk] = cluster
        silent.pop(cluster.pk, None)
        assert outcome.value is not None
        sync_attempt(attempt, outcome.value, fetch_logs=fetch_logs(attempt) if callable(fetch_logs) else fetch_logs)
        checked += 1
    for cluster in answered.values():
        was_silent = cluster.state == ClusterState.UNREACHABLE
        record_cluster_answered(cluster)
        if was_silent:  # only then can its jobs carry "not answering" (the watch loop asks 40 times a second)
            clear_silence_reasons(cluster)
    for cluster, why in silent.values():
        if count_silence and not any(statuses.get(a.pk) for a in attempts if a.job.cluster_id == cluster.pk):
            note_no_answer(backend_for(cluster), "status", budget)  # gave up waiting: the breaker counts it
        record_cluster_silent(cluster, why)
        note_silence(cluster)
    return checked, silent


SILENCE_MARK = "not answering since"


def note_silence(cluster: Cluster) -> None:
    """Tell the cluster's live jobs that what they show is the last thing it said."""
    since = f"{cluster.last_seen_at:%Y-%m-%d %H:%M:%S} UTC" if cluster.last_seen_at else "it was registered"
    reason = f"Cluster {cluster.name} {SILENCE_MARK} {since}; the state shown is the last it reported."
    Job.objects.filter(cluster=cluster, state__in=[JobState.DISPATCHING, JobState.RUNNING]).exclude(
        state_reason=reason
    ).update(state_reason=reason, updated_at=timezone.now())


def clear_silence_reasons(cluster: Cluster) -> None:
    Job.objects.filter(
        cluster=cluster,
        state__in=[JobState.DISPATCHING, JobState.RUNNING],
        state_reason__contains=SILENCE_MARK,
    ).update(state_reason="", updated_at=timezone.now())


def watched_attempts(*, window_seconds: float) -> QuerySet[Attempt]:
    """Attempts worth polling closely: dispatched or cancelled within the window."""
    since = timezone.now() - timedelta(seconds=window_seconds)
    return (
        Attempt.objects.remote_active()
        .filter(Q(dispatched_at__gte=since) | Q(job__cancel_requested_at__gte=since))
        .select_related("job__cluster", "job__team")
        .order_by("dispatched_at")
    )


# A watch poll waits at most this long for the clusters; slower ones wait for the next poll.
WATCH_BUDGET_SECONDS = 1.0


def watch_recent(*, seconds: float, poll: float, window_seconds: float) -> int:
    """Poll every closely watched attempt for ``seconds``; returns how many checks ran.

    One loop serves all fresh attempts (the task holds a lock), so watching never takes
    more than one worker slot however many jobs were just dispatched; each poll asks all
    clusters at once, so a slow one does not slow the others' polls.
    """
    end = time.monotonic() + seconds
    last_logs: dict[Any, float] = {}
    checks = 0

    def due_for_logs(attempt: Attempt) -> bool:
        now = time.monotonic()
        if now - last_logs.get(attempt.pk, 0.0) >= LOG_EVERY_SECONDS:
            last_logs[attempt.pk] = now
            return True
        return False

    while True:
        attempts = list(watched_attempts(window_seconds=window_seconds))
        if attempts:
            done, _ = check_attempts(
                attempts, budget=max(WATCH_BUDGET_SECONDS, poll), fetch_logs=due_for_logs, count_silence=False
            )
            checks += done
            stop_overrunning([attempt for attempt in attempts if _overran(attempt)])
        if time.monotonic() >= end:
            return checks
        time.sleep(poll)


def _safe_stop(attempt: Attempt) -> None:
    try:
        backend_for(attempt.job.cluster).stop(attempt.remote_id)
    except BackendError as exc:
        log.info("jobs.stop_failed", attempt=str(attempt.pk), error=exc.message)


def _overran(attempt: Attempt) -> bool:
    """:func:`overrunning_attempts`' rule, on an attempt in memory (the watch loop's)."""
    since = attempt.started_at or attempt.dispatched_at
    limit = attempt.job.max_runtime_seconds
    return (
        attempt.state in ATTEMPT_REMOTE_STATES
        and limit is not None
        and since is not None
        and timezone.now() - since > timedelta(seconds=limit)
    )


def overrunning_attempts(*, now: datetime | None = None) -> QuerySet[Attempt]:
    """Attempts on their cluster for longer than their job's declared max runtime (counted
    from when the cluster started them, else from when they were sent).

    The deadline is compared here, not in SQL: SQLite (the embedded default) cannot multiply a
    duration, and the attempts that declare a max runtime and are on a cluster are few."""
    now = now or timezone.now()
    candidates = (
        Attempt.objects.remote_active()
        .filter(job__max_runtime_seconds__isnull=False)
        .values_list("pk", "started_at", "dispatched_at", "job__max_runtime_seconds")
    )
    late = [
        pk
        for pk, started, dispatched, limit in candidates
        if (started or dispatched) is not None and (started or dispatched) + timedelta(seconds=limit) < now
    ]
    return Attempt.objects.filter(pk__in=late).select_related("job__cluster", "job__team")


def stop_overrunning(attempts: Iterable[Attempt] | None = None) -> int:
    """Stop every attempt that ran past its job's max runtime and fail its job with that
    reason, without a retry (Kueue's maximumExecutionTimeSeconds): a job that declared an
    upper bound and overran it would overrun again. An attempt its cluster could not be told
    to stop stays as it is (it still holds its GPUs) until the next reconcile tries again.
    Returns how many were stopped."""
    stopped = 0
    for attempt in overrunning_attempts() if attempts is None else attempts:
        limit = describe_seconds(attempt.job.max_runtime_seconds or 0)
        try:
            backend_for(attempt.job.cluster).stop(attempt.remote_id)
        except BackendError as exc:
            log.info("jobs.overrun_stop_failed", attempt=str(attempt.pk), error=exc.message)
            continue
        _finish_attempt(attempt, AttemptState.FAILED, f"ran longer than its max runtime of {limit}", retry=False)
        log.info("jobs.max_runtime_exceeded", job=attempt.job_id, attempt=str(attempt.pk), limit=limit)
        stopped += 1
    return stopped


def reconcile(
    *, cluster_ids: Iterable[int] | None = None, stale_after_seconds: float | None = None, budget: float | None = None
) -> dict[str, int]:
    """Level-triggered: compare every active attempt with its cluster and repair drift.

    - attempts the backend knows: apply its state (and fetch logs), every cluster at once;
      the live jobs of a cluster that does not answer say since when;
    - admitted attempts never sent (a lost task message): send them again;
    - records when each cluster was last reconciled (the reconcile-lag metric).
    """
    budget = float(settings.PADDOCK_CLUSTER_BUDGET) if budget is None else budget
    attempts = Attempt.objects.remote_active().select_related("job__cluster", "job__team")
    if cluster_ids is not None:
        attempts = attempts.filter(job__cluster_id__in=list(cluster_ids))
    checked, silent = check_attempts(attempts, budget=budget)
    overrunning = overrunning_attempts().exclude(job__cluster_id__in=list(silent))
    if cluster_ids is not None:
        overrunning = overrunning.filter(job__cluster_id__in=list(cluster_ids))
    overran = stop_overrunning(overrunning)
    if stale_after_seconds is None:
        stale_after_seconds = float(settings.PADDOCK_REDISPATCH_AFTER)
    cutoff = timezone.now() - timedelta(seconds=stale_after_seconds)
    redispatched = 0
    for attempt_id in Attempt.objects.undispatched().filter(created_at__lt=cutoff).values_list("pk", flat=True):
        try_enqueue("jobs.dispatch_attempt", str(attempt_id))
        redispatched += 1
    # A final log read that failed (cluster briefly away) is retried until it succeeds.
    unfinished_logs = (
        Attempt.objects.filter(
            state__in=[AttemptState.SUCCEEDED, AttemptState.FAILED, AttemptState.STOPPED], log_complete=False
        )
        .exclude(job__cluster_id__in=list(silent))
        .select_related("job__cluster", "job__team")
    )
    if cluster_ids is not None:
        unfinished_logs = unfinished_logs.filter(job__cluster_id__in=list(cluster_ids))
    for attempt in unfinished_logs[:100]:
        refresh_logs(attempt, final=True)
    clusters = Cluster.objects.all() if cluster_ids is None else Cluster.objects.filter(pk__in=list(cluster_ids))
    clusters.update(last_reconciled_at=timezone.now())
    return {"checked": checked, "redispatched": redispatched, "silent_clusters": len(silent), "overran": overran}


# --- code packages ------------------------------------------------------------------------
def upload_package(*, actor: User, team: Team, data: bytes) -> tuple[CodePackage, bool]:
    """Keep a zip of a team's code; the same bytes again return the first package.

    Returns (package, created). Raises :class:`PackageError` when the upload is not a
    package Paddock keeps (not a zip, paths leaving the package, too big).
    """
    facts = inspect_package(
        data,
        max_bytes=settings.PADDOCK_PACKAGE_MAX_BYTES,
        max_files=settings.PADDOCK_PACKAGE_MAX_FILES,
        max_uncompressed_bytes=settings.PADDOCK_PACKAGE_MAX_UNCOMPRESSED_BYTES,
    )
    existing = CodePackage.objects.filter(team=team, sha256=facts.sha256).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            package = CodePackage.objects.create(
                team=team,
                sha256=facts.sha256,
                size_bytes=facts.size_bytes,
                file_count=facts.file_count,
                uncompressed_bytes=facts.uncompressed_bytes,
                content=data,
                created_by=actor,
            )
            audit.record(
                "jobs.package_uploaded",
                package,
                actor=actor,
                team_id=team.pk,
                sha256=facts.sha256,
                size=facts.size_bytes,
            )
    except IntegrityError:
        existing = CodePackage.objects.filter(team=team, sha256=facts.sha256).first()
        if existing is None:
            raise
        return existing, False
    log.info("jobs.package_uploaded", team=team.slug, sha256=facts.sha256, size=facts.size_bytes)
    return package, True


def package_problems(team: Team, runtime_env: dict[str, Any]) -> dict[str, Any]:
    """Field errors for each Paddock package the runtime_env names that ``team`` does not have
    (another team's package is as unknown as one never uploaded). One query, none without packages."""
    uris = package_uris(runtime_env)
    if not uris:
        return {}
    known = set(
        CodePackage.objects.filter(team=team, sha256__in=[package_sha256(uri) for uri in uris]).values_list(
            "sha256", flat=True
        )
    )

    def problem(uri: str) -> list[str]:
        return [
            f"Team {team.slug} has no package {uri}: upload it first "
            "(paddock submit --workdir, or POST /api/v1/packages/)."
        ]

    errors: dict[str, Any] = {}
    working_dir = runtime_env.get("working_dir")
    if is_package_uri(working_dir) and package_sha256(working_dir) not in known:
        errors["working_dir"] = problem(working_dir)
    modules = {
        str(index): problem(uri)
        for index, uri in enumerate(runtime_env.get("py_modules") or [])
        if is_package_uri(uri) and package_sha256(uri) not in known
    }
    if modules:
        errors["py_modules"] = modules
    return errors


def package_refs(job: Job) -> dict[str, PackageRef]:
    """The job's packages for the backend; their bytes are read only if the cluster asks."""
    return team_package_refs(job.team_id, job.runtime_env)


def team_package_refs(team_id: int, runtime_env: Any) -> dict[str, PackageRef]:
    """The packages of ``team_id`` a runtime_env names (a job's, an endpoint's), for a backend."""
    uris = package_uris(runtime_env) if isinstance(runtime_env, dict) else []
    if not uris:
        return {}
    rows = CodePackage.objects.filter(team_id=team_id, sha256__in=[package_sha256(uri) for uri in uris])
    return {
        package.uri: PackageRef(
            uri=package.uri,
            sha256=package.sha256,
            size_bytes=package.size_bytes,
            load=functools.partial(_package_content, package.pk),
        )
        for package in rows.only("pk", "sha256", "size_bytes")
    }


def job_package_content(job: Job, sha256: str) -> bytes | None:
    """The bytes of a code package the job's runtime_env names (its pods fetch it on clusters
    that cannot take an upload, Kubernetes); None for any other package, or one gone."""
    for ref in package_refs(job).values():
        if ref.sha256 == sha256:
            try:
                return ref.load()
            except BackendError:
                return None
    return None


def _package_content(package_id: int) -> bytes:
    content = CodePackage.objects.filter(pk=package_id).values_list("content", flat=True).first()
    if content is None:
        raise BackendError(f"package {package_id} is no longer stored", retryable=False)
    return bytes(content)


@dataclass(frozen=True)
class UsageProgress:
    """What one accrual pass recorded for one attempt (the costs ledger writes it)."""

    attempt_id: Any
    job_id: int
    until: datetime
    closed: bool
    amount: Decimal
    currency: str
    gpu_seconds: Decimal
    cpu_seconds: Decimal


def record_usage_progress(progress: list[UsageProgress]) -> None:
    """Move each attempt's usage cursor and add what was charged to its job's running totals,
    in a fixed number of statements (PostgreSQL) whatever the number of attempts."""
    if not progress:
        return
    per_job: dict[int, list[Any]] = {}
    for item in progress:
        totals = per_job.setdefault(item.job_id, [Decimal(0), "", Decimal(0), Decimal(0)])
        totals[0] += item.amount
        totals[1] = totals[1] or item.currency
        totals[2] += item.gpu_seconds
        totals[3] += item.cpu_seconds
    if connection.vendor != "postgresql":
        for item in progress:
            Attempt.objects.filter(pk=item.attempt_id).update(usage_until=item.until, usage_closed=item.closed)
        for job_id, (amount, currency, gpu, cpu) in per_job.items():
            Job.objects.filter(pk=job_id).update(
                cost=F("cost") + amount,
                gpu_seconds=F("gpu_seconds") + gpu,
                cpu_seconds=F("cpu_seconds") + cpu,
                cost_currency=Case(When(cost_currency="", then=Value(currency)), default=F("cost_currency")),
            )
        return
    copy_update(
        Attempt._meta.db_table,
        [("id", "uuid"), ("until", "timestamptz"), ("closed", "boolean")],
        ((item.attempt_id, item.until, item.closed) for item in progress),
        "usage_until = v.until, usage_closed = v.closed",
        "true",
        [],
    )
    job = Job._meta.db_table
    copy_update(
        job,
        [("id", "bigint"), ("amount", "numeric"), ("currency", "text"), ("gpu", "numeric"), ("cpu", "numeric")],
        ((job_id, *totals) for job_id, totals in per_job.items()),
        f"cost = {job}.cost + v.amount, gpu_seconds = {job}.gpu_seconds + v.gpu, "
        f"cpu_seconds = {job}.cpu_seconds + v.cpu, "
        f"cost_currency = CASE WHEN {job}.cost_currency = '' THEN v.currency ELSE {job}.cost_currency END",
        "true",
        [],
    )
