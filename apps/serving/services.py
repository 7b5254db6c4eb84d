"""Serving endpoints: every write and every rule (the API and the reconciler call these).

An endpoint holds its cluster's resources through a job of kind ``deployment``: it is queued,
admitted, placed and preempted like any job, and the endpoint says why while it waits, in the
queue's words. Revisions carry the model and its share of the traffic; the reconciler
(:mod:`apps.serving.reconcile`) puts them on the cluster.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone

from apps.checkpoints.models import ModelVersion
from apps.core import audit
from apps.core.errors import Conflict
from apps.core.logging import get_logger
from apps.core.tasks import enqueue_once
from apps.costs.accrual import ModelNames
from apps.costs.models import UsageRecord
from apps.costs.rates import RateCard
from apps.inventory.models import Cluster
from apps.jobs import services as jobs
from apps.jobs.choices import HOLDING_STATES, TERMINAL_STATES, JobKind
from apps.jobs.models import Job
from apps.quotas.models import PriorityClass
from apps.quotas.pools import pool_for
from apps.serving.choices import EndpointState, EventKind, RevisionState, Runtime
from apps.serving.models import DEFAULT_ENTRY_POINT, Endpoint, EndpointEvent, EndpointToken, HealthSample, Revision
from apps.tenancy.models import Team

log = get_logger("serving")

TOKEN_PREFIX = "pde_"
OBSERVER_PREFIX = "pdo_"
RECONCILE_QUEUED = "serving.reconcile.queued:{}"


class SourceError(Exception):
    """A model source the endpoint cannot serve; ``errors`` maps fields to messages (a 400)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(str(errors))
        self.errors = errors


@dataclass(frozen=True)
class Source:
    """Where a revision's replicas load the model from."""

    uri: str
    base_uri: str = ""
    entry_point: str = DEFAULT_ENTRY_POINT
    model_version: ModelVersion | None = None


@dataclass(frozen=True)
class EndpointRequest:
    """A validated endpoint (the API builds it; the service trusts its shape)."""

    team: Team
    name: str
    cluster: Cluster
    source: Source
    runtime: str = Runtime.RAY_SERVE
    cpus: float = 1.0
    gpus: float = 0.0
    accelerator_model: str = ""
    memory_gb: float = 0.0
    min_replicas: int = 1
    max_replicas: int = 1
    target_ongoing_requests: float = 2.0
    scale_to_zero: bool = False
    priority_class: PriorityClass | None = None
    runtime_env: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


