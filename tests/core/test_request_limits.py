"""Bad input never costs a 500, a debug page or unbounded work: JSON nesting and body size are
bounded, and what nobody handled still answers JSON (with an id the log shares)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path

from apps.core.api.parsers import json_depth
from tests.conftest import client_for, token_for

pytestmark = pytest.mark.django_db

PLANNER = "/api/v1/planner/estimate/"


def nested(depth: int, inner: str = "{}") -> str:
    """``depth`` levels of arrays, the innermost holding ``inner`` (itself one more level)."""
    return "[" * depth + inner + "]" * depth


def test_json_depth_counts_arrays_and_objects_but_not_brackets_in_strings() -> None:
    assert json_depth('"x"') == 0
    assert json_depth("[]") == 1
    assert json_depth('{"a": [1, {"b": "[[[[{{{"}], "c": {}}') == 3
    assert json_depth(r'["a \"[[[ still a string", ["b"]]') == 2
    assert json_depth(nested(10)) == 11
    # A million levels are measured in one flat pass: no RecursionError.
    assert json_depth(nested(1_000_000, "")) == 1_000_000


def test_deeply_nested_json_is_a_400_even_anonymously_and_with_debug_on(settings: Any) -> None:
    settings.DEBUG = True
    client = Client(raise_request_exception=False)
    response = client.post("/api/v1/auth/login/", nested(100_000), content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "deeper than 64 levels" in response.json()["detail"]


def test_nesting_up_to_the_limit_is_parsed_and_one_more_level_is_refused(world: Any) -> None:
    client = world.client(world.member, scope="read")
    at_limit = client.post(PLANNER, nested(63), content_type="application/json")
    assert at_limit.status_code == 400
    assert "JSON parse error" not in json.dumps(at_limit.json())  # the planner's own refusal
    over = client.post(PLANNER, nested(64), content_type="application/json")
    assert over.status_code == 400
    assert over.json()["detail"].startswith("JSON parse error")


def test_the_agent_endpoint_refuses_deep_nesting_too(world: Any) -> None:
    client = client_for(token_for(world.admin, scope="agent"))
    response = client.post("/api/v1/agent/reports/", nested(5_000), content_type="application/json")
    assert response.status_code == 400
    assert "deeper than 64 levels" in response.json()["detail"]


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_a_body_over_the_upload_limit_is_a_413(world: Any, settings: Any, content_type: str) -> None:
    settings.DEBUG = True
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limit == 2_621_440
    body = json.dumps([{"model": {"name": "x" * 1000}}] * (limit // 1000 + 1))
    if content_type != "application/json":
        body = "a=" + "x" * (limit + 1)
    response = world.client(world.member, scope="read").post(PLANNER, body, content_type=content_type)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert f"larger than {limit:,} bytes" in response.json()["detail"]


# --- what nobody handled -----------------------------------------------------------------


def exploding_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the secret database password is hunter2")


class ExplodingMiddleware:
    """Raises for one path, outside any view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/api/v1/explode-in-middleware/":
            raise KeyError("the secret database password is hunter2")
        return self.get_response(request)


urlpatterns = [
    path("api/v1/explode/", exploding_view),
    path("healthz-explode", exploding_view),
    path("jobs-explode", exploding_view),
    path("", include("controlplane.urls")),
]


@pytest.fixture
def exploding(settings: Any) -> Client:
    settings.DEBUG = True  # the case that matters: the debug page shows settings and source
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.ExplodingMiddleware"]
    return Client(raise_request_exception=False)


@pytest.mark.parametrize("url", ["/api/v1/explode/", "/healthz-explode", "/api/v1/explode-in-middleware/"])
def test_an_unhandled_exception_answers_json_with_an_error_id_that_the_log_holds(exploding: Client, url: str) -> None:
    with structlog.testing.capture_logs() as logs:
        response = exploding.get(url, HTTP_ACCEPT="text/html")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail", "error_id"} and body["detail"] == "Internal server error"
    assert "hunter2" not in response.content.decode()
    logged = [entry for entry in logs if entry.get("error_id") == body["error_id"]]
    assert logged and logged[0]["event"] == "core.unhandled_exception" and logged[0]["log_level"] == "error"
    assert logged[0]["exc_info"] is not None  # the traceback is in the log, under that id


def test_the_dashboard_and_admin_keep_djangos_own_error_handling(exploding: Client) -> None:
    response = exploding.get("/jobs-explode")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")  # not an API path: untouched


def test_api_404s_stay_json_with_debug_on(settings: Any) -> None:
    settings.DEBUG = True
    response = Client().get("/api/v1/no-such-thing/", HTTP_ACCEPT="text/html")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
