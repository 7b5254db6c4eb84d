"""Organisation admins: a role over what an organisation's teams share, distinct from a team
admin. Granted and revoked (audited) in the admin or the services; told to the dashboard."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from apps.admission.pools import ensure_pools
from apps.admission.scheduler import admit_pending
from apps.core.models import AuditEntry
from apps.quotas.models import Pool, Quota
from apps.tenancy import services
from apps.tenancy.models import OrganisationMembership
from tests.conftest import client_for, token_for
from tests.factories import (
    AcceleratorFactory,
    MembershipFactory,
    NodeFactory,
    OrganisationAdminFactory,
    OrganisationFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def h100_pool(world: Any) -> Pool:
    from apps.inventory.models import AcceleratorModel

    node = NodeFactory(cluster=world.cluster, hostname="dgx-1")
    for index in range(4):
        AcceleratorFactory(node=node, index=index, model=AcceleratorModel.objects.get(name="H100 SXM"))
    ensure_pools()
    return Pool.objects.get(name="gpu-a-h100-sxm")


def test_another_teams_admin_cannot_starve_a_team_by_setting_its_quota_to_zero(world: Any, h100_pool: Pool) -> None:
    """Issue 9, finding 10: beta's admin set alpha's quota to max 0 and alpha's job waited forever."""
    quota = Quota.objects.create(team=world.alpha, pool=h100_pool, guaranteed=2, max=4)
    url = f"/api/v1/quotas/{quota.pk}/"

    for team_admin in (world.outsider, world.admin):  # beta's admin, and even alpha's own
        response = world.client(team_admin).patch(url, {"guaranteed": 0, "max": 0}, format="json")
        assert response.status_code == 403
        assert response.json()["detail"] == "Only an admin of the organisation can change quotas."
    quota.refresh_from_db()
    assert (quota.guaranteed, quota.max) == (2, 4)

    job = world.client(world.member).post(
        "/api/v1/jobs/",
        {
            "name": "still-runs",
            "team": "alpha",
            "entrypoint": "true",
            "resources": {"gpus": 2, "accelerator_model": "H100"},
        },
        format="json",
    )
    assert job.status_code == 201, job.json()
    assert admit_pending() == 1

    # The organisation's admin may.
    assert world.client(world.org_admin).patch(url, {"max": 3}, format="json").status_code == 200


def test_an_organisation_admin_in_no_team_sees_the_organisations_shared_objects(world: Any, h100_pool: Pool) -> None:
    Quota.objects.create(team=world.beta, pool=h100_pool, guaranteed=1)
    client = world.client(world.org_admin)
    assert [c["name"] for c in client.get("/api/v1/clusters/").json()["results"]] == ["gpu-a"]
    assert {p["name"] for p in client.get("/api/v1/pools/").json()["results"]} == {"gpu-a-h100-sxm", "gpu-a-cpu"}
    assert [q["team"] for q in client.get("/api/v1/quotas/").json()["results"]] == ["beta"]
    # A team's own work stays the team's: no jobs, no teams.
    assert client.get("/api/v1/jobs/").json()["results"] == []
    assert client.get("/api/v1/teams/").json()["results"] == []


def test_a_token_limited_to_one_team_carries_no_organisation_rights(world: Any, h100_pool: Pool) -> None:
    """Organisation writes reach every team: a token narrowed to one team may not make them,
    even when its user is an organisation admin."""
    MembershipFactory(team=world.alpha, user=world.org_admin, role="admin")
    quota = Quota.objects.create(team=world.alpha, pool=h100_pool, guaranteed=2)
    url = f"/api/v1/quotas/{quota.pk}/"

    limited = client_for(token_for(world.org_admin, team=world.alpha))
    assert limited.get("/api/v1/auth/me/").json()["administers"] == []
    assert limited.patch(url, {"guaranteed": 0}, format="json").status_code == 403
    assert limited.post("/api/v1/clusters/gpu-a/discover/").status_code == 403
    assert Quota.objects.get(pk=quota.pk).guaranteed == 2

    unlimited = client_for(token_for(world.org_admin))
    assert unlimited.patch(url, {"guaranteed": 0}, format="json").status_code == 200


def test_the_caller_description_lists_the_organisations_they_administer(world: Any) -> None:
    other = OrganisationFactory(slug="globex", name="Globex")
    assert world.client(world.org_admin).get("/api/v1/auth/me/").json()["administers"] == [
        {"slug": "acme", "name": "Acme"}
    ]
    for team_role in ("admin", "member", "viewer"):
        assert world.client(getattr(world, team_role)).get("/api/v1/auth/me/").json()["administers"] == []
    staff = UserFactory(username="stan", is_staff=True)
    assert [o["slug"] for o in world.client(staff).get("/api/v1/auth/me/").json()["administers"]] == [
        "acme",
        other.slug,
    ]


