"""The first dated price points: plain data, no Django imports.

Every row is one of ``shared/reference/accelerators.md`` "Price points (dated)" that names a
catalog model, with the date and the source that row gives. ``as_of`` is the date the source
states: a month becomes its first day, "early 2026" becomes 2026-01-01 and a year alone its
1 January (each said in the notes); AWS Capacity Block rates "valid until 2025-01-01" are
dated 2024-12-31. Where the source gives a range, the upper end is stored as the on-demand
price and the notes say so. Figures the reference derives itself ("~7" after the AWS P5 cut
of June 2025) are left out: they are estimates, not quotes. Per-instance prices are divided
by the instance's GPU count as the reference does.

``apps/costs/migrations/0002_seed_price_points.py`` loads these rows, so treat this module as
part of that migration: add later prices with a new data migration, the admin or the API,
not by editing a row here.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Final, TypedDict


class PriceSeedRow(TypedDict):
    """One ``PricePoint`` row; ``accelerator_model`` is the catalog model's name."""

    accelerator_model: str
    pricing_class: str
    price_per_gpu_hour: Decimal
    currency: str
    offer: str
    as_of: date
    source_url: str
    notes: str


NEXTPLATFORM_P5 = "https://www.nextplatform.com/2023/07/27/h100-gpu-instance-pricing-on-aws-grin-and-bear-it/"
AWS_CAPACITY_BLOCKS = "https://aws.amazon.com/ec2/capacityblocks/pricing/"
ARCEE_BENCHMARKS = "https://huggingface.co/spaces/arcee-ai/Benchmarks"
PRICEGPU_H100_A100 = "https://pricegpu.pages.dev/blog/h100-vs-a100-cloud-price"
TECHPLAINED_RUNPOD_VAST = "https://techplained.aptechsolutions.io/runpod-vs-vast-ai"
LYCEUM_B200 = "https://lyceum.technology/magazine/nvidia-b200-gpu-cloud-pricing-2026/"

CAPACITY_BLOCK_DATE_NOTE = "AWS lists these rates as valid until 2025-01-01; dated the day before."
EARLY_2026_NOTE = 'The source dates it "early 2026"; stored as 2026-01-01.'

