"""Per-team policies and fair sharing through the API and the admin: organisation admins
write, members read, bad values are field errors (400), every change is audited, and what is
stored is what the scheduler's pass uses."""

from __future__ import annotations

from typing import Any

from apps.admission.policy import TeamPolicy as PassPolicy
from apps.admission.state import load_state
from apps.core.models import AuditEntry
from apps.quotas.choices import BorrowWithinCohort, ReclaimWithinCohort, WithinTeam
from apps.quotas.models import Cohort, TeamPolicy


def test_an_org_admin_sets_a_teams_policy_and_the_pass_uses_it_over_the_cohorts(world: Any) -> None:
    cohort = Cohort.objects.create(organisation=world.org, name="research", preempt_lower_priority=True)
    world.alpha.cohort = cohort
    world.alpha.save()
    assert load_state().team_policy[world.alpha.pk] == PassPolicy(within_team=WithinTeam.LOWER_PRIORITY)

    client = world.client(world.org_admin)
    response = client.post(
        "/api/v1/team-policies/",
        {
            "team": "alpha",
            "within_team": "LowerOrNewerEqualPriority",
            "reclaim_within_cohort": "LowerPriority",
            "borrow_within_cohort": "LowerPriority",
            "borrow_max_priority_threshold": 0,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["team"], body["when_can_borrow"], body["when_can_preempt"]) == ("alpha", "Borrow", "TryNextFlavor")
    policy = load_state().team_policy[world.alpha.pk]
    assert policy.within_team == WithinTeam.LOWER_OR_NEWER_EQUAL_PRIORITY
    assert policy.reclaim_within_cohort == ReclaimWithinCohort.LOWER_PRIORITY
    assert (policy.borrow_within_cohort, policy.borrow_max_priority_threshold) == (BorrowWithinCohort.LOWER_PRIORITY, 0)

    url = f"/api/v1/team-policies/{body['id']}/"
    changed = client.patch(url, {"when_can_preempt": "Preempt"}, format="json")
    assert changed.status_code == 200, changed.json()
    member = world.client(world.member)
    assert [row["team"] for row in member.get("/api/v1/team-policies/").json()["results"]] == ["alpha"]
    refused = member.patch(url, {"within_team": "Never"}, format="json")
    assert refused.status_code == 403 and "change team policies" in refused.json()["detail"]
    assert client.delete(url).status_code == 204
    assert load_state().team_policy[world.alpha.pk] == PassPolicy(within_team=WithinTeam.LOWER_PRIORITY)
    assert list(
        AuditEntry.objects.filter(target_type="quotas.teampolicy").order_by("id").values_list("action", flat=True)
    ) == ["quotas.team_policy_created", "quotas.team_policy_updated", "quotas.team_policy_deleted"]


def test_a_team_policy_refuses_values_kueue_does_not_name(world: Any) -> None:
    client = world.client(world.org_admin)
    bad = client.post(
        "/api/v1/team-policies/", {"team": "alpha", "within_team": "Always", "reclaim_within_cohort": "Some"}
    )
    assert bad.status_code == 400
    assert set(bad.json()) >= {"within_team", "reclaim_within_cohort"}
    threshold = client.post(
        "/api/v1/team-policies/", {"team": "alpha", "borrow_max_priority_threshold": 5}, format="json"
    )
    assert threshold.status_code == 400 and "borrow_max_priority_threshold" in threshold.json()
    assert client.post("/api/v1/team-policies/", {"team": "alpha"}, format="json").status_code == 201
    twice = client.post("/api/v1/team-policies/", {"team": "alpha"}, format="json")
    assert twice.status_code == 400 and "team" in twice.json()
    assert TeamPolicy.objects.count() == 1


def test_a_cohort_takes_kueues_fair_sharing_strategies_and_no_other_list(world: Any) -> None:
    client = world.client(world.org_admin)
    made = client.post("/api/v1/cohorts/", {"name": "fair", "fair_sharing": True}, format="json")
    assert made.status_code == 201, made.json()
    assert made.json()["fair_sharing_strategies"] == ["LessThanOrEqualToFinalShare", "LessThanInitialShare"]
    url = f"/api/v1/cohorts/{made.json()['id']}/"
    for wrong in (["LessThanInitialShare", "LessThanOrEqualToFinalShare"], [], ["Whatever"]):
        response = client.patch(url, {"fair_sharing_strategies": wrong}, format="json")
        assert response.status_code == 400 and "fair_sharing_strategies" in response.json(), wrong
    ok = client.patch(url, {"fair_sharing_strategies": ["LessThanInitialShare"]}, format="json")
    assert ok.status_code == 200 and ok.json()["fair_sharing_strategies"] == ["LessThanInitialShare"]
    entry = AuditEntry.objects.filter(action="quotas.cohort_updated").latest("id")
    assert entry.data["fair_sharing_strategies"] == ["LessThanInitialShare"]


def test_the_admin_edits_a_team_policy_through_the_service(world: Any, admin_client: Any) -> None:
    response = admin_client.post(
        "/admin/quotas/teampolicy/add/",
        {
            "team": world.beta.pk,
            "within_team": "LowerPriority",
            "reclaim_within_cohort": "Any",
            "borrow_within_cohort": "Never",
            "borrow_max_priority_threshold": "3",
            "when_can_borrow": "Borrow",
            "when_can_preempt": "TryNextFlavor",
        },
    )
    assert response.status_code == 200  # the form again, with the service's field error
    assert b"Only with borrow_within_cohort LowerPriority" in response.content
    response = admin_client.post(
        "/admin/quotas/teampolicy/add/",
        {
            "team": world.beta.pk,
            "within_team": "LowerPriority",
            "reclaim_within_cohort": "Any",
            "borrow_within_cohort": "LowerPriority",
            "borrow_max_priority_threshold": "3",
            "when_can_borrow": "Borrow",
            "when_can_preempt": "TryNextFlavor",
        },
    )
    assert response.status_code == 302
    assert TeamPolicy.objects.get(team=world.beta).borrow_max_priority_threshold == 3
    assert AuditEntry.objects.filter(action="quotas.team_policy_created").count() == 1
    assert admin_client.get("/admin/quotas/teampolicy/").status_code == 200
