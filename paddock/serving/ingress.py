"""The ingress of a Paddock endpoint: tokens, the OpenAI API, the traffic split, the figures.

Paddock sets everything through the deployment's ``user_config`` (applied in place, no
restart): ``{"generation", "model_name", "owner", "token_hashes", "observer_hash",
"revisions": [{"id", "app", "weight"}]}``. Only sha256 hashes of tokens are there — Ray's
dashboard shows a ``user_config`` to anyone who can read it — so a token itself lives only with
whoever it was shown to.

- Every request needs ``Authorization: Bearer <token>`` whose hash is in ``token_hashes`` (or
  Paddock's own observer token): anything else is answered 401 here, and no model is called.
- Traffic goes to the revisions by weight with smooth weighted round-robin (nginx's): over
  every ``sum(weights)`` requests each revision gets exactly its share, so a 20 % canary gets
  20 requests of every 100, not "about 20".
- ``GET /-/paddock/stats?since=T`` (observer token only) answers the counters since this
  replica started and the window since ``T``: requests, errors, tokens, exact p50/p95/p99.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from paddock.serving import openai_api

STATS_PATH = "/-/paddock/stats"
WINDOW_SAMPLES = 20_000  # latencies kept for the percentiles of one stats window
# Errors of the serving machinery, not of the model: the request is tried once more elsewhere.
_RETRYABLE = frozenset(
    {"RayActorError", "ActorDiedError", "ActorUnavailableError", "DeploymentUnavailableError", "BackPressureError"}
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, -(-round(fraction * 1000) * len(sorted_values) // 1000))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class Split:
    """Smooth weighted round-robin over revisions (weights are whole percents)."""

    def __init__(self, weights: dict[int, int]) -> None:
        self.weights = {rev: w for rev, w in weights.items() if w > 0}
        self.current = dict.fromkeys(self.weights, 0)

    def pick(self, exclude: int | None = None) -> int | None:
        weights = {rev: w for rev, w in self.weights.items() if rev != exclude}
        if not weights:
            return None
        total = sum(weights.values())
        for rev, weight in weights.items():
            self.current[rev] += weight
        chosen = max(weights, key=lambda rev: (self.current[rev], -rev))
        self.current[chosen] -= total
        return chosen


class Figures:
    """Counters since the replica started and the latencies of recent requests."""

    def __init__(self) -> None:
        self.started_at = time.time()
        self.totals = collections.Counter[str]()
        self.by_revision: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        # (finished at, latency ms, completion tokens, failed)
        self.recent: collections.deque[tuple[float, float, int, bool]] = collections.deque(maxlen=WINDOW_SAMPLES)
        self.ongoing = 0

    def record(self, revision: int | None, seconds: float, usage: dict[str, Any] | None, failed: bool) -> None:
        completion = int((usage or {}).get("completion_tokens", 0))
        self.totals["requests"] += 1
        self.totals["errors"] += int(failed)
        self.totals["completion_tokens"] += completion
        self.totals["prompt_tokens"] += int((usage or {}).get("prompt_tokens", 0))
        if revision is not None:
            self.by_revision[revision]["requests"] += 1
            self.by_revision[revision]["errors"] += int(failed)
        self.recent.append((time.time(), seconds * 1000.0, completion, failed))

    def report(self, since: float) -> dict[str, Any]:
        now = time.time()
        window = [row for row in self.recent if row[0] > since]
        latencies = sorted(row[1] for row in window if not row[3])
        return {
            "replica": os.getpid(),
            "started_at": self.started_at,
            "now": now,
            "ongoing": self.ongoing,
            "totals": dict(self.totals),
            "by_revision": {str(rev): dict(counts) for rev, counts in self.by_revision.items()},
            "window": {
                "since": max(since, self.started_at),
                "requests": len(window),
                "errors": sum(1 for row in window if row[3]),
                "completion_tokens": sum(row[2] for row in window),
                "p50_ms": percentile(latencies, 0.50),
                "p95_ms": percentile(latencies, 0.95),
                "p99_ms": percentile(latencies, 0.99),
                "complete": not window or len(self.recent) < WINDOW_SAMPLES or self.recent[0][0] > since,
            },
        }


def _handle(app: str) -> Any:
    """A handle on a revision's model that calls its replicas straight over gRPC rather than
    through Ray's object store (the answers are small dicts): a shorter hop per request."""
    handle = serve.get_deployment_handle("Model", app_name=app)
    try:
        return handle.options(_by_reference=False)
    except (TypeError, ValueError):  # a Serve without the option: the default path
        return handle


def _error(status: int, message: str, code: str) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status_code=status)


