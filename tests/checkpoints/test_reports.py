"""What a running job reports with its token: metrics, checkpoints, files, its result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.checkpoints import services
from apps.checkpoints.models import Checkpoint, MetricPoint, ModelVersion
from apps.jobs import job_tokens
from apps.jobs.models import Attempt, Job
from tests.factories import JobFactory, StorageBackendFactory


class JobClient(APIClient):
    """A job's client: what a request commits runs at once (the finalize task, as the worker would)."""

    capture: Any = None

    def post(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        with JobClient.capture(execute=True):
            return super().post(*args, **kwargs)


def job_client(attempt: Attempt) -> APIClient:
    client = JobClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {job_tokens.mint(attempt.pk)}")
    return client


def running(world: Any, *, team: Any = None, number: int = 1, **job: Any) -> Attempt:
    job_row = JobFactory(
        team=team or world.alpha, cluster=world.cluster, submitted_by=world.member, state="running", **job
    )
    return Attempt.objects.create(job=job_row, number=number, state="running")


@pytest.fixture
def disk(world: Any, tmp_path: Path) -> Any:
    return StorageBackendFactory(organisation=world.org, name="scratch", kind="local", uri=str(tmp_path / "store"))


def write_checkpoint(prefix_uri: str, step: int, files: dict[str, bytes]) -> str:
    uri = f"{prefix_uri}step-{step:08d}/"
    root = Path(uri.removeprefix("file://"))
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return uri


def test_the_context_names_the_jobs_prefix_and_what_to_resume_from(world: Any, disk: Any) -> None:
    attempt = running(world)
    body = job_client(attempt).get("/api/v1/job-reports/context/").json()
    assert body["job"] == attempt.job_id and body["attempt"] == 1 and body["storage"] == "local"
    assert body["checkpoint_uri"] == f"file://{disk.uri}/teams/alpha/jobs/{attempt.job_id}/"
    assert body["resume_from"] is None


def test_a_reported_checkpoint_is_measured_then_complete(world: Any, disk: Any) -> None:
    attempt = running(world)
    client = job_client(attempt)
    prefix = client.get("/api/v1/job-reports/context/").json()["checkpoint_uri"]
    uri = write_checkpoint(prefix, 10, {"adapter.bin": b"x" * 1000, "state/optim.pt": b"y" * 24})
    response = client.post(
        "/api/v1/job-reports/checkpoints/", {"uri": uri, "step": 10, "metrics": {"loss": 2.5}, "size": 1}, format="json"
    )
    assert response.status_code == 201, response.json()
    checkpoint = Checkpoint.objects.get()
    # Sizes come from the storage, not from the report; the eager finalize task measured them.
    assert (checkpoint.state, checkpoint.bytes, checkpoint.file_count) == ("complete", 1024, 2)
    assert len(checkpoint.sha256) == 64 and checkpoint.metrics == {"loss": 2.5}
    again = client.post("/api/v1/job-reports/checkpoints/", {"uri": uri, "step": 10}, format="json")
    assert again.status_code == 200 and again.json()["id"] == checkpoint.pk


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"uri": "file:///etc/", "step": 5}, 403, "uri"),
        ({"uri": "{prefix}../other/", "step": 5}, 400, "uri"),
        ({"uri": "{prefix}step-5/", "step": -1}, 400, "step"),
        ({"uri": "{prefix}step-5/", "step": "5"}, 400, "step"),
        ({"uri": "{prefix}step-5/", "step": 5, "metrics": {"loss": "low"}}, 400, "metrics"),
        ({"uri": "{prefix}step-5/", "step": 5, "metrics": {"loss": True}}, 400, "metrics"),
        ({"uri": "{prefix}step-5/", "step": 5, "metrics": {f"m{i}": 1 for i in range(65)}}, 400, "metrics"),
        ({"uri": "{prefix}step-5/", "step": 5, "metrics": {"bad name!": 1}}, 400, "metrics"),
        ({"uri": "{prefix}step-5/", "step": 5, "final": "yes"}, 400, "final"),
    ],
)
def test_bad_checkpoint_reports_are_refused_and_record_nothing(
    world: Any, disk: Any, body: dict[str, Any], status: int, field: str
) -> None:
    attempt = running(world)
    client = job_client(attempt)
    prefix = client.get("/api/v1/job-reports/context/").json()["checkpoint_uri"]
    sent = {key: (value.format(prefix=prefix) if isinstance(value, str) else value) for key, value in body.items()}
    response = client.post("/api/v1/job-reports/checkpoints/", sent, format="json")
    assert response.status_code == status, response.json()
    assert field in str(response.json())
    assert not Checkpoint.objects.exists()


