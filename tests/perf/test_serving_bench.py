"""Benchmarks (``make bench``): what Paddock's serving path costs, on the suite's real Ray head.

1. Serving overhead: the same model app called through Paddock's endpoint (token check, OpenAI
   parsing, the weighted split, a handle call to the model) against the same app called directly
   on its own Serve route with no ingress; same process, same run, loopback; sequential and
   16-way concurrent requests, rounds interleaved. Bar: ratio ≤ 1.10 on p50 and throughput.
2. Time to first answer: ``POST /api/v1/endpoints/`` to the first successful completion (the
   queue, admission, the reconciler and Serve), against deploying the same app by hand with
   Serve's REST API and polling it; interleaved. Bar: ratio ≤ 1.3.

Figures and ratios only; nothing here asserts a time.
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from apps.serving.models import Endpoint
from tests.report import p95, table
from tests.serving.fixtures import create_endpoint, endpoint_in, wait_until

pytest.importorskip("torch")
pytestmark = [pytest.mark.ray, pytest.mark.worker]

# Two request sizes: the ingress's hop costs the same few milliseconds whatever the request,
# so its share shrinks as the model does more (a real LLM answer takes hundreds of ms).
TOKENS = (16, 64)
PROMPT = "The quick brown fox"
SEQUENTIAL = 100
CONCURRENT = 16
CONCURRENT_REQUESTS = 320
ROUNDS = 3
DEPLOY_ROUNDS = 3
OVERHEAD_BAR = 1.10
DEPLOY_BAR = 1.3
DIRECT = "bench-direct"


def _headers(ray_head: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {ray_head.auth_token}"} if ray_head.auth_token else {}


def _apps(ray_head: Any) -> dict[str, Any]:
    reply = requests.get(f"{ray_head.address}/api/serve/applications/", headers=_headers(ray_head), timeout=10).json()
    return dict(reply)


def _put_direct(ray_head: Any, endpoint: Endpoint | None, *, present: bool) -> None:
    """Serve's REST API by hand: the endpoint's own model app, as Paddock declared it (same args,
    replicas and runtime_env), on a route of its own with no ingress in front (Paddock's apps kept)."""
    import json

    reply = _apps(ray_head)
    apps = [
        app["deployed_app_config"]
        for name, app in reply["applications"].items()
        if name != DIRECT and app.get("deployed_app_config") and app["status"] != "DELETING"
    ]
    if present:
        assert endpoint is not None
        revision = endpoint.revisions.get()
        config = json.loads(json.dumps(reply["applications"][revision.app_name]["deployed_app_config"]))
        config["name"], config["route_prefix"] = DIRECT, f"/{DIRECT}"
        apps.append(config)
    port = reply["http_options"]["port"]
    body = {"http_options": {"host": "127.0.0.1", "port": port}, "applications": apps}
    response = requests.put(
        f"{ray_head.address}/api/serve/applications/", json=body, headers=_headers(ray_head), timeout=30
    )
    assert response.status_code == 200, response.text


def _timed(session: requests.Session, url: str, headers: dict[str, str], tokens: int) -> float:
    started = time.perf_counter()
    body = {"prompt": PROMPT, "max_tokens": tokens, "temperature": 0}
    response = session.post(f"{url}/v1/completions", json=body, headers=headers, timeout=60)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


def _sequential(url: str, headers: dict[str, str], tokens: int) -> tuple[list[float], float]:
    session = requests.Session()
    started = time.perf_counter()
    latencies = [_timed(session, url, headers, tokens) for _ in range(SEQUENTIAL)]
    return latencies, SEQUENTIAL / (time.perf_counter() - started)


def _concurrent(url: str, headers: dict[str, str], tokens: int) -> tuple[list[float], float]:
    local = threading.local()

    def one(_: int) -> float:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return _timed(local.session, url, headers, tokens)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        latencies = list(pool.map(one, range(CONCURRENT_REQUESTS)))
    return latencies, CONCURRENT_REQUESTS / (time.perf_counter() - started)


def _wait_answer(url: str, headers: dict[str, str], timeout: float = 180) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = {"prompt": PROMPT, "max_tokens": 1}
            if requests.post(f"{url}/v1/completions", json=body, headers=headers, timeout=10).status_code == 200:
                return time.monotonic()
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise AssertionError(f"no answer from {url} within {timeout} s")


def test_serving_overhead_through_paddocks_ingress(serving: Any, ray_head: Any) -> None:
    created = create_endpoint(serving, "bench")
    endpoint = endpoint_in(created["id"], "ready")
    paddock_headers = {"Authorization": f"Bearer {created['token']['token']}"}
    _put_direct(ray_head, endpoint, present=True)
    port = _apps(ray_head)["http_options"]["port"]
    direct_url = f"http://127.0.0.1:{port}/{DIRECT}"
    _wait_answer(direct_url, {})
    _wait_answer(endpoint.url, paddock_headers)
    for url, headers in ((direct_url, {}), (endpoint.url, paddock_headers)):  # warm both
        _sequential(url, headers, 16)

    def ms(values: list[float]) -> tuple[float, float]:
        return statistics.median(values) * 1000, p95(values) * 1000

    rows: list[tuple[str, ...]] = [
        ("tokens", "path", "seq p50 ms", "seq p95 ms", "seq req/s", "16-way p50 ms", "16-way p95 ms", "16-way req/s")
    ]
    for tokens in TOKENS:
        figures: dict[str, dict[str, list[float]]] = {
            name: {"seq": [], "seq_rate": [], "conc": [], "conc_rate": []} for name in ("direct", "paddock")
        }
        for _ in range(ROUNDS):
            for name, url, headers in (("direct", direct_url, {}), ("paddock", endpoint.url, paddock_headers)):
                latencies, rate = _sequential(url, headers, tokens)
                figures[name]["seq"].extend(latencies)
                figures[name]["seq_rate"].append(rate)
                latencies, rate = _concurrent(url, headers, tokens)
                figures[name]["conc"].extend(latencies)
                figures[name]["conc_rate"].append(rate)
        summary: dict[str, tuple[float, ...]] = {}
        for name, label in (("direct", "Serve app on its own route"), ("paddock", "Paddock endpoint")):
            f = figures[name]
            summary[name] = (
                *ms(f["seq"]),
                statistics.median(f["seq_rate"]),
                *ms(f["conc"]),
                statistics.median(f["conc_rate"]),
            )
            rows.append((str(tokens), label, *(f"{x:.1f}" for x in summary[name])))
        d, p = summary["direct"], summary["paddock"]
        rows.append(
            (
                str(tokens),
                f"ratio Paddock / direct (bar ≤ {OVERHEAD_BAR}; req/s: direct / Paddock)",
                f"{p[0] / d[0]:.3f}",
                f"{p[1] / d[1]:.3f}",
                f"{d[2] / p[2]:.3f}",
                f"{p[3] / d[3]:.3f}",
                f"{p[4] / d[4]:.3f}",
                f"{d[5] / p[5]:.3f}",
            )
        )
    _put_direct(ray_head, None, present=False)
    table(
        f"Serving overhead: tiny Llama on CPU, /v1/completions greedy, one model replica each, loopback; {ROUNDS} "
        f"interleaved rounds of {SEQUENTIAL} sequential and {CONCURRENT_REQUESTS} {CONCURRENT}-way concurrent requests "
        "per size",
        rows,
    )


def _gone(ray_head: Any, prefix: str) -> None:
    deadline = time.monotonic() + 60
    while (
        any(name.startswith(prefix) for name in _apps(ray_head).get("applications", {})) and time.monotonic() < deadline
    ):
        time.sleep(0.2)


def _by_hand(ray_head: Any, configs: list[dict[str, Any]], *, present: bool) -> None:
    """Serve's REST API by hand: PUT the very apps Paddock deployed (renamed), or take them away."""
    reply = _apps(ray_head)
    apps = [
        app["deployed_app_config"]
        for name, app in reply["applications"].items()
        if not name.startswith("hand-") and app.get("deployed_app_config") and app["status"] != "DELETING"
    ]
    if present:
        apps.extend(configs)
    body = {"http_options": {"host": "127.0.0.1", "port": reply["http_options"]["port"]}, "applications": apps}
    response = requests.put(
        f"{ray_head.address}/api/serve/applications/", json=body, headers=_headers(ray_head), timeout=30
    )
    assert response.status_code == 200, response.text


def _renamed(ray_head: Any, endpoint: Endpoint) -> list[dict[str, Any]]:
    """The endpoint's two apps as Paddock declared them, under names and a route of their own."""
    import json

    revision = endpoint.revisions.get()
    applications = _apps(ray_head)["applications"]
    ingress = json.loads(json.dumps(applications[endpoint.app_name]["deployed_app_config"]))
    model = json.loads(json.dumps(applications[revision.app_name]["deployed_app_config"]))
    ingress["name"], ingress["route_prefix"] = "hand-ep", "/hand/chat"
    ingress["deployments"][0]["user_config"]["revisions"][0]["app"] = "hand-rev"
    model["name"] = "hand-rev"
    return [ingress, model]


def test_time_from_create_to_first_answer(serving: Any, ray_head: Any) -> None:
    paddock_times: list[float] = []
    hand_times: list[float] = []
    port = 0
    for round_number in range(DEPLOY_ROUNDS + 1):  # round 0 starts Serve itself and is not counted
        started = time.monotonic()
        created = create_endpoint(serving, f"first-{round_number}")
        headers = {"Authorization": f"Bearer {created['token']['token']}"}
        url = wait_until(lambda: Endpoint.objects.get(pk=created["id"]).url, 120, "the endpoint's URL")  # noqa: B023
        answered = _wait_answer(url, headers) - started
        endpoint = Endpoint.objects.get(pk=created["id"])
        configs = _renamed(ray_head, endpoint)
        port = int(_apps(ray_head)["http_options"]["port"])
        assert serving.client.delete(f"/api/v1/endpoints/{endpoint.pk}/").status_code == 204
        _gone(ray_head, "paddock-")

        started = time.monotonic()
        _by_hand(ray_head, configs, present=True)
        by_hand = _wait_answer(f"http://127.0.0.1:{port}/hand/chat", headers) - started
        _by_hand(ray_head, configs, present=False)
        _gone(ray_head, "hand-")
        if round_number:
            paddock_times.append(answered)
            hand_times.append(by_hand)
    paddock_median, hand_median = statistics.median(paddock_times), statistics.median(hand_times)
    table(
        f"Time to the first answer, {DEPLOY_ROUNDS} interleaved rounds after one that starts Serve (tiny Llama on "
        "CPU; each replica loads torch and the model)",
        [
            ("path", "median s", "min s", "max s"),
            (
                "Serve REST API by hand: PUT the same two apps, poll",
                f"{hand_median:.2f}",
                f"{min(hand_times):.2f}",
                f"{max(hand_times):.2f}",
            ),
            (
                "Paddock: POST /endpoints/ (queue, admission, reconciler, Serve)",
                f"{paddock_median:.2f}",
                f"{min(paddock_times):.2f}",
                f"{max(paddock_times):.2f}",
            ),
            (f"ratio Paddock / by hand (bar ≤ {DEPLOY_BAR})", f"{paddock_median / hand_median:.3f}", "", ""),
        ],
    )
