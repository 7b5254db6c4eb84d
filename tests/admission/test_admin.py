"""The operator console for admission: quotas per team × pool in one list with use now, edits
through the services, and the what-if preview that shows admissions and preemptions before a
quota change is saved (and saves nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.admission.models import Allocation
from apps.admission.pools import ensure_pools
from apps.admission.scheduler import admit_pending
from apps.core.models import AuditEntry
from apps.inventory.models import AcceleratorModel
from apps.jobs.models import Job
from apps.quotas.models import Cohort, Pool, PriorityClass, Quota
from apps.tenancy.models import Team
from tests.core.test_invariants import grow_inventory
from tests.factories import AcceleratorFactory, NodeFactory, UserFactory

pytestmark = pytest.mark.django_db

POOL = "gpu-a-h100-sxm"
MODELS = ["pool", "quota", "cohort", "priorityclass", "allocation"]


@pytest.fixture
def console() -> Client:
    client = Client()
    client.force_login(UserFactory(username="root-operator", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def pool(world: Any) -> Pool:
    """One node of 8 × H100 on the world's cluster, and its pools."""
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    node = NodeFactory(cluster=world.cluster, hostname="dgx-1")
    for index in range(8):
        AcceleratorFactory(node=node, index=index, model=h100)
    ensure_pools()
    return Pool.objects.get(name=POOL)


def submit(world: Any, user: Any, team: str, gpus: int, name: str) -> int:
    body = {"name": name, "team": team, "entrypoint": "true", "resources": {"gpus": gpus, "accelerator_model": "H100"}}
    response = world.client(user).post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 201, response.json()
    return int(response.json()["id"])


def url(model: str, view: str = "changelist", *args: Any) -> str:
    app = "admission" if model == "allocation" else "quotas"
    return reverse(f"admin:{app}_{model}_{view}", args=args)


