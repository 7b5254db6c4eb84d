"""A small real HTTP server that plays Paddock's side of issue 11's contract, for client tests.

It keeps what it was told in memory, stores checkpoint files in a folder (``storage="local"``)
or takes presigned-style PUT/GET under ``/s3/`` (``storage="s3"``), and can be told to fail:
``fail(path, status, times=, headers=, body=)`` answers the next ``times`` requests whose path
starts with ``path`` with that status.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "pdj_00000000-0000-0000-0000-000000000001.abc"
USER_TOKEN = "pdk_test.secret"
NAME = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")


@dataclass
class Failure:
    prefix: str
    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


class FakePaddock:
    def __init__(self, root: Path, *, storage: str = "local", port: int = 0) -> None:
        self.root = root
        self.storage = storage
        self.requested_port = port
        self.points: list[dict[str, Any]] = []
        self.checkpoints: list[dict[str, Any]] = []
        self.versions: list[dict[str, Any]] = []
        self.models: list[dict[str, Any]] = []
        self.submitted: list[dict[str, Any]] = []
        self.objects: dict[str, bytes] = {}  # the "s3" bucket
        self.requests: list[tuple[str, str]] = []
        self.failures: list[Failure] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.port = port
        self.last_step = -1
        self.teams: list[dict[str, str]] = [{"slug": "alpha", "name": "Alpha", "role": "member"}]  # GET auth/me/

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakePaddock:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.handle(self, "GET")

            def do_POST(self) -> None:
                fake.handle(self, "POST")

            def do_PUT(self) -> None:
                fake.handle(self, "PUT")

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, prefix: str, status: int, *, times: int = 1, headers: dict | None = None, body: Any = None) -> None:
        self.failures.append(Failure(prefix, status, times, headers or {}, body))

    def count(self, method: str, prefix: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p.startswith(prefix))

    # --- handling --------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urlparse(h.path)
        path = parsed.path
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        with self.lock:
            self.requests.append((method, path))
            for failure in self.failures:
                if failure.times > 0 and path.startswith(failure.prefix):
                    failure.times -= 1
                    return self.send(h, failure.status, failure.body or {"detail": "injected"}, failure.headers)
        if path.startswith("/s3/"):
            return self.bucket(h, method, path[len("/s3/") :], raw)
        auth = h.headers.get("Authorization", "")
        if path.startswith("/api/v1/job-reports/"):
            if auth != f"Bearer {TOKEN}":
                return self.send(h, 401, {"detail": "Invalid or expired job token."})
        elif auth != f"Bearer {USER_TOKEN}":
            return self.send(h, 401, {"detail": "Invalid token."})
        body = json.loads(raw) if raw else None
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        route = path[len("/api/v1/") :]
        handler = getattr(self, "route_" + re.sub(r"[^a-z]+", "_", route.split("/")[0]).strip("_"), None)
        if handler is None:
            return self.send(h, 404, {"detail": "Not found."})
        status, answer = handler(method, route, body, query)
        self.send(h, status, answer)

    def send(self, h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        h.send_response(status)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def bucket(self, h: BaseHTTPRequestHandler, method: str, key: str, raw: bytes) -> None:
        if method == "PUT":
            if h.headers.get("Authorization"):
                return self.send(h, 400, b"<Error>presigned URLs take no Authorization</Error>")
            self.objects[key] = raw
            return self.send(h, 200, b"")
        if key not in self.objects:
            return self.send(h, 404, b"<Error>NoSuchKey</Error>")
        return self.send(h, 200, self.objects[key])

    # --- in-job API ------------------------------------------------------------------------
    def prefix(self) -> str:
        if self.storage == "s3":
            return "s3://bucket/teams/alpha/jobs/12/"
        return f"file://{self.root}/teams/alpha/jobs/12/"

    def route_job_reports(self, method: str, route: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        action = route.split("/")[1]
        if action == "context":
            return 200, {"job": 12, "attempt": 1, "checkpoint_uri": self.prefix(), "storage": self.storage}
        if action == "metrics":
            points = body["points"]
            if len(points) > 1000:
                return 400, {"points": ["At most 1000 points."]}
            for point in points:
                if point["step"] < self.last_step:
                    return 400, {"points": ["Steps go backwards."]}
                self.last_step = point["step"]
                for name, value in point["values"].items():
                    if not NAME.match(name) or isinstance(value, bool):
                        return 400, {"points": [f"Bad metric {name}."]}
            self.points.extend(points)
            return 201, {"recorded": sum(len(p["values"]) for p in points)}
        if action == "checkpoint-uploads":
            uri = f"{self.prefix()}step-{body['step']:08d}/"
            if self.storage == "s3":
                key = uri[len("s3://bucket/") :]
                files = [
                    {"path": f["path"], "url": f"{self.url}/s3/{key}{f['path']}", "headers": {"x-amz-meta-a": "1"}}
                    for f in body["files"]
                ]
                return 200, {"uri": uri, "files": files}
            directory = Path(uri[len("file://") :])
            files = [{"path": f["path"], "local_path": str(directory / f["path"])} for f in body["files"]]
            return 200, {"uri": uri, "directory": str(directory), "files": files}
        if action == "checkpoints":
            for existing in self.checkpoints:
                if existing["uri"] == body["uri"] and existing["step"] == body["step"]:
                    return 200, existing
            checkpoint = {"id": len(self.checkpoints) + 1, "state": "writing", "job": 12, **body}
            self.checkpoints.append(checkpoint)
            return 201, checkpoint
        if action == "downloads":
            uri = body["uri"]
            if self.storage == "s3":
                key = uri[len("s3://bucket/") :]
                names = sorted(k[len(key) :] for k in self.objects if k.startswith(key))
                files = [
                    {"path": n, "size": len(self.objects[key + n]), "url": f"{self.url}/s3/{key}{n}"} for n in names
                ]
                return 200, {"uri": uri, "files": files}
            directory = Path(uri[len("file://") :])
            if not directory.is_dir():
                return 403, {"uri": ["Not a checkpoint of this job."]}
            files = [
                {"path": p.relative_to(directory).as_posix(), "size": p.stat().st_size, "local_path": str(p)}
                for p in sorted(directory.rglob("*"))
                if p.is_file()
            ]
            return 200, {"uri": uri, "directory": str(directory), "files": files}
        if action == "model-versions":
            version = {"id": len(self.versions) + 1, "model_name": body["model"], "version": 1, **body}
            self.versions.append(version)
            return 201, version
        return 404, {"detail": "Not found."}

    # --- user API --------------------------------------------------------------------------
    def page(self, items: list[Any]) -> dict[str, Any]:
        return {"count": len(items), "next": None, "previous": None, "results": items}

    def route_checkpoints(self, method: str, route: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        items = [c for c in self.checkpoints if "job" not in query or str(c["job"]) == query["job"]]
        return 200, self.page(items)

    def route_models(self, method: str, route: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        items = [m for m in self.models if "team" not in query or m["team"] == query["team"]]
        return 200, self.page(items)

    def route_model_versions(self, method: str, route: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        parts = [p for p in route.split("/") if p]
        if len(parts) == 3 and parts[2] == "promote" and method == "POST":
            version = next((v for v in self.versions if v["id"] == int(parts[1])), None)
            if version is None:
                return 404, {"detail": "Not found."}
            if body.get("stage") not in {"production", "staging", "none"}:
                return 400, {"stage": [f'"{body.get("stage")}" is not a valid choice.']}
            if body["stage"] == "production":
                for other in self.versions:
                    if other["model"] == version["model"] and other["stage"] == "production":
                        other["stage"] = "archived"
            version["stage"] = body["stage"]
            version["promoted_by"] = "ann"
            return 200, version
        items = [
            v
            for v in self.versions
            if ("model" not in query or str(v["model"]) == query["model"])
            and ("team" not in query or v.get("team") == query["team"])
        ]
        return 200, self.page(items)

    def route_auth(self, method: str, route: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        if route.rstrip("/") == "auth/me" and method == "GET":
            return 200, {"id": 1, "username": "max", "is_staff": False, "teams": self.teams, "administers": []}
        return 404, {"detail": "Not found."}

    def route_job_templates(self, method: str, route: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        if route.rstrip("/") == "job-templates/lora/submit" and method == "POST":
            if body.get("team") != "alpha":
                return 400, {"team": ["Unknown team."]}
            self.submitted.append(body)
            job = {"id": 40 + len(self.submitted), "name": body.get("name") or "lora", "state": "pending", **body}
            return 201, job
        return 404, {"detail": "Not found."}

    def route_jobs(self, method: str, route: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        parts = [p for p in route.split("/") if p]
        job_id = int(parts[1])
        if len(parts) == 3 and parts[2] == "logs":
            return 200, {"text": "step 1/2 loss 2.0\n", "next_offset": 18, "complete": True}
        return 200, {"id": job_id, "name": "lora", "state": "succeeded", "state_reason": ""}
