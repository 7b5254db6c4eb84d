"""The serving reconciler: level-triggered, one cluster per pass.

Each pass reads what Paddock wants (endpoints, their deployment jobs, revisions, traffic
shares and tokens), declares it to the cluster's model server through the dispatch port (one
``serve_apply``, which writes only what differs), and records what it observed: revision and
endpoint states, replicas, URL, rollouts finishing, failures and rollbacks. An application
deleted or changed behind Paddock's back is put back and the endpoint says so. A pass with
nothing changed writes nothing, to the cluster or the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.logging import get_logger
from apps.dispatch.port import BackendError, PackageRef, ServeApp, ServeAppStatus, ServeState
from apps.inventory.choices import ClusterKind
from apps.inventory.models import Cluster
from apps.inventory.services import backend_for
from apps.jobs import services as jobs
from apps.jobs.choices import HOLDING_STATES, JobState
from apps.serving import services, vllm_runtime
from apps.serving.choices import EndpointState, EventKind, RevisionState
from apps.serving.models import Endpoint, Revision

log = get_logger("serving")

OWNED_PREFIX = "paddock-"
INGRESS = "Ingress"
MODEL = "Model"
INGRESS_CONFIG = "ingress-config"  # the digest of what the ingress was last told, in Endpoint.applied
_HEALTHY_DEPLOYMENT = {"HEALTHY", "UPSCALING", "DOWNSCALING"}
_LIVE = [RevisionState.PENDING, RevisionState.DEPLOYING, RevisionState.READY]
STATS_TIMEOUT = (1.0, 3.0)
SICK = "failing its health checks: "
# Ray Serve's deployment message for any failed health check, whatever the replica raised.
SERVE_STOCK_HEALTH = "A replica's health check failed"


@dataclass
class Pass:
    """What one pass did (for the task's log line and the tests)."""

    endpoints: int = 0
    written: bool = False
    db_writes: int = 0
    follow_up: bool = False
    error: str = ""
    changed_apps: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoints": self.endpoints,
            "written": self.written,
            "db_writes": self.db_writes,
            "follow_up": self.follow_up,
            "error": self.error,
        }


def _set(obj: Any, run: Pass, **values: Any) -> bool:
    """Save only the fields that differ (a pass with nothing new writes nothing)."""
    changed = {name: value for name, value in values.items() if getattr(obj, name) != value}
    if not changed:
        return False
    for name, value in changed.items():
        setattr(obj, name, value)
    type(obj).objects.filter(pk=obj.pk).update(**changed)
    run.db_writes += 1
    return True


def _event(endpoint: Endpoint, run: Pass, kind: str, message: str) -> None:
    services.add_event(endpoint, kind, message)
    run.db_writes += 1


# --- what Paddock wants on the cluster ------------------------------------------------------
def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def serve_host_port(cluster: Cluster) -> tuple[str, int]:
    """Where the cluster's model server listens (the proxy binds ``PADDOCK_SERVE_HTTP_HOST``)."""
    return str(settings.PADDOCK_SERVE_HTTP_HOST), int(settings.PADDOCK_SERVE_HTTP_PORT)


def public_host(cluster: Cluster, bound: str) -> str:
    """The host clients use: the bound one, or the cluster's own when the proxy binds all."""
    if bound and bound not in ("0.0.0.0", "::"):  # noqa: S104  (a comparison, not a bind)
        return bound
    return urlsplit(cluster.address).hostname or "127.0.0.1"


