"""The jobs API above the port: submission, validation, tenancy, cancel, logs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.jobs.models import Job, JobEvent
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

GOOD = {"name": "hello", "team": "alpha", "entrypoint": "python -c 'print(42)'"}


def submit(client: Any, body: dict[str, Any] | None = None, **headers: str) -> Any:
    return client.post("/api/v1/jobs/", body if body is not None else GOOD, format="json", **headers)


def test_submit_records_a_pending_job_with_defaults(world: Any) -> None:
    response = submit(world.client(world.member))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "pending"
    assert body["team"] == "alpha"
    assert body["cluster"] == "gpu-a"  # the team's default cluster
    assert body["resources"] == {"cpus": 1.0, "gpus": 0.0, "accelerator_model": "", "memory_gb": 0.0}
    assert body["submitted_by"] == "max"
    job = Job.objects.get(pk=body["id"])
    assert list(job.events.values_list("kind", flat=True)) == ["submitted"]


def test_submit_with_every_field(world: Any) -> None:
    body = {
        **GOOD,
        "cluster": "gpu-a",
        "kind": "fine_tuning",
        "runtime_env": {"env_vars": {"LR": "0.1"}, "pip": ["requests==2.32.0"], "working_dir": "s3://bucket/code.zip"},
        "resources": {"cpus": 2, "gpus": 1, "accelerator_model": "H100", "memory_gb": 16},
        "max_retries": 2,
    }
    response = submit(world.client(world.member), body)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["kind"] == "fine_tuning"
    assert data["runtime_env"]["env_vars"] == {"LR": "0.1"}
    assert data["resources"] == {"cpus": 2.0, "gpus": 1.0, "accelerator_model": "H100", "memory_gb": 16.0}
    assert data["max_retries"] == 2


def test_a_declared_max_runtime_is_kept_and_shown(world: Any) -> None:
    client = world.client(world.member)
    body = submit(client, {**GOOD, "max_runtime_seconds": 30 * 24 * 3600}).json()
    assert body["max_runtime_seconds"] == 30 * 24 * 3600
    assert Job.objects.get(pk=body["id"]).max_runtime_seconds == 30 * 24 * 3600
    assert client.get(f"/api/v1/jobs/{body['id']}/").json()["max_runtime_seconds"] == 30 * 24 * 3600
    assert submit(client).json()["max_runtime_seconds"] is None  # none declared: no limit


def test_a_pending_job_shows_its_estimated_start_and_a_job_that_left_the_queue_does_not(world: Any) -> None:
    client = world.client(world.member)
    body = submit(client).json()
    assert (body["estimated_start_at"], body["estimate_confidence"], body["estimate_basis"]) == (None, "", "")
    when = timezone.now().replace(microsecond=0) + timedelta(minutes=10)
    basis = "after train-7 ends (declared max runtime)"
    Job.objects.filter(pk=body["id"]).update(estimated_start_at=when, estimate_confidence="high", estimate_basis=basis)
    expected = (when.isoformat().replace("+00:00", "Z"), "high", basis)
    detail = client.get(f"/api/v1/jobs/{body['id']}/").json()
    assert (detail["estimated_start_at"], detail["estimate_confidence"], detail["estimate_basis"]) == expected
    listed = client.get("/api/v1/jobs/").json()["results"][0]
    assert (listed["estimated_start_at"], listed["estimate_confidence"], listed["estimate_basis"]) == expected
    queued = client.get("/api/v1/queue/").json()["results"][0]
    assert (queued["estimated_start_at"], queued["estimate_confidence"], queued["estimate_basis"]) == expected
    Job.objects.filter(pk=body["id"]).update(state="running")  # a pass has not cleared it yet
    detail = client.get(f"/api/v1/jobs/{body['id']}/").json()
    assert (detail["estimated_start_at"], detail["estimate_confidence"], detail["estimate_basis"]) == (None, "", "")


def test_idempotency_key_returns_the_first_job(world: Any) -> None:
    client = world.client(world.member)
    first = submit(client, HTTP_IDEMPOTENCY_KEY="ci-run-7")
    second = submit(client, {**GOOD, "name": "changed"}, HTTP_IDEMPOTENCY_KEY="ci-run-7")
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert Job.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"team": "alpha", "entrypoint": "x"}, "name"),
        ({"name": "n", "team": "alpha"}, "entrypoint"),
        ({"name": "n", "entrypoint": "x"}, "team"),
        ({**GOOD, "entrypoint": 42}, "entrypoint"),
        ({**GOOD, "entrypoint": ["python", "x.py"]}, "entrypoint"),
        ({**GOOD, "name": ""}, "name"),
        ({**GOOD, "team": "nope"}, "team"),
        ({**GOOD, "team": "beta"}, "team"),  # exists, but the caller is not in it
        ({**GOOD, "cluster": "nope"}, "cluster"),
        ({**GOOD, "kind": "inference"}, "kind"),
        ({**GOOD, "resources": {"gpus": -1}}, "resources"),
        ({**GOOD, "resources": {"cpus": 1e9}}, "resources"),
        ({**GOOD, "resources": {"memory_gb": "lots"}}, "resources"),
        ({**GOOD, "resources": {"gpus": 1.5}}, "resources"),
        ({**GOOD, "resources": "big"}, "resources"),
        ({**GOOD, "runtime_env": {"env_vars": {"1BAD": "x"}}}, "runtime_env"),
        ({**GOOD, "runtime_env": {"conda": "env"}}, "runtime_env"),
        ({**GOOD, "max_retries": -1}, "max_retries"),
        ({**GOOD, "max_retries": 1000}, "max_retries"),
        ({**GOOD, "max_runtime_seconds": 0}, "max_runtime_seconds"),
        ({**GOOD, "max_runtime_seconds": -60}, "max_runtime_seconds"),
        ({**GOOD, "max_runtime_seconds": 30 * 24 * 3600 + 1}, "max_runtime_seconds"),
        ({**GOOD, "max_runtime_seconds": "2h"}, "max_runtime_seconds"),
    ],
)
def test_bad_input_is_a_400_with_field_errors_and_creates_nothing(world: Any, body: dict[str, Any], field: str) -> None:
    response = submit(world.client(world.member), body)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Job.objects.count() == 0
    assert JobEvent.objects.count() == 0


def test_malformed_json_is_a_400(world: Any) -> None:
    client = world.client(world.member)
    response = client.post("/api/v1/jobs/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()
    response = client.post("/api/v1/jobs/", data="[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert Job.objects.count() == 0


def test_no_token_is_401_and_bad_token_is_401(world: Any) -> None:
    assert client_for(None).get("/api/v1/jobs/").status_code == 401
    assert client_for("pdk_nothing.secret").get("/api/v1/jobs/").status_code == 401
    assert client_for("garbage").get("/api/v1/jobs/").status_code == 401


def test_another_teams_job_is_404_on_every_route(world: Any) -> None:
    job_id = submit(world.client(world.member)).json()["id"]
    other = world.client(world.outsider)
    assert other.get(f"/api/v1/jobs/{job_id}/").status_code == 404
    assert other.post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 404
    assert other.get(f"/api/v1/jobs/{job_id}/logs/").status_code == 404
    assert other.get(f"/api/v1/jobs/{job_id}/events/").status_code == 404
    assert other.post(f"/api/v1/jobs/{job_id}/reconcile/").status_code == 404
    assert other.get("/api/v1/jobs/").json()["count"] == 0
    assert Job.objects.get(pk=job_id).state == "pending"


def test_a_team_bound_token_sees_only_its_team(world: Any) -> None:
    from tests.factories import MembershipFactory

    MembershipFactory(team=world.beta, user=world.member, role="member")
    job_id = submit(world.client(world.member)).json()["id"]
    beta_only = world.client(world.member, team=world.beta)
    assert beta_only.get(f"/api/v1/jobs/{job_id}/").status_code == 404


def test_viewer_cannot_submit_or_cancel(world: Any) -> None:
    viewer = world.client(world.viewer)
    response = submit(viewer)
    assert response.status_code == 403
    assert Job.objects.count() == 0
    job_id = submit(world.client(world.member)).json()["id"]
    assert viewer.get(f"/api/v1/jobs/{job_id}/").status_code == 200
    assert viewer.post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 403
    assert Job.objects.get(pk=job_id).state == "pending"


def test_read_scope_token_cannot_write(world: Any) -> None:
    response = submit(world.client(world.member, scope="read"))
    assert response.status_code == 403
    assert Job.objects.count() == 0


def test_cancel_pending_then_again_is_409(world: Any) -> None:
    client = world.client(world.member)
    job_id = submit(client).json()["id"]
    response = client.post(f"/api/v1/jobs/{job_id}/cancel/")
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    again = client.post(f"/api/v1/jobs/{job_id}/cancel/")
    assert again.status_code == 409
    assert "already finished" in again.json()["detail"]


def test_list_filters_and_orders_newest_first(world: Any) -> None:
    client = world.client(world.member)
    ids = [
        submit(client, {**GOOD, "name": f"j{i}", "kind": kind}).json()["id"]
        for i, kind in enumerate(["batch", "training", "batch"])
    ]
    listed = client.get("/api/v1/jobs/").json()
    assert [j["id"] for j in listed["results"]] == list(reversed(ids))
    assert listed["count"] == 3
    training = client.get("/api/v1/jobs/?kind=training").json()
    assert [j["id"] for j in training["results"]] == [ids[1]]
    assert client.get("/api/v1/jobs/?state=running").json()["count"] == 0
    assert client.get("/api/v1/jobs/?state=pending&team=alpha&cluster=gpu-a").json()["count"] == 3
    assert client.get("/api/v1/jobs/?state=bogus").status_code == 400
    page = client.get("/api/v1/jobs/?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]


def test_logs_of_a_job_without_attempts(world: Any) -> None:
    client = world.client(world.member)
    job_id = submit(client).json()["id"]
    body = client.get(f"/api/v1/jobs/{job_id}/logs/?offset=0").json()
    assert body == {"attempt": None, "offset": 0, "next_offset": 0, "text": "", "complete": False}
    assert client.get(f"/api/v1/jobs/{job_id}/logs/?offset=-1").status_code == 400
    assert client.get(f"/api/v1/jobs/{job_id}/logs/?offset=abc").status_code == 400


@pytest.mark.parametrize(
    ("runtime_env", "key"),
    [
        pytest.param({"working_dir": "/var/lib/paddock"}, "working_dir", id="working_dir-data-dir"),
        pytest.param({"working_dir": "/proc/self"}, "working_dir", id="working_dir-proc"),
        pytest.param({"working_dir": "file:///etc"}, "working_dir", id="working_dir-file-url"),
        pytest.param({"working_dir": "gcs://_ray_pkg_0.zip"}, "working_dir", id="working_dir-ray-internal"),
        pytest.param({"py_modules": ["/srv/paddock/apps"]}, "py_modules", id="py_modules-path"),
        pytest.param({"pip": "/srv/requirements.txt"}, "pip", id="pip-string-is-a-file"),
        pytest.param({"pip": ["-r /srv/requirements.txt"]}, "pip", id="pip-r-file"),
        pytest.param({"pip": ["x @ file:///srv/x-1.0.whl"]}, "pip", id="pip-file-url"),
        pytest.param({"conda": "/srv/environment.yml"}, "conda", id="conda-file"),
        pytest.param({"env_vars": {f"V{i}": "x" for i in range(257)}}, "env_vars", id="env_vars-count"),
        pytest.param({"env_vars": {f"V{i}": "x" * 30_000 for i in range(3)}}, "env_vars", id="env_vars-size"),
        pytest.param({"env_vars": {"PADDOCK_PLACEMENT": "[]"}}, "env_vars", id="env_vars-reserved"),
    ],
)
def test_a_runtime_env_naming_the_control_planes_files_is_refused(
    world: Any, fake_backend: Any, runtime_env: dict[str, Any], key: str
) -> None:
    response = submit(world.client(world.member), {**GOOD, "runtime_env": runtime_env})

    assert response.status_code == 400, response.content
    assert list(response.json()["runtime_env"]) == [key]
    assert Job.objects.count() == 0
    assert fake_backend.list_remote_ids() == []


def test_a_local_working_dir_is_refused_with_what_to_do_instead(world: Any) -> None:
    response = submit(world.client(world.member), {**GOOD, "runtime_env": {"working_dir": "/var/lib/paddock"}})

    (message,) = response.json()["runtime_env"]["working_dir"]
    assert "paddock submit --workdir ." in message
