"""Fixtures shared by the whole suite: tenants, tokens, API clients, tasks, backends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.tenancy import services as tenancy_services
from tests.factories import (
    ClusterFactory,
    MembershipFactory,
    OrganisationAdminFactory,
    OrganisationFactory,
    TeamFactory,
    UserFactory,
)

# The session's real Ray head (``ray_head``), shared by dispatch, integration and browser tests.
pytest_plugins = ["tests.raycluster", "tests.tarpit", "tests.brokers", "tests.embedded", "tests.serving.fixtures"]


@pytest.fixture(autouse=True)
def eager_tasks(settings: Any) -> Iterator[None]:
    """Unit tests run tasks in-process; integration tests switch to a real worker."""
    from apps.dispatch.registry import reset_breakers
    from controlplane.celery import app

    reset_breakers()  # a cluster an earlier test silenced is not left alone in this one
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed, tests only
    settings.PADDOCK_WATCH_SECONDS = 0
    settings.PADDOCK_WATCH_SLICE = 0
    yield
    app.conf.task_always_eager = False


def token_for(user: Any, *, team: Any = None, scope: str = "write") -> str:
    return tenancy_services.create_token(actor=user, user=user, name="test", scope=scope, team=team).plaintext


def client_for(token: str | None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@dataclass
class World:
    """Two teams in one organisation, each user with one role, and a cluster.

    ``admin`` is an admin of team alpha only; ``org_admin`` is an admin of the organisation and
    of no team (organisation writes need the organisation role, not a team's)."""

    org: Any
    alpha: Any
    beta: Any
    cluster: Any
    admin: Any
    member: Any
    viewer: Any
    outsider: Any
    org_admin: Any

    def client(self, user: Any, *, scope: str = "write", team: Any = None) -> APIClient:
        return client_for(token_for(user, scope=scope, team=team))


@pytest.fixture
def world(db: Any) -> World:
    org = OrganisationFactory(slug="acme")
    cluster = ClusterFactory(organisation=org, name="gpu-a")
    alpha = TeamFactory(organisation=org, slug="alpha", default_cluster=cluster)
    beta = TeamFactory(organisation=org, slug="beta", default_cluster=cluster)
    admin, member, viewer, outsider = (UserFactory(username=n) for n in ("ada", "max", "vic", "otto"))
    MembershipFactory(team=alpha, user=admin, role="admin")
    MembershipFactory(team=alpha, user=member, role="member")
    MembershipFactory(team=alpha, user=viewer, role="viewer")
    MembershipFactory(team=beta, user=outsider, role="admin")
    org_admin = OrganisationAdminFactory(organisation=org, user=UserFactory(username="olga")).user
    return World(org, alpha, beta, cluster, admin, member, viewer, outsider, org_admin)


@pytest.fixture
def fake_backend() -> Iterator[Any]:
    """A fake cluster above the port (4 CPUs, 2 GPUs) for unit tests of the logic."""
    from apps.dispatch.backends.fake import FakeBackend
    from apps.dispatch.port import Resources
    from apps.dispatch.registry import override_backend

    backend = FakeBackend(total=Resources(cpus=4, gpus=2, memory_bytes=64 * 2**30))
    with override_backend(backend):
        yield backend


# --- real services: a Celery worker process (and the Ray head, see tests/dispatch) --------
ARTIFACTS = __import__("pathlib").Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="session")
def test_database_name(django_db_setup: Any) -> str:
    from django.db import connection

    return str(connection.settings_dict["NAME"])


@pytest.fixture(scope="session")
def celery_worker_process(test_database_name: str) -> Iterator[Any]:
    """One real ``celery worker`` process for the session, on Redis and the test database."""
    import redis
    from django.conf import settings

    from tests.integration.workers import WorkerProcess, worker_env

    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # a clean queue: db 1 is the suite's own
    worker = WorkerProcess(worker_env(test_database_name), name="suite", log_dir=ARTIFACTS)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def live(transactional_db: Any, celery_worker_process: Any, ray_head: Any) -> Iterator[Any]:
    """Committed data, tasks sent to the real worker, a cluster on the real Ray head."""
    from controlplane.celery import app

    app.conf.task_always_eager = False
    from apps.core.tasks import SCHEDULE_QUEUED, started

    started(SCHEDULE_QUEUED)  # a wake-up an earlier test queued elsewhere must not hold this one's
    org = OrganisationFactory(slug="live")
    cluster = ClusterFactory(organisation=org, name="local", address=ray_head.address)
    if ray_head.auth_token:  # the test head requires Ray's token auth: exercise the encrypted token
        cluster.set_auth_token(ray_head.auth_token)
        cluster.save()
    team = TeamFactory(organisation=org, slug="demo", default_cluster=cluster)
    other = TeamFactory(organisation=org, slug="other", default_cluster=cluster)
    user = UserFactory(username="runner")
    MembershipFactory(team=team, user=user, role="member")
    yield World(org, team, other, cluster, user, user, user, user, user)
    wait_for_idle_worker(app)
    app.conf.task_always_eager = True


def wait_for_idle_worker(app: Any, timeout: float = 20) -> None:
    """Let the worker finish what the test set going (a job's end wakes the scheduler, which
    writes) before the test database is flushed: a TRUNCATE racing a pass deadlocks."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline and quiet < 3:
        inspect = app.control.inspect(timeout=0.5)
        busy = any((inspect.active() or {}).values()) or any((inspect.reserved() or {}).values())
        quiet = 0 if busy else quiet + 1
        time.sleep(0.1)


@pytest.fixture
def catalog(db: Any) -> None:
    """The seeded accelerator catalog, also in transactional tests (their flush empties it)."""
    from apps.inventory.catalog_seed import ACCELERATORS
    from apps.inventory.models import AcceleratorModel

    existing = set(AcceleratorModel.objects.values_list("name", flat=True))
    AcceleratorModel.objects.bulk_create(
        [AcceleratorModel(**row) for row in ACCELERATORS if row["name"] not in existing]
    )


from tests.s3 import s3_bucket, s3_server  # noqa: E402, F401  (the suite's S3 server fixtures)
