"""The admission API: pools, quotas, cohorts, priority classes, the queue, and the queue's
fields on jobs — who may read and write them, what is refused, and what a waiting job is told."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from apps.admission.pools import ensure_pools
from apps.admission.scheduler import admit_pending
from apps.core.models import AuditEntry
from apps.inventory.models import AcceleratorModel
from apps.jobs.models import Job
from apps.quotas.models import Cohort, Pool, PriorityClass, Quota
from apps.tenancy.models import Team
from tests.factories import (
    AcceleratorFactory,
    ClusterFactory,
    MembershipFactory,
    NodeFactory,
    OrganisationAdminFactory,
    OrganisationFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

POOL = "gpu-a-h100-sxm"


@dataclass
class Fleet:
    pool: Pool
    cpu_pool: Pool
    other_pool: Pool
    other_team: Any
    other_admin: Any


@pytest.fixture
def fleet(world: Any) -> Fleet:
    """One 8 × H100 node on the world's cluster, and another organisation with its own."""
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    node = NodeFactory(cluster=world.cluster, hostname="dgx-1", cpus=64)
    for index in range(8):
        AcceleratorFactory(node=node, index=index, model=h100)
    other_org = OrganisationFactory(slug="globex")
    other_cluster = ClusterFactory(organisation=other_org, name="gpu-z")
    other_node = NodeFactory(cluster=other_cluster, hostname="z-1")
    AcceleratorFactory(node=other_node, index=0, model=h100)
    other_team = TeamFactory(organisation=other_org, slug="zeta", default_cluster=other_cluster)
    other_admin = UserFactory(username="zed")
    MembershipFactory(team=other_team, user=other_admin, role="admin")
    OrganisationAdminFactory(organisation=other_org, user=other_admin)
    ensure_pools()
    return Fleet(
        pool=Pool.objects.get(name=POOL),
        cpu_pool=Pool.objects.get(name="gpu-a-cpu"),
        other_pool=Pool.objects.get(name="gpu-z-h100-sxm"),
        other_team=other_team,
        other_admin=other_admin,
    )


