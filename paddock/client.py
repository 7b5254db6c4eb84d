"""A thin, typed client for Paddock's REST API (``/api/v1``), for scripts and CI."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import requests

TERMINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})
# An endpoint stops changing on its own in these: ready serves, failed needs a new revision or a
# start, stopped needs a start. (degraded serves but may still recover, so a wait goes on.)
ENDPOINT_SETTLED_STATES = frozenset({"ready", "failed", "stopped"})
# A streamed reply may pause long between pieces (a cold replica loads its weights first).
STREAM_READ_TIMEOUT = 300.0


class ApiError(Exception):
    """The API answered with an error; ``status`` and the decoded ``body`` say which."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class NoToken(ValueError):
    """No API token was given, neither as an argument nor in ``PADDOCK_TOKEN``."""


class Client:
    """``Client(url, token)``; both default to ``PADDOCK_URL`` and ``PADDOCK_TOKEN``."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 30) -> None:
        self.url = (url or os.environ.get("PADDOCK_URL") or "http://127.0.0.1:8000").rstrip("/")
        token = token or os.environ.get("PADDOCK_TOKEN")
        if not token:
            raise NoToken("no API token: pass token= (the CLI: --token) or set PADDOCK_TOKEN")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.url}/api/v1/{path.lstrip('/')}", timeout=self.timeout, **kwargs)
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            raise ApiError(response.status_code, body)
        return body

    def submit(self, *, idempotency_key: str | None = None, **job: Any) -> dict[str, Any]:
        """Submit a job; the same ``idempotency_key`` returns the first job instead of a new one."""
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        result: dict[str, Any] = self._request("POST", "jobs/", json=job, headers=headers)
        return result

    def upload_package(self, team: str, data: bytes, *, filename: str = "workdir.zip") -> dict[str, Any]:
        """Upload a zip of code for ``team``'s jobs (skipped when Paddock has it already); the
        answer's ``uri`` goes into ``runtime_env.working_dir``."""
        digest = hashlib.sha256(data).hexdigest()
        known = self._request("GET", "packages/", params={"team": team, "sha256": digest})["results"]
        if known:
            found: dict[str, Any] = known[0]
            return found
        result: dict[str, Any] = self._request(
            "POST", "packages/", data={"team": team}, files={"file": (filename, data, "application/zip")}
        )
        return result

    def packages(self, **filters: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", "packages/", params=filters)["results"]
        return result

    def estimate(self, spec: Any) -> Any:
        """Ask the capacity planner about one spec (an answer) or a list of specs (a list)."""
        return self._request("POST", "planner/estimate/", json=spec)

    def job(self, job_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"jobs/{job_id}/")
        return result

    def jobs(self, **filters: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", "jobs/", params=filters)["results"]
        return result

    def jobs_page(self, **filters: Any) -> dict[str, Any]:
        """One page of jobs, newest first: ``count`` (all that match) and ``results``."""
        result: dict[str, Any] = self._request("GET", "jobs/", params=filters)
        return result

    def me(self) -> dict[str, Any]:
        """Who the token speaks for: ``username`` and ``teams`` (``slug``, ``role``); a token
        limited to one team sees only that team."""
        result: dict[str, Any] = self._request("GET", "auth/me/")
        return result

    def queue(self, **filters: Any) -> dict[str, Any]:
        """A page of the caller's teams' pending jobs in queue order (``count`` and ``results``)."""
        result: dict[str, Any] = self._request("GET", "queue/", params=filters)
        return result

    def cancel(self, job_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", f"jobs/{job_id}/cancel/")
        return result

    def logs(self, job_id: int, offset: int = 0) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"jobs/{job_id}/logs/", params={"offset": offset})
        return result

    def follow_logs(self, job_id: int, *, poll: float = 1.0) -> Iterator[str]:
        """Yield log text as it arrives until the job has finished and its log is complete."""
        offset = 0
        while True:
            chunk = self.logs(job_id, offset)
            if chunk["text"]:
                yield chunk["text"]
            offset = chunk["next_offset"]
            if chunk["complete"]:
                return
            if not chunk["text"]:
                time.sleep(poll)

    def _all(self, path: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of a paginated list, following ``next``."""
        page = self._request("GET", path, params={"page_size": 500, **filters})
        items: list[dict[str, Any]] = list(page["results"])
        while page.get("next"):
            response = self.session.get(page["next"], timeout=self.timeout)
            if response.status_code >= 400:
                raise ApiError(response.status_code, response.text)
            page = response.json()
            items += page["results"]
        return items

    def checkpoints(self, **filters: Any) -> list[dict[str, Any]]:
        """Checkpoints (``job=``, ``team=``, ``state=``), kept and deleted, with why."""
        return self._all("checkpoints/", filters)

    def models(self, **filters: Any) -> list[dict[str, Any]]:
        return self._all("models/", filters)

    def model_versions(self, **filters: Any) -> list[dict[str, Any]]:
        """Model versions (``model=``, ``team=``, ``stage=``)."""
        return self._all("model-versions/", filters)

    def promote(self, version_id: int, stage: str) -> dict[str, Any]:
        """Move a version to ``production``, ``staging`` or ``none`` (production archives the previous one)."""
        result: dict[str, Any] = self._request("POST", f"model-versions/{version_id}/promote/", json={"stage": stage})
        return result

    def job_templates(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", "job-templates/")
        return result

    def submit_template(self, slug: str, *, idempotency_key: str | None = None, **body: Any) -> dict[str, Any]:
        """Submit a job from a template (``lora``): ``team``, ``parameters`` and optionally ``cluster``,
        ``name``, ``resources``, ``max_retries``, ``checkpoint_policy``."""
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        result: dict[str, Any] = self._request("POST", f"job-templates/{slug}/submit/", json=body, headers=headers)
        return result

    def wait(self, job_id: int, *, timeout: float | None = None, poll: float = 1.0) -> dict[str, Any]:
        """Block until the job reaches a terminal state; return it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["state"] in TERMINAL_STATES:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['state']} after {timeout}s")
            time.sleep(poll)

    # --- serving endpoints (issue 12) ---------------------------------------------------------
    def endpoints(self, **filters: Any) -> list[dict[str, Any]]:
        """The caller's teams' endpoints (``team=``, ``state=``, ``cluster=``), newest first."""
        return self._all("endpoints/", filters)

    def endpoint(self, endpoint_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"endpoints/{endpoint_id}/")
        return result

    def create_endpoint(self, *, idempotency_key: str | None = None, **body: Any) -> dict[str, Any]:
        """Create an endpoint; the answer carries its first token, whose secret (``token.token``)
        Paddock never shows again."""
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        result: dict[str, Any] = self._request("POST", "endpoints/", json=body, headers=headers)
        return result

    def update_endpoint(self, endpoint_id: int, **fields: Any) -> dict[str, Any]:
        """Change scaling: ``min_replicas``, ``max_replicas``, ``target_ongoing_requests``, ``scale_to_zero``."""
        result: dict[str, Any] = self._request("PATCH", f"endpoints/{endpoint_id}/", json=fields)
        return result

    def stop_endpoint(self, endpoint_id: int) -> dict[str, Any]:
        """Stop serving and free the endpoint's GPUs; its URL, tokens and revisions stay."""
        result: dict[str, Any] = self._request("POST", f"endpoints/{endpoint_id}/stop/")
        return result

    def start_endpoint(self, endpoint_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", f"endpoints/{endpoint_id}/start/")
        return result

    def delete_endpoint(self, endpoint_id: int) -> None:
        self._request("DELETE", f"endpoints/{endpoint_id}/")

    def endpoint_revisions(self, endpoint_id: int) -> list[dict[str, Any]]:
        return self._all(f"endpoints/{endpoint_id}/revisions/", {})

    def create_revision(self, endpoint_id: int, **body: Any) -> dict[str, Any]:
        """Roll out ``model_version`` (or ``model_uri`` + ``entry_point``) with ``config``;
        ``traffic_percent`` under 100 is a canary next to the serving revision."""
        result: dict[str, Any] = self._request("POST", f"endpoints/{endpoint_id}/revisions/", json=body)
        return result

    def promote_revision(self, endpoint_id: int, revision_id: int) -> dict[str, Any]:
        """Give a revision (by id, not number) 100 % of the traffic."""
        result: dict[str, Any] = self._request("POST", f"endpoints/{endpoint_id}/revisions/{revision_id}/promote/")
        return result

    def rollback_endpoint(self, endpoint_id: int) -> dict[str, Any]:
        """Retire the newest revision; the previous one takes all the traffic."""
        result: dict[str, Any] = self._request("POST", f"endpoints/{endpoint_id}/rollback/")
        return result

    def endpoint_events(self, endpoint_id: int, **filters: Any) -> list[dict[str, Any]]:
        """One page of the endpoint's events, newest first (``page_size=``)."""
        result: list[dict[str, Any]] = self._request("GET", f"endpoints/{endpoint_id}/events/", params=filters)[
            "results"
        ]
        return result

    def endpoint_metrics(self, endpoint_id: int, *, start: str | None = None, end: str | None = None) -> dict[str, Any]:
        """``points`` and ``totals`` between two ISO times (the server's default window without them)."""
        params = {key: value for key, value in {"from": start, "to": end}.items() if value}
        result: dict[str, Any] = self._request("GET", f"endpoints/{endpoint_id}/metrics/", params=params)
        return result

    def endpoint_tokens(self, endpoint_id: int) -> list[dict[str, Any]]:
        """The endpoint's tokens, revoked ones too; only prefixes, never the secrets."""
        return self._all(f"endpoints/{endpoint_id}/tokens/", {})

    def create_endpoint_token(self, endpoint_id: int, name: str | None = None) -> dict[str, Any]:
        """A new token; its secret (``token``) is in this answer only."""
        body = {"name": name} if name else {}
        result: dict[str, Any] = self._request("POST", f"endpoints/{endpoint_id}/tokens/", json=body)
        return result

    def revoke_endpoint_token(self, endpoint_id: int, token_id: int) -> Any:
        return self._request("POST", f"endpoints/{endpoint_id}/tokens/{token_id}/revoke/")

    def wait_endpoint(
        self, endpoint_id: int, *, timeout: float | None = None, poll: float = 2.0
    ) -> Iterator[dict[str, Any]]:
        """Yield the endpoint each time its state or reason changes, the first time too, until it
        is ready, failed or stopped; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: tuple[str, str] | None = None
        while True:
            endpoint = self.endpoint(endpoint_id)
            now = (endpoint["state"], endpoint.get("state_reason") or "")
            if now != seen:
                seen = now
                yield endpoint
            if endpoint["state"] in ENDPOINT_SETTLED_STATES:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"endpoint {endpoint_id} still {endpoint['state']} after {timeout:g} s")
            time.sleep(poll)

    def try_endpoint(
        self,
        endpoint_id: int,
        *,
        messages: list[dict[str, str]] | None = None,
        prompt: str | None = None,
        max_tokens: int | None = None,
    ) -> Iterator[str]:
        """Ask a ready endpoint through Paddock's relay (no endpoint token needed, team members
        only) and yield the reply's text as it arrives; ``messages`` chat, ``prompt`` completes."""
        body: dict[str, Any] = {"messages": messages} if messages is not None else {"prompt": prompt}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        response = self.session.post(
            f"{self.url}/api/v1/endpoints/{endpoint_id}/try/",
            json=body,
            headers={"Accept": "text/event-stream"},
            stream=True,
            timeout=(self.timeout, STREAM_READ_TIMEOUT),
        )
        return _stream_text(response)

    # --- costs and budgets (issue 13) -----------------------------------------------------------
    def _text(self, path: str, params: dict[str, Any]) -> str:
        """A download the API renders as text (``format=csv``), exactly as the server wrote it."""
        response = self.session.get(
            f"{self.url}/api/v1/{path.lstrip('/')}",
            params={**params, "format": "csv"},
            headers={"Accept": "text/csv"},
            timeout=self.timeout,
        )
        if response.status_code >= 400:
            raise ApiError(response.status_code, _decoded(response))
        return response.content.decode("utf-8")

    def cost_summary(self, **params: Any) -> dict[str, Any]:
        """Costs grouped by one or two of ``team,user,job,endpoint,pool,day,month`` (``group_by=``)
        between ``from`` and ``to`` (the server's default: this month), with ``totals`` per currency."""
        result: dict[str, Any] = self._request("GET", "costs/summary/", params=params)
        return result

    def cost_summary_csv(self, **params: Any) -> str:
        return self._text("costs/summary/", params)

    def usage(self, *, limit: int, **filters: Any) -> list[dict[str, Any]]:
        """Up to ``limit`` ledger records, newest first, following the cursor (``team=``, ``job=``,
        ``endpoint=``, ``from=``, ``to=``)."""
        page = self._request("GET", "usage/", params={"page_size": min(limit, 500), **filters})
        records: list[dict[str, Any]] = list(page["results"])
        while page.get("next") and len(records) < limit:
            response = self.session.get(page["next"], timeout=self.timeout)
            if response.status_code >= 400:
                raise ApiError(response.status_code, _decoded(response))
            page = response.json()
            records += page["results"]
        return records[:limit]

    def usage_csv(self, **filters: Any) -> str:
        """Every matching ledger record as CSV (the server does not page an export)."""
        return self._text("usage/", filters)

    def job_cost(self, job_id: int) -> dict[str, Any]:
        """A job's cost: charged so far, live (with what is not accrued yet), rate now, per attempt."""
        result: dict[str, Any] = self._request("GET", f"costs/jobs/{job_id}/")
        return result

    def budgets(self, **filters: Any) -> list[dict[str, Any]]:
        """The budgets the caller may read, with spent, remaining, forecast and status."""
        return self._all("budgets/", filters)

    def budget(self, budget_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"budgets/{budget_id}/")
        return result

    def create_budget(self, *, idempotency_key: str | None = None, **body: Any) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        result: dict[str, Any] = self._request("POST", "budgets/", json=body, headers=headers)
        return result

    def update_budget(self, budget_id: int, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._request("PATCH", f"budgets/{budget_id}/", json=fields)
        return result

    def delete_budget(self, budget_id: int) -> None:
        self._request("DELETE", f"budgets/{budget_id}/")


class EndpointClient:
    """Calls a deployed endpoint directly, as any OpenAI client would: ``openai_base_url`` and an
    endpoint token (``pde_…``), no Paddock account needed."""

    def __init__(self, openai_base_url: str, token: str, *, timeout: float = 30) -> None:
        self.base_url = openai_base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}"})

    def models(self) -> list[str]:
        """The model names the endpoint answers to (what ``model`` takes)."""
        response = self.session.get(f"{self.base_url}/models", timeout=self.timeout)
        if response.status_code >= 400:
            raise ApiError(response.status_code, _decoded(response))
        return [item["id"] for item in response.json().get("data", [])]

    def stream_chat(
        self, messages: list[dict[str, str]], *, model: str, max_tokens: int | None = None
    ) -> Iterator[str]:
        """``POST {base}/chat/completions`` with ``"stream": true``; yield the reply's text as it arrives."""
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        response = self.session.post(
            f"{self.base_url}/chat/completions",
            json=body,
            headers={"Accept": "text/event-stream"},
            stream=True,
            timeout=(self.timeout, STREAM_READ_TIMEOUT),
        )
        return _stream_text(response)


def _decoded(response: requests.Response) -> Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return response.text


def _stream_text(response: requests.Response) -> Iterator[str]:
    """The text of an OpenAI-style event stream, piece by piece; ``ApiError`` when the answer is
    an HTTP error or the stream carries an ``error`` object."""
    with response:
        if response.status_code >= 400:
            raise ApiError(response.status_code, _decoded(response))
        # Bytes, not decode_unicode: requests assumes Latin-1 for a text/* body without a charset.
        yield from sse_text(line.decode("utf-8", "replace") for line in _arriving_lines(response))


def _arriving_lines(response: requests.Response) -> Iterator[bytes]:
    """The body's lines as soon as each is complete. ``iter_lines`` cannot do this: with a chunk
    size it waits for a full chunk, and without one it reads to the end of a body that is not
    sent chunked (a relay answering HTTP/1.0 with ``Connection: close`` does that)."""
    read1 = getattr(response.raw, "read1", None)  # urllib3 >= 2.3: whatever has arrived, one read
    chunks: Iterable[bytes] = (
        iter(lambda: read1(65536, decode_content=True), b"") if read1 else response.iter_content(chunk_size=1)
    )
    buffered = b""
    for chunk in chunks:
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r")
    if buffered:
        yield buffered.rstrip(b"\r")


def sse_text(lines: Iterable[str]) -> Iterator[str]:
    """The text pieces in the lines of a server-sent event stream of OpenAI chunks: chat
    (``choices[0].delta.content``) or completions (``choices[0].text``), up to ``data: [DONE]``.
    Comments, ``event:`` lines and empty pieces are skipped; an event split over several
    ``data:`` lines is joined, as the SSE format says."""
    pending: list[str] = []
    for line in lines:
        if not line:
            pending = []  # an event ended; one that never parsed is not ours to guess at
            continue
        if not line.startswith("data:"):
            continue
        data = line[5:]
        pending.append(data[1:] if data.startswith(" ") else data)
        payload = "\n".join(pending)
        if payload.strip() == "[DONE]":
            return
        try:
            chunk = json.loads(payload)
        except ValueError:
            continue  # the rest of the event is on the next data: line
        pending = []
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):
            error = chunk["error"]
            raise ApiError(200, error.get("message", error) if isinstance(error, dict) else error)
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            piece = (choice.get("delta") or {}).get("content") or choice.get("text") or ""
            if piece:
                yield piece
