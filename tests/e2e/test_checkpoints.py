"""A fine-tuning job's training and its result in a real browser: the loss chart over a retry
that resumed, the checkpoints with why each is kept or gone, and the model registry from the
version's lineage to its promotion. The data is seeded through the checkpoint services on a
local storage directory; no cluster is needed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.factories import (
    ClusterFactory,
    JobFactory,
    MembershipFactory,
    OrganisationFactory,
    StorageBackendFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser]

USERNAME = "tuner"
PASSWORD = "a-long-test-password"
RESUME_STEP = 20
# Checkpoint steps and the loss each reports: step 20 is the best; retention keeps the latest
# two and the best one, so steps 10 and 30 are deleted and 50 (the final one) becomes a version.
CHECKPOINT_LOSS = {10: 2.0, 20: 0.9, 30: 1.5, 40: 1.2, 50: 1.0}


def write_checkpoint(prefix_uri: str, step: int) -> str:
    uri = f"{prefix_uri}step-{step:08d}/"
    root = Path(uri.removeprefix("file://"))
    root.mkdir(parents=True, exist_ok=True)
    (root / "adapter_model.safetensors").write_bytes(b"w" * 4096)
    (root / "trainer_state.json").write_text(f'{{"step": {step}}}')
    return uri


def fine_tuned_job(tmp_path: Path) -> dict[str, Any]:
    """Team nlp with local checkpoint storage; a LoRA job whose first attempt was lost with its
    node at step 29 and whose second resumed from step 20 and finished at 49; its checkpoints;
    the base model tiny-llama v1 and the result tiny-lora v1 registered from the final one."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.checkpoints import services
    from apps.checkpoints.models import Checkpoint, MetricPoint
    from apps.jobs.models import Attempt

    org = OrganisationFactory(slug="acme")
    cluster = ClusterFactory(organisation=org, name="gpu-a")
    team = TeamFactory(organisation=org, slug="nlp", default_cluster=cluster)
    StorageBackendFactory(organisation=org, name="scratch", kind="local", uri=str(tmp_path / "store"))
    user = UserFactory(username=USERNAME)
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(team=team, user=user, role="member")

    base_model = services.create_model(actor=user, team=team, name="tiny-llama")
    base = services.register_version(actor=user, model=base_model, uri=f"file://{tmp_path}/models/tiny-llama/")
    now = timezone.now()
    job = JobFactory(
        team=team,
        cluster=cluster,
        submitted_by=user,
        name="tune-tiny",
        kind="fine_tuning",
        state="succeeded",
        max_retries=2,
        checkpoint_policy={"keep_latest": 2, "keep_best": 1, "best_metric": "loss", "best_mode": "min"},
        started_at=now - timedelta(minutes=30),
        finished_at=now - timedelta(minutes=1),
    )
    services.record_lineage(job=job, base_version=base, base_uri="", recipe="fine_tuning/lora", model_name="tiny-lora")
    lost = Attempt.objects.create(
        job=job,
        number=1,
        state="failed",
        started_at=now - timedelta(minutes=30),
        finished_at=now - timedelta(minutes=20),
        failure_cause="infrastructure",
        failure_evidence="NodeDiedError: the node running the job was lost",
    )
    located = services.job_prefix(job)
    assert located is not None
    _, prefix = located
    resumed = Attempt.objects.create(
        job=job,
        number=2,
        state="succeeded",
        started_at=now - timedelta(minutes=19),
        finished_at=now - timedelta(minutes=1),
        resume_step=RESUME_STEP,
        resume_uri=f"{prefix}step-{RESUME_STEP:08d}/",
    )
    # The lost attempt reached step 29; the resumed one, from the state after step 20, redid
    # 21..29 (its points replace those) and went on to 49.
    MetricPoint.objects.bulk_create(
        [MetricPoint(job=job, attempt=lost, step=s, name="loss", value=3.0 - s * 0.05) for s in range(30)]
        + [MetricPoint(job=job, attempt=resumed, step=s, name="loss", value=2.5 - s * 0.03) for s in range(21, 50)]
        + [MetricPoint(job=job, attempt=resumed, step=s, name="lr", value=2e-4) for s in range(21, 50)]
    )
    checkpoints: dict[int, Checkpoint] = {}
    for step, loss in CHECKPOINT_LOSS.items():
        attempt = lost if step <= RESUME_STEP else resumed
        uri = write_checkpoint(prefix, step)
        checkpoint, _ = services.report_checkpoint(
            attempt=attempt, uri=uri, step=step, metrics={"loss": loss}, final=step == 50
        )
        services.finalize_checkpoint(checkpoint.pk)  # a no-op when the eager task already ran it
        checkpoints[step] = checkpoint

    tuned = services.create_model(actor=user, team=team, name="tiny-lora", description="LoRA of tiny-llama")
    version = services.register_version(actor=user, model=tuned, checkpoint=checkpoints[50])
    services.apply_retention(job)  # records that the version now keeps step 50
    states = dict(Checkpoint.objects.filter(job=job).values_list("step", "state"))
    assert states == {10: "deleted", 20: "complete", 30: "deleted", 40: "complete", 50: "complete"}
    return {"job": job, "version": version, "base": base, "tuned": tuned}


