"""Every write endpoint of the API × every role × the organisation that owns the target.

The endpoints come from the URL configuration itself: a new write endpoint without a row in
``EXPECTED`` fails ``test_every_write_endpoint_has_an_expectation``. Each cell runs in a
savepoint that is rolled back, so every caller meets the same world; a refused write (any
4xx) must leave every row of Paddock's tables as it was, and no cell may answer 5xx.

Roles: an organisation admin; an admin of the team that owns the target (for organisation-
owned targets: an admin of a team of that organisation); an admin of another team of the
same organisation; a member and a viewer of the owning team; an admin of another
organisation; staff; and the organisation admin's read-scoped token. "own" targets belong to
the organisation ``acme`` of the first six roles' teams, "other" targets to ``globex``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from apps.admission.pools import ensure_pools
from apps.costs.models import Budget, CpuPrice
from apps.inventory.models import AcceleratorModel
from apps.quotas.models import Cohort, Pool, PriorityClass, Quota, TeamPolicy
from tests.conftest import client_for, token_for
from tests.factories import (
    AcceleratorFactory,
    ClusterFactory,
    JobFactory,
    MembershipFactory,
    NetworkFabricFactory,
    NodeFactory,
    OrganisationAdminFactory,
    OrganisationFactory,
    PricePointFactory,
    StorageBackendFactory,
    TeamFactory,
    UserFactory,
)
from tests.inventory.test_cluster_api import kubeconfig

pytestmark = pytest.mark.django_db

ROLES = (
    "org_admin",
    "owning_team_admin",
    "other_team_admin",
    "member",
    "viewer",
    "foreign_org_admin",
    "staff",
    "read_token",
)
OWN, OTHER, GLOBAL = "own", "other", "global"
WRITE_METHODS = ("post", "put", "patch", "delete")
PASSWORD = "pw-for-tests-1"  # UserFactory's


# --- the world every cell meets ---------------------------------------------------------------
@dataclass
class Side:
    """One organisation's objects."""

    org: Any
    team: Any
    cluster: Any
    pool: Pool
    cpu_pool: Pool
    quota: Quota
    cohort: Cohort
    priority_class: PriorityClass
    team_policy: TeamPolicy  # of another team of the organisation (``team`` has none)
    fabric: Any
    storage: Any
    job: Any
    endpoint: Any  # stopped, with a retired and a ready revision and a token
    budget: Any  # of ``team``


@dataclass
class Matrix:
    own: Side
    other: Side
    users: dict[str, Any]
    price_point: Any
    accelerator_model: AcceleratorModel
    cpu_price: Any

    def side(self, where: str) -> Side:
        return self.own if where == OWN else self.other


def _side(slug: str, cluster_name: str, team_slug: str, model: AcceleratorModel) -> Side:
    org = OrganisationFactory(slug=slug)
    cluster = ClusterFactory(organisation=org, name=cluster_name)
    node = NodeFactory(cluster=cluster, hostname=f"{cluster_name}-1", cpus=64)
    for index in range(2):
        AcceleratorFactory(node=node, index=index, model=model)
    team = TeamFactory(organisation=org, slug=team_slug, default_cluster=cluster)
    ensure_pools()
    pool = Pool.objects.get(cluster=cluster, accelerator_model=model)
    cpu_pool = Pool.objects.get(cluster=cluster, accelerator_model__isnull=True)
    return Side(
        org=org,
        team=team,
        cluster=cluster,
        pool=pool,
        cpu_pool=cpu_pool,
        quota=Quota.objects.create(team=team, pool=pool, guaranteed=1),
        cohort=Cohort.objects.create(organisation=org, name=f"{slug}-cohort"),
        priority_class=PriorityClass.objects.create(organisation=org, name=f"{slug}-class", value=10),
        team_policy=TeamPolicy.objects.create(team=TeamFactory(organisation=org, slug=f"{team_slug}-ops")),
        fabric=NetworkFabricFactory(organisation=org, name=f"{slug}-fabric"),
        storage=StorageBackendFactory(organisation=org, name=f"{slug}-storage"),
        job=JobFactory(team=team, cluster=cluster, name=f"{slug}-job"),
        endpoint=_endpoint(team, cluster),
        budget=Budget.objects.create(team=team, name=f"{team_slug} monthly", amount=Decimal(1000)),
    )


