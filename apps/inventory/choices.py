from django.db import models


class ClusterKind(models.TextChoices):
    RAY = "ray", "Ray"
    KUBERNETES = "kubernetes", "Kubernetes"
    LOCAL = "local", "Local"


class ClusterState(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    READY = "ready", "Ready"
    UNREACHABLE = "unreachable", "Unreachable"


class NodeState(models.TextChoices):
    READY = "ready", "Ready"
    CORDONED = "cordoned", "Cordoned (no new work)"
    DRAINING = "draining", "Draining (no new work; running work finishes)"
    DOWN = "down", "Down"


class ClusterSync(models.TextChoices):
    """Whether a node's cluster knows what Paddock decided about it (Kubernetes: its cordon)."""

    IN_STEP = "", "In step"
    PENDING = "pending", "Paddock is telling the cluster"
    FAILED = "failed", "Telling the cluster failed"


# States in which a node may take new work.
SCHEDULABLE_NODE_STATES = frozenset({NodeState.READY})


class NodeSource(models.TextChoices):
    RAY = "ray", "Ray discovery"
    KUBERNETES = "kubernetes", "Kubernetes discovery (nodes and GPU Feature Discovery labels)"
    AGENT = "agent", "Host agent (NVML)"
    MANUAL = "manual", "Entered by an operator"


class AcceleratorHealth(models.TextChoices):
    OK = "ok", "OK"
    DEGRADED = "degraded", "Degraded"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown"


class MigMode(models.TextChoices):
    DISABLED = "disabled", "Disabled"
    ENABLED = "enabled", "Enabled"
    UNSUPPORTED = "unsupported", "Not supported"


class Vendor(models.TextChoices):
    NVIDIA = "nvidia", "NVIDIA"
    AMD = "amd", "AMD"
    GOOGLE = "google", "Google"
    OTHER = "other", "Other"


class InterconnectKind(models.TextChoices):
    NVLINK = "nvlink", "NVLink"
    NVSWITCH = "nvswitch", "NVSwitch"
    INFINITY_FABRIC = "infinity_fabric", "Infinity Fabric"
    PCIE = "pcie", "PCIe only"


class FabricKind(models.TextChoices):
    INFINIBAND = "infiniband", "InfiniBand"
    ROCE = "roce", "RoCE"
    ETHERNET = "ethernet", "Ethernet"


class StorageKind(models.TextChoices):
    LUSTRE = "lustre", "Lustre"
    BEEGFS = "beegfs", "BeeGFS"
    NFS = "nfs", "NFS"
    S3 = "s3", "S3"
    GCS = "gcs", "Google Cloud Storage"
    AZURE = "azure", "Azure Blob"
    LOCAL = "local", "Local disk"


# Storage kinds that are mounted file systems (probe-storage can measure them).
FILESYSTEM_STORAGE_KINDS = frozenset({StorageKind.LUSTRE, StorageKind.BEEGFS, StorageKind.NFS, StorageKind.LOCAL})


class StoragePurpose(models.TextChoices):
    DATASETS = "datasets", "Datasets"
    CHECKPOINTS = "checkpoints", "Checkpoints"
    MODELS = "models", "Models"