# --- tokens -------------------------------------------------------------------------------
def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def observer_token(endpoint_id: int) -> str:
    """Paddock's own credential for one endpoint (its figures, the dashboard's "try it"):
    derived from the secret key, so nothing is stored; the ingress holds only its hash."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"paddock-serving-observer:{endpoint_id}".encode(), hashlib.sha256
    ).hexdigest()
    return f"{OBSERVER_PREFIX}{digest}"


def create_token(*, actor: User | None, endpoint: Endpoint, name: str = "default") -> tuple[EndpointToken, str]:
    """A new token for ``endpoint``; the token itself is returned once and never stored."""
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        row = EndpointToken.objects.create(
            endpoint=endpoint, name=name or "default", prefix="pending", token_hash=token_hash(secret), created_by=actor
        )
        token = f"{TOKEN_PREFIX}{row.pk}.{secret}"
        row.prefix, row.token_hash = token[:12], token_hash(token)
        row.save(update_fields=["prefix", "token_hash"])
        add_event(endpoint, EventKind.TOKEN, f"token {row.prefix}… ({row.name}) created", actor=actor)
        request_reconcile_on_commit(endpoint.cluster_id)
    return row, token


def revoke_token(*, actor: User | None, token: EndpointToken) -> EndpointToken:
    if token.revoked_at is not None:
        return token
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        add_event(token.endpoint, EventKind.TOKEN, f"token {token.prefix}… ({token.name}) revoked", actor=actor)
        audit.record("serving.token_revoked", token, actor=actor, team_id=token.endpoint.team_id)
        request_reconcile_on_commit(token.endpoint.cluster_id)
    return token


# --- sources ------------------------------------------------------------------------------
def resolve_source(
    team: Team, *, model_version: int | None, model_uri: str, entry_point: str, field_prefix: str = ""
) -> Source:
    """The model a revision serves: a registered version of the team's, or a path and an entry
    point. Raises :class:`SourceError` naming the field."""
    entry = (entry_point or "").strip() or DEFAULT_ENTRY_POINT
    module, _, attribute = entry.partition(":")
    if (
        not module
        or not attribute
        or not all(part.isidentifier() for part in [*module.split("."), *attribute.split(".")])
    ):
        raise SourceError(
            {f"{field_prefix}entry_point": [f"{entry!r} is not module:Class (e.g. {DEFAULT_ENTRY_POINT})."]}
        )
    if model_version is not None:
        if model_uri:
            raise SourceError({f"{field_prefix}model_uri": ["Give a model version or a model URI, not both."]})
        version = (
            ModelVersion.objects.select_related("model", "base_version", "checkpoint")
            .filter(pk=model_version, model__team=team)
            .first()
        )
        if version is None:
            raise SourceError(
                {f"{field_prefix}model_version": [f"Team {team.slug} has no model version {model_version}."]}
            )
        if version.stage == "archived":
            raise SourceError(
                {
                    f"{field_prefix}model_version": [
                        f"{version.model.name} v{version.version} is archived; promote it first."
                    ]
                }
            )
        base = version.base_version.uri if version.base_version is not None else version.base_uri
        source = Source(uri=version.uri, base_uri=base, entry_point=entry, model_version=version)
    else:
        uri = (model_uri or "").strip()
        if not uri:
            raise SourceError({f"{field_prefix}model_version": ["Give a registered model version, or a model_uri."]})
        source = Source(uri=uri, entry_point=entry)
    for name, value in (("model_uri", source.uri), ("model_uri", source.base_uri)):
        if value and "://" in value and not value.startswith("file://"):
            scheme = value.split("://", 1)[0]
            raise SourceError(
                {
                    f"{field_prefix}{name}": [
                        f"{value} is on {scheme} storage: replicas load a model from a path they can read (a local "
                        "or shared file system); serving from object storage is not supported yet."
                    ]
                }
            )
        if value and not value.removeprefix("file://").startswith("/"):
            raise SourceError({f"{field_prefix}{name}": [f"{value} is not an absolute path."]})
    return source


# --- events -------------------------------------------------------------------------------
def add_event(endpoint: Endpoint, kind: str, message: str = "", *, actor: User | None = None) -> EndpointEvent:
    return EndpointEvent.objects.create(
        endpoint=endpoint, kind=kind, message=message[:5000], actor=actor if isinstance(actor, User) else None
    )


def request_reconcile(cluster_id: int, *, countdown: float | None = None) -> bool:
    """Ask for a reconcile pass of one cluster's endpoints; at most one is ever queued."""
    return enqueue_once(
        "serving.reconcile", cluster_id, key=RECONCILE_QUEUED.format(cluster_id), ttl=30, countdown=countdown
    )


def request_reconcile_on_commit(cluster_id: int) -> None:
    transaction.on_commit(lambda: request_reconcile(cluster_id))


# --- the deployment job -------------------------------------------------------------------
def deployment_request(endpoint: Endpoint) -> jobs.JobRequest:
    """The job that holds what the endpoint may use at most: ``max_replicas`` replicas."""
    replicas = endpoint.max_replicas
    gpus = endpoint.gpus * replicas
    pool = pool_for(endpoint.cluster_id, gpus, endpoint.accelerator_model)
    priority_class = endpoint.priority_class
    return jobs.JobRequest(
        name=f"endpoint {endpoint.team.slug}/{endpoint.name}",
        team=endpoint.team,
        cluster=endpoint.cluster,
        kind=JobKind.DEPLOYMENT,
        entrypoint=f"serve endpoint {endpoint.team.slug}/{endpoint.name} ({replicas} replicas at most)",
        runtime_env={},
        cpus=endpoint.cpus * replicas,
        gpus=gpus,
        accelerator_model=endpoint.accelerator_model,
        memory_gb=endpoint.memory_gb * replicas,
        max_retries=0,
        priority=priority_class.value if priority_class else 0,
        priority_class=priority_class,
        pool=pool,
    )