def results(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    return list(response.json()["results"])


def submit(client: Any, team: str, gpus: int, name: str, **extra: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "team": team,
        "entrypoint": "python train.py",
        "resources": {"gpus": gpus, "accelerator_model": "H100"},
        **extra,
    }
    response = client.post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 201, response.json()
    return dict(response.json())


def quota(team: Any, pool: Pool, guaranteed: int, max: int | None = None, **extra: Any) -> Quota:
    return Quota.objects.create(team=team, pool=pool, guaranteed=guaranteed, max=max, **extra)


# --- pools ----------------------------------------------------------------------------------
def test_members_see_their_organisations_pools_with_capacity_and_use(world: Any, fleet: Fleet) -> None:
    quota(world.alpha, fleet.pool, 8, 8)
    submit(world.client(world.member), "alpha", 3, "running")
    admit_pending()
    submit(world.client(world.member), "alpha", 8, "waiting")
    admit_pending()

    pools = {p["name"]: p for p in results(world.client(world.viewer).get("/api/v1/pools/"))}
    assert set(pools) == {POOL, "gpu-a-cpu"}  # not the other organisation's
    assert pools[POOL] == {
        "name": POOL,
        "cluster": "gpu-a",
        "accelerator_model": "H100 SXM",
        "unit": "GPU",
        "placement": "pack",
        "capacity": 8,
        "used": 3,
        "free": 5,
        "pending": 1,
    }
    assert pools["gpu-a-cpu"]["accelerator_model"] is None
    assert pools["gpu-a-cpu"]["unit"] == "CPU"
    assert pools["gpu-a-cpu"]["capacity"] == 64
    detail = world.client(world.member).get(f"/api/v1/pools/{POOL}/")
    assert detail.status_code == 200 and detail.json()["used"] == 3
    assert world.client(world.member).get("/api/v1/pools/gpu-z-h100-sxm/").status_code == 404
    assert [p["name"] for p in results(world.client(world.member).get("/api/v1/pools/?unit=GPU"))] == [POOL]


def test_an_org_admin_chooses_placement_and_others_may_not(world: Any, fleet: Fleet) -> None:
    url = f"/api/v1/pools/{POOL}/"
    assert world.client(world.member).patch(url, {"placement": "spread"}, format="json").status_code == 403
    assert world.client(fleet.other_admin).patch(url, {"placement": "spread"}, format="json").status_code == 404
    response = world.client(world.org_admin).patch(url, {"placement": "spread"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["placement"] == "spread"
    assert Pool.objects.get(name=POOL).placement == "spread"
    assert AuditEntry.objects.filter(action="quotas.pool_updated", actor=world.org_admin).exists()
    bad = world.client(world.org_admin).patch(url, {"placement": "random"}, format="json")
    assert bad.status_code == 400 and "placement" in bad.json()
    assert world.client(world.org_admin).patch(url, {"name": "renamed"}, format="json").json()["name"] == POOL


# --- quotas ---------------------------------------------------------------------------------
def test_an_org_admin_creates_changes_and_deletes_a_quota(world: Any, fleet: Fleet) -> None:
    client = world.client(world.org_admin)
    response = client.post(
        "/api/v1/quotas/",
        {"team": "beta", "pool": POOL, "guaranteed": 4, "max": 6, "lending_limit": 2, "weight": 2},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ("team", "pool", "unit", "guaranteed", "max", "lending_limit", "weight")} == {
        "team": "beta",
        "pool": POOL,
        "unit": "GPU",
        "guaranteed": 4,
        "max": 6,
        "lending_limit": 2,
        "weight": 2.0,
    }
    assert {k: body[k] for k in ("used", "borrowed", "lent", "fair_share")} == {
        "used": 0,
        "borrowed": 0,
        "lent": 0,
        "fair_share": 0.0,
    }
    url = f"/api/v1/quotas/{body['id']}/"
    changed = client.patch(url, {"max": None, "guaranteed": 5}, format="json")
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["max"], changed.json()["guaranteed"]) == (None, 5)
    assert client.delete(url).status_code == 204
    assert not Quota.objects.exists()
    actions = list(
        AuditEntry.objects.filter(target_type="quotas.quota").order_by("id").values_list("action", flat=True)
    )
    assert actions == ["quotas.quota_created", "quotas.quota_updated", "quotas.quota_deleted"]


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_members_and_viewers_read_quotas_but_cannot_write(world: Any, fleet: Fleet, who: str) -> None:
    existing = quota(world.beta, fleet.pool, 2)  # another team of the same organisation: visible
    client = world.client(getattr(world, who))
    assert [q["team"] for q in results(client.get("/api/v1/quotas/"))] == ["beta"]
    body = {"team": "alpha", "pool": POOL, "guaranteed": 1}
    assert client.post("/api/v1/quotas/", body, format="json").status_code == 403
    assert client.patch(f"/api/v1/quotas/{existing.pk}/", {"guaranteed": 8}, format="json").status_code == 403
    assert client.delete(f"/api/v1/quotas/{existing.pk}/").status_code == 403
    assert Quota.objects.get().guaranteed == 2


def test_another_organisations_quotas_do_not_exist_for_the_caller(world: Any, fleet: Fleet) -> None:
    theirs = quota(fleet.other_team, fleet.other_pool, 1)
    client = world.client(world.org_admin)
    assert results(client.get("/api/v1/quotas/")) == []
    assert client.get(f"/api/v1/quotas/{theirs.pk}/").status_code == 404
    assert client.patch(f"/api/v1/quotas/{theirs.pk}/", {"guaranteed": 0}, format="json").status_code == 404
    assert client.delete(f"/api/v1/quotas/{theirs.pk}/").status_code == 404
    # Naming their team or pool is naming nothing.
    response = client.post("/api/v1/quotas/", {"team": "zeta", "pool": "gpu-z-h100-sxm"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"team", "pool"}
    assert Quota.objects.get().guaranteed == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"guaranteed": 4, "max": 2}, "max"),
        ({"guaranteed": 2, "lending_limit": 3}, "lending_limit"),
        ({"guaranteed": 2, "weight": 0}, "weight"),
        ({"guaranteed": 2, "weight": -1}, "weight"),
        ({"guaranteed": -1}, "guaranteed"),
        ({"guaranteed": 2**40}, "guaranteed"),
        ({"guaranteed": 1, "max": 2**40}, "max"),
        ({"pool": "gpu-a-cpu", "guaranteed": 1}, "pool"),  # alpha already has a quota there
    ],
)
def test_bad_quotas_are_400_with_field_errors_and_nothing_written(
    world: Any, fleet: Fleet, body: dict[str, Any], field: str
) -> None:
    quota(world.alpha, fleet.cpu_pool, 16)
    response = world.client(world.org_admin).post(
        "/api/v1/quotas/", {"team": "alpha", "pool": POOL, **body}, format="json"
    )
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Quota.objects.count() == 1


