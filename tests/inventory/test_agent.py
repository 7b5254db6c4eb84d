"""The host agent: reading real H200 captures (nvidia-smi XML, NVML), the report endpoint, and
``manage.py agent`` end to end against a live server."""

from __future__ import annotations

import copy
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pynvml
import pytest
import requests
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.models import AuditEntry
from apps.inventory.agent import nvidia_smi, nvml
from apps.inventory.management.commands import agent as agent_command
from apps.inventory.models import Accelerator, AcceleratorModel, Node
from apps.inventory.reports import NodeReport, sync_reports
from tests.conftest import client_for, token_for
from tests.factories import (
    ClusterFactory,
    MembershipFactory,
    OrganisationAdminFactory,
    OrganisationFactory,
    TeamFactory,
    UserFactory,
)

GPU_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "gpu"
HOST_1, HOST_2 = GPU_FIXTURES / "h200-host-1", GPU_FIXTURES / "h200-host-2"
URL = "/api/v1/agent/reports/"

# What the captures say (nvidia-smi -q -x and nvml.json from the same two hosts).
COMMON = {
    "reported_name": "NVIDIA H200",
    "pci_device_id": "0x2335",
    "pci_bus_id": "00000000:00:06.0",
    "compute_capability": "9.0",
    "memory_total_mib": 143771,
    "mig_mode": "disabled",
    "mig_instances": [],
    "health": "ok",
    "utilisation_percent": 0.0,
    "power_limit_watts": 700.0,
    "pcie_generation": 5,
    "pcie_width": 16,
}
PER_HOST = {
    HOST_1: {"uuid": "GPU-0c4730a0-3154-82ef-8b57-64c24a701e09", "temperature_c": 45.0},
    HOST_2: {"uuid": "GPU-834baa81-7245-bc34-21a2-8a58ec7b0abc", "temperature_c": 39.0},
}


def load_capture(host: Path) -> dict[str, Any]:
    return json.loads((host / "nvml.json").read_text())


