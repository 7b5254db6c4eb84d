"""Jobs, their attempts and their append-only event stream."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.models import TimeStampedModel
from apps.dispatch.port import Resources
from apps.dispatch.runtime_env import package_uri
from apps.jobs.choices import (
    AttemptState,
    EstimateConfidence,
    EventKind,
    FailureCause,
    JobKind,
    JobRuntime,
    JobState,
)
from apps.jobs.querysets import AttemptLogChunkQuerySet, AttemptQuerySet, JobQuerySet

GIB = 2**30


class Job(TimeStampedModel):
    """A unit of work a team asked for: what to run, with which resources, on which cluster."""

    team = models.ForeignKey("tenancy.Team", on_delete=models.PROTECT, related_name="jobs")
    cluster = models.ForeignKey("inventory.Cluster", on_delete=models.PROTECT, related_name="jobs")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=JobKind.choices, default=JobKind.BATCH)
    entrypoint = models.TextField()
    runtime_env = models.JSONField(default=dict, blank=True)
    runtime = models.CharField(
        max_length=16,
        choices=JobRuntime.choices,
        default=JobRuntime.PROCESS,
        help_text="ray: the entrypoint runs in a Ray cluster made for the job (a KubeRay RayJob on Kubernetes)",
    )
    cpus = models.FloatField(default=1.0)
    gpus = models.FloatField(default=0.0)
    accelerator_model = models.CharField(max_length=64, blank=True, default="")
    # Several pools in order (Kueue's flavors): models by name, or any model with this much
    # memory per GPU. Empty and null: the one ``accelerator_model``.
    accelerator_models = models.JSONField(
        default=list, blank=True, help_text="Accepted accelerator models, first choice first"
    )
    min_gpu_memory_gb = models.FloatField(
        null=True, blank=True, help_text="Accepts any GPU model of its cluster with at least this much memory"
    )
    memory_gb = models.FloatField(default=0.0)
    max_retries = models.PositiveSmallIntegerField(default=0)
    retry_on_error = models.BooleanField(
        default=False,
        help_text="Retry the job's own errors (a non-zero exit) too, up to max_retries; "
        "the cluster's failures are always retried from the latest checkpoint.",
    )
    checkpoint_policy = models.JSONField(
        default=dict,
        blank=True,
        help_text='Retention of its checkpoints: {"keep_latest": 2, "keep_best": 1, "best_metric": "loss", '
        '"best_mode": "min"}; empty keys take the team\'s defaults',
    )
    priority = models.IntegerField(default=0)
    priority_class = models.ForeignKey(
        "quotas.PriorityClass", null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    pool = models.ForeignKey(
        "quotas.Pool",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
        help_text="Where the job's quota is counted; empty: the cluster has no pools (first come, on free capacity).",
    )
    plan = models.JSONField(
        default=dict, blank=True, help_text="The model and workload given at submission and the planner's estimate"
    )
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.PENDING)
    state_reason = models.TextField(blank=True, default="")
    queued_at = models.DateTimeField(
        default=timezone.now, help_text="When it last joined the queue: submitted, preempted or retried"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="submitted_jobs"
    )
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    admitted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    max_runtime_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Declared upper bound on one attempt's run time; empty: none declared"
    )
    # Written by each admission pass for pending jobs (empty otherwise): when it should start.
    estimated_start_at = models.DateTimeField(null=True, blank=True)
    estimate_confidence = models.CharField(
        max_length=8, choices=EstimateConfidence.choices, blank=True, default=EstimateConfidence.NONE
    )
    estimate_basis = models.CharField(max_length=300, blank=True, default="", help_text="What the estimate rests on")
    # What it has cost so far: the sums of its usage ledger lines, kept by the costs accrual in
    # the same transaction that writes them (so the jobs list sorts by cost without a join).
    cost = models.DecimalField(max_digits=24, decimal_places=10, default=Decimal(0))
    cost_currency = models.CharField(max_length=3, blank=True, default="")
    gpu_seconds = models.DecimalField(max_digits=24, decimal_places=6, default=Decimal(0))
    cpu_seconds = models.DecimalField(max_digits=24, decimal_places=6, default=Decimal(0))

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["submitted_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="job_unique_idempotency_key_per_user",
            ),
            models.CheckConstraint(
                condition=Q(cpus__gte=0) & Q(gpus__gte=0) & Q(memory_gb__gte=0), name="job_resources_non_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["team", "-created_at", "-id"], name="job_team_recent"),
            models.Index(fields=["-created_at", "-id"], name="job_recent"),
            models.Index(fields=["state", "cluster"], name="job_state_cluster"),
            # Each queue's pending jobs in queue order (QUEUE_PARTITION, QUEUE_ORDER): queue
            # positions read them without a sort; partial, so it holds only what waits.
            models.Index(
                fields=["team", "cluster", "pool", "-priority", "created_at", "id"],
                condition=Q(state="pending"),
                name="job_pending_queue",
            ),
            # The same across teams, per pool: ``jobs_ahead`` and the queue's page.
            models.Index(
                fields=["cluster", "pool", "-priority", "created_at", "id"],
                condition=Q(state="pending"),
                name="job_pending_pool_queue",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pk}:{self.name}"

    @property
    def gpu_hours_charged(self) -> Decimal:
        return self.gpu_seconds / 3600

    @property
    def cpu_hours_charged(self) -> Decimal:
        return self.cpu_seconds / 3600

    def resources(self) -> Resources:
        custom = {f"accelerator_type:{self.accelerator_model}": 0.001} if self.accelerator_model else {}
        return Resources(cpus=self.cpus, gpus=self.gpus, memory_bytes=int(self.memory_gb * GIB), custom=custom)


class Attempt(models.Model):
    """One try at running a job; its id is the remote job's name (Ray's ``submission_id``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=16, choices=AttemptState.choices, default=AttemptState.ADMITTED)
    message = models.TextField(blank=True, default="")
    placement = models.JSONField(
        default=list, blank=True, help_text='Where the scheduler put it: [{"node_id", "hostname", "address", "gpus"}]'
    )
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # Seconds from the job's submission (or the retry's admission) to the backend accepting it.
    dispatch_seconds = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    # The stored copy of the job's log is in AttemptLogChunk rows; these fields say how far it goes.
    log_fetched_at = models.DateTimeField(null=True, blank=True)
    log_complete = models.BooleanField(default=False)
    log_remote_offset = models.PositiveBigIntegerField(
        default=0, help_text="Bytes of the cluster's log copied into the stored log so far (the next read starts there)"
    )
    log_length = models.PositiveBigIntegerField(default=0, help_text="Characters of the stored log")
    log_truncated = models.BooleanField(
        default=False, help_text="The stored log reached PADDOCK_LOG_MAX_BYTES: nothing more is copied"
    )
    failure_cause = models.CharField(
        max_length=16,
        choices=FailureCause.choices,
        blank=True,
        default="",
        help_text="Code failures count against max_retries; infrastructure failures are retried on their own budget.",
    )
    failure_evidence = models.TextField(
        blank=True, default="", help_text="What the cause was read from: the cluster's error type, exit code, log line"
    )
    exit_code = models.IntegerField(
        null=True, blank=True, help_text="Its command's exit code as the cluster said (negative: killed by a signal)"
    )
    cause = models.CharField(
        max_length=300,
        blank=True,
        default="",
        help_text='Why it ended badly, in one short line ("exit code 3: ValueError: bad lr", "out of memory")',
    )
    resume_step = models.BigIntegerField(
        null=True, blank=True, help_text="The step of the checkpoint this attempt was told to resume from"
    )
    resume_uri = models.CharField(max_length=1000, blank=True, default="", help_text="That checkpoint's URI")
    # The costs ledger's cursor: its usage is recorded up to here; closed once it is recorded to
    # its end (the accrual reads only open attempts, through a partial index).
    usage_until = models.DateTimeField(null=True, blank=True)
    usage_closed = models.BooleanField(default=False)

    objects = AttemptQuerySet.as_manager()

    class Meta:
        ordering = ["job", "number"]
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="attempt_unique_job_number")]
        indexes = [
            models.Index(fields=["state"], name="attempt_state"),
            models.Index(
                fields=["started_at"],
                condition=Q(started_at__isnull=False, usage_closed=False),
                name="attempt_usage_open",
            ),
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} attempt {self.number}"

    @property
    def remote_id(self) -> str:
        return str(self.id)

    @property
    def log(self) -> str:
        """The whole stored log (one query; the API reads it in windows instead)."""
        return "".join(self.log_chunks.order_by("start").values_list("text", flat=True))