def _endpoint(team: Any, cluster: Any) -> Any:
    from apps.serving.models import Endpoint as ServingEndpoint
    from apps.serving.models import EndpointToken, Revision

    endpoint = ServingEndpoint.objects.create(team=team, name="served", cluster=cluster, stopped=True, state="stopped")
    Revision.objects.create(endpoint=endpoint, number=1, model_uri="/models/a", state="retired", traffic_percent=0)
    Revision.objects.create(endpoint=endpoint, number=2, model_uri="/models/b", state="ready", traffic_percent=100)
    EndpointToken.objects.create(endpoint=endpoint, name="t", prefix="pde_x", token_hash=f"{team.slug}-hash")
    return endpoint


@pytest.fixture
def matrix(db: Any, fake_backend: Any) -> Matrix:
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    own = _side("acme", "gpu-a", "alpha", h100)
    other = _side("globex", "gpu-z", "zeta", h100)
    beta = TeamFactory(organisation=own.org, slug="beta", default_cluster=own.cluster)
    users = {name: UserFactory(username=name) for name in ("olga", "ada", "otto", "max", "vic", "zed", "stan")}
    OrganisationAdminFactory(organisation=own.org, user=users["olga"])
    MembershipFactory(team=own.team, user=users["ada"], role="admin")
    MembershipFactory(team=beta, user=users["otto"], role="admin")
    MembershipFactory(team=own.team, user=users["max"], role="member")
    MembershipFactory(team=own.team, user=users["vic"], role="viewer")
    MembershipFactory(team=other.team, user=users["zed"], role="admin")
    OrganisationAdminFactory(organisation=other.org, user=users["zed"])
    users["stan"].is_staff = True
    users["stan"].save()
    by_role = {
        "org_admin": users["olga"],
        "owning_team_admin": users["ada"],
        "other_team_admin": users["otto"],
        "member": users["max"],
        "viewer": users["vic"],
        "foreign_org_admin": users["zed"],
        "staff": users["stan"],
        "read_token": users["olga"],
    }
    cpu_price = CpuPrice.objects.create(
        price_per_cpu_hour=Decimal("0.04"), offer="matrix", valid_from=datetime(2026, 1, 1, tzinfo=UTC)
    )
    return Matrix(own, other, by_role, PricePointFactory(accelerator_model=h100), h100, cpu_price)


# --- what each endpoint is sent ---------------------------------------------------------------
Build = Callable[[Matrix, str, str], tuple[str, Any]]  # (matrix, where, role) -> (url, body)


@dataclass(frozen=True)
class Endpoint:
    build: Build
    expect: dict[str, dict[str, int]]  # where -> role -> status
    scope: str = "write"  # the scope of the callers' tokens
    session: bool = False  # callers sign in to the dashboard instead (read_token stays a token)
    build_writes: bool = False  # building the request creates rows (compare with after it)
    format: str = "json"  # "multipart" for file uploads
    # For an endpoint that answers 200 with an outcome per item (bulk actions): the status the
    # one item's outcome stands for, so a refusal in the body is checked like a refused status.
    status_of: Callable[[Any], int] | None = None


def _all(status: int, **overrides: int) -> dict[str, int]:
    return {role: overrides.get(role, status) for role in ROLES}


def org_owned(ok: int) -> dict[str, dict[str, int]]:
    """Change or delete an organisation's object: its admins and staff; 404 where it is unseen."""
    return {
        OWN: _all(403, org_admin=ok, staff=ok, foreign_org_admin=404),
        OTHER: _all(404, foreign_org_admin=ok, staff=ok, read_token=403),
    }


def org_owned_create() -> dict[str, dict[str, int]]:
    """Create in an organisation: its admins and staff. Someone who administers no organisation
    is refused before validation (403); an admin naming an organisation (or its team, pool) they
    cannot see names nothing (400)."""
    return {
        OWN: _all(403, org_admin=201, staff=201, foreign_org_admin=400),
        OTHER: _all(403, org_admin=400, foreign_org_admin=201, staff=201),
    }


