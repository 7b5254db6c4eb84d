"""Checkpoint and model-registry use cases. Every write to this app's tables happens here.

A running job reports through its job token (``api/reports.py``); users and operators read,
promote and archive through the API and the admin. Storage calls never run inside a database
transaction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, F, FloatField, Max, Min
from django.db.models.functions import Cast, Floor
from django.utils import timezone

from apps.checkpoints import storage as stores
from apps.checkpoints.choices import (
    DEFAULT_BEST_METRIC,
    DEFAULT_KEEP_BEST,
    DEFAULT_KEEP_LATEST,
    BestMode,
    CheckpointState,
    Stage,
)
from apps.checkpoints.models import (
    Checkpoint,
    CheckpointRead,
    JobLineage,
    MetricPoint,
    Model,
    ModelVersion,
    TeamCheckpointSettings,
)
from apps.core import audit
from apps.core.errors import Conflict
from apps.core.logging import get_logger
from apps.core.tasks import enqueue_on_commit
from apps.inventory.choices import StoragePurpose
from apps.inventory.models import StorageBackend
from apps.jobs.choices import ATTEMPT_ACTIVE_STATES
from apps.jobs.models import Attempt, Job
from apps.tenancy.models import Team

log = get_logger("checkpoints")

METRIC_NAME = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
MAX_POINTS_PER_REPORT = 1000
MAX_NAMES_PER_POINT = 64
MAX_CHECKPOINT_METRICS = 64
MAX_STEP = 2**62


class ReportError(Exception):
    """A report a job sent is wrong: ``errors`` are field errors (a 400); ``forbidden`` means
    it named something its token may not touch (a 403)."""

    def __init__(self, errors: Mapping[str, Any], *, forbidden: bool = False) -> None:
        super().__init__(str(dict(errors)))
        self.errors = dict(errors)
        self.forbidden = forbidden


# --- where a team's checkpoints go -----------------------------------------------------------
@dataclass(frozen=True)
class Retention:
    keep_latest: int
    keep_best: int
    best_metric: str
    best_mode: str

    def describe(self) -> str:
        best = f", the best {self.keep_best} by {self.best_metric} ({self.best_mode})" if self.keep_best else ""
        return f"the latest {self.keep_latest}{best}, and every one a model version uses"


def team_settings(team: Team) -> TeamCheckpointSettings | None:
    return TeamCheckpointSettings.objects.select_related("storage").filter(team=team).first()


def checkpoint_storage(team: Team, settings_row: TeamCheckpointSettings | None = None) -> StorageBackend | None:
    """The team's checkpoint storage: its own setting, else its organisation's first storage
    for checkpoints (by name)."""
    row = settings_row if settings_row is not None else team_settings(team)
    if row is not None and row.storage is not None:
        return row.storage
    return (
        StorageBackend.objects.filter(organisation_id=team.organisation_id, purpose=StoragePurpose.CHECKPOINTS)
        .order_by("name")
        .first()
    )


def retention_for(job: Job, settings_row: TeamCheckpointSettings | None = None) -> Retention:
    """The job's own policy over its team's defaults; at least the latest one is always kept."""
    policy = job.checkpoint_policy if isinstance(job.checkpoint_policy, dict) else {}
    row = settings_row if settings_row is not None else team_settings(job.team)
    defaults = Retention(
        keep_latest=row.keep_latest if row else DEFAULT_KEEP_LATEST,
        keep_best=row.keep_best if row else DEFAULT_KEEP_BEST,
        best_metric=row.best_metric if row else DEFAULT_BEST_METRIC,
        best_mode=row.best_mode if row else BestMode.MIN,
    )

    def pick(name: str, default: Any) -> Any:
        value = policy.get(name)
        return default if value is None else value

    return Retention(
        keep_latest=max(int(pick("keep_latest", defaults.keep_latest)), 1),
        keep_best=max(int(pick("keep_best", defaults.keep_best)), 0),
        best_metric=str(pick("best_metric", defaults.best_metric)),
        best_mode=str(pick("best_mode", defaults.best_mode)),
    )


def job_prefix(job: Job, storage: StorageBackend | None = None) -> tuple[StorageBackend, str] | None:
    storage = storage or checkpoint_storage(job.team)
    if storage is None:
        return None
    return storage, stores.job_prefix(storage, job.team.slug, job.pk)


# --- what an attempt is told -----------------------------------------------------------------
def latest_complete(job_id: int) -> Checkpoint | None:
    return Checkpoint.objects.filter(job_id=job_id, state=CheckpointState.COMPLETE).order_by("-step", "-id").first()


def attempt_environment(attempt: Attempt, *, memo: dict[Any, Any] | None = None) -> dict[str, str]:
    """``PADDOCK_CHECKPOINT_URI`` for the attempt and, when an earlier attempt left a complete
    checkpoint, ``PADDOCK_RESUME_FROM`` / ``PADDOCK_RESUME_STEP``; the checkpoint is then kept
    from retention for as long as this attempt lives. ``memo`` (shared by one dispatch batch)
    keeps each team's storage root: a scheduler pass sending thousands of first attempts looks
    it up once a team, and reads no checkpoint for a first attempt."""
    job = attempt.job
    env: dict[str, str] = {}
    memo = {} if memo is None else memo
    if "checkpoints.roots" not in memo:
        memo["checkpoints.roots"] = _storage_roots()
    by_team, by_organisation = memo["checkpoints.roots"]
    root = by_team.get(job.team_id) or by_organisation.get(job.team.organisation_id)
    if root is not None:
        env["PADDOCK_CHECKPOINT_URI"] = stores.job_prefix_at(root, job.team.slug, job.pk)
    if attempt.number > 1:
        latest = latest_complete(job.pk)
        if latest is not None:
            CheckpointRead.objects.update_or_create(attempt=attempt, defaults={"checkpoint": latest})
            env["PADDOCK_RESUME_FROM"] = latest.uri
            env["PADDOCK_RESUME_STEP"] = str(latest.step)
    return env


def _storage_roots() -> tuple[dict[int, str], dict[int, str]]:
    """Every team's own checkpoint storage root and every organisation's default (its first
    checkpoint storage by name), in two queries: what :func:`checkpoint_storage` answers for
    one team, for a whole dispatch batch at once."""

    def root(storage: StorageBackend) -> str | None:
        try:
            return stores.root_uri(storage)
        except stores.StorageError as exc:
            log.warning("checkpoints.no_storage", storage=storage.name, error=exc.message)
            return None

    by_team = {
        row.team_id: uri
        for row in TeamCheckpointSettings.objects.filter(storage__isnull=False).select_related("storage")
        if row.storage is not None and (uri := root(row.storage))
    }
    by_organisation: dict[int, str] = {}
    for storage in StorageBackend.objects.filter(purpose=StoragePurpose.CHECKPOINTS).order_by("organisation", "name"):
        if storage.organisation_id not in by_organisation and (uri := root(storage)):
            by_organisation[storage.organisation_id] = uri
    return by_team, by_organisation


def context(attempt: Attempt) -> dict[str, Any]:
    """What ``GET /job-reports/context/`` tells a running job about itself."""
    job = attempt.job
    located = job_prefix(job)
    read = CheckpointRead.objects.filter(attempt=attempt).select_related("checkpoint").first()
    return {
        "job": job.pk,
        "attempt": attempt.number,
        "checkpoint_uri": located[1] if located else "",
        "storage": stores.store_for(located[0]).kind if located else "",
        "resume_from": (
            {"id": read.checkpoint.pk, "uri": read.checkpoint.uri, "step": read.checkpoint.step} if read else None
        ),
    }


# --- metrics ---------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def check_metrics(values: Any, *, where: str, limit: int = MAX_NAMES_PER_POINT) -> dict[str, float]:
    if not isinstance(values, dict):
        raise ReportError({where: ["Give an object of metric names to numbers."]})
    if len(values) > limit:
        raise ReportError({where: [f"At most {limit} metrics at once."]})
    checked: dict[str, float] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not METRIC_NAME.match(name):
            raise ReportError({where: [f"Metric name {str(name)[:80]!r}: letters, digits and _.:/- only, 1-64."]})
        number = _number(value)
        if number is None:
            raise ReportError({where: [f"Metric {name!r} must be a finite number, not {str(value)[:40]!r}."]})
        checked[name] = number
    return checked


def _step(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_STEP:
        raise ReportError({where: ["Give the step as a whole number from 0."]})
    return value


def record_metrics(*, attempt: Attempt, points: Any) -> int:
    """Keep what a job reported; all of it or nothing. Returns how many values were kept."""
    if not isinstance(points, list) or not points:
        raise ReportError({"points": ["Give a non-empty list of {step, values}."]})
    if len(points) > MAX_POINTS_PER_REPORT:
        raise ReportError({"points": [f"At most {MAX_POINTS_PER_REPORT} points a report."]})
    last = MetricPoint.objects.filter(attempt=attempt).aggregate(last=Max("step"))["last"]
    floor = last if last is not None else (attempt.resume_step or 0)
    rows: list[MetricPoint] = []
    for index, point in enumerate(points):
        where = f"points.{index}"
        if not isinstance(point, dict):
            raise ReportError({where: ["Give {step, values}."]})
        step = _step(point.get("step"), f"{where}.step")
        if step < floor:
            raise ReportError(
                {f"{where}.step": [f"Step {step} goes backwards: this attempt already reported step {floor}."]}
            )
        floor = step
        values = check_metrics(point.get("values"), where=f"{where}.values")
        rows.extend(
            MetricPoint(job_id=attempt.job_id, attempt=attempt, step=step, name=name, value=value)
            for name, value in values.items()
        )
    MetricPoint.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def metric_series(job: Job, *, max_points: int) -> list[dict[str, Any]]:
    """Each metric of the job as ``[step, value]`` pairs in step order, across attempts: a
    later attempt that started replaces what earlier ones reported after the step it resumed
    from. A series with more than ``max_points`` points comes back as bucket means. A fixed
    number of queries, whatever the length."""
    attempts = list(job.attempts.order_by("number").values("id", "number", "resume_step", "started_at"))
    cut: dict[Any, int] = {}  # attempt -> the last step of its own that still counts
    for index, attempt in enumerate(attempts):
        later = [a for a in attempts[index + 1 :] if a["started_at"] is not None]
        if later:
            steps = [a["resume_step"] if a["resume_step"] is not None else -1 for a in later]
            cut[attempt["id"]] = min(steps)
    points = MetricPoint.objects.filter(job=job)
    for attempt_id, last_step in cut.items():
        points = points.exclude(attempt_id=attempt_id, step__gt=last_step)
    stats = {
        row["name"]: row
        for row in points.values("name").annotate(count=Count("id"), first=Min("step"), last=Max("step"))
    }
    series: list[dict[str, Any]] = []
    small = [name for name, row in stats.items() if row["count"] <= max_points]
    raw: dict[str, list[list[float]]] = {name: [] for name in small}
    if small:
        for name, step, value in (
            points.filter(name__in=small)
            .order_by("name", "step", "attempt_id", "id")
            .values_list("name", "step", "value")
        ):
            raw[name].append([step, value])
    for name in sorted(stats):
        row = stats[name]
        if name in raw:
            series.append({"name": name, "points": raw[name], "downsampled": False, "count": row["count"]})
            continue
        width = max(math.ceil((row["last"] - row["first"] + 1) / max_points), 1)
        buckets = (
            points.filter(name=name)
            .annotate(bucket=Floor(Cast(F("step") - row["first"], FloatField()) / width))
            .values("bucket")
            .annotate(step=Max("step"), mean=Avg("value"))
            .order_by("bucket")
        )
        series.append(
            {
                "name": name,
                "points": [[b["step"], b["mean"]] for b in buckets],
                "downsampled": True,
                "count": row["count"],
            }
        )
    return series


# --- checkpoints -----------------------------------------------------------------------------
def report_checkpoint(
    *, attempt: Attempt, uri: Any, step: Any, metrics: Any = None, final: Any = False
) -> tuple[Checkpoint, bool]:
    """Record a checkpoint a job says it wrote; Paddock then measures it on the storage
    (``checkpoints.finalize``) before it counts. Returns (checkpoint, created); the same URI and
    step again return the first."""
    job = attempt.job
    step = _step(step, "step")
    if not isinstance(uri, str) or not uri:
        raise ReportError({"uri": ["Give the checkpoint's URI."]})
    try:
        normal = stores.normalise(uri, directory=True)
    except ValueError as exc:
        raise ReportError({"uri": [str(exc)]}) from exc
    located = job_prefix(job)
    if located is None:
        raise ReportError({"uri": [f"Team {job.team.slug} has no checkpoint storage; ask an admin to set one."]})
    storage, prefix = located
    if not stores.within(prefix, normal):
        raise ReportError({"uri": [f"{uri} is outside this job's checkpoint prefix {prefix}."]}, forbidden=True)
    checked = check_metrics(metrics or {}, where="metrics", limit=MAX_CHECKPOINT_METRICS)
    if not isinstance(final, bool):
        raise ReportError({"final": ["Give true or false."]})
    existing = Checkpoint.objects.filter(job=job, uri=normal).first()
    if existing is not None:
        if existing.step != step:
            raise ReportError({"uri": [f"{normal} was already reported as step {existing.step}."]})
        return existing, False
    last = (
        Checkpoint.objects.filter(attempt=attempt).exclude(state=CheckpointState.DELETED).aggregate(last=Max("step"))
    )["last"]
    floor = last if last is not None else attempt.resume_step
    if floor is not None and step <= floor:
        raise ReportError({"step": [f"Step {step} goes backwards: this attempt is already at step {floor}."]})
    try:
        with transaction.atomic():
            checkpoint = Checkpoint.objects.create(
                team_id=job.team_id,
                job=job,
                attempt=attempt,
                storage=storage,
                step=step,
                uri=normal,
                metrics=checked,
                final=final,
            )
            enqueue_on_commit("checkpoints.finalize", checkpoint.pk)
    except IntegrityError:
        existing = Checkpoint.objects.filter(job=job, uri=normal).first()
        if existing is None:
            raise
        return existing, False
    log.info("checkpoints.reported", job=job.pk, attempt=attempt.number, step=step)
    return checkpoint, True


def finalize_checkpoint(checkpoint_id: int) -> str:
    """Measure a reported checkpoint on its storage and mark it complete (or deleted, when
    nothing is there), then apply the job's retention. Safe to run any number of times."""
    checkpoint = Checkpoint.objects.select_related("storage", "job__team").filter(pk=checkpoint_id).first()
    if checkpoint is None or checkpoint.state != CheckpointState.WRITING:
        return "not-writing"
    if checkpoint.storage is None:
        return "no-storage"
    measured = stores.store_for(checkpoint.storage).measure(checkpoint.uri)  # StorageError: the task retries
    now = timezone.now()
    if measured.file_count == 0:
        Checkpoint.objects.filter(pk=checkpoint.pk, state=CheckpointState.WRITING).update(
            state=CheckpointState.DELETED,
            deleted_at=now,
            deletion_reason=f"No files were at {checkpoint.uri} when Paddock measured it; it never counted.",
        )
        return "empty"
    Checkpoint.objects.filter(pk=checkpoint.pk, state=CheckpointState.WRITING).update(
        state=CheckpointState.COMPLETE,
        completed_at=now,
        bytes=measured.bytes,
        file_count=measured.file_count,
        sha256=measured.sha256,
    )
    apply_retention(checkpoint.job)
    return "complete"


