"""The capacity planner in a real browser: a known model fine-tuned on a catalog accelerator,
its memory breakdown and the cheapest configurations that fit, then one that does not fit."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.factories import MembershipFactory, OrganisationFactory, PricePointFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser]

PASSWORD = "a-long-test-password"
GIB = 2**30


def test_the_planner_shows_the_fit_breakdown_and_cheapest_configurations(
    transactional_db: Any, catalog: None, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    from apps.costs.models import PricePoint
    from apps.inventory.models import AcceleratorModel

    # No inventory, so the planner recommends from the priced catalog: price exactly two models
    # (whatever the migrations seeded may or may not have survived earlier flushes).
    PricePoint.objects.all().delete()
    for name, price in (("H100 SXM", "2.79"), ("H200 SXM", "3.50")):
        PricePointFactory(accelerator_model=AcceleratorModel.objects.get(name=name), price_per_gpu_hour=Decimal(price))
    user = UserFactory(username="planner")
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(team=TeamFactory(organisation=OrganisationFactory(slug="labs"), slug="labs-team"), user=user)

    page.goto(f"{live_server.url}/login")
    page.get_by_label("Username").fill("planner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/jobs"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Planner").click()
    expect(page).to_have_url(re.compile(r"/planner$"))

    # Llama-2-7B, full fine-tune (fp32 master weights, AdamW) on one H200.
    page.get_by_label("Model", exact=True).select_option("llama-2-7b")
    page.get_by_label("Mode", exact=True).select_option("full_finetune")
    page.get_by_label("Pool or accelerator").select_option("accelerator:H200 SXM")
    page.get_by_label("GPUs").fill("1")
    page.get_by_label("Tokens to train on").fill("1B")
    results = page.get_by_test_id("plan-results")
    expect(page.get_by_test_id("time-to-train")).to_contain_text("for 1B tokens")
    expect(results).to_have_attribute("aria-busy", "false")
    expect(page.get_by_test_id("fit")).to_have_text("Fits")
    expect(page.get_by_test_id("explanation")).to_contain_text("H200 SXM")
    expect(page.get_by_test_id("memory-per-gpu")).to_contain_text(re.compile(r"GiB of 1\d\d(\.\d)? GiB"))

    breakdown = page.get_by_test_id("breakdown")
    # 6.74e9 fp32 weights are 25.1 GiB; the rows list only the parts that hold memory.
    expect(breakdown.get_by_test_id("breakdown-weights")).to_contain_text("25.1 GiB")
    expect(breakdown.get_by_test_id("breakdown-optimizer_states")).to_contain_text("50.2 GiB")
    rows = breakdown.locator("tbody tr")
    assert rows.count() >= 4
    for text in rows.all_inner_texts():
        assert re.search(r"\d(\.\d)? (KiB|MiB|GiB)", text), text
    expect(page.get_by_role("img", name=re.compile(r"^Memory per GPU: Weights 25.1 GiB"))).to_be_visible()
    expect(page.get_by_test_id("cost")).to_contain_text("USD 3.50 per hour")

    recommendations = page.get_by_test_id("recommendations").get_by_test_id("recommendation")
    expect(recommendations).to_have_count(2)
    expect(page.get_by_test_id("recommendations")).to_contain_text("H100 SXM")
    expect(page.get_by_test_id("recommendations")).to_contain_text("H200 SXM")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-planner-fits.png"), full_page=True)

    # Llama-2-70B on that one GPU cannot be fully fine-tuned.
    page.get_by_label("Model", exact=True).select_option("llama-2-70b")
    expect(page.get_by_test_id("fit")).to_have_text("Does not fit")
    expect(page.get_by_test_id("explanation")).to_contain_text("Does not fit")
    expect(page.get_by_test_id("memory-per-gpu")).to_contain_text("short")
    expect(results).to_have_attribute("aria-busy", "false")
    expect(recommendations.first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "e2e-planner-does-not-fit.png"), full_page=True)
