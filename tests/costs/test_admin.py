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


def test_an_operator_sets_a_budget_through_the_services_and_a_bad_one_is_refused(console: Client) -> None:
    from apps.costs.models import Budget
    from tests.factories import TeamFactory

    team = TeamFactory(slug="nlp")
    url = reverse("admin:costs_budget_add")
    assert console.get(url).status_code == 200
    form = {
        "team": team.pk,
        "name": "nlp monthly",
        "unit": "money",
        "amount": "5000",
        "currency": "USD",
        "period": "monthly",
        "soft_percent": "80",
        "hard": "on",
        "on_hard_limit": "continue",
        "active": "on",
        "alerts-TOTAL_FORMS": "0",
        "alerts-INITIAL_FORMS": "0",
    }
    assert console.post(url, {**form, "currency": "XYZ"}).status_code == 200  # the form again, with the error
    assert not Budget.objects.exists()
    assert console.post(url, form).status_code == 302
    budget = Budget.objects.get()
    assert AuditEntry.objects.filter(action="costs.budget_created", target_id=str(budget.pk)).exists()


def test_the_ledger_is_read_only_in_the_console(console: Client) -> None:
    assert console.get(reverse("admin:costs_usagerecord_changelist")).status_code == 200
    assert console.get(reverse("admin:costs_usagerecord_add")).status_code == 403


def test_an_overlapping_cluster_rate_is_refused_in_the_console(console: Client) -> None:
    from datetime import UTC, datetime

    from tests.factories import ClusterFactory

    cluster = ClusterFactory(name="dgx")
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    PricePointFactory(accelerator_model=h100, cluster=cluster, valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    before = PricePoint.objects.count()
    response = console.post(
        reverse("admin:costs_pricepoint_add"),
        {
            "accelerator_model": h100.pk,
            "pricing_class": "on_demand",
            "price_per_gpu_hour": "1.50",
            "currency": "USD",
            "offer": "second rate",
            "cluster": cluster.pk,
            "region": "",
            "as_of": "2026-06-01",
            "source_url": "https://example.com",
        },
    )
    assert response.status_code == 200 and "Overlaps price" in response.content.decode()
    assert PricePoint.objects.count() == before
