"""A saved ``nvidia-smi -q -x`` as a :class:`NodeReport`: for hosts without Python, and tests.

The XML says less than NVML: no NVLink state (``nvidia-smi nvlink -s`` has it) and no compute
capability. Where an architecture has exactly one compute capability we take it from the
architecture; otherwise it stays empty (an NVML reading always has it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from apps.inventory.choices import AcceleratorHealth, MigMode
from apps.inventory.reports import AcceleratorReport, NodeReport

# Architectures whose every product has the same compute capability. Ampere (8.0 / 8.6 / 8.7),
# Blackwell (10.0 / 10.3 / 12.0) and older ones vary by product, so they are not here.
COMPUTE_CAPABILITY_BY_ARCHITECTURE = {"volta": "7.0", "turing": "7.5", "ada lovelace": "8.9", "hopper": "9.0"}

_LEADING_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)")


class CaptureError(ValueError):
    """The file is not a readable ``nvidia-smi -q -x`` capture."""


def read_file(path: str | Path, *, hostname: str, cpus: float = 0.0, memory_bytes: int = 0) -> NodeReport:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CaptureError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse(data, hostname=hostname, cpus=cpus, memory_bytes=memory_bytes)


def parse(xml: str | bytes, *, hostname: str, cpus: float = 0.0, memory_bytes: int = 0) -> NodeReport:
    """The host and its GPUs, in the order nvidia-smi lists them (NVML's index order)."""
    try:
        # The operator's own capture; expat neither fetches the DTD nor expands external entities.
        root = ElementTree.fromstring(xml)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise CaptureError(f"not XML: {exc}") from exc
    if root.tag != "nvidia_smi_log":
        raise CaptureError(f"not an nvidia-smi -q -x capture (root element <{root.tag}>)")
    return NodeReport(
        hostname=hostname,
        cpus=cpus,
        memory_bytes=memory_bytes,
        driver_version=_text(root, "driver_version"),
        cuda_version=_text(root, "cuda_version"),
        accelerators=[_gpu(index, gpu) for index, gpu in enumerate(root.findall("gpu"))],
    )


def _gpu(index: int, gpu: ElementTree.Element) -> AcceleratorReport:
    mig_mode = _mig_mode(_text(gpu, "mig_mode/current_mig"))
    return AcceleratorReport(
        index=index,
        reported_name=_text(gpu, "product_name"),
        uuid=_text(gpu, "uuid"),
        pci_device_id=_pci_device_id(_text(gpu, "pci/pci_device_id")),
        pci_bus_id=_text(gpu, "pci/pci_bus_id") or gpu.get("id", ""),
        compute_capability=COMPUTE_CAPABILITY_BY_ARCHITECTURE.get(_text(gpu, "product_architecture").lower(), ""),
        memory_total_mib=_integer(gpu, "fb_memory_usage/total"),
        memory_used_mib=_integer(gpu, "fb_memory_usage/used"),
        mig_mode=mig_mode,
        mig_instances=_mig_instances(gpu) if mig_mode == MigMode.ENABLED else [],
        health=_health(gpu),
        utilisation_percent=_number(gpu, "utilization/gpu_util"),
        temperature_c=_number(gpu, "temperature/gpu_temp"),
        # NVML's power usage is a one-second average on current GPUs: prefer the average.
        power_watts=_number(
            gpu,
            "gpu_power_readings/average_power_draw",
            "gpu_power_readings/instant_power_draw",
            "gpu_power_readings/power_draw",
            "power_readings/power_draw",  # drivers before 535
        ),
        power_limit_watts=_number(
            gpu,
            "gpu_power_readings/current_power_limit",
            "gpu_power_readings/enforced_power_limit",
            "power_readings/enforced_power_limit",
            "power_readings/power_limit",
        ),
        pcie_generation=_integer(gpu, "pci/pci_gpu_link_info/pcie_gen/max_link_gen"),
        pcie_width=_integer(gpu, "pci/pci_gpu_link_info/link_widths/max_link_width"),
        nvlink_active_links=None,  # not in -q output
    )


def _mig_mode(value: str) -> str:
    return {"enabled": MigMode.ENABLED, "disabled": MigMode.DISABLED}.get(value.lower(), MigMode.UNSUPPORTED).value


def _mig_instances(gpu: ElementTree.Element) -> list[dict[str, Any]]:
    return [
        {
            "index": _integer(device, "index"),
            "gpu_instance_id": _integer(device, "gpu_instance_id"),
            "compute_instance_id": _integer(device, "compute_instance_id"),
            "memory_total_mib": _integer(device, "fb_memory_usage/total"),
        }
        for device in gpu.findall("mig_devices/mig_device")
    ]


def _health(gpu: ElementTree.Element) -> str:
    """Failed when row remapping failed; degraded when the GPU needs a reset or a remap is
    pending, or uncorrectable ECC errors happened since the driver loaded."""
    if _text(gpu, "remapped_rows/remapped_row_failure").lower() == "yes":
        return AcceleratorHealth.FAILED.value
    uncorrectable = [
        _integer(gpu, f"ecc_errors/volatile/{name}") or 0
        for name in (
            "dram_uncorrectable",
            "sram_uncorrectable",
            "sram_uncorrectable_parity",
            "sram_uncorrectable_secded",
            "double_bit/total",  # drivers before 535
        )
    ]
    recovery = _text(gpu, "gpu_recovery_action").lower()
    if (
        any(uncorrectable)
        or _text(gpu, "remapped_rows/remapped_row_pending").lower() == "yes"
        or recovery not in ("", "none", "n/a")
    ):
        return AcceleratorHealth.DEGRADED.value
    return AcceleratorHealth.OK.value


def _pci_device_id(value: str) -> str:
    """``233510DE`` (device, then vendor) → ``0x2335``, as NVML's 32-bit PCI id gives it."""
    try:
        return f"0x{int(value, 16) >> 16:04x}"
    except ValueError:
        return ""


def _text(element: ElementTree.Element, path: str) -> str:
    found = element.find(path)
    return (found.text or "").strip() if found is not None else ""


def _number(element: ElementTree.Element, *paths: str) -> float | None:
    """The first path holding a number (``79.55 W``, ``45 C``, ``16x``); None for N/A."""
    for path in paths:
        match = _LEADING_NUMBER.match(_text(element, path))
        if match:
            return float(match.group(1))
    return None


def _integer(element: ElementTree.Element, *paths: str) -> int | None:
    value = _number(element, *paths)
    return round(value) if value is not None else None
