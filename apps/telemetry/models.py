"""GPU readings per job and network traffic per node, as the host agent reports them."""

from __future__ import annotations

from django.db import models

from apps.telemetry.choices import InterfaceKind, Resolution


class GpuHolding(models.Model):
    """The latest reading of one GPU held by an attempt, and since when it has been idle."""

    attempt = models.ForeignKey("jobs.Attempt", on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey("inventory.Node", on_delete=models.CASCADE, related_name="+")
    gpu_index = models.PositiveSmallIntegerField()
    gpu_uuid = models.CharField(max_length=100, blank=True, default="")
    utilisation_percent = models.FloatField(null=True, blank=True)
    memory_used_mib = models.PositiveIntegerField(null=True, blank=True)
    power_watts = models.FloatField(null=True, blank=True)
    temperature_c = models.FloatField(null=True, blank=True)
    reading_at = models.DateTimeField()
    low_since = models.DateTimeField(
        null=True, blank=True, help_text="First reading of the current run under PADDOCK_IDLE_GPU_PERCENT"
    )
    idle_reported_at = models.DateTimeField(
        null=True, blank=True, help_text="When this run under the threshold raised the job's idle event"
    )

    class Meta:
        ordering = ["job", "attempt", "node", "gpu_index"]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "node", "gpu_index"], name="gpuholding_unique_gpu"),
        ]
        indexes = [models.Index(fields=["node", "gpu_index"], name="gpuholding_node_gpu")]

    def __str__(self) -> str:
        return f"attempt {self.attempt_id} gpu {self.node_id}:{self.gpu_index}"


class GpuSample(models.Model):
    """One GPU's readings summed over one time bucket, for the attempt that held it."""

    attempt = models.ForeignKey("jobs.Attempt", on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey("inventory.Node", on_delete=models.CASCADE, related_name="+")
    gpu_index = models.PositiveSmallIntegerField()
    resolution = models.PositiveIntegerField(choices=Resolution.choices)
    bucket_start = models.DateTimeField()
    # Sums and counts, so a bucket takes each reading with one INSERT … ON CONFLICT (no read).
    utilisation_sum = models.FloatField(default=0.0)
    utilisation_count = models.PositiveIntegerField(default=0)
    memory_used_mib_sum = models.FloatField(default=0.0)
    memory_used_count = models.PositiveIntegerField(default=0)
    power_watts_sum = models.FloatField(default=0.0)
    power_count = models.PositiveIntegerField(default=0)
    temperature_c_sum = models.FloatField(default=0.0)
    temperature_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["job", "resolution", "bucket_start", "node", "gpu_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["attempt", "node", "gpu_index", "resolution", "bucket_start"], name="gpusample_unique_bucket"
            ),
        ]
        indexes = [
            models.Index(fields=["job", "resolution", "bucket_start"], name="gpusample_job_series"),
            models.Index(fields=["resolution", "bucket_start"], name="gpusample_prune"),
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} gpu {self.node_id}:{self.gpu_index} @ {self.bucket_start:%Y-%m-%d %H:%M}"


class NodeNetwork(models.Model):
    """One interface of a node: its latest traffic, as bytes per second."""

    node = models.ForeignKey("inventory.Node", on_delete=models.CASCADE, related_name="+")
    interface = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=InterfaceKind.choices, default=InterfaceKind.ETHERNET)
    rx_bytes_per_second = models.FloatField()
    tx_bytes_per_second = models.FloatField()
    reading_at = models.DateTimeField()

    class Meta:
        ordering = ["node", "kind", "interface"]
        constraints = [
            models.UniqueConstraint(fields=["node", "kind", "interface"], name="nodenetwork_unique_interface"),
        ]

    def __str__(self) -> str:
        return f"node {self.node_id} {self.kind} {self.interface}"


class NodeNetworkSample(models.Model):
    """A node's traffic of one kind (all its NICs, or all its InfiniBand ports) over one bucket."""

    node = models.ForeignKey("inventory.Node", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=InterfaceKind.choices)
    resolution = models.PositiveIntegerField(choices=Resolution.choices)
    bucket_start = models.DateTimeField()
    rx_bytes_per_second_sum = models.FloatField(default=0.0)
    tx_bytes_per_second_sum = models.FloatField(default=0.0)
    readings = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["node", "kind", "resolution", "bucket_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["node", "kind", "resolution", "bucket_start"], name="nodenetworksample_unique_bucket"
            ),
        ]
        indexes = [models.Index(fields=["resolution", "bucket_start"], name="nodenetworksample_prune")]

    def __str__(self) -> str:
        return f"node {self.node_id} {self.kind} @ {self.bucket_start:%Y-%m-%d %H:%M}"
