"""Content-Security-Policy: strict on the dashboard (index and assets), "load nothing" on JSON
answers, and Django's admin left as it is. ``tests/e2e/test_csp.py`` proves the dashboard
still works under it in Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

DASHBOARD_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def directives(header: str) -> dict[str, str]:
    parsed = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition(" ")
        parsed[name] = value
    return parsed


def test_the_dashboard_index_has_a_strict_policy(settings: Any, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    settings.FRONTEND_DIST = tmp_path
    response = Client().get("/jobs/42")
    assert response.status_code == 200
    policy = directives(response["Content-Security-Policy"])
    for name, value in DASHBOARD_DIRECTIVES.items():
        assert policy[name] == value, name
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


def test_static_assets_carry_the_dashboard_policy() -> None:
    response = Client().get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert directives(response["Content-Security-Policy"])["script-src"] == "'self'"


@pytest.mark.parametrize("url", ["/api/v1/auth/me/", "/api/v1/no-such-thing/", "/healthz", "/metrics"])
def test_api_health_and_metrics_answers_may_load_nothing(url: str) -> None:
    response = Client().get(url)
    assert response["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_json_answers_under_a_token_too(world: Any) -> None:
    response = world.client(world.member).get("/api/v1/jobs/")
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_the_admin_keeps_its_own_pages() -> None:
    admin = Client().get("/admin/login/")
    assert admin.status_code == 200 and "Content-Security-Policy" not in admin


def test_the_api_docs_load_only_from_this_origin() -> None:
    """Swagger UI's files come from our own static files (drf-spectacular-sidecar), its start-up
    script too, and the policy lets the page reach no other host: it works offline."""
    docs = Client().get("/api/docs/")
    assert docs.status_code == 200
    policy = directives(docs["Content-Security-Policy"])
    assert policy["default-src"] == policy["script-src"] == policy["connect-src"] == "'self'"
    html = docs.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in url for url in sources)
    assert sources and all(url.startswith("/") for url in sources), sources
    assert "<script>" not in html  # no inline script: the start-up script is a file of its own
    script = Client().get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()
