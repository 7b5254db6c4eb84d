"""Finding jobs in a real browser: search the jobs list by name and by id, sort it by duration,
GPUs and name, read the nodes and the GPUs × model, and cancel two jobs at once."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.e2e.signin import PASSWORD, sign_in
from tests.factories import ClusterFactory, MembershipFactory, OrganisationFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser]


def a_team_with_jobs() -> dict[str, Any]:
    from django.utils import timezone

    from apps.jobs.models import Attempt, Job

    org = OrganisationFactory(slug="acme")
    cluster = ClusterFactory(organisation=org, name="dgx-a")
    team = TeamFactory(organisation=org, slug="nlp", default_cluster=cluster)
    user = UserFactory(username="finder")
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(team=team, user=user, role="member")
    now = timezone.now()
    common = {"team": team, "cluster": cluster, "entrypoint": "python train.py", "submitted_by": user}
    jobs = {
        "llama-pretrain": Job.objects.create(
            name="llama-pretrain",
            state="running",
            gpus=16,
            accelerator_model="H100",
            started_at=now - timedelta(hours=5),
            **common,
        ),
        "llama-eval": Job.objects.create(
            name="llama-eval",
            state="succeeded",
            gpus=1,
            accelerator_model="H100",
            started_at=now - timedelta(hours=3),
            finished_at=now - timedelta(hours=2, minutes=50),
            **common,
        ),
        "bert-finetune": Job.objects.create(
            name="bert-finetune",
            state="running",
            gpus=4,
            accelerator_model="A100",
            started_at=now - timedelta(minutes=30),
            **common,
        ),
        "data-prep": Job.objects.create(name="data-prep", state="pending", **common),
    }
    Attempt.objects.create(
        job=jobs["llama-pretrain"],
        number=1,
        state="running",
        placement=[{"node_id": None, "hostname": "dgx-a-1"}, {"node_id": None, "hostname": "dgx-a-2"}],
    )
    Attempt.objects.create(job=jobs["bert-finetune"], number=1, state="running", placement=[{"hostname": "dgx-a-3"}])
    return jobs


def test_search_and_sort_the_jobs_list(transactional_db: Any, fake_backend: Any, live_server: Any, page: Any) -> None:
    from playwright.sync_api import expect

    from apps.jobs.models import Job

    jobs = a_team_with_jobs()
    sign_in(page, live_server, "finder")

    table = page.get_by_test_id("jobs-table")
    names = table.locator("tbody tr td:nth-child(3)")
    expect(names).to_have_text(["data-prep", "bert-finetune", "llama-eval", "llama-pretrain"])  # newest first
    pretrain = page.get_by_test_id(f"job-row-{jobs['llama-pretrain'].pk}")
    expect(pretrain.get_by_test_id("job-resources")).to_have_text("16 × H100")
    expect(pretrain.get_by_test_id("job-nodes")).to_have_text("dgx-a-1, dgx-a-2")
    expect(pretrain.get_by_test_id("job-duration")).to_have_text(re.compile(r"^5 h"))

    # Search by a part of the name, in any case: the URL keeps it.
    page.get_by_label("Search").fill("LLAMA")
    expect(page).to_have_url(re.compile(r"/jobs\?search=LLAMA$"))
    expect(names).to_have_text(["llama-eval", "llama-pretrain"])

    # Longest first, then shortest first.
    table.get_by_role("button", name="Duration").click()
    expect(page).to_have_url(re.compile(r"ordering=-duration"))
    expect(names).to_have_text(["llama-pretrain", "llama-eval"])
    table.get_by_role("button", name="Duration").click()
    expect(names).to_have_text(["llama-eval", "llama-pretrain"])
    expect(table.get_by_role("columnheader", name=re.compile("Duration"))).to_have_attribute("aria-sort", "ascending")

    # By id: "#<id>" finds that job.
    page.get_by_label("Search").fill(f"#{jobs['bert-finetune'].pk}")
    expect(names).to_have_text(["bert-finetune"])

    # A reload keeps the search and the order; clearing shows everything, sorted by GPUs.
    page.reload()
    expect(page.get_by_label("Search")).to_have_value(f"#{jobs['bert-finetune'].pk}")
    expect(names).to_have_text(["bert-finetune"])
    page.get_by_role("button", name="Clear filters").click()
    table.get_by_role("button", name="GPUs × model").click()
    expect(names).to_have_text(["llama-pretrain", "bert-finetune", "llama-eval", "data-prep"])
    table.get_by_role("button", name="Name").click()
    expect(names).to_have_text(["llama-pretrain", "llama-eval", "data-prep", "bert-finetune"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-jobs-find.png"), full_page=True)
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
            .slice(0, 5)
            .map((el) => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right))"""
    )
    # The wide table scrolls inside its box: the page itself never grows wider than the window.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280, wide

    # Tick two running jobs and cancel both at once.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_label(f"Select job #{jobs['llama-pretrain'].pk}").check()
    page.get_by_label(f"Select job #{jobs['bert-finetune'].pk}").check()
    expect(page.get_by_label(f"Select job #{jobs['llama-eval'].pk}")).to_be_disabled()
    page.get_by_role("button", name="Cancel selected").click()
    expect(page.get_by_test_id("bulk-result")).to_have_text("2 cancelled")
    expect(pretrain.get_by_text("cancelled")).to_be_visible()
    assert set(Job.objects.filter(state="cancelled").values_list("name", flat=True)) == {
        "llama-pretrain",
        "bert-finetune",
    }
