"""The dashboard in a real browser: log in, submit a job, watch it succeed, read its log."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.ray, pytest.mark.worker]


def test_log_in_submit_a_job_and_watch_it_succeed(live: Any, live_server: Any, page: Any) -> None:
    from playwright.sync_api import expect

    live.member.set_password("a-long-test-password")
    live.member.save()

    page.goto(f"{live_server.url}/jobs")
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("Username").fill("runner")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/jobs"))

    page.get_by_role("link", name="Submit job").click()
    page.get_by_label("Name", exact=True).fill("browser-job")
    page.get_by_label("Team").select_option("demo")
    page.get_by_label("Entrypoint").fill("python -c \"print('hello from the browser')\"")
    page.get_by_role("button", name="Submit", exact=True).click()

    expect(page).to_have_url(re.compile(r"/jobs/\d+"))
    expect(page.get_by_test_id("job-state")).to_have_text("succeeded", timeout=60_000)
    expect(page.get_by_test_id("job-logs")).to_contain_text("hello from the browser", timeout=30_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-job-succeeded.png"), full_page=True)


def test_the_submit_form_shows_field_errors(live: Any, live_server: Any, page: Any) -> None:
    from playwright.sync_api import expect

    live.member.set_password("a-long-test-password")
    live.member.save()
    page.goto(f"{live_server.url}/login")
    page.get_by_label("Username").fill("runner")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/jobs"))
    page.goto(f"{live_server.url}/jobs/new")
    page.get_by_label("Name", exact=True).fill("bad-gpus")
    page.get_by_label("Team").select_option("demo")
    page.get_by_label("Entrypoint").fill("true")
    page.get_by_label("GPUs").fill("-1")
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page.get_by_text(re.compile("greater than or equal to 0"))).to_be_visible()
    expect(page).to_have_url(re.compile(r"/jobs/new"))
