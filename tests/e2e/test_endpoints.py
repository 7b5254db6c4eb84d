"""Serving from the dashboard in a real browser: create an endpoint from a registered model
version, see its token once, watch it become ready on the real Ray head, and stream a reply in
"Try it"."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.ray, pytest.mark.worker]


def test_create_an_endpoint_watch_it_become_ready_and_try_it(serving: Any, live_server: Any, page: Any) -> None:
    from playwright.sync_api import expect

    serving.member.set_password("a-long-test-password")
    serving.member.save()
    page.goto(f"{live_server.url}/login")
    page.get_by_label("Username").fill("runner")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))

    page.goto(f"{live_server.url}/endpoints")
    page.get_by_role("link", name="New endpoint").first.click()
    expect(page).to_have_url(re.compile(r"/endpoints/new"))
    page.get_by_label("Team").select_option("demo")
    page.get_by_label("Name", exact=True).fill("browser-chat")
    page.get_by_label("Model version", exact=True).select_option(str(serving.version))
    page.get_by_role("button", name="Create endpoint").click()

    created = page.get_by_test_id("endpoint-created")
    expect(created).to_contain_text("pde_")  # the token, shown once
    page.get_by_test_id("endpoint-link").click()
    expect(page).to_have_url(re.compile(r"/endpoints/\d+"))
    expect(page.get_by_test_id("endpoint-state")).to_have_text(re.compile("ready", re.I), timeout=120_000)

    try_it = page.get_by_test_id("try-it")
    try_it.get_by_label("Prompt").fill("Once upon a time")
    try_it.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("try-output")).not_to_be_empty(timeout=60_000)
    expect(page.get_by_test_id("try-status")).to_have_text("Done.", timeout=60_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-endpoint-ready.png"), full_page=True)
