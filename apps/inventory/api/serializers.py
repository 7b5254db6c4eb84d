from __future__ import annotations

import re
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.fields import byte_count_field, id_field
from apps.inventory.api.filters import AcceleratorState, stale_before
from apps.inventory.choices import NodeSource, StorageKind
from apps.inventory.models import (
    Accelerator,
    AcceleratorModel,
    Cluster,
    InterconnectDomain,
    NetworkFabric,
    Node,
    StorageBackend,
)
from apps.tenancy.models import Organisation


class ClusterSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A cluster as teams see it; credentials are never returned."""

    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    usable_by = serializers.SerializerMethodField(
        help_text="The caller's teams (slugs) that may submit jobs to this cluster"
    )
    dashboard_url = serializers.CharField(
        read_only=True, help_text="Ray: its dashboard (the address, or http://<host>:8265); '' for other kinds"
    )

    def get_usable_by(self, cluster: Cluster) -> list[str]:
        # From the prefetched allowed teams and the caller's teams in the context: no query.
        caller_teams: list[dict[str, Any]] = self.context.get("caller_teams", [])
        allowed = {team.pk for team in cluster.allowed_teams.all()}
        if allowed:
            return [team["slug"] for team in caller_teams if team["id"] in allowed]
        return [team["slug"] for team in caller_teams if team["organisation_id"] == cluster.organisation_id]

    class Meta:
        model = Cluster
        fields = [
            "id",
            "name",
            "kind",
            "address",
            "dashboard_url",
            "state",
            "state_message",
            "organisation",
            "usable_by",
            "trusted_network",
            "total_resources",
            "available_resources",
            "last_seen_at",
            "created_at",
        ]
        read_only_fields = fields


# --- the inventory: nodes, accelerators, catalog, fabrics, storage --------------------------
class AcceleratorCountsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    total = serializers.IntegerField(help_text="Accelerators the node reported")
    free = serializers.IntegerField(help_text="Healthy and idle: under 5% of memory in use and under 5% busy")


class InterconnectDomainSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """GPUs of one node joined by NVLink / NVSwitch (or only PCIe)."""

    accelerator_indexes = serializers.SerializerMethodField()

    class Meta:
        model = InterconnectDomain
        fields = ["id", "kind", "link_generation", "bandwidth_gbps", "accelerator_indexes"]
        read_only_fields = fields

    def get_accelerator_indexes(self, domain: InterconnectDomain) -> list[int]:
        return sorted(a.index for a in domain.accelerators.all())


class NodeSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A machine as its cluster's discovery or its agent last reported it."""

    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True)
    accelerators = serializers.SerializerMethodField()
    stale = serializers.SerializerMethodField(
        help_text="Its agent or discovery stopped reporting: last heartbeat over 3 discovery intervals ago"
    )
    interconnect_domains = InterconnectDomainSerializer(many=True, read_only=True)

    class Meta:
        model = Node
        fields = [
            "id",
            "cluster",
            "hostname",
            "address",
            "external_id",
            "source",
            "state",
            "state_reason",
            "cordoned_on_cluster",
            "cluster_sync",
            "cpus",
            "memory_bytes",
            "labels",
            "driver_version",
            "cuda_version",
            "accelerators",
            "interconnect_domains",
            "last_heartbeat_at",
            "stale",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(AcceleratorCountsSerializer)
    def get_accelerators(self, node: Node) -> dict[str, int]:
        # Annotated by the view (Node.objects.with_free_gpus): no query per node.
        return {"total": node.gpus_total, "free": node.gpus_free}  # type: ignore[attr-defined]

    def get_stale(self, node: Node) -> bool:
        if node.source == NodeSource.MANUAL:
            return False
        cutoff = self.context.get("stale_before") or stale_before(timezone.now())
        return node.last_heartbeat_at is None or node.last_heartbeat_at < cutoff


class AcceleratorSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """One GPU: what it is, how busy and healthy it is, and what it is linked to."""

    cluster = serializers.CharField(source="node.cluster.name", read_only=True)
    hostname = serializers.CharField(source="node.hostname", read_only=True)
    model = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True, help_text="Catalog model; null when unrecognised"
    )
    unrecognised = serializers.BooleanField(
        read_only=True, help_text="Reported by its host but matched to no catalog model"
    )
    state = serializers.ChoiceField(choices=AcceleratorState.choices, read_only=True)
    mig_instances = serializers.ListField(child=serializers.DictField(), read_only=True)
    interconnect_domains = InterconnectDomainSerializer(many=True, read_only=True)

    class Meta:
        model = Accelerator
        fields = [
            "id",
            "cluster",
            "node",
            "hostname",
            "index",
            "uuid",
            "model",
            "unrecognised",
            "reported_name",
            "state",
            "health",
            "utilisation_percent",
            "memory_total_mib",
            "memory_used_mib",
            "temperature_c",
            "power_watts",
            "power_limit_watts",
            "mig_mode",
            "mig_instances",
            "nvlink_active_links",
            "interconnect_domains",
            "pci_device_id",
            "pci_bus_id",
            "pcie_generation",
            "pcie_width",
            "compute_capability",
            "last_seen_at",
        ]
        read_only_fields = fields