class CapturedNvml:
    """pynvml's functions answering with a captured reading (``nvml.json``).

    Constants, error classes and result structs are pynvml's own; a query the capture did not
    record fails as NVML does on a GPU without that feature (NVMLError_NotSupported).
    """

    def __init__(self, capture: dict[str, Any]) -> None:
        self.capture = capture

    def __getattr__(self, name: str) -> Any:
        if name.startswith(("nvmlDevice", "nvmlSystem")):

            def not_captured(*args: Any, **kwargs: Any) -> Any:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

            return not_captured
        return getattr(pynvml, name)

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.capture["driver_version"]

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return self.capture["cuda_driver_version"]

    def nvmlDeviceGetCount(self) -> int:
        return len(self.capture["devices"])

    def nvmlDeviceGetHandleByIndex(self, index: int) -> dict[str, Any]:
        return self.capture["devices"][index]

    def nvmlDeviceGetName(self, device: dict[str, Any]) -> str:
        return device["name"]

    def nvmlDeviceGetUUID(self, device: dict[str, Any]) -> str:
        return device["uuid"]

    def nvmlDeviceGetPciInfo(self, device: dict[str, Any]) -> Any:
        pci = device["pci"]
        return pynvml.nvmlPciInfo_t(
            busId=pci["bus_id"].encode(), pciDeviceId=pci["device_id"], pciSubSystemId=pci["subsystem_id"]
        )

    def nvmlDeviceGetCudaComputeCapability(self, device: dict[str, Any]) -> tuple[int, int]:
        major, minor = device["compute_capability"]
        return major, minor

    def nvmlDeviceGetMemoryInfo(self, device: dict[str, Any], version: int | None = None) -> Any:
        if version:  # the capture holds the v1 reading only
            raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
        return pynvml.c_nvmlMemory_t(**device["memory"])

    def nvmlDeviceGetMigMode(self, device: dict[str, Any]) -> list[int]:
        return list(device["mig_mode"])

    def nvmlDeviceGetUtilizationRates(self, device: dict[str, Any]) -> Any:
        return pynvml.c_nvmlUtilization_t(**device["utilization"])

    def nvmlDeviceGetPowerUsage(self, device: dict[str, Any]) -> int:
        return device["power_usage_mw"]

    def nvmlDeviceGetEnforcedPowerLimit(self, device: dict[str, Any]) -> int:
        return device["power_limit_mw"]

    def nvmlDeviceGetTemperature(self, device: dict[str, Any], sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return device["temperature_c"]

    def nvmlDeviceGetMaxPcieLinkGeneration(self, device: dict[str, Any]) -> int:
        return device["pcie_link_gen_max"]

    def nvmlDeviceGetMaxPcieLinkWidth(self, device: dict[str, Any]) -> int:
        return device["pcie_link_width_max"]

    def nvmlDeviceGetNvLinkState(self, device: dict[str, Any], link: int) -> int:
        captured = {entry["link"]: entry for entry in device["nvlink"]}
        entry = captured.get(link, {"error": "NVMLError_InvalidArgument"})
        if "error" in entry:
            raise getattr(pynvml, entry["error"])()
        return entry["state"]


def report_payload(report: NodeReport, cluster: str = "gpu-a") -> dict[str, Any]:
    from dataclasses import asdict

    return {"cluster": cluster, **asdict(report)}


def xml_report(host: Path = HOST_1, hostname: str = "h200-1") -> NodeReport:
    return nvidia_smi.read_file(host / "nvidia-smi-q.xml", hostname=hostname, cpus=16, memory_bytes=128 * 2**30)


def h200_in_catalog() -> AcceleratorModel:
    """The catalog's H200 (the seed migration adds it; created here when it did not)."""
    model, _ = AcceleratorModel.objects.get_or_create(
        name="H200 SXM",
        defaults={
            "vendor": "nvidia",
            "memory_gb": 141,
            "memory_bandwidth_gbps": 4800,
            "match_names": ["NVIDIA H200"],
            "pci_device_ids": ["0x2335"],
            "source_url": "https://www.nvidia.com/en-us/data-center/h200/",
        },
    )
    return model


def assert_nothing_written() -> None:
    assert Node.objects.count() == 0
    assert Accelerator.objects.count() == 0


# --- reading the captures --------------------------------------------------------------------


@pytest.mark.parametrize("host", [HOST_1, HOST_2], ids=["host-1", "host-2"])
def test_the_nvidia_smi_xml_capture_gives_the_real_values(host: Path) -> None:
    report = xml_report(host, hostname="h200")

    assert (report.hostname, report.cpus, report.memory_bytes) == ("h200", 16, 128 * 2**30)
    assert (report.driver_version, report.cuda_version) == ("580.159.04", "13.0")
    [gpu] = report.accelerators
    assert gpu.index == 0
    for name, value in {**COMMON, **PER_HOST[host]}.items():
        assert getattr(gpu, name) == value, name
    assert gpu.memory_used_mib == 4  # nvidia-smi leaves the 616 MiB the driver reserves out
    assert gpu.nvlink_active_links is None  # -q does not say


def test_the_two_hosts_captures_differ_in_their_own_readings() -> None:
    one, two = xml_report(HOST_1).accelerators[0], xml_report(HOST_2).accelerators[0]
    assert (one.power_watts, two.power_watts) == (79.55, 78.10)  # the one-second averages
    assert one.uuid != two.uuid


@pytest.mark.parametrize("host", [HOST_1, HOST_2], ids=["host-1", "host-2"])
def test_nvml_fed_the_captured_reading_gives_the_same_device_facts(host: Path) -> None:
    capture = load_capture(host)
    report = nvml.read_node(hostname="h200", cpus=16, memory_bytes=2**30, nvml=CapturedNvml(capture))

    assert (report.driver_version, report.cuda_version) == ("580.159.04", "13.0")
    [gpu] = report.accelerators
    for name, value in {**COMMON, **PER_HOST[host]}.items():
        assert getattr(gpu, name) == value, name
    # NVML's total is exact bytes: 150754820096 / 2**20 = 143771 MiB, as nvidia-smi prints it.
    assert capture["devices"][0]["memory"]["total"] == 150_754_820_096
    assert gpu.power_watts == capture["devices"][0]["power_usage_mw"] / 1000
    assert gpu.nvlink_active_links == 0  # NVML: NVLink not supported on this GPU
    # The XML says the same of every fact both sources carry.
    from_xml = xml_report(host).accelerators[0]
    for name in [*COMMON, "uuid", "temperature_c"]:
        assert getattr(gpu, name) == getattr(from_xml, name), name


def test_memory_rounds_to_the_nearest_mib_as_nvidia_smi_prints_it() -> None:
    assert nvml.mib(150_754_820_096) == 143771
    assert nvml.mib(150_106_472_448) == 143153  # 143152.69 MiB free: nvidia-smi shows 143153
    assert nvml.mib(2**20 - 1) == 1 and nvml.mib(2**19 - 1) == 0
    assert [nvml.cuda_version(v) for v in (13000, 12040, 0)] == ["13.0", "12.4", ""]


def test_nvml_reports_active_nvlinks_and_enabled_mig() -> None:
    capture = load_capture(HOST_1)
    device = capture["devices"][0]
    device["nvlink"] = [{"link": n, "state": 1 if n < 18 else 0} for n in range(18)]
    device["mig_mode"] = [1, 1]
    [gpu] = nvml.read_node(hostname="h", nvml=CapturedNvml(capture)).accelerators
    assert gpu.nvlink_active_links == 18
    assert gpu.mig_mode == "enabled"


def test_a_gpu_nvml_cannot_read_is_reported_failed_not_dropped() -> None:
    class LostGpu(CapturedNvml):
        def nvmlDeviceGetHandleByIndex(self, index: int) -> Any:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)

    [gpu] = nvml.read_node(hostname="h", nvml=LostGpu(load_capture(HOST_1))).accelerators
    assert (gpu.index, gpu.health) == (0, "failed")


