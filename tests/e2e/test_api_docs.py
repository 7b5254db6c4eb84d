"""The API docs page works on a machine without internet: Chromium renders Swagger UI and its
operations with every request to a host other than this one aborted, and with no script error
and no Content-Security-Policy violation."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser]

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


def test_the_api_docs_render_with_no_network_beyond_this_machine(
    transactional_db: Any, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    local: list[str] = []
    blocked: list[str] = []
    problems: list[str] = []

    def only_this_machine(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            local.append(url)
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    page.route("**/*", only_this_machine)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.add_init_script(WATCH_VIOLATIONS)

    page.goto(f"{live_server.url}/api/docs/")
    expect(page.get_by_role("heading", name="Paddock API")).to_be_visible()
    # Swagger UI draws the operations of the tags in view, and the rest as they scroll in.
    expect(page.locator('.opblock-summary-path[data-path="/api/v1/accelerator-models/"]').first).to_be_visible()
    jobs = page.locator('.opblock-summary-path[data-path="/api/v1/jobs/"]').first
    for _ in range(40):
        if jobs.count():
            break
        page.mouse.wheel(0, 2000)
        page.wait_for_timeout(100)
    expect(jobs).to_be_visible()

    problems += page.evaluate("window.__cspViolations")
    assert not blocked, blocked
    assert not problems, problems
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/" in url for url in local)
    assert any("/api/schema/" in url for url in local)