def test_a_team_and_pool_of_different_organisations_are_refused(world: Any, fleet: Fleet) -> None:
    OrganisationAdminFactory(organisation=fleet.other_team.organisation, user=world.org_admin)  # admin of both
    client = world.client(world.org_admin)
    response = client.post("/api/v1/quotas/", {"team": "alpha", "pool": "gpu-z-h100-sxm"}, format="json")
    assert response.status_code == 400
    assert "another organisation" in response.json()["pool"][0]
    assert not Quota.objects.exists()


def test_bad_quota_changes_are_400_and_change_nothing(world: Any, fleet: Fleet) -> None:
    existing = quota(world.alpha, fleet.pool, 4, 8, lending_limit=2)
    client = world.client(world.org_admin)
    url = f"/api/v1/quotas/{existing.pk}/"
    assert "max" in client.patch(url, {"max": 3}, format="json").json()
    assert "lending_limit" in client.patch(url, {"guaranteed": 1}, format="json").json()  # below its lending limit
    assert "team" in client.patch(url, {"team": "beta"}, format="json").json()
    assert client.put(url, {"team": "alpha", "pool": POOL}, format="json").status_code == 405
    existing.refresh_from_db()
    assert (existing.guaranteed, existing.max, existing.lending_limit, existing.team_id) == (4, 8, 2, world.alpha.pk)


def test_a_quota_shows_what_its_team_uses_borrows_and_lends(world: Any, fleet: Fleet) -> None:
    cohort = Cohort.objects.create(organisation=world.org, name="research")
    Team.objects.filter(pk__in=[world.alpha.pk, world.beta.pk]).update(cohort=cohort)
    quota(world.alpha, fleet.pool, 2, 6)
    quota(world.beta, fleet.pool, 6, 6)
    submit(world.client(world.member), "alpha", 5, "borrower")
    assert admit_pending() == 1

    rows = {q["team"]: q for q in results(world.client(world.member).get(f"/api/v1/quotas/?pool={POOL}"))}
    assert {k: rows["alpha"][k] for k in ("used", "borrowed", "lent")} == {"used": 5, "borrowed": 3, "lent": 0}
    assert {k: rows["beta"][k] for k in ("used", "borrowed", "lent")} == {"used": 0, "borrowed": 0, "lent": 3}
    assert rows["alpha"]["fair_share"] == pytest.approx(3 / 8)
    assert rows["beta"]["fair_share"] == 0.0


