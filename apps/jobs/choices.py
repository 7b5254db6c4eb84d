from django.db import models


class JobKind(models.TextChoices):
    TRAINING = "training", "Training"
    FINE_TUNING = "fine_tuning", "Fine-tuning"
    BATCH = "batch", "Batch"
    # A serving endpoint's hold on its cluster: made by the serving app, never submitted directly.
    DEPLOYMENT = "deployment", "Deployment"


class JobRuntime(models.TextChoices):
    """What the entrypoint runs in. ``ray``: a Ray cluster of its own, made for the job and gone
    with it (a KubeRay RayJob on Kubernetes); on a Ray cluster every job already runs under Ray."""

    PROCESS = "process", "A process (or one per node)"
    RAY = "ray", "A Ray cluster of its own"


class JobState(models.TextChoices):
    PENDING = "pending", "Pending"
    ADMITTED = "admitted", "Admitted"
    DISPATCHING = "dispatching", "Dispatching"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    PREEMPTED = "preempted", "Preempted (going back to the queue)"


ACTIVE_STATES = frozenset(
    {JobState.PENDING, JobState.ADMITTED, JobState.DISPATCHING, JobState.RUNNING, JobState.PREEMPTED}
)
# Jobs that hold their quota and their GPUs.
HOLDING_STATES = frozenset({JobState.ADMITTED, JobState.DISPATCHING, JobState.RUNNING})
TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class EstimateConfidence(models.TextChoices):
    """How far to trust a pending job's estimated start: it rests on when running work ends."""

    NONE = "", "No estimate"
    HIGH = "high", "High (every job it waits for declares its runtime)"
    MEDIUM = "medium", "Medium (some ends come from the planner or the team's history)"
    LOW = "low", "Low (some ends are guesses, or the wait goes beyond what is known)"


class AttemptState(models.TextChoices):
    ADMITTED = "admitted", "Admitted (not yet sent)"
    SUBMITTED = "submitted", "Submitted (pending on the cluster)"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"
    LOST = "lost", "Lost (the cluster no longer knows it)"


# The longest max runtime a job may declare (Kueue's maximumExecutionTimeSeconds has none;
# a month keeps a typo from meaning "forever").
MAX_RUNTIME_LIMIT_SECONDS = 30 * 24 * 3600


def describe_seconds(seconds: float) -> str:
    """A span for people: ``2 h``, ``90 min``, ``1 h 30 min``, ``45 s``, ``3 d``."""
    whole = int(seconds)
    if whole < 60 or whole % 60:
        return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60} s"
    minutes = whole // 60
    if minutes < 60 or (minutes % 60 and minutes < 120):
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours >= 24 and not minutes and hours % 24 == 0:
        return f"{hours // 24} d"
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


class FailureCause(models.TextChoices):
    """Why an attempt ended badly: the job's own code, or the cluster under it."""

    NONE = "", "—"
    CODE = "code", "The job (its code, its command or its environment)"
    INFRASTRUCTURE = "infrastructure", "The cluster (it lost the job, a node or the job's supervisor died)"


ATTEMPT_ACTIVE_STATES = frozenset({AttemptState.ADMITTED, AttemptState.SUBMITTED, AttemptState.RUNNING})
# Attempts the backend knows about and that reconcile must compare with it.
ATTEMPT_REMOTE_STATES = frozenset({AttemptState.SUBMITTED, AttemptState.RUNNING})


class EventKind(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    WAITING = "waiting", "Waiting"
    ADMITTED = "admitted", "Admitted"
    DISPATCHED = "dispatched", "Dispatched"
    ADOPTED = "adopted", "Adopted an existing remote job"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    RETRYING = "retrying", "Retrying"
    CANCELLED = "cancelled", "Cancelled"
    STOPPED = "stopped", "Stopped on the cluster"
    LOST = "lost", "Lost"
    DISPATCH_ERROR = "dispatch_error", "Dispatch error"
    PREEMPTED = "preempted", "Preempted"
    REQUEUED = "requeued", "Back in the queue"
    # Raised by telemetry: a GPU the job holds stayed under PADDOCK_IDLE_GPU_PERCENT for PADDOCK_IDLE_GPU_MINUTES.
    IDLE_GPU = "idle_gpu", "GPU idle"


# What Paddock itself puts in a job's environment (nothing else named PADDOCK_ reaches a job):
# where the scheduler placed it, how to report to Paddock, where to checkpoint, what to resume.
JOB_ENVIRONMENT = frozenset(
    {
        "PADDOCK_PLACEMENT",
        "PADDOCK_API_URL",
        "PADDOCK_JOB_TOKEN",
        "PADDOCK_JOB_ID",
        "PADDOCK_ATTEMPT",
        "PADDOCK_CHECKPOINT_URI",
        "PADDOCK_RESUME_FROM",
        "PADDOCK_RESUME_STEP",
    }
)


class BulkCancelOutcome(models.TextChoices):
    """What a bulk cancel did to one of the jobs it was given."""

    CANCELLED = "cancelled", "Cancelled now"
    ALREADY_FINAL = "already_final", "It had already finished: nothing to cancel"
    NOT_FOUND = "not_found", "No such job in the caller's teams"
    FORBIDDEN = "forbidden", "The caller's role in its team cannot cancel jobs"
