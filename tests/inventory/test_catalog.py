"""The seeded accelerator catalog and how discovered GPUs are matched to it."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.costs.models import PricePoint
from apps.inventory.catalog import Matcher, normalise_pci_device_id
from apps.inventory.catalog_seed import ACCELERATORS, SEEDED_NAMES
from apps.inventory.models import AcceleratorModel

pytestmark = pytest.mark.django_db

SEED = ("inventory", "0004_seed_catalog")
BEFORE_SEED = ("inventory", "0003_acceleratormodel_cluster_last_discovered_at_and_more")
H200_HOST = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "gpu" / "h200-host-1"

EXPECTED_NAMES = {
    "A100 40GB SXM",
    "A100 80GB SXM",
    "A100 80GB PCIe",
    "H100 SXM",
    "H100 PCIe",
    "H100 NVL",
    "H200 SXM",
    "B200",
    "L4",
    "L40S",
    "A10",
    "A10G",
    "T4",
    "MI300X",
    "TPU v4",
    "TPU v5e",
    "TPU v5p",
}


def test_the_migration_seeded_every_accelerator_of_the_reference() -> None:
    assert set(AcceleratorModel.objects.values_list("name", flat=True)) >= EXPECTED_NAMES
    assert AcceleratorModel.objects.filter(name__in=SEEDED_NAMES).count() == 17
    assert set(SEEDED_NAMES) == EXPECTED_NAMES


def test_every_seeded_row_has_a_source_memory_and_bandwidth() -> None:
    for model in AcceleratorModel.objects.filter(name__in=SEEDED_NAMES):
        assert model.source_url.startswith("https://"), model.name
        assert model.memory_gb > 0, model.name
        assert model.memory_bandwidth_gbps > 0, model.name
        assert model.full_clean() is None  # what the admin would accept


def test_seeded_figures_match_the_reference() -> None:
    by_name = {m.name: m for m in AcceleratorModel.objects.filter(name__in=SEEDED_NAMES)}

    h100 = by_name["H100 SXM"]
    assert (h100.bf16_tflops, h100.fp16_tflops, h100.fp8_tflops) == (989, 989, 1979)
    assert (h100.memory_gb, h100.memory_bandwidth_gbps, h100.tdp_watts) == (80, 3350, 700)
    assert (h100.nvlink_domain_size, h100.supports_fp8, h100.sparse_multiplier) == (8, True, 2.0)

    h200 = by_name["H200 SXM"]
    assert (h200.memory_gb, h200.memory_bandwidth_gbps) == (141, 4800)
    assert h200.source_url == "https://www.nvidia.com/en-us/data-center/h200/"

    t4 = by_name["T4"]
    assert t4.supports_bf16 is False and t4.bf16_tflops is None
    assert t4.fp16_tflops == 65 and t4.fp8_tflops is None

    mi300x = by_name["MI300X"]
    assert (mi300x.vendor, mi300x.bf16_tflops, mi300x.fp8_tflops) == ("amd", 1307, 2615)

    v5p = by_name["TPU v5p"]
    assert (v5p.vendor, v5p.bf16_tflops, v5p.memory_gb, v5p.sparse_multiplier) == ("google", 459, 95, 1.0)
    assert v5p.tdp_watts is None  # not published

    b200 = by_name["B200"]
    assert b200.memory_gb == 180 and "192" in b200.notes

    a10g = by_name["A10G"]
    assert a10g.bf16_tflops is None and a10g.fp32_tflops == 31.2 and "third-party" in a10g.notes


def test_measured_matmul_ceilings_match_the_reference() -> None:
    mamf = dict(AcceleratorModel.objects.filter(name__in=SEEDED_NAMES).values_list("name", "mamf_bf16_tflops"))
    assert {name: tflops for name, tflops in mamf.items() if tflops is not None} == {
        "A100 40GB SXM": 271.2,
        "A100 80GB SXM": 271.2,
        "H100 SXM": 794.5,
        "H200 SXM": 794.5,  # "same as H100"
        "B200": 1745,
        "MI300X": 668.4,
    }
    # A ceiling is measured below the spec sheet's dense rate, never above it.
    for model in AcceleratorModel.objects.filter(mamf_bf16_tflops__isnull=False):
        assert model.bf16_tflops is not None and model.mamf_bf16_tflops < model.bf16_tflops, model.name


def test_pci_ids_are_device_halves_and_ray_types_are_unique() -> None:
    ids = [device_id for row in ACCELERATORS for device_id in row["pci_device_ids"]]
    assert all(normalise_pci_device_id(device_id) == device_id for device_id in ids)
    assert len(ids) == len(set(ids))
    ray_types = [row["ray_accelerator_type"] for row in ACCELERATORS if row["ray_accelerator_type"]]
    assert len(ray_types) == len(set(ray_types))


def test_h200_matches_by_name_and_by_pci_id() -> None:
    matcher = Matcher.load()
    assert matcher.match("NVIDIA H200").name == "H200 SXM"
    assert matcher.match("", "0x2335").name == "H200 SXM"


def test_the_real_h200_capture_matches() -> None:
    if not H200_HOST.is_dir():
        pytest.skip(f"{H200_HOST} is not in this checkout")
    xml = ElementTree.parse(H200_HOST / "nvidia-smi-q.xml").getroot()
    product_name = xml.findtext("gpu/product_name")
    smi_pci_id = xml.findtext("gpu/pci/pci_device_id")  # "233510DE"
    nvml_device = json.loads((H200_HOST / "nvml.json").read_text())["devices"][0]
    assert product_name and smi_pci_id

    matcher = Matcher.load()
    assert matcher.match(product_name).name == "H200 SXM"
    assert matcher.match(product_name, smi_pci_id).name == "H200 SXM"
    assert matcher.match(nvml_device["name"], hex(nvml_device["pci"]["device_id"])).name == "H200 SXM"


def test_unknown_accelerator_is_not_matched() -> None:
    matcher = Matcher.load()
    assert matcher.match("NVIDIA GeForce RTX 4090", "0x2684") is None
    assert matcher.match("") is None


def test_pci_id_wins_over_a_misleading_name() -> None:
    matcher = Matcher.load()
    assert matcher.match("NVIDIA H100 80GB HBM3", "0x2335").name == "H200 SXM"
    # An id the catalog does not know falls back to the name.
    assert matcher.match("NVIDIA H100 80GB HBM3", "0x9999").name == "H100 SXM"


def test_names_and_ray_types_match_whatever_the_case_and_spacing() -> None:
    matcher = Matcher.load()
    assert matcher.match("  nvidia  a100-sxm4-80gb ").name == "A100 80GB SXM"
    assert matcher.match("Tesla T4").name == "T4"
    assert matcher.match("AMD-Instinct-MI300X-OAM").name == "MI300X"
    assert matcher.match("TPU-V5LITEPOD").name == "TPU v5e"
    assert matcher.match("A100").name == "A100 40GB SXM"


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("0x2335", "0x2335"),
        ("2335", "0x2335"),
        ("233510DE", "0x2335"),
        ("0x233510de", "0x2335"),
        ("10de:2335", "0x2335"),
        ("0x74A1", "0x74a1"),
        ("0x5e", "0x005e"),
        ("nonsense", ""),
        ("0x12345", ""),
        ("", ""),
    ],
)
def test_pci_device_ids_are_normalised(reported: str, expected: str) -> None:
    assert normalise_pci_device_id(reported) == expected


def test_reversing_the_seed_removes_exactly_the_seeded_rows() -> None:
    AcceleratorModel.objects.create(
        name="Operator's own",
        vendor="other",
        memory_gb=1,
        memory_bandwidth_gbps=1,
        source_url="https://example.com/spec",
    )
    # Migrating back to before the seed unapplies the costs app first (its migrations depend
    # on the seed): the seeded prices refer to these rows.
    PricePoint.objects.all().delete()
    executor = MigrationExecutor(connection)
    seeded, before = executor.loader.project_state(SEED), executor.loader.project_state(BEFORE_SEED)
    (operation,) = executor.loader.get_migration(*SEED).operations

    with connection.schema_editor() as editor:
        operation.database_backwards("inventory", editor, seeded, before)
    assert list(AcceleratorModel.objects.values_list("name", flat=True)) == ["Operator's own"]

    # Forwards again: the seed comes back, and an existing row is left as the operator has it.
    AcceleratorModel.objects.create(
        name="H100 SXM", vendor="nvidia", memory_gb=80, memory_bandwidth_gbps=1, source_url="https://example.com"
    )
    with connection.schema_editor() as editor:
        operation.database_forwards("inventory", editor, before, seeded)
    assert AcceleratorModel.objects.filter(name__in=SEEDED_NAMES).count() == 17
    assert AcceleratorModel.objects.get(name="H100 SXM").memory_bandwidth_gbps == 1


def test_a_model_maps_to_the_gpu_feature_discovery_products_the_catalog_matches_for_it() -> None:
    from apps.inventory.catalog import gpu_products
    from tests.factories import AcceleratorFactory, ClusterFactory, NodeFactory

    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    # By catalog name, by Ray's accelerator type, by a reported product: the same products.
    by_name = gpu_products("H100 SXM")
    assert "NVIDIA-H100-80GB-HBM3" in by_name and "H100-SXM" in by_name
    assert gpu_products("H100") == by_name == gpu_products("nvidia h100 80gb hbm3")
    assert all(Matcher.load().match(product) == h100 for product in by_name)  # each is matched back to it
    assert "NVIDIA-H100-PCIe" not in by_name and gpu_products("no such GPU") == ()

    # What the cluster's nodes reported for the model counts too (a product the catalog lists no more).
    cluster = ClusterFactory()
    node = NodeFactory(cluster=cluster)
    AcceleratorFactory(node=node, model=h100, reported_name="NVIDIA-H100-80GB-HBM3-custom")
    assert "NVIDIA-H100-80GB-HBM3-custom" in gpu_products("H100", cluster_id=cluster.pk)
    assert "NVIDIA-H100-80GB-HBM3-custom" not in gpu_products("H100", cluster_id=cluster.pk + 1)
