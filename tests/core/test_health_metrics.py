from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_is_liveness_only_and_never_calls_a_cluster(client: Any, world: Any, tarpit: Any) -> None:
    """A cluster that accepts connections and never answers made each /healthz take 10 s and
    16 anonymous calls slowed the whole API; liveness now reads only the database."""
    from tests.factories import ClusterFactory

    ClusterFactory(organisation=world.org, name="tarpit", address=tarpit.address)
    for _ in range(16):
        response = client.get("/healthz")
        assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert [c["name"] for c in body["checks"]] == ["database"]
    assert tarpit.connections == 0
    assert "tarpit" not in response.content.decode() and str(tarpit.port) not in response.content.decode()


def test_readyz_reports_the_broker_and_clusters_from_stored_state(client: Any, world: Any, tarpit: Any) -> None:
    from tests.factories import ClusterFactory

    ClusterFactory(organisation=world.org, name="tarpit", address=tarpit.address, state="unreachable")
    response = client.get("/readyz")
    body = response.json()
    names = {c["name"]: c for c in body["checks"]}
    assert response.status_code == 200 and body["status"] == "degraded"
    assert names["database"]["ok"] and names["broker"]["ok"]
    # Reported, not fatal; from what the control loops recorded, never by calling the cluster.
    assert names["clusters"]["ok"] is False and names["clusters"]["critical"] is False
    assert tarpit.connections == 0


def test_anonymous_callers_learn_no_cluster_names_or_addresses(client: Any, world: Any) -> None:
    text = client.get("/readyz").content.decode()
    assert world.cluster.name not in text and world.cluster.address not in text
    assert "1 of 1 clusters answering" in text or "0 of 1 clusters answering" in text


def test_members_see_their_own_organisations_clusters_only(world: Any) -> None:
    from tests.factories import ClusterFactory, OrganisationFactory

    ClusterFactory(organisation=OrganisationFactory(slug="rival"), name="rival-gpus")
    body = world.client(world.member, scope="read").get("/readyz").json()
    clusters = next(c for c in body["checks"] if c["name"] == "clusters")
    assert [item["name"] for item in clusters["items"]] == ["gpu-a"]
    assert "rival-gpus" not in str(body)


def test_metrics_exposes_jobs_by_state_dispatch_latency_and_reconcile_lag(client: Any, world: Any) -> None:
    from tests.factories import JobFactory

    JobFactory(team=world.alpha, cluster=world.cluster, state="running")
    text = client.get("/metrics").content.decode()
    assert 'paddock_jobs{state="running"} 1.0' in text
    assert 'paddock_jobs{state="pending"} 0.0' in text
    assert "paddock_dispatch_latency_seconds_bucket" in text
    assert 'paddock_reconcile_lag_seconds{cluster="gpu-a"}' in text


def test_unknown_api_route_is_a_json_404(client: Any) -> None:
    response = client.get("/api/v1/nothing-here/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
