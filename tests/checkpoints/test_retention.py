"""Retention deletes exactly the checkpoints it should, on disk and in a real S3 server."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest

from apps.checkpoints import services
from apps.checkpoints.models import Checkpoint, CheckpointRead
from apps.jobs.models import Attempt
from apps.jobs.services import job_spec
from tests.checkpoints.test_reports import job_client, running, write_checkpoint
from tests.factories import StorageBackendFactory
from tests.s3 import s3_storage

LOSSES = {10: 3.0, 20: 1.0, 30: 2.0, 40: 2.5, 50: 2.2}  # the best (lowest) is step 20


def report_all(client: Any, uris: dict[int, str]) -> None:
    for step, uri in uris.items():
        response = client.post(
            "/api/v1/job-reports/checkpoints/",
            {"uri": uri, "step": step, "metrics": {"loss": LOSSES[step]}},
            format="json",
        )
        assert response.status_code == 201, response.json()


def states(job_id: int) -> dict[int, str]:
    return dict(Checkpoint.objects.filter(job_id=job_id).values_list("step", "state"))


def test_keep_latest_two_and_best_one_on_disk(world: Any, tmp_path: Path) -> None:
    StorageBackendFactory(organisation=world.org, name="disk", kind="local", uri=str(tmp_path))
    attempt = running(world, checkpoint_policy={"keep_latest": 2, "keep_best": 1, "best_metric": "loss"})
    client = job_client(attempt)
    prefix = client.get("/api/v1/job-reports/context/").json()["checkpoint_uri"]
    uris = {step: write_checkpoint(prefix, step, {"w.bin": bytes(step)}) for step in LOSSES}
    report_all(client, uris)
    assert states(attempt.job_id) == {10: "deleted", 20: "complete", 30: "deleted", 40: "complete", 50: "complete"}
    on_disk = sorted(p.name for p in Path(prefix.removeprefix("file://")).iterdir())
    assert on_disk == ["step-00000020", "step-00000040", "step-00000050"]
    kept = Checkpoint.objects.get(job=attempt.job, step=20)
    assert "best 1 by loss" in kept.retained_because
    gone = Checkpoint.objects.get(job=attempt.job, step=30)
    assert gone.deleted_at is not None and "did not keep step 30" in gone.deletion_reason


def test_retention_never_deletes_a_version_or_a_resume_source_in_s3(world: Any, s3_server: str, s3_bucket: Any) -> None:
    client_s3, bucket = s3_bucket
    s3_storage(world.org, s3_server, bucket)
    attempt = running(world, checkpoint_policy={"keep_latest": 2, "keep_best": 1, "best_metric": "loss"})
    client = job_client(attempt)
    uris: dict[int, str] = {}
    for step in (10, 20, 30):
        files = [{"path": "adapter.safetensors", "size": 64}, {"path": "optimizer/state.pt", "size": 3}]
        answer = client.post(
            "/api/v1/job-reports/checkpoint-uploads/", {"step": step, "files": files}, format="json"
        ).json()
        for target in answer["files"]:  # the job writes through presigned URLs: no credentials in the job
            body = b"w" * 64 if target["path"] == "adapter.safetensors" else b"opt"
            request = urllib.request.Request(target["url"], data=body, method="PUT", headers=target["headers"])
            urllib.request.urlopen(request, timeout=10).close()
        uris[step] = answer["uri"]
    report_all(client, {10: uris[10]})
    model = services.create_model(actor=world.member, team=world.alpha, name="m")
    services.register_version(actor=world.member, model=model, checkpoint=Checkpoint.objects.get(step=10))
    report_all(client, {20: uris[20], 30: uris[30]})
    uris.update({step: write_s3(client_s3, bucket, uris[10].replace("00000010", f"{step:08d}")) for step in (40, 50)})
    report_all(client, {40: uris[40], 50: uris[50]})
    # Latest two (40, 50), best by loss (20), and step 10, which a model version uses.
    assert states(attempt.job_id) == {10: "complete", 20: "complete", 30: "deleted", 40: "complete", 50: "complete"}
    keys = {item["Key"] for item in client_s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert not any("step-00000030" in key for key in keys)
    assert {key.split("/")[-2] for key in keys if key.endswith("adapter.safetensors")} == {
        "step-00000010",
        "step-00000020",
        "step-00000040",
        "step-00000050",
    }
    ten = Checkpoint.objects.get(job=attempt.job, step=10)
    assert ten.bytes == 67 and ten.file_count == 2 and "model version m v1" in ten.retained_because

    # A retry is told to resume from the latest complete checkpoint, which is then kept while it runs.
    Attempt.objects.filter(pk=attempt.pk).update(state="failed")
    retry = Attempt.objects.create(job=attempt.job, number=2, state="admitted")
    env = job_spec(retry).runtime_env["env_vars"]
    assert env["PADDOCK_RESUME_FROM"] == uris[50] and env["PADDOCK_RESUME_STEP"] == "50"
    assert env["PADDOCK_CHECKPOINT_URI"] == f"s3://{bucket}/paddock/teams/alpha/jobs/{attempt.job_id}/"
    assert env["PADDOCK_JOB_TOKEN"].startswith("pdj_") and env["PADDOCK_JOB_ID"] == str(attempt.job_id)
    retry.refresh_from_db()
    assert (retry.resume_step, retry.resume_uri) == (50, uris[50])
    assert CheckpointRead.objects.get(attempt=retry).checkpoint.step == 50
    from apps.checkpoints.models import TeamCheckpointSettings

    Checkpoint.objects.filter(job=attempt.job).update(metrics={})
    attempt.job.checkpoint_policy = {"keep_latest": 1, "keep_best": 0}
    attempt.job.save()
    TeamCheckpointSettings.objects.create(team=world.alpha, keep_latest=1, keep_best=0)
    write_s3(client_s3, bucket, uris[10].replace("00000010", "00000060"))
    Attempt.objects.filter(pk=retry.pk).update(state="running")
    report_all_steps(job_client(retry), {60: uris[10].replace("00000010", "00000060")})
    # Latest (60), the version's (10), and 50, which attempt 2 is resuming from.
    assert states(attempt.job_id) == {
        10: "complete",
        20: "deleted",
        30: "deleted",
        40: "deleted",
        50: "complete",
        60: "complete",
    }
    resumed = Checkpoint.objects.get(job=attempt.job, step=50)
    assert "attempt 2 is resuming from it" in resumed.retained_because
    # Downloads: presigned GETs for the job's own checkpoints.
    files = job_client(retry).post("/api/v1/job-reports/downloads/", {"uri": uris[50]}, format="json").json()["files"]
    assert [(f["path"], f["size"]) for f in files] == [("adapter.safetensors", 64)]
    with urllib.request.urlopen(files[0]["url"], timeout=10) as answer:
        assert answer.read() == b"w" * 64
    base = job_client(retry).post("/api/v1/job-reports/downloads/", {"uri": uris[10]}, format="json").json()
    assert sorted(f["path"] for f in base["files"]) == ["adapter.safetensors", "optimizer/state.pt"]


def write_s3(client: Any, bucket: str, uri: str) -> str:
    prefix = uri.removeprefix(f"s3://{bucket}/")
    client.put_object(Bucket=bucket, Key=prefix + "adapter.safetensors", Body=b"w" * 64)
    return uri


def report_all_steps(client: Any, uris: dict[int, str]) -> None:
    for step, uri in uris.items():
        assert (
            client.post("/api/v1/job-reports/checkpoints/", {"uri": uri, "step": step}, format="json").status_code
            == 201
        )


def test_a_checkpoint_with_no_files_never_counts(world: Any, tmp_path: Path) -> None:
    StorageBackendFactory(organisation=world.org, name="disk", kind="local", uri=str(tmp_path))
    attempt = running(world)
    client = job_client(attempt)
    prefix = client.get("/api/v1/job-reports/context/").json()["checkpoint_uri"]
    assert (
        client.post(
            "/api/v1/job-reports/checkpoints/", {"uri": f"{prefix}step-00000005/", "step": 5}, format="json"
        ).status_code
        == 201
    )
    empty = Checkpoint.objects.get()
    assert empty.state == "deleted" and "No files" in empty.deletion_reason
    assert services.latest_complete(attempt.job_id) is None


@pytest.mark.parametrize("path", ["../escape", "/abs", "a//b", "", "a/./b"])
def test_upload_paths_stay_inside_the_checkpoint(world: Any, tmp_path: Path, path: str) -> None:
    StorageBackendFactory(organisation=world.org, name="disk", kind="local", uri=str(tmp_path))
    client = job_client(running(world))
    response = client.post(
        "/api/v1/job-reports/checkpoint-uploads/", {"step": 1, "files": [{"path": path, "size": 1}]}, format="json"
    )
    assert response.status_code == 400 and "files.0.path" in response.json()