def model_app(endpoint: Endpoint, revision: Revision, packages: dict[str, PackageRef]) -> ServeApp:
    """A revision's application: its model, with no HTTP route (only the ingress reaches it)."""
    options: dict[str, Any] = {"num_cpus": float(endpoint.cpus)}
    if endpoint.gpus:
        options["num_gpus"] = float(endpoint.gpus)
    if endpoint.memory_gb:
        options["memory"] = int(endpoint.memory_gb * 2**30)
    if endpoint.accelerator_model:
        options["resources"] = {f"accelerator_type:{endpoint.accelerator_model}": 0.001}
    deployment: dict[str, Any] = {
        "name": MODEL,
        "max_ongoing_requests": int(settings.PADDOCK_SERVE_MAX_ONGOING),
        "ray_actor_options": options,
        "health_check_period_s": float(settings.PADDOCK_SERVE_HEALTH_PERIOD),
        "health_check_timeout_s": float(settings.PADDOCK_SERVE_HEALTH_TIMEOUT),
    }
    # At most what the holding job covers (a larger max waits in the queue for its quota).
    maximum = min(endpoint.max_replicas, endpoint.replicas_held or endpoint.max_replicas)
    minimum = min(0 if endpoint.scale_to_zero else max(endpoint.min_replicas, 1), maximum)
    if minimum == maximum:
        deployment["num_replicas"] = maximum
    else:
        deployment["autoscaling_config"] = {
            "min_replicas": minimum,
            "max_replicas": maximum,
            "initial_replicas": max(minimum, 1),
            "target_ongoing_requests": float(endpoint.target_ongoing_requests),
        }
    runtime_env = dict(endpoint.runtime_env or {})
    client = jobs.client_package()
    packages[client.uri] = client
    runtime_env["py_modules"] = [*(runtime_env.get("py_modules") or []), client.uri]
    packages.update(jobs.team_package_refs(endpoint.team_id, endpoint.runtime_env))
    config = {"served_model_name": endpoint.name, **(revision.config or {})}
    return ServeApp(
        name=revision.app_name,
        import_path="paddock.serving.model:build",
        route_prefix=None,
        args={
            "source": {"uri": revision.model_uri, "base_uri": revision.base_uri, "entry_point": revision.entry_point},
            "config": config,
        },
        deployments=(deployment,),
        runtime_env=runtime_env,
        packages=dict(packages),
    )


def ingress_config(endpoint: Endpoint, revisions: list[Revision], token_hashes: list[str]) -> dict[str, Any]:
    """What the ingress is told (hashes only: Serve shows a user_config to its dashboard's readers)."""
    return {
        "model_name": endpoint.name,
        "owner": endpoint.team.slug,
        "token_hashes": sorted(token_hashes),
        "observer_hash": services.token_hash(services.observer_token(endpoint.pk)),
        "revisions": [
            {"id": r.pk, "app": r.app_name, "weight": int(r.traffic_percent)}
            for r in sorted(revisions, key=lambda r: r.pk)
        ],
    }


def ingress_app(endpoint: Endpoint, user_config: dict[str, Any], packages: dict[str, PackageRef]) -> ServeApp:
    client = jobs.client_package()
    packages[client.uri] = client
    return ServeApp(
        name=endpoint.app_name,
        import_path="paddock.serving.ingress:build",
        route_prefix=endpoint.route_prefix,
        args={},
        deployments=(
            {
                "name": INGRESS,
                "num_replicas": 1,
                "max_ongoing_requests": int(settings.PADDOCK_SERVE_INGRESS_MAX_ONGOING),
                "ray_actor_options": {"num_cpus": 0.0},
                "user_config": user_config,
            },
        ),
        runtime_env={"py_modules": [client.uri]},
        packages={client.uri: client},
    )


