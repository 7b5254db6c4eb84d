"""Checkpoints and the metrics a running job reports, and the model registry built on them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.checkpoints.choices import (
    DEFAULT_BEST_METRIC,
    DEFAULT_KEEP_BEST,
    DEFAULT_KEEP_LATEST,
    BestMode,
    CheckpointState,
    Stage,
)
from apps.checkpoints.querysets import CheckpointQuerySet, ModelQuerySet, ModelVersionQuerySet
from apps.core.models import TimeStampedModel


class TeamCheckpointSettings(TimeStampedModel):
    """Where a team's checkpoints go and how many it keeps unless a job says otherwise."""

    team = models.OneToOneField("tenancy.Team", on_delete=models.CASCADE, related_name="checkpoint_settings")
    storage = models.ForeignKey(
        "inventory.StorageBackend",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty: the organisation's first storage for checkpoints (by name)",
    )
    keep_latest = models.PositiveIntegerField(default=DEFAULT_KEEP_LATEST)
    keep_best = models.PositiveIntegerField(default=DEFAULT_KEEP_BEST)
    best_metric = models.CharField(max_length=64, default=DEFAULT_BEST_METRIC)
    best_mode = models.CharField(max_length=3, choices=BestMode.choices, default=BestMode.MIN)

    class Meta:
        ordering = ["team"]
        verbose_name_plural = "team checkpoint settings"

    def __str__(self) -> str:
        return f"checkpoints of {self.team}"


class Checkpoint(models.Model):
    """A job's saved state at one step, on a storage backend; only a complete one counts."""

    team = models.ForeignKey("tenancy.Team", on_delete=models.PROTECT, related_name="checkpoints")
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="checkpoints")
    attempt = models.ForeignKey("jobs.Attempt", on_delete=models.CASCADE, related_name="checkpoints")
    storage = models.ForeignKey(
        "inventory.StorageBackend", null=True, blank=True, on_delete=models.PROTECT, related_name="checkpoints"
    )
    step = models.BigIntegerField()
    uri = models.CharField(max_length=1000)
    state = models.CharField(max_length=16, choices=CheckpointState.choices, default=CheckpointState.WRITING)
    bytes = models.BigIntegerField(null=True, blank=True, help_text="Measured on the storage, not reported")
    file_count = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(
        max_length=64, blank=True, default="", help_text="Of its files' paths and contents, when small enough to read"
    )
    metrics = models.JSONField(default=dict, blank=True)
    final = models.BooleanField(default=False, help_text="The job's last checkpoint")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deletion_reason = models.TextField(blank=True, default="")
    retained_because = models.CharField(max_length=300, blank=True, default="", help_text="Why retention kept it")

    objects = CheckpointQuerySet.as_manager()

    class Meta:
        ordering = ["job", "step", "id"]
        constraints = [models.UniqueConstraint(fields=["job", "uri"], name="checkpoint_unique_job_uri")]
        indexes = [
            models.Index(fields=["job", "state", "-step"], name="checkpoint_job_state_step"),
            models.Index(fields=["team", "-created_at"], name="checkpoint_team_recent"),
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} step {self.step} ({self.state})"


class CheckpointRead(models.Model):
    """An attempt told to resume from a checkpoint: retention keeps it while the attempt lives."""

    attempt = models.OneToOneField("jobs.Attempt", on_delete=models.CASCADE, related_name="resumed_checkpoint")
    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.CASCADE, related_name="reads")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"attempt {self.attempt_id} resumes from {self.checkpoint_id}"


class MetricPoint(models.Model):
    """One value a job reported at one step (loss, learning rate, tokens/s …)."""

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="metric_points")
    attempt = models.ForeignKey("jobs.Attempt", on_delete=models.CASCADE, related_name="metric_points")
    step = models.BigIntegerField()
    name = models.CharField(max_length=64)
    value = models.FloatField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "name", "step", "id"]
        indexes = [models.Index(fields=["job", "name", "step"], name="metricpoint_job_name_step")]

    def __str__(self) -> str:
        return f"job {self.job_id} {self.name}@{self.step}={self.value}"


class Model(TimeStampedModel):
    """A named model a team trains and serves; its versions are what it ships."""

    team = models.ForeignKey("tenancy.Team", on_delete=models.PROTECT, related_name="models")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ModelQuerySet.as_manager()

    class Meta:
        ordering = ["team", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="model_unique_team_name")]

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    """One version of a model: a checkpoint (or an outside URI), its metrics and its stage."""

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    checkpoint = models.ForeignKey(
        Checkpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="model_versions"
    )
    uri = models.CharField(max_length=1000, help_text="The checkpoint's URI, or where an outside model lives")
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    base_version = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="derived_versions"
    )
    base_uri = models.CharField(max_length=1000, blank=True, default="", help_text="A base model outside the registry")
    metrics = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True, default="")
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.NONE)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    promoted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["model", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="modelversion_unique_model_version"),
            models.UniqueConstraint(
                fields=["model"], condition=Q(stage=Stage.PRODUCTION), name="modelversion_one_production"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.version}"


class JobLineage(models.Model):
    """What a job started from: a registered model version or an outside base model."""

    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="lineage")
    base_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="derived_jobs"
    )
    base_uri = models.CharField(max_length=1000, blank=True, default="")
    recipe = models.CharField(max_length=64, blank=True, default="", help_text="The template it was made from")
    model_name = models.CharField(max_length=100, blank=True, default="", help_text="The model its result registers as")

    def __str__(self) -> str:
        return f"lineage of job {self.job_id}"