def test_a_step_going_backwards_is_refused(world: Any, disk: Any) -> None:
    attempt = running(world)
    client = job_client(attempt)
    prefix = client.get("/api/v1/job-reports/context/").json()["checkpoint_uri"]
    assert (
        client.post(
            "/api/v1/job-reports/checkpoints/",
            {"uri": write_checkpoint(prefix, 20, {"a": b"1"}), "step": 20},
            format="json",
        ).status_code
        == 201
    )
    back = client.post(
        "/api/v1/job-reports/checkpoints/",
        {"uri": write_checkpoint(prefix, 10, {"a": b"1"}), "step": 10},
        format="json",
    )
    assert back.status_code == 400 and "backwards" in str(back.json())
    metrics = client.post(
        "/api/v1/job-reports/metrics/",
        {"points": [{"step": 5, "values": {"loss": 1}}, {"step": 4, "values": {"loss": 1}}]},
        format="json",
    )
    assert metrics.status_code == 400 and "backwards" in str(metrics.json())
    assert Checkpoint.objects.count() == 1 and not MetricPoint.objects.exists()


def test_a_job_token_reaches_only_its_own_job_and_ends_with_it(world: Any, disk: Any) -> None:
    mine, theirs = running(world), running(world, team=world.beta)
    client = job_client(mine)
    their_prefix = job_client(theirs).get("/api/v1/job-reports/context/").json()["checkpoint_uri"]
    their_uri = write_checkpoint(their_prefix, 1, {"w": b"secret"})
    assert (
        job_client(theirs)
        .post("/api/v1/job-reports/checkpoints/", {"uri": their_uri, "step": 1}, format="json")
        .status_code
        == 201
    )
    # Neither write nor read another job's checkpoints.
    assert (
        client.post("/api/v1/job-reports/checkpoints/", {"uri": their_uri, "step": 1}, format="json").status_code == 403
    )
    assert client.post("/api/v1/job-reports/downloads/", {"uri": their_uri}, format="json").status_code == 403
    # A job token is no API token: the rest of the API refuses it.
    assert client.get("/api/v1/jobs/").status_code == 403
    assert client.get(f"/api/v1/checkpoints/?job={theirs.job_id}").status_code == 403
    # A token for a job Paddock never ran (a valid MAC for an unknown attempt) is refused.
    import uuid

    unknown = APIClient()
    unknown.credentials(HTTP_AUTHORIZATION=f"Bearer {job_tokens.mint(uuid.uuid4())}")
    assert (
        unknown.post(
            "/api/v1/job-reports/metrics/", {"points": [{"step": 1, "values": {"x": 1}}]}, format="json"
        ).status_code
        == 401
    )
    # A forged or altered token is refused.
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Bearer pdj_{mine.pk.hex}.{'0' * 64}")
    assert forged.get("/api/v1/job-reports/context/").status_code == 401
    # When the job ends, so does its token.
    Job.objects.filter(pk=mine.job_id).update(state="succeeded")
    Attempt.objects.filter(pk=mine.pk).update(state="succeeded")
    ended = client.post(
        "/api/v1/job-reports/metrics/", {"points": [{"step": 1, "values": {"loss": 1.0}}]}, format="json"
    )
    assert ended.status_code == 401 and "expired" in str(ended.json())
    assert not MetricPoint.objects.exists()


def test_a_superseded_attempts_token_stops_working(world: Any, disk: Any) -> None:
    first = running(world)
    Attempt.objects.create(job=first.job, number=2, state="admitted")
    assert job_client(first).get("/api/v1/job-reports/context/").status_code == 401


def test_metrics_are_kept_and_charted_across_a_resume(world: Any, disk: Any) -> None:
    first = running(world)
    client = job_client(first)
    points = [{"step": step, "values": {"loss": 10.0 - step, "lr": 0.1}} for step in range(1, 11)]
    assert client.post("/api/v1/job-reports/metrics/", {"points": points}, format="json").json() == {"recorded": 20}
    Attempt.objects.filter(pk=first.pk).update(state="failed")
    from django.utils import timezone

    second = Attempt.objects.create(job=first.job, number=2, state="running", resume_step=6, started_at=timezone.now())
    resumed = [{"step": step, "values": {"loss": 100.0 + step}} for step in range(7, 9)]
    assert (
        job_client(second).post("/api/v1/job-reports/metrics/", {"points": resumed}, format="json").status_code == 201
    )
    series = {
        s["name"]: s
        for s in world.client(world.member).get(f"/api/v1/job-metrics/?job={first.job_id}").json()["series"]
    }
    # The first attempt's steps 7-10 were redone by the second: its points replace them.
    assert [p[0] for p in series["loss"]["points"]] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert series["loss"]["points"][-1] == [8, 108.0]
    assert series["lr"]["count"] == 6


def test_long_series_are_downsampled_in_a_fixed_number_of_queries(world: Any, disk: Any) -> None:
    attempt = running(world)
    MetricPoint.objects.bulk_create(
        MetricPoint(job=attempt.job, attempt=attempt, step=step, name=name, value=float(step))
        for step in range(5000)
        for name in ("loss", "tokens_per_second")
    )
    client = world.client(world.member)
    with CaptureQueriesContext(connection) as queries:
        body = client.get(f"/api/v1/job-metrics/?job={attempt.job_id}&max_points=100").json()
    loss = next(s for s in body["series"] if s["name"] == "loss")
    assert loss["downsampled"] and loss["count"] == 5000 and len(loss["points"]) == 100
    assert loss["points"][0] == [49, 24.5] and loss["points"][-1][0] == 4999
    assert len(queries) <= 12
    other = world.client(world.outsider).get(f"/api/v1/job-metrics/?job={attempt.job_id}")
    assert other.status_code == 404


