from __future__ import annotations

from rest_framework import serializers

from apps.telemetry.choices import InterfaceKind, Resolution
from apps.telemetry.models import GpuHolding, NodeNetwork


class GpuPointSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """One GPU over one bucket: the means of the readings in it (null: none reported)."""

    at = serializers.DateTimeField(help_text="Start of the bucket")
    attempt_number = serializers.IntegerField()
    node_id = serializers.IntegerField()
    hostname = serializers.CharField()
    gpu_index = serializers.IntegerField()
    utilisation_percent = serializers.FloatField(allow_null=True)
    memory_used_mib = serializers.FloatField(allow_null=True)
    power_watts = serializers.FloatField(allow_null=True)
    temperature_c = serializers.FloatField(allow_null=True)


class GpuSeriesSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """A job's GPU readings over time, from the host agents of the nodes its attempts ran on."""

    job = serializers.IntegerField()
    resolution_seconds = serializers.ChoiceField(choices=Resolution.choices)
    truncated = serializers.BooleanField(help_text="Older points were left out (the newest are kept)")
    points = GpuPointSerializer(many=True)


class GpuSeriesQuerySerializer(serializers.Serializer):  # type: ignore[type-arg]
    resolution = serializers.ChoiceField(
        choices=Resolution.choices, required=False, help_text="Bucket width in seconds; default: the finest kept"
    )


class IdleGpuSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A GPU held by a job and under the idle threshold for the idle span."""

    job_name = serializers.CharField(source="job.name")
    team = serializers.CharField(source="job.team.slug")
    attempt_number = serializers.IntegerField(source="attempt.number")
    cluster = serializers.CharField(source="node.cluster.name")
    hostname = serializers.CharField(source="node.hostname")
    idle_seconds = serializers.SerializerMethodField()

    class Meta:
        model = GpuHolding
        fields = [
            "id",
            "job",
            "job_name",
            "team",
            "attempt_number",
            "cluster",
            "node",
            "hostname",
            "gpu_index",
            "gpu_uuid",
            "utilisation_percent",
            "memory_used_mib",
            "power_watts",
            "temperature_c",
            "reading_at",
            "low_since",
            "idle_seconds",
        ]
        read_only_fields = fields

    def get_idle_seconds(self, holding: GpuHolding) -> float:
        """Seconds under the threshold, up to the latest reading."""
        assert holding.low_since is not None
        return (holding.reading_at - holding.low_since).total_seconds()


class NodeNetworkSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """One interface of a node and its latest traffic."""

    kind = serializers.ChoiceField(choices=InterfaceKind.choices)
    hostname = serializers.CharField(source="node.hostname")

    class Meta:
        model = NodeNetwork
        fields = [
            "id",
            "node",
            "hostname",
            "interface",
            "kind",
            "rx_bytes_per_second",
            "tx_bytes_per_second",
            "reading_at",
        ]
        read_only_fields = fields