PRICE_POINTS: Final[tuple[PriceSeedRow, ...]] = (
    {
        "accelerator_model": "H100 SXM",
        "pricing_class": "on_demand",
        "price_per_gpu_hour": Decimal("12.29"),
        "currency": "USD",
        "offer": "AWS p5.48xlarge (8x H100) on-demand, at launch",
        "as_of": date(2023, 7, 1),
        "source_url": NEXTPLATFORM_P5,
        "notes": "$98.32/h per 8-GPU instance. Source dated Jul 2023.",
    },
    {
        "accelerator_model": "H100 SXM",
        "pricing_class": "capacity_block",
        "price_per_gpu_hour": Decimal("4.916"),
        "currency": "USD",
        "offer": "AWS EC2 Capacity Blocks, p5.48xlarge (8x H100), us-east-1",
        "as_of": date(2024, 12, 31),
        "source_url": AWS_CAPACITY_BLOCKS,
        "notes": f"$39.33/h per 8-GPU instance. {CAPACITY_BLOCK_DATE_NOTE}",
    },
    {
        "accelerator_model": "H200 SXM",
        "pricing_class": "capacity_block",
        "price_per_gpu_hour": Decimal("5.408"),
        "currency": "USD",
        "offer": "AWS EC2 Capacity Blocks, p5e.48xlarge (8x H200), us-east-1",
        "as_of": date(2024, 12, 31),
        "source_url": AWS_CAPACITY_BLOCKS,
        "notes": f"$43.26/h per 8-GPU instance. {CAPACITY_BLOCK_DATE_NOTE}",
    },
    {
        "accelerator_model": "A100 40GB SXM",
        "pricing_class": "capacity_block",
        "price_per_gpu_hour": Decimal("1.844"),
        "currency": "USD",
        "offer": "AWS EC2 Capacity Blocks, p4d.24xlarge (8x A100 40GB), us-east-1",
        "as_of": date(2024, 12, 31),
        "source_url": AWS_CAPACITY_BLOCKS,
        "notes": f"$14.75/h per 8-GPU instance. {CAPACITY_BLOCK_DATE_NOTE}",
    },
    {
        "accelerator_model": "A10G",
        "pricing_class": "on_demand",
        "price_per_gpu_hour": Decimal("1.006"),
        "currency": "USD",
        "offer": "AWS g5.xlarge (1x A10G) on-demand, us-east-1",
        "as_of": date(2024, 1, 1),
        "source_url": ARCEE_BENCHMARKS,
        "notes": "From the space's results.py. The source dates it 2024 only; stored as 2024-01-01.",
    },
    {
        "accelerator_model": "A100 80GB SXM",
        "pricing_class": "on_demand",
        "price_per_gpu_hour": Decimal("2.49"),
        "currency": "USD",
        "offer": "Specialist clouds, A100 80GB SXM on-demand",
        "as_of": date(2026, 1, 1),
        "source_url": PRICEGPU_H100_A100,
        "notes": f"range 1.49\N{EN DASH}2.49; upper end stored. {EARLY_2026_NOTE}",
    },
    {
        "accelerator_model": "H100 SXM",
        "pricing_class": "on_demand",
        "price_per_gpu_hour": Decimal("3.99"),
        "currency": "USD",
        "offer": "Specialist clouds, H100 SXM on-demand",
        "as_of": date(2026, 1, 1),
        "source_url": PRICEGPU_H100_A100,
        "notes": f"range 2.49\N{EN DASH}3.99; upper end stored. {EARLY_2026_NOTE}",
    },
    {
        "accelerator_model": "H100 SXM",
        "pricing_class": "reserved",
        "price_per_gpu_hour": Decimal("1.85"),
        "currency": "USD",
        "offer": "Lambda reserved 8x H100 SXM (InfiniBand)",
        "as_of": date(2026, 4, 1),
        "source_url": TECHPLAINED_RUNPOD_VAST,
        "notes": "$14.80 per 8-GPU node-hour. Source dated Apr 2026.",
    },
    {
        "accelerator_model": "H100 SXM",
        "pricing_class": "on_demand",
        "price_per_gpu_hour": Decimal("2.79"),
        "currency": "USD",
        "offer": "RunPod Secure Cloud 8x H100",
        "as_of": date(2026, 4, 1),
        "source_url": TECHPLAINED_RUNPOD_VAST,
        "notes": "$22.32 per 8-GPU node-hour. Source dated Apr 2026; it says H100 (an 8-GPU node: SXM).",
    },
    {
        "accelerator_model": "H100 SXM",
        "pricing_class": "spot",
        "price_per_gpu_hour": Decimal("1.52"),
        "currency": "USD",
        "offer": "Vast.ai spot 8x H100, floor",
        "as_of": date(2026, 4, 1),
        "source_url": TECHPLAINED_RUNPOD_VAST,
        "notes": "$12.16 per 8-GPU node-hour; the lowest spot price seen, not a typical one. Source dated Apr 2026.",
    },
    {
        "accelerator_model": "B200",
        "pricing_class": "on_demand",
        "price_per_gpu_hour": Decimal("6.00"),
        "currency": "USD",
        "offer": "Specialised clouds, B200 on-demand",
        "as_of": date(2026, 3, 1),
        "source_url": LYCEUM_B200,
        "notes": "range 4.50\N{EN DASH}6.00; upper end stored. Source dated Mar 2026.",
    },
    {
        "accelerator_model": "B200",
        "pricing_class": "spot",
        "price_per_gpu_hour": Decimal("2.25"),
        "currency": "USD",
        "offer": "Specialised clouds, B200 spot, floor",
        "as_of": date(2026, 3, 1),
        "source_url": LYCEUM_B200,
        "notes": 'The source says "spot from 2.25": the lowest, not a typical price. Source dated Mar 2026.',
    },
)