class AcceleratorModelSummarySerializer(serializers.Serializer):  # type: ignore[type-arg]
    model = serializers.CharField(allow_null=True, help_text="Catalog model; null: unrecognised accelerators")
    total = serializers.IntegerField()
    free = serializers.IntegerField()
    busy = serializers.IntegerField()
    unhealthy = serializers.IntegerField()
    unknown = serializers.IntegerField(help_text="No reading says whether it is in use")


class AcceleratorSummarySerializer(serializers.Serializer):  # type: ignore[type-arg]
    """GPU counts by catalog model and state (the inventory's overview figure)."""

    models = AcceleratorModelSummarySerializer(many=True)
    total = serializers.IntegerField()
    free = serializers.IntegerField()
    busy = serializers.IntegerField()
    unhealthy = serializers.IntegerField()
    unknown = serializers.IntegerField()


PCI_DEVICE_ID = re.compile(r"^0x[0-9a-f]{4}$")


class AcceleratorModelSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """One product of the accelerator catalog (global; staff correct it)."""

    match_names = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=50, help_text="Reported names, exact"
    )
    pci_device_ids = serializers.ListField(
        child=serializers.CharField(max_length=10), required=False, max_length=50, help_text='e.g. ["0x2335"]'
    )
    memory_gb = serializers.FloatField(min_value=0.001, max_value=100_000)
    memory_bandwidth_gbps = serializers.FloatField(min_value=0, max_value=1_000_000)
    sparse_multiplier = serializers.FloatField(min_value=1, max_value=16, required=False)

    class Meta:
        model = AcceleratorModel
        fields = [
            "id",
            "name",
            "vendor",
            "architecture",
            "memory_gb",
            "memory_type",
            "memory_bandwidth_gbps",
            "bf16_tflops",
            "fp16_tflops",
            "fp8_tflops",
            "fp32_tflops",
            "sparse_multiplier",
            "mamf_bf16_tflops",
            "scale_up_link",
            "scale_up_bandwidth_gbps",
            "nvlink_domain_size",
            "pcie_generation",
            "tdp_watts",
            "supports_bf16",
            "supports_fp8",
            "match_names",
            "pci_device_ids",
            "ray_accelerator_type",
            "source_url",
            "notes",
            "updated_at",
        ]
        read_only_fields = ["id", "updated_at"]
        extra_kwargs = {
            name: {"min_value": 0}
            for name in (
                "bf16_tflops",
                "fp16_tflops",
                "fp8_tflops",
                "fp32_tflops",
                "mamf_bf16_tflops",
                "scale_up_bandwidth_gbps",
                "tdp_watts",
            )
        }

    def validate_match_names(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(name.strip() for name in value if name.strip()))

    def validate_pci_device_ids(self, value: list[str]) -> list[str]:
        cleaned = [device.strip().lower() for device in value]
        bad = [device for device in cleaned if not PCI_DEVICE_ID.match(device)]
        if bad:
            raise serializers.ValidationError(f"Not a PCI device id (0x followed by 4 hex digits): {', '.join(bad)}.")
        return list(dict.fromkeys(cleaned))


class OrganisationField(serializers.SlugRelatedField):  # type: ignore[type-arg]
    """An organisation by slug, among those of the caller's teams (others do not exist)."""

    def get_queryset(self) -> Any:
        return self.context.get("organisations", Organisation.objects.none())


class NodeIdsField(serializers.ListField):
    """Node ids: written as a list, read from the prefetched relation (no query per row)."""

    child = id_field()

    def get_attribute(self, instance: NetworkFabric) -> list[int]:
        return [node.pk for node in instance.nodes.all()]


class OrganisationOwnedSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """Shared by fabrics and storage: the organisation is chosen on create and then fixed;
    a name is unique within it."""

    organisation = OrganisationField(
        slug_field="slug",
        queryset=Organisation.objects.all(),
        required=False,
        help_text="Organisation slug; may be left out when the caller belongs to one organisation only",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance = self.instance
        if instance is not None:
            if "organisation" in attrs and attrs["organisation"].pk != instance.organisation_id:
                raise serializers.ValidationError({"organisation": ["Cannot be changed; create a new one instead."]})
            attrs["organisation"] = instance.organisation
        elif "organisation" not in attrs:
            only = list(self.context["organisations"][:2])
            if len(only) != 1:
                raise serializers.ValidationError({"organisation": ["Name the organisation (its slug)."]})
            attrs["organisation"] = only[0]
        name = attrs.get("name", instance.name if instance is not None else None)
        model: type[NetworkFabric | StorageBackend] = self.Meta.model
        taken = model._default_manager.filter(organisation=attrs["organisation"], name=name)
        if instance is not None:
            taken = taken.exclude(pk=instance.pk)
        if taken.exists():
            raise serializers.ValidationError({"name": ["This organisation already has one with this name."]})
        return attrs


class NetworkFabricSerializer(OrganisationOwnedSerializer):
    """The network between nodes: InfiniBand, RoCE or Ethernet."""

    gbps_per_node = serializers.FloatField(min_value=0.001, max_value=1_000_000, help_text="Aggregate Gbit/s per node")
    nodes = NodeIdsField(required=False, max_length=100_000, help_text="Ids of the nodes on this fabric")

    class Meta:
        model = NetworkFabric
        fields = ["id", "organisation", "name", "kind", "gbps_per_node", "rdma", "nodes", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []  # (organisation, name) is checked in validate()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if "nodes" in attrs:
            wanted = set(attrs["nodes"])
            found = list(Node.objects.filter(pk__in=wanted, cluster__organisation=attrs["organisation"]))
            missing = sorted(wanted - {node.pk for node in found})
            if missing:
                raise serializers.ValidationError(
                    {"nodes": [f"No node of this organisation has id {', '.join(map(str, missing))}."]}
                )
            attrs["nodes"] = found
        return attrs


FILESYSTEM_URI = "an absolute mount path, e.g. /mnt/lustre"
URI_SCHEMES: dict[str, tuple[tuple[str, ...], str]] = {
    StorageKind.S3: (("s3://",), "s3://bucket/prefix"),
    StorageKind.GCS: (("gs://",), "gs://bucket/prefix"),
    StorageKind.AZURE: (("az://", "abfs://", "abfss://", "https://"), "az://container/prefix"),
}


class StorageBackendSerializer(OrganisationOwnedSerializer):
    """Where datasets, checkpoints and models live; throughput is measured (probe-storage)."""

    capacity_bytes = byte_count_field(required=False, allow_null=True)
    used_bytes = byte_count_field(required=False, allow_null=True)

    class Meta:
        model = StorageBackend
        fields = [
            "id",
            "organisation",
            "name",
            "kind",
            "uri",
            "purpose",
            "endpoint_url",
            "region",
            "access_key_id",
            "capacity_bytes",
            "used_bytes",
            "read_gbps",
            "write_gbps",
            "measured_at",
            "created_at",
        ]
        read_only_fields = ["id", "read_gbps", "write_gbps", "measured_at", "created_at"]
        validators: list[Any] = []  # (organisation, name) is checked in validate()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        instance = self.instance

        def current(name: str) -> Any:
            return attrs[name] if name in attrs else getattr(instance, name, None)

        kind, uri = current("kind"), current("uri")
        if kind in URI_SCHEMES:
            schemes, example = URI_SCHEMES[kind]
            if not uri.startswith(schemes):
                raise serializers.ValidationError({"uri": [f"A {kind} backend's URI looks like {example}."]})
        elif not uri.startswith("/"):
            raise serializers.ValidationError({"uri": [f"A {kind} backend's URI is {FILESYSTEM_URI}."]})
        capacity, used = current("capacity_bytes"), current("used_bytes")
        if capacity is not None and used is not None and used > capacity:
            raise serializers.ValidationError({"used_bytes": ["More than the capacity."]})
        return attrs


class ClusterWriteSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Register or change a cluster (organisation admins). Credentials are write-only: a Ray
    auth token, or a Kubernetes kubeconfig (inline credentials only; checked as the admin's
    form checks it, stored encrypted, never returned); the answer is the cluster as read."""

    organisation = OrganisationField(
        slug_field="slug",
        queryset=Organisation.objects.all(),
        required=False,
        help_text="Organisation slug; may be left out when the caller belongs to one organisation only",
    )
    name = serializers.SlugField(max_length=63)
    kind = serializers.ChoiceField(choices=["ray", "kubernetes"])
    address = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        help_text="Ray: the dashboard address; Kubernetes: leave empty (the kubeconfig's server)",
    )
    kubeconfig = serializers.CharField(
        write_only=True,
        required=False,
        trim_whitespace=False,
        max_length=256 * 1024,
        help_text="Kubernetes: a kubeconfig with inline credentials (token or client certificate data). exec, "
        "auth-provider, tokenFile, file paths and servers that are not http(s) are refused. Never returned.",
    )
    auth_token = serializers.CharField(
        write_only=True, required=False, max_length=4096, help_text="Ray: its auth token. Never returned."
    )
    trusted_network = serializers.BooleanField(required=False)
    kubernetes = serializers.JSONField(
        required=False,
        help_text='Kubernetes settings: {"namespace", "image", "service_account", "tolerations", "kueue_queue", '
        '"has_jobset", "has_kuberay", "ttl_seconds_after_finished"}',
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance = self.instance
        if instance is not None:
            if "organisation" in attrs and attrs["organisation"].pk != instance.organisation_id:
                raise serializers.ValidationError({"organisation": ["Cannot be changed; register a new cluster."]})
            if "name" in attrs and attrs["name"] != instance.name:
                raise serializers.ValidationError({"name": ["Cannot be changed."]})
            attrs["organisation"] = instance.organisation
        elif "organisation" not in attrs:
            only = list(self.context["organisations"][:2])
            if len(only) != 1:
                raise serializers.ValidationError({"organisation": ["Name the organisation (its slug)."]})
            attrs["organisation"] = only[0]
        return attrs
