"""The machine the agent runs on: CPUs and physical memory (Linux)."""

from __future__ import annotations

import os


def cpu_count() -> float:
    """Logical CPUs this host has (not the process's affinity: the node's capacity)."""
    return float(os.cpu_count() or 0)


def memory_bytes() -> int:
    """Physical memory in bytes, 0 where the platform cannot say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0
