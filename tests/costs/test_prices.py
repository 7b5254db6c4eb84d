"""The seeded price list and the rule that picks the price the planner plans with."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.costs.models import PricePoint
from apps.costs.price_seed import PRICE_POINTS
from apps.costs.prices import current_prices
from apps.inventory.catalog_seed import SEEDED_NAMES
from apps.inventory.models import AcceleratorModel
from tests.factories import AcceleratorModelFactory, PricePointFactory

pytestmark = pytest.mark.django_db

SEED = ("costs", "0002_seed_price_points")
BEFORE_SEED = ("costs", "0001_initial")
JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)


def seeded() -> dict[tuple[str, str, date], PricePoint]:
    points = PricePoint.objects.select_related("accelerator_model")
    return {(p.accelerator_model.name, p.pricing_class, p.as_of): p for p in points}


# --- the seed ---------------------------------------------------------------------------------
def test_the_migration_seeded_the_dated_prices_of_the_reference() -> None:
    rows = seeded()
    assert len(rows) == len(PRICE_POINTS) == 12
    assert {row["accelerator_model"] for row in PRICE_POINTS} <= set(SEEDED_NAMES)

    launch = rows[("H100 SXM", "on_demand", date(2023, 7, 1))]
    assert launch.price_per_gpu_hour == Decimal("12.29") and launch.currency == "USD"
    assert "p5.48xlarge" in launch.offer and launch.source_url.startswith("https://www.nextplatform.com/")

    block = rows[("H100 SXM", "capacity_block", date(2024, 12, 31))]
    assert block.price_per_gpu_hour == Decimal("4.916") and "valid until 2025-01-01" in block.notes
    assert rows[("H200 SXM", "capacity_block", date(2024, 12, 31))].price_per_gpu_hour == Decimal("5.408")
    assert rows[("A100 40GB SXM", "capacity_block", date(2024, 12, 31))].price_per_gpu_hour == Decimal("1.844")
    assert rows[("A10G", "on_demand", date(2024, 1, 1))].price_per_gpu_hour == Decimal("1.006")

    a100 = rows[("A100 80GB SXM", "on_demand", date(2026, 1, 1))]
    assert a100.price_per_gpu_hour == Decimal("2.49")
    assert "range 1.49\N{EN DASH}2.49; upper end stored" in a100.notes and "early 2026" in a100.notes
    assert rows[("H100 SXM", "on_demand", date(2026, 1, 1))].price_per_gpu_hour == Decimal("3.99")

    april = date(2026, 4, 1)
    assert rows[("H100 SXM", "reserved", april)].price_per_gpu_hour == Decimal("1.85")
    assert rows[("H100 SXM", "on_demand", april)].price_per_gpu_hour == Decimal("2.79")
    assert rows[("H100 SXM", "spot", april)].price_per_gpu_hour == Decimal("1.52")
    assert rows[("B200", "on_demand", date(2026, 3, 1))].price_per_gpu_hour == Decimal("6.00")
    assert rows[("B200", "spot", date(2026, 3, 1))].price_per_gpu_hour == Decimal("2.25")


def test_derived_estimates_are_not_seeded() -> None:
    # "~7" after the June 2025 AWS P5 cut is the reference's own arithmetic, not a quote.
    assert not PricePoint.objects.filter(as_of__year=2025).exists()
    assert not PricePoint.objects.filter(price_per_gpu_hour__gte=6.5, price_per_gpu_hour__lte=7.5).exists()


def test_every_seeded_price_is_sourced_and_valid() -> None:
    for point in PricePoint.objects.all():
        assert point.source_url.startswith("https://"), point
        assert point.price_per_gpu_hour > 0, point
        assert point.full_clean() is None  # what the admin would accept


@pytest.fixture
def schema_at_seed():
    """The costs tables as the seed migration knew them (later migrations add columns the seed's
    rows do not fill), put back as they are afterwards."""
    executor = MigrationExecutor(connection)
    latest = [key for key in executor.loader.graph.leaf_nodes() if key[0] == "costs"]
    executor.migrate([SEED])
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks left when a table is altered
    executor = MigrationExecutor(connection)
    executor.migrate(latest)


def test_reversing_the_seed_removes_exactly_the_seeded_rows_and_skips_missing_models(schema_at_seed) -> None:
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    executor = MigrationExecutor(connection)
    Point = executor.loader.project_state(SEED).apps.get_model("costs", "PricePoint")
    own = Point.objects.create(
        accelerator_model_id=h100.pk,
        offer="Our negotiated rate",
        as_of=date(2026, 6, 1),
        price_per_gpu_hour=Decimal("2.5"),
        pricing_class="on_demand",
        currency="USD",
        source_url="https://example.com",
    )
    after, before = executor.loader.project_state(SEED), executor.loader.project_state(BEFORE_SEED)
    (operation,) = executor.loader.get_migration(*SEED).operations

    with connection.schema_editor() as editor:
        operation.database_backwards("costs", editor, after, before)
    assert list(Point.objects.values_list("pk", flat=True)) == [own.pk]

    # Forwards again without B200 in the catalog: its rows are skipped, the others come back.
    executor.loader.project_state(SEED).apps.get_model("inventory", "AcceleratorModel").objects.filter(
        name="B200"
    ).delete()
    with connection.schema_editor() as editor:
        operation.database_forwards("costs", editor, before, after)
    assert Point.objects.count() == len(PRICE_POINTS) - 2 + 1
    assert not Point.objects.filter(accelerator_model__name="B200").exists()

    # ...and running it once more adds nothing twice.
    with connection.schema_editor() as editor:
        operation.database_forwards("costs", editor, before, after)
    assert Point.objects.count() == len(PRICE_POINTS) - 2 + 1


def test_the_database_refuses_a_price_that_is_not_positive() -> None:
    model = AcceleratorModelFactory()
    for bad in (Decimal("0"), Decimal("-1.5")):
        with pytest.raises(IntegrityError), transaction.atomic():
            PricePoint.objects.create(
                accelerator_model=model, price_per_gpu_hour=bad, offer="x", as_of=JAN, source_url="https://e.com"
            )
    assert not PricePoint.objects.filter(accelerator_model=model).exists()


# --- current_prices: which price the planner uses -----------------------------------------------
def test_the_latest_date_wins_whatever_its_class() -> None:
    model = AcceleratorModelFactory()
    PricePointFactory(accelerator_model=model, pricing_class="on_demand", price_per_gpu_hour=Decimal(3), as_of=JAN)
    newer = PricePointFactory(accelerator_model=model, pricing_class="spot", price_per_gpu_hour=Decimal(1), as_of=FEB)

    assert current_prices(MAR)[model.pk] == newer
    assert current_prices(FEB)[model.pk] == newer  # dated that very day: it counts


def test_on_a_shared_date_on_demand_is_preferred_then_reserved_then_capacity_block_then_spot() -> None:
    model = AcceleratorModelFactory()
    spot = PricePointFactory(accelerator_model=model, pricing_class="spot", price_per_gpu_hour=Decimal(1), as_of=JAN)
    block = PricePointFactory(
        accelerator_model=model, pricing_class="capacity_block", price_per_gpu_hour=Decimal(2), as_of=JAN
    )
    reserved = PricePointFactory(
        accelerator_model=model, pricing_class="reserved", price_per_gpu_hour=Decimal(3), as_of=JAN
    )
    on_demand = PricePointFactory(
        accelerator_model=model, pricing_class="on_demand", price_per_gpu_hour=Decimal(9), as_of=JAN
    )

    for expected in (on_demand, reserved, block, spot):
        assert current_prices(JAN)[model.pk] == expected
        expected.delete()
    assert model.pk not in current_prices(JAN)


def test_within_a_class_and_date_the_lowest_price_wins() -> None:
    model = AcceleratorModelFactory()
    PricePointFactory(accelerator_model=model, price_per_gpu_hour=Decimal("3.99"), as_of=JAN)
    cheap = PricePointFactory(accelerator_model=model, price_per_gpu_hour=Decimal("2.49"), as_of=JAN)
    assert current_prices(JAN)[model.pk] == cheap


def test_future_dated_points_are_ignored() -> None:
    model = AcceleratorModelFactory()
    january = PricePointFactory(accelerator_model=model, price_per_gpu_hour=Decimal(3), as_of=JAN)
    PricePointFactory(accelerator_model=model, price_per_gpu_hour=Decimal(2), as_of=MAR)
    only_future = AcceleratorModelFactory()
    PricePointFactory(accelerator_model=only_future, as_of=MAR)

    prices = current_prices(FEB)
    assert prices[model.pk] == january
    assert only_future.pk not in prices


def test_without_a_date_today_is_used() -> None:
    model = AcceleratorModelFactory()
    today = timezone.now().date()
    current = PricePointFactory(accelerator_model=model, price_per_gpu_hour=Decimal(3), as_of=today)
    PricePointFactory(accelerator_model=model, price_per_gpu_hour=Decimal(2), as_of=today + timedelta(days=1))
    assert current_prices()[model.pk] == current


def test_prices_in_another_currency_are_not_compared() -> None:
    model = AcceleratorModelFactory()
    dollars = PricePointFactory(accelerator_model=model, price_per_gpu_hour=Decimal(3), as_of=JAN)
    PricePointFactory(accelerator_model=model, price_per_gpu_hour=Decimal(1), currency="EUR", as_of=FEB)
    assert current_prices(MAR)[model.pk] == dollars
    assert current_prices(MAR, currency="EUR")[model.pk].currency == "EUR"


def test_one_query_for_every_model() -> None:
    for i in range(5):
        model = AcceleratorModelFactory(name=f"Many {i}")
        for day in (JAN, FEB):
            for pricing_class in ("on_demand", "spot"):
                PricePointFactory(accelerator_model=model, pricing_class=pricing_class, as_of=day)
    with CaptureQueriesContext(connection) as ctx:
        prices = current_prices(MAR)
        names = {point.accelerator_model.name for point in prices.values()}
    assert len(ctx.captured_queries) == 1
    assert {f"Many {i}" for i in range(5)} <= names


def test_the_seeded_list_gives_the_planner_sensible_prices() -> None:
    by_name = {point.accelerator_model.name: point for point in current_prices(date(2026, 11, 1)).values()}
    assert set(by_name) == {"A100 40GB SXM", "A100 80GB SXM", "H100 SXM", "H200 SXM", "B200", "A10G"}
    # April 2026 supersedes early 2026; of that date's reserved, on-demand and spot, on-demand.
    assert (by_name["H100 SXM"].pricing_class, by_name["H100 SXM"].price_per_gpu_hour) == ("on_demand", Decimal("2.79"))
    assert (by_name["B200"].pricing_class, by_name["B200"].price_per_gpu_hour) == ("on_demand", Decimal("6.00"))
    assert by_name["H200 SXM"].pricing_class == "capacity_block"

    h100 = AcceleratorModel.objects.get(name="H100 SXM").pk
    assert current_prices(date(2025, 6, 1))[h100].price_per_gpu_hour == Decimal("4.916")
    assert current_prices(date(2024, 1, 1))[h100].price_per_gpu_hour == Decimal("12.29")
    assert current_prices(date(2023, 6, 30)) == {}
