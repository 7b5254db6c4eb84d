"""The operator console: the price list, its filters, and what a bad price looks like there."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core.models import AuditEntry
from apps.costs.models import PricePoint
from apps.inventory.models import AcceleratorModel
from tests.factories import PricePointFactory, UserFactory

pytestmark = pytest.mark.django_db


def changelist(query: str = "") -> str:
    return reverse("admin:costs_pricepoint_changelist") + query


@pytest.fixture
def console() -> Client:
    client = Client()
    client.force_login(UserFactory(username="root-operator", is_staff=True, is_superuser=True))
    return client


def queries(console: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert console.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("query", ["", "?pricing_class__exact=spot", "?q=aws", "?accelerator_model__id__exact={h100}"])
def test_the_price_list_renders_with_a_constant_number_of_queries(console: Client, query: str) -> None:
    url = changelist(query.format(h100=AcceleratorModel.objects.get(name="H100 SXM").pk))
    queries(console, url)  # warm: the session, content types
    few = queries(console, url)
    for _ in range(8):
        PricePointFactory(pricing_class="spot", offer="AWS spot, grown")
    assert queries(console, url) == few


def test_filters_by_class_and_model(console: Client) -> None:
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    spot = console.get(changelist("?pricing_class__exact=spot")).context["cl"].result_list
    assert {(p.accelerator_model.name, p.pricing_class) for p in spot} == {("H100 SXM", "spot"), ("B200", "spot")}
    h100_rows = console.get(changelist(f"?accelerator_model__id__exact={h100.pk}")).context["cl"].result_list
    assert {p.accelerator_model_id for p in h100_rows} == {h100.pk} and len(h100_rows) == 6


def test_operators_add_a_price_and_a_zero_price_is_refused(console: Client) -> None:
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    form: dict[str, Any] = {
        "accelerator_model": h100.pk,
        "pricing_class": "on_demand",
        "price_per_gpu_hour": "0",
        "currency": "USD",
        "offer": "Admin-entered offer",
        "as_of": "2026-10-01",
        "source_url": "example.com/pricing",
        "notes": "",
    }
    add = reverse("admin:costs_pricepoint_add")
    response = console.post(add, form)
    assert response.status_code == 200 and "price_per_gpu_hour" in response.context["adminform"].form.errors
    assert not PricePoint.objects.filter(offer="Admin-entered offer").exists()

    assert console.post(add, {**form, "price_per_gpu_hour": "2.75"}).status_code == 302
    point = PricePoint.objects.get(offer="Admin-entered offer")
    assert point.source_url == "https://example.com/pricing"
    assert AuditEntry.objects.filter(action="costs.price_point_created", target_id=str(point.pk)).exists()
