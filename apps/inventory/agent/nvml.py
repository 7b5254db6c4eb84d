"""Reading a host's GPUs through NVML (``pynvml`` from nvidia-ml-py, NVIDIA's binding).

The seam is the module itself: :func:`read_node` calls the ``nvml*`` functions of whatever
object it is given — ``pynvml`` on a host, a stand-in answering with captured values in tests —
so everything between NVML's raw answers and the :class:`NodeReport` is the code that runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from apps.inventory.choices import AcceleratorHealth, MigMode
from apps.inventory.reports import AcceleratorReport, NodeReport

MIB = 2**20


class NvmlUnavailable(RuntimeError):
    """NVML cannot be used on this host: no driver, no library, or no permission."""


def load() -> Any:
    """The real binding, ``pynvml`` (imported here so that replaying a capture never needs it)."""
    try:
        import pynvml
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise NvmlUnavailable("nvidia-ml-py is not installed (pip install nvidia-ml-py)") from exc
    return pynvml


def read_node(
    *, hostname: str, cpus: float = 0.0, memory_bytes: int = 0, nvml: Any = None, labels: dict[str, str] | None = None
) -> NodeReport:
    """This host and every GPU NVML sees, read once."""
    nvml = nvml if nvml is not None else load()
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        raise NvmlUnavailable(f"NVML is not available on this host: {exc}") from exc
    try:
        return NodeReport(
            hostname=hostname,
            cpus=cpus,
            memory_bytes=memory_bytes,
            labels=dict(labels or {}),
            driver_version=_optional(nvml, nvml.nvmlSystemGetDriverVersion) or "",
            cuda_version=cuda_version(_optional(nvml, nvml.nvmlSystemGetCudaDriverVersion)),
            accelerators=[_device(nvml, index) for index in range(nvml.nvmlDeviceGetCount())],
        )
    except nvml.NVMLError as exc:
        raise NvmlUnavailable(f"NVML failed while reading this host: {exc}") from exc
    finally:
        with contextlib.suppress(nvml.NVMLError):
            nvml.nvmlShutdown()


def cuda_version(value: int | None) -> str:
    """NVML's ``13000`` → ``13.0`` and ``12040`` → ``12.4``, as nvidia-smi prints them."""
    if not value:
        return ""
    return f"{value // 1000}.{value % 1000 // 10}"