# --- one pass -------------------------------------------------------------------------------
def reconcile_cluster(cluster_id: int) -> Pass:
    run = Pass()
    cluster = Cluster.objects.filter(pk=cluster_id).first()
    if cluster is None:
        return run
    endpoints = list(
        Endpoint.objects.filter(cluster=cluster, deleted_at__isnull=True)
        .select_related("team", "job", "next_job", "cluster")
        .prefetch_related("revisions", "tokens")
    )
    run.endpoints = len(endpoints)
    desired: list[ServeApp] = []
    serving: list[tuple[Endpoint, list[Revision]]] = []
    kubernetes = cluster.kind == ClusterKind.KUBERNETES
    for endpoint in endpoints:
        revisions = _follow_job(endpoint, run)
        if revisions is None:
            continue
        hashes = [t.token_hash for t in endpoint.tokens.all() if t.revoked_at is None]
        packages: dict[str, PackageRef] = {}
        if kubernetes:  # vLLM in a Deployment per revision, behind the endpoint's Service
            allowed = [*hashes, services.token_hash(services.observer_token(endpoint.pk))]
            try:
                apps = [vllm_runtime.container_app(endpoint, revision, allowed) for revision in revisions]
            except ValueError as exc:
                _cannot_run(endpoint, f"It cannot run on Kubernetes: {exc}", run)
                continue
        else:
            apps = [model_app(endpoint, revision, packages) for revision in revisions]
        config = ingress_config(endpoint, revisions, hashes)
        digest = _digest(config)
        if digest != _applied(endpoint).get(INGRESS_CONFIG):
            generation = endpoint.generation + (1 if _applied(endpoint).get(INGRESS_CONFIG) else 0)
            _set(endpoint, run, generation=generation, applied={**_applied(endpoint), INGRESS_CONFIG: digest})
        if not kubernetes:
            desired.append(ingress_app(endpoint, {**config, "generation": endpoint.generation}, packages))
        desired.extend(apps)
        serving.append((endpoint, revisions))
    if not desired and not Endpoint.objects.filter(cluster=cluster).exists():
        return run  # Paddock never served here: nothing of ours to take down
    host, port = serve_host_port(cluster)
    try:
        result = backend_for(cluster).serve_apply(desired, owned_prefix=OWNED_PREFIX, http_host=host, http_port=port)
    except BackendError as exc:
        run.error = exc.message
        log.info("serving.apply_failed", cluster=cluster.name, error=exc.message)
        for endpoint, _ in serving:
            if endpoint.state in (EndpointState.PENDING, EndpointState.DEPLOYING):
                _set(endpoint, run, state=EndpointState.DEPLOYING, state_reason=f"{cluster.name}: {exc.message}")
        run.follow_up = exc.retryable
        return run
    run.written = result.written
    run.changed_apps = list(result.changed)
    writes_before = run.db_writes
    for endpoint, revisions in serving:
        _observe(endpoint, revisions, result.state, desired, result.changed, run)
    if run.db_writes > writes_before:  # what it saw may change what the cluster should run: look again
        run.follow_up = True
    if result.written:
        run.follow_up = True
    if any(e.state in (EndpointState.DEPLOYING, EndpointState.DEGRADED) for e, _ in serving):
        run.follow_up = True
    if any(r.traffic_percent == 0 and r.target_percent == 0 for _, revs in serving for r in revs):
        run.follow_up = True
    return run


def _cannot_run(endpoint: Endpoint, why: str, run: Pass) -> None:
    """The endpoint cannot be declared on its cluster at all: it fails and gives its quota back."""
    if endpoint.state == EndpointState.FAILED:
        return
    with transaction.atomic():
        if endpoint.job is not None:
            jobs.end_deployment(endpoint.job, failed=True, message=why)
            run.db_writes += 1
        _set(endpoint, run, state=EndpointState.FAILED, state_reason=why[:5000], replicas_running=0)
        _event(endpoint, run, EventKind.FAILED, why)


def _applied(endpoint: Endpoint) -> dict[str, Any]:
    return endpoint.applied if isinstance(endpoint.applied, dict) else {}


def _follow_job(endpoint: Endpoint, run: Pass) -> list[Revision] | None:
    """Follow the endpoint's deployment job; the live revisions to deploy when it holds its
    quota, else None (the endpoint waits, is stopped or failed, and has nothing on the cluster)."""
    if endpoint.stopped:
        _set(endpoint, run, applied={}, replicas_running=0)
        return None
    job = endpoint.job
    if job is None:
        _set(endpoint, run, state=EndpointState.FAILED, state_reason="It has no deployment job; start it again.")
        return None
    if job.state in (JobState.PENDING, JobState.PREEMPTED):
        was = endpoint.state
        if _set(
            endpoint, run, state=EndpointState.PENDING, state_reason=services.pending_reason(job), replicas_running=0
        ):
            if was in (EndpointState.READY, EndpointState.DEGRADED, EndpointState.DEPLOYING):
                _event(endpoint, run, EventKind.QUEUED, f"off the cluster and back in the queue: {job.state_reason}")
            elif was != EndpointState.PENDING:
                _event(endpoint, run, EventKind.QUEUED, services.pending_reason(job))
        _set(endpoint, run, applied={})
        return None
    if job.state not in HOLDING_STATES:
        if endpoint.state != EndpointState.FAILED:
            if job.state == JobState.CANCELLED:
                _set(
                    endpoint,
                    run,
                    state=EndpointState.STOPPED,
                    stopped=True,
                    state_reason=f"Its deployment job {job.pk} was cancelled: {job.state_reason}",
                )
                _event(endpoint, run, EventKind.STOPPED, f"its deployment job {job.pk} was cancelled")
            else:
                _set(endpoint, run, state=EndpointState.FAILED, state_reason=job.state_reason or f"job {job.state}")
        _set(endpoint, run, applied={}, replicas_running=0)
        return None
    if endpoint.replicas_held == 0:
        _set(endpoint, run, replicas_held=endpoint.max_replicas)
    waiting = endpoint.next_job
    if waiting is not None and waiting.state in HOLDING_STATES:
        # The larger hold is admitted: it takes over, and the smaller one is given back.
        with transaction.atomic():
            old = job
            Endpoint.objects.filter(pk=endpoint.pk).update(
                job=waiting, next_job=None, replicas_held=endpoint.max_replicas
            )
            endpoint.job, endpoint.next_job, endpoint.replicas_held = waiting, None, endpoint.max_replicas
            if old.state not in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED):
                jobs.cancel_job(actor=None, job=old)
            _event(endpoint, run, EventKind.SCALED, f"holds {endpoint.max_replicas} replicas now (job {waiting.pk})")
        run.db_writes += 1
    revisions = [r for r in endpoint.revisions.all() if r.state in _LIVE]
    for revision in revisions:
        if revision.state == RevisionState.PENDING:
            _set(revision, run, state=RevisionState.DEPLOYING)
    if endpoint.state == EndpointState.PENDING:
        _set(endpoint, run, state=EndpointState.DEPLOYING, state_reason="Its replicas are starting.")
        _event(endpoint, run, EventKind.DEPLOYING, f"admitted; deploying on {endpoint.cluster.name}")
    return revisions