def _kept_reasons(checkpoints: list[Checkpoint], policy: Retention, protected: Mapping[int, str]) -> dict[int, str]:
    by_step = sorted(checkpoints, key=lambda c: (c.step, c.pk), reverse=True)
    reasons: dict[int, list[str]] = {}
    for checkpoint in by_step[: policy.keep_latest]:
        reasons.setdefault(checkpoint.pk, []).append(f"one of the latest {policy.keep_latest}")
    scored = [c for c in checkpoints if _number((c.metrics or {}).get(policy.best_metric)) is not None]
    reverse = policy.best_mode == BestMode.MAX
    scored.sort(key=lambda c: (float(c.metrics[policy.best_metric]), -c.step), reverse=reverse)
    if reverse:
        scored.sort(key=lambda c: (float(c.metrics[policy.best_metric]), c.step), reverse=True)
    for checkpoint in scored[: policy.keep_best]:
        reasons.setdefault(checkpoint.pk, []).append(
            f"one of the best {policy.keep_best} by {policy.best_metric} ({policy.best_mode})"
        )
    for pk, why in protected.items():
        reasons.setdefault(pk, []).append(why)
    return {pk: "; ".join(parts) for pk, parts in reasons.items()}


def apply_retention(job: Job) -> list[int]:
    """Delete, from storage and then here, the job's complete checkpoints its retention does
    not keep; never one being written, one a model version uses, or one a live attempt was
    told to resume from. Records why each is kept or deleted. Returns the deleted ids."""
    complete = list(Checkpoint.objects.filter(job=job, state=CheckpointState.COMPLETE))
    if not complete:
        return []
    policy = retention_for(job, team_settings(job.team))
    protected: dict[int, str] = {}
    for checkpoint_id, model_name, version in ModelVersion.objects.filter(
        checkpoint__in=[c.pk for c in complete]
    ).values_list("checkpoint_id", "model__name", "version"):
        protected[checkpoint_id] = f"model version {model_name} v{version} uses it"
    for checkpoint_id, number in CheckpointRead.objects.filter(
        checkpoint__in=[c.pk for c in complete], attempt__state__in=ATTEMPT_ACTIVE_STATES
    ).values_list("checkpoint_id", "attempt__number"):
        protected.setdefault(checkpoint_id, f"attempt {number} is resuming from it")
    kept = _kept_reasons(complete, policy, protected)
    for checkpoint in complete:
        reason = kept.get(checkpoint.pk)
        if reason is not None and reason != checkpoint.retained_because:
            Checkpoint.objects.filter(pk=checkpoint.pk).update(retained_because=reason)
    deleted: list[int] = []
    for checkpoint in complete:
        if checkpoint.pk in kept:
            continue
        why = f"Retention ({policy.describe()}) did not keep step {checkpoint.step}."
        if _delete_checkpoint(checkpoint, why):
            deleted.append(checkpoint.pk)
    if deleted:
        log.info("checkpoints.retention", job=job.pk, deleted=len(deleted), kept=len(kept))
    return deleted


