"""The OpenAI wire format: reading requests and writing answers and stream chunks.

Pure functions over dicts, shared by the ingress and the model's own HTTP route (which the
serving benchmark calls to measure the ingress's overhead)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /v1/completions
MAX_TOKENS_LIMIT = 4096


class RequestError(Exception):
    """A request the API refuses: ``status`` and an OpenAI-style error body."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid_request", param: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = {
            "error": {"message": message, "type": "invalid_request_error", "param": param or None, "code": code}
        }


@dataclass(frozen=True)
class Generation:
    """What the model is asked for, the same for completions and chats."""

    kind: str  # "completion" | "chat"
    prompt: str = ""
    messages: tuple[dict[str, str], ...] = ()
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    stream: bool = False
    model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "prompt": self.prompt,
            "messages": [dict(m) for m in self.messages],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
        }


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"{name} must be a number", param=name)
    if not low <= float(value) <= high:
        raise RequestError(f"{name} must be between {low:g} and {high:g}", param=name)
    return float(value)


def _stop(body: dict[str, Any]) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,) if stop else ()
    if isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop):
        return tuple(s for s in stop if s)
    raise RequestError("stop must be a string or a list of up to 4 strings", param="stop")


def parse(kind: str, raw: bytes) -> Generation:
    """Read a ``/v1/completions`` (``kind="completion"``) or ``/v1/chat/completions`` body."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise RequestError(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object")
    if int(_number(body, "n", 1, 1, 1)) != 1:
        raise RequestError("only n=1 is supported", param="n")
    tokens_field = "max_completion_tokens" if kind == "chat" and "max_completion_tokens" in body else "max_tokens"
    max_tokens = int(_number(body, tokens_field, DEFAULT_MAX_TOKENS, 1, MAX_TOKENS_LIMIT))
    common = {
        "max_tokens": max_tokens,
        "temperature": _number(body, "temperature", 1.0, 0.0, 2.0),
        "top_p": _number(body, "top_p", 1.0, 0.0, 1.0),
        "stop": _stop(body),
        "stream": bool(body.get("stream", False)),
        "model": str(body.get("model") or ""),
    }
    if kind == "chat":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("messages must be a non-empty list", param="messages")
        cleaned: list[dict[str, str]] = []
        for message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise RequestError("each message needs a role and content", param="messages")
            content = message.get("content", "")
            if isinstance(content, list):  # content parts: keep the text ones
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            if not isinstance(content, str):
                raise RequestError("a message's content must be text", param="messages")
            cleaned.append({"role": message["role"], "content": content})
        return Generation(kind="chat", messages=tuple(cleaned), **common)  # type: ignore[arg-type]
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise RequestError("prompt must be a string (or a list of one string)", param="prompt")
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise RequestError("prompt must be a string", param="prompt")
    return Generation(kind="completion", prompt=prompt, **common)  # type: ignore[arg-type]


def new_id(kind: str) -> str:
    return ("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex[:24]


def answer(kind: str, request_id: str, model: str, result: dict[str, Any]) -> dict[str, Any]:
    """The whole answer to a non-streaming request; ``result`` is what the model returned:
    ``text``, ``prompt_tokens``, ``completion_tokens``, ``finish_reason``."""
    usage = {
        "prompt_tokens": int(result.get("prompt_tokens", 0)),
        "completion_tokens": int(result.get("completion_tokens", 0)),
        "total_tokens": int(result.get("prompt_tokens", 0)) + int(result.get("completion_tokens", 0)),
    }
    finish = result.get("finish_reason") or "stop"
    if kind == "chat":
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": result.get("text", "")},
            "finish_reason": finish,
            "logprobs": None,
        }
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": result.get("text", ""), "finish_reason": finish, "logprobs": None}
        obj = "text_completion"
    return {
        "id": request_id,
        "object": obj,
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": usage,
    }


def chunk(
    kind: str, request_id: str, model: str, text: str, finish_reason: str | None = None, *, first: bool = False
) -> bytes:
    """One server-sent event of a streamed answer."""
    if kind == "chat":
        delta: dict[str, Any] = {"content": text} if text or not finish_reason else {}
        if first:
            delta["role"] = "assistant"
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        obj = "chat.completion.chunk"
    else:
        choice = {"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}
        obj = "text_completion"
    payload = {"id": request_id, "object": obj, "created": int(time.time()), "model": model, "choices": [choice]}
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def models_list(model: str, owner: str) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": owner}]}