# --- what the cluster says ------------------------------------------------------------------
def _observe(
    endpoint: Endpoint,
    revisions: list[Revision],
    state: ServeState,
    desired: list[ServeApp],
    changed: tuple[str, ...],
    run: Pass,
) -> None:
    kubernetes = endpoint.cluster.kind == ClusterKind.KUBERNETES
    if kubernetes:  # the endpoint's Service (it answers inside the cluster)
        service = state.apps.get(endpoint.app_name)
        _set(endpoint, run, url=service.url if service is not None and service.url else endpoint.url)
    else:
        host = public_host(endpoint.cluster, state.http_host or serve_host_port(endpoint.cluster)[0])
        port = state.http_port or serve_host_port(endpoint.cluster)[1]
        _set(endpoint, run, url=f"http://{host}:{port}{endpoint.route_prefix}")
    names = {endpoint.app_name, *(r.app_name for r in revisions)}
    wanted = {app.name: _digest(_app_shape(app)) for app in desired if app.name in names}
    applied = _applied(endpoint)
    # The backend had to write an app Paddock had not changed: it was removed or changed outside.
    restored = sorted(name for name in changed if name in wanted and applied.get(name) == wanted[name])
    if restored:
        _event(
            endpoint,
            run,
            EventKind.RESTORED,
            f"{', '.join(restored)} did not match on {endpoint.cluster.name} (removed or changed outside Paddock); "
            "deployed again as Paddock has it",
        )
    _set(endpoint, run, applied={INGRESS_CONFIG: applied.get(INGRESS_CONFIG), **wanted})
    now = timezone.now()
    fail_after = timedelta(seconds=float(settings.PADDOCK_ENDPOINT_FAIL_AFTER))
    fresh = {name: status for name, status in state.apps.items() if name not in changed}
    for name in names:  # watched closely until every app runs all the replicas it targets
        status = fresh.get(name)
        if (
            status is None
            or status.status != "RUNNING"
            or any(d.target_replicas is not None and d.running != d.target_replicas for d in status.deployments)
        ):
            run.follow_up = True
    for revision in revisions:
        _observe_revision(endpoint, revision, revisions, fresh.get(revision.app_name), now, fail_after, run)
    _retire_drained(endpoint, revisions, run, kubernetes=kubernetes)
    _endpoint_state(endpoint, revisions, fresh, now, fail_after, run)


def _app_shape(app: ServeApp) -> dict[str, Any]:
    """Everything Paddock declared for an app, to tell its own changes from others'."""
    shape = {
        "import_path": app.import_path,
        "route": app.route_prefix,
        "args": app.args,
        "deployments": list(app.deployments),
        "runtime_env": app.runtime_env,
    }
    if app.container is not None:
        shape["container"] = asdict(app.container)
    return shape


