"""Matching what hosts report to the accelerator catalog."""

from __future__ import annotations

import re
from dataclasses import dataclass

from apps.inventory.models import Accelerator, AcceleratorModel

_HEX = re.compile(r"[0-9a-f]+")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def normalise_pci_device_id(value: str) -> str:
    """The device half of a PCI id as the catalog stores it ("0x2335"), or "" if unreadable.

    Accepts what the tools print: "0x2335", "2335", NVML's 32-bit ``pci.device_id``
    ("0x233510DE" / nvidia-smi's "233510DE": device << 16 | vendor) and lspci's "10de:2335".
    """
    text = value.strip().lower()
    if ":" in text:
        text = text.rsplit(":", 1)[1]
    text = text.removeprefix("0x")
    if not _HEX.fullmatch(text):
        return ""
    if len(text) == 8:
        text = text[:4]
    if len(text) > 4:
        return ""
    return "0x" + text.zfill(4)


def normalise_name(value: str) -> str:
    """Names compare without case and with runs of spaces collapsed (drivers pad some)."""
    return " ".join(value.split()).lower()


@dataclass
class Matcher:
    """The catalog, loaded once per sync: reported name or PCI device id → catalog model."""

    by_name: dict[str, AcceleratorModel]
    by_pci: dict[str, AcceleratorModel]

    @classmethod
    def load(cls) -> Matcher:
        by_name: dict[str, AcceleratorModel] = {}
        by_pci: dict[str, AcceleratorModel] = {}
        ray_types: dict[str, AcceleratorModel] = {}
        for model in AcceleratorModel.objects.all():
            for name in [model.name, *model.match_names]:
                by_name[normalise_name(name)] = model
            if model.ray_accelerator_type:
                ray_types.setdefault(normalise_name(model.ray_accelerator_type), model)
            for device_id in model.pci_device_ids:
                key = normalise_pci_device_id(device_id)
                if key:
                    by_pci[key] = model
        # A product name beats a Ray type that happens to spell the same.
        for name, model in ray_types.items():
            by_name.setdefault(name, model)
        return cls(by_name=by_name, by_pci=by_pci)

    def match(self, reported_name: str, pci_device_id: str = "") -> AcceleratorModel | None:
        """The PCI device id decides when known (names vary by driver); then the exact name."""
        if pci_device_id:
            model = self.by_pci.get(normalise_pci_device_id(pci_device_id))
            if model is not None:
                return model
        found = self.by_name.get(normalise_name(reported_name))
        if found is None and "-" in reported_name:
            # GPU Feature Discovery writes the product with dashes for spaces
            # (nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3): the same name as NVML's.
            found = self.by_name.get(normalise_name(reported_name.replace("-", " ")))
        return found


def named_models(name: str) -> list[AcceleratorModel]:
    """The catalog models a job's ``accelerator_model`` names: by catalog name, a reported
    product name, or Ray's accelerator type (``H100`` names the H100 SXM)."""
    wanted = normalise_name(name)
    if not wanted:
        return []
    return [
        model
        for model in AcceleratorModel.objects.order_by("name")
        if wanted
        in {normalise_name(n) for n in [model.name, *model.match_names, model.ray_accelerator_type or ""] if n}
    ]


def gpu_products(name: str, *, cluster_id: int | None = None) -> tuple[str, ...]:
    """What GPU Feature Discovery would write as ``nvidia.com/gpu.product`` on a node holding
    the accelerator model ``name``: every catalog name of the model in GFD's dashed form
    (``NVIDIA H100 80GB HBM3`` → ``NVIDIA-H100-80GB-HBM3``), and the products the cluster's
    nodes reported for it (which :class:`Matcher` matched to the model). Only valid label values;
    sorted. Empty when the catalog does not know ``name``."""
    models = named_models(name)
    if not models:
        return ()
    products = {"-".join(n.split()) for model in models for n in [model.name, *model.match_names] if n.strip()}
    if cluster_id is not None:
        reported = Accelerator.objects.filter(model__in=models, node__cluster_id=cluster_id)
        # order_by(): the model's ordering (cluster, host, index) would join the DISTINCT, one row per GPU.
        products.update(str(n) for n in reported.values_list("reported_name", flat=True).order_by().distinct() if n)
    return tuple(sorted(p for p in products if len(p) <= 63 and _LABEL_VALUE.match(p)))
