"""A job that carries a model and workload is checked by the planner before it is recorded."""

from __future__ import annotations

from typing import Any

import pytest

from apps.jobs.models import Job

pytestmark = pytest.mark.django_db

BASE = {"name": "train", "team": "alpha", "entrypoint": "python train.py", "kind": "fine_tuning"}
SEVENTY_B = {"model": {"name": "llama-2-70b"}, "workload": {"mode": "full_finetune", "batch": 1, "seq": 4096}}


def submit(world: Any, **body: Any) -> Any:
    return world.client(world.member).post("/api/v1/jobs/", {**BASE, **body}, format="json")


def test_a_job_that_fits_is_recorded_with_its_plan(world: Any) -> None:
    response = submit(
        world,
        model={"name": "llama-2-7b"},
        workload={"mode": "lora", "batch": 4, "seq": 2048},
        resources={"gpus": 1, "accelerator_model": "H100"},
    )
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert job.plan["fits"] is True
    assert job.plan["overridden"] is False
    assert job.plan["accelerator"] == "H100 SXM"
    detail = world.client(world.member).get(f"/api/v1/jobs/{job.pk}/").json()
    assert detail["plan"]["memory_per_gpu_bytes"] == job.plan["memory_per_gpu_bytes"]
    assert detail["plan"]["workload"] == {"mode": "lora", "batch": 4, "seq": 2048}


def test_a_job_that_cannot_fit_is_refused_with_the_reason_and_an_alternative(world: Any) -> None:
    response = submit(world, **SEVENTY_B, resources={"gpus": 1, "accelerator_model": "H100"})
    assert response.status_code == 400
    explanation, alternative, hint = response.json()["plan"]
    assert explanation.startswith("Does not fit: needs")
    assert "H100 SXM" in explanation
    assert alternative.startswith("Cheapest configuration that fits:")
    assert "override the planner" in hint
    assert not Job.objects.exists()


def test_the_submitter_may_override_the_planner(world: Any) -> None:
    response = submit(world, **SEVENTY_B, resources={"gpus": 1, "accelerator_model": "H100"}, override_planner=True)
    assert response.status_code == 201, response.json()
    plan = Job.objects.get().plan
    assert plan["fits"] is False
    assert plan["overridden"] is True


@pytest.mark.parametrize(
    ("body", "path", "words"),
    [
        ({"model": {"name": "llama-2-7b"}}, ["workload"], "together"),
        ({**SEVENTY_B, "resources": {"gpus": 1}}, ["resources", "accelerator_model"], "Name the accelerator"),
        ({**SEVENTY_B, "resources": {"gpus": 0, "accelerator_model": "H100"}}, ["resources", "gpus"], "at least one"),
        (
            {**SEVENTY_B, "resources": {"gpus": 1, "accelerator_model": "H999"}},
            ["resources", "accelerator_model"],
            "Unknown accelerator",
        ),
        (
            {
                "model": {"name": "llama-2-7b"},
                "workload": {"mode": "lora", "lora_rank": -1},
                "resources": {"gpus": 1, "accelerator_model": "H100"},
            },
            ["workload", "lora_rank"],
            "between",
        ),
        (
            {"model": "llama", "workload": {"mode": "lora"}, "resources": {"gpus": 1, "accelerator_model": "H100"}},
            ["model"],
            "JSON object",
        ),
    ],
)
def test_bad_plans_are_field_errors(world: Any, body: dict, path: list[str], words: str) -> None:
    response = submit(world, **body)
    assert response.status_code == 400
    errors: Any = response.json()
    for key in path:
        errors = errors[key]
    assert any(words in message for message in errors), errors
    assert not Job.objects.exists()