def _delete_checkpoint(checkpoint: Checkpoint, reason: str) -> bool:
    """Claim the row (still complete, still unused), delete the files, then record it."""
    with transaction.atomic():
        claimed = (
            Checkpoint.objects.select_for_update(of=("self",))
            .filter(pk=checkpoint.pk, state=CheckpointState.COMPLETE)
            .select_related("storage")
            .first()
        )
        if claimed is None or claimed.model_versions.exists():
            return False
        if CheckpointRead.objects.filter(checkpoint=claimed, attempt__state__in=ATTEMPT_ACTIVE_STATES).exists():
            return False
        Checkpoint.objects.filter(pk=claimed.pk).update(
            state=CheckpointState.DELETED, deleted_at=timezone.now(), deletion_reason=reason, retained_because=""
        )
    try:
        if claimed.storage is not None:
            stores.store_for(claimed.storage).delete(claimed.uri)
    except stores.StorageError as exc:
        # The files are still there: it counts again, and the next pass tries again.
        Checkpoint.objects.filter(pk=claimed.pk, state=CheckpointState.DELETED).update(
            state=CheckpointState.COMPLETE,
            deleted_at=None,
            deletion_reason="",
            retained_because=f"deleting it failed ({exc.message}); retention tries again",
        )
        log.warning("checkpoints.delete_failed", checkpoint=claimed.pk, error=exc.message)
        return False
    return True


