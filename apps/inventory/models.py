"""The hardware inventory: clusters, nodes, accelerators and their catalog, interconnect,
network fabrics, storage, and maintenance windows."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.db import models

from apps.core import crypto
from apps.core.models import TimeStampedModel
from apps.dispatch.port import Resources
from apps.inventory.choices import (
    AcceleratorHealth,
    ClusterKind,
    ClusterState,
    ClusterSync,
    FabricKind,
    InterconnectKind,
    MigMode,
    NodeSource,
    NodeState,
    StorageKind,
    StoragePurpose,
    Vendor,
)
from apps.inventory.querysets import ClusterQuerySet, NodeQuerySet


class Cluster(TimeStampedModel):
    """A compute cluster Paddock dispatches to (a Ray head's dashboard address, for now).

    A Ray cluster is one trust domain: its jobs run as one OS user and can reach its
    dashboard, so teams that must not see each other's work belong on different clusters.
    """

    organisation = models.ForeignKey("tenancy.Organisation", on_delete=models.PROTECT, related_name="clusters")
    name = models.SlugField(max_length=63, unique=True)
    kind = models.CharField(max_length=16, choices=ClusterKind.choices, default=ClusterKind.RAY)
    region = models.CharField(
        max_length=63, blank=True, default="", help_text="Where it runs (e.g. us-east-1): region prices apply"
    )
    address = models.CharField(
        max_length=255,
        help_text="Ray: the dashboard / Jobs API address, e.g. http://127.0.0.1:8265; Kubernetes: the API "
        "server's URL (the kubeconfig's server)",
    )
    # Ray: its auth token; Kubernetes: the checked kubeconfig (apps.dispatch.kubeconfig.SafeKubeconfig
    # as JSON: inline credentials only). Encrypted at rest; never shown.
    auth_token_encrypted = models.TextField(blank=True, default="", editable=False)
    kubernetes = models.JSONField(
        default=dict,
        blank=True,
        help_text='Kubernetes only: {"namespace", "image", "service_account", "tolerations", "kueue_queue", '
        '"has_jobset", "has_kuberay", "ttl_seconds_after_finished"}; empty keys take the defaults',
    )
    trusted_network = models.BooleanField(
        default=False,
        help_text="Its API needs no token because only trusted machines can reach it. "
        "A Ray cluster without an auth token is refused unless this is set.",
    )
    allowed_teams = models.ManyToManyField(
        "tenancy.Team",
        blank=True,
        related_name="allowed_on_clusters",
        help_text="Teams that may submit to it. Empty: every team of its organisation. A team of "
        "another organisation may use it only when listed here.",
    )
    state = models.CharField(max_length=16, choices=ClusterState.choices, default=ClusterState.UNKNOWN)
    state_message = models.CharField(max_length=500, blank=True, default="")
    # Capacity as the backend last reported it (total: what it could ever give).
    total_resources = models.JSONField(default=dict, blank=True)
    available_resources = models.JSONField(default=dict, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_reconciled_at = models.DateTimeField(null=True, blank=True)
    last_discovered_at = models.DateTimeField(null=True, blank=True)

    objects = ClusterQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def auth_token(self) -> str | None:
        return crypto.decrypt(self.auth_token_encrypted) if self.auth_token_encrypted else None

    def set_auth_token(self, token: str | None) -> None:
        self.auth_token_encrypted = crypto.encrypt(token) if token else ""

    @property
    def has_auth_token(self) -> bool:
        return bool(self.auth_token_encrypted)

    def organisations_sharing(self) -> list[str]:
        """Slugs of the organisations whose teams may submit here when there are several,
        else []. Several means jobs of different organisations share one trust domain.
        (Prefetch ``allowed_teams__organisation`` to ask this of many clusters.)"""
        listed = {team.organisation.slug for team in self.allowed_teams.all()}
        organisations = listed or {self.organisation.slug}
        return sorted(organisations) if len(organisations) > 1 else []

    @property
    def dashboard_url(self) -> str:
        """Ray: the dashboard's URL, which is the address Paddock stores (its Jobs API lives
        there); an address without http(s) (``ray://head:10001``, ``head:6379``) gives
        ``http://<host>:8265``, Ray's default dashboard port. Other kinds: ''."""
        if self.kind != ClusterKind.RAY or not self.address:
            return ""
        address = self.address.strip()
        if address.startswith(("http://", "https://")):
            return address.rstrip("/")
        parts = urlsplit(address if "://" in address else f"//{address}")
        try:
            host = parts.hostname
        except ValueError:
            return ""
        if not host:
            return ""
        return f"http://[{host}]:8265" if ":" in host else f"http://{host}:8265"

    def total(self) -> Resources:
        return resources_from_json(self.total_resources)

    def available(self) -> Resources:
        return resources_from_json(self.available_resources)


class AcceleratorModel(TimeStampedModel):
    """One accelerator product in the catalog, with sourced specs (dense figures)."""

    name = models.CharField(max_length=100, unique=True, help_text="e.g. H100 SXM")
    vendor = models.CharField(max_length=16, choices=Vendor.choices)
    architecture = models.CharField(max_length=50, blank=True, default="")
    memory_gb = models.FloatField(help_text="Usable device memory, GB")
    memory_type = models.CharField(max_length=20, blank=True, default="")
    memory_bandwidth_gbps = models.FloatField(help_text="GB/s")
    bf16_tflops = models.FloatField(null=True, blank=True, help_text="Dense BF16 TFLOPS (null: no BF16)")
    fp16_tflops = models.FloatField(null=True, blank=True, help_text="Dense FP16 TFLOPS")
    fp8_tflops = models.FloatField(null=True, blank=True, help_text="Dense FP8 TFLOPS (null: no FP8)")
    fp32_tflops = models.FloatField(null=True, blank=True, help_text="FP32 TFLOPS (non-tensor)")
    sparse_multiplier = models.FloatField(default=1.0, help_text="Vendor sparse rate / dense rate")
    mamf_bf16_tflops = models.FloatField(
        null=True, blank=True, help_text="Measured maximum achievable BF16 dense matmul TFLOPS (MAMF)"
    )
    scale_up_link = models.CharField(max_length=100, blank=True, default="", help_text="e.g. NVLink4")
    scale_up_bandwidth_gbps = models.FloatField(null=True, blank=True, help_text="Per GPU, GB/s")
    nvlink_domain_size = models.PositiveIntegerField(null=True, blank=True, help_text="GPUs per scale-up domain")
    pcie_generation = models.PositiveSmallIntegerField(null=True, blank=True)
    tdp_watts = models.FloatField(null=True, blank=True)
    supports_bf16 = models.BooleanField(default=True)
    supports_fp8 = models.BooleanField(default=False)
    # How discovery recognises it: names NVML / nvidia-smi / Ray report, and PCI device ids.
    match_names = models.JSONField(default=list, blank=True, help_text="Reported product names, exact")
    pci_device_ids = models.JSONField(default=list, blank=True, help_text='PCI device ids, e.g. ["0x2335"]')
    ray_accelerator_type = models.CharField(
        max_length=50, blank=True, default="", help_text="Ray's accelerator_type resource, e.g. H100"
    )
    source_url = models.URLField(max_length=500, help_text="Where the figures come from")
    notes = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["vendor", "name"]

    def __str__(self) -> str:
        return self.name


class Node(TimeStampedModel):
    """A machine in a cluster, as discovery or its agent last reported it."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="nodes")
    hostname = models.CharField(max_length=255)
    external_id = models.CharField(max_length=128, blank=True, default="", help_text="e.g. Ray's node id")
    source = models.CharField(max_length=16, choices=NodeSource.choices, default=NodeSource.MANUAL)
    address = models.CharField(max_length=64, blank=True, default="", help_text="The node's IP address")
    cpus = models.FloatField(default=0)
    memory_bytes = models.BigIntegerField(default=0)
    labels = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=NodeState.choices, default=NodeState.READY)
    state_reason = models.CharField(max_length=500, blank=True, default="")
    # Set when an operator marked the node down: discovery seeing it again does not revive it.
    held_down = models.BooleanField(default=False)
    # Cordoned or draining because its Kubernetes node is cordoned (spec.unschedulable set
    # outside Paddock), not by an operator here: discovery returns it to ready when that goes.
    cordoned_on_cluster = models.BooleanField(
        default=False, help_text="Cordoned on its Kubernetes cluster outside Paddock (not by an operator here)"
    )
    # Whether the cluster has been told of the node's cordon state Paddock set (Kubernetes).
    cluster_sync = models.CharField(
        max_length=8,
        choices=ClusterSync.choices,
        blank=True,
        default=ClusterSync.IN_STEP,
        help_text="Kubernetes: whether the node's cluster has the cordon Paddock set ('' in step, pending, failed)",
    )
    driver_version = models.CharField(max_length=50, blank=True, default="")
    cuda_version = models.CharField(max_length=20, blank=True, default="")
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = NodeQuerySet.as_manager()

    class Meta:
        ordering = ["cluster__name", "hostname"]
        constraints = [models.UniqueConstraint(fields=["cluster", "hostname"], name="node_unique_cluster_hostname")]
        indexes = [models.Index(fields=["state"], name="node_state")]

    def __str__(self) -> str:
        return f"{self.cluster.name}/{self.hostname}"


class Accelerator(TimeStampedModel):
    """One GPU or TPU chip on a node."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="accelerators")
    index = models.PositiveSmallIntegerField()
    uuid = models.CharField(max_length=100, blank=True, default="", help_text="NVML UUID when known")
    model = models.ForeignKey(
        AcceleratorModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="accelerators"
    )
    reported_name = models.CharField(max_length=200, blank=True, default="")
    pci_device_id = models.CharField(max_length=20, blank=True, default="", help_text="e.g. 0x2335")
    pci_bus_id = models.CharField(max_length=32, blank=True, default="")
    compute_capability = models.CharField(max_length=10, blank=True, default="")
    memory_total_mib = models.PositiveIntegerField(null=True, blank=True)
    memory_used_mib = models.PositiveIntegerField(null=True, blank=True)
    mig_mode = models.CharField(max_length=16, choices=MigMode.choices, default=MigMode.UNSUPPORTED)
    mig_instances = models.JSONField(default=list, blank=True)
    health = models.CharField(max_length=16, choices=AcceleratorHealth.choices, default=AcceleratorHealth.UNKNOWN)
    utilisation_percent = models.FloatField(null=True, blank=True)
    temperature_c = models.FloatField(null=True, blank=True)
    power_watts = models.FloatField(null=True, blank=True)
    power_limit_watts = models.FloatField(null=True, blank=True)
    pcie_generation = models.PositiveSmallIntegerField(null=True, blank=True)
    pcie_width = models.PositiveSmallIntegerField(null=True, blank=True)
    nvlink_active_links = models.PositiveSmallIntegerField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["node__cluster__name", "node__hostname", "index"]
        constraints = [models.UniqueConstraint(fields=["node", "index"], name="accelerator_unique_node_index")]
        indexes = [models.Index(fields=["uuid"], name="accelerator_uuid")]

    def __str__(self) -> str:
        return f"{self.node}#{self.index}"

    @property
    def unrecognised(self) -> bool:
        """Reported by a host but matched to no catalog model: an operator should map it."""
        return self.model_id is None


class InterconnectDomain(TimeStampedModel):
    """The accelerators of a node joined by NVLink / NVSwitch (or only PCIe)."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="interconnect_domains")
    kind = models.CharField(max_length=20, choices=InterconnectKind.choices)
    link_generation = models.PositiveSmallIntegerField(null=True, blank=True)
    bandwidth_gbps = models.FloatField(null=True, blank=True, help_text="Per GPU, GB/s")
    accelerators = models.ManyToManyField(Accelerator, related_name="interconnect_domains", blank=True)

    class Meta:
        ordering = ["node", "kind", "id"]

    def __str__(self) -> str:
        return f"{self.node} {self.kind}"


class NetworkFabric(TimeStampedModel):
    """The network between nodes: InfiniBand, RoCE or Ethernet."""

    organisation = models.ForeignKey("tenancy.Organisation", on_delete=models.PROTECT, related_name="fabrics")
    name = models.SlugField(max_length=63)
    kind = models.CharField(max_length=16, choices=FabricKind.choices)
    gbps_per_node = models.FloatField(help_text="Aggregate Gbit/s per node")
    rdma = models.BooleanField(default=False)
    nodes = models.ManyToManyField(Node, related_name="fabrics", blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="fabric_unique_org_name")]

    def __str__(self) -> str:
        return self.name


class StorageBackend(TimeStampedModel):
    """Where datasets, checkpoints and models live, with capacity and measured throughput."""

    organisation = models.ForeignKey("tenancy.Organisation", on_delete=models.PROTECT, related_name="storage")
    name = models.SlugField(max_length=63)
    kind = models.CharField(max_length=16, choices=StorageKind.choices)
    uri = models.CharField(max_length=500, help_text="A mount path (/mnt/lustre) or a URI (s3://bucket/prefix)")
    purpose = models.CharField(max_length=16, choices=StoragePurpose.choices)
    # S3-compatible object stores: where to reach them and with what (the secret is encrypted).
    endpoint_url = models.CharField(
        max_length=500,
        blank=True,
        default="",
        help_text="S3-compatible endpoint, e.g. http://127.0.0.1:9000; empty: AWS",
    )
    region = models.CharField(max_length=63, blank=True, default="")
    access_key_id = models.CharField(max_length=128, blank=True, default="")
    secret_access_key_encrypted = models.TextField(blank=True, default="", editable=False)
    capacity_bytes = models.BigIntegerField(null=True, blank=True)
    used_bytes = models.BigIntegerField(null=True, blank=True)
    read_gbps = models.FloatField(null=True, blank=True, help_text="Measured read throughput, GB/s")
    write_gbps = models.FloatField(null=True, blank=True, help_text="Measured write throughput, GB/s")
    measured_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="storage_unique_org_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def secret_access_key(self) -> str | None:
        return crypto.decrypt(self.secret_access_key_encrypted) if self.secret_access_key_encrypted else None

    def set_secret_access_key(self, secret: str | None) -> None:
        self.secret_access_key_encrypted = crypto.encrypt(secret) if secret else ""


class MaintenanceWindow(TimeStampedModel):
    """A period in which a node takes no new work (the scheduler honours it)."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="maintenance_windows")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=500)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="maintenance_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.node} {self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%H:%M}"


def resources_to_json(resources: Resources) -> dict[str, object]:
    return {
        "cpus": resources.cpus,
        "gpus": resources.gpus,
        "memory_bytes": resources.memory_bytes,
        "custom": dict(resources.custom),
    }


def resources_from_json(data: dict[str, object]) -> Resources:
    custom = data.get("custom") or {}
    return Resources(
        cpus=float(data.get("cpus", 0.0)),  # type: ignore[arg-type]
        gpus=float(data.get("gpus", 0.0)),  # type: ignore[arg-type]
        memory_bytes=int(data.get("memory_bytes", 0)),  # type: ignore[call-overload]
        custom={str(k): float(v) for k, v in custom.items()},  # type: ignore[attr-defined]
    )
