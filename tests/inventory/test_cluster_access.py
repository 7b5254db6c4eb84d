"""Clusters say who may use them: the teams allowed to submit, and whether a Ray cluster that
has no auth token sits on a trusted network. A Ray cluster is one trust domain."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core.models import AuditEntry
from apps.inventory import services
from apps.inventory.models import Cluster
from apps.jobs.models import Job
from tests.factories import (
    ClusterFactory,
    MembershipFactory,
    OrganisationFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def submit(client: Any, team: str, cluster: str | None = None) -> Any:
    body: dict[str, Any] = {"name": "j", "team": team, "entrypoint": "true"}
    if cluster is not None:
        body["cluster"] = cluster
    return client.post("/api/v1/jobs/", body, format="json")


# --- registering: a Ray cluster needs a token or a trusted network -----------------------------
def test_registering_a_ray_cluster_without_a_token_needs_a_trusted_network(world: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        services.register_cluster(actor=None, organisation=world.org, name="open", address="http://10.0.0.5:8265")
    assert "trusted_network" in refused.value.message_dict
    assert "auth token" in refused.value.message_dict["trusted_network"][0]
    assert not Cluster.objects.filter(name="open").exists()

    trusted = services.register_cluster(
        actor=None, organisation=world.org, name="open", address="http://127.0.0.1:8265", trusted_network=True
    )
    assert trusted.trusted_network and not trusted.has_auth_token
    with_token = services.register_cluster(
        actor=None, organisation=world.org, name="closed", address="http://10.0.0.6:8265", auth_token="s3cret"
    )
    assert with_token.auth_token == "s3cret" and not with_token.trusted_network
    # Registering again without naming the token keeps it.
    again = services.register_cluster(actor=None, organisation=world.org, name="closed", address="http://10.0.0.7:8265")
    assert again.auth_token == "s3cret" and again.address == "http://10.0.0.7:8265"
    entry = AuditEntry.objects.filter(action="inventory.cluster_registered", target_id=str(trusted.pk)).get()
    assert entry.data == {"trusted_network": True, "has_auth_token": False}


def test_a_local_cluster_needs_no_token(world: Any) -> None:
    cluster = services.register_cluster(
        actor=None, organisation=world.org, name="here", address="http://127.0.0.1:1", kind="local"
    )
    assert cluster.kind == "local" and not cluster.trusted_network


def test_a_kubernetes_cluster_needs_its_kubeconfig_unless_trusted(world: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        services.register_cluster(
            actor=None, organisation=world.org, name="k8s", address="https://10.0.0.9:6443", kind="kubernetes"
        )
    assert "kubeconfig" in refused.value.message_dict
    assert not Cluster.objects.filter(name="k8s").exists()


def test_the_demo_registers_its_local_head_as_trusted_or_with_a_token(
    settings: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    settings.DATA_DIR = tmp_path
    monkeypatch.setenv("PADDOCK_ADMIN_PASSWORD", "from-the-env-123")
    call_command("bootstrap_demo", "--cluster-address", "http://127.0.0.1:8265", stdout=StringIO())
    local = Cluster.objects.get(name="local")
    assert local.trusted_network and not local.has_auth_token

    token_file = tmp_path / "ray-token"
    token_file.write_text("ray-token-123\n")
    call_command(
        "bootstrap_demo",
        "--cluster-address",
        "http://127.0.0.1:8265",
        "--cluster-auth-token-file",
        str(token_file),
        stdout=StringIO(),
    )
    local.refresh_from_db()
    assert local.auth_token == "ray-token-123" and not local.trusted_network

    token_file.write_text("")
    with pytest.raises(CommandError, match="empty"):
        call_command(
            "bootstrap_demo",
            "--cluster-address",
            "http://127.0.0.1:8265",
            "--cluster-auth-token-file",
            str(token_file),
            stdout=StringIO(),
        )
    with pytest.raises(CommandError, match="Cannot read"):
        call_command(
            "bootstrap_demo",
            "--cluster-address",
            "http://127.0.0.1:8265",
            "--cluster-auth-token-file",
            str(tmp_path / "missing"),
            stdout=StringIO(),
        )


# --- the admin form -----------------------------------------------------------------------------
@pytest.fixture
def console() -> Client:
    client = Client()
    client.force_login(UserFactory(username="root-operator", is_staff=True, is_superuser=True))
    return client


def cluster_form(world: Any, **fields: Any) -> dict[str, Any]:
    return {
        "organisation": world.org.pk,
        "name": "new-ray",
        "kind": "ray",
        "address": "http://10.0.0.5:8265",
        "auth_token": "",
        **fields,
    }


def test_the_admin_refuses_a_ray_cluster_without_a_token_unless_the_network_is_trusted(
    world: Any, console: Client
) -> None:
    url = reverse("admin:inventory_cluster_add")
    refused = console.post(url, cluster_form(world))
    assert refused.status_code == 200
    assert "auth token" in str(refused.context["adminform"].form.errors["trusted_network"])
    assert not Cluster.objects.filter(name="new-ray").exists()

    assert console.post(url, cluster_form(world, trusted_network="on")).status_code == 302
    assert Cluster.objects.get(name="new-ray").trusted_network
    assert console.post(url, cluster_form(world, name="tokened", auth_token="s3cret")).status_code == 302
    assert Cluster.objects.get(name="tokened").auth_token == "s3cret"

    # Clearing the token of a cluster on an untrusted network is refused too.
    change = reverse("admin:inventory_cluster_change", args=[Cluster.objects.get(name="tokened").pk])
    cleared = console.post(change, cluster_form(world, name="tokened", clear_auth_token="on"))
    assert cleared.status_code == 200
    assert Cluster.objects.get(name="tokened").auth_token == "s3cret"


def test_the_admin_warns_when_teams_of_several_organisations_share_a_cluster(world: Any, console: Client) -> None:
    globex_team = TeamFactory(organisation=OrganisationFactory(slug="globex"), slug="zeta")
    change = reverse("admin:inventory_cluster_change", args=[world.cluster.pk])
    form = cluster_form(world, name="gpu-a", trusted_network="on")

    alone = console.post(change, {**form, "allowed_teams": [world.alpha.pk]}, follow=True)
    assert not [m for m in get_messages(alone.wsgi_request) if m.level_tag == "warning"]

    shared = console.post(change, {**form, "allowed_teams": [world.alpha.pk, globex_team.pk]}, follow=True)
    warnings = [str(m) for m in get_messages(shared.wsgi_request) if m.level_tag == "warning"]
    assert len(warnings) == 1
    assert "shared by teams of 2 organisations (acme, globex)" in warnings[0]
    assert "trust domain" in warnings[0]
    assert set(world.cluster.allowed_teams.all()) == {world.alpha, globex_team}

    listing = console.get(reverse("admin:inventory_cluster_changelist")).content.decode()
    assert "shared by 2 organisations" in listing
    entry = AuditEntry.objects.filter(action="inventory.cluster_updated").latest("id")
    assert entry.data["allowed_teams"] == ["alpha", "zeta"]


def test_the_cluster_list_in_the_admin_costs_the_same_queries_however_many_teams(world: Any, console: Client) -> None:
    url = reverse("admin:inventory_cluster_changelist")

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert console.get(url).status_code == 200
        return len(ctx.captured_queries)

    queries()
    few = queries()
    for i in range(5):
        cluster = ClusterFactory(organisation=OrganisationFactory(slug=f"org-{i}"))
        cluster.allowed_teams.add(world.alpha, TeamFactory(organisation=cluster.organisation))
    assert queries() == few


# --- submitting: only to a cluster that takes the team -----------------------------------------
def test_a_cluster_with_allowed_teams_refuses_the_others_of_its_organisation(world: Any) -> None:
    world.cluster.allowed_teams.set([world.beta])
    refused = submit(world.client(world.member), "alpha")  # alpha's default cluster is gpu-a
    assert refused.status_code == 400
    assert "may not use cluster gpu-a" in refused.json()["cluster"][0]
    named = submit(world.client(world.member), "alpha", "gpu-a")
    assert named.status_code == 400 and "cluster" in named.json()
    assert submit(world.client(world.outsider), "beta").status_code == 201
    assert list(Job.objects.values_list("team__slug", flat=True)) == ["beta"]


def test_an_empty_allow_list_takes_every_team_of_the_organisation(world: Any) -> None:
    assert submit(world.client(world.member), "alpha").status_code == 201
    assert submit(world.client(world.outsider), "beta", "gpu-a").status_code == 201


def test_a_team_uses_another_organisations_cluster_only_when_it_lists_the_team(world: Any) -> None:
    globex = OrganisationFactory(slug="globex")
    theirs = ClusterFactory(organisation=globex, name="gpu-z")
    unknown = submit(world.client(world.member), "alpha", "gpu-z")
    assert unknown.status_code == 400
    assert unknown.json()["cluster"] == ["Unknown cluster 'gpu-z' for team alpha."]  # as if it did not exist

    theirs.allowed_teams.add(world.alpha)
    accepted = submit(world.client(world.member), "alpha", "gpu-z")
    assert accepted.status_code == 201, accepted.json()
    assert accepted.json()["cluster"] == "gpu-z"
    # Listing alpha does not open it to alpha's organisation.
    assert submit(world.client(world.outsider), "beta", "gpu-z").status_code == 400


def test_with_no_default_the_only_cluster_the_team_may_use_is_chosen(world: Any) -> None:
    type(world.alpha).objects.filter(pk=world.alpha.pk).update(default_cluster=None)
    reserved = ClusterFactory(organisation=world.org, name="reserved")
    reserved.allowed_teams.add(world.beta)
    response = submit(world.client(world.member), "alpha")
    assert response.status_code == 201, response.json()
    assert response.json()["cluster"] == "gpu-a"


# --- the cluster list: what the caller may use ---------------------------------------------------
def test_the_cluster_list_says_which_of_the_callers_teams_may_use_each(world: Any) -> None:
    globex = OrganisationFactory(slug="globex")
    shared = ClusterFactory(organisation=globex, name="gpu-z")
    shared.allowed_teams.add(world.alpha, TeamFactory(organisation=globex, slug="zeta"))
    ClusterFactory(organisation=globex, name="gpu-secret")
    reserved = ClusterFactory(organisation=world.org, name="reserved")
    reserved.allowed_teams.add(world.beta)
    MembershipFactory(team=world.beta, user=world.member, role="viewer")

    rows = {c["name"]: c for c in world.client(world.member).get("/api/v1/clusters/").json()["results"]}
    assert set(rows) == {"gpu-a", "gpu-z", "reserved"}  # not globex's other cluster
    assert rows["gpu-a"]["usable_by"] == ["alpha", "beta"]
    assert rows["gpu-z"]["usable_by"] == ["alpha"]  # never names globex's own teams
    assert rows["reserved"]["usable_by"] == ["beta"]
    assert rows["gpu-a"]["trusted_network"] is False
    usable = world.client(world.member).get("/api/v1/clusters/?team=alpha").json()["results"]
    assert [c["name"] for c in usable] == ["gpu-a", "gpu-z"]
    # A team the caller is not in filters to nothing (it tells nothing about that team).
    assert world.client(world.member).get("/api/v1/clusters/?team=zeta").json()["results"] == []
    assert world.client(world.viewer).get("/api/v1/clusters/gpu-secret/").status_code == 404


def test_the_cluster_list_costs_the_same_queries_however_many_allowed_teams(world: Any) -> None:
    client = world.client(world.member)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/clusters/").status_code == 200
        return len(ctx.captured_queries)

    queries()
    few = queries()
    for i in range(5):
        cluster = ClusterFactory(organisation=world.org, name=f"c{i}")
        cluster.allowed_teams.add(world.alpha, world.beta)
        ClusterFactory(organisation=OrganisationFactory(slug=f"o{i}"), name=f"x{i}").allowed_teams.add(world.alpha)
    assert queries() == few