def mib(value: int | None) -> int | None:
    """Bytes → MiB rounded to the nearest, as nvidia-smi prints them."""
    return None if value is None else (value + MIB // 2) // MIB


def _device(nvml: Any, index: int) -> AcceleratorReport:
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        name = _str(nvml.nvmlDeviceGetName(handle))
        uuid = _str(nvml.nvmlDeviceGetUUID(handle))
    except nvml.NVMLError:
        # Lost or unreadable: report it failed rather than drop it (a dropped device is deleted).
        return AcceleratorReport(index=index, reported_name="", health=AcceleratorHealth.FAILED.value)
    pci = _optional(nvml, nvml.nvmlDeviceGetPciInfo, handle)
    capability = _optional(nvml, nvml.nvmlDeviceGetCudaComputeCapability, handle)
    memory = _memory(nvml, handle)
    mig_mode = _mig_mode(nvml, handle)
    utilisation = _optional(nvml, nvml.nvmlDeviceGetUtilizationRates, handle)
    power_mw = _optional(nvml, nvml.nvmlDeviceGetPowerUsage, handle)
    limit_mw = _optional(nvml, nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
    temperature = _optional(nvml, nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
    return AcceleratorReport(
        index=index,
        reported_name=name,
        uuid=uuid,
        # pciDeviceId is device << 16 | vendor (0x233510DE: device 0x2335, vendor NVIDIA).
        pci_device_id=f"0x{pci.pciDeviceId >> 16:04x}" if pci is not None else "",
        pci_bus_id=_str(pci.busId) if pci is not None else "",
        compute_capability=f"{capability[0]}.{capability[1]}" if capability is not None else "",
        memory_total_mib=mib(memory.total) if memory is not None else None,
        memory_used_mib=mib(memory.used) if memory is not None else None,
        mig_mode=mig_mode,
        mig_instances=_mig_instances(nvml, handle) if mig_mode == MigMode.ENABLED else [],
        health=_health(nvml, handle),
        utilisation_percent=float(utilisation.gpu) if utilisation is not None else None,
        temperature_c=float(temperature) if temperature is not None else None,
        power_watts=power_mw / 1000 if power_mw is not None else None,
        power_limit_watts=limit_mw / 1000 if limit_mw is not None else None,
        pcie_generation=_optional(nvml, nvml.nvmlDeviceGetMaxPcieLinkGeneration, handle),
        pcie_width=_optional(nvml, nvml.nvmlDeviceGetMaxPcieLinkWidth, handle),
        nvlink_active_links=_nvlink_active_links(nvml, handle),
    )


def _memory(nvml: Any, handle: Any) -> Any:
    """Version 2 leaves the driver's reserved memory out of ``used``, as nvidia-smi does."""
    try:
        return nvml.nvmlDeviceGetMemoryInfo(handle, version=nvml.nvmlMemory_v2)
    except nvml.NVMLError:
        return _optional(nvml, nvml.nvmlDeviceGetMemoryInfo, handle)


def _mig_mode(nvml: Any, handle: Any) -> str:
    mode = _optional(nvml, nvml.nvmlDeviceGetMigMode, handle)
    if mode is None:
        return MigMode.UNSUPPORTED.value
    return (MigMode.ENABLED if mode[0] == nvml.NVML_DEVICE_MIG_ENABLE else MigMode.DISABLED).value


def _mig_instances(nvml: Any, handle: Any) -> list[dict[str, Any]]:
    instances: list[dict[str, Any]] = []
    for slot in range(_optional(nvml, nvml.nvmlDeviceGetMaxMigDeviceCount, handle) or 0):
        mig = _optional(nvml, nvml.nvmlDeviceGetMigDeviceHandleByIndex, handle, slot)
        if mig is None:  # an empty slot
            continue
        memory = _optional(nvml, nvml.nvmlDeviceGetMemoryInfo, mig)
        instances.append(
            {
                "index": len(instances),
                "gpu_instance_id": _optional(nvml, nvml.nvmlDeviceGetGpuInstanceId, mig),
                "compute_instance_id": _optional(nvml, nvml.nvmlDeviceGetComputeInstanceId, mig),
                "memory_total_mib": mib(memory.total) if memory is not None else None,
                "uuid": _str(_optional(nvml, nvml.nvmlDeviceGetUUID, mig) or ""),
                "name": _str(_optional(nvml, nvml.nvmlDeviceGetName, mig) or ""),
            }
        )
    return instances


def _nvlink_active_links(nvml: Any, handle: Any) -> int | None:
    """Active links; 0 when the GPU has no NVLink (NVML: not supported), None when unreadable."""
    active = 0
    for link in range(nvml.NVML_NVLINK_MAX_LINKS):
        try:
            active += int(nvml.nvmlDeviceGetNvLinkState(handle, link) == nvml.NVML_FEATURE_ENABLED)
        except nvml.NVMLError_NotSupported:
            break  # no NVLink at all, or past this GPU's last link
        except nvml.NVMLError_InvalidArgument:
            break  # past this GPU's last link
        except nvml.NVMLError:
            return None if link == 0 else active
    return active


def _health(nvml: Any, handle: Any) -> str:
    """As for a capture: failed when row remapping failed; degraded when a remap is pending or
    uncorrectable ECC errors happened since the driver loaded; ok when NVML answers."""
    remapped = _optional(nvml, nvml.nvmlDeviceGetRemappedRows, handle)
    if remapped is not None and remapped[3]:
        return AcceleratorHealth.FAILED.value
    uncorrectable = _optional(
        nvml,
        nvml.nvmlDeviceGetTotalEccErrors,
        handle,
        nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
        nvml.NVML_VOLATILE_ECC,
    )
    if (remapped is not None and remapped[2]) or uncorrectable:
        return AcceleratorHealth.DEGRADED.value
    return AcceleratorHealth.OK.value


def _optional(nvml: Any, function: Callable[..., Any], *args: Any) -> Any:
    """The answer, or None where this GPU or driver does not support the query."""
    try:
        return function(*args)
    except nvml.NVMLError:
        return None


def _str(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