def _observe_revision(
    endpoint: Endpoint,
    revision: Revision,
    revisions: list[Revision],
    app: ServeAppStatus | None,
    now: Any,
    fail_after: timedelta,
    run: Pass,
) -> None:
    if app is None:
        return
    deployment = app.deployment(MODEL)
    # The deployment's message says why (the loader's exception); the app's only that it failed.
    message = ((deployment.message if deployment else "") or app.message).strip()
    others_serving = [
        r for r in revisions if r.pk != revision.pk and r.state == RevisionState.READY and r.traffic_percent > 0
    ]
    if app.status == "DEPLOY_FAILED" or (deployment is not None and deployment.status == "DEPLOY_FAILED"):
        _fail_revision(endpoint, revision, others_serving, f"failed to deploy: {message}", run)
        return
    healthy = app.status == "RUNNING" and deployment is not None and deployment.status in _HEALTHY_DEPLOYMENT
    unhealthy = app.status == "UNHEALTHY" or (deployment is not None and deployment.status == "UNHEALTHY")
    if healthy:
        _set(revision, run, unhealthy_since=None)
        if revision.state != RevisionState.READY:
            _set(revision, run, state=RevisionState.READY, ready_at=now, message="")
            _event(
                endpoint,
                run,
                EventKind.READY,
                f"revision {revision.number} is healthy ({deployment.running if deployment else 0} replicas)",
            )
        if revision.traffic_percent == 0 and revision.target_percent > 0:
            _shift_traffic(endpoint, revision, revisions, run)
    elif unhealthy and revision.state != RevisionState.DEPLOYING:
        since = revision.unhealthy_since or now
        message = _telling(message, revision.message.removeprefix(SICK) if revision.unhealthy_since else "")
        _set(revision, run, unhealthy_since=since, message=f"{SICK}{message}")
        if now - since >= fail_after:
            _fail_revision(
                endpoint,
                revision,
                others_serving,
                f"failed its health checks for {fail_after.seconds} s: {message}",
                run,
            )


def _telling(now: str, before: str) -> str:
    """What to say about a sick revision: Serve alternates between the replica's own exception
    and its stock sentence for any failed health check; once the exception was seen in this
    spell of sickness, the stock sentence does not replace it."""
    if before and now.startswith(SERVE_STOCK_HEALTH) and not before.startswith(SERVE_STOCK_HEALTH):
        return before
    return now


def _shift_traffic(endpoint: Endpoint, revision: Revision, revisions: list[Revision], run: Pass) -> None:
    """A healthy new revision takes its target share; the rest is the serving one's (a
    promotion to 100 % leaves the others none: they drain, then are retired)."""
    target = revision.target_percent
    serving = next(
        (
            r
            for r in sorted(revisions, key=lambda r: -r.traffic_percent)
            if r.pk != revision.pk and r.traffic_percent > 0
        ),
        None,
    )
    _set(revision, run, traffic_percent=target)
    if serving is None:
        return
    if target >= 100:
        for other in revisions:
            if other.pk != revision.pk and (other.traffic_percent or other.target_percent):
                _set(other, run, traffic_percent=0, target_percent=0)
        _event(
            endpoint,
            run,
            EventKind.PROMOTED,
            f"revision {revision.number} serves 100 %; revision {serving.number} drains",
        )
    else:
        _set(serving, run, traffic_percent=100 - target)
        _event(
            endpoint,
            run,
            EventKind.ROLLOUT,
            f"revision {revision.number} is healthy and takes {target} %; "
            f"revision {serving.number} keeps {100 - target} %",
        )


def _fail_revision(endpoint: Endpoint, revision: Revision, others_serving: list[Revision], why: str, run: Pass) -> None:
    if revision.state == RevisionState.FAILED:
        return
    now = timezone.now()
    _set(
        revision,
        run,
        state=RevisionState.FAILED,
        traffic_percent=0,
        target_percent=0,
        message=why[:5000],
        retired_at=now,
    )
    if others_serving:
        keeper = max(others_serving, key=lambda r: (r.traffic_percent, r.number))
        for other in others_serving:
            _set(other, run, traffic_percent=100 if other.pk == keeper.pk else 0)
        _event(
            endpoint,
            run,
            EventKind.ROLLED_BACK,
            f"revision {revision.number} {why}; rolled back on its own: revision {keeper.number} serves 100 %",
        )
        return
    # Nothing else can serve: the endpoint fails and gives its quota back (the job first, so
    # whoever sees the endpoint failed sees its quota free).
    message = f"Revision {revision.number} {why}"
    with transaction.atomic():
        if endpoint.job is not None:
            jobs.end_deployment(endpoint.job, failed=True, message=message)
            run.db_writes += 1
        _set(endpoint, run, state=EndpointState.FAILED, state_reason=message[:5000], replicas_running=0)
        _event(endpoint, run, EventKind.FAILED, message)


