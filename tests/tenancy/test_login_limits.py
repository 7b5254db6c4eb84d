"""Sign-in is CSRF-checked and throttled: failed attempts are counted per username and per
client address, and once either limit is reached every attempt is refused — the right
password too — until the window passes."""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.tenancy.throttling import FailedLoginThrottle, parse_rate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/login/"
PASSWORD = "pw-for-the-limits-1"


# Failures live in the shared cache (Redis) for the window, beyond one test and one run:
# every test signs in as users and from addresses of its own.
def fresh_address() -> str:
    return str(ipaddress.IPv4Address(0x0A000000 + secrets.randbelow(2**24)))  # somewhere in 10.0.0.0/8


def fresh_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


@pytest.fixture
def address() -> str:
    return fresh_address()


def user(prefix: str) -> str:
    name = fresh_name(prefix)
    account = UserFactory(username=name)
    account.set_password(PASSWORD)
    account.save()
    return name


def session_client(address: str) -> tuple[APIClient, str]:
    client = APIClient(enforce_csrf_checks=True, REMOTE_ADDR=address)
    assert client.get("/api/v1/auth/csrf/").status_code == 204
    return client, client.cookies["csrftoken"].value


def sign_in(client: APIClient, csrf: str, username: str, password: str) -> Any:
    return client.post(URL, {"username": username, "password": password}, format="json", HTTP_X_CSRFTOKEN=csrf)


class FrozenClock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock()
    monkeypatch.setattr(FailedLoginThrottle, "timer", staticmethod(frozen))
    return frozen


def test_login_requires_a_csrf_token(address: str) -> None:
    name = user("csrf")
    client = APIClient(enforce_csrf_checks=True, REMOTE_ADDR=address)
    refused = client.post(URL, {"username": name, "password": PASSWORD}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    client, csrf = session_client(address)
    assert sign_in(client, csrf, name, PASSWORD).status_code == 200


def test_the_right_password_after_too_many_failures_is_refused_until_the_window_passes(
    address: str, clock: FrozenClock
) -> None:
    name = user("guessed")
    client, csrf = session_client(address)
    for _ in range(10):
        response = sign_in(client, csrf, name, "wrong-guess")
        assert response.status_code == 400
    locked = sign_in(client, csrf, name, PASSWORD)
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-ins" in locked.json()["detail"]
    # Another address, the same username in other case: still refused (the account's limit).
    other, other_csrf = session_client(fresh_address())
    assert sign_in(other, other_csrf, name.upper(), PASSWORD).status_code == 429
    clock.now += 14 * 60
    assert sign_in(client, csrf, name, PASSWORD).status_code == 429
    clock.now += 60 + 1
    assert sign_in(client, csrf, name, PASSWORD).status_code == 200


def test_one_address_is_limited_across_usernames(address: str, clock: FrozenClock) -> None:
    name = user("bystander")
    client, csrf = session_client(address)
    for _ in range(50):  # 50 usernames, 1 failure each: no username limit is reached
        assert sign_in(client, csrf, fresh_name("nobody"), "wrong").status_code == 400
    locked = sign_in(client, csrf, name, PASSWORD)
    assert locked.status_code == 429 and "Retry-After" in locked
    elsewhere, elsewhere_csrf = session_client(fresh_address())
    assert sign_in(elsewhere, elsewhere_csrf, name, PASSWORD).status_code == 200
    clock.now += 15 * 60 + 1
    assert sign_in(client, csrf, name, PASSWORD).status_code == 200


def test_only_wrong_credentials_count(address: str) -> None:
    name = user("careful")
    client, csrf = session_client(address)
    for _ in range(12):  # malformed requests are field errors, not guesses
        response = client.post(URL, {"username": name}, format="json", HTTP_X_CSRFTOKEN=csrf)
        assert response.status_code == 400 and "password" in response.json()
    for _ in range(9):
        assert sign_in(client, csrf, name, "wrong").status_code == 400
    assert sign_in(client, csrf, name, PASSWORD).status_code == 200


def test_a_client_cannot_pick_its_address_with_x_forwarded_for(address: str) -> None:
    client, csrf = session_client(address)
    for _ in range(50):
        response = client.post(
            URL,
            {"username": fresh_name("spoof"), "password": "wrong"},
            format="json",
            HTTP_X_CSRFTOKEN=csrf,
            HTTP_X_FORWARDED_FOR=fresh_address(),
        )
        assert response.status_code == 400
    assert sign_in(client, csrf, fresh_name("spoof"), "wrong").status_code == 429


@pytest.mark.parametrize(
    ("rate", "expected"),
    [("10/15m", (10, 900)), ("10/min", (10, 60)), ("50/1h", (50, 3600)), ("5/day", (5, 86400)), ("3/s", (3, 1))],
)
def test_rates_read_like_drfs_with_a_count_of_units(rate: str, expected: tuple[int, int]) -> None:
    assert parse_rate("login_username", rate) == expected


def admin_sign_in(client: Any, username: str, password: str) -> Any:
    from django.test import Client

    assert isinstance(client, Client)
    page = client.get("/admin/login/")
    csrf = client.cookies["csrftoken"].value
    assert page.status_code == 200
    return client.post(
        "/admin/login/", {"username": username, "password": password, "csrfmiddlewaretoken": csrf, "next": "/admin/"}
    )


def test_the_admin_sign_in_counts_failures_in_the_same_windows_and_then_refuses_the_right_password(
    address: str,
) -> None:
    from django.test import Client

    name = user("admin-guessed")
    account = UserFactory._meta.model.objects.get(username=name)
    account.is_staff = True
    account.save()
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR=address)
    for _ in range(10):
        assert admin_sign_in(client, name, "wrong").status_code == 200  # the form again, with its error
    refused = admin_sign_in(client, name, PASSWORD)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    # The API's sign-in shares the window: guessing in one place and answering in the other gains nothing.
    api, csrf = session_client(fresh_address())
    assert sign_in(api, csrf, name, PASSWORD).status_code == 429


def test_the_admin_sign_in_still_works_and_needs_its_csrf_token(address: str) -> None:
    from django.test import Client

    name = user("admin-ok")
    account = UserFactory._meta.model.objects.get(username=name)
    account.is_staff = True
    account.save()
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR=address)
    assert client.post("/admin/login/", {"username": name, "password": PASSWORD}).status_code == 403
    assert admin_sign_in(client, name, PASSWORD).status_code == 302
    assert client.get("/admin/").status_code == 200
