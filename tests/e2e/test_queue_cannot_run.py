"""The queue in a real browser says when a job can never run, instead of its place in line."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.e2e.test_queue import log_in, two_teams_on_one_gpu_node
from tests.factories import JobFactory

pytestmark = [pytest.mark.browser]


def test_a_job_bigger_than_the_cluster_reads_can_never_run_not_next_in_its_pool(
    transactional_db: Any, catalog: None, fake_backend: Any, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    from apps.admission.scheduler import admit_pending

    waiting = two_teams_on_one_gpu_node(role="admin")
    first = waiting["nlp-train-2"]
    # Queued before submissions were checked: 16 H100s on a cluster whose one node has 8, first in line.
    huge = JobFactory(
        team=first.team, cluster=first.cluster, name="nlp-huge", gpus=16, accelerator_model="H100", priority=50
    )
    admit_pending()
    huge.refresh_from_db()
    first.refresh_from_db()
    assert huge.state == "pending" and huge.state_reason.startswith("Cannot run: it asks for 16 GPUs")

    log_in(page, live_server)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Queue").click()
    expect(page).to_have_url(re.compile(r"/queue$"))
    row = page.get_by_test_id(f"queue-row-{huge.pk}")
    expect(row.get_by_test_id("pending-reason")).to_have_text(huge.state_reason)
    expect(row.get_by_test_id("cannot-run")).to_have_text(
        "Can never run as asked: Cluster dgx-a can never give one job 16 H100 SXM GPUs: at most 8 (8 on one node). "
        "Cancel it and resubmit it to fit."
    )
    expect(row.get_by_test_id("jobs-ahead")).to_have_count(0)
    # The jobs behind it still count it ahead of them (it is pending in their pool), and still wait
    # for the quota they waited for: it holds none of them up.
    behind = page.get_by_test_id(f"queue-row-{first.pk}")
    expect(behind.get_by_test_id("jobs-ahead")).to_have_text("1 job ahead")
    expect(behind.get_by_test_id("pending-reason")).to_have_text(first.state_reason)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "queue-cannot-run.png"), full_page=True)