def _submit_deployment(endpoint: Endpoint, actor: User | None) -> Job:
    submitter = actor or endpoint.created_by
    if submitter is None:  # the creator is gone: the team's oldest owner submits for it
        submitter = User.objects.filter(is_superuser=True).order_by("pk").first()
    job, _ = jobs.submit_job(actor=submitter, request=deployment_request(endpoint))  # type: ignore[arg-type]
    endpoint.job = job
    endpoint.replicas_held = 0  # set when it is admitted
    if endpoint.pk:
        Endpoint.objects.filter(pk=endpoint.pk).update(replicas_held=0)
    return job


# --- create, change, stop, delete ---------------------------------------------------------
def create_endpoint(*, actor: User, request: EndpointRequest) -> tuple[Endpoint, EndpointToken, str]:
    """Record the endpoint, its first revision and a token, and queue its deployment job."""
    if Endpoint.objects.filter(team=request.team, name=request.name, deleted_at__isnull=True).exists():
        raise SourceError({"name": [f"Team {request.team.slug} already has an endpoint named {request.name}."]})
    with transaction.atomic():
        endpoint = Endpoint.objects.create(
            team=request.team,
            name=request.name,
            cluster=request.cluster,
            runtime=request.runtime,
            cpus=request.cpus,
            gpus=request.gpus,
            accelerator_model=request.accelerator_model,
            memory_gb=request.memory_gb,
            min_replicas=request.min_replicas,
            max_replicas=request.max_replicas,
            target_ongoing_requests=request.target_ongoing_requests,
            scale_to_zero=request.scale_to_zero,
            priority_class=request.priority_class,
            runtime_env=request.runtime_env,
            created_by=actor,
            state_reason="Waiting for its deployment job to be admitted.",
        )
        _new_revision(endpoint, request.source, request.config, percent=100, actor=actor, first=True)
        token, secret = create_token(actor=actor, endpoint=endpoint)
        _submit_deployment(endpoint, actor)
        endpoint.save(update_fields=["job"])
        add_event(
            endpoint, EventKind.CREATED, f"created on {endpoint.cluster.name} by {actor.get_username()}", actor=actor
        )
        audit.record("serving.endpoint_created", endpoint, actor=actor, team_id=endpoint.team_id)
        request_reconcile_on_commit(endpoint.cluster_id)
    log.info("serving.created", endpoint=endpoint.pk, team=endpoint.team.slug)
    return endpoint, token, secret


def _new_revision(
    endpoint: Endpoint, source: Source, config: dict[str, Any], *, percent: int, actor: User | None, first: bool = False
) -> Revision:
    number = (endpoint.revisions.aggregate(top=Max("number"))["top"] or 0) + 1
    return Revision.objects.create(
        endpoint=endpoint,
        number=number,
        model_version=source.model_version,
        model_uri=source.uri,
        base_uri=source.base_uri,
        entry_point=source.entry_point,
        config=dict(config),
        target_percent=percent,
        traffic_percent=100 if first else 0,  # a first revision has nothing to share with
        state=RevisionState.PENDING,
        created_by=actor,
    )


def _live(endpoint: Endpoint) -> None:
    if endpoint.deleted_at is not None:
        raise Conflict(f"Endpoint {endpoint} was deleted.")


def update_endpoint(*, actor: User, endpoint: Endpoint, changes: dict[str, Any]) -> Endpoint:
    """Change replicas and autoscaling. A larger ``max_replicas`` holds more quota: the
    deployment job is queued again at the new size (the endpoint keeps serving meanwhile only
    when the job is admitted at once)."""
    _live(endpoint)
    allowed = {"min_replicas", "max_replicas", "target_ongoing_requests", "scale_to_zero"}
    changed = {name: value for name, value in changes.items() if name in allowed and getattr(endpoint, name) != value}
    if not changed:
        return endpoint
    minimum = changed.get("min_replicas", endpoint.min_replicas)
    maximum = changed.get("max_replicas", endpoint.max_replicas)
    if minimum > maximum:
        raise SourceError({"min_replicas": [f"min_replicas ({minimum}) is more than max_replicas ({maximum})."]})
    if minimum == 0 and not changed.get("scale_to_zero", endpoint.scale_to_zero):
        raise SourceError({"min_replicas": ["0 replicas needs scale_to_zero."]})
    with transaction.atomic():
        old_max = endpoint.max_replicas
        for name, value in changed.items():
            setattr(endpoint, name, value)
        endpoint.save(update_fields=[*changed, "updated_at"])
        words = ", ".join(f"{name} {value}" for name, value in changed.items())
        add_event(endpoint, EventKind.SCALED, f"{words} (by {actor.get_username()})", actor=actor)
        audit.record("serving.endpoint_scaled", endpoint, actor=actor, team_id=endpoint.team_id, **changed)
        if endpoint.max_replicas != old_max and not endpoint.stopped:
            _resize_job(endpoint, actor)
        request_reconcile_on_commit(endpoint.cluster_id)
    return endpoint


