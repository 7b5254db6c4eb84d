"""The fake Paddock with issue 12's serving endpoints (/work CONTRACT-12): endpoints, revisions,
tokens, the ``try`` relay, and the endpoints themselves under ``/serve/<team>/<name>/v1/``
speaking OpenAI with ``Bearer pde_…`` tokens.

``FakeServing(root).start()``, then fill ``endpoints`` with ``endpoint(...)`` dicts. What the
server was sent is kept in ``bodies`` (``(method, path, body)``) and ``headers_seen``. Replies are
``reply`` pieces; ``before_rest`` (a ``threading.Event``) makes a stream wait after its first
piece until the test sets it. ``progress[id]`` is a list of states the endpoint takes, one per GET.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlparse

from tests.paddock.fake_paddock import USER_TOKEN, FakePaddock

ENDPOINT_TOKEN = "pde_ab12.secretsecret"


def five_minutes_ago() -> str:
    """Five minutes before the moment of asking: "5 min ago" however long the suite has run."""
    return (datetime.now(UTC) - timedelta(minutes=5)).isoformat()


def endpoint(id: int, team: str, name: str, state: str = "ready", **fields: Any) -> dict[str, Any]:
    """An endpoint object as the contract has it; ``url`` is filled in by ``FakeServing.add``."""
    return {
        "id": id,
        "team": team,
        "name": name,
        "cluster": "local",
        "runtime": "ray-serve",
        "state": state,
        "state_reason": "",
        "url": "",
        "openai_base_url": "",
        "model_name": name,
        "source": {"model_version": 3, "model": "tiny-llama", "version": 1, "checkpoint": 7, "job": 5,
                   "uri": "/models/tiny", "entry_point": "paddock.serving.model:CausalLM"},
        "resources": {"cpus": 1.0, "gpus": 1.0, "accelerator_model": "H100", "memory_gb": 16.0},
        "replicas": {"min": 1, "max": 2, "running": 1, "target_ongoing_requests": 2.0, "scale_to_zero": False},
        "gpus_held": 1.0,
        "cpus_held": 2.0,
        "job": 41,
        "job_state": "running",
        "priority_class": "",
        "traffic": [{"revision": id * 10 + 1, "number": 1, "percent": 100, "state": "ready"}],
        "latest": {"at": five_minutes_ago(), "requests_per_s": 3.2, "p50_ms": 41.0, "p95_ms": 80.4, "p99_ms": 95.0,
                   "error_rate": 0.0, "tokens_per_s": 51.0, "replicas": 1},
        "cost": {"currency": "USD", "so_far": "3.11", "per_1k_requests": "0.0123", "per_1k_tokens": "0.0009",
                 "price_per_replica_hour": "2.49", "replica_hours": 1.25, "priced": True, "note": ""},
        "created_by": "alice",
        "created_at": five_minutes_ago(),
        "updated_at": five_minutes_ago(),
        **fields,
    }  # fmt: skip


def revision(id: int, number: int, *, state: str = "ready", traffic: int = 100, **fields: Any) -> dict[str, Any]:
    return {
        "id": id,
        "number": number,
        "state": state,
        "traffic_percent": traffic,
        "source": {"model_version": 3, "model": "tiny-llama", "version": number, "checkpoint": None, "job": None,
                   "uri": "/models/tiny", "entry_point": ""},
        "config": {},
        "message": "",
        "created_by": "alice",
        "created_at": five_minutes_ago(),
        "ready_at": five_minutes_ago(),
        "retired_at": None,
        **fields,
    }  # fmt: skip


class Stream:
    """An event-stream answer: these ``data:`` payloads, then ``[DONE]``."""

    def __init__(self, chunks: list[Any]) -> None:
        self.chunks = chunks


class FakeServing(FakePaddock):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.endpoints: list[dict[str, Any]] = []
        self.revisions: dict[int, list[dict[str, Any]]] = {}
        self.tokens: dict[int, list[dict[str, Any]]] = {}
        self.progress: dict[int, list[str]] = {}
        self.bodies: list[tuple[str, str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.reply = ["Hel", "lo", " wörld"]
        self.before_rest: threading.Event | None = None
        self.waited_for_client: bool | None = None
        self.page_size_cap = 500

    def start(self) -> FakeServing:
        super().start()
        assert self.server is not None
        # The base fake answers GET, POST and PUT; the endpoint API also takes PATCH and DELETE.
        handler: Any = self.server.RequestHandlerClass
        handler.do_PATCH = lambda h: self.handle(h, "PATCH")
        handler.do_DELETE = lambda h: self.handle(h, "DELETE")
        return self

    def add(self, *items: dict[str, Any]) -> None:
        for item in items:
            if item["state"] in ("ready", "degraded") and not item["url"]:
                item["url"] = f"{self.url}/serve/{item['team']}/{item['name']}"
                item["openai_base_url"] = f"{item['url']}/v1"
            self.endpoints.append(item)
            self.revisions.setdefault(item["id"], [revision(item["id"] * 10 + 1, 1)])
            self.tokens.setdefault(item["id"], [])

    def find(self, endpoint_id: int) -> dict[str, Any] | None:
        return next((item for item in self.endpoints if item["id"] == endpoint_id), None)

    # --- transport ---------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = urlparse(h.path).path
        self.headers_seen.append(dict(h.headers.items()))
        if path.startswith("/serve/"):
            length = int(h.headers.get("Content-Length") or 0)
            raw = h.rfile.read(length) if length else b""
            return self.serve(h, method, path, json.loads(raw) if raw else None)
        return super().handle(h, method)

    def send(self, h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, Stream):
            return self.stream(h, body)
        if status == 204:
            h.send_response(204)
            h.end_headers()
            return None
        return super().send(h, status, body, headers)

    def stream(self, h: BaseHTTPRequestHandler, body: Stream) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")  # no charset: the client must not guess Latin-1
        h.send_header("Connection", "close")
        h.end_headers()
        for index, chunk in enumerate([*body.chunks, "[DONE]"]):
            payload = chunk if isinstance(chunk, str) else json.dumps(chunk)
            h.wfile.write(f"data: {payload}\n\n".encode())
            h.wfile.flush()
            if index == 0 and self.before_rest is not None:
                self.waited_for_client = self.before_rest.wait(timeout=5)
        h.close_connection = True

    # --- the endpoints themselves --------------------------------------------------------------
    def serve(self, h: BaseHTTPRequestHandler, method: str, path: str, body: Any) -> None:
        self.bodies.append((method, path, body))
        if h.headers.get("Authorization") != f"Bearer {ENDPOINT_TOKEN}":
            return self.send(h, 401, {"error": {"message": "Invalid endpoint token.", "type": "auth"}})
        target = next((e for e in self.endpoints if path.startswith(f"/serve/{e['team']}/{e['name']}/v1/")), None)
        if target is None:
            return self.send(h, 404, {"error": {"message": "No such endpoint."}})
        if path.endswith("/models"):
            return self.send(h, 200, {"object": "list", "data": [{"id": target["model_name"], "object": "model"}]})
        if path.endswith("/chat/completions") and body.get("stream"):
            return self.send(h, 200, Stream([{"choices": [{"index": 0, "delta": {"content": p}}]} for p in self.reply]))
        return self.send(h, 400, {"error": {"message": "stream only in this fake"}})

    # --- the API --------------------------------------------------------------------------------
    def route_endpoints(self, method: str, route: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        self.bodies.append((method, route, body))
        parts = [p for p in route.split("/") if p][1:]
        if not parts:
            if method == "POST":
                return self.create(body)
            return 200, self.listing(query)
        target = self.find(int(parts[0]))
        if target is None:
            return 404, {"detail": "No Endpoint matches the given query."}
        endpoint_id = target["id"]
        action = parts[1:]
        if not action:
            if method == "GET":
                script = self.progress.get(endpoint_id)
                if script:
                    target["state"] = script.pop(0)
                    target["state_reason"] = {"failed": "CUDA out of memory while loading"}.get(target["state"], "")
                    if target["state"] == "ready":
                        target["url"] = f"{self.url}/serve/{target['team']}/{target['name']}"
                        target["openai_base_url"] = f"{target['url']}/v1"
                return 200, target
            if method == "PATCH":
                names = {"min_replicas": "min", "max_replicas": "max"}  # the rest keep their names
                target["replicas"].update({names.get(key, key): value for key, value in body.items()})
                return 200, target
            if method == "DELETE":
                self.endpoints.remove(target)
                return 204, None
        if action in (["stop"], ["start"]):
            target["state"] = "stopped" if action == ["stop"] else "pending"
            target["gpus_held"] = 0.0 if action == ["stop"] else target["gpus_held"]
            return 200, target
        if action == ["rollback"]:
            revisions = self.revisions[endpoint_id]
            newest = max(revisions, key=lambda r: r["number"])
            newest.update(state="retired", traffic_percent=0)
            previous = max((r for r in revisions if r is not newest), key=lambda r: r["number"])
            previous["traffic_percent"] = 100
            target["traffic"] = [{"revision": previous["id"], "number": previous["number"], "percent": 100,
                                  "state": previous["state"]}]  # fmt: skip
            return 200, target
        if action[0] == "revisions":
            return self.route_revisions(target, method, action[1:], body)
        if action[0] == "tokens":
            return self.route_tokens(target, method, action[1:], body)
        if action == ["events"]:
            return 200, self.page(
                [{"id": 1, "kind": "ready", "message": "1 replica serves", "created_at": five_minutes_ago()}]
            )
        if action == ["try"] and method == "POST":
            if target["state"] != "ready":
                return 409, {"detail": f"The endpoint is {target['state']}, not ready."}
            return 200, Stream([{"choices": [{"index": 0, "delta": {"content": p}}]} for p in self.reply])
        return 404, {"detail": "Not found."}

    def listing(self, query: dict[str, str]) -> dict[str, Any]:
        items = [
            item
            for item in self.endpoints
            if all(query.get(key) in (None, item[key]) for key in ("team", "state", "cluster"))
        ]
        size = min(int(query.get("page_size", 100)), self.page_size_cap)
        number = int(query.get("page", 1))
        chunk = items[(number - 1) * size : number * size]
        more = number * size < len(items)
        rest = "&".join(f"{k}={v}" for k, v in query.items() if k not in ("page", "page_size"))
        following = f"{self.url}/api/v1/endpoints/?page={number + 1}&page_size={size}&{rest}" if more else None
        return {"count": len(items), "next": following, "previous": None, "results": chunk}

    def create(self, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("team") not in ("demo", "ml"):
            return 400, {"team": ["Unknown team."]}
        if any(e["team"] == body["team"] and e["name"] == body.get("name") for e in self.endpoints):
            return 400, {"name": ["An endpoint with this name exists in the team."]}
        created = endpoint(
            100 + len(self.endpoints), body["team"], body["name"], state="pending", latest=None,
            state_reason="waiting for 1 GPU in pool default", traffic=[], gpus_held=0.0,
        )  # fmt: skip
        self.add(created)
        token = {"id": 1, "name": "default", "prefix": "pde_ab12", "token": ENDPOINT_TOKEN}
        return 201, {**created, "token": token}

    def route_revisions(self, target: dict[str, Any], method: str, rest: list[str], body: Any) -> tuple[int, Any]:
        revisions = self.revisions[target["id"]]
        if not rest:
            if method == "POST":
                number = max(r["number"] for r in revisions) + 1
                made = revision(target["id"] * 10 + number, number, state="pending", traffic=body["traffic_percent"])
                revisions.append(made)
                return 201, made
            return 200, self.page(sorted(revisions, key=lambda r: -r["number"]))
        chosen = next((r for r in revisions if r["id"] == int(rest[0])), None)
        if chosen is None or rest[1:] != ["promote"]:
            return 404, {"detail": "Not found."}
        if chosen["state"] == "retired":
            return 409, {"detail": "A retired revision cannot take traffic."}
        for other in revisions:
            other["traffic_percent"] = 0
        chosen["traffic_percent"] = 100
        return 200, chosen

    def route_tokens(self, target: dict[str, Any], method: str, rest: list[str], body: Any) -> tuple[int, Any]:
        tokens = self.tokens[target["id"]]
        if not rest and method == "POST":
            made = {"id": len(tokens) + 2, "name": body.get("name", ""), "prefix": "pde_cd34", "created_by": "alice",
                    "created_at": five_minutes_ago(), "revoked_at": None}  # fmt: skip
            tokens.append(made)
            return 201, {**made, "token": "pde_cd34.newsecret"}
        if not rest:
            return 200, self.page(tokens)
        chosen = next((t for t in tokens if t["id"] == int(rest[0])), None)
        if chosen is None:
            return 404, {"detail": "Not found."}
        chosen["revoked_at"] = five_minutes_ago()
        return 200, chosen


__all__ = ["ENDPOINT_TOKEN", "USER_TOKEN", "FakeServing", "endpoint", "revision"]