def queries(console: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = console.get(path)
        assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("model", MODELS)
def test_every_changelist_renders_with_a_constant_number_of_queries(console: Client, world: Any, model: str) -> None:
    grow_inventory(world)
    queries(console, url(model))
    few = queries(console, url(model))
    for _ in range(5):
        grow_inventory(world)
    assert queries(console, url(model)) == few


@pytest.mark.parametrize("model", ["quota", "cohort", "priorityclass"])
def test_add_pages_render(console: Client, world: Any, model: str) -> None:
    assert console.get(url(model, "add")).status_code == 200


def test_pools_and_allocations_come_from_the_system_not_the_form(console: Client, pool: Pool) -> None:
    assert console.get(url("pool", "add")).status_code == 403
    assert console.get(url("allocation", "add")).status_code == 403


@pytest.fixture
def borrowing(world: Any, pool: Pool) -> dict[str, Any]:
    """Cohort research (no reclaiming): alpha 4 guaranteed (max 4), beta 4 guaranteed (max 8).
    beta runs two 4-GPU jobs, the second on alpha's idle guarantee; alpha's 4-GPU job waits."""
    cohort = Cohort.objects.create(organisation=world.org, name="research", reclaim_from_borrowers=False)
    Team.objects.filter(pk__in=[world.alpha.pk, world.beta.pk]).update(cohort=cohort)
    alpha = Quota.objects.create(team=world.alpha, pool=pool, guaranteed=4, max=4)
    beta = Quota.objects.create(team=world.beta, pool=pool, guaranteed=4, max=8)
    beta_first = submit(world, world.outsider, "beta", 4, "beta-first")
    assert admit_pending() == 1
    beta_second = submit(world, world.outsider, "beta", 4, "beta-second")
    assert admit_pending() == 1
    waiting = submit(world, world.member, "alpha", 4, "alpha-waits")
    assert admit_pending() == 0
    return {"alpha": alpha, "beta": beta, "first": beta_first, "second": beta_second, "waiting": waiting}


def test_the_quota_list_shows_use_borrowing_and_lending_now(console: Client, borrowing: dict[str, Any]) -> None:
    html = console.get(url("quota")).content.decode()
    # beta uses 8 and borrows 4 of alpha's guarantee; alpha uses nothing and lends those 4.
    assert html.count('<td class="field-used">8</td>') == 1
    assert html.count('<td class="field-borrowed">4</td>') == 1
    assert html.count('<td class="field-lent">4</td>') == 1
    assert html.count('<td class="field-used">0</td>') == 1
    filtered = console.get(url("quota") + f"?team__id__exact={borrowing['alpha'].team_id}").content.decode()
    assert filtered.count('class="field-used"') == 1


def changelist_post(quotas: list[Quota], **changes: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "form-TOTAL_FORMS": str(len(quotas)),
        "form-INITIAL_FORMS": str(len(quotas)),
        "_save": "Save",
    }
    for i, quota in enumerate(quotas):
        row = {
            "id": quota.pk,
            "guaranteed": quota.guaranteed,
            "max": "" if quota.max is None else quota.max,
            "lending_limit": "" if quota.lending_limit is None else quota.lending_limit,
            "weight": str(quota.weight),
            **changes.get(quota.team.slug, {}),
        }
        data.update({f"form-{i}-{name}": value for name, value in row.items()})
    return data


def test_quotas_are_edited_in_the_list_through_the_service(console: Client, borrowing: dict[str, Any]) -> None:
    quotas = list(Quota.objects.select_related("team").order_by("pool__name", "team__slug"))
    response = console.post(url("quota"), changelist_post(quotas, alpha={"guaranteed": 6, "max": 6}))
    assert response.status_code == 302
    alpha = Quota.objects.get(pk=borrowing["alpha"].pk)
    assert (alpha.guaranteed, alpha.max) == (6, 6)
    entry = AuditEntry.objects.get(action="quotas.quota_updated")
    assert entry.data["fields"] == ["guaranteed", "max"]

    refused = console.post(url("quota"), changelist_post(quotas, beta={"max": 2}))
    assert refused.status_code == 200
    assert "At least the guaranteed 4" in refused.content.decode()
    assert Quota.objects.get(pk=borrowing["beta"].pk).max == 8


def snapshot() -> tuple[Any, ...]:
    return (
        list(Quota.objects.order_by("pk").values_list("guaranteed", "max", "lending_limit", "weight")),
        list(Job.objects.order_by("pk").values_list("state", "state_reason")),
        Allocation.objects.filter(released_at__isnull=True).count(),
        AuditEntry.objects.count(),
    )


def test_preview_shows_admissions_and_preemptions_and_saves_nothing(console: Client, borrowing: dict[str, Any]) -> None:
    before = snapshot()
    beta = borrowing["beta"]
    form = {"guaranteed": 4, "max": 4, "lending_limit": "", "weight": "1", "_preview": "Preview"}
    response = console.post(url("quota", "change", beta.pk), form)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Preview: if this quota were saved" in html
    admitted = html.split("Pending jobs it would admit")[1].split("</table>")[0]
    assert f"{borrowing['waiting']} alpha-waits</a>" in admitted
    assert "dgx-1 (GPUs" in admitted
    preempted = html.split("Running jobs it would preempt")[1].split("</table>")[0]
    assert f"{borrowing['second']} beta-second" in preempted  # the younger of beta's two
    assert "beta-first" not in preempted
    assert "team beta is over its max in pool gpu-a-h100-sxm" in preempted
    assert 'name="max" value="4"' in html  # the form keeps what was typed
    assert snapshot() == before


def test_preview_of_a_new_quota_on_the_add_form(console: Client, world: Any, pool: Pool) -> None:
    waiting = submit(world, world.member, "alpha", 2, "no-quota-yet")
    Quota.objects.create(team=world.beta, pool=pool, guaranteed=2)
    assert admit_pending() == 0
    form = {
        "team": world.alpha.pk,
        "pool": pool.pk,
        "guaranteed": 2,
        "max": "",
        "lending_limit": "",
        "weight": "1",
        "_preview": "Preview",
    }
    response = console.post(url("quota", "add"), form)
    assert response.status_code == 200
    html = response.content.decode()
    assert f"{waiting} no-quota-yet" in html.split("Pending jobs it would admit")[1]
    assert "Running jobs it would preempt" not in html
    assert Quota.objects.count() == 1


def test_an_invalid_preview_shows_the_errors_and_no_panel(console: Client, borrowing: dict[str, Any]) -> None:
    form = {"guaranteed": 4, "max": 2, "lending_limit": "", "weight": "1", "_preview": "Preview"}
    response = console.post(url("quota", "change", borrowing["beta"].pk), form)
    html = response.content.decode()
    assert response.status_code == 200
    assert "At least the guaranteed 4" in html
    assert "Preview: if this quota were saved" not in html


def test_saving_the_form_changes_the_quota_through_the_service(console: Client, borrowing: dict[str, Any]) -> None:
    beta = borrowing["beta"]
    form = {"guaranteed": 4, "max": 4, "lending_limit": "2", "weight": "3", "_save": "Save"}
    response = console.post(url("quota", "change", beta.pk), form)
    assert response.status_code == 302
    beta.refresh_from_db()
    assert (beta.max, beta.lending_limit, beta.weight) == (4, 2, 3)
    assert AuditEntry.objects.filter(action="quotas.quota_updated", target_id=str(beta.pk)).exists()


def test_a_duplicate_quota_is_refused_on_the_add_form(console: Client, world: Any, pool: Pool) -> None:
    Quota.objects.create(team=world.alpha, pool=pool, guaranteed=1)
    form = {"team": world.alpha.pk, "pool": pool.pk, "guaranteed": 2, "max": "", "lending_limit": "", "weight": "1"}
    response = console.post(url("quota", "add"), form)
    assert response.status_code == 200
    assert "already has a quota in pool" in response.content.decode()
    assert Quota.objects.count() == 1


def test_a_cohort_is_created_with_its_teams_through_the_service(console: Client, world: Any) -> None:
    form = {
        "organisation": world.org.pk,
        "name": "research",
        "description": "",
        "reclaim_from_borrowers": "on",
        "teams": [world.alpha.pk, world.beta.pk],
        "_save": "Save",
    }
    response = console.post(url("cohort", "add"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    cohort = Cohort.objects.get()
    assert set(Team.objects.filter(cohort=cohort).values_list("slug", flat=True)) == {"alpha", "beta"}
    assert AuditEntry.objects.filter(action="quotas.cohort_created").exists()
    page = console.get(url("cohort", "change", cohort.pk)).content.decode()
    assert f'value="{world.alpha.pk}" selected' in page


def test_a_priority_class_is_created_through_the_service(console: Client, world: Any) -> None:
    form = {"organisation": world.org.pk, "name": "urgent", "value": 100, "description": "", "_save": "Save"}
    assert console.post(url("priorityclass", "add"), form).status_code == 302
    urgent = PriorityClass.objects.get()
    assert (urgent.value, urgent.preemptible) == (100, False)  # an unchecked box
    assert AuditEntry.objects.filter(action="quotas.priority_class_created").exists()