def _resize_job(endpoint: Endpoint, actor: User) -> None:
    """The deployment job holds max_replicas' worth. Smaller: the hold shrinks in place (the
    scheduler counts it at its new size on its next pass). Larger: a new job waits in the queue
    for the difference while the current one keeps serving at its size; admitted, it takes over."""
    old = endpoint.job
    waiting = endpoint.next_job
    if waiting is not None and waiting.state not in TERMINAL_STATES:
        jobs.cancel_job(actor=actor, job=waiting)
    endpoint.next_job = None
    request = deployment_request(endpoint)
    if old is not None and old.state in HOLDING_STATES and endpoint.max_replicas <= endpoint.replicas_held:
        Job.objects.filter(pk=old.pk).update(cpus=request.cpus, gpus=request.gpus, memory_gb=request.memory_gb)
        endpoint.replicas_held = endpoint.max_replicas
        jobs.add_event(old, "admitted", f"holds {endpoint.max_replicas} replicas now (scaled down)")
        endpoint.save(update_fields=["next_job", "replicas_held"])
        return
    if old is None or old.state not in HOLDING_STATES:  # not serving yet: the queued job is simply replaced
        if old is not None and old.state not in TERMINAL_STATES:
            jobs.cancel_job(actor=actor, job=old)
        _submit_deployment(endpoint, actor)
        endpoint.save(update_fields=["job", "next_job"])
        return
    job, _ = jobs.submit_job(actor=actor, request=request)
    endpoint.next_job = job
    endpoint.save(update_fields=["next_job"])


def stop_endpoint(*, actor: User, endpoint: Endpoint) -> Endpoint:
    """Take the endpoint off its cluster and give back what it holds; its revisions and
    tokens stay, to start again."""
    _live(endpoint)
    if endpoint.stopped:
        return endpoint
    with transaction.atomic():
        endpoint.stopped = True
        endpoint.state = EndpointState.STOPPED
        endpoint.state_reason = f"Stopped by {actor.get_username()}."
        endpoint.replicas_running = 0
        endpoint.save(update_fields=["stopped", "state", "state_reason", "replicas_running", "updated_at"])
        _cancel_jobs(endpoint, actor)
        add_event(endpoint, EventKind.STOPPED, f"stopped by {actor.get_username()}", actor=actor)
        audit.record("serving.endpoint_stopped", endpoint, actor=actor, team_id=endpoint.team_id)
        request_reconcile_on_commit(endpoint.cluster_id)
    return endpoint


def start_endpoint(*, actor: User, endpoint: Endpoint) -> Endpoint:
    """Queue a stopped or failed endpoint again (a new deployment job)."""
    _live(endpoint)
    job = endpoint.job
    if (
        not endpoint.stopped
        and endpoint.state != EndpointState.FAILED
        and job is not None
        and job.state not in TERMINAL_STATES
    ):
        raise Conflict(f"Endpoint {endpoint} is {endpoint.state}; only a stopped or failed endpoint can be started.")
    with transaction.atomic():
        serving = _serving_revision(endpoint)
        if serving is None:
            latest = endpoint.revisions.order_by("-number").first()
            if latest is None:
                raise Conflict(f"Endpoint {endpoint} has no revision to serve; create one first.")
            serving = latest
        for revision in endpoint.revisions.exclude(pk=serving.pk).filter(state__in=_NOT_DONE):
            _retire(revision, "replaced when the endpoint was started again")
        Revision.objects.filter(pk=serving.pk).update(
            state=RevisionState.PENDING, traffic_percent=100, target_percent=100, message="", unhealthy_since=None
        )
        endpoint.stopped = False
        endpoint.state = EndpointState.PENDING
        endpoint.state_reason = "Waiting for its deployment job to be admitted."
        endpoint.unhealthy_since = None
        _submit_deployment(endpoint, actor)
        endpoint.save(update_fields=["stopped", "state", "state_reason", "unhealthy_since", "job", "updated_at"])
        add_event(endpoint, EventKind.STARTED, f"started by {actor.get_username()}", actor=actor)
        request_reconcile_on_commit(endpoint.cluster_id)
    return endpoint


