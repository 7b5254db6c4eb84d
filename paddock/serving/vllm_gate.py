"""The token check in front of vLLM on Kubernetes: an ASGI middleware for ``vllm serve``.

Paddock keeps only the sha256 of an endpoint's tokens, so vLLM's own ``--api-key`` (one key, in
clear) cannot check them. This file is shipped to every replica in the endpoint's ConfigMap
and loaded with ``--middleware paddock_gate.gate`` (``PYTHONPATH`` names the mount). It refuses
every request but the health, readiness and metrics routes unless its bearer token's sha256
is in ``token_hashes`` of the mounted ``tokens.json``, which the kubelet keeps current: a new
or revoked token takes effect without a restart, once the kubelet has synced the ConfigMap
(about a minute).

Self-contained on purpose (Starlette only, which vLLM's server runs on): nothing of Paddock's
is installed in the vLLM image.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

TOKENS_FILE = os.environ.get("PADDOCK_GATE_TOKENS", "/etc/paddock/tokens.json")
# Answered without a token: the kubelet's probes and a Prometheus scrape reach these.
OPEN_PATHS = frozenset({"/health", "/ping", "/metrics", "/version"})
_cache: dict[str, Any] = {"key": None, "hashes": frozenset()}


def token_hashes(path: str | None = None) -> frozenset[str]:
    """The accepted hashes, read again only when the file changed (the kubelet swaps it)."""
    path = path or TOKENS_FILE
    try:
        info = os.stat(path)
    except OSError:
        return frozenset()
    key = (path, info.st_ino, info.st_mtime_ns, info.st_size)
    if _cache["key"] != key:
        try:
            with open(path, encoding="utf-8") as handle:
                hashes = json.load(handle).get("token_hashes") or []
            _cache["hashes"] = frozenset(str(value) for value in hashes)
        except (OSError, ValueError, AttributeError):
            _cache["hashes"] = frozenset()
        _cache["key"] = key
    return _cache["hashes"]  # type: ignore[no-any-return]


def allowed(path: str, authorization: str) -> bool:
    """Whether a request for ``path`` with this Authorization header may reach the model."""
    if path.rstrip("/") in OPEN_PATHS:
        return True
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return False
    return hashlib.sha256(token.encode()).hexdigest() in token_hashes()


async def gate(request: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
    """vLLM adds a coroutine function given to ``--middleware`` as an HTTP middleware."""
    if allowed(request.url.path, request.headers.get("authorization", "")):
        return await call_next(request)
    from starlette.responses import JSONResponse

    return JSONResponse(
        {
            "error": {
                "message": "A valid endpoint token is required (Authorization: Bearer pde_…).",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
        status_code=401,
    )
