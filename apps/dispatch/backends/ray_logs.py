"""Reading a Ray job's driver log from a byte offset, for the Ray adapter (``ray.py``).

Ray 2.60 keeps a submitted job's output in ``job-driver-<submission_id>.log`` in the logs
directory of the node that runs its driver, and none of the head's log endpoints reads it
from an offset: the Jobs API (``GET /api/jobs/<id>/logs``) answers the whole text in one JSON
document, its ``/logs/tail`` websocket starts at the beginning, and the state API
(``GET /api/v0/logs/file?node_id=…&filename=…``) takes ``lines`` (the last N lines, or all
with ``-1``) but no byte offset; the offsets its log agent's ``StreamLog`` gRPC call takes
are not exposed over HTTP.

What does read by offset is the dashboard agent of the driver's node: it serves its logs
directory as static files at ``/logs/`` (aiohttp honours HTTP ``Range``, token auth applies)
on the address Ray records for the job (``driver_agent_http_address``). So a read asks that
agent for ``Range: bytes=<offset>-<offset+limit-1>`` and receives only those bytes.

Where that agent cannot be reached from the control plane (a cluster whose worker nodes'
agent port is not routable from here), or its address is not one of the cluster's nodes,
the read falls back to the head's state API with ``lines=-1``: the log streams from its
first byte, the bytes before ``offset`` are dropped as they arrive and the read stops after
``limit`` bytes. Memory stays bounded by ``limit``, but the cluster sends everything before
``offset`` again on each read (``LogChunk.transferred`` says so).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from apps.dispatch.port import BackendError, LogChunk

# Ray's own name for a submitted job's driver log (ray.dashboard.modules.job.common).
JOB_LOG_FILE = "job-driver-{submission_id}.log"
# One logs() call ends by then, however slowly the cluster sends (besides the socket timeouts).
LOG_DEADLINE_S = 30.0
# After a driver node's agent could not be reached, use the head's stream for this long.
AGENT_RETRY_S = 300.0
_BLOCK = 64 * 1024
_SOURCES_KEPT = 4096


@dataclass(frozen=True)
class DriverLocation:
    """Where Ray runs a job's driver: the node and that node's dashboard agent (as Ray says)."""

    node_id: str
    agent_address: str | None


@dataclass(frozen=True)
class _Source:
    node_id: str
    agent: str | None  # the agent's base URL, checked against the node table; None: the head's stream


class _AgentUnreachable(Exception):
    pass


class RayLogReader:
    """Reads driver logs of one Ray cluster; remembers where each job's log lives."""

    def __init__(self, address: str, headers: dict[str, str], timeout: tuple[float, float]) -> None:
        self._address = address
        self._headers = headers
        self._timeout = timeout
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self._agent_down_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def read(
        self,
        remote_id: str,
        offset: int,
        limit: int,
        *,
        locate: Callable[[str], DriverLocation | None],
    ) -> LogChunk:
        """At most ``limit`` bytes of ``remote_id``'s driver log from byte ``offset``.

        ``locate`` asks Ray where the job's driver runs (None: no such job, or not started).
        """
        if offset < 0 or limit < 1:
            raise BackendError(f"bad log range: offset {offset}, limit {limit}", retryable=False)
        source = self._source(remote_id, locate)
        if source is None:
            return LogChunk(offset=offset)
        deadline = time.monotonic() + LOG_DEADLINE_S
        if source.agent is not None and not self._agent_down(source.agent):
            try:
                return self._ranged(source.agent, remote_id, offset, limit, deadline)
            except _AgentUnreachable:
                with self._lock:
                    self._agent_down_until[source.agent] = time.monotonic() + AGENT_RETRY_S
        return self._streamed(source.node_id, remote_id, offset, limit, deadline)

    # -- where the log is -----------------------------------------------------------

    def _source(self, remote_id: str, locate: Callable[[str], DriverLocation | None]) -> _Source | None:
        with self._lock:
            known = self._sources.get(remote_id)
        if known is not None:
            return known
        driver = locate(remote_id)
        if driver is None or not driver.node_id:
            return None  # not started yet: ask again next time
        source = _Source(node_id=driver.node_id, agent=self._trusted_agent(driver))
        with self._lock:
            self._sources[remote_id] = source
            while len(self._sources) > _SOURCES_KEPT:
                self._sources.popitem(last=False)
        return source

    def _trusted_agent(self, driver: DriverLocation) -> str | None:
        """The agent's base URL when its host is the driver node's own IP in Ray's node table.

        The address comes from the job's record, which code running in the cluster can
        rewrite; the cluster's token must never be sent wherever that record points.
        """
        if not driver.agent_address:
            return None
        parts = urlsplit(driver.agent_address)
        try:
            port = parts.port
        except ValueError:
            return None
        if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
            return None
        reply = self._get_json(
            "/api/v0/nodes",
            {"detail": "1", "filter_keys": "node_id", "filter_predicates": "=", "filter_values": driver.node_id},
        )
        try:
            node_ips = {str(node.get("node_ip")) for node in reply["data"]["result"]["result"]}
        except (KeyError, TypeError, AttributeError) as exc:
            raise BackendError(f"unexpected node answer from Ray at {self._address}: {exc!r}", retryable=False) from exc
        if parts.hostname not in node_ips:
            return None
        return f"{parts.scheme}://{parts.netloc}"

    def _agent_down(self, agent: str) -> bool:
        with self._lock:
            until = self._agent_down_until.get(agent)
            if until is not None and until <= time.monotonic():
                del self._agent_down_until[agent]
                until = None
        return until is not None

    # -- reading ----------------------------------------------------------------------

    def _ranged(self, agent: str, remote_id: str, offset: int, limit: int, deadline: float) -> LogChunk:
        """Only the bytes asked for, from the driver node's agent (HTTP Range)."""
        url = f"{agent}/logs/{quote(JOB_LOG_FILE.format(submission_id=remote_id))}"
        headers = {**self._headers, "Range": f"bytes={offset}-{offset + limit - 1}", "Accept-Encoding": "identity"}
        where = f"Ray agent at {agent}: logs"
        try:
            response = requests.get(url, headers=headers, stream=True, timeout=self._timeout, allow_redirects=False)
        except requests.ConnectionError as exc:  # refused, unroutable or connect timeout
            raise _AgentUnreachable(str(exc)) from exc
        except requests.RequestException as exc:
            raise BackendError(f"{where}: {type(exc).__name__}", retryable=True) from exc
        with response:
            status = response.status_code
            if status == 206:
                data, _, received = _read_window(response, 0, limit, deadline, where)
                total = _content_range_total(response.headers.get("Content-Range", ""))
                more = offset + len(data) < total if total is not None else len(data) == limit
                return LogChunk(offset=offset, data=data, more=more, transferred=received)
            if status == 200:  # the agent ignored the range: its answer starts at the first byte
                data, more, received = _read_window(response, offset, limit, deadline, where)
                return LogChunk(offset=offset, data=data, more=more, transferred=received)
            if status in (404, 416):  # no log yet; nothing at or past the offset
                return LogChunk(offset=offset)
            raise _status_error(where, status, _error_text(response))

    def _streamed(self, node_id: str, remote_id: str, offset: int, limit: int, deadline: float) -> LogChunk:
        """The head's state API stream from the first byte, kept only from ``offset``."""
        params = {
            "node_id": node_id,
            "filename": JOB_LOG_FILE.format(submission_id=remote_id),
            "lines": "-1",
            "timeout": str(max(int(self._timeout[1]), 1)),
        }
        where = f"Ray at {self._address}: logs"
        try:
            response = requests.get(
                f"{self._address}/api/v0/logs/file",
                params=params,
                headers={**self._headers, "Accept-Encoding": "identity"},
                stream=True,
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise BackendError(f"{where}: unreachable ({type(exc).__name__})", retryable=True) from exc
        with response:
            if response.status_code == 200:
                data, more, received = _read_window(response, offset, limit, deadline, where)
                return LogChunk(offset=offset, data=data, more=more, transferred=received)
            text = _error_text(response)
            if "file is not found" in text:  # the driver has not written its log yet
                return LogChunk(offset=offset)
            raise _status_error(where, response.status_code, text)

    def _get_json(self, path: str, params: dict[str, str]) -> Any:
        where = f"Ray at {self._address}: GET {path}"
        try:
            response = requests.get(self._address + path, params=params, headers=self._headers, timeout=self._timeout)
        except requests.RequestException as exc:
            raise BackendError(f"{where}: unreachable ({type(exc).__name__})", retryable=True) from exc
        if response.status_code != 200:
            raise _status_error(where, response.status_code, response.text[:300])
        try:
            return response.json()
        except ValueError as exc:
            raise BackendError(f"{where} did not answer JSON", retryable=False) from exc


def _read_window(
    response: requests.Response, skip: int, limit: int, deadline: float, where: str
) -> tuple[bytes, bool, int]:
    """Bytes ``skip .. skip+limit`` of an answer, read as they arrive and never more than a
    block past them: (data, whether the answer went on, bytes received)."""
    window = bytearray()
    received = 0
    try:
        for block in response.iter_content(_BLOCK):
            start = received
            received += len(block)
            if received > skip:
                window += block[max(skip - start, 0) : max(skip - start, 0) + limit + 1 - len(window)]
            if len(window) > limit:
                break
            if time.monotonic() > deadline:
                if window:  # what came is right; the rest comes with the next read
                    return bytes(window), True, received
                raise BackendError(f"{where}: no answer within {LOG_DEADLINE_S:g}s", retryable=True)
    except requests.RequestException as exc:
        raise BackendError(f"{where}: the answer broke off ({type(exc).__name__})", retryable=True) from exc
    return bytes(window[:limit]), len(window) > limit, received


def _content_range_total(value: str) -> int | None:
    """The complete length in ``Content-Range: bytes 0-99/1234`` (None when it is ``*``)."""
    _, _, total = value.rpartition("/")
    return int(total) if total.strip().isdigit() else None


def _error_text(response: requests.Response) -> str:
    try:
        head = next(response.iter_content(2048), b"")
    except requests.RequestException:
        return ""
    return head.decode("utf-8", errors="replace") if isinstance(head, bytes) else str(head)


def _status_error(where: str, status: int, text: str) -> BackendError:
    if status in (401, 403):
        return BackendError(f"{where}: the cluster refused our credentials (token)", retryable=False)
    line = text.strip().splitlines()[-1] if text.strip() else ""
    return BackendError(f"{where}: HTTP {status}: {line[:300]}", retryable=status >= 500 or status in (408, 429))
