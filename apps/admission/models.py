"""What admission owns in the database: which GPU each admitted job holds.

An **allocation** is one GPU held by one admitted job; the database refuses a second active
allocation of the same GPU.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Allocation(models.Model):
    """One GPU held by one admitted job, from admission until the job stops holding it."""

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="allocations")
    attempt = models.ForeignKey("jobs.Attempt", on_delete=models.CASCADE, related_name="allocations")
    accelerator = models.ForeignKey("inventory.Accelerator", on_delete=models.CASCADE, related_name="allocations")
    node = models.ForeignKey("inventory.Node", on_delete=models.CASCADE, related_name="allocations")
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "quotas_allocation"  # created by the quotas app before admission was its own app
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["accelerator"], condition=Q(released_at__isnull=True), name="allocation_one_holder_per_gpu"
            )
        ]
        indexes = [models.Index(fields=["job"], condition=Q(released_at__isnull=True), name="allocation_active_job")]

    def __str__(self) -> str:
        return f"GPU {self.accelerator_id} for job {self.job_id}"
