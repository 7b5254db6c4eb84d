"""Matching what hosts report to the accelerator catalog."""

from __future__ import annotations

from dataclasses import dataclass

from apps.inventory.models import AcceleratorModel


@dataclass
class Matcher:
    """The catalog, loaded once per sync: reported name or PCI device id → catalog model."""

    by_name: dict[str, AcceleratorModel]
    by_pci: dict[str, AcceleratorModel]

    @classmethod
    def load(cls) -> Matcher:
        by_name: dict[str, AcceleratorModel] = {}
        by_pci: dict[str, AcceleratorModel] = {}
        for model in AcceleratorModel.objects.all():
            for name in [model.name, *model.match_names]:
                by_name[name.strip().lower()] = model
            if model.ray_accelerator_type:
                by_name.setdefault(model.ray_accelerator_type.strip().lower(), model)
            for device_id in model.pci_device_ids:
                by_pci[device_id.strip().lower()] = model
        return cls(by_name=by_name, by_pci=by_pci)

    def match(self, reported_name: str, pci_device_id: str = "") -> AcceleratorModel | None:
        """The PCI device id decides when known (names vary by driver); then the exact name."""
        if pci_device_id:
            model = self.by_pci.get(pci_device_id.strip().lower())
            if model is not None:
                return model
        return self.by_name.get(reported_name.strip().lower())