_NOT_DONE = [RevisionState.PENDING, RevisionState.DEPLOYING, RevisionState.READY]


def _cancel_jobs(endpoint: Endpoint, actor: User) -> None:
    for job in (endpoint.job, endpoint.next_job):
        if job is not None and job.state not in TERMINAL_STATES:
            jobs.cancel_job(actor=actor, job=job)
    if endpoint.next_job_id:
        endpoint.next_job = None
        endpoint.save(update_fields=["next_job"])


def delete_endpoint(*, actor: User, endpoint: Endpoint) -> None:
    """Take it off the cluster, give back its quota and forget its name (its history stays
    for costs and lineage)."""
    _live(endpoint)
    with transaction.atomic():
        _cancel_jobs(endpoint, actor)
        now = timezone.now()
        endpoint.deleted_at = now
        endpoint.stopped = True
        endpoint.state = EndpointState.STOPPED
        endpoint.state_reason = f"Deleted by {actor.get_username()}."
        endpoint.replicas_running = 0
        endpoint.save(
            update_fields=["deleted_at", "stopped", "state", "state_reason", "replicas_running", "updated_at"]
        )
        endpoint.tokens.filter(revoked_at__isnull=True).update(revoked_at=now)
        for revision in endpoint.revisions.filter(state__in=_NOT_DONE):
            _retire(revision, "the endpoint was deleted")
        add_event(endpoint, EventKind.DELETED, f"deleted by {actor.get_username()}", actor=actor)
        audit.record("serving.endpoint_deleted", endpoint, actor=actor, team_id=endpoint.team_id)
        request_reconcile_on_commit(endpoint.cluster_id)


# --- rollouts -----------------------------------------------------------------------------
def _serving_revision(endpoint: Endpoint) -> Revision | None:
    """The revision that carries the traffic now (the most, then the newest)."""
    return (
        endpoint.revisions.filter(state__in=_NOT_DONE, traffic_percent__gt=0)
        .order_by("-traffic_percent", "-number")
        .first()
    )


def _retire(revision: Revision, why: str) -> None:
    Revision.objects.filter(pk=revision.pk).update(
        state=RevisionState.RETIRED, traffic_percent=0, retired_at=timezone.now(), message=why
    )


def create_revision(
    *, actor: User, endpoint: Endpoint, source: Source, config: dict[str, Any], percent: int
) -> Revision:
    """A new revision next to the serving one: it gets ``percent`` of the traffic once it is
    healthy (100: it replaces the serving one then). Until then the serving one keeps it all;
    one that fails is rolled back on its own."""
    _live(endpoint)
    if not 1 <= percent <= 100:
        raise SourceError({"traffic_percent": ["Between 1 and 100."]})
    with transaction.atomic():
        Endpoint.objects.select_for_update().filter(pk=endpoint.pk).first()
        rolling = endpoint.revisions.filter(state__in=_NOT_DONE, traffic_percent=0, target_percent__gt=0)
        if rolling.exists():
            number = rolling.first().number  # type: ignore[union-attr]
            raise Conflict(f"Revision {number} of {endpoint} is still rolling out; promote or roll it back first.")
        serving = _serving_revision(endpoint)
        revision = _new_revision(endpoint, source, config, percent=percent, actor=actor, first=serving is None)
        what = (
            f"canary at {percent} %"
            if percent < 100 and serving is not None
            else "replaces the serving revision once healthy"
        )
        add_event(endpoint, EventKind.ROLLOUT, f"revision {revision.number} ({_describe(source)}): {what}", actor=actor)
        audit.record("serving.revision_created", revision, actor=actor, team_id=endpoint.team_id, percent=percent)
        request_reconcile_on_commit(endpoint.cluster_id)
    return revision