def test_nvml_missing_is_a_clear_error() -> None:
    class NoDriver(CapturedNvml):
        def nvmlInit(self) -> None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    with pytest.raises(nvml.NvmlUnavailable, match="NVML Shared Library Not Found"):
        nvml.read_node(hostname="h", nvml=NoDriver({}))


def _edited_capture(tmp_path: Path, old: str, new: str) -> Path:
    text = (HOST_1 / "nvidia-smi-q.xml").read_text()
    assert old in text
    path = tmp_path / "edited.xml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "health"),
    [
        ("<remapped_row_pending>No<", "<remapped_row_pending>Yes<", "degraded"),
        ("<remapped_row_failure>No<", "<remapped_row_failure>Yes<", "failed"),
        ("<gpu_recovery_action>None<", "<gpu_recovery_action>GPU Reset<", "degraded"),
    ],
)
def test_the_capture_s_remap_and_recovery_state_gives_the_health(
    tmp_path: Path, old: str, new: str, health: str
) -> None:
    path = _edited_capture(tmp_path, old, new)
    assert nvidia_smi.read_file(path, hostname="h").accelerators[0].health == health


def test_a_capture_with_mig_enabled_lists_its_instances(tmp_path: Path) -> None:
    devices = "".join(
        f"<mig_device><index>{i}</index><gpu_instance_id>{i + 7}</gpu_instance_id>"
        f"<compute_instance_id>0</compute_instance_id><fb_memory_usage><total>16384 MiB</total>"
        f"</fb_memory_usage></mig_device>"
        for i in range(2)
    )
    path = _edited_capture(tmp_path, "<current_mig>Disabled</current_mig>", "<current_mig>Enabled</current_mig>")
    text = path.read_text().replace(
        "<mig_devices>\n\t\t\tNone\n\t\t</mig_devices>", f"<mig_devices>{devices}</mig_devices>"
    )
    path.write_text(text)
    gpu = nvidia_smi.read_file(path, hostname="h").accelerators[0]
    assert gpu.mig_mode == "enabled"
    assert gpu.mig_instances == [
        {"index": 0, "gpu_instance_id": 7, "compute_instance_id": 0, "memory_total_mib": 16384},
        {"index": 1, "gpu_instance_id": 8, "compute_instance_id": 0, "memory_total_mib": 16384},
    ]


@pytest.mark.parametrize("content", [b"not xml", b"<html><body>hi</body></html>"])
def test_a_file_that_is_not_a_capture_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    with pytest.raises(nvidia_smi.CaptureError):
        nvidia_smi.read_file(path, hostname="h")


# --- the report endpoint ---------------------------------------------------------------------


def agent_client(user: Any, team: Any = None) -> Any:
    return client_for(token_for(user, scope="agent", team=team))


@pytest.mark.django_db
def test_an_org_admin_s_agent_records_the_host_and_a_repeat_writes_nothing(world: Any) -> None:
    h200 = h200_in_catalog()
    client = agent_client(world.org_admin)
    payload = report_payload(xml_report())

    first = client.post(URL, payload, format="json")
    assert first.status_code == 200, first.content
    assert first.json() == {
        "cluster": "gpu-a",
        "hostname": "h200-1",
        "nodes_created": 1,
        "nodes_updated": 0,
        "nodes_marked_down": 0,
        "accelerators_created": 1,
        "accelerators_updated": 0,
        "accelerators_removed": 0,
        "interconnect_domains_written": 0,
        "rows_written": 2,
    }
    node = Node.objects.get(cluster=world.cluster, hostname="h200-1")
    assert (node.source, node.cpus, node.memory_bytes) == ("agent", 16, 128 * 2**30)
    assert (node.driver_version, node.cuda_version) == ("580.159.04", "13.0")
    gpu = node.accelerators.get()
    for name, value in {**COMMON, **PER_HOST[HOST_1]}.items():
        assert getattr(gpu, name) == value, name
    assert gpu.model == h200  # matched in the catalog by its PCI device id
    heartbeat, stamp = node.last_heartbeat_at, gpu.updated_at
    assert AuditEntry.objects.filter(action="inventory.agent_report", actor=world.org_admin).count() == 1

    second = client.post(URL, payload, format="json")
    assert second.status_code == 200
    assert second.json()["rows_written"] == 0
    node.refresh_from_db()
    gpu.refresh_from_db()
    assert node.last_heartbeat_at > heartbeat  # still seen
    assert gpu.updated_at == stamp  # but not rewritten
    assert AuditEntry.objects.filter(action="inventory.agent_report").count() == 1