def team_work(ok: int) -> dict[str, dict[str, int]]:
    """Act on a team's job: its admins and members; viewers may not; others do not see it."""
    return {
        OWN: _all(404, owning_team_admin=ok, member=ok, viewer=403, read_token=403),
        OTHER: _all(404, foreign_org_admin=ok, read_token=403),
    }


def staff_only(ok: int) -> dict[str, dict[str, int]]:
    return {GLOBAL: _all(403, staff=ok)}


def team_budget(ok: int) -> dict[str, dict[str, int]]:
    """A team's budget: changed by the organisation's admins and staff; seen (so 403) by the
    team's own members, unseen (404) by other teams, even of the same organisation."""
    return {
        OWN: _all(403, org_admin=ok, staff=ok, foreign_org_admin=404, other_team_admin=404),
        OTHER: _all(404, foreign_org_admin=ok, staff=ok, read_token=403),
    }


def _detail(prefix: str, attribute: str, body: Any = None) -> Build:
    def build(m: Matrix, where: str, role: str) -> tuple[str, Any]:
        target = getattr(m.side(where), attribute)
        key = target.name if attribute == "pool" else target.pk
        return f"/api/v1/{prefix}/{key}/", body

    return build


def _post(url: str, body: Callable[[Matrix, str], Any]) -> Build:
    return lambda m, where, role: (url, body(m, where))


def _agent_report(m: Matrix, where: str) -> dict[str, Any]:
    return {
        "cluster": m.side(where).cluster.name,
        "hostname": "matrix-host",
        "cpus": 8,
        "memory_bytes": 2**30,
        "labels": {},
        "driver_version": "",
        "cuda_version": "",
        "accelerators": [],
    }


def _code_zip() -> Any:
    import io
    import zipfile

    from django.core.files.uploadedfile import SimpleUploadedFile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.py", "print('matrix')\n")
    return SimpleUploadedFile("code.zip", buffer.getvalue(), content_type="application/zip")


def _own_token(m: Matrix, where: str, role: str) -> tuple[str, Any]:
    user = m.users[role]
    if where == OTHER:  # somebody else's token
        user = m.users["staff"] if user != m.users["staff"] else m.users["org_admin"]
    token = token_for(user)
    from apps.tenancy.models import ApiToken

    key_id = token.removeprefix("pdk_").split(".")[0]
    return f"/api/v1/tokens/{ApiToken.objects.get(key_id=key_id).pk}/revoke/", None


def _model(m: Matrix, where: str) -> Any:
    from apps.checkpoints.models import Model

    return Model.objects.get_or_create(team=m.side(where).team, name="matrix-model")[0]


def _version(m: Matrix, where: str) -> Any:
    from apps.checkpoints.models import ModelVersion

    return ModelVersion.objects.get_or_create(model=_model(m, where), version=1, defaults={"uri": "s3://m/v1/"})[0]


def _lora(m: Matrix, where: str, *, planner_model: bool = False) -> dict[str, Any]:
    parameters: dict[str, Any] = {"base_model": "/models/base", "dataset": "/data/train.jsonl", "steps": 10}
    if planner_model:
        parameters["planner_model"] = "llama-2-7b"
    body: dict[str, Any] = {"team": m.side(where).team.slug, "name": "matrix-lora", "parameters": parameters}
    if planner_model:
        body["resources"] = {"gpus": 1, "accelerator_model": "H100"}
    return body


SPEC = {
    "model": {
        "architecture": {
            "hidden": 1024,
            "layers": 8,
            "heads": 8,
            "kv_heads": 8,
            "intermediate": 2816,
            "vocab": 32000,
            "tied_embeddings": False,
            "mlp": "swiglu",
        }
    },
    "workload": {
        "mode": "full_finetune",
        "batch": 1,
        "seq": 512,
        "precision": "amp_bf16",
        "optimizer": "adamw",
        "activation_checkpointing": "none",
        "attention": "flash",
    },
    "hardware": {"accelerator": "H100", "gpus": 1},
}