def retain_after_job(job_id: int) -> str:
    if not Checkpoint.objects.filter(job_id=job_id, state=CheckpointState.COMPLETE).exists():
        return "no checkpoints"  # most jobs: one query
    job = Job.objects.select_related("team").filter(pk=job_id).first()
    if job is None:
        return "missing"
    return f"deleted {len(apply_retention(job))}"


# --- reading files for a job -----------------------------------------------------------------
def _storage_of(team: Team, uri: str) -> StorageBackend | None:
    for backend in StorageBackend.objects.filter(organisation_id=team.organisation_id).order_by("name"):
        try:
            if stores.within(stores.root_uri(backend), uri):
                return backend
        except stores.StorageError:
            continue
    return None


def readable_prefixes(attempt: Attempt) -> list[str]:
    """What a job token may read: its job's checkpoints, its base model's files, its team's
    datasets."""
    job = attempt.job
    prefixes: list[str] = []
    located = job_prefix(job)
    if located is not None:
        prefixes += [located[1], stores.datasets_prefix(located[0], job.team.slug)]
    lineage = JobLineage.objects.select_related("base_version").filter(job=job).first()
    if lineage is not None and lineage.base_version is not None:
        prefixes.append(stores.normalise(lineage.base_version.uri, directory=True))
    return prefixes