@pytest.mark.django_db
def test_a_reading_that_changed_updates_the_row(world: Any) -> None:
    client = agent_client(world.org_admin)
    client.post(URL, report_payload(xml_report()), format="json")
    stamp = Accelerator.objects.get().updated_at
    payload = report_payload(xml_report())
    payload["accelerators"][0].update(utilisation_percent=97.0, temperature_c=61.0, memory_used_mib=70000)
    response = client.post(URL, payload, format="json")
    assert response.json()["accelerators_updated"] == 1
    gpu = Accelerator.objects.get()
    assert (gpu.utilisation_percent, gpu.temperature_c, gpu.memory_used_mib) == (97.0, 61.0, 70000)
    assert gpu.updated_at > stamp


@pytest.mark.django_db
def test_the_training_series_reported_through_nvml_is_recorded_sample_by_sample(world: Any) -> None:
    """host-2's 250 ms NVML series taken while training ran, fed to the seam and posted."""
    series = json.loads((HOST_2 / "nvml-series-during-training.json").read_text())
    assert max(s["gpu_util"] for s in series) == 100  # training did run
    client = agent_client(world.org_admin)
    base = load_capture(HOST_2)
    previous: tuple[Any, ...] | None = None
    for sample in series:
        capture = copy.deepcopy(base)
        device = capture["devices"][0]
        device["utilization"] = {"gpu": sample["gpu_util"], "memory": sample["mem_util"]}
        total = device["memory"]["total"]
        device["memory"] = {"total": total, "used": sample["mem_used"], "free": total - sample["mem_used"]}
        device["power_usage_mw"], device["temperature_c"] = sample["power_mw"], sample["temp_c"]
        report = nvml.read_node(hostname="h200-2", cpus=16, memory_bytes=2**37, nvml=CapturedNvml(capture))
        gpu = report.accelerators[0]
        reading = (gpu.utilisation_percent, gpu.memory_used_mib, gpu.power_watts, gpu.temperature_c)
        assert reading == (
            sample["gpu_util"],
            nvml.mib(sample["mem_used"]),
            sample["power_mw"] / 1000,
            sample["temp_c"],
        )

        response = client.post(URL, report_payload(report), format="json")
        assert response.status_code == 200, response.content
        expected_updates = 0 if previous is None or reading == previous else 1
        assert response.json()["accelerators_updated"] == expected_updates
        previous = reading
    recorded = Accelerator.objects.get(node__hostname="h200-2")
    last = series[-1]
    assert (recorded.utilisation_percent, recorded.power_watts) == (last["gpu_util"], last["power_mw"] / 1000)


@pytest.mark.django_db
def test_a_host_that_stopped_reporting_keeps_its_last_heartbeat(world: Any) -> None:
    client = agent_client(world.org_admin)
    for hostname in ("h200-1", "h200-2"):
        client.post(URL, report_payload(xml_report(hostname=hostname)), format="json")
    stopped = Node.objects.get(hostname="h200-2")
    client.post(URL, report_payload(xml_report(hostname="h200-1")), format="json")

    alive = Node.objects.get(hostname="h200-1")
    stopped_now = Node.objects.get(hostname="h200-2")
    assert stopped_now.last_heartbeat_at == stopped.last_heartbeat_at
    assert alive.last_heartbeat_at > stopped_now.last_heartbeat_at
    assert stopped_now.accelerators.get().last_seen_at < alive.accelerators.get().last_seen_at
    assert stopped_now.state == "ready"  # an agent reports one host: silence is shown, not judged


@pytest.mark.django_db
def test_one_host_s_report_costs_the_same_queries_however_big_the_cluster(world: Any) -> None:
    client = agent_client(world.org_admin)
    payload = report_payload(xml_report())
    client.post(URL, payload, format="json")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.post(URL, payload, format="json").status_code == 200
        return len(ctx.captured_queries)

    few = count()
    Node.objects.bulk_create([Node(cluster=world.cluster, hostname=f"other-{i}") for i in range(200)])
    assert count() == few


@pytest.mark.django_db
def test_a_gpu_that_disappears_is_removed_and_one_that_appears_is_added(world: Any) -> None:
    client = agent_client(world.org_admin)
    payload = report_payload(xml_report())
    client.post(URL, payload, format="json")
    moved = copy.deepcopy(payload)
    moved["accelerators"][0].update(index=1)
    body = client.post(URL, moved, format="json").json()
    assert (body["accelerators_created"], body["accelerators_removed"]) == (1, 1)
    assert list(Accelerator.objects.values_list("index", flat=True)) == [1]