def log_in(page: Any, live_server: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{live_server.url}/login")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/jobs"))


def test_a_resumed_fine_tuning_job_its_checkpoints_and_its_model_version(
    transactional_db: Any, live_server: Any, page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from apps.checkpoints.models import ModelVersion

    seeded = fine_tuned_job(tmp_path)
    job, version = seeded["job"], seeded["version"]
    log_in(page, live_server)

    # The job page: the training chart over both attempts, drawn on a real canvas.
    page.goto(f"{live_server.url}/jobs/{job.pk}")
    chart = page.get_by_test_id("metrics-chart")
    canvas = chart.locator("canvas")
    # Steps 0..49 once each: the resumed attempt's points replace the lost one's after step 20.
    expect(canvas).to_have_attribute("aria-label", re.compile(r"loss: 50 points, step 0 to 49"))
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100, box
    picker = page.locator("select[name=metric]")
    expect(picker).to_have_value("loss")
    expect(picker.locator("option")).to_have_text(["loss", "lr"])

    # The checkpoints, newest first, each with why it is kept or why it is gone.
    table = page.get_by_test_id("job-checkpoints")
    expect(table.locator("tbody tr")).to_have_count(5)
    expect(table.locator("tbody tr td:first-child")).to_have_text(
        [re.compile(rf"^{step}") for step in (50, 40, 30, 20, 10)]
    )
    reason = {
        step: page.get_by_test_id(f"checkpoint-{step}").get_by_test_id("checkpoint-reason")
        for step in (10, 20, 30, 40, 50)
    }
    expect(reason[50]).to_contain_text("kept because")
    expect(reason[50]).to_contain_text("model version tiny-lora v1 uses it")
    expect(reason[40]).to_contain_text("kept because one of the latest 2")
    expect(reason[20]).to_contain_text("kept because one of the best 1 by loss")
    for gone in (10, 30):
        expect(reason[gone]).to_contain_text("deleted: Retention")
        expect(reason[gone]).to_contain_text(f"did not keep step {gone}")
    expect(page.get_by_test_id("checkpoint-policy")).to_contain_text("the latest 2 and the best 1 by loss (lowest)")

    # The attempts: whose failure ended the first, and where the second resumed.
    expect(page.get_by_test_id("attempt-1").get_by_test_id("failure-cause")).to_have_text(
        f"the cluster's failure — retried from step {RESUME_STEP}"
    )
    expect(page.get_by_test_id("attempt-2").get_by_test_id("resumed-from")).to_have_text(
        f"resumed from step {RESUME_STEP}"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-job-checkpoints.png"), full_page=True)

    # The registry: both models, the fine-tuned one with no production version yet.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    expect(page).to_have_url(re.compile(r"/models$"))
    models = page.get_by_test_id("models")
    expect(models.locator("tbody tr")).to_have_count(2)
    row = models.locator("tbody tr", has=page.get_by_role("link", name="tiny-lora", exact=True))
    expect(row).to_contain_text("none")
    row.get_by_role("link", name="tiny-lora", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/models/{seeded['tuned'].pk}$"))

    # The version and its lineage: base model, the job (a link to it) and the checkpoint's step.
    v1 = page.get_by_test_id("version-1")
    expect(v1.get_by_test_id("stage")).to_have_text("no stage")
    expect(v1.get_by_test_id("version-source")).to_have_text(f"step 50 of job #{job.pk}")
    v1.get_by_role("button", name="Lineage").click()
    lineage = page.get_by_test_id(f"lineage-{version.pk}")
    expect(lineage.get_by_test_id("lineage-base")).to_contain_text("tiny-llama v1")
    job_link = lineage.get_by_test_id("lineage-job").get_by_role("link")
    expect(job_link).to_have_text(f"tune-tiny #{job.pk}")
    expect(job_link).to_have_attribute("href", f"/jobs/{job.pk}")
    expect(lineage.get_by_test_id("lineage-attempt")).to_contain_text(f"resumed from step {RESUME_STEP}")
    expect(lineage.get_by_test_id("lineage-checkpoint")).to_have_text("checkpoint step 50")

    # Promote to production (the page asks first): the badge changes, and so does the API's answer.
    page.once("dialog", lambda dialog: dialog.accept())
    v1.get_by_role("button", name="Promote to production").click()
    expect(v1.get_by_test_id("stage")).to_have_text("production")
    expect(v1.get_by_role("button", name="Promote to production")).to_have_count(0)
    answer = page.request.get(f"{live_server.url}/api/v1/model-versions/{version.pk}/")
    assert answer.ok, answer.text()
    body = answer.json()
    assert (body["stage"], body["promoted_by"]) == ("production", USERNAME)
    assert ModelVersion.objects.get(pk=version.pk).stage == "production"
    page.screenshot(path=str(ARTIFACTS / "e2e-model-promoted.png"), full_page=True)

    # The registry's list now names the production version by number.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    row = page.get_by_test_id("models").locator("tbody tr", has=page.get_by_role("link", name="tiny-lora", exact=True))
    expect(row.get_by_role("link", name="v1")).to_have_attribute(
        "href", f"/models/{seeded['tuned'].pk}#version-{version.pk}"
    )