def download_sources(*, attempt: Attempt, uri: Any) -> dict[str, Any]:
    if not isinstance(uri, str) or not uri:
        raise ReportError({"uri": ["Give the URI to read."]})
    try:
        normal = stores.normalise(uri, directory=True)
    except ValueError as exc:
        raise ReportError({"uri": [str(exc)]}) from exc
    allowed = readable_prefixes(attempt)
    if not any(normal == prefix or stores.within(prefix, normal) for prefix in allowed):
        raise ReportError({"uri": [f"This job may not read {uri}."]}, forbidden=True)
    backend = _storage_of(attempt.job.team, normal)
    if backend is None:
        raise ReportError({"uri": [f"{uri} is on no storage of organisation {attempt.job.team.organisation_id}."]})
    store = stores.store_for(backend)
    files = store.files(normal)
    return {"uri": normal, **store.download_sources(normal, files)}


def upload_targets(*, attempt: Attempt, step: Any, files: Any) -> dict[str, Any]:
    step = _step(step, "step")
    located = job_prefix(attempt.job)
    if located is None:
        raise ReportError({"step": [f"Team {attempt.job.team.slug} has no checkpoint storage."]})
    storage, prefix = located
    if not isinstance(files, list) or not files or len(files) > stores.MAX_FILES:
        raise ReportError({"files": [f"Give 1 to {stores.MAX_FILES} files."]})
    paths: list[str] = []
    for index, item in enumerate(files):
        if not isinstance(item, dict):
            raise ReportError({f"files.{index}": ["Give {path, size}."]})
        try:
            path = stores.check_relative_path(item.get("path"))
        except ValueError as exc:
            raise ReportError({f"files.{index}.path": [str(exc)]}) from exc
        size = item.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= stores.MAX_FILE_BYTES:
            raise ReportError({f"files.{index}.size": [f"Give the size in bytes, at most {stores.MAX_FILE_BYTES}."]})
        paths.append(path)
    uri = stores.checkpoint_uri(prefix, step)
    return {"uri": uri, **stores.store_for(storage).upload_targets(uri, paths)}