# --- who may report --------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_token_is_401(world: Any) -> None:
    response = client_for(None).post(URL, report_payload(xml_report()), format="json")
    assert response.status_code == 401
    assert_nothing_written()


@pytest.mark.django_db
@pytest.mark.parametrize("scope", ["read", "write"])
def test_a_read_or_write_token_is_403(world: Any, scope: str) -> None:
    response = world.client(world.org_admin, scope=scope).post(URL, report_payload(xml_report()), format="json")
    assert response.status_code == 403
    assert_nothing_written()


@pytest.mark.django_db
def test_an_agent_token_may_call_nothing_else(world: Any) -> None:
    assert agent_client(world.org_admin).get("/api/v1/clusters/").status_code == 403


@pytest.mark.django_db
def test_a_dashboard_session_cannot_report(world: Any) -> None:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(world.org_admin)
    assert client.post(URL, report_payload(xml_report()), format="json").status_code == 401
    assert_nothing_written()


@pytest.mark.django_db
def test_a_form_post_is_415(world: Any) -> None:
    response = agent_client(world.org_admin).post(URL, {"cluster": "gpu-a"}, format="multipart")
    assert response.status_code == 415
    assert_nothing_written()


@pytest.mark.django_db
@pytest.mark.parametrize("user", ["member", "viewer"])
def test_an_agent_token_of_a_non_admin_is_403(world: Any, user: str) -> None:
    response = agent_client(getattr(world, user)).post(URL, report_payload(xml_report()), format="json")
    assert response.status_code == 403
    assert_nothing_written()


@pytest.mark.django_db
def test_an_agent_token_limited_to_a_team_carries_no_organisation_rights(world: Any) -> None:
    MembershipFactory(team=world.beta, user=world.org_admin, role="admin")  # org admin, and admin of beta
    response = agent_client(world.org_admin, team=world.beta).post(URL, report_payload(xml_report()), format="json")
    assert response.status_code == 403
    assert_nothing_written()
    # The same user's token for no one team may.
    assert agent_client(world.org_admin).post(URL, report_payload(xml_report()), format="json").status_code == 200


@pytest.mark.django_db
def test_an_agent_token_of_a_team_admin_is_403(world: Any) -> None:
    """An admin of a team of the cluster's organisation is not an admin of the organisation."""
    for user in (world.admin, world.outsider):
        response = agent_client(user).post(URL, report_payload(xml_report()), format="json")
        assert response.status_code == 403
    assert_nothing_written()


@pytest.mark.django_db
def test_another_organisation_s_cluster_answers_as_if_it_did_not_exist(world: Any) -> None:
    other_org = OrganisationFactory(slug="other")
    other_team = TeamFactory(organisation=other_org, slug="others")
    stranger = UserFactory(username="stranger")
    MembershipFactory(team=other_team, user=stranger, role="admin")
    OrganisationAdminFactory(organisation=other_org, user=stranger)
    client = agent_client(stranger)

    theirs = client.post(URL, report_payload(xml_report(), cluster="gpu-a"), format="json")
    missing = client.post(URL, report_payload(xml_report(), cluster="no-such-cluster"), format="json")

    assert theirs.status_code == missing.status_code == 400
    assert theirs.json()["cluster"] == ["No cluster named 'gpu-a'."]
    assert missing.json()["cluster"] == ["No cluster named 'no-such-cluster'."]
    assert_nothing_written()
    # Their own organisation's cluster is theirs to report.
    ClusterFactory(organisation=other_org, name="theirs")
    assert client.post(URL, report_payload(xml_report(), cluster="theirs"), format="json").status_code == 200


# --- bad payloads: 400 and nothing written ---------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"cluster": "gpu-a", "cpus": NaN}', b"[]", b'"a string"', b""],
    ids=["malformed", "nan", "list", "string", "empty"],
)
def test_a_body_that_is_not_a_report_object_is_400(world: Any, body: bytes) -> None:
    response = agent_client(world.org_admin).post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert_nothing_written()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "missing",
    ["cluster", "hostname", "cpus", "memory_bytes", "driver_version", "cuda_version", "accelerators"],
)
def test_a_missing_host_field_is_400(world: Any, missing: str) -> None:
    payload = report_payload(xml_report())
    del payload[missing]
    response = agent_client(world.org_admin).post(URL, payload, format="json")
    assert response.status_code == 400
    assert missing in response.json()
    assert_nothing_written()