def promote_revision(*, actor: User, revision: Revision) -> Revision:
    """Give ``revision`` all the traffic (now when it is ready, else once it is)."""
    endpoint = revision.endpoint
    _live(endpoint)
    if revision.state not in _NOT_DONE:
        raise Conflict(f"Revision {revision.number} is {revision.state}; only a live revision can be promoted.")
    with transaction.atomic():
        Revision.objects.filter(pk=revision.pk).update(target_percent=100)
        if revision.state == RevisionState.READY:
            _set_traffic(endpoint, {revision.pk: 100})
        add_event(endpoint, EventKind.PROMOTED, f"revision {revision.number} takes 100 % of the traffic", actor=actor)
        audit.record("serving.revision_promoted", revision, actor=actor, team_id=endpoint.team_id)
        request_reconcile_on_commit(endpoint.cluster_id)
    revision.refresh_from_db()
    return revision


def rollback(*, actor: User | None, endpoint: Endpoint, why: str = "") -> Revision:
    """The newest live revision is retired; the one before it takes all the traffic."""
    _live(endpoint)
    live = list(endpoint.revisions.filter(state__in=_NOT_DONE).order_by("-number"))
    if len(live) < 2:
        previous = (
            endpoint.revisions.filter(state=RevisionState.RETIRED, number__lt=live[0].number)
            .order_by("-number")
            .first()
            if live
            else None
        )
        if not live or previous is None:
            raise Conflict(f"Endpoint {endpoint} has no earlier revision to roll back to.")
        live.append(previous)
    newest, previous = live[0], live[1]
    with transaction.atomic():
        if previous.state == RevisionState.RETIRED:  # brought back: deployed again, takes over once healthy
            Revision.objects.filter(pk=previous.pk).update(
                state=RevisionState.PENDING, target_percent=100, retired_at=None, message="brought back by a rollback"
            )
            Revision.objects.filter(pk=newest.pk).update(target_percent=100)
        else:
            _set_traffic(endpoint, {previous.pk: 100})
            Revision.objects.filter(pk=previous.pk).update(target_percent=100)
            _retire(newest, why or f"rolled back by {actor.get_username() if actor else 'Paddock'}")
        who = actor.get_username() if actor else "Paddock"
        add_event(
            endpoint,
            EventKind.ROLLED_BACK,
            f"revision {newest.number} rolled back by {who}; revision {previous.number} serves"
            + (f" ({why})" if why else ""),
            actor=actor,
        )
        request_reconcile_on_commit(endpoint.cluster_id)
    previous.refresh_from_db()
    return previous


def _set_traffic(endpoint: Endpoint, shares: dict[int, int]) -> None:
    """Exactly these shares (every other live revision gets none and is retired once drained)."""
    for revision in endpoint.revisions.filter(state__in=_NOT_DONE):
        share = shares.get(revision.pk, 0)
        if revision.traffic_percent != share or (not share and revision.target_percent):
            Revision.objects.filter(pk=revision.pk).update(
                traffic_percent=share,
                target_percent=share or 0,  # none: it drains, then is retired
            )


def _describe(source: Source) -> str:
    if source.model_version is not None:
        return f"{source.model_version.model.name} v{source.model_version.version}"
    return source.uri


# --- reading ------------------------------------------------------------------------------
def held(endpoint: Endpoint) -> tuple[float, float]:
    """(GPUs, CPUs) its deployment job holds in quota now."""
    job = endpoint.job
    if job is None or job.state not in HOLDING_STATES:
        return 0.0, 0.0
    return job.gpus, job.cpus


@dataclass(frozen=True)
class Cost:
    currency: str
    so_far: Decimal
    replica_hours: float
    price_per_replica_hour: Decimal | None
    per_1k_requests: Decimal | None
    per_1k_tokens: Decimal | None
    priced: bool
    note: str = ""


CENT = Decimal("0.01")
FINE = Decimal("0.000001")