# --- the model registry ----------------------------------------------------------------------
def create_model(*, actor: User | None, team: Team, name: str, description: str = "") -> Model:
    with transaction.atomic():
        if Model.objects.filter(team=team, name=name).exists():
            raise Conflict(f"Team {team.slug} already has a model named {name!r}.")
        model = Model.objects.create(team=team, name=name, description=description, created_by=actor)
        audit.record("checkpoints.model_created", model, actor=actor, team_id=team.pk, name=name)
    return model


def register_version(
    *,
    actor: User | None,
    model: Model,
    checkpoint: Checkpoint | None = None,
    uri: str = "",
    metrics: Mapping[str, float] | None = None,
    description: str = "",
    base_version: ModelVersion | None = None,
    base_uri: str = "",
) -> ModelVersion:
    """A new version of ``model`` from a checkpoint of the same team (complete or still being
    measured), or from an outside URI. Its job and base model come from the checkpoint's job."""
    job = None
    if checkpoint is not None:
        with transaction.atomic():
            locked = Checkpoint.objects.select_for_update().filter(pk=checkpoint.pk).first()
            if locked is None or locked.state == CheckpointState.DELETED:
                raise Conflict(f"Checkpoint {checkpoint.pk} has been deleted; register another.")
            if locked.team_id != model.team_id:
                raise Conflict("The checkpoint belongs to another team.")
            version = _new_version(actor, model, locked, locked.uri, metrics or locked.metrics, description)
        job = version.job
    else:
        with transaction.atomic():
            version = _new_version(actor, model, None, uri, metrics or {}, description)
    lineage = JobLineage.objects.filter(job=job).first() if job is not None else None
    if lineage is not None and base_version is None and not base_uri:
        base_version, base_uri = lineage.base_version, lineage.base_uri
    if base_version is not None or base_uri:
        ModelVersion.objects.filter(pk=version.pk).update(base_version=base_version, base_uri=base_uri)
        version.base_version, version.base_uri = base_version, base_uri
    return version


