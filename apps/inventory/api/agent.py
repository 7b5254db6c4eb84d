"""The host agent's report endpoint: ``POST /api/v1/agent/reports/`` with an agent-scoped token.

Who may report: a user who is an admin of the cluster's organisation (or staff), through an
agent token that is not limited to one team (a team's token carries no organisation rights).
A cluster the caller cannot see (another organisation's, or none of that name) gets the same
400 on ``cluster`` as a name that does not exist, so the answer never confirms that it exists;
a caller who can see it (its clusters are listed to them) but is not an admin gets 403. The
cluster is named in the body, not the URL, so a bad name is a field error like any other bad
reference.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.db import IntegrityError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.parsers import JSONParser
from apps.core.errors import Conflict
from apps.inventory import services
from apps.inventory.choices import AcceleratorHealth, MigMode
from apps.inventory.models import Cluster
from apps.inventory.reports import AcceleratorReport, NetworkReport, NodeReport
from apps.tenancy.authentication import BearerTokenAuthentication
from apps.tenancy.scoping import administers_organisation, caller_organisation_ids

# Bounds beyond which a value is a bug or an attack, not hardware.
MAX_ACCELERATORS = 1024  # per host
MAX_INDEX = 1024
MAX_CPUS = 65_536
MAX_MEMORY_BYTES = 2**50  # 1 PiB
MAX_MEMORY_MIB = 2**30  # 1 PiB
MAX_TEMPERATURE_C = 200
MAX_WATTS = 5_000  # a whole GB200 superchip module draws about 2,700 W
MAX_PCIE_GENERATION = 10
MAX_PCIE_WIDTH = 32
MAX_NVLINK_LINKS = 64
MAX_MIG_INSTANCES = 64
MAX_LABELS = 64

HOSTNAME_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,253}[A-Za-z0-9])?$"
PCI_DEVICE_ID_PATTERN = r"^(?:0x[0-9a-fA-F]{4})?$"
PCI_BUS_ID_PATTERN = r"^(?:[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])?$"
COMPUTE_CAPABILITY_PATTERN = r"^(?:\d{1,2}\.\d{1,2})?$"


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: no strings, no booleans, no 1.5."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int | float) or data != int(data):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class StrictFloatField(serializers.FloatField):
    """A JSON number: no strings, no booleans."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return float(super().to_internal_value(data))


class MigInstanceSerializer(serializers.Serializer):  # type: ignore[type-arg]
    index = StrictIntegerField(min_value=0, max_value=MAX_MIG_INSTANCES, allow_null=True)
    gpu_instance_id = StrictIntegerField(min_value=0, max_value=MAX_INDEX, allow_null=True)
    compute_instance_id = StrictIntegerField(min_value=0, max_value=MAX_INDEX, allow_null=True)
    memory_total_mib = StrictIntegerField(min_value=0, max_value=MAX_MEMORY_MIB, allow_null=True)
    uuid = serializers.CharField(max_length=100, allow_blank=True, required=False)
    name = serializers.CharField(max_length=200, allow_blank=True, required=False)


class AcceleratorReportSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """One GPU as the agent read it; every key is required, null where the host could not say."""

    index = StrictIntegerField(min_value=0, max_value=MAX_INDEX)
    reported_name = serializers.CharField(max_length=200, allow_blank=True, trim_whitespace=False)
    uuid = serializers.CharField(max_length=100, allow_blank=True)
    pci_device_id = serializers.RegexField(PCI_DEVICE_ID_PATTERN, max_length=20, allow_blank=True)
    pci_bus_id = serializers.RegexField(PCI_BUS_ID_PATTERN, max_length=32, allow_blank=True)
    compute_capability = serializers.RegexField(COMPUTE_CAPABILITY_PATTERN, max_length=10, allow_blank=True)
    memory_total_mib = StrictIntegerField(min_value=0, max_value=MAX_MEMORY_MIB, allow_null=True)
    memory_used_mib = StrictIntegerField(min_value=0, max_value=MAX_MEMORY_MIB, allow_null=True)
    mig_mode = serializers.ChoiceField(choices=MigMode.choices)
    mig_instances = serializers.ListField(child=MigInstanceSerializer(), max_length=MAX_MIG_INSTANCES)
    health = serializers.ChoiceField(choices=AcceleratorHealth.choices)
    utilisation_percent = StrictFloatField(min_value=0, max_value=100, allow_null=True)
    temperature_c = StrictFloatField(min_value=-50, max_value=MAX_TEMPERATURE_C, allow_null=True)
    power_watts = StrictFloatField(min_value=0, max_value=MAX_WATTS, allow_null=True)
    power_limit_watts = StrictFloatField(min_value=0, max_value=MAX_WATTS, allow_null=True)
    pcie_generation = StrictIntegerField(min_value=1, max_value=MAX_PCIE_GENERATION, allow_null=True)
    pcie_width = StrictIntegerField(min_value=1, max_value=MAX_PCIE_WIDTH, allow_null=True)
    nvlink_active_links = StrictIntegerField(min_value=0, max_value=MAX_NVLINK_LINKS, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        total, used = attrs["memory_total_mib"], attrs["memory_used_mib"]
        if total is not None and used is not None and used > total:
            raise serializers.ValidationError({"memory_used_mib": "More memory used than the device has."})
        return attrs


MAX_INTERFACES = 256  # per host
MAX_BYTES_PER_SECOND = 1e13  # 80 Tbit/s: beyond any one NIC or port
INTERFACE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,63}$"  # a NIC, or an InfiniBand "device/port"


class NetworkReportSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """One interface's traffic over the agent's last two readings."""

    interface = serializers.RegexField(INTERFACE_PATTERN, max_length=64)
    kind = serializers.ChoiceField(choices=[("ethernet", "Ethernet (a NIC)"), ("infiniband", "InfiniBand port")])
    rx_bytes_per_second = StrictFloatField(min_value=0, max_value=MAX_BYTES_PER_SECOND)
    tx_bytes_per_second = StrictFloatField(min_value=0, max_value=MAX_BYTES_PER_SECOND)


class AgentReportSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """A host and its accelerators, as ``manage.py agent`` sends them. Unknown keys are ignored
    (a newer agent may send more); every known key is required."""

    cluster = serializers.SlugField(max_length=63)
    hostname = serializers.RegexField(HOSTNAME_PATTERN, max_length=255)
    cpus = StrictFloatField(min_value=0, max_value=MAX_CPUS)
    memory_bytes = StrictIntegerField(min_value=0, max_value=MAX_MEMORY_BYTES)
    labels = serializers.DictField(
        child=serializers.CharField(max_length=255, allow_blank=True), required=False, default=dict
    )
    external_id = serializers.CharField(max_length=128, allow_blank=True, required=False, default="")
    driver_version = serializers.CharField(max_length=50, allow_blank=True)
    cuda_version = serializers.CharField(max_length=20, allow_blank=True)
    accelerators = serializers.ListField(
        child=AcceleratorReportSerializer(), allow_empty=True, max_length=MAX_ACCELERATORS
    )
    # Optional: an older agent sends none.
    network = serializers.ListField(
        child=NetworkReportSerializer(), required=False, default=list, max_length=MAX_INTERFACES
    )

    def validate_labels(self, labels: dict[str, str]) -> dict[str, str]:
        if len(labels) > MAX_LABELS or any(len(key) > 255 for key in labels):
            raise serializers.ValidationError(f"At most {MAX_LABELS} labels, keys of at most 255 characters.")
        return labels

    def validate_cluster(self, name: str) -> Cluster:
        """The cluster, if the caller sees its organisation; the same error otherwise."""
        cluster = (
            Cluster.objects.filter(name=name, organisation_id__in=caller_organisation_ids(self.context["request"]))
            .select_related("organisation")
            .first()
        )
        if cluster is None:
            raise serializers.ValidationError(f"No cluster named {name!r}.")
        return cluster

    def validate_accelerators(self, accelerators: list[dict[str, Any]]) -> list[dict[str, Any]]:
        indexes = [a["index"] for a in accelerators]
        if len(set(indexes)) != len(indexes):
            raise serializers.ValidationError("Each accelerator index may appear once.")
        uuids = [a["uuid"] for a in accelerators if a["uuid"]]
        if len(set(uuids)) != len(uuids):
            raise serializers.ValidationError("Each accelerator UUID may appear once.")
        return accelerators

    def validate_network(self, network: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = [(n["kind"], n["interface"]) for n in network]
        if len(set(names)) != len(names):
            raise serializers.ValidationError("Each interface may appear once.")
        return network

    def to_report(self) -> NodeReport:
        data = self.validated_data
        return NodeReport(
            hostname=data["hostname"],
            cpus=data["cpus"],
            memory_bytes=data["memory_bytes"],
            labels=dict(data["labels"]),
            external_id=data["external_id"],
            driver_version=data["driver_version"],
            cuda_version=data["cuda_version"],
            accelerators=[
                AcceleratorReport(**{**accelerator, "mig_instances": [dict(m) for m in accelerator["mig_instances"]]})
                for accelerator in data["accelerators"]
            ],
            network=[NetworkReport(**dict(interface)) for interface in data["network"]],
        )


class AgentReportResultSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """What the report changed: all zero when nothing did (the heartbeat is still recorded)."""

    cluster = serializers.CharField()
    hostname = serializers.CharField()
    nodes_created = serializers.IntegerField()
    nodes_updated = serializers.IntegerField()
    nodes_marked_down = serializers.IntegerField()
    accelerators_created = serializers.IntegerField()
    accelerators_updated = serializers.IntegerField()
    accelerators_removed = serializers.IntegerField()
    interconnect_domains_written = serializers.IntegerField()
    rows_written = serializers.IntegerField()


class AgentReportView(APIView):
    """Record one host's report (agent-scoped tokens only)."""

    agent_endpoint = True
    # Agents hold bearer tokens only (a dashboard session is no credential here), and send JSON.
    authentication_classes = [BearerTokenAuthentication]
    parser_classes = [JSONParser]

    @extend_schema(
        request=AgentReportSerializer,
        responses={200: AgentReportResultSerializer},
        summary="Report a host and its accelerators (host agent)",
    )
    def post(self, request: Request) -> Response:
        serializer = AgentReportSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        cluster: Cluster = serializer.validated_data["cluster"]
        if not administers_organisation(request, cluster.organisation_id):
            raise PermissionDenied("Only an admin of the cluster's organisation may report its hosts.")
        report = serializer.to_report()
        try:
            result = services.record_agent_report(actor=request.user, cluster=cluster, report=report)
        except IntegrityError as exc:
            # The same host reported twice at once and the other report created it first.
            raise Conflict("Another report for this host is being recorded; retry.") from exc
        body = {
            "cluster": cluster.name,
            "hostname": report.hostname,
            **asdict(result),
            "rows_written": result.rows_written,
        }
        return Response(AgentReportResultSerializer(body).data, status=status.HTTP_200_OK)