def costs(endpoints: list[Endpoint]) -> dict[int, Cost]:
    """What each endpoint has cost so far: the usage ledger's lines for it (what its deployment
    jobs held — max_replicas × each replica's GPUs, or CPUs — at its cluster's price), and per
    replica-hour now, per 1,000 requests and per 1,000 generated tokens (from the health
    samples). A fixed number of queries for any number of endpoints."""
    ids = [e.pk for e in endpoints]
    totals = {
        row["endpoint_id"]: row
        for row in HealthSample.objects.filter(endpoint_id__in=ids)
        .values("endpoint_id")
        .annotate(requests=Sum("requests"), tokens=Sum("completion_tokens"))
    }
    replica_seconds: dict[int, float] = {}
    for endpoint_id, replicas, seconds in HealthSample.objects.filter(endpoint_id__in=ids, replicas__gt=0).values_list(
        "endpoint_id", "replicas", "seconds"
    ):
        replica_seconds[endpoint_id] = replica_seconds.get(endpoint_id, 0.0) + replicas * seconds
    spent: dict[int, tuple[Decimal, str]] = {}
    for endpoint_id, currency, amount in (  # type: ignore[assignment]  # (endpoint_id is int here)
        UsageRecord.objects.filter(endpoint_id__in=ids)
        .values("endpoint_id", "currency")
        .annotate(amount=Sum("amount"))
        .order_by("-amount")
        .values_list("endpoint_id", "currency", "amount")
    ):
        spent.setdefault(endpoint_id, (amount, currency))  # one currency per cluster: its largest
    card = RateCard.load() if endpoints else None
    names = ModelNames()
    now = timezone.now()
    answer: dict[int, Cost] = {}
    for endpoint in endpoints:
        hours = replica_seconds.get(endpoint.pk, 0.0) / 3600.0
        row: Any = totals.get(endpoint.pk) or {}
        gpus = endpoint.gpus > 0
        model_id = names.price_key(endpoint.gpus, None, endpoint.accelerator_model)
        rate = card.rate(endpoint.cluster_id, model_id, now) if card is not None else None
        so_far, currency = spent.get(endpoint.pk, (Decimal(0), rate.currency if rate else "USD"))
        so_far = so_far.quantize(CENT)
        per_hour = (rate.rate * Decimal(str(endpoint.gpus if gpus else endpoint.cpus))).quantize(FINE) if rate else None
        requests = int(row.get("requests") or 0)
        tokens = int(row.get("tokens") or 0)
        if rate is not None:
            note = f"{rate.offer} ({rate.pricing_class}); charged for what its deployment job holds"
        else:
            what = f"{endpoint.accelerator_model or 'an unnamed accelerator'}" if gpus else "CPU-hours"
            note = f"No price for {what} on this cluster: add one (price points or CPU prices)."
        answer[endpoint.pk] = Cost(
            currency=currency or "USD",
            so_far=so_far,
            replica_hours=hours,
            price_per_replica_hour=per_hour,
            per_1k_requests=(so_far * 1000 / requests).quantize(FINE) if requests and so_far else None,
            per_1k_tokens=(so_far * 1000 / tokens).quantize(FINE) if tokens and so_far else None,
            priced=rate is not None or so_far > 0,
            note=note,
        )
    return answer


def pending_reason(job: Job | None) -> str:
    """Why an endpoint waits, in the queue's own words."""
    if job is None:
        return "It has no deployment job."
    return job.state_reason or "Waiting in the queue for its quota."


def metric_points(endpoint: Endpoint, *, start: Any, end: Any, max_points: int = 500) -> list[dict[str, Any]]:
    """Health samples between ``start`` and ``end``, merged into at most ``max_points`` points."""
    samples = list(endpoint.samples.filter(at__gte=start, at__lte=end).order_by("at"))
    if not samples:
        return []
    size = max(1, -(-len(samples) // max_points))
    points = []
    for index in range(0, len(samples), size):
        group = samples[index : index + size]
        seconds = sum(s.seconds for s in group)
        requests = sum(s.requests for s in group)
        errors = sum(s.errors for s in group)
        tokens = sum(s.completion_tokens for s in group)
        weighted = [s for s in group if s.requests and s.p50_ms is not None]

        def mean(name: str, rows: list[HealthSample] = weighted) -> float | None:
            total = sum(r.requests for r in rows)
            return sum(getattr(r, name) * r.requests for r in rows) / total if total else None

        points.append(
            {
                "at": group[-1].at,
                "requests_per_s": requests / seconds if seconds else 0.0,
                "tokens_per_s": tokens / seconds if seconds else 0.0,
                "error_rate": errors / requests if requests else 0.0,
                "p50_ms": mean("p50_ms"),
                "p95_ms": max((r.p95_ms for r in weighted if r.p95_ms is not None), default=None),
                "p99_ms": max((r.p99_ms for r in weighted if r.p99_ms is not None), default=None),
                "replicas": group[-1].replicas,
            }
        )
    return points