EXPECTED: dict[tuple[str, str], Endpoint] = {
    # --- tenancy: anyone signs in and out; tokens are one's own, from a dashboard session ---
    ("auth-login", "post"): Endpoint(
        lambda m, where, role: ("/api/v1/auth/login/", {"username": m.users[role].username, "password": PASSWORD}),
        {GLOBAL: _all(200)},
    ),
    ("auth-logout", "post"): Endpoint(
        lambda m, where, role: ("/api/v1/auth/logout/", None), {GLOBAL: _all(204, read_token=403)}
    ),
    ("token-list", "post"): Endpoint(
        lambda m, where, role: ("/api/v1/tokens/", {"name": "matrix"}),
        {GLOBAL: _all(201, read_token=403)},
        session=True,
    ),
    ("token-revoke", "post"): Endpoint(
        _own_token,
        {OWN: _all(200, read_token=403), OTHER: _all(404, read_token=403)},
        session=True,
        build_writes=True,
    ),
    # --- inventory ----------------------------------------------------------------------------
    ("cluster-discover", "post"): Endpoint(
        lambda m, where, role: (f"/api/v1/clusters/{m.side(where).cluster.name}/discover/", None), org_owned(200)
    ),
    ("cluster-list", "post"): Endpoint(
        _post(
            "/api/v1/clusters/",
            lambda m, where: {
                "organisation": m.side(where).org.slug,
                "name": "new-cluster",
                "kind": "kubernetes",
                "kubeconfig": kubeconfig("https://127.0.0.1:6443"),
            },
        ),
        org_owned_create(),
    ),
    ("cluster-detail", "patch"): Endpoint(
        lambda m, where, role: (f"/api/v1/clusters/{m.side(where).cluster.name}/", {"trusted_network": True}),
        org_owned(200),
    ),
    ("accelerator-model-detail", "patch"): Endpoint(
        lambda m, where, role: (f"/api/v1/accelerator-models/{m.accelerator_model.pk}/", {"notes": "matrix"}),
        staff_only(200),
    ),
    ("network-fabric-list", "post"): Endpoint(
        _post(
            "/api/v1/network-fabrics/",
            lambda m, where: {
                "organisation": m.side(where).org.slug,
                "name": "new",
                "kind": "ethernet",
                "gbps_per_node": 100,
            },
        ),
        org_owned_create(),
    ),
    ("network-fabric-detail", "patch"): Endpoint(_detail("network-fabrics", "fabric", {"rdma": False}), org_owned(200)),
    ("network-fabric-detail", "delete"): Endpoint(_detail("network-fabrics", "fabric"), org_owned(204)),
    ("storage-backend-list", "post"): Endpoint(
        _post(
            "/api/v1/storage-backends/",
            lambda m, where: {
                "organisation": m.side(where).org.slug,
                "name": "new",
                "kind": "nfs",
                "uri": "/mnt/new",
                "purpose": "datasets",
            },
        ),
        org_owned_create(),
    ),
    ("storage-backend-detail", "patch"): Endpoint(
        _detail("storage-backends", "storage", {"capacity_bytes": 10**12}), org_owned(200)
    ),
    ("storage-backend-detail", "delete"): Endpoint(_detail("storage-backends", "storage"), org_owned(204)),
    # A host agent's report: an organisation admin's agent token. A cluster the caller cannot
    # see is a 400 on ``cluster`` (as a name that does not exist), never a 404 or 403.
    ("agent-report", "post"): Endpoint(
        _post("/api/v1/agent/reports/", _agent_report),
        {
            OWN: _all(403, org_admin=200, staff=200, foreign_org_admin=400),
            OTHER: _all(400, foreign_org_admin=200, staff=200, read_token=403),
        },
        scope="agent",
    ),
    # --- jobs: a team's work, by its admins and members ---------------------------------------
    ("job-list", "post"): Endpoint(
        _post(
            "/api/v1/jobs/", lambda m, where: {"name": "matrix", "team": m.side(where).team.slug, "entrypoint": "true"}
        ),
        {
            OWN: _all(400, owning_team_admin=201, member=201, viewer=403, read_token=403),
            OTHER: _all(400, foreign_org_admin=201, read_token=403),
        },
    ),
    ("package-list", "post"): Endpoint(
        _post("/api/v1/packages/", lambda m, where: {"team": m.side(where).team.slug, "file": _code_zip()}),
        {
            OWN: _all(400, owning_team_admin=201, member=201, viewer=403, read_token=403),
            OTHER: _all(400, foreign_org_admin=201, read_token=403),
        },
        format="multipart",
    ),
    ("job-cancel", "post"): Endpoint(
        lambda m, where, role: (f"/api/v1/jobs/{m.side(where).job.pk}/cancel/", None), team_work(200)
    ),
    # Bulk cancel answers 200 with an outcome per id: a job of a team one may not act on reads
    # "forbidden" or "not_found", counted here as the single cancel's 403 and 404.
    ("job-cancel-many", "post"): Endpoint(
        lambda m, where, role: ("/api/v1/jobs/cancel/", {"ids": [m.side(where).job.pk]}),
        team_work(200),
        status_of=lambda response: {"forbidden": 403, "not_found": 404}.get(
            response.json()["results"][0]["outcome"], 200
        ),
    ),
    ("job-reconcile", "post"): Endpoint(
        lambda m, where, role: (f"/api/v1/jobs/{m.side(where).job.pk}/reconcile/", None), team_work(200)
    ),
    # --- checkpoints and the model registry: a team's, by its admins and members -------------
    ("model-list", "post"): Endpoint(
        _post("/api/v1/models/", lambda m, where: {"team": m.side(where).team.slug, "name": "matrix"}),
        {
            OWN: _all(400, owning_team_admin=201, member=201, viewer=403, read_token=403),
            OTHER: _all(400, foreign_org_admin=201, read_token=403),
        },
    ),
    ("model-version-list", "post"): Endpoint(
        _post("/api/v1/model-versions/", lambda m, where: {"model": _model(m, where).pk, "uri": "s3://models/m/"}),
        {
            OWN: _all(400, owning_team_admin=201, member=201, viewer=403, read_token=403),
            OTHER: _all(400, foreign_org_admin=201, read_token=403),
        },
        build_writes=True,
    ),
    ("model-version-promote", "post"): Endpoint(
        lambda m, where, role: (f"/api/v1/model-versions/{_version(m, where).pk}/promote/", {"stage": "production"}),
        team_work(200),
        build_writes=True,
    ),
    ("model-version-archive", "post"): Endpoint(
        lambda m, where, role: (f"/api/v1/model-versions/{_version(m, where).pk}/archive/", None),
        team_work(200),
        build_writes=True,
    ),
    ("job-template-plan", "post"): Endpoint(
        _post("/api/v1/job-templates/lora/plan/", lambda m, where: _lora(m, where, planner_model=True)),
        {
            OWN: _all(400, owning_team_admin=200, member=200, viewer=200),
            OTHER: _all(400, foreign_org_admin=200),
        },
    ),
    ("job-template-submit", "post"): Endpoint(
        _post("/api/v1/job-templates/lora/submit/", lambda m, where: _lora(m, where)),
        {
            OWN: _all(400, owning_team_admin=201, member=201, viewer=403, read_token=403),
            OTHER: _all(400, foreign_org_admin=201, read_token=403),
        },
    ),
    # --- serving endpoints: a team's, by its admins and members ---------------------------------
    ("endpoint-list", "post"): Endpoint(
        _post(
            "/api/v1/endpoints/",
            lambda m, where: {"team": m.side(where).team.slug, "name": "matrix", "model_uri": "/models/m"},
        ),
        {
            OWN: _all(400, owning_team_admin=201, member=201, viewer=403, read_token=403),
            OTHER: _all(400, foreign_org_admin=201, read_token=403),
        },
    ),
    ("endpoint-detail", "patch"): Endpoint(
        lambda m, where, role: (f"/api/v1/endpoints/{m.side(where).endpoint.pk}/", {"target_ongoing_requests": 3}),
        team_work(200),
    ),
    ("endpoint-detail", "delete"): Endpoint(
        lambda m, where, role: (f"/api/v1/endpoints/{m.side(where).endpoint.pk}/", None), team_work(204)
    ),
    ("endpoint-stop", "post"): Endpoint(
        lambda m, where, role: (f"/api/v1/endpoints/{m.side(where).endpoint.pk}/stop/", None), team_work(200)
    ),
    ("endpoint-start", "post"): Endpoint(
        lambda m, where, role: (f"/api/v1/endpoints/{m.side(where).endpoint.pk}/start/", None), team_work(200)
    ),
    ("endpoint-rollback", "post"): Endpoint(
        lambda m, where, role: (f"/api/v1/endpoints/{m.side(where).endpoint.pk}/rollback/", None), team_work(200)
    ),
    ("endpoint-revisions", "post"): Endpoint(
        lambda m, where, role: (
            f"/api/v1/endpoints/{m.side(where).endpoint.pk}/revisions/",
            {"model_uri": "/models/c", "traffic_percent": 20},
        ),
        team_work(201),
    ),
    ("endpoint-promote", "post"): Endpoint(
        lambda m, where, role: (
            f"/api/v1/endpoints/{m.side(where).endpoint.pk}/revisions/"
            f"{m.side(where).endpoint.revisions.get(number=2).pk}/promote/",
            None,
        ),
        team_work(200),
    ),
    ("endpoint-tokens", "post"): Endpoint(
        lambda m, where, role: (f"/api/v1/endpoints/{m.side(where).endpoint.pk}/tokens/", {"name": "m"}),
        team_work(201),
    ),
    ("endpoint-revoke", "post"): Endpoint(
        lambda m, where, role: (
            f"/api/v1/endpoints/{m.side(where).endpoint.pk}/tokens/{m.side(where).endpoint.tokens.get().pk}/revoke/",
            None,
        ),
        team_work(200),
    ),
    # Not serving (stopped): the relay answers 409 to those who may use it.
    ("endpoint-try-it", "post"): Endpoint(
        lambda m, where, role: (f"/api/v1/endpoints/{m.side(where).endpoint.pk}/try/", {"prompt": "hi"}),
        team_work(409),
    ),
    # A computation that changes nothing, open to read tokens like the planner.
    ("endpoint-vllm-config", "post"): Endpoint(
        lambda m, where, role: (
            "/api/v1/endpoints/vllm-config/",
            {"model": {"name": "llama-3-8b"}, "accelerator": "H100", "max_position_embeddings": 8192},
        ),
        {GLOBAL: _all(200)},
    ),
    # A running job's own reports: only its job token (pdj_…) opens them; no API token does.
    **{
        (name, "post"): Endpoint(lambda m, where, role: (url, {}), {GLOBAL: _all(401)})
        for name, url in (
            ("job-report-metrics", "/api/v1/job-reports/metrics/"),
            ("job-report-uploads", "/api/v1/job-reports/checkpoint-uploads/"),
            ("job-report-checkpoints", "/api/v1/job-reports/checkpoints/"),
            ("job-report-downloads", "/api/v1/job-reports/downloads/"),
            ("job-report-versions", "/api/v1/job-reports/model-versions/"),
        )
    },
    # --- costs: the price list is staff's ----------------------------------------------------
    ("price-point-list", "post"): Endpoint(
        _post(
            "/api/v1/price-points/",
            lambda m, where: {
                "accelerator_model": m.accelerator_model.name,
                "pricing_class": "on_demand",
                "price_per_gpu_hour": "2.10",
                "currency": "USD",
                "offer": "matrix",
                "as_of": "2026-02-01",
                "source_url": "https://example.com/pricing",
            },
        ),
        staff_only(201),
    ),
    ("price-point-detail", "patch"): Endpoint(
        lambda m, where, role: (f"/api/v1/price-points/{m.price_point.pk}/", {"notes": "matrix"}), staff_only(200)
    ),
    ("price-point-detail", "delete"): Endpoint(
        lambda m, where, role: (f"/api/v1/price-points/{m.price_point.pk}/", None), staff_only(204)
    ),
    ("cpu-price-list", "post"): Endpoint(
        _post(
            "/api/v1/cpu-prices/",
            lambda m, where: {"price_per_cpu_hour": "0.05", "offer": "matrix", "valid_from": "2026-02-01T00:00:00Z"},
        ),
        staff_only(201),
    ),
    ("cpu-price-detail", "patch"): Endpoint(
        lambda m, where, role: (f"/api/v1/cpu-prices/{m.cpu_price.pk}/", {"notes": "matrix"}), staff_only(200)
    ),
    ("cpu-price-detail", "delete"): Endpoint(
        lambda m, where, role: (f"/api/v1/cpu-prices/{m.cpu_price.pk}/", None), staff_only(204)
    ),
    # --- budgets: set by the organisation's admins ---------------------------------------------
    ("budget-list", "post"): Endpoint(
        _post(
            "/api/v1/budgets/",
            lambda m, where: {"team": "beta" if where == OWN else m.other.team.slug, "name": "new", "amount": "500"},
        ),
        org_owned_create(),
    ),
    ("budget-detail", "patch"): Endpoint(_detail("budgets", "budget", {"amount": "2000"}), team_budget(200)),
    ("budget-detail", "delete"): Endpoint(_detail("budgets", "budget"), team_budget(204)),
    # --- planner: a computation that changes nothing, open to read tokens ---------------------
    ("planner-estimate", "post"): Endpoint(
        lambda m, where, role: ("/api/v1/planner/estimate/", SPEC), {GLOBAL: _all(200)}
    ),
    # --- quotas: an organisation's, by its admins ----------------------------------------------
    ("pool-detail", "patch"): Endpoint(_detail("pools", "pool", {"placement": "spread"}), org_owned(200)),
    ("quota-list", "post"): Endpoint(
        _post(
            "/api/v1/quotas/",
            lambda m, where: {
                "team": "beta" if where == OWN else m.other.team.slug,
                "pool": m.own.pool.name if where == OWN else m.other.cpu_pool.name,
                "guaranteed": 1,
            },
        ),
        org_owned_create(),
    ),
    ("quota-detail", "patch"): Endpoint(_detail("quotas", "quota", {"guaranteed": 0, "max": 0}), org_owned(200)),
    ("quota-detail", "delete"): Endpoint(_detail("quotas", "quota"), org_owned(204)),
    ("cohort-list", "post"): Endpoint(
        _post("/api/v1/cohorts/", lambda m, where: {"organisation": m.side(where).org.slug, "name": "new"}),
        org_owned_create(),
    ),
    ("cohort-detail", "patch"): Endpoint(_detail("cohorts", "cohort", {"description": "matrix"}), org_owned(200)),
    ("cohort-detail", "delete"): Endpoint(_detail("cohorts", "cohort"), org_owned(204)),
    ("team-policy-list", "post"): Endpoint(
        _post(
            "/api/v1/team-policies/",
            lambda m, where: {"team": m.side(where).team.slug, "within_team": "LowerPriority"},
        ),
        org_owned_create(),
    ),
    ("team-policy-detail", "patch"): Endpoint(
        _detail("team-policies", "team_policy", {"borrow_within_cohort": "LowerPriority"}), org_owned(200)
    ),
    ("team-policy-detail", "delete"): Endpoint(_detail("team-policies", "team_policy"), org_owned(204)),
    ("priority-class-list", "post"): Endpoint(
        _post(
            "/api/v1/priority-classes/",
            lambda m, where: {"organisation": m.side(where).org.slug, "name": "new", "value": 5},
        ),
        org_owned_create(),
    ),
    ("priority-class-detail", "patch"): Endpoint(
        _detail("priority-classes", "priority_class", {"value": 7}), org_owned(200)
    ),
    ("priority-class-detail", "delete"): Endpoint(_detail("priority-classes", "priority_class"), org_owned(204)),
}


