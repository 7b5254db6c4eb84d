"""The model deployment of a revision: loads the revision's model and answers the ingress.

``build(args)`` is the Serve application builder Paddock names in the revision's app
(``import_path: paddock.serving.model:build``). ``args``: ``{"source": {"uri", "base_uri",
"entry_point"}, "config": {...}}``; the entry point's class is made with
``cls(uri, base_uri=..., **config)``. A model that fails to load fails the app with the
loader's message (Serve's DEPLOY_FAILED), which Paddock shows on the endpoint.

Paddock gives this app no HTTP route; its ``__call__`` (the OpenAI API, without a token) is
there for the serving benchmark, which deploys the same app with a route to measure the
ingress's overhead against it.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from paddock.serving import openai_api

DEFAULT_ENTRY_POINT = "paddock.serving.causal_lm:CausalLM"
_END = object()


def load_class(entry_point: str) -> Any:
    module_name, _, attribute = entry_point.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"entry point {entry_point!r} must read module:Class")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


@serve.deployment(name="Model", max_ongoing_requests=8, health_check_period_s=5, health_check_timeout_s=30)
class ModelServer:
    def __init__(self, source: dict[str, Any], config: dict[str, Any] | None = None) -> None:
        cls = load_class(source.get("entry_point") or DEFAULT_ENTRY_POINT)
        self.impl = cls(source.get("uri", ""), base_uri=source.get("base_uri", ""), **(config or {}))
        self.model_name = str((config or {}).get("served_model_name", "model"))

    async def generate(self, request: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await asyncio.get_running_loop().run_in_executor(None, self.impl.generate, request)
        return result

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        pieces: Iterator[dict[str, Any]] = iter(self.impl.stream(request))
        while True:
            item = await loop.run_in_executor(None, next, pieces, _END)
            if item is _END:
                return
            yield item  # type: ignore[misc]

    def check_health(self) -> None:
        check = getattr(self.impl, "check_health", None)
        if callable(check):
            check()

    async def __call__(self, http: Request) -> Response:
        """The OpenAI API straight to this model, no token (the benchmark's reference)."""
        path = http.url.path[len(http.scope.get("root_path", "")) :].rstrip("/")
        kind = {"/v1/completions": "completion", "/v1/chat/completions": "chat"}.get(path)
        if kind is None or http.method != "POST":
            return JSONResponse({"error": {"message": "not found"}}, status_code=404)
        try:
            request = openai_api.parse(kind, await http.body())
        except openai_api.RequestError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        request_id = openai_api.new_id(kind)
        if request.stream:
            return StreamingResponse(self._sse(kind, request_id, request.as_dict()), media_type="text/event-stream")
        started = time.monotonic()
        result = await self.generate(request.as_dict())
        result["seconds"] = time.monotonic() - started
        return JSONResponse(openai_api.answer(kind, request_id, self.model_name, result))

    async def _sse(self, kind: str, request_id: str, request: dict[str, Any]) -> AsyncIterator[bytes]:
        first = True
        async for item in self.stream(request):
            if item.get("done"):
                yield openai_api.chunk(kind, request_id, self.model_name, "", item.get("finish_reason", "stop"))
                break
            yield openai_api.chunk(kind, request_id, self.model_name, item.get("text", ""), first=first)
            first = False
        yield openai_api.DONE


def build(args: dict[str, Any]) -> Any:
    """The revision's application (Serve calls this with the app's ``args``)."""
    return ModelServer.bind(args.get("source") or {}, args.get("config") or {})  # type: ignore[attr-defined]