def test_granting_and_revoking_is_idempotent_and_audited(world: Any) -> None:
    user = UserFactory(username="newcomer")
    _, granted = services.grant_organisation_admin(actor=world.org_admin, organisation=world.org, user=user)
    _, again = services.grant_organisation_admin(actor=world.org_admin, organisation=world.org, user=user)
    assert (granted, again) == (True, False)
    assert world.client(user).get("/api/v1/auth/me/").json()["administers"] == [{"slug": "acme", "name": "Acme"}]

    assert services.revoke_organisation_admin(actor=world.org_admin, organisation=world.org, user=user) is True
    assert services.revoke_organisation_admin(actor=world.org_admin, organisation=world.org, user=user) is False
    assert not OrganisationMembership.objects.filter(user=user).exists()
    entries = AuditEntry.objects.filter(action__startswith="tenancy.organisation_admin_").order_by("id")
    assert [(e.action, e.actor, e.data["user"], e.data["organisation"]) for e in entries] == [
        ("tenancy.organisation_admin_granted", world.org_admin, "newcomer", "acme"),
        ("tenancy.organisation_admin_revoked", world.org_admin, "newcomer", "acme"),
    ]


def test_organisation_admins_are_granted_and_revoked_on_the_organisation_admin_page(world: Any) -> None:
    operator = UserFactory(username="root", is_staff=True, is_superuser=True)
    console = Client()
    console.force_login(operator)
    newcomer = UserFactory(username="newcomer")
    existing = OrganisationMembership.objects.get(user=world.org_admin)
    url = reverse("admin:tenancy_organisation_change", args=[world.org.pk])
    page = console.get(url)
    assert page.status_code == 200 and "organisation admins" in page.content.decode().lower()

    response = console.post(
        url,
        {
            "name": "Acme",
            "slug": "acme",
            "memberships-TOTAL_FORMS": "2",
            "memberships-INITIAL_FORMS": "1",
            "memberships-0-id": existing.pk,
            "memberships-0-organisation": world.org.pk,
            "memberships-0-DELETE": "on",
            "memberships-1-organisation": world.org.pk,
            "memberships-1-user": newcomer.pk,
        },
    )

    assert response.status_code == 302, response.context["errors"] if response.context else response
    assert list(OrganisationMembership.objects.values_list("user__username", flat=True)) == ["newcomer"]
    actions = list(AuditEntry.objects.filter(actor=operator).order_by("id").values_list("action", flat=True))
    assert actions == ["tenancy.organisation_admin_granted", "tenancy.organisation_admin_revoked"]


def test_the_demo_admin_administers_the_demo_organisation(settings: Any, tmp_path: Any, monkeypatch: Any) -> None:
    settings.DATA_DIR = tmp_path
    monkeypatch.setenv("PADDOCK_ADMIN_PASSWORD", "from-the-env-123")
    call_command("bootstrap_demo", stdout=StringIO())
    call_command("bootstrap_demo", stdout=StringIO())
    membership = OrganisationMembership.objects.get()
    assert (membership.organisation.slug, membership.user.username, membership.role) == ("demo", "admin", "admin")


def test_an_admin_of_another_organisation_administers_only_their_own(world: Any) -> None:
    globex = OrganisationFactory(slug="globex")
    zed = OrganisationAdminFactory(organisation=globex, user=UserFactory(username="zed")).user
    assert world.client(zed).get("/api/v1/clusters/gpu-a/").status_code == 404
    assert world.client(zed).post("/api/v1/clusters/gpu-a/discover/").status_code == 404


def test_team_members_added_re_roled_and_removed_in_the_admin_are_audited(world: Any) -> None:
    """The team page's member rows were saved straight to the table: who gave whom access to a
    team's jobs and logs left no trace."""
    from apps.tenancy.models import Membership

    operator = UserFactory(username="root-members", is_staff=True, is_superuser=True)
    console = Client()
    console.force_login(operator)
    team = world.alpha
    newcomer = UserFactory(username="new-member")
    rows = list(Membership.objects.filter(team=team).order_by("id"))
    url = reverse("admin:tenancy_team_change", args=[team.pk])

    def save(forms: list[dict[str, Any]]) -> Any:
        data: dict[str, Any] = {
            "name": team.name,
            "slug": team.slug,
            "organisation": team.organisation_id,
            "memberships-TOTAL_FORMS": str(len(forms)),
            "memberships-INITIAL_FORMS": str(len(rows)),
        }
        if team.default_cluster_id:
            data["default_cluster"] = team.default_cluster_id
        for i, form in enumerate(forms):
            data.update({f"memberships-{i}-{k}": v for k, v in form.items()})
        return console.post(url, data)

    existing = [{"id": m.pk, "team": team.pk, "user": m.user_id, "role": m.role} for m in rows]
    added = save([*existing, {"team": team.pk, "user": newcomer.pk, "role": "viewer"}])
    assert added.status_code == 302, added.context["errors"] if added.context else added
    member = Membership.objects.get(team=team, user=newcomer)
    rows.append(member)
    existing.append({"id": member.pk, "team": team.pk, "user": newcomer.pk, "role": "viewer"})
    assert save([*existing[:-1], {**existing[-1], "role": "admin"}]).status_code == 302
    assert Membership.objects.get(pk=member.pk).role == "admin"
    assert save([*existing[:-1], {**existing[-1], "role": "admin", "DELETE": "on"}]).status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()

    entries = AuditEntry.objects.filter(actor=operator).order_by("id")
    assert [(e.action, e.data["user"], e.data["role"]) for e in entries] == [
        ("tenancy.membership_added", "new-member", "viewer"),
        ("tenancy.membership_changed", "new-member", "admin"),
        ("tenancy.membership_removed", "new-member", "admin"),
    ]