# --- the write endpoints, as the URL configuration declares them ------------------------------
def _patterns(resolver: URLResolver, prefix: str = "") -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            found += _patterns(entry, prefix + str(entry.pattern))
        else:
            found.append((prefix + str(entry.pattern), entry))
    return found


def write_endpoints() -> set[tuple[str, str]]:
    """(URL name, method) of every API route that accepts a write method."""
    endpoints: set[tuple[str, str]] = set()
    for route, pattern in _patterns(get_resolver()):
        if not route.startswith("api/v1/"):
            continue
        view = pattern.callback
        cls = getattr(view, "cls", None)
        if cls is None:
            continue
        allowed = set(cls.http_method_names)
        actions = getattr(view, "actions", None)  # a viewset route: method -> action
        methods = actions.keys() if actions is not None else [m for m in WRITE_METHODS if hasattr(cls, m)]
        for method in methods:
            if method in WRITE_METHODS and method in allowed:
                assert pattern.name, f"API route {route} has no name"
                endpoints.add((pattern.name, method))
    return endpoints


def test_every_write_endpoint_has_an_expectation() -> None:
    declared = write_endpoints()
    missing = sorted(declared - set(EXPECTED))
    stale = sorted(set(EXPECTED) - declared)
    assert not missing, f"write endpoints without an expectation in the role matrix: {missing}"
    assert not stale, f"expectations for endpoints that no longer exist: {stale}"
    for key, endpoint in EXPECTED.items():
        for where, row in endpoint.expect.items():
            assert set(row) == set(ROLES), (key, where)


