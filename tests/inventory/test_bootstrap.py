from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from apps.inventory.models import Cluster
from apps.tenancy.models import Membership, Team

pytestmark = pytest.mark.django_db


def test_bootstrap_demo_is_idempotent_and_keeps_the_password(settings: Any, tmp_path: Any, monkeypatch: Any) -> None:
    settings.DATA_DIR = tmp_path
    monkeypatch.delenv("PADDOCK_ADMIN_PASSWORD", raising=False)
    out = StringIO()
    call_command("bootstrap_demo", "--cluster-address", "http://127.0.0.1:8265", stdout=out)
    password = (tmp_path / "admin-password").read_text().strip()
    assert str(tmp_path / "admin-password") in out.getvalue()
    assert authenticate(username="admin", password=password) is not None
    team = Team.objects.get(slug="demo")
    assert team.default_cluster == Cluster.objects.get(name="local")
    assert Membership.objects.get(team=team, user__username="admin").role == "admin"

    call_command("bootstrap_demo", "--cluster-address", "http://127.0.0.1:8265", stdout=StringIO())
    assert Team.objects.count() == 1 and Cluster.objects.count() == 1
    assert authenticate(username="admin", password=password) is not None


def test_bootstrap_demo_takes_the_password_from_the_environment(settings: Any, tmp_path: Any, monkeypatch: Any) -> None:
    settings.DATA_DIR = tmp_path
    monkeypatch.setenv("PADDOCK_ADMIN_PASSWORD", "from-the-env-123")
    call_command("bootstrap_demo", stdout=StringIO())
    assert authenticate(username="admin", password="from-the-env-123") is not None
    assert not (tmp_path / "admin-password").exists()


def test_cluster_auth_token_is_encrypted_and_never_returned(world: Any) -> None:
    world.cluster.set_auth_token("ray-secret-token")
    world.cluster.save()
    stored = Cluster.objects.values_list("auth_token_encrypted", flat=True).get(pk=world.cluster.pk)
    assert "ray-secret-token" not in stored
    assert Cluster.objects.get(pk=world.cluster.pk).auth_token == "ray-secret-token"
    body = world.client(world.member).get("/api/v1/clusters/gpu-a/").content.decode()
    assert "ray-secret-token" not in body and "auth_token" not in body
