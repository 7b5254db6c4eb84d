"""The accelerator catalog as first seeded: plain data, no Django imports.

Every figure comes from ``shared/reference/accelerators.md`` (dense, no-sparsity rates; memory
in GB; bandwidths in GB/s); a figure that file does not give is ``None``, never a guess.
``apps/inventory/migrations/0004_seed_catalog.py`` loads these rows, so treat this module as
part of that migration: change the catalog later with a new data migration (or in the admin),
not by editing a row here.

``match_names`` are product names as NVML / nvidia-smi (or amd-smi) report them,
``pci_device_ids`` the device half of the PCI id ("0x" + 4 lower-case hex digits), both
checked against NVIDIA's driver name table (open-gpu-kernel-modules
``g_nv_name_released.h``) and the PCI ID database (pciutils/pciids). ``ray_accelerator_type``
is Ray's ``accelerator_type`` name, set on the one row that should win for that type.
"""

from __future__ import annotations

from typing import Final, TypedDict


class SeedRow(TypedDict):
    """One ``AcceleratorModel`` row, field by field."""

    name: str
    vendor: str
    architecture: str
    memory_gb: float
    memory_type: str
    memory_bandwidth_gbps: float
    bf16_tflops: float | None
    fp16_tflops: float | None
    fp8_tflops: float | None
    fp32_tflops: float | None
    sparse_multiplier: float
    scale_up_link: str
    scale_up_bandwidth_gbps: float | None
    nvlink_domain_size: int | None
    pcie_generation: int | None
    tdp_watts: float | None
    supports_bf16: bool
    supports_fp8: bool
    match_names: list[str]
    pci_device_ids: list[str]
    ray_accelerator_type: str
    source_url: str
    notes: str


NVIDIA_A100 = "https://www.nvidia.com/en-us/data-center/a100/"
NVIDIA_H100 = "https://www.nvidia.com/en-us/data-center/h100/"
NVIDIA_H200 = "https://www.nvidia.com/en-us/data-center/h200/"
NVIDIA_DGX_B200 = "https://resources.nvidia.com/en-us-dgx-systems/dgx-b200-datasheet"
NVIDIA_L4 = "https://www.nvidia.com/en-us/data-center/l4/"
NVIDIA_L40S = "https://www.nvidia.com/en-us/data-center/l40s/"
NVIDIA_A10 = "https://www.nvidia.com/en-us/data-center/products/a10-gpu/"
NVIDIA_T4 = "https://www.nvidia.com/en-us/data-center/tesla-t4/"
AMD_MI300X = "https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html"
GOOGLE_TPU_V4 = "https://cloud.google.com/tpu/docs/v4"
GOOGLE_TPU_V5E = "https://cloud.google.com/tpu/docs/v5e"
GOOGLE_TPU_V5P = "https://cloud.google.com/tpu/docs/v5p"

GIB_IN_GB: Final = 2**30 / 1e9

