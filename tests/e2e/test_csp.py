"""The dashboard works under its Content-Security-Policy: Chromium loads every main page (and
draws the Chart.js figures) with no CSP violation and no script error; Django's admin, which
keeps its own pages, still signs in."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.factories import (
    AcceleratorFactory,
    ClusterFactory,
    JobFactory,
    MembershipFactory,
    NodeFactory,
    OrganisationFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser]

PASSWORD = "a-long-test-password"
# Records what the policy blocked, whether or not the console reports it.
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


def seed() -> dict[str, Any]:
    from apps.inventory.models import AcceleratorModel
    from apps.quotas.models import Pool, Quota

    org = OrganisationFactory(slug="csp")
    cluster = ClusterFactory(organisation=org, name="csp-cluster")
    team = TeamFactory(organisation=org, slug="csp-team", default_cluster=cluster)
    user = UserFactory(username="csp-user", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(team=team, user=user, role="admin")
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    node = NodeFactory(cluster=cluster, hostname="csp-node")
    for index in range(2):
        AcceleratorFactory(node=node, index=index, model=h100)
    pool = Pool.objects.create(name="csp-h100", cluster=cluster, accelerator_model=h100)
    Quota.objects.create(team=team, pool=pool, guaranteed=1, max=2)
    job = JobFactory(team=team, cluster=cluster, name="csp-job")
    return {"job": job}


def test_every_main_page_loads_under_the_policy_without_a_violation(
    transactional_db: Any, catalog: None, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    seeded = seed()
    problems: list[str] = []

    def on_console(message: Any) -> None:
        # Before signing in, the app asks who the caller is and gets a 401: not a problem.
        expected = "status of 401" in message.text and not problems and "/login" in page.url
        if (message.type == "error" and not expected) or "Content Security Policy" in message.text:
            problems.append(f"console {message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.add_init_script(WATCH_VIOLATIONS)

    index = page.goto(f"{live_server.url}/login")
    assert index is not None and "script-src 'self'" in index.headers["content-security-policy"]
    page.get_by_label("Username").fill("csp-user")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/jobs$"))
    expect(page.get_by_test_id("jobs-table")).to_contain_text("csp-job")

    visits = [
        ("/jobs/new", page.get_by_label("Entrypoint")),
        (f"/jobs/{seeded['job'].pk}", page.get_by_role("heading", name="Attempts")),
        ("/queue", page.get_by_role("heading", name="Queue")),
        ("/quotas", page.get_by_role("img", name=re.compile("Quota use in pool csp-h100"))),
        ("/inventory", page.get_by_role("img", name=re.compile("GPUs by model and state"))),
        ("/tokens", page.get_by_role("heading", name="API tokens")),
    ]
    for url, ready in visits:
        page.goto(f"{live_server.url}{url}")
        expect(ready).to_be_visible()

    page.goto(f"{live_server.url}/planner")
    page.get_by_label("Model", exact=True).select_option("llama-2-7b")
    page.get_by_label("Mode", exact=True).select_option("full_finetune")
    page.get_by_label("Pool or accelerator").select_option("accelerator:H200 SXM")
    expect(page.get_by_role("img", name=re.compile(r"^Memory per GPU"))).to_be_visible()

    problems += page.evaluate("window.__cspViolations")
    assert not problems

    # The admin keeps Django's own pages (no dashboard policy): it still signs in and renders.
    admin = page.context.browser.new_context().new_page()
    admin.goto(f"{live_server.url}/admin/login/")
    admin.get_by_label("Username").fill("csp-user")
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    expect(admin.get_by_role("heading", name="Site administration")).to_be_visible()
    admin.context.close()
