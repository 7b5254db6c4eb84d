"""Serving endpoints, their revisions, tokens, events and health samples.

Desired state lives here (the endpoint's replicas, autoscaling, revisions and their traffic
shares, its tokens); :mod:`apps.serving.reconcile` converges the cluster's model server to it
and records what it observed (``state``, replicas running, health samples).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.models import TimeStampedModel
from apps.serving.choices import EndpointState, EventKind, RevisionState, Runtime

DEFAULT_ENTRY_POINT = "paddock.serving.causal_lm:CausalLM"


class Endpoint(TimeStampedModel):
    """A model behind an authenticated, OpenAI-compatible URL on one cluster."""

    team = models.ForeignKey("tenancy.Team", on_delete=models.PROTECT, related_name="endpoints")
    name = models.SlugField(max_length=63, help_text="Unique in the team; also the model name clients send")
    cluster = models.ForeignKey("inventory.Cluster", on_delete=models.PROTECT, related_name="endpoints")
    runtime = models.CharField(max_length=16, choices=Runtime.choices, default=Runtime.RAY_SERVE)
    # Per replica.
    cpus = models.FloatField(default=1.0, validators=[MinValueValidator(0.0)])
    gpus = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    accelerator_model = models.CharField(max_length=64, blank=True, default="")
    memory_gb = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    min_replicas = models.PositiveIntegerField(default=1)
    max_replicas = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    target_ongoing_requests = models.FloatField(
        default=2.0, validators=[MinValueValidator(0.1), MaxValueValidator(1000.0)], help_text="Per replica"
    )
    scale_to_zero = models.BooleanField(default=False)
    priority_class = models.ForeignKey(
        "quotas.PriorityClass", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    runtime_env = models.JSONField(default=dict, blank=True, help_text="Code packages, pip, env vars for the model")
    # What Paddock observed and decided.
    state = models.CharField(max_length=16, choices=EndpointState.choices, default=EndpointState.PENDING)
    state_reason = models.TextField(blank=True, default="")
    url = models.CharField(max_length=500, blank=True, default="")
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # A larger max_replicas needs a larger hold: a new deployment job waits in the queue while the
    # current one keeps serving at the size it holds (``replicas_held``); admitted, it takes over.
    next_job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    replicas_held = models.PositiveIntegerField(default=0, help_text="Replicas the holding job covers")
    replicas_running = models.PositiveIntegerField(default=0)
    unhealthy_since = models.DateTimeField(null=True, blank=True)
    stopped = models.BooleanField(default=False, help_text="Stopped on request: holds nothing until started")
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="created_endpoints"
    )
    # Bumped by every change of what the ingress is told (tokens, traffic): the ingress reports
    # the generation it holds, so a revision is retired only once no request can reach it.
    generation = models.PositiveIntegerField(default=1)
    # Where the last figures read from the ingress ended (its clock), for the next window.
    stats_since = models.FloatField(default=0.0)
    # What Paddock last declared for each of its apps (digests), to tell its own changes from
    # changes made on the cluster behind its back.
    applied = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "name"], condition=models.Q(deleted_at__isnull=True), name="endpoint_unique_live_name"
            ),
            models.CheckConstraint(
                condition=models.Q(min_replicas__lte=models.F("max_replicas")), name="endpoint_min_le_max"
            ),
        ]
        indexes = [models.Index(fields=["team", "-created_at", "-id"], name="endpoint_team_recent")]

    def __str__(self) -> str:
        return f"{self.team.slug}/{self.name}" if self.team_id else self.name

    @property
    def app_name(self) -> str:
        return f"paddock-ep-{self.pk}"

    @property
    def route_prefix(self) -> str:
        return f"/{self.team.slug}/{self.name}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1" if self.url else ""


class Revision(models.Model):
    """One model (and its config) an endpoint serves, with its share of the traffic."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    model_version = models.ForeignKey(
        "checkpoints.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="revisions"
    )
    model_uri = models.CharField(max_length=1000, help_text="Where the replicas load the model from")
    base_uri = models.CharField(max_length=1000, blank=True, default="", help_text="The base of a LoRA adapter")
    entry_point = models.CharField(max_length=300, default=DEFAULT_ENTRY_POINT)
    config = models.JSONField(default=dict, blank=True)
    traffic_percent = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)], help_text="Share of requests now"
    )
    target_percent = models.PositiveSmallIntegerField(
        default=100, validators=[MaxValueValidator(100)], help_text="Share once healthy (0: it drains)"
    )
    state = models.CharField(max_length=16, choices=RevisionState.choices, default=RevisionState.PENDING)
    message = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    # The endpoint generation from which this revision gets no traffic: retired once the
    # ingress holds it.
    drained_at_generation = models.PositiveIntegerField(null=True, blank=True)
    unhealthy_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["endpoint", "-number"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "number"], name="revision_unique_number")]

    def __str__(self) -> str:
        return f"{self.endpoint} r{self.number}"

    @property
    def app_name(self) -> str:
        return f"paddock-rev-{self.pk}"


class EndpointToken(models.Model):
    """A bearer token for one endpoint: ``pde_<id>.<secret>``; only its sha256 is kept."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=16, help_text="The start of the token, to recognise it")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"


class EndpointEvent(models.Model):
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    message = models.TextField(blank=True, default="")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["endpoint", "-created_at", "-id"], name="endpoint_event_recent")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:80]}"


class HealthSample(models.Model):
    """What the ingress measured over one window (from ``at - seconds`` to ``at``)."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="samples")
    at = models.DateTimeField()
    seconds = models.FloatField()
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    p50_ms = models.FloatField(null=True, blank=True)
    p95_ms = models.FloatField(null=True, blank=True)
    p99_ms = models.FloatField(null=True, blank=True)
    replicas = models.PositiveIntegerField(default=0)
    ongoing = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["endpoint", "at"]
        indexes = [models.Index(fields=["endpoint", "at"], name="health_endpoint_at")]

    def __str__(self) -> str:
        return f"{self.endpoint_id} at {self.at:%Y-%m-%d %H:%M:%S}: {self.requests} requests"

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0