# --- cohorts --------------------------------------------------------------------------------
def test_an_org_admin_groups_teams_into_a_cohort(world: Any, fleet: Fleet) -> None:
    client = world.client(world.org_admin)
    response = client.post(
        "/api/v1/cohorts/",
        {"name": "research", "teams": ["alpha", "beta"], "preempt_lower_priority": True},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["organisation"] == "acme"
    assert body["teams"] == ["alpha", "beta"]
    assert (body["reclaim_from_borrowers"], body["preempt_lower_priority"], body["preempt_while_borrowing"]) == (
        True,
        True,
        False,
    )
    cohort = Cohort.objects.get()
    assert set(Team.objects.filter(cohort=cohort).values_list("slug", flat=True)) == {"alpha", "beta"}

    url = f"/api/v1/cohorts/{cohort.pk}/"
    changed = client.patch(url, {"teams": ["beta"], "description": "GPU research"}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["teams"] == ["beta"]
    assert Team.objects.get(slug="alpha").cohort is None
    assert [c["name"] for c in results(world.client(world.viewer).get("/api/v1/cohorts/?team=beta"))] == ["research"]

    assert client.delete(url).status_code == 204
    assert Team.objects.get(slug="beta").cohort is None
    actions = list(
        AuditEntry.objects.filter(target_type="quotas.cohort").order_by("id").values_list("action", flat=True)
    )
    assert actions == ["quotas.cohort_created", "quotas.cohort_updated", "quotas.cohort_deleted"]


def test_a_cohort_takes_only_teams_of_its_organisation(world: Any, fleet: Fleet) -> None:
    client = world.client(world.org_admin)
    unseen = client.post("/api/v1/cohorts/", {"name": "mixed", "teams": ["alpha", "zeta"]}, format="json")
    assert unseen.status_code == 400
    assert "zeta" in unseen.json()["teams"][0]
    OrganisationAdminFactory(organisation=fleet.other_team.organisation, user=world.org_admin)  # zeta now visible
    foreign = client.post(
        "/api/v1/cohorts/", {"organisation": "acme", "name": "mixed", "teams": ["alpha", "zeta"]}, format="json"
    )
    assert foreign.status_code == 400
    assert "zeta" in foreign.json()["teams"][0]
    assert not Cohort.objects.exists()
    assert Team.objects.get(slug="alpha").cohort is None


def test_cohort_writes_need_an_org_admin(world: Any, fleet: Fleet) -> None:
    cohort = Cohort.objects.create(organisation=world.org, name="research")
    member = world.client(world.member)
    assert member.post("/api/v1/cohorts/", {"name": "x"}, format="json").status_code == 403
    assert member.patch(f"/api/v1/cohorts/{cohort.pk}/", {"teams": ["alpha"]}, format="json").status_code == 403
    other = world.client(fleet.other_admin)
    assert other.get(f"/api/v1/cohorts/{cohort.pk}/").status_code == 404
    assert other.delete(f"/api/v1/cohorts/{cohort.pk}/").status_code == 404
    duplicate = world.client(world.org_admin).post("/api/v1/cohorts/", {"name": "research"}, format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.json()
    assert Cohort.objects.count() == 1


# --- priority classes -----------------------------------------------------------------------
def test_priority_classes_crud_for_org_admins(world: Any, fleet: Fleet) -> None:
    client = world.client(world.org_admin)
    response = client.post(
        "/api/v1/priority-classes/", {"name": "urgent", "value": 100, "preemptible": False}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ("organisation", "name", "value", "preemptible", "description")} == {
        "organisation": "acme",
        "name": "urgent",
        "value": 100,
        "preemptible": False,
        "description": "",
    }
    assert client.post("/api/v1/priority-classes/", {"name": "urgent", "value": 1}, format="json").status_code == 400
    assert (
        world.client(world.member)
        .post("/api/v1/priority-classes/", {"name": "low", "value": -1}, format="json")
        .status_code
        == 403
    )
    url = f"/api/v1/priority-classes/{body['id']}/"
    assert client.patch(url, {"value": 50}, format="json").json()["value"] == 50
    assert [p["name"] for p in results(world.client(world.viewer).get("/api/v1/priority-classes/"))] == ["urgent"]
    assert results(world.client(fleet.other_admin).get("/api/v1/priority-classes/")) == []

    submit(world.client(world.member), "alpha", 1, "uses-it", priority_class="urgent")
    in_use = client.delete(url)
    assert in_use.status_code == 409
    assert PriorityClass.objects.filter(pk=body["id"]).exists()


# --- submission, job fields and the queue ---------------------------------------------------
def test_a_priority_class_at_submission_sets_the_jobs_priority(world: Any, fleet: Fleet) -> None:
    PriorityClass.objects.create(organisation=world.org, name="urgent", value=100)
    PriorityClass.objects.create(organisation=fleet.other_team.organisation, name="theirs", value=7)
    client = world.client(world.member)
    job = submit(client, "alpha", 2, "urgent-job", priority_class="urgent", priority=3)
    assert (job["priority"], job["priority_class"], job["pool"]) == (100, "urgent", POOL)
    stored = Job.objects.get(pk=job["id"])
    assert (stored.priority, stored.priority_class.name, stored.pool_id) == (100, "urgent", fleet.pool.pk)

    cpu = submit(client, "alpha", 0, "cpu-job")
    assert (cpu["pool"], cpu["priority_class"], cpu["priority"]) == ("gpu-a-cpu", None, 0)

    for name in ("nope", "theirs"):
        refused = client.post(
            "/api/v1/jobs/",
            {"name": "x", "team": "alpha", "entrypoint": "true", "priority_class": name},
            format="json",
        )
        assert refused.status_code == 400
        assert "priority_class" in refused.json()
    assert Job.objects.count() == 2


def test_a_cluster_without_pools_takes_jobs_without_one(world: Any) -> None:
    job = submit(world.client(world.member), "alpha", 1, "no-pools")
    assert (job["pool"], job["queue_position"], job["pending_reason"]) == (None, 1, "")


@pytest.fixture
def queue(world: Any, fleet: Fleet) -> dict[str, dict[str, Any]]:
    """alpha holds its whole max with one job and queues three more; beta holds its guarantee
    and queues one urgent job."""
    quota(world.alpha, fleet.pool, 4, 4)
    quota(world.beta, fleet.pool, 4, 4)
    alpha, beta = world.client(world.member), world.client(world.outsider)
    jobs = {"a1": submit(alpha, "alpha", 4, "a1"), "b1": submit(beta, "beta", 4, "b1")}
    assert admit_pending() == 2
    jobs["a2"] = submit(alpha, "alpha", 2, "a2")
    jobs["a3"] = submit(alpha, "alpha", 2, "a3", priority=5)
    jobs["a4"] = submit(alpha, "alpha", 1, "a4")
    jobs["b2"] = submit(beta, "beta", 1, "b2", priority=10)
    assert admit_pending() == 0
    return jobs


def test_the_queue_lists_pending_work_in_order_with_positions_and_reasons(
    world: Any, queue: dict[str, dict[str, Any]]
) -> None:
    rows = results(world.client(world.member).get("/api/v1/queue/"))
    assert [(r["name"], r["queue_position"], r["jobs_ahead"], r["priority"]) for r in rows] == [
        ("a3", 1, 1, 5),  # beta's urgent b2 is ahead of it in the pool
        ("a2", 2, 2, 0),
        ("a4", 3, 3, 0),
    ]
    first = rows[0]
    assert (first["id"], first["team"], first["pool"], first["priority_class"]) == (
        queue["a3"]["id"],
        "alpha",
        POOL,
        None,
    )
    assert first["pending_reason"] == (f"Waiting for 2 × H100 SXM in pool {POOL}: team alpha uses 4 of its max 4 GPUs.")
    queued_at = Job.objects.get(pk=first["id"]).queued_at  # submitted once: it has waited since then
    assert first["waiting_since"] == queued_at.isoformat().replace("+00:00", "Z")

    beta_rows = results(world.client(world.outsider).get("/api/v1/queue/"))
    assert [(r["name"], r["queue_position"], r["jobs_ahead"]) for r in beta_rows] == [("b2", 1, 0)]
    assert "team beta uses 4 of its max 4" in beta_rows[0]["pending_reason"]


def test_the_queue_filters_by_team_and_pool_and_keeps_positions(
    world: Any, fleet: Fleet, queue: dict[str, dict[str, Any]]
) -> None:
    MembershipFactory(team=world.beta, user=world.member, role="viewer")
    client = world.client(world.member)
    everything = {r["name"]: r for r in results(client.get("/api/v1/queue/"))}
    assert set(everything) == {"a2", "a3", "a4", "b2"}
    only_alpha = results(client.get("/api/v1/queue/?team=alpha"))
    assert [(r["name"], r["queue_position"], r["jobs_ahead"]) for r in only_alpha] == [
        (name, everything[name]["queue_position"], everything[name]["jobs_ahead"]) for name in ("a3", "a2", "a4")
    ]
    assert [r["name"] for r in results(client.get(f"/api/v1/queue/?pool={POOL}&team=beta"))] == ["b2"]
    assert results(client.get("/api/v1/queue/?pool=gpu-a-cpu")) == []
    assert results(world.client(fleet.other_admin).get("/api/v1/queue/")) == []


def test_jobs_show_pool_position_and_reason_like_the_queue(world: Any, queue: dict[str, dict[str, Any]]) -> None:
    client = world.client(world.member)
    in_queue = {r["id"]: r for r in results(client.get("/api/v1/queue/"))}
    listed = {j["id"]: j for j in results(client.get("/api/v1/jobs/"))}
    for job_id, row in in_queue.items():
        assert listed[job_id]["queue_position"] == row["queue_position"]
        assert listed[job_id]["pending_reason"] == row["pending_reason"]
        assert listed[job_id]["pool"] == POOL
    held = listed[queue["a1"]["id"]]
    assert (held["state"], held["queue_position"], held["pending_reason"], held["pool"]) == ("admitted", None, "", POOL)
    # A filter that splits a queue does not change a position.
    by_name = results(client.get("/api/v1/jobs/?name=a4"))
    assert [(j["name"], j["queue_position"]) for j in by_name] == [("a4", 3)]
    detail = client.get(f"/api/v1/jobs/{queue['a2']['id']}/").json()
    assert (detail["queue_position"], detail["pool"]) == (2, POOL)
    assert detail["pending_reason"].startswith("Waiting for 2 × H100 SXM")


def test_a_job_leaving_the_queue_moves_the_others_up(world: Any, queue: dict[str, dict[str, Any]]) -> None:
    client = world.client(world.member)
    cancelled = client.post(f"/api/v1/jobs/{queue['a3']['id']}/cancel/")
    assert cancelled.status_code == 200
    assert (cancelled.json()["queue_position"], cancelled.json()["pending_reason"]) == (None, "")
    rows = results(client.get("/api/v1/queue/"))
    assert [(r["name"], r["queue_position"]) for r in rows] == [("a2", 1), ("a4", 2)]