def _new_version(
    actor: User | None,
    model: Model,
    checkpoint: Checkpoint | None,
    uri: str,
    metrics: Mapping[str, Any],
    description: str,
) -> ModelVersion:
    Model.objects.select_for_update().filter(pk=model.pk).first()  # numbers versions one at a time
    number = (model.versions.aggregate(last=Max("version"))["last"] or 0) + 1
    version = ModelVersion.objects.create(
        model=model,
        version=number,
        checkpoint=checkpoint,
        uri=uri,
        job_id=checkpoint.job_id if checkpoint is not None else None,
        metrics=dict(metrics),
        description=description,
        created_by=actor,
    )
    audit.record(
        "checkpoints.version_registered",
        version,
        actor=actor,
        team_id=model.team_id,
        model=model.name,
        version=number,
        uri=uri,
    )
    log.info("checkpoints.version_registered", model=model.name, version=number)
    return version


def register_from_job(
    *,
    attempt: Attempt,
    model_name: Any,
    checkpoint: Any = None,
    uri: Any = None,
    metrics: Any = None,
    description: Any = "",
) -> ModelVersion:
    """A running job registers its result: the model (made on first use) of its team, from
    one of its own checkpoints."""
    job = attempt.job
    if not isinstance(model_name, str) or not 1 <= len(model_name.strip()) <= 100:
        raise ReportError({"model": ["Give the model's name (1-100 characters)."]})
    checked = check_metrics(metrics or {}, where="metrics", limit=MAX_CHECKPOINT_METRICS)
    found: Checkpoint | None = None
    if isinstance(checkpoint, int) and not isinstance(checkpoint, bool):
        found = Checkpoint.objects.filter(pk=checkpoint, job=job).first()
    elif isinstance(uri, str) and uri:
        try:
            found = Checkpoint.objects.filter(job=job, uri=stores.normalise(uri, directory=True)).first()
        except ValueError as exc:
            raise ReportError({"uri": [str(exc)]}) from exc
    else:
        raise ReportError({"checkpoint": ["Give one of this job's checkpoints, by id or by uri."]})
    if found is None:
        raise ReportError({"checkpoint": ["This job reported no such checkpoint."]}, forbidden=True)
    name = model_name.strip()
    model = Model.objects.filter(team=job.team, name=name).first()
    if model is None:
        try:
            model = create_model(actor=job.submitted_by, team=job.team, name=name)
        except Conflict:
            model = Model.objects.get(team=job.team, name=name)
    return register_version(
        actor=job.submitted_by,
        model=model,
        checkpoint=found,
        metrics=checked or None,
        description=str(description or "")[:2000],
    )


def set_stage(*, actor: User, version: ModelVersion, stage: str) -> ModelVersion:
    """Move a version to a stage; a new production version archives the one before it."""
    if stage not in Stage.values:
        raise ValueError(stage)
    now = timezone.now()
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
        if locked.stage == stage:
            return locked
        if stage == Stage.PRODUCTION:
            before = ModelVersion.objects.filter(model=locked.model, stage=Stage.PRODUCTION).exclude(pk=locked.pk)
            for previous in before.select_for_update():
                ModelVersion.objects.filter(pk=previous.pk).update(stage=Stage.ARCHIVED)
                audit.record(
                    "checkpoints.version_archived",
                    previous,
                    actor=actor,
                    team_id=locked.model.team_id,
                    because=f"v{locked.version} went to production",
                )
        previous_stage = locked.stage
        ModelVersion.objects.filter(pk=locked.pk).update(stage=stage, promoted_by=actor, promoted_at=now)
        audit.record(
            "checkpoints.version_stage",
            locked,
            actor=actor,
            team_id=locked.model.team_id,
            stage=stage,
            previous=previous_stage,
        )
    locked.refresh_from_db()
    return locked


