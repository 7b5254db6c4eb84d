"""A thin, typed client for Paddock's REST API (``/api/v1``), for scripts and CI."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import requests

TERMINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})


class ApiError(Exception):
    """The API answered with an error; ``status`` and the decoded ``body`` say which."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Client:
    """``Client(url, token)``; both default to ``PADDOCK_URL`` and ``PADDOCK_TOKEN``."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 30) -> None:
        self.url = (url or os.environ.get("PADDOCK_URL") or "http://127.0.0.1:8000").rstrip("/")
        token = token or os.environ.get("PADDOCK_TOKEN")
        if not token:
            raise ValueError("no API token: pass token= or set PADDOCK_TOKEN")
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
