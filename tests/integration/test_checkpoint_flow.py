"""The LoRA recipe on the real Ray head, reporting to a real Paddock (the suite's live server)
and checkpointing to a real S3 server: it runs, resumes after being killed or preempted, and
registers its result with lineage back to its base model."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from apps.checkpoints.models import Checkpoint, MetricPoint, ModelVersion
from apps.jobs import services as jobs
from apps.jobs.models import Attempt, Job
from tests.conftest import client_for, token_for
from tests.integration.test_ray_flow import wait_for, wait_state
from tests.s3 import s3_storage

pytestmark = [pytest.mark.ray, pytest.mark.worker]


@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small random Llama and a dataset, made here (nothing downloaded)."""
    from paddock.recipes.tiny import make_dataset, make_tiny_llama

    root = tmp_path_factory.mktemp("recipe")
    model = make_tiny_llama(root / "base", hidden=128, layers=2, heads=4)
    data = make_dataset(root / "train.jsonl", lines=200)
    return model, data


@pytest.fixture
def world(live: Any, live_server: Any, s3_server: str, s3_bucket: Any, base_model: tuple[Path, Path]) -> Any:
    assert live_server.url == os.environ["PADDOCK_API_URL"]  # where the jobs report
    s3_storage(live.org, s3_server, s3_bucket[1])
    client = client_for(token_for(live.member))
    base = client.post("/api/v1/models/", {"team": "demo", "name": "tiny-llama"}, format="json").json()
    version = client.post(
        "/api/v1/model-versions/", {"model": base["id"], "uri": base_model[0].as_uri() + "/"}, format="json"
    )
    assert version.status_code == 201, version.json()
    live.client = client
    live.base_version = version.json()["id"]
    live.dataset = str(base_model[1])
    return live


def fine_tune(world: Any, name: str, *, steps: int, every: int, **extra: Any) -> dict[str, Any]:
    parameters = {
        "base_model": f"version:{world.base_version}",
        "dataset": world.dataset,
        "steps": steps,
        "checkpoint_every": every,
        "batch_size": 8,
        "seq_len": 64,
        "rank": 4,
        "model_name": name,
    }
    response = world.client.post(
        "/api/v1/job-templates/lora/submit/",
        {"team": "demo", "name": name, "resources": {"cpus": 1}, "parameters": parameters, **extra},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def complete_steps(job_id: int) -> list[int]:
    return sorted(Checkpoint.objects.filter(job_id=job_id, state="complete").values_list("step", flat=True))


def log_of(job_id: int, number: int) -> str:
    return Attempt.objects.get(job_id=job_id, number=number).log


def test_the_recipe_runs_checkpoints_to_s3_and_registers_a_version_with_its_lineage(world: Any) -> None:
    job = fine_tune(world, "tiny-lora", steps=12, every=4)
    assert wait_state(job["id"], "succeeded", "failed", timeout=180) == "succeeded", log_of(job["id"], 1)
    wait_for(lambda: complete_steps(job["id"]) == [4, 8, 12], 30, "the checkpoints to be measured")
    final = Checkpoint.objects.get(job_id=job["id"], step=12)
    assert final.final and final.bytes and final.file_count and final.uri.startswith("s3://")
    metrics = world.client.get(f"/api/v1/job-metrics/?job={job['id']}").json()["series"]
    loss = next(series for series in metrics if series["name"] == "loss")
    assert [point[0] for point in loss["points"]] == list(range(1, 13))
    assert {series["name"] for series in metrics} >= {"loss", "learning_rate", "tokens_per_second"}
    version = ModelVersion.objects.get(model__name="tiny-lora")
    assert version.checkpoint_id == final.pk and version.base_version_id == world.base_version
    walk = world.client.get(f"/api/v1/model-versions/{version.pk}/lineage/").json()
    assert walk["job"]["id"] == job["id"] and walk["attempt"]["number"] == 1
    assert walk["checkpoint"]["step"] == 12 and walk["base_model"]["version"]["model_name"] == "tiny-llama"
    derived = world.client.get(f"/api/v1/model-versions/{world.base_version}/lineage/").json()["derived_jobs"]
    assert [row["id"] for row in derived] == [job["id"]]


def recipe_pid(name: str) -> int | None:
    found = subprocess.run(["pgrep", "-f", f"paddock.recipes.lora.*{name}"], capture_output=True, text=True)
    pids = [int(pid) for pid in found.stdout.split()]
    return pids[-1] if pids else None


def test_a_killed_then_preempted_job_resumes_each_time_from_its_latest_checkpoint(world: Any) -> None:
    job = fine_tune(world, "resumed-lora", steps=60, every=10)
    wait_for(lambda: any(step >= 10 for step in complete_steps(job["id"])), 180, "a complete checkpoint")
    pid = wait_for(lambda: recipe_pid("resumed-lora"), 10, "the recipe's process")
    os.kill(pid, signal.SIGKILL)  # behind Paddock's back, as a lost node or the OOM killer would
    second = wait_for(
        lambda: Attempt.objects.filter(job_id=job["id"], number=2, state="running").first(), 120, "attempt 2"
    )
    first = Attempt.objects.get(job_id=job["id"], number=1)
    assert first.failure_cause == "infrastructure" and "SIGKILL" in first.failure_evidence
    assert second.resume_step is not None and second.resume_step >= 10  # not from step 0
    # A preemption by the scheduler, once attempt 2 has checkpointed past where it resumed.
    wait_for(lambda: max(complete_steps(job["id"])) > second.resume_step, 180, "a checkpoint of attempt 2")
    with transaction.atomic():  # as the scheduler does, in its pass's transaction
        assert jobs.preempt_job(Job.objects.get(pk=job["id"]), reason="a higher-priority job needs its GPUs")
    assert wait_state(job["id"], "succeeded", "failed", timeout=240) == "succeeded", log_of(job["id"], 3)
    attempts = list(Attempt.objects.filter(job_id=job["id"]).order_by("number"))
    assert attempts[1].state == "stopped" and attempts[1].failure_cause == ""  # preempted: no failure
    third = attempts[-1]
    assert third.number == 3 and third.resume_step is not None and third.resume_step > second.resume_step
    for attempt in (second, third):
        assert f"resumed from step {attempt.resume_step}" in attempt.log or attempt.pk == second.pk
        # Each resumed attempt reported only the steps after the one it resumed from.
        steps = list(MetricPoint.objects.filter(attempt=attempt, name="loss").values_list("step", flat=True))
        assert min(steps) == attempt.resume_step + 1
    assert f"resumed from step {second.resume_step}" in log_of(job["id"], 2)
    assert max(MetricPoint.objects.filter(attempt=third, name="loss").values_list("step", flat=True)) == 60
    assert max(complete_steps(job["id"])) == 60
    series = world.client.get(f"/api/v1/job-metrics/?job={job['id']}").json()["series"]
    loss = next(s for s in series if s["name"] == "loss")
    assert [point[0] for point in loss["points"]] == list(range(1, 61))  # one curve, no step twice