ACCELERATORS: Final[tuple[SeedRow, ...]] = (
    {
        "name": "A100 40GB SXM",
        "vendor": "nvidia",
        "architecture": "Ampere",
        "memory_gb": 40,
        "memory_type": "HBM2",
        "memory_bandwidth_gbps": 1555,
        "bf16_tflops": 312,
        "fp16_tflops": 312,
        "fp8_tflops": None,
        "fp32_tflops": None,
        "sparse_multiplier": 2.0,
        "scale_up_link": "NVLink3",
        "scale_up_bandwidth_gbps": 600,
        "nvlink_domain_size": 8,
        "pcie_generation": None,
        "tdp_watts": 400,
        "supports_bf16": True,
        "supports_fp8": False,
        "match_names": ["NVIDIA A100-SXM4-40GB"],
        "pci_device_ids": ["0x20b0"],
        # Ray labels every A100 "A100" whatever its memory; the smaller part is the safe guess.
        "ray_accelerator_type": "A100",
        "source_url": NVIDIA_A100,
        "notes": "No FP8; INT8 624 TOPS dense.",
    },
    {
        "name": "A100 80GB SXM",
        "vendor": "nvidia",
        "architecture": "Ampere",
        "memory_gb": 80,
        "memory_type": "HBM2e",
        "memory_bandwidth_gbps": 2039,
        "bf16_tflops": 312,
        "fp16_tflops": 312,
        "fp8_tflops": None,
        "fp32_tflops": None,
        "sparse_multiplier": 2.0,
        "scale_up_link": "NVLink3",
        "scale_up_bandwidth_gbps": 600,
        "nvlink_domain_size": 8,
        "pcie_generation": None,
        "tdp_watts": 400,
        "supports_bf16": True,
        "supports_fp8": False,
        "match_names": ["NVIDIA A100-SXM4-80GB"],
        "pci_device_ids": ["0x20b2"],
        # Ray's size-specific label; it is not added automatically, an operator sets it.
        "ray_accelerator_type": "A100-80G",
        "source_url": NVIDIA_A100,
        "notes": "No FP8.",
    },
    {
        "name": "A100 80GB PCIe",
        "vendor": "nvidia",
        "architecture": "Ampere",
        "memory_gb": 80,
        "memory_type": "HBM2e",
        "memory_bandwidth_gbps": 1935,
        "bf16_tflops": 312,
        "fp16_tflops": 312,
        "fp8_tflops": None,
        "fp32_tflops": None,
        "sparse_multiplier": 2.0,
        "scale_up_link": "NVLink bridge",
        "scale_up_bandwidth_gbps": 600,
        "nvlink_domain_size": 2,
        "pcie_generation": 4,
        "tdp_watts": 300,
        "supports_bf16": True,
        "supports_fp8": False,
        "match_names": ["NVIDIA A100 80GB PCIe"],
        "pci_device_ids": ["0x20b5"],
        "ray_accelerator_type": "",
        "source_url": NVIDIA_A100,
        "notes": "No FP8. The NVLink bridge joins pairs of cards; otherwise PCIe4.",
    },
    {
        "name": "H100 SXM",
        "vendor": "nvidia",
        "architecture": "Hopper",
        "memory_gb": 80,
        "memory_type": "HBM3",
        "memory_bandwidth_gbps": 3350,
        "bf16_tflops": 989,
        "fp16_tflops": 989,
        "fp8_tflops": 1979,
        "fp32_tflops": None,
        "sparse_multiplier": 2.0,
        "scale_up_link": "NVLink4",
        "scale_up_bandwidth_gbps": 900,
        "nvlink_domain_size": 8,
        "pcie_generation": None,
        "tdp_watts": 700,
        "supports_bf16": True,
        "supports_fp8": True,
        "match_names": ["NVIDIA H100 80GB HBM3"],
        "pci_device_ids": ["0x2330"],
        "ray_accelerator_type": "H100",
        "source_url": NVIDIA_H100,
        "notes": "Power up to 700 W.",
    },
    {
        "name": "H100 PCIe",
        "vendor": "nvidia",
        "architecture": "Hopper",
        "memory_gb": 80,
        "memory_type": "",
        "memory_bandwidth_gbps": 2000,
        "bf16_tflops": 756,
        "fp16_tflops": 756,
        "fp8_tflops": 1513,
        "fp32_tflops": None,
        "sparse_multiplier": 2.0,
        "scale_up_link": "NVLink bridge",
        "scale_up_bandwidth_gbps": 600,
        "nvlink_domain_size": None,
        "pcie_generation": 5,
        "tdp_watts": 350,
        "supports_bf16": True,
        "supports_fp8": True,
        "match_names": ["NVIDIA H100 PCIe"],
        "pci_device_ids": ["0x2331"],
        "ray_accelerator_type": "",
        "source_url": NVIDIA_H100,
        "notes": (
            "Host link PCIe5, 128 GB/s. Power 300-350 W; 350 W from NVIDIA's H100 PCIe product brief "
            "PB-11133-001_v02 (Nov 2022)."
        ),
    },
    {
        "name": "H100 NVL",
        "vendor": "nvidia",
        "architecture": "Hopper",
        "memory_gb": 94,
        "memory_type": "HBM3",
        "memory_bandwidth_gbps": 3900,
        "bf16_tflops": 835,
        "fp16_tflops": 835,
        "fp8_tflops": 1671,
        "fp32_tflops": None,
        "sparse_multiplier": 2.0,
        "scale_up_link": "NVLink bridge",
        "scale_up_bandwidth_gbps": 600,
        "nvlink_domain_size": None,
        "pcie_generation": None,
        "tdp_watts": 400,
        "supports_bf16": True,
        "supports_fp8": True,
        "match_names": ["NVIDIA H100 NVL"],
        "pci_device_ids": ["0x2321"],
        "ray_accelerator_type": "",
        "source_url": NVIDIA_H100,
        "notes": "TFLOPS are approximate (about 835 BF16, 1,671 FP8 dense). Power 350-400 W.",
    },
    {
        "name": "H200 SXM",
        "vendor": "nvidia",
        "architecture": "Hopper",
        "memory_gb": 141,
        "memory_type": "HBM3e",
        "memory_bandwidth_gbps": 4800,
        "bf16_tflops": 989,
        "fp16_tflops": 989,
        "fp8_tflops": 1979,
        "fp32_tflops": None,
        "sparse_multiplier": 2.0,
        "scale_up_link": "NVLink4",
        "scale_up_bandwidth_gbps": 900,
        "nvlink_domain_size": 8,
        "pcie_generation": None,
        "tdp_watts": 700,
        "supports_bf16": True,
        "supports_fp8": True,
        "match_names": ["NVIDIA H200"],
        "pci_device_ids": ["0x2335"],
        "ray_accelerator_type": "H200",
        "source_url": NVIDIA_H200,
        "notes": "Power up to 700 W.",
    },
    {
        "name": "B200",
        "vendor": "nvidia",
        "architecture": "Blackwell",
        "memory_gb": 180,
        "memory_type": "HBM3e",
        "memory_bandwidth_gbps": 8000,
        "bf16_tflops": 2250,
        "fp16_tflops": 2250,
        "fp8_tflops": 4500,
        "fp32_tflops": None,
        "sparse_multiplier": 2.0,
        "scale_up_link": "NVLink5",
        "scale_up_bandwidth_gbps": 1800,
        "nvlink_domain_size": 8,
        "pcie_generation": None,
        "tdp_watts": 1000,
        "supports_bf16": True,
        "supports_fp8": True,
        "match_names": ["NVIDIA B200"],
        "pci_device_ids": ["0x2901"],
        "ray_accelerator_type": "B200",
        "source_url": NVIDIA_DGX_B200,
        "notes": (
            "HGX/DGX B200: 180 GB usable of 192 GB physical HBM3e (NVIDIA lists 180 GB per GPU in "
            "HGX/DGX); plan with 180. FP4 9,000 TFLOPS dense. 1,000 W max TGP (DGX B200 power-capping "
            "docs); DGX default set point 700 W."
        ),
    },
    {
        "name": "L4",
        "vendor": "nvidia",
        "architecture": "Ada Lovelace",
        "memory_gb": 24,
        "memory_type": "GDDR6",
        "memory_bandwidth_gbps": 300,
        "bf16_tflops": 121,
        "fp16_tflops": 121,
        "fp8_tflops": 242.5,
        "fp32_tflops": None,
        "sparse_multiplier": 2.0,
        "scale_up_link": "PCIe4 x16",
        "scale_up_bandwidth_gbps": None,
        "nvlink_domain_size": None,
        "pcie_generation": 4,
        "tdp_watts": 72,
        "supports_bf16": True,
        "supports_fp8": True,
        "match_names": ["NVIDIA L4"],
        "pci_device_ids": ["0x27b8"],
        "ray_accelerator_type": "L4",
        "source_url": NVIDIA_L4,
        "notes": "Sparse: 242 BF16/FP16, 485 FP8. From NVIDIA's product page, not re-read by the reference: verify.",
    },
    {
        "name": "L40S",
        "vendor": "nvidia",
        "architecture": "Ada Lovelace",
        "memory_gb": 48,
        "memory_type": "GDDR6",
        "memory_bandwidth_gbps": 864,
        "bf16_tflops": 362,
        "fp16_tflops": 362,
        "fp8_tflops": 733,
        "fp32_tflops": None,
        "sparse_multiplier": 2.0,
        "scale_up_link": "PCIe4 x16 (no NVLink)",
        "scale_up_bandwidth_gbps": None,
        "nvlink_domain_size": None,
        "pcie_generation": 4,
        "tdp_watts": 350,
        "supports_bf16": True,
        "supports_fp8": True,
        "match_names": ["NVIDIA L40S"],
        "pci_device_ids": ["0x26b9"],
        "ray_accelerator_type": "L40S",
        "source_url": NVIDIA_L40S,
        "notes": "No NVLink.",
    },
    {
        "name": "A10",
        "vendor": "nvidia",
        "architecture": "Ampere",
        "memory_gb": 24,
        "memory_type": "GDDR6",
        "memory_bandwidth_gbps": 600,
        "bf16_tflops": 125,
        "fp16_tflops": 125,
        "fp8_tflops": None,
        "fp32_tflops": None,
        "sparse_multiplier": 2.0,
        "scale_up_link": "PCIe4",
        "scale_up_bandwidth_gbps": None,
        "nvlink_domain_size": None,
        "pcie_generation": 4,
        "tdp_watts": 150,
        "supports_bf16": True,
        "supports_fp8": False,
        "match_names": ["NVIDIA A10"],
        "pci_device_ids": ["0x2236"],
        # Not one of Ray's named constants: what Ray's NVIDIA detection derives from "NVIDIA A10".
        "ray_accelerator_type": "A10",
        "source_url": NVIDIA_A10,
        "notes": (
            "Sparse: 250 BF16/FP16. No FP8. The reference for A10G. From NVIDIA's product page, not "
            "re-read by the reference: verify."
        ),
    },
    {
        "name": "A10G",
        "vendor": "nvidia",
        "architecture": "Ampere",
        "memory_gb": 24,
        "memory_type": "GDDR6",
        "memory_bandwidth_gbps": 600,
        "bf16_tflops": None,
        "fp16_tflops": None,
        "fp8_tflops": None,
        "fp32_tflops": 31.2,
        "sparse_multiplier": 2.0,
        "scale_up_link": "PCIe",
        "scale_up_bandwidth_gbps": None,
        "nvlink_domain_size": None,
        "pcie_generation": None,
        "tdp_watts": 300,
        "supports_bf16": True,
        "supports_fp8": False,
        "match_names": ["NVIDIA A10G"],
        "pci_device_ids": ["0x2237"],
        "ray_accelerator_type": "A10G",
        "source_url": NVIDIA_A10,
        "notes": (
            "AWS G5 only. NVIDIA publishes no BF16/FP16 tensor figure: measure it (BF16 null means "
            "unpublished here, not unsupported). FP32 about 31.2 TFLOPS per third-party catalogs. "
            "300 W is the power limit nvidia-smi reports on G5 (third-party gist), not a published TDP."
        ),
    },
    {
        "name": "T4",
        "vendor": "nvidia",
        "architecture": "Turing",
        "memory_gb": 16,
        "memory_type": "GDDR6",
        "memory_bandwidth_gbps": 320,
        "bf16_tflops": None,
        "fp16_tflops": 65,
        "fp8_tflops": None,
        "fp32_tflops": None,
        # Turing has no structured sparsity: NVIDIA publishes no sparse rate for T4.
        "sparse_multiplier": 1.0,
        "scale_up_link": "PCIe3 x16",
        "scale_up_bandwidth_gbps": None,
        "nvlink_domain_size": None,
        "pcie_generation": 3,
        "tdp_watts": 70,
        "supports_bf16": False,
        "supports_fp8": False,
        "match_names": ["Tesla T4"],
        "pci_device_ids": ["0x1eb8"],
        "ray_accelerator_type": "T4",
        "source_url": NVIDIA_T4,
        "notes": (
            "No BF16. FP16 65 TFLOPS (mixed precision); INT8 130 TOPS. From NVIDIA's product page, not "
            "re-read by the reference: verify."
        ),
    },
    {
        "name": "MI300X",
        "vendor": "amd",
        "architecture": "CDNA 3",
        "memory_gb": 192,
        "memory_type": "HBM3",
        "memory_bandwidth_gbps": 5300,
        "bf16_tflops": 1307,
        "fp16_tflops": 1307,
        "fp8_tflops": 2615,
        "fp32_tflops": None,
        "sparse_multiplier": 2.0,
        "scale_up_link": "Infinity Fabric (7 links x 128 GB/s)",
        "scale_up_bandwidth_gbps": 896,
        # Seven peer links: each GPU reaches the seven others of an eight-GPU platform.
        "nvlink_domain_size": 8,
        "pcie_generation": None,
        "tdp_watts": 750,
        "supports_bf16": True,
        "supports_fp8": True,
        "match_names": ["AMD Instinct MI300X"],
        "pci_device_ids": ["0x74a1"],
        "ray_accelerator_type": "AMD-Instinct-MI300X-OAM",
        "source_url": AMD_MI300X,
        "notes": '750 W from the MLPerf system name "...192GB-750W".',
    },
    {
        "name": "TPU v4",
        "vendor": "google",
        "architecture": "TPU v4",
        "memory_gb": round(32 * GIB_IN_GB, 2),
        "memory_type": "HBM2",
        "memory_bandwidth_gbps": 1200,
        "bf16_tflops": 275,
        "fp16_tflops": None,
        "fp8_tflops": None,
        "fp32_tflops": None,
        "sparse_multiplier": 1.0,
        "scale_up_link": "ICI, 3D torus",
        "scale_up_bandwidth_gbps": None,
        "nvlink_domain_size": 4096,
        "pcie_generation": None,
        "tdp_watts": 192,
        "supports_bf16": True,
        "supports_fp8": False,
        "match_names": [],
        "pci_device_ids": [],
        "ray_accelerator_type": "TPU-V4",
        "source_url": GOOGLE_TPU_V4,
        "notes": (
            "32 GiB HBM2 (34.36 GB). 275 TFLOPS BF16 or INT8; Google lists no FP16 rate. Pod: 4,096 chips. "
            "Power measured 90/170/192 W min/mean/max."
        ),
    },
    {
        "name": "TPU v5e",
        "vendor": "google",
        "architecture": "TPU v5e",
        "memory_gb": 16,
        "memory_type": "HBM2",
        "memory_bandwidth_gbps": 819,
        "bf16_tflops": 197,
        "fp16_tflops": None,
        "fp8_tflops": None,
        "fp32_tflops": None,
        "sparse_multiplier": 1.0,
        "scale_up_link": "ICI, 2D torus (4 ports)",
        "scale_up_bandwidth_gbps": 400,
        "nvlink_domain_size": 256,
        "pcie_generation": None,
        "tdp_watts": None,
        "supports_bf16": True,
        "supports_fp8": False,
        "match_names": [],
        "pci_device_ids": [],
        "ray_accelerator_type": "TPU-V5LITEPOD",
        "source_url": GOOGLE_TPU_V5E,
        "notes": (
            "INT8 394 TOPS; Google lists no FP16 rate. ICI 400 GB/s bidirectional per chip. Pod: 256 chips. "
            "Power not published."
        ),
    },
    {
        "name": "TPU v5p",
        "vendor": "google",
        "architecture": "TPU v5p",
        "memory_gb": 95,
        "memory_type": "HBM2e",
        "memory_bandwidth_gbps": 2765,
        "bf16_tflops": 459,
        "fp16_tflops": None,
        "fp8_tflops": None,
        "fp32_tflops": None,
        "sparse_multiplier": 1.0,
        "scale_up_link": "ICI, 3D torus",
        "scale_up_bandwidth_gbps": 600,
        "nvlink_domain_size": 8960,
        "pcie_generation": None,
        "tdp_watts": None,
        "supports_bf16": True,
        "supports_fp8": False,
        "match_names": [],
        "pci_device_ids": [],
        "ray_accelerator_type": "TPU-V5P",
        "source_url": GOOGLE_TPU_V5P,
        "notes": (
            "INT8 918 TOPS; Google lists no FP16 rate. ICI 4,800 Gbps (600 GB/s) per chip. Pod: 8,960 chips. "
            "Power not published."
        ),
    },
)

SEEDED_NAMES: Final[tuple[str, ...]] = tuple(row["name"] for row in ACCELERATORS)
