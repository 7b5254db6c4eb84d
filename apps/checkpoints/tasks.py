"""Thin Celery entry points for checkpoints."""

from __future__ import annotations

from apps.checkpoints import services
from apps.checkpoints.storage import StorageError
from apps.core.tasks import any_of, paddock_task


@paddock_task("checkpoints.finalize", autoretry_for=(StorageError,), retry_backoff=True, max_retries=8)
def finalize(checkpoint_id: int) -> str:
    return services.finalize_checkpoint(checkpoint_id)


@paddock_task("checkpoints.retain")
def retain(job_id: int) -> str:
    return services.retain_after_job(job_id)


@paddock_task("checkpoints.sweep", changed=any_of("finalized"))
def sweep() -> dict[str, int]:
    return {"finalized": services.sweep_writing()}