def _retire_drained(endpoint: Endpoint, revisions: list[Revision], run: Pass, *, kubernetes: bool = False) -> None:
    """A revision that lost its traffic is taken down once the ingress holds the config that
    sends it nothing (so no request can reach it after). On Kubernetes there is no ingress: it
    is taken down at once, and the Service stops sending it requests as its pods terminate."""
    draining = [r for r in revisions if r.state in _LIVE and r.traffic_percent == 0 and r.target_percent == 0]
    if not draining:
        return
    for revision in draining:
        if revision.drained_at_generation is None:
            _set(revision, run, drained_at_generation=endpoint.generation)
    held = endpoint.generation if kubernetes else ingress_generation(endpoint)
    for revision in draining:
        if held is not None and revision.drained_at_generation is not None and held >= revision.drained_at_generation:
            _set(revision, run, state=RevisionState.RETIRED, retired_at=timezone.now(), message="replaced; drained")


def ingress_generation(endpoint: Endpoint) -> int | None:
    """The config generation the endpoint's ingress holds now (None when it does not answer)."""
    stats = read_stats(endpoint, since=0.0)
    return int(stats["generation"]) if stats and isinstance(stats.get("generation"), int) else None


def read_stats(endpoint: Endpoint, *, since: float) -> dict[str, Any] | None:
    """The ingress's figures since ``since`` (its clock), read with Paddock's observer token."""
    if not endpoint.url:
        return None
    try:
        response = requests.get(
            f"{endpoint.url}/-/paddock/stats",
            params={"since": f"{since:.6f}"},
            headers={"Authorization": f"Bearer {services.observer_token(endpoint.pk)}"},
            timeout=STATS_TIMEOUT,
        )
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    try:
        reply = response.json()
    except ValueError:
        return None
    return reply if isinstance(reply, Mapping) else None  # type: ignore[return-value]


def _endpoint_state(
    endpoint: Endpoint,
    revisions: list[Revision],
    apps: Mapping[str, ServeAppStatus],
    now: Any,
    fail_after: timedelta,
    run: Pass,
) -> None:
    if endpoint.state == EndpointState.FAILED:
        return
    ingress = apps.get(endpoint.app_name)
    live = [r for r in revisions if r.state in _LIVE]
    serving = [r for r in live if r.traffic_percent > 0]
    running = 0
    was = endpoint.state
    if (
        not serving
        or not any(r.state == RevisionState.READY for r in serving)
        or ingress is None
        or ingress.status != "RUNNING"
    ):
        newest = max(live, key=lambda r: r.number) if live else None
        reason = f"Revision {newest.number} is starting its replicas." if newest else "Nothing to serve."
        if ingress is not None and ingress.status not in ("RUNNING", "DEPLOYING") and ingress.message:
            reason = f"The ingress is {ingress.status}: {ingress.message}"
        new_state = EndpointState.DEPLOYING if was != EndpointState.READY else EndpointState.DEGRADED
        _set(endpoint, run, state=new_state, state_reason=reason)
        return
    for revision in serving:
        deployment = apps[revision.app_name].deployment(MODEL) if revision.app_name in apps else None
        running += deployment.running if deployment is not None else 0
    sick = [r for r in serving if r.unhealthy_since is not None]
    if sick:
        first = min(r.unhealthy_since for r in sick)  # type: ignore[type-var]
        reason = f"Revision {sick[0].number} is {sick[0].message}; it fails after {fail_after.seconds} s of this"
        if _set(endpoint, run, state=EndpointState.DEGRADED, state_reason=reason[:5000], unhealthy_since=first):
            _event(endpoint, run, EventKind.DEGRADED, reason)
    else:
        canary = [r for r in live if r.traffic_percent == 0 and r.target_percent > 0]
        reason = f"Revision {canary[0].number} is deploying next to the serving one." if canary else ""
        waiting = endpoint.next_job
        if waiting is not None and waiting.state in (JobState.PENDING, JobState.PREEMPTED):
            reason = (
                f"Serving {endpoint.replicas_held} replicas at most; {endpoint.max_replicas} wait for quota: "
                f"{services.pending_reason(waiting)}"
            )
        if (
            _set(endpoint, run, state=EndpointState.READY, state_reason=reason, unhealthy_since=None)
            and was != EndpointState.READY
        ):
            _event(endpoint, run, EventKind.READY, f"ready at {endpoint.openai_base_url}")
    _set(endpoint, run, replicas_running=running)
