"""Signing in to the dashboard as a browser test's user (the same four steps in every test)."""

from __future__ import annotations

import re
from typing import Any

PASSWORD = "a-long-test-password"


def sign_in(page: Any, live_server: Any, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login form and land on the jobs page."""
    from playwright.sync_api import expect

    page.goto(f"{live_server.url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/jobs$"))