# --- lineage -------------------------------------------------------------------------------
def record_lineage(
    *, job: Job, base_version: ModelVersion | None, base_uri: str, recipe: str, model_name: str
) -> JobLineage:
    lineage, _ = JobLineage.objects.update_or_create(
        job=job,
        defaults={"base_version": base_version, "base_uri": base_uri, "recipe": recipe, "model_name": model_name},
    )
    return lineage


def lineage(version: ModelVersion) -> dict[str, Any]:
    """Both ways from a version: back to its checkpoint, attempt, job and base model; forward
    to the jobs that started from it (and, once serving exists, its endpoints)."""
    checkpoint = (
        Checkpoint.objects.select_related("attempt", "job").filter(pk=version.checkpoint_id).first()
        if version.checkpoint_id
        else None
    )
    job = checkpoint.job if checkpoint is not None else Job.objects.filter(pk=version.job_id or 0).first()
    base = version.base_version
    derived = list(
        Job.objects.filter(lineage__base_version=version).order_by("-created_at").values("id", "name", "state")[:100]
    )
    return {
        "checkpoint": checkpoint,
        "attempt": checkpoint.attempt if checkpoint is not None else None,
        "job": job,
        "base_version": base,
        "base_uri": version.base_uri,
        "derived_jobs": derived,
    }


def sweep_writing(*, older_than_seconds: float = 30.0) -> int:
    """Finalize checkpoints still ``writing`` after a while (their task message was lost)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        Checkpoint.objects.filter(state=CheckpointState.WRITING, created_at__lt=cutoff).values_list("pk", flat=True)[
            :100
        ]
    )
    for checkpoint_id in ids:
        try:
            finalize_checkpoint(checkpoint_id)
        except stores.StorageError as exc:
            log.info("checkpoints.sweep_storage_error", checkpoint=checkpoint_id, error=exc.message)
    return len(ids)


@dataclass(frozen=True)
class RecipeExample:
    version_id: int
    dataset: str


def ensure_recipe_example(*, team_slug: str, root: Any, make_model: Any, make_dataset: Any) -> RecipeExample:
    """What ``make run`` offers as a ready-to-submit LoRA job: checkpoint storage for the team's
    organisation (a directory under ``root`` unless it has one), a small model and a dataset
    made on this machine, and the model registered as ``tiny-llama`` v1. Idempotent."""
    team = Team.objects.select_related("organisation").get(slug=team_slug)
    storage = checkpoint_storage(team)
    if storage is None:
        storage, _ = StorageBackend.objects.get_or_create(
            organisation=team.organisation,
            name="local-checkpoints",
            defaults={"kind": "local", "uri": str(root), "purpose": StoragePurpose.CHECKPOINTS},
        )
        audit.record("checkpoints.example_storage", storage, actor=None, team_id=team.pk, uri=storage.uri)
    model_dir = Path(root) / "models" / "tiny-llama"
    if not (model_dir / "config.json").exists():
        make_model(model_dir, hidden=128, layers=2, heads=4)
    dataset = Path(root) / "teams" / team.slug / "datasets" / "tiny-chat.jsonl"
    if not dataset.exists():
        dataset.parent.mkdir(parents=True, exist_ok=True)
        make_dataset(dataset, lines=400)
    model = Model.objects.filter(team=team, name="tiny-llama").first() or create_model(
        actor=None, team=team, name="tiny-llama", description="A small random Llama made locally for the LoRA example"
    )
    version = model.versions.order_by("version").first() or register_version(
        actor=None, model=model, uri=model_dir.as_uri() + "/"
    )
    return RecipeExample(version_id=version.pk, dataset=str(dataset))
