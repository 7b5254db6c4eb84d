"""Clusters registered and changed through the REST API (organisation admins): a Kubernetes
cluster with its kubeconfig, checked as the admin's form checks it, stored encrypted and never
returned; what would run a command or read a file is refused field by field (400)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.core.models import AuditEntry
from apps.dispatch.kubeconfig import SafeKubeconfig
from apps.inventory.discovery import discover_cluster
from apps.inventory.models import Cluster, Node
from tests.dispatch.k8s_emulator import Controller, EmulatedCluster, k8s_cluster
from tests.dispatch.k8s_emulator import kubeconfig as k8s_kubeconfig

pytestmark = pytest.mark.django_db

__all__ = ["k8s_cluster"]

CANARY = "canary-token-5b81e0"
URL = "/api/v1/clusters/"


def kubeconfig(server: str, *, user: str = "") -> str:
    return k8s_kubeconfig(server, token=CANARY, user=user)


def register(world: Any, config: str, **fields: Any) -> Any:
    body = {"name": "lab", "kind": "kubernetes", "kubeconfig": config, **fields}
    return world.client(world.org_admin).post(URL, body, format="json")


def test_an_org_admin_registers_a_kubernetes_cluster_with_its_kubeconfig(
    world: Any, k8s_cluster: EmulatedCluster
) -> None:
    answer = register(world, kubeconfig(k8s_cluster.url), kubernetes={"has_jobset": True})

    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert (body["name"], body["kind"], body["address"]) == ("lab", "kubernetes", k8s_cluster.url)
    assert "kubeconfig" not in body and "auth_token" not in body and CANARY not in answer.content.decode()
    cluster = Cluster.objects.get(name="lab")
    assert cluster.organisation == world.org and cluster.kubernetes == {"has_jobset": True}
    stored = SafeKubeconfig.from_json(cluster.auth_token)
    assert (stored.token, stored.namespace) == (CANARY, "paddock-jobs")
    assert CANARY not in cluster.auth_token_encrypted  # encrypted at rest
    assert CANARY not in json.dumps(list(AuditEntry.objects.values_list("data", flat=True)))
    assert CANARY not in world.client(world.org_admin).get(f"{URL}lab/").content.decode()

    # It works: discovery reaches the API server with the stored credential.
    Controller(k8s_cluster).seed_node("gpu-1", gpus=2, product="NVIDIA-H100-80GB-HBM3")
    discover_cluster(cluster)
    assert list(Node.objects.filter(cluster=cluster).values_list("hostname", flat=True)) == ["gpu-1"]


@pytest.mark.parametrize(
    ("user", "why"),
    [
        ("    exec:\n      command: /bin/sh\n      apiVersion: client.authentication.k8s.io/v1", "exec"),
        ("    auth-provider:\n      name: gcp\n      config:\n        access-token: " + CANARY, "auth-provider"),
        ("    tokenFile: /var/run/secrets/token", "tokenFile"),
        ("    client-key: /etc/ssl/private/key.pem\n    client-certificate: /etc/ssl/cert.pem", "client-"),
        ("    token: " + CANARY + "\n    username: root\n    password: hunter2", "basic"),
    ],
)
def test_a_kubeconfig_that_would_run_a_command_or_read_a_file_is_a_field_error(world: Any, user: str, why: str) -> None:
    answer = register(world, kubeconfig("https://10.0.0.1:6443", user=user))

    assert answer.status_code == 400
    errors = answer.json()
    assert why in json.dumps(errors) and "kubeconfig" in json.dumps(errors)
    assert CANARY not in answer.content.decode()
    assert not Cluster.objects.filter(name="lab").exists()


@pytest.mark.parametrize("server", ["file:///etc/passwd", "ftp://10.0.0.1", "unix:///var/run/k8s.sock"])
def test_a_server_that_is_not_http_is_refused(world: Any, server: str) -> None:
    answer = register(world, kubeconfig(server))

    assert answer.status_code == 400 and "server" in answer.content.decode()
    assert CANARY not in answer.content.decode()
    assert not Cluster.objects.filter(name="lab").exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "ray"}, "kubeconfig"),  # a kubeconfig is for Kubernetes
        ({"address": "https://elsewhere:6443"}, "address"),  # not the kubeconfig's server
        ({"kubernetes": {"namespace": 3}}, "kubernetes"),
        ({"kubernetes": {"exec": "/bin/sh"}}, "kubernetes"),
        ({"auth_token": "a-ray-token"}, "auth_token"),
        ({"name": "Not A Slug"}, "name"),
    ],
)
def test_what_does_not_fit_is_a_field_error(world: Any, fields: dict[str, Any], field: str) -> None:
    answer = register(world, kubeconfig("https://10.0.0.1:6443"), **fields)

    assert answer.status_code == 400 and field in answer.json(), answer.json()
    assert CANARY not in answer.content.decode()


def test_a_name_taken_is_a_field_error_not_an_overwrite(world: Any) -> None:
    answer = register(world, kubeconfig("https://10.0.0.1:6443"), name=world.cluster.name)

    assert answer.status_code == 400 and "name" in answer.json()
    world.cluster.refresh_from_db()
    assert world.cluster.kind == "ray"


def test_only_an_organisation_admin_registers_or_changes_clusters(world: Any) -> None:
    body = {"name": "lab", "kind": "kubernetes", "kubeconfig": kubeconfig("https://10.0.0.1:6443")}
    for user in (world.member, world.admin):  # a team admin is no organisation admin
        assert world.client(user).post(URL, body, format="json").status_code == 403
        assert world.client(user).patch(f"{URL}{world.cluster.name}/", {"trusted_network": True}).status_code == 403
    assert not Cluster.objects.filter(name="lab").exists()


def test_a_change_keeps_the_stored_kubeconfig_unless_a_new_one_is_given(world: Any) -> None:
    assert register(world, kubeconfig("https://10.0.0.1:6443")).status_code == 201
    client = world.client(world.org_admin)

    changed = client.patch(f"{URL}lab/", {"kubernetes": {"namespace": "ml"}}, format="json")
    assert changed.status_code == 200, changed.json()
    cluster = Cluster.objects.get(name="lab")
    assert cluster.kubernetes == {"namespace": "ml"} and SafeKubeconfig.from_json(cluster.auth_token).token == CANARY

    moved = client.patch(f"{URL}lab/", {"address": "https://10.0.0.2:6443"}, format="json")
    assert moved.status_code == 400 and "address" in moved.json()  # the credential is for the old server

    other = kubeconfig("https://10.0.0.2:6443", user="    token: second-token-1")
    replaced = client.patch(f"{URL}lab/", {"kubeconfig": other}, format="json")
    assert replaced.status_code == 200 and replaced.json()["address"] == "https://10.0.0.2:6443"
    assert "second-token-1" not in replaced.content.decode()
    assert SafeKubeconfig.from_json(Cluster.objects.get(name="lab").auth_token).token == "second-token-1"

    refused = client.patch(f"{URL}lab/", {"kubeconfig": kubeconfig("file:///etc/passwd")}, format="json")
    assert refused.status_code == 400
    assert SafeKubeconfig.from_json(Cluster.objects.get(name="lab").auth_token).token == "second-token-1"
