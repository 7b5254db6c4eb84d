"""What the estimator knows about hardware: accelerator specs, prices and pools.

The Django side builds these from the inventory (catalog rows, price points, nodes); tests
build them from plain data. Nothing here reads a database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

GIB = 2**30
# Vendors' HBM "GB" are binary; NVML reports about 0.5 % less than the round figure
# (H200 "141 GB": 143,771 MiB; H100 "80 GB": 81,559 MiB), so plan with 99.5 %.
USABLE_OF_NOMINAL = 0.995


@dataclass(frozen=True)
class Price:
    per_gpu_hour: Decimal
    currency: str = "USD"
    pricing_class: str = "on_demand"
    offer: str = ""
    as_of: date | None = None
    source_url: str = ""


@dataclass(frozen=True)
class AcceleratorSpec:
    """One catalog row, in the units the arithmetic wants."""

    name: str
    memory_gb: float
    memory_bandwidth_gbps: float
    bf16_tflops: float | None = None
    fp16_tflops: float | None = None
    fp8_tflops: float | None = None
    fp32_tflops: float | None = None
    mamf_bf16_tflops: float | None = None
    supports_bf16: bool = True
    supports_fp8: bool = False
    nvlink_domain_size: int | None = None
    aliases: tuple[str, ...] = ()
    price: Price | None = None
    measured_memory_bytes: int | None = None  # what the inventory's GPUs report, when known

    @property
    def memory_bytes(self) -> int:
        if self.measured_memory_bytes:
            return self.measured_memory_bytes
        return int(self.memory_gb * GIB * USABLE_OF_NOMINAL)

    def peak_tflops(self, precision: str) -> float:
        """Dense tensor rate for ``precision`` (falls back to the nearest one the part has)."""
        if precision in ("fp8", "int8", "int4") and self.supports_fp8 and self.fp8_tflops:
            return self.fp8_tflops
        if self.supports_bf16 and self.bf16_tflops:
            return self.bf16_tflops
        return self.fp16_tflops or self.bf16_tflops or self.fp32_tflops or 0.0

    @property
    def mfu_ceiling(self) -> float | None:
        """Measured max achievable matmul rate over the spec rate (e.g. 0.80 on H100 SXM)."""
        if self.mamf_bf16_tflops and self.bf16_tflops:
            return min(1.0, self.mamf_bf16_tflops / self.bf16_tflops)
        return None


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass
class Catalog:
    """Accelerators by every name a user may type: "H100 SXM", "h100-sxm", "H100"."""

    accelerators: Sequence[AcceleratorSpec]
    _index: dict[str, AcceleratorSpec] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = {}
        # Exact names win over aliases: register aliases first, names last.
        for spec in self.accelerators:
            for alias in spec.aliases:
                self._index.setdefault(_key(alias), spec)
        for spec in self.accelerators:
            self._index[_key(spec.name)] = spec

    def find(self, name: str) -> AcceleratorSpec | None:
        return self._index.get(_key(name))

    def names(self) -> list[str]:
        return [spec.name for spec in self.accelerators]


@dataclass(frozen=True)
class Pool:
    """GPUs of one model that one cluster can give a job (or the catalog, when none is known)."""

    name: str
    accelerator: AcceleratorSpec
    gpus_per_node: int
    total_gpus: int | None  # None: not limited (a catalog entry, not the inventory)
    cluster: str = ""

    @property
    def in_inventory(self) -> bool:
        return self.total_gpus is not None


def catalog_pools(catalog: Catalog, *, only_priced: bool = True) -> list[Pool]:
    """One unlimited pool per catalog accelerator, for when the inventory has none."""
    return [
        Pool(name=f"catalog:{spec.name}", accelerator=spec, gpus_per_node=spec.nvlink_domain_size or 8, total_gpus=None)
        for spec in catalog.accelerators
        if spec.price is not None or not only_priced
    ]


def merge_pools(pools: Iterable[Pool]) -> list[Pool]:
    return sorted(pools, key=lambda pool: (pool.accelerator.name, pool.cluster, pool.name))
