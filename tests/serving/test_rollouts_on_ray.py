"""Scaling, drift, canaries, promotion, rollback and health on the real Ray head."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.jobs.models import Job
from apps.serving import reconcile, services
from apps.serving.models import Endpoint, Revision
from tests.serving.fixtures import (
    complete,
    create_endpoint,
    endpoint_in,
    flaky_package,
    put_serve_config,
    serve_config,
    wait_until,
)

pytestmark = [pytest.mark.ray, pytest.mark.worker]


def _model_app(ray_head: Any, endpoint: Endpoint) -> dict[str, Any]:
    revision = endpoint.revisions.filter(traffic_percent__gt=0).get()
    return dict(serve_config(ray_head)["applications"][revision.app_name])


def _replicas(ray_head: Any, endpoint: Endpoint) -> int:
    app = _model_app(ray_head, endpoint)
    return sum(1 for r in app["deployments"]["Model"]["replicas"] if r["state"] == "RUNNING")


def test_scaling_reaches_serve_and_drift_is_put_back_and_a_quiet_pass_writes_nothing(
    serving: Any, ray_head: Any
) -> None:
    created = create_endpoint(serving, "scaled")
    endpoint = endpoint_in(created["id"], "ready")
    assert _replicas(ray_head, endpoint) == 1

    changed = serving.client.patch(
        f"/api/v1/endpoints/{endpoint.pk}/", {"min_replicas": 2, "max_replicas": 2}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    wait_until(lambda: _replicas(ray_head, endpoint) == 2, 60, "2 replicas running in Serve")
    wait_until(lambda: Endpoint.objects.get(pk=endpoint.pk).replicas_running == 2, 30, "Paddock to see 2 replicas")
    assert Job.objects.get(pk=Endpoint.objects.get(pk=endpoint.pk).job_id).cpus == 2  # it holds 2 replicas' worth

    autoscaled = serving.client.patch(
        f"/api/v1/endpoints/{endpoint.pk}/", {"min_replicas": 1, "target_ongoing_requests": 3}, format="json"
    )
    assert autoscaled.status_code == 200
    config = wait_until(
        lambda: _model_app(ray_head, endpoint)["deployed_app_config"]["deployments"][0].get("autoscaling_config"),
        30,
        "the autoscaling config in Serve",
    )
    assert config["min_replicas"] == 1 and config["max_replicas"] == 2 and config["target_ongoing_requests"] == 3

    # Rescaled behind Paddock's back: the next pass puts Paddock's config back and says so.
    endpoint = endpoint_in(endpoint.pk, "ready")
    body = serve_config(ray_head)
    apps = [app["deployed_app_config"] for app in body["applications"].values()]
    for app in apps:
        for deployment in app["deployments"]:
            if deployment["name"] == "Model":
                deployment.pop("autoscaling_config", None)
                deployment["num_replicas"] = 1
    put_serve_config(
        ray_head, {"http_options": {"host": "127.0.0.1", "port": body["http_options"]["port"]}, "applications": apps}
    )
    services.request_reconcile(endpoint.cluster_id)  # what the periodic pass (beat, every 10 s) asks for
    wait_until(lambda: endpoint.events.filter(kind="restored").count() == 1, 30, "the restored event")
    deployment = _model_app(ray_head, endpoint)["deployed_app_config"]["deployments"][0]
    assert deployment["autoscaling_config"]["max_replicas"] == 2 and "num_replicas" not in deployment

    # Deleted behind its back: put back too.
    put_serve_config(
        ray_head, {"http_options": {"host": "127.0.0.1", "port": body["http_options"]["port"]}, "applications": []}
    )
    services.request_reconcile(endpoint.cluster_id)
    wait_until(lambda: endpoint.events.filter(kind="restored").count() == 2, 30, "the second restored event")
    endpoint_in(endpoint.pk, "ready")
    wait_until(lambda: complete(endpoint.url, created["token"]["token"]).status_code == 200, 60, "serving again")

    # Level-triggered: with nothing new, a pass neither writes to Serve nor to the database.
    wait_until(lambda: not reconcile.reconcile_cluster(endpoint.cluster_id).written, 30, "a pass that writes nothing")
    with CaptureQueriesContext(connection) as queries:
        run = reconcile.reconcile_cluster(endpoint.cluster_id)
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert not run.written and run.db_writes == 0 and writes == [], (run.as_dict(), writes)


def _send(url: str, token: str, count: int) -> list[int]:
    return [complete(url, token, max_tokens=1).status_code for _ in range(count)]


def test_a_canary_gets_its_share_and_promotion_and_rollback_lose_no_request(serving: Any, ray_head: Any) -> None:
    created = create_endpoint(serving, "canary")
    token = created["token"]["token"]
    endpoint = endpoint_in(created["id"], "ready")
    canary = serving.client.post(
        f"/api/v1/endpoints/{endpoint.pk}/revisions/",
        {"model_version": serving.version, "traffic_percent": 20, "config": {"max_new_tokens_limit": 512}},
        format="json",
    )
    assert canary.status_code == 201, canary.json()
    second = canary.json()["id"]
    wait_until(lambda: Revision.objects.get(pk=second).traffic_percent == 20, 90, "the canary to take 20 %")
    first_id = Revision.objects.get(endpoint=endpoint, number=1).pk
    wanted = {str(first_id): 80, str(second): 20}
    wait_until(lambda: reconcile.read_stats(endpoint, since=0.0)["weights"] == wanted, 30, "the ingress to hold 80/20")  # type: ignore[index]

    before = reconcile.read_stats(endpoint, since=0.0)["by_revision"]  # type: ignore[index]
    assert set(_send(endpoint.url, token, 300)) == {200}
    after = reconcile.read_stats(endpoint, since=0.0)["by_revision"]  # type: ignore[index]
    got = after[str(second)]["requests"] - before.get(str(second), {}).get("requests", 0)
    # The split is by smooth weighted round-robin: 20 of every 100, so 60 of 300 (±2 at the edges).
    assert abs(got - 60) <= 2, (got, before, after)

    # Promote while requests flow: none fails, and the first revision drains and goes.
    failures: list[int] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            failures.extend(code for code in _send(endpoint.url, token, 1) if code != 200)

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        first = Revision.objects.get(endpoint=endpoint, number=1)
        promoted = serving.client.post(f"/api/v1/endpoints/{endpoint.pk}/revisions/{second}/promote/")
        assert promoted.status_code == 200, promoted.json()
        wait_until(lambda: Revision.objects.get(pk=first.pk).state == "retired", 60, "revision 1 retired")
        wait_until(lambda: first.app_name not in serve_config(ray_head)["applications"], 60, "revision 1's app gone")

        # A third revision as a canary, rolled back by hand: revision 2 keeps everything.
        third = serving.client.post(
            f"/api/v1/endpoints/{endpoint.pk}/revisions/",
            {"model_version": serving.version, "traffic_percent": 50},
            format="json",
        ).json()["id"]
        wait_until(lambda: Revision.objects.get(pk=third).traffic_percent == 50, 90, "the second canary at 50 %")
        rolled = serving.client.post(f"/api/v1/endpoints/{endpoint.pk}/rollback/")
        assert rolled.status_code == 200, rolled.json()
        assert {t["number"]: t["percent"] for t in rolled.json()["traffic"]} == {2: 100}
        wait_until(lambda: Revision.objects.get(pk=third).state == "retired", 60, "revision 3 retired")
        wait_until(lambda: f"paddock-rev-{third}" not in serve_config(ray_head)["applications"], 60, "its app gone")
    finally:
        stop.set()
        sender.join()
    assert failures == []


def test_failing_health_checks_degrade_then_fail_and_a_bad_revision_is_rolled_back(
    serving: Any, tmp_path: Path
) -> None:
    package = flaky_package(serving)
    sick = tmp_path / "sick"
    created = create_endpoint(
        serving,
        "flaky",
        model_version=None,
        model_uri=str(serving.model_path),
        entry_point="flaky:FlakyLM",
        runtime_env={"working_dir": package},
        config={"sick_file": str(sick)},
    )
    endpoint = endpoint_in(created["id"], "ready")
    job = endpoint.job_id

    # A new revision whose model cannot load: rolled back on its own; the endpoint stays ready.
    bad = serving.client.post(
        f"/api/v1/endpoints/{endpoint.pk}/revisions/",
        {"model_uri": str(serving.model_path), "entry_point": "flaky:FlakyLM", "config": {"fail_load": True}},
        format="json",
    )
    assert bad.status_code == 201, bad.json()
    revision = wait_until(
        lambda: Revision.objects.filter(pk=bad.json()["id"], state="failed").first(), 120, "the bad revision to fail"
    )
    assert "weights are corrupt" in revision.message
    assert endpoint.events.filter(kind="rolled_back").exists()
    assert Endpoint.objects.get(pk=endpoint.pk).state == "ready"
    assert complete(endpoint.url, created["token"]["token"]).status_code == 200

    # Its replicas fail their health checks: degraded at once, failed after a while, quota given back.
    sick.touch()
    degraded = endpoint_in(endpoint.pk, "degraded", "failed", timeout=60)
    failed = endpoint_in(endpoint.pk, "failed", timeout=60)
    assert "illegal memory access" in failed.state_reason, failed.state_reason
    assert degraded.state == "degraded" or endpoint.events.filter(kind="degraded").exists()
    assert Job.objects.get(pk=job).state == "failed"


def test_a_model_that_fails_to_load_fails_the_endpoint_with_the_loaders_message(serving: Any) -> None:
    package = flaky_package(serving)
    created = create_endpoint(
        serving,
        "broken",
        model_version=None,
        model_uri=str(serving.model_path),
        entry_point="flaky:FlakyLM",
        runtime_env={"working_dir": package},
        config={"fail_load": True},
    )
    failed = endpoint_in(created["id"], "failed", timeout=120)
    assert "weights are corrupt" in failed.state_reason
    job = Job.objects.get(pk=failed.job_id)  # failed in the same transaction: its quota is free
    assert job.state == "failed" and "weights are corrupt" in job.state_reason
    listed = serving.client.get("/api/v1/endpoints/?state=failed").json()["results"]
    assert [e["name"] for e in listed] == ["broken"]
    assert requests.get(failed.url + "/v1/models", timeout=5).status_code in (401, 404)
