"""A failed job's page in a real browser, on the real Ray head and worker: the cause line first,
the page no wider than the window (desktop and phone), and a cancel seen without a reload."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from tests.conftest import ARTIFACTS, token_for
from tests.e2e.signin import PASSWORD, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.ray, pytest.mark.worker]

# One unbroken 1,500-character line in its traceback: what made the page grow past the window.
LONG_FAILURE = (
    "python -c \"import sys; print('x' * 1500); "
    "sys.stderr.write('ValueError: bad lr ' + 'y' * 1500 + chr(10)); sys.exit(3)\""
)
SLEEPER = "python -c \"import time; print('started', flush=True); time.sleep(120)\""


def _submit(live: Any, live_server: Any, name: str, entrypoint: str) -> int:
    response = requests.post(
        f"{live_server.url}/api/v1/jobs/",
        json={"name": name, "team": "demo", "entrypoint": entrypoint},
        headers={"Authorization": f"Bearer {token_for(live.member)}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _log_in(live: Any, live_server: Any, page: Any) -> None:

    live.member.set_password(PASSWORD)
    live.member.save()
    sign_in(page, live_server, "runner")


def _page_width(page: Any) -> tuple[int, int]:
    return page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")


# The outermost elements that reach past the window's right edge (for the failure's message).
_WIDE = """() => [...document.querySelectorAll('body *')]
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
  .filter((e) => !(e.parentElement && e.parentElement.getBoundingClientRect().right > window.innerWidth + 1))
  .map((e) => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(e.getBoundingClientRect().right)}px`)
  .slice(0, 8)"""


def test_a_failed_job_shows_its_cause_first_and_fits_the_window(live: Any, live_server: Any, page: Any) -> None:
    from playwright.sync_api import expect

    job_id = _submit(live, live_server, "fails-long", LONG_FAILURE)
    _log_in(live, live_server, page)

    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server.url}/jobs/{job_id}")
        expect(page.get_by_test_id("job-state")).to_have_text("failed", timeout=90_000)
        cause = page.get_by_test_id("failure-cause-line")
        expect(cause).to_have_text(re.compile(r"^exit code 3: ValueError: bad lr y+…?$"))
        # The full message folded below the cause, and only there.
        expect(page.get_by_test_id("failure-message")).to_be_hidden()
        page.get_by_test_id("failure-summary").get_by_text("Full message").click()
        expect(page.get_by_test_id("failure-message")).to_be_visible()
        expect(page.get_by_test_id("failure-message")).to_contain_text("x" * 1500)
        assert page.get_by_text("Job entrypoint command failed with exit code 3").count() == 1
        scroll_width, inner_width = _page_width(page)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"e2e-job-failed-{width}.png"), full_page=True)
        assert scroll_width <= inner_width, f"at {width} px the page is {scroll_width} px wide: {page.evaluate(_WIDE)}"


def test_cancel_updates_the_attempt_without_a_reload(live: Any, live_server: Any, page: Any) -> None:
    from playwright.sync_api import expect

    job_id = _submit(live, live_server, "cancel-me", SLEEPER)
    _log_in(live, live_server, page)
    page.goto(f"{live_server.url}/jobs/{job_id}")
    attempt = page.get_by_test_id("attempt-1")
    expect(attempt).to_contain_text("running", timeout=90_000)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel job").click()

    expect(page.get_by_test_id("job-state")).to_have_text("cancelled", timeout=30_000)
    # The cluster stops the attempt a few seconds later; the page sees it on its own.
    expect(attempt).to_contain_text("stopped", timeout=60_000)
    expect(page.get_by_test_id("failure-summary")).to_have_count(0)


def test_a_job_that_does_not_exist_says_so_at_once(live: Any, live_server: Any, page: Any) -> None:
    from playwright.sync_api import expect

    _log_in(live, live_server, page)
    answers: list[int] = []
    page.on("response", lambda r: answers.append(r.status) if r.url.endswith("/api/v1/jobs/999999/") else None)
    page.goto(f"{live_server.url}/jobs/999999")
    expect(page.get_by_text("Job not found")).to_be_visible(timeout=1_500)
    page.wait_for_timeout(2_500)  # no retries come after it
    assert answers == [404]