# --- running the cells ------------------------------------------------------------------------
WATCHED_APPS = {"tenancy", "inventory", "jobs", "quotas", "costs", "core"}
# Written by reads too (authentication notes a token's last use): not a change of anything.
IGNORED_FIELDS = {"tenancy.ApiToken": {"last_used_at"}}


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of Paddock's own tables (many-to-many tables included), in key order."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    for model in django_apps.get_models(include_auto_created=True):
        if model._meta.app_label not in WATCHED_APPS:
            continue
        ignored = IGNORED_FIELDS.get(model._meta.label, set())
        rows = model._default_manager.order_by("pk").values()
        state[model._meta.label] = [tuple((k, v) for k, v in sorted(row.items()) if k not in ignored) for row in rows]
    return state


def changed_tables(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(label for label in before if before[label] != after.get(label))


class _Undo(Exception):
    """Raised to roll back one cell's savepoint."""


def client_as(m: Matrix, role: str, endpoint: Endpoint) -> APIClient:
    user = m.users[role]
    if role == "read_token":
        return client_for(token_for(user, scope="read"))
    if endpoint.session:
        client = APIClient()
        client.force_login(user)
        return client
    return client_for(token_for(user, scope=endpoint.scope))


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=lambda key: f"{key[1].upper()} {key[0]}")
def test_each_role_gets_what_it_may_and_a_refusal_changes_nothing(matrix: Matrix, key: tuple[str, str]) -> None:
    endpoint = EXPECTED[key]
    method = key[1]
    clients = {role: client_as(matrix, role, endpoint) for role in ROLES}
    before = snapshot()
    got: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for where, row in endpoint.expect.items():
        got[where] = {}
        for role in ROLES:
            try:
                with transaction.atomic():
                    url, body = endpoint.build(matrix, where, role)
                    before_cell = snapshot() if endpoint.build_writes else before
                    response = getattr(clients[role], method)(url, body, format=endpoint.format)
                    status = response.status_code
                    if status == 200 and endpoint.status_of is not None:
                        status = endpoint.status_of(response)
                    got[where][role] = status
                    if status >= 500:
                        problems.append(f"{where} {role}: {status} {response.content[:200]!r}")
                    elif status >= 400:
                        changed = changed_tables(before_cell, snapshot())
                        if changed:
                            problems.append(f"{where} {role}: refused with {status} but changed {changed}")
                    raise _Undo
            except _Undo:
                pass
    expected = {where: dict(row) for where, row in endpoint.expect.items()}
    assert got == expected, f"{method.upper()} {key[0]}: got {got}"
    assert not problems, problems


def test_the_snapshot_sees_a_changed_row_and_a_new_link(matrix: Matrix) -> None:
    """The "changed nothing" check can fail: it sees a column and a many-to-many row change."""
    before = snapshot()
    Quota.objects.filter(pk=matrix.own.quota.pk).update(guaranteed=0, max=0)
    matrix.own.cluster.allowed_teams.add(matrix.own.team)
    assert changed_tables(before, snapshot()) == ["inventory.Cluster_allowed_teams", "quotas.Quota"]
