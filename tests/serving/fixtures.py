"""Serving tests on the suite's real Ray head: a tiny causal LM made here, real Serve apps,
real HTTP through the Serve proxy on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from apps.serving.models import Endpoint
from tests.conftest import client_for, token_for


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised Llama (nothing downloaded), the same one every run."""
    from paddock.recipes.tiny import make_tiny_llama

    return make_tiny_llama(tmp_path_factory.mktemp("serving") / "tiny-llama", hidden=64, layers=2, heads=4)


@pytest.fixture(scope="session")
def serve_cleanup(ray_head: Any) -> Iterator[None]:
    """Serving tests leave nothing on the shared head: every Serve app goes at the end."""
    yield
    headers = {"Authorization": f"Bearer {ray_head.auth_token}"} if ray_head.auth_token else {}
    requests.delete(f"{ray_head.address}/api/serve/applications/", headers=headers, timeout=30)


@pytest.fixture
def beat(live: Any) -> Iterator[None]:
    """What Celery beat does in production (``serving.reconcile_all`` every 10 s), every second
    here: the suite's worker runs no beat."""
    from apps.serving.services import request_reconcile

    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(1.0):
            request_reconcile(live.cluster.pk)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


@pytest.fixture
def serving(live: Any, tiny_model: Path, serve_cleanup: None, beat: None) -> Any:
    """The live world with the tiny model registered for team demo as tiny-llama v1."""
    live.client = client_for(token_for(live.member))
    model = live.client.post("/api/v1/models/", {"team": "demo", "name": "tiny-llama"}, format="json").json()
    version = live.client.post("/api/v1/model-versions/", {"model": model["id"], "uri": str(tiny_model)}, format="json")
    assert version.status_code == 201, version.json()
    live.version = version.json()["id"]
    live.model_path = tiny_model
    return live


def create_endpoint(world: Any, name: str = "chat", **fields: Any) -> dict[str, Any]:
    body = {"team": "demo", "name": name, "model_version": world.version, "cpus": 1, **fields}
    response = world.client.post("/api/v1/endpoints/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def wait_until(predicate: Callable[[], Any], timeout: float = 90, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def endpoint_in(endpoint_id: int, *states: str, timeout: float = 120) -> Endpoint:
    def check() -> Endpoint | None:
        row = Endpoint.objects.get(pk=endpoint_id)
        return row if row.state in states else None

    try:
        return wait_until(check, timeout, f"endpoint {endpoint_id} in {states}")
    except AssertionError:
        row = Endpoint.objects.get(pk=endpoint_id)
        events = list(row.events.order_by("created_at").values_list("kind", "message"))
        raise AssertionError(f"endpoint {endpoint_id} is {row.state} ({row.state_reason}); events: {events}") from None


def complete(url: str, token: str | None, prompt: str = "hello", **extra: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(
        f"{url}/v1/completions", json={"prompt": prompt, "max_tokens": 8, **extra}, headers=headers, timeout=60
    )


FLAKY_MODEL = '''
from pathlib import Path

from paddock.serving.causal_lm import CausalLM


class FlakyLM(CausalLM):
    """The built-in model, made to fail on demand: at load, or its health checks once a file exists."""

    def __init__(self, uri, *, sick_file="", fail_load=False, **config):
        if fail_load:
            raise RuntimeError("weights are corrupt: shard 3 of 4 has a bad checksum")
        super().__init__(uri, **config)
        self.sick_file = sick_file

    def check_health(self):
        if self.sick_file and Path(self.sick_file).exists():
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
'''


def flaky_package(world: Any) -> str:
    """A code package (uploaded like any job's) holding a model class that fails on demand."""
    import io
    import zipfile

    from django.core.files.uploadedfile import SimpleUploadedFile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("flaky.py", FLAKY_MODEL)
    response = world.client.post(
        "/api/v1/packages/",
        {"team": "demo", "file": SimpleUploadedFile("flaky.zip", buffer.getvalue())},
        format="multipart",
    )
    assert response.status_code in (200, 201), response.json()
    return str(response.json()["uri"])


def serve_config(ray_head: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ray_head.auth_token}"} if ray_head.auth_token else {}
    return dict(requests.get(f"{ray_head.address}/api/serve/applications/", headers=headers, timeout=10).json())


def put_serve_config(ray_head: Any, body: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {ray_head.auth_token}"} if ray_head.auth_token else {}
    response = requests.put(f"{ray_head.address}/api/serve/applications/", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