class AttemptLogChunk(models.Model):
    """A piece of an attempt's stored log: what one copy from the cluster appended."""

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="log_chunks")
    start = models.PositiveBigIntegerField(help_text="Offset of its first character in the log")
    stop = models.PositiveBigIntegerField(help_text="Offset just after its last character")
    text = models.TextField()

    objects = AttemptLogChunkQuerySet.as_manager()

    class Meta:
        ordering = ["attempt", "start"]
        constraints = [models.UniqueConstraint(fields=["attempt", "start"], name="attemptlogchunk_unique_start")]
        indexes = [models.Index(fields=["attempt", "stop"], name="attemptlogchunk_attempt_stop")]

    def __str__(self) -> str:
        return f"attempt {self.attempt_id} log [{self.start}, {self.stop})"


class JobEvent(models.Model):
    """An append-only record of something that happened to a job."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    attempt = models.ForeignKey(Attempt, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    from_state = models.CharField(max_length=16, blank=True, default="")
    to_state = models.CharField(max_length=16, blank=True, default="")
    message = models.TextField(blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["job", "id"], name="jobevent_job_id")]

    def __str__(self) -> str:
        return f"job {self.job_id}: {self.kind}"


class CodePackageManager(models.Manager["CodePackage"]):
    """Never loads a package's bytes unless asked (``content`` is deferred on every query)."""

    def get_queryset(self) -> models.QuerySet[CodePackage]:
        return super().get_queryset().defer("content")


class CodePackage(models.Model):
    """A zip of a team's code uploaded to Paddock, stored in the database, sent to clusters by URI."""

    team = models.ForeignKey("tenancy.Team", on_delete=models.PROTECT, related_name="code_packages")
    sha256 = models.CharField(max_length=64, help_text="Of the zip's bytes; its URI is paddock://packages/<sha256>")
    size_bytes = models.PositiveBigIntegerField()
    file_count = models.PositiveIntegerField()
    uncompressed_bytes = models.PositiveBigIntegerField(default=0)
    # In the database, so every web and worker replica can read it without a shared disk.
    content = models.BinaryField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CodePackageManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["team", "sha256"], name="codepackage_unique_team_sha256")]
        indexes = [models.Index(fields=["team", "-created_at", "-id"], name="codepackage_team_recent")]

    def __str__(self) -> str:
        return f"{self.team_id}:{self.sha256[:12]}"

    @property
    def uri(self) -> str:
        return package_uri(self.sha256)
