from django.db import models


class Runtime(models.TextChoices):
    RAY_SERVE = "ray-serve", "Ray Serve (transformers, or your own model class)"
    VLLM = "vllm", "vLLM (configuration generated from the planner)"


class EndpointState(models.TextChoices):
    PENDING = "pending", "Pending (waiting for its quota)"
    DEPLOYING = "deploying", "Deploying"
    READY = "ready", "Ready"
    DEGRADED = "degraded", "Degraded"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"


class RevisionState(models.TextChoices):
    PENDING = "pending", "Pending"
    DEPLOYING = "deploying", "Deploying"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    RETIRED = "retired", "Retired"


LIVE_REVISION_STATES = frozenset({RevisionState.PENDING, RevisionState.DEPLOYING, RevisionState.READY})


class EventKind(models.TextChoices):
    CREATED = "created", "Created"
    QUEUED = "queued", "Waiting for quota"
    DEPLOYING = "deploying", "Deploying"
    READY = "ready", "Ready"
    DEGRADED = "degraded", "Degraded"
    FAILED = "failed", "Failed"
    SCALED = "scaled", "Scaled"
    ROLLOUT = "rollout", "Rollout"
    PROMOTED = "promoted", "Promoted"
    ROLLED_BACK = "rolled_back", "Rolled back"
    RESTORED = "restored", "Restored on the cluster"
    STOPPED = "stopped", "Stopped"
    STARTED = "started", "Started"
    TOKEN = "token", "Token"
    DELETED = "deleted", "Deleted"
