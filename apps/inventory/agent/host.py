"""The machine the agent runs on: CPUs, physical memory and network traffic (Linux)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from apps.inventory.reports import NetworkReport


def cpu_count() -> float:
    """Logical CPUs this host has (not the process's affinity: the node's capacity)."""
    return float(os.cpu_count() or 0)


def memory_bytes() -> int:
    """Physical memory in bytes, 0 where the platform cannot say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


# --- network traffic: the kernel's byte counters, as rates between two readings -------------

# InfiniBand's port_xmit_data / port_rcv_data count in units of 4 bytes (octets / 4).
IB_COUNTER_UNIT_BYTES = 4
# Interfaces whose traffic never leaves the host (loopback) or mirrors another's.
SKIPPED_INTERFACES = ("lo",)


def nic_counters(proc_net_dev: Path = Path("/proc/net/dev")) -> dict[str, tuple[int, int]]:
    """Interface → (received bytes, transmitted bytes) since boot, from ``/proc/net/dev``."""
    try:
        text = proc_net_dev.read_text()
    except OSError:
        return {}
    counters: dict[str, tuple[int, int]] = {}
    for line in text.splitlines()[2:]:  # two header lines
        name, sep, rest = line.partition(":")
        fields = rest.split()
        name = name.strip()
        if not sep or len(fields) < 9 or name in SKIPPED_INTERFACES:
            continue
        try:
            counters[name] = (int(fields[0]), int(fields[8]))  # receive bytes, transmit bytes
        except ValueError:
            continue
    return counters


def infiniband_counters(sys_class_infiniband: Path = Path("/sys/class/infiniband")) -> dict[str, tuple[int, int]]:
    """``<device>/<port>`` → (received bytes, transmitted bytes) from each port's counters;
    empty on a host without InfiniBand."""
    counters: dict[str, tuple[int, int]] = {}
    try:
        devices = sorted(sys_class_infiniband.iterdir())
    except OSError:
        return counters
    for device in devices:
        try:
            ports = sorted((device / "ports").iterdir())
        except OSError:
            continue
        for port in ports:
            try:
                rcv = int((port / "counters" / "port_rcv_data").read_text().strip())
                xmit = int((port / "counters" / "port_xmit_data").read_text().strip())
            except (OSError, ValueError):
                continue
            counters[f"{device.name}/{port.name}"] = (rcv * IB_COUNTER_UNIT_BYTES, xmit * IB_COUNTER_UNIT_BYTES)
    return counters


@dataclass
class NetworkMeter:
    """Bytes per second per interface between two readings of the kernel's counters.

    The first :meth:`rates` after :meth:`prime` (or after the previous ``rates``) gives the
    traffic since then; a counter that went backwards (a reset, a driver reload) reads 0.
    """

    proc_net_dev: Path = Path("/proc/net/dev")
    sys_class_infiniband: Path = Path("/sys/class/infiniband")
    clock: Callable[[], float] = time.monotonic
    _previous: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    _previous_at: float | None = None

    def _read(self) -> dict[tuple[str, str], tuple[int, int]]:
        readings = {("ethernet", name): value for name, value in nic_counters(self.proc_net_dev).items()}
        readings.update(
            {("infiniband", name): value for name, value in infiniband_counters(self.sys_class_infiniband).items()}
        )
        return readings

    def prime(self) -> None:
        self._previous, self._previous_at = self._read(), self.clock()

    def rates(self) -> list[NetworkReport]:
        """Traffic since the last reading (none the first time: there is nothing to compare)."""
        now, current = self.clock(), self._read()
        previous, previous_at = self._previous, self._previous_at
        self._previous, self._previous_at = current, now
        if previous_at is None or now <= previous_at:
            return []
        seconds = now - previous_at
        reports = []
        for (kind, name), (rx, tx) in sorted(current.items()):
            if (kind, name) not in previous:
                continue
            rx0, tx0 = previous[(kind, name)]
            reports.append(
                NetworkReport(
                    interface=name,
                    kind=kind,
                    rx_bytes_per_second=max(rx - rx0, 0) / seconds,
                    tx_bytes_per_second=max(tx - tx0, 0) / seconds,
                )
            )
        return reports
