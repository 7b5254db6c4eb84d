from django.db import models


class ClusterKind(models.TextChoices):
    RAY = "ray", "Ray"
    KUBERNETES = "kubernetes", "Kubernetes"
    LOCAL = "local", "Local"


class ClusterState(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    READY = "ready", "Ready"
    UNREACHABLE = "unreachable", "Unreachable"