def test_the_job_registers_its_result_with_its_lineage(world: Any, disk: Any) -> None:
    base_model = services.create_model(actor=world.member, team=world.alpha, name="tiny-llama")
    base = services.register_version(actor=world.member, model=base_model, uri=f"file://{disk.uri}/models/tiny/")
    attempt = running(world, name="tune")
    services.record_lineage(
        job=attempt.job, base_version=base, base_uri="", recipe="fine_tuning/lora", model_name="tiny-lora"
    )
    client = job_client(attempt)
    prefix = client.get("/api/v1/job-reports/context/").json()["checkpoint_uri"]
    uri = write_checkpoint(prefix, 12, {"adapter.bin": b"a" * 10})
    checkpoint = client.post(
        "/api/v1/job-reports/checkpoints/",
        {"uri": uri, "step": 12, "final": True, "metrics": {"loss": 0.5}},
        format="json",
    ).json()
    response = client.post(
        "/api/v1/job-reports/model-versions/", {"model": "tiny-lora", "checkpoint": checkpoint["id"]}, format="json"
    )
    assert response.status_code == 201, response.json()
    version = ModelVersion.objects.get(pk=response.json()["id"])
    assert (version.version, version.job_id, version.base_version_id, version.metrics) == (
        1,
        attempt.job_id,
        base.pk,
        {"loss": 0.5},
    )
    # Lineage, both ways: version -> checkpoint -> attempt -> job -> base; base -> derived jobs.
    user = world.client(world.member)
    walk = user.get(f"/api/v1/model-versions/{version.pk}/lineage/").json()
    assert walk["checkpoint"]["step"] == 12 and walk["attempt"]["number"] == 1
    assert walk["job"]["id"] == attempt.job_id and walk["base_model"]["version"]["model_name"] == "tiny-llama"
    back = user.get(f"/api/v1/model-versions/{base.pk}/lineage/").json()
    assert [job["id"] for job in back["derived_jobs"]] == [attempt.job_id]
    # Another job's checkpoint cannot be registered by this token.
    other = running(world, team=world.beta)
    assert (
        job_client(other)
        .post("/api/v1/job-reports/model-versions/", {"model": "x", "checkpoint": checkpoint["id"]}, format="json")
        .status_code
        == 403
    )


def test_the_models_list_names_versions_and_the_production_one(world: Any) -> None:
    model = services.create_model(actor=world.member, team=world.alpha, name="m")
    first = services.register_version(actor=world.member, model=model, uri="s3://b/m/1/")
    second = services.register_version(actor=world.member, model=model, uri="s3://b/m/2/")
    client = world.client(world.member)
    assert (
        client.post(f"/api/v1/model-versions/{first.pk}/promote/", {"stage": "production"}, format="json").status_code
        == 200
    )
    promoted = client.post(f"/api/v1/model-versions/{second.pk}/promote/", {"stage": "production"}, format="json")
    assert promoted.json()["stage"] == "production" and promoted.json()["promoted_by"] == "max"
    first.refresh_from_db()
    assert first.stage == "archived"  # one production version per model
    services.create_model(actor=world.member, team=world.alpha, name="n")
    with CaptureQueriesContext(connection) as queries:
        listing = client.get("/api/v1/models/").json()
    assert len(queries) <= 6  # no query per row
    row = next(item for item in listing["results"] if item["name"] == "m")
    assert row["versions"] == 2 and row["production_version"] == {"id": second.pk, "version": 2, "stage": "production"}
    assert world.client(world.viewer).post(f"/api/v1/model-versions/{first.pk}/archive/").status_code == 403
    assert world.client(world.outsider).get(f"/api/v1/model-versions/{first.pk}/").status_code == 404
    assert (
        client.post(f"/api/v1/model-versions/{first.pk}/promote/", {"stage": "bogus"}, format="json").status_code == 400
    )


def test_a_teams_own_checkpoint_storage_wins_over_its_organisations(world: Any, disk: Any, tmp_path: Path) -> None:
    from apps.checkpoints.models import TeamCheckpointSettings

    own = StorageBackendFactory(organisation=world.org, name="zz-team", kind="local", uri=str(tmp_path / "team"))
    TeamCheckpointSettings.objects.create(team=world.alpha, storage=own)
    attempt = running(world)
    body = job_client(attempt).get("/api/v1/job-reports/context/").json()
    assert body["checkpoint_uri"].startswith(f"file://{tmp_path}/team/teams/alpha/")
    other = running(world, team=world.beta)  # no setting: the organisation's first by name
    assert (
        job_client(other).get("/api/v1/job-reports/context/").json()["checkpoint_uri"].startswith(f"file://{disk.uri}/")
    )
