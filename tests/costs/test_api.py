"""The price-points API: every signed-in user reads the price list; only staff change it."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.core.models import AuditEntry
from apps.costs.models import PricePoint
from tests.factories import AcceleratorModelFactory, PricePointFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/price-points/"
NEW = {
    "accelerator_model": "H100 SXM",
    "pricing_class": "on_demand",
    "price_per_gpu_hour": "2.99",
    "offer": "Example cloud 8x H100 on-demand",
    "as_of": "2026-10-01",
    "source_url": "https://example.com/pricing",
}


def results(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.json()
    return list(response.json()["results"])


@pytest.fixture
def staff(world: Any) -> Any:
    world.member.is_staff = True
    world.member.save()
    return world.member


# --- reading ----------------------------------------------------------------------------------
def test_every_signed_in_user_reads_the_price_list(world: Any) -> None:
    loner = UserFactory(username="no-team")
    rows = results(world.client(loner).get(URL + "?page_size=500"))
    assert len(rows) == PricePoint.objects.count() == 12
    block = next(r for r in rows if r["accelerator_model"] == "H200 SXM")
    assert block == {
        **block,
        "pricing_class": "capacity_block",
        "price_per_gpu_hour": "5.4080",  # money is a decimal string, never a float
        "currency": "USD",
        "as_of": "2024-12-31",
        "source_url": "https://aws.amazon.com/ec2/capacityblocks/pricing/",
    }
    point = PricePoint.objects.get(accelerator_model__name="A10G")
    assert world.client(loner).get(f"{URL}{point.pk}/").json()["offer"].startswith("AWS g5.xlarge")
    assert APIClient().get(URL).status_code in (401, 403)


def test_the_list_is_ordered_by_model_then_newest_first(world: Any) -> None:
    rows = results(world.client(world.viewer).get(URL + "?accelerator_model=H100%20SXM"))
    assert [(r["as_of"], r["pricing_class"]) for r in rows] == [
        ("2026-04-01", "on_demand"),
        ("2026-04-01", "reserved"),
        ("2026-04-01", "spot"),
        ("2026-01-01", "on_demand"),
        ("2024-12-31", "capacity_block"),
        ("2023-07-01", "on_demand"),
    ]
    everything = results(world.client(world.viewer).get(URL + "?page_size=500"))
    names = [r["accelerator_model"] for r in everything]
    assert len(list(itertools.groupby(names))) == len(set(names))  # one run per model
    for a, b in itertools.pairwise(everything):
        assert a["accelerator_model"] != b["accelerator_model"] or a["as_of"] >= b["as_of"]
    cheapest = results(world.client(world.viewer).get(URL + "?ordering=price_per_gpu_hour"))[0]
    assert cheapest["price_per_gpu_hour"] == "1.0060"


def test_filters(world: Any) -> None:
    client = world.client(world.viewer)
    assert {r["accelerator_model"] for r in results(client.get(URL + "?accelerator_model=h200%20sxm"))} == {"H200 SXM"}
    spot_or_reserved = results(client.get(URL + "?pricing_class=spot&pricing_class=reserved"))
    assert sorted((r["accelerator_model"], r["pricing_class"]) for r in spot_or_reserved) == [
        ("B200", "spot"),
        ("H100 SXM", "reserved"),
        ("H100 SXM", "spot"),
    ]
    assert len(results(client.get(URL + "?as_of_after=2026-01-01&as_of_before=2026-03-31"))) == 4
    assert results(client.get(URL + "?accelerator_model=No%20such%20GPU")) == []
    response = client.get(URL + "?pricing_class=free")
    assert response.status_code == 400 and "pricing_class" in response.json()


# --- writing: staff only ----------------------------------------------------------------------
def test_staff_record_a_price(world: Any, staff: Any) -> None:
    response = world.client(staff).post(URL, NEW, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["accelerator_model"], body["price_per_gpu_hour"], body["currency"]) == ("H100 SXM", "2.9900", "USD")
    point = PricePoint.objects.get(pk=body["id"])
    assert point.price_per_gpu_hour == Decimal("2.99") and point.accelerator_model.name == "H100 SXM"
    assert AuditEntry.objects.filter(action="costs.price_point_created", actor=staff, target_id=str(point.pk)).exists()


def test_only_staff_write(world: Any, staff: Any) -> None:
    point = PricePoint.objects.get(accelerator_model__name="A10G")
    url = f"{URL}{point.pk}/"
    before = PricePoint.objects.count()
    for user in (world.admin, world.viewer):  # a team admin is not staff
        client = world.client(user)
        assert client.post(URL, NEW, format="json").status_code == 403
        assert client.post(URL, {**NEW, "price_per_gpu_hour": "0"}, format="json").status_code == 403
        assert client.patch(url, {"price_per_gpu_hour": "9"}, format="json").status_code == 403
        assert client.delete(url).status_code == 403
    # A read-scoped token of a staff user may only read.
    read_only = world.client(staff, scope="read")
    assert read_only.post(URL, NEW, format="json").status_code == 403
    assert read_only.get(url).status_code == 200
    assert PricePoint.objects.count() == before
    assert PricePoint.objects.get(pk=point.pk).price_per_gpu_hour == Decimal("1.006")
    assert world.client(staff).put(url, NEW, format="json").status_code == 405


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price_per_gpu_hour": "0"}, "price_per_gpu_hour"),
        ({"price_per_gpu_hour": 0}, "price_per_gpu_hour"),
        ({"price_per_gpu_hour": "-1.5"}, "price_per_gpu_hour"),
        ({"price_per_gpu_hour": "cheap"}, "price_per_gpu_hour"),
        ({"price_per_gpu_hour": "1.23456"}, "price_per_gpu_hour"),
        ({"price_per_gpu_hour": None}, "price_per_gpu_hour"),
        ({"accelerator_model": "H900 Imaginary"}, "accelerator_model"),
        ({"pricing_class": "free"}, "pricing_class"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "DOLLARS"}, "currency"),
        ({"as_of": "April 2026"}, "as_of"),
        ({"source_url": "not a url"}, "source_url"),
        ({"offer": ""}, "offer"),
    ],
)
def test_bad_input_is_a_400_and_records_nothing(world: Any, staff: Any, change: dict[str, Any], field: str) -> None:
    before = PricePoint.objects.count()
    response = world.client(staff).post(URL, {**NEW, **change}, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert PricePoint.objects.count() == before

    point = PricePoint.objects.get(accelerator_model__name="A10G")
    response = world.client(staff).patch(f"{URL}{point.pk}/", change, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert PricePoint.objects.get(pk=point.pk).price_per_gpu_hour == Decimal("1.006")


def test_the_same_offer_priced_twice_on_one_date_is_a_400(world: Any, staff: Any) -> None:
    assert world.client(staff).post(URL, NEW, format="json").status_code == 201
    response = world.client(staff).post(URL, {**NEW, "price_per_gpu_hour": "3.10"}, format="json")
    assert response.status_code == 400, response.json()
    assert PricePoint.objects.filter(offer=NEW["offer"]).count() == 1
    # Another date of the same offer is a new point of the series.
    assert world.client(staff).post(URL, {**NEW, "as_of": "2026-11-01"}, format="json").status_code == 201


def test_staff_correct_and_remove_a_price(world: Any, staff: Any) -> None:
    model = AcceleratorModelFactory(name="Test GPU")
    point = PricePointFactory(accelerator_model=model, price_per_gpu_hour=Decimal("2.5"))
    url = f"{URL}{point.pk}/"
    client = world.client(staff)

    response = client.patch(url, {"price_per_gpu_hour": "2.4", "notes": "corrected"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["price_per_gpu_hour"] == "2.4000"
    point.refresh_from_db()
    assert (point.price_per_gpu_hour, point.notes) == (Decimal("2.4"), "corrected")
    updated = AuditEntry.objects.get(action="costs.price_point_updated", target_id=str(point.pk))
    assert updated.data["fields"] == ["notes", "price_per_gpu_hour"]

    assert client.delete(url).status_code == 204
    assert not PricePoint.objects.filter(pk=point.pk).exists()
    deleted = AuditEntry.objects.get(action="costs.price_point_deleted", target_id=str(point.pk))
    assert (deleted.actor, deleted.data["model"], deleted.data["price_per_gpu_hour"]) == (staff, "Test GPU", "2.4000")
    assert client.get(url).status_code == 404