@pytest.mark.django_db
@pytest.mark.parametrize("missing", ["index", "reported_name", "uuid", "pci_device_id", "memory_total_mib", "health"])
def test_a_missing_accelerator_field_is_400(world: Any, missing: str) -> None:
    payload = report_payload(xml_report())
    del payload["accelerators"][0][missing]
    response = agent_client(world.org_admin).post(URL, payload, format="json")
    assert response.status_code == 400
    assert missing in response.json()["accelerators"]["0"]
    assert_nothing_written()


ABSURD_HOST = [
    ("cpus", -1),
    ("cpus", "16"),
    ("cpus", True),
    ("memory_bytes", -1),
    ("memory_bytes", 2**50 + 1),
    ("hostname", "../../etc/passwd"),
    ("hostname", ""),
    ("accelerators", "GPU0"),
    ("labels", {"k": ["not", "a", "string"]}),
]
ABSURD_GPU = [
    ("index", -1),
    ("index", 1025),
    ("index", 1.5),
    ("memory_total_mib", 2**30 + 1),
    ("memory_total_mib", -5),
    ("memory_used_mib", 143772),  # more than the device has
    ("utilisation_percent", 100.5),
    ("utilisation_percent", -1),
    ("temperature_c", 201),
    ("power_watts", -3),
    ("power_watts", 50_000),
    ("power_limit_watts", "700 W"),
    ("pcie_generation", 0),
    ("pcie_width", 64),
    ("nvlink_active_links", 65),
    ("mig_mode", "sometimes"),
    ("health", "fine"),
    ("pci_device_id", "2335"),
    ("pci_bus_id", "bus 6"),
    ("compute_capability", "nine"),
    ("mig_instances", "none"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value"), ABSURD_HOST, ids=[f"{f}={v!r}"[:40] for f, v in ABSURD_HOST])
def test_an_absurd_host_value_is_400(world: Any, field: str, value: Any) -> None:
    payload = report_payload(xml_report())
    payload[field] = value
    response = agent_client(world.org_admin).post(URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert_nothing_written()


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value"), ABSURD_GPU, ids=[f"{f}={v!r}"[:40] for f, v in ABSURD_GPU])
def test_an_absurd_value_in_the_second_accelerator_writes_nothing(world: Any, field: str, value: Any) -> None:
    payload = report_payload(xml_report())
    second = {**payload["accelerators"][0], "index": 1, "uuid": "GPU-00000000-0000-0000-0000-000000000001"}
    second[field] = value
    payload["accelerators"].append(second)
    response = agent_client(world.org_admin).post(URL, payload, format="json")
    assert response.status_code == 400
    errors = response.json()["accelerators"]
    assert "1" in errors and "0" not in errors
    assert_nothing_written()


@pytest.mark.django_db
def test_more_than_1024_accelerators_is_400(world: Any) -> None:
    payload = report_payload(xml_report())
    gpu = payload["accelerators"][0]
    payload["accelerators"] = [{**gpu, "index": i, "uuid": ""} for i in range(1025)]
    response = agent_client(world.org_admin).post(URL, payload, format="json")
    assert response.status_code == 400
    assert "1024" in str(response.json()["accelerators"])
    assert_nothing_written()


@pytest.mark.django_db
def test_mig_instances_are_recorded_and_a_repeat_writes_nothing(world: Any) -> None:
    payload = report_payload(xml_report())
    instances = [
        {"index": i, "gpu_instance_id": i + 7, "compute_instance_id": 0, "memory_total_mib": 16384} for i in range(2)
    ]
    payload["accelerators"][0].update(mig_mode="enabled", mig_instances=instances)
    client = agent_client(world.org_admin)
    assert client.post(URL, payload, format="json").status_code == 200
    assert client.post(URL, payload, format="json").json()["rows_written"] == 0
    gpu = Accelerator.objects.get()
    assert (gpu.mig_mode, gpu.mig_instances) == ("enabled", instances)


@pytest.mark.django_db
@pytest.mark.parametrize("duplicate", ["index", "uuid"])
def test_two_accelerators_with_the_same_index_or_uuid_are_400(world: Any, duplicate: str) -> None:
    payload = report_payload(xml_report())
    second = {**payload["accelerators"][0], "index": 1, "uuid": "GPU-other"}
    second[duplicate] = payload["accelerators"][0][duplicate]
    payload["accelerators"].append(second)
    response = agent_client(world.org_admin).post(URL, payload, format="json")
    assert response.status_code == 400
    assert "accelerators" in response.json()
    assert_nothing_written()


@pytest.mark.django_db
def test_a_bad_report_leaves_an_existing_host_as_it_was(world: Any) -> None:
    client = agent_client(world.org_admin)
    client.post(URL, report_payload(xml_report()), format="json")
    before = list(Accelerator.objects.values())
    payload = report_payload(xml_report())
    payload["cpus"] = 999
    payload["accelerators"][0]["temperature_c"] = 80
    payload["accelerators"].append(
        {**payload["accelerators"][0], "index": 1, "uuid": "GPU-x", "utilisation_percent": 400}
    )
    assert client.post(URL, payload, format="json").status_code == 400
    assert Node.objects.get().cpus == 16
    assert list(Accelerator.objects.values()) == before


# --- sync_reports: what the agent relies on --------------------------------------------------


@pytest.mark.django_db
def test_a_value_a_source_did_not_report_keeps_the_recorded_one(world: Any) -> None:
    from dataclasses import replace

    report = xml_report()
    sync_reports(cluster=world.cluster, reports=[report], source="agent", complete=False)
    silent = replace(report, accelerators=[replace(report.accelerators[0], temperature_c=None, power_watts=None)])
    result = sync_reports(cluster=world.cluster, reports=[silent], source="agent", complete=False)
    assert result.rows_written == 0
    assert Accelerator.objects.get().temperature_c == 45.0


@pytest.mark.django_db
def test_a_hostname_reported_twice_in_one_sync_is_refused(world: Any) -> None:
    with pytest.raises(ValueError, match="once"):
        sync_reports(cluster=world.cluster, reports=[xml_report(), xml_report()], source="agent", complete=False)
    assert_nothing_written()


# --- manage.py agent against a live server ---------------------------------------------------


@pytest.fixture
def agent_setup(transactional_db: Any) -> dict[str, Any]:
    org = OrganisationFactory(slug="fleet")
    ClusterFactory(organisation=org, name="h200s")
    team = TeamFactory(organisation=org, slug="infra")
    ops = UserFactory(username="ops")
    MembershipFactory(team=team, user=ops, role="admin")
    OrganisationAdminFactory(organisation=org, user=ops)
    return {"token": token_for(ops, scope="agent"), "user": ops, "h200": h200_in_catalog()}


def run_agent(live_server: Any, token: str, *extra: str) -> str:
    out = StringIO()
    call_command(
        "agent",
        "--api",
        live_server.url,
        "--token",
        token,
        "--cluster",
        "h200s",
        "--hostname",
        "h200-1",
        "--cpus",
        "16",
        "--memory-bytes",
        str(128 * 2**30),
        *extra,
        stdout=out,
        stderr=StringIO(),
    )
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_the_agent_replays_a_capture_to_a_live_server_and_a_repeat_writes_nothing(
    live_server: Any, agent_setup: dict[str, Any]
) -> None:
    xml = str(HOST_1 / "nvidia-smi-q.xml")
    out = run_agent(live_server, agent_setup["token"], "--once", "--from-nvidia-smi-xml", xml)
    assert "h200s/h200-1: 1 accelerators reported, 2 rows written" in out

    node = Node.objects.get(cluster__name="h200s", hostname="h200-1")
    assert (node.source, node.cpus, node.memory_bytes, node.driver_version) == ("agent", 16, 128 * 2**30, "580.159.04")
    gpu = node.accelerators.get()
    for name, value in {**COMMON, **PER_HOST[HOST_1]}.items():
        assert getattr(gpu, name) == value, name
    assert gpu.model == agent_setup["h200"]  # matched in the catalog by its PCI device id
    heartbeat, stamp = node.last_heartbeat_at, gpu.updated_at

    again = run_agent(live_server, agent_setup["token"], "--once", "--from-nvidia-smi-xml", xml)
    assert "0 rows written (node +0 ~0, accelerators +0 ~0 -0)" in again
    node.refresh_from_db()
    gpu.refresh_from_db()
    assert node.last_heartbeat_at > heartbeat and gpu.updated_at == stamp


@pytest.mark.django_db(transaction=True)
def test_the_agent_exits_non_zero_when_the_api_refuses(
    live_server: Any, agent_setup: dict[str, Any], monkeypatch: Any
) -> None:
    xml = str(HOST_1 / "nvidia-smi-q.xml")
    slept: list[float] = []
    monkeypatch.setattr(agent_command, "_sleep", slept.append)
    # Looping (no --once): a refusal is not retried.
    with pytest.raises(CommandError, match="HTTP 401"):
        run_agent(live_server, "pdk_abc.def", "--from-nvidia-smi-xml", xml)
    with pytest.raises(CommandError, match=r"HTTP 400.*No cluster named"):
        out = StringIO()
        call_command(
            "agent", "--api", live_server.url, "--token", agent_setup["token"], "--cluster", "nope",
            "--once", "--from-nvidia-smi-xml", xml, stdout=out,
        )  # fmt: skip
    assert slept == []
    assert_nothing_written()


@pytest.mark.django_db(transaction=True)
def test_the_agent_retries_connection_errors_with_backoff_while_looping(
    live_server: Any, agent_setup: dict[str, Any], monkeypatch: Any
) -> None:
    real_post = requests.Session.post
    calls = {"n": 0}

    def flaky_post(self: requests.Session, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= 3:
            raise requests.ConnectionError("connection refused")
        return real_post(self, *args, **kwargs)

    class Stop(Exception):
        pass

    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 5:  # three backoffs, one interval after the first report, then stop
            raise Stop

    monkeypatch.setattr(requests.Session, "post", flaky_post)
    monkeypatch.setattr(agent_command, "_sleep", fake_sleep)
    with pytest.raises(Stop):
        run_agent(
            live_server,
            agent_setup["token"],
            "--interval",
            "7",
            "--from-nvidia-smi-xml",
            str(HOST_1 / "nvidia-smi-q.xml"),
        )

    backoffs, intervals = slept[:3], slept[3:]
    assert 0.5 <= backoffs[0] <= 1 and 1 <= backoffs[1] <= 2 and 2 <= backoffs[2] <= 4
    assert intervals == [7.0, 7.0]  # reported twice, on the interval
    assert calls["n"] == 5
    assert Node.objects.filter(hostname="h200-1").count() == 1


def test_the_agent_with_once_fails_on_a_connection_error() -> None:
    with pytest.raises(CommandError, match="could not report"):
        call_command(
            "agent", "--api", "http://127.0.0.1:9", "--token", "pdk_a.b", "--cluster", "h200s",
            "--once", "--from-nvidia-smi-xml", str(HOST_1 / "nvidia-smi-q.xml"), stdout=StringIO(),
        )  # fmt: skip


def test_the_agent_without_nvml_says_so_and_exits_non_zero(monkeypatch: Any) -> None:
    class NoDriver(CapturedNvml):
        def nvmlInit(self) -> None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(nvml, "load", lambda: NoDriver({}))
    with pytest.raises(CommandError, match=r"NVML is not available.*--from-nvidia-smi-xml"):
        call_command(
            "agent", "--api", "http://127.0.0.1:9", "--token", "pdk_a.b", "--cluster", "h200s", "--once",
            stdout=StringIO(),
        )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_the_agent_reads_nvml_through_the_seam_and_reports_it(
    live_server: Any, agent_setup: dict[str, Any], monkeypatch: Any
) -> None:
    monkeypatch.setattr(nvml, "load", lambda: CapturedNvml(load_capture(HOST_2)))
    out = run_agent(live_server, agent_setup["token"], "--once")
    assert "1 accelerators reported" in out
    gpu = Accelerator.objects.get(node__hostname="h200-1")
    assert (gpu.uuid, gpu.nvlink_active_links, gpu.power_watts) == (PER_HOST[HOST_2]["uuid"], 0, 78.096)


def test_gpus_joined_by_nvlink_form_an_interconnect_domain_and_a_repeat_writes_none(world: Any) -> None:
    from apps.inventory.models import InterconnectDomain, Node
    from apps.inventory.reports import AcceleratorReport, sync_reports

    h200 = h200_in_catalog()
    h200.scale_up_link, h200.scale_up_bandwidth_gbps = "NVLink4", 900.0
    h200.save()

    def report(links: list[int]) -> NodeReport:
        gpus = [
            AcceleratorReport(index=i, reported_name="NVIDIA H200", pci_device_id="0x2335", nvlink_active_links=n)
            for i, n in enumerate(links)
        ]
        return NodeReport(hostname="hgx-1", cpus=64, accelerators=gpus)

    first = sync_reports(cluster=world.cluster, reports=[report([18] * 8)], source="agent", complete=False)
    domain = InterconnectDomain.objects.get(node__hostname="hgx-1")
    assert (domain.kind, domain.link_generation, domain.bandwidth_gbps) == ("nvswitch", 4, 900.0)
    assert sorted(domain.accelerators.values_list("index", flat=True)) == list(range(8))
    assert first.interconnect_domains_written == 1
    again = sync_reports(cluster=world.cluster, reports=[report([18] * 8)], source="agent", complete=False)
    assert again.rows_written == 0
    # Two GPUs lose their links: the domain shrinks to the six still joined.
    sync_reports(cluster=world.cluster, reports=[report([18] * 6 + [0, 0])], source="agent", complete=False)
    domain = InterconnectDomain.objects.get(node__hostname="hgx-1")
    assert sorted(domain.accelerators.values_list("index", flat=True)) == list(range(6))
    # No readings (nvidia-smi XML, Ray) leave it alone; no links at all remove it.
    node = Node.objects.get(hostname="hgx-1")
    sync_reports(cluster=world.cluster, reports=[report([0] * 8)], source="agent", complete=False)
    assert not InterconnectDomain.objects.filter(node=node).exists()