@serve.deployment(name="Ingress", num_replicas=1, max_ongoing_requests=1000, ray_actor_options={"num_cpus": 0})
class Ingress:
    def __init__(self) -> None:
        self.generation = -1
        self.model_name = ""
        self.owner = ""
        self.tokens: frozenset[str] = frozenset()
        self.observer = ""
        self.handles: dict[int, Any] = {}
        self.split = Split({})
        self.figures = Figures()

    async def reconfigure(self, config: dict[str, Any]) -> None:  # async: handles need the event loop
        self.model_name = str(config.get("model_name", ""))
        self.owner = str(config.get("owner", ""))
        self.tokens = frozenset(str(h) for h in config.get("token_hashes", ()))
        self.observer = str(config.get("observer_hash", ""))
        handles: dict[int, Any] = {}
        weights: dict[int, int] = {}
        for revision in config.get("revisions", ()):
            rev = int(revision["id"])
            handles[rev] = self.handles.get(rev) or _handle(revision["app"])
            weights[rev] = int(revision.get("weight", 0))
        self.handles = handles
        if weights != self.split.weights:
            self.split = Split(weights)
        self.generation = int(config.get("generation", 0))

    def _caller(self, request: Request) -> str:
        """``"token"``, ``"observer"`` or ``""`` (refused)."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return ""
        digest = token_hash(token.strip())
        if self.observer and hmac.compare_digest(digest, self.observer):
            return "observer"
        return "token" if digest in self.tokens else ""

    async def __call__(self, request: Request) -> Response:
        path = request.url.path[len(request.scope.get("root_path", "")) :].rstrip("/") or "/"
        caller = self._caller(request)
        if path == STATS_PATH:
            if caller != "observer":
                return _error(401, "only Paddock reads these figures", "invalid_api_key")
            since = float(request.query_params.get("since") or 0.0)
            report = self.figures.report(since)
            report["generation"] = self.generation
            report["weights"] = {str(rev): weight for rev, weight in self.split.weights.items()}
            return JSONResponse(report)
        if not caller:
            self.figures.totals["unauthorized"] += 1
            return _error(401, "a valid endpoint token is required (Authorization: Bearer pde_…)", "invalid_api_key")
        if path == "/v1/models" and request.method == "GET":
            return JSONResponse(openai_api.models_list(self.model_name, self.owner))
        kind = {"/v1/completions": "completion", "/v1/chat/completions": "chat"}.get(path)
        if kind is None:
            return _error(404, f"no route {request.method} {path}", "not_found")
        if request.method != "POST":
            return _error(405, f"{path} takes POST", "method_not_allowed")
        try:
            generation = openai_api.parse(kind, await request.body())
        except openai_api.RequestError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        if generation.model and generation.model != self.model_name:
            return _error(404, f"this endpoint serves {self.model_name!r}, not {generation.model!r}", "model_not_found")
        request_id = openai_api.new_id(kind)
        if generation.stream:
            return StreamingResponse(
                self._stream(kind, request_id, generation.as_dict()), media_type="text/event-stream"
            )
        return await self._answer(kind, request_id, generation.as_dict())

    async def _answer(self, kind: str, request_id: str, body: dict[str, Any]) -> Response:
        started = time.monotonic()
        self.figures.ongoing += 1
        revision: int | None = None
        try:
            for try_number in range(2):
                revision = self.split.pick()
                if revision is None:
                    self.figures.record(None, time.monotonic() - started, None, True)
                    return _error(503, "no revision of this endpoint is serving", "unavailable")
                try:
                    result = await self.handles[revision].generate.remote(body)
                    break
                except Exception as exc:
                    if type(exc).__name__ in _RETRYABLE and try_number == 0:
                        continue
                    self.figures.record(revision, time.monotonic() - started, None, True)
                    return _error(500, f"the model failed: {type(exc).__name__}: {str(exc)[:500]}", "model_error")
        finally:
            self.figures.ongoing -= 1
        self.figures.record(revision, time.monotonic() - started, result, False)
        return JSONResponse(openai_api.answer(kind, request_id, self.model_name, result))

    async def _stream(self, kind: str, request_id: str, body: dict[str, Any]) -> AsyncIterator[bytes]:
        started = time.monotonic()
        revision = self.split.pick()
        usage: dict[str, Any] | None = None
        failed = True
        self.figures.ongoing += 1
        try:
            if revision is None:
                yield b"data: " + json.dumps({"error": {"message": "no revision is serving"}}).encode() + b"\n\n"
                return
            first = True
            async for item in self.handles[revision].options(stream=True).stream.remote(body):
                if item.get("done"):
                    usage = item
                    yield openai_api.chunk(kind, request_id, self.model_name, "", item.get("finish_reason", "stop"))
                    break
                yield openai_api.chunk(kind, request_id, self.model_name, item.get("text", ""), first=first)
                first = False
            yield openai_api.DONE
            failed = False
        except Exception as exc:
            message = {"error": {"message": f"the model failed: {type(exc).__name__}: {str(exc)[:500]}"}}
            yield b"data: " + json.dumps(message).encode() + b"\n\n"
        finally:
            self.figures.ongoing -= 1
            self.figures.record(revision, time.monotonic() - started, usage, failed)


def build(args: dict[str, Any]) -> Any:
    """The endpoint's ingress application (Serve calls this with the app's ``args``)."""
    return Ingress.bind()  # type: ignore[attr-defined]
