"""API tokens: prefixed, hashed, scoped, expiring, revocable, shown once."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from apps.tenancy.models import ApiToken
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def session_client(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_create_token_in_a_session_shows_it_once_and_stores_a_hash(world: Any) -> None:
    client = session_client(world.member)
    response = client.post("/api/v1/tokens/", {"name": "ci", "scope": "write", "team": "alpha"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    plaintext = body["token"]
    assert plaintext.startswith("pdk_") and body["prefix"] in plaintext
    stored = ApiToken.objects.get(pk=body["id"])
    assert plaintext.split(".", 1)[1] not in stored.secret_hash
    assert stored.expires_at is not None
    listed = client.get("/api/v1/tokens/").json()
    assert listed["count"] == 1 and "token" not in listed["results"][0]
    assert client_for(plaintext).get("/api/v1/auth/me/").json()["username"] == "max"


def test_token_validation_errors(world: Any) -> None:
    client = session_client(world.member)
    assert client.post("/api/v1/tokens/", {"scope": "write"}, format="json").status_code == 400
    assert client.post("/api/v1/tokens/", {"name": "x", "scope": "root"}, format="json").status_code == 400
    response = client.post("/api/v1/tokens/", {"name": "x", "team": "beta"}, format="json")
    assert response.status_code == 400 and "team" in response.json()
    assert ApiToken.objects.count() == 0


def test_a_token_cannot_mint_tokens(world: Any) -> None:
    response = world.client(world.member).post("/api/v1/tokens/", {"name": "x"}, format="json")
    assert response.status_code == 403


def test_revoked_and_expired_tokens_are_refused(world: Any) -> None:
    client = session_client(world.member)
    token = client.post("/api/v1/tokens/", {"name": "ci", "scope": "write"}, format="json").json()
    assert client.post(f"/api/v1/tokens/{token['id']}/revoke/").status_code == 200
    assert client.post(f"/api/v1/tokens/{token['id']}/revoke/").status_code == 409
    refused = client_for(token["token"]).get("/api/v1/jobs/")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]

    other = client.post("/api/v1/tokens/", {"name": "old"}, format="json").json()
    ApiToken.objects.filter(pk=other["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = client_for(other["token"]).get("/api/v1/jobs/")
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]


def test_a_wrong_secret_with_a_real_key_id_is_refused(world: Any) -> None:
    client = session_client(world.member)
    token = client.post("/api/v1/tokens/", {"name": "ci"}, format="json").json()["token"]
    forged = token.split(".")[0] + ".not-the-secret"
    assert client_for(forged).get("/api/v1/jobs/").status_code == 401


def test_create_token_command_prints_only_the_token(world: Any) -> None:
    out = StringIO()
    call_command("create_token", "--user", "max", "--team", "alpha", "--scope", "write", stdout=out)
    printed = out.getvalue().strip()
    assert printed.count("\n") == 0 and printed.startswith("pdk_")
    response = client_for(printed).post(
        "/api/v1/jobs/", {"name": "n", "team": "alpha", "entrypoint": "true"}, format="json"
    )
    assert response.status_code == 201


def test_login_session_and_me(world: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    world.member.set_password("pw-for-tests-1")
    world.member.save()
    assert client.get("/api/v1/auth/me/").status_code == 401
    assert client.get("/api/v1/auth/csrf/").status_code == 204
    csrf = client.cookies["csrftoken"].value
    bad = client.post(
        "/api/v1/auth/login/", {"username": "max", "password": "wrong"}, format="json", HTTP_X_CSRFTOKEN=csrf
    )
    assert bad.status_code == 400 and "non_field_errors" in bad.json()
    ok = client.post(
        "/api/v1/auth/login/", {"username": "max", "password": "pw-for-tests-1"}, format="json", HTTP_X_CSRFTOKEN=csrf
    )
    assert ok.status_code == 200
    assert ok.json()["teams"] == [{"slug": "alpha", "name": "Alpha", "role": "member"}]
    csrf = client.cookies["csrftoken"].value
    assert client.get("/api/v1/teams/").json()["results"][0]["role"] == "member"
    assert client.post("/api/v1/auth/logout/", HTTP_X_CSRFTOKEN=csrf).status_code == 204
    assert client.get("/api/v1/auth/me/").status_code == 401
