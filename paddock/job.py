"""Reporting from inside a Paddock job: metrics, checkpoints, resume and model versions.

Standard library only, so ``from paddock import job`` works on any cluster image::

    from paddock import job

    job.report_metrics(step, loss=loss, lr=lr)        # buffered; a background thread sends batches
    uri = job.save_checkpoint("ckpt/", step, metrics={"loss": loss})
    start = job.resume_from()                         # a checkpoint URI when this attempt resumes

The control plane sets ``PADDOCK_API_URL`` and ``PADDOCK_JOB_TOKEN`` for each attempt. Without a
token every call is a no-op that says so once, so a script runs outside Paddock unchanged.
Reporting calls never raise into the training loop: transient failures (connection errors,
timeouts, 5xx, 429) are retried with capped exponential backoff while points wait in a bounded
buffer; a request the server refuses (another 4xx) is logged once with its message and dropped.
Storage calls (``save_checkpoint``, ``download_checkpoint``) raise :class:`StorageError` when the
storage itself still fails after retries, because training on without a checkpoint is a decision
for the script.
"""

from __future__ import annotations

import atexit
import collections
import email.utils
import http.client
import json
import logging
import math
import operator
import os
import random
import re
import shutil
import signal
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger("paddock.job")

__all__ = [
    "Reporter",
    "StorageError",
    "configure",
    "download_checkpoint",
    "flush",
    "register_model_version",
    "report_checkpoint",
    "report_metrics",
    "resume_from",
    "resume_step",
    "save_checkpoint",
]

METRIC_NAME = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
MAX_POINTS_PER_REPORT = 1000  # the server's limit for one POST
MAX_NAMES_PER_POINT = 64
DEFAULT_BUFFER = 10_000
_PIECE = 1024 * 1024


class StorageError(RuntimeError):
    """Saving or fetching checkpoint files failed after retries (or the server refused it)."""


class _Rejected(Exception):
    """The server refused the request (a 4xx other than 429): retrying cannot help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class _Transient(Exception):
    """A failure a retry may mend; ``retry_after`` is the server's wish in seconds, if it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_message(raw: bytes) -> str:
    """The server's complaint, short: DRF's ``detail`` or field errors, else the text."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text[:500] or "(no message)"
    if isinstance(body, dict) and set(body) == {"detail"}:
        return str(body["detail"])
    return json.dumps(body)[:500]


def _http_failure(status: int, headers: Any, raw: bytes) -> Exception:
    if status == 429 or status >= 500:
        return _Transient(f"HTTP {status}: {_error_message(raw)}", _retry_after(headers.get("Retry-After")))
    return _Rejected(status, _error_message(raw))


_TRANSIENT_ERRORS = (
    urllib.error.URLError,  # connection refused, DNS, and timeouts wrapped by urllib
    ConnectionError,
    TimeoutError,
    socket.timeout,
    http.client.HTTPException,  # RemoteDisconnected, IncompleteRead, BadStatusLine
)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the files themselves are synced
    finally:
        os.close(fd)


def _safe_relative(path: str) -> Path:
    relative = Path(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise StorageError(f"the server named a file outside the checkpoint: {path!r}")
    return relative


def _copy_atomically(source: Path, target: Path) -> None:
    """Copy to a temporary name beside ``target``, fsync, then rename: a reader never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.paddock-partial")
    with source.open("rb") as reader, temporary.open("wb") as writer:
        shutil.copyfileobj(reader, writer, _PIECE)
        writer.flush()
        os.fsync(writer.fileno())
    os.replace(temporary, target)


def _list_files(root: Path) -> list[tuple[str, Path, int]]:
    """Every regular file under ``root`` as (relative POSIX path, path, size), sorted."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            found.append((path.relative_to(root).as_posix(), path, path.stat().st_size))
    return found


class Reporter:
    """One job attempt's link to Paddock. The module's functions use one made from the
    environment; tests and scripts may build their own (or install one with :func:`configure`)."""

    def __init__(
        self,
        api_url: str | None,
        token: str | None,
        *,
        checkpoint_uri: str | None = None,
        resume_uri: str | None = None,
        resume_step_value: int | None = None,
        request_timeout: float = 30.0,
        flush_interval: float = 2.0,
        max_buffer: int = DEFAULT_BUFFER,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        call_deadline: float = 300.0,
        upload_workers: int = 4,
        file_tries: int = 5,
    ) -> None:
        self.api_url = (api_url or "http://127.0.0.1:8000").rstrip("/")
        self.token = token or None
        self.checkpoint_uri = checkpoint_uri
        self.resume_uri = resume_uri or None
        self.resume_step_value = resume_step_value
        self.request_timeout = request_timeout
        self.flush_interval = flush_interval
        self.max_buffer = max(1, max_buffer)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.call_deadline = call_deadline
        self.upload_workers = max(1, upload_workers)
        self.file_tries = max(1, file_tries)

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._buffer: collections.deque[dict[str, Any]] = collections.deque()
        self._inflight: list[dict[str, Any]] = []
        self._pending_checkpoints: list[dict[str, Any]] = []
        self._last_step = -1
        self._failures = 0
        self._not_before = 0.0  # monotonic time before which the flusher does not try again
        self._retry_after_until = 0.0  # a server-requested wait that even flush() honours
        self._flush_requested = False
        self._last_send = 0.0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._warned: set[str] = set()
        self._checkpoint_ids: dict[str, int] = {}
        self.last_checkpoint_uri: str | None = None
        self.sent_points = 0
        self.dropped_points = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Reporter:
        env = os.environ if environ is None else environ
        step = env.get("PADDOCK_RESUME_STEP", "")
        return cls(
            env.get("PADDOCK_API_URL"),
            env.get("PADDOCK_JOB_TOKEN"),
            checkpoint_uri=env.get("PADDOCK_CHECKPOINT_URI"),
            resume_uri=env.get("PADDOCK_RESUME_FROM"),
            resume_step_value=int(step) if step.isdigit() else None,
            request_timeout=float(env.get("PADDOCK_REQUEST_TIMEOUT", "") or 30),
        )

    @property
    def enabled(self) -> bool:
        return self.token is not None

    # --- logging ----------------------------------------------------------------------------
    def _warn_once(self, key: str, message: str, *args: Any, level: int = logging.WARNING) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        log.log(level, message, *args)

    def _disabled(self, what: str) -> bool:
        if self.enabled:
            return False
        self._warn_once(
            "no-token",
            "paddock.job: PADDOCK_JOB_TOKEN is not set, so %s and later reports do nothing (running outside Paddock)",
            what,
        )
        return True

    # --- HTTP -------------------------------------------------------------------------------
    def _request_once(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the URL is Paddock's, from the control plane
            f"{self.api_url}/api/v1/{path.lstrip('/')}", data=data, method=method
        )
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.request_timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read() if exc.fp is not None else b""
            raise _http_failure(exc.code, exc.headers, raw) from None
        except _TRANSIENT_ERRORS as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        return json.loads(raw) if raw.strip() else None

    def _backoff(self, failures: int, retry_after: float | None) -> float:
        delay = min(self.backoff_cap, self.backoff_base * (2 ** min(failures - 1, 30)))
        delay *= 0.5 + random.random() / 2  # jitter: a restarted server is not hit by every job at once
        if retry_after is not None:
            delay = max(delay, min(retry_after, max(self.backoff_cap, 60.0)))
        return delay

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        deadline: float | None = None,
        retry_when: Callable[[_Rejected], bool] | None = None,
    ) -> Any:
        """One API call with retries until ``deadline`` seconds pass; raises the last failure."""
        give_up = time.monotonic() + (self.call_deadline if deadline is None else deadline)
        failures = 0
        while True:
            try:
                return self._request_once(method, path, body)
            except _Rejected as exc:
                if retry_when is None or not retry_when(exc):
                    raise
                failure: Exception = exc
                retry_after = None
            except _Transient as exc:
                failure, retry_after = exc, exc.retry_after
            failures += 1
            delay = self._backoff(failures, retry_after)
            if time.monotonic() + delay > give_up:
                raise failure
            log.info("paddock.job: %s %s failed (%s); retrying in %.1f s", method, path, failure, delay)
            time.sleep(delay)

    # --- metrics ----------------------------------------------------------------------------
    def report_metrics(self, step: int, metrics: Mapping[str, Any] | None = None, /, **values: Any) -> None:
        """Queue one point: ``report_metrics(10, loss=2.3)`` or ``report_metrics(10, {"eval/loss": 2.1})``.
        Never raises; a bad name or value is left out with a warning."""
        try:
            self._report_metrics(step, {**(metrics or {}), **values})
        except Exception:  # the training loop comes first
            log.exception("paddock.job: could not queue metrics for step %r", step)

    def _report_metrics(self, step: int, values: dict[str, Any]) -> None:
        if self._disabled("report_metrics"):
            return
        try:
            step = -1 if isinstance(step, bool) else operator.index(step)  # ints, numpy ints
        except TypeError:
            step = -1
        if step < 0:
            self._warn_once("bad-step", "paddock.job: a step is an integer ≥ 0; points with other steps are dropped")
            return
        clean: dict[str, float] = {}
        for name, value in values.items():
            number = self._number(name, value)
            if number is None:
                continue
            if len(clean) == MAX_NAMES_PER_POINT:
                self._warn_once("too-many", "paddock.job: at most %d metrics a step; the rest are dropped", 64)
                break
            clean[name] = number
        if not clean:
            return
        with self._wake:
            if step < self._last_step:
                self._warn_once(
                    "step-back",
                    "paddock.job: step %d is below the last reported step %d; such points are dropped",
                    step,
                    self._last_step,
                )
                return
            self._last_step = step
            if len(self._buffer) + len(self._inflight) >= self.max_buffer:
                self._drop_oldest(1)
            self._buffer.append({"step": step, "values": clean})
            if len(self._buffer) >= MAX_POINTS_PER_REPORT:
                self._wake.notify_all()
        self._ensure_thread()

    def _number(self, name: Any, value: Any) -> float | None:
        if not isinstance(name, str) or not METRIC_NAME.match(name):
            self._warn_once(
                f"name:{name}", "paddock.job: metric name %r is not allowed (A-Z a-z 0-9 _ . : / -, ≤ 64)", name
            )
            return None
        if isinstance(value, bool):
            self._warn_once(f"bool:{name}", "paddock.job: metric %s is a bool; send a number", name)
            return None
        try:
            number = float(value)  # ints, floats, numpy and one-element torch tensors
        except (TypeError, ValueError):
            self._warn_once(f"nan:{name}", "paddock.job: metric %s=%r is not a number; dropped", name, value)
            return None
        if not math.isfinite(number):
            self._warn_once(
                f"inf:{name}", "paddock.job: metric %s is not finite (%s); such values are dropped", name, number
            )
            return None
        return number

    def _clean(self, metrics: Mapping[str, Any] | None) -> dict[str, float]:
        numbers = {name: self._number(name, value) for name, value in (metrics or {}).items()}
        return {name: number for name, number in numbers.items() if number is not None}

    def _drop_oldest(self, count: int) -> None:
        dropped = 0
        while dropped < count and self._buffer:
            self._buffer.popleft()
            dropped += 1
        self.dropped_points += dropped
        self._warn_once(
            "buffer-full",
            "paddock.job: %d metric points wait unsent (Paddock unreachable?); dropping the oldest from now on",
            self.max_buffer,
        )

    # --- the flusher ------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._closed = False
            self._thread = threading.Thread(target=self._run_flusher, name="paddock-job-flusher", daemon=True)
            self._thread.start()

    def _has_work(self) -> bool:
        return bool(self._buffer or self._pending_checkpoints)

    def _run_flusher(self) -> None:
        while True:
            with self._wake:
                while True:
                    if self._closed and not self._has_work():
                        return
                    now = time.monotonic()
                    ready = self._not_before <= now
                    full = len(self._buffer) >= MAX_POINTS_PER_REPORT
                    if self._has_work() and ready and (full or self._flush_requested or self._closed):
                        break
                    if self._has_work() and ready and self._since_last_send() >= self.flush_interval:
                        break
                    wait = self.flush_interval
                    if self._has_work() and not ready:
                        wait = max(0.01, min(self._not_before - now, wait))
                    self._wake.wait(wait)
                batch = [self._buffer.popleft() for _ in range(min(MAX_POINTS_PER_REPORT, len(self._buffer)))]
                self._inflight = batch
                checkpoints = list(self._pending_checkpoints)
            try:
                self._send(batch, checkpoints)
            except Exception:  # a bug here must not kill the flusher silently
                log.exception("paddock.job: the metrics flusher failed; it keeps going")
            finally:
                with self._wake:
                    self._inflight = []
                    self._wake.notify_all()

    def _since_last_send(self) -> float:
        return time.monotonic() - self._last_send

    def _send(self, batch: list[dict[str, Any]], checkpoints: list[dict[str, Any]]) -> None:
        self._last_send = time.monotonic()
        for body in checkpoints:
            try:
                self._post_checkpoint(body)
            except _Transient as exc:
                self._keep_for_later(batch, exc)
                return
            except _Rejected as exc:
                log.error(
                    "paddock.job: Paddock refused checkpoint %s (HTTP %d): %s", body["uri"], exc.status, exc.message
                )
            with self._lock:
                self._pending_checkpoints.remove(body)
        if batch:
            try:
                self._request_once("POST", "job-reports/metrics/", {"points": batch})
                self.sent_points += len(batch)
            except _Transient as exc:
                self._keep_for_later(batch, exc)
                return
            except _Rejected as exc:
                self._warn_once(
                    f"rejected:{exc.status}",
                    "paddock.job: Paddock refused %d metric points (HTTP %d): %s; they are dropped",
                    len(batch),
                    exc.status,
                    exc.message,
                    level=logging.ERROR,
                )
                self.dropped_points += len(batch)
        with self._wake:
            if self._failures:
                log.warning("paddock.job: reporting to Paddock works again")
            self._failures = 0
            self._not_before = 0.0
            self._retry_after_until = 0.0
            if not self._has_work():
                self._flush_requested = False

    def _keep_for_later(self, batch: list[dict[str, Any]], exc: _Transient) -> None:
        with self._wake:
            self._buffer.extendleft(reversed(batch))  # back to the front, in order
            overflow = len(self._buffer) - self.max_buffer
            if overflow > 0:
                self._drop_oldest(overflow)
            self._failures += 1
            delay = self._backoff(self._failures, exc.retry_after)
            self._not_before = time.monotonic() + delay
            self._retry_after_until = self._not_before if exc.retry_after is not None else 0.0
            if self._failures == 1:
                log.warning("paddock.job: cannot report to Paddock (%s); points are kept and retried", exc)

    def flush(self, timeout: float = 30.0) -> bool:
        """Send everything queued now; wait at most ``timeout`` seconds. True when nothing is left."""
        if not self.enabled:
            return True
        deadline = time.monotonic() + timeout
        with self._wake:
            if not self._has_work() and not self._inflight:
                return True
            self._flush_requested = True
            if self._retry_after_until <= time.monotonic():
                self._not_before = 0.0  # try now, once; a failure backs off again (Retry-After is honoured)
            self._wake.notify_all()
        self._ensure_thread()
        with self._wake:
            while self._has_work() or self._inflight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    left = len(self._buffer) + len(self._inflight)
                    log.warning("paddock.job: flush gave up after %.0f s with %d metric points unsent", timeout, left)
                    return False
                self._wake.wait(min(remaining, 0.5))
            self._flush_requested = False
        return True

    def close(self, timeout: float = 30.0) -> bool:
        """Flush, then stop the flusher thread (at exit)."""
        done = self.flush(timeout)
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        return done

    # --- checkpoints ------------------------------------------------------------------------
    def _post_checkpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._request_once("POST", "job-reports/checkpoints/", body) or {}
        if isinstance(result.get("id"), int):
            self._checkpoint_ids[body["uri"]] = result["id"]
        return result

    def report_checkpoint(
        self, uri: str, step: int, metrics: Mapping[str, Any] | None = None, final: bool = False
    ) -> dict[str, Any] | None:
        """Tell Paddock a checkpoint's files are in place at ``uri``. Never raises: if Paddock is
        unreachable the report is queued and retried with the metrics (and at exit)."""
        if self._disabled("report_checkpoint"):
            return None
        clean = {
            name: number for name, value in (metrics or {}).items() if (number := self._number(name, value)) is not None
        }
        body = {"uri": uri, "step": int(step), "metrics": clean, "final": bool(final)}
        self.last_checkpoint_uri = uri
        # Every point up to the checkpoint's step is stored before the checkpoint counts, so a
        # later attempt that resumes from it continues an unbroken curve even if this process
        # is killed before its next flush (briefly: an unreachable Paddock keeps the rest queued).
        self.flush(timeout=CHECKPOINT_FLUSH_SECONDS)
        try:
            result: dict[str, Any] = self._call(
                "POST", "job-reports/checkpoints/", body, deadline=min(60.0, self.call_deadline)
            )
        except _Transient as exc:
            log.warning("paddock.job: checkpoint %s not reported yet (%s); it is queued and retried", uri, exc)
            with self._wake:
                self._pending_checkpoints.append(body)
                self._wake.notify_all()
            self._ensure_thread()
            return None
        except _Rejected as exc:
            log.error("paddock.job: Paddock refused checkpoint %s (HTTP %d): %s", uri, exc.status, exc.message)
            return None
        except Exception:
            log.exception("paddock.job: could not report checkpoint %s", uri)
            return None
        if isinstance(result, dict) and isinstance(result.get("id"), int):
            self._checkpoint_ids[uri] = result["id"]
        return result

    def save_checkpoint(
        self,
        local_dir: str | os.PathLike[str],
        step: int,
        metrics: Mapping[str, Any] | None = None,
        final: bool = False,
    ) -> str | None:
        """Upload every file under ``local_dir`` as the checkpoint of ``step``, report it, return its URI.
        Raises :class:`StorageError` when the files cannot be stored after retries."""
        if self._disabled("save_checkpoint"):
            return None
        root = Path(local_dir)
        if not root.is_dir():
            raise StorageError(f"{root} is not a directory")
        files = _list_files(root)
        if not files:
            raise StorageError(f"{root} holds no files to save")
        plan = self._storage_call(
            "job-reports/checkpoint-uploads/",
            {"step": int(step), "files": [{"path": path, "size": size} for path, _, size in files]},
            what=f"a place for checkpoint step {step}",
        )
        sources = {path: source for path, source, _ in files}
        targets = plan.get("files") or []
        if {entry.get("path") for entry in targets} != set(sources):
            raise StorageError("Paddock's upload plan does not name the checkpoint's files")
        started = time.monotonic()
        if "directory" in plan:
            for entry in targets:
                _copy_atomically(sources[entry["path"]], Path(entry["local_path"]))
            _fsync_directory(Path(plan["directory"]))
        else:
            self._parallel(self._put_file, [(entry, sources[entry["path"]]) for entry in targets])
        uri: str = plan["uri"]
        log.info(
            "paddock.job: checkpoint step %d: %d files (%d bytes) stored at %s in %.1f s",
            step,
            len(files),
            sum(size for *_, size in files),
            uri,
            time.monotonic() - started,
        )
        self.report_checkpoint(uri, step, metrics, final)
        return uri

    def _storage_call(self, path: str, body: dict[str, Any], *, what: str) -> dict[str, Any]:
        try:
            result = self._call("POST", path, body)
        except _Transient as exc:
            raise StorageError(f"could not get {what} from Paddock after retries: {exc}") from None
        except _Rejected as exc:
            raise StorageError(f"Paddock refused {what} (HTTP {exc.status}): {exc.message}") from None
        if not isinstance(result, dict):
            raise StorageError(f"Paddock's answer for {what} is not an object")
        return result

    def _parallel(self, work: Callable[[dict[str, Any], Path], None], items: list[tuple[dict[str, Any], Path]]) -> None:
        with ThreadPoolExecutor(max_workers=min(self.upload_workers, max(1, len(items)))) as pool:
            futures = [pool.submit(work, entry, path) for entry, path in items]
            errors = [future.exception() for future in futures]
        failed = [error for error in errors if error is not None]
        if failed:
            first = failed[0]
            if isinstance(first, StorageError):
                raise first
            raise StorageError(f"{len(failed)} of {len(items)} files failed: {first}") from first

    def _with_file_retries(self, label: str, attempt: Callable[[], None]) -> None:
        for tries in range(1, self.file_tries + 1):
            try:
                attempt()
                return
            except _Rejected as exc:
                raise StorageError(f"{label}: refused (HTTP {exc.status}): {exc.message}") from None
            except (_Transient, OSError) as exc:
                if tries == self.file_tries:
                    raise StorageError(f"{label}: failed {tries} times, last: {exc}") from None
                delay = self._backoff(tries, getattr(exc, "retry_after", None))
                log.info("paddock.job: %s failed (%s); retrying in %.1f s", label, exc, delay)
                time.sleep(delay)

    def _put_file(self, entry: dict[str, Any], source: Path) -> None:
        def attempt() -> None:
            size = source.stat().st_size
            with source.open("rb") as body:
                self._transfer("PUT", entry["url"], entry.get("headers") or {}, body=body, size=size)

        self._with_file_retries(f"upload of {entry['path']}", attempt)

    def _transfer(
        self, method: str, url: str, headers: Mapping[str, str], *, body: BinaryIO | None = None, size: int = 0
    ) -> http.client.HTTPResponse:
        """A presigned-URL request (no Paddock token: the URL carries its own signature)."""
        request = urllib.request.Request(url, data=body if body is not None else None, method=method)  # noqa: S310
        for name, value in headers.items():
            request.add_header(name, value)
        if body is not None:
            request.add_header("Content-Length", str(size))  # stream the file, not chunked encoding
        try:
            response: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=self.request_timeout)  # noqa: S310
        except urllib.error.HTTPError as exc:
            raise _http_failure(exc.code, exc.headers, exc.read() if exc.fp is not None else b"") from None
        except _TRANSIENT_ERRORS as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        if body is not None:
            response.read()
            response.close()
        return response

    # --- downloads --------------------------------------------------------------------------
    def download_checkpoint(self, uri: str, local_dir: str | os.PathLike[str]) -> str:
        """Fetch a checkpoint's (or dataset's, or base model's) files into ``local_dir``; returns it.
        Outside Paddock only ``file://`` URIs work (they are copied directly)."""
        target = Path(local_dir)
        target.mkdir(parents=True, exist_ok=True)
        if not self.enabled:
            if not uri.startswith("file://"):
                raise StorageError(f"cannot download {uri} outside Paddock (PADDOCK_JOB_TOKEN is not set)")
            source = Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
            items = [(path, src) for path, src, _ in _list_files(source)] if source.is_dir() else []
            if source.is_file():
                items = [(source.name, source)]
            if not items:
                raise StorageError(f"{uri} holds no files")
            for path, src in items:
                _copy_atomically(src, target / path)
            return str(target)
        plan = self._storage_call("job-reports/downloads/", {"uri": uri}, what=f"the files of {uri}")
        entries = plan.get("files") or []
        for entry in entries:
            _safe_relative(str(entry.get("path", "")))
        if "directory" in plan or all("local_path" in entry for entry in entries):
            for entry in entries:
                _copy_atomically(Path(entry["local_path"]), target / entry["path"])
        else:
            self._parallel(lambda entry, dest: self._get_file(entry, dest), [(e, target / e["path"]) for e in entries])
        return str(target)

    def _get_file(self, entry: dict[str, Any], destination: Path) -> None:
        def attempt() -> None:
            destination.parent.mkdir(parents=True, exist_ok=True)
            temporary = destination.with_name(f".{destination.name}.paddock-partial")
            response = self._transfer("GET", entry["url"], entry.get("headers") or {})
            written = 0
            try:
                with temporary.open("wb") as writer:
                    while piece := response.read(_PIECE):
                        writer.write(piece)
                        written += len(piece)
                    writer.flush()
                    os.fsync(writer.fileno())
            except _TRANSIENT_ERRORS as exc:
                raise _Transient(f"{type(exc).__name__}: {exc}") from None
            finally:
                response.close()
            expected = entry.get("size")
            if isinstance(expected, int) and written != expected:
                raise _Transient(f"got {written} of {expected} bytes")
            os.replace(temporary, destination)

        self._with_file_retries(f"download of {entry['path']}", attempt)

    # --- model versions ---------------------------------------------------------------------
    def register_model_version(
        self,
        model: str,
        checkpoint_uri: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> dict[str, Any] | None:
        """Register a checkpoint (default: the last one this attempt reported) as a new version of
        ``model``. Never raises; returns the version, or None when it could not be registered."""
        if self._disabled("register_model_version"):
            return None
        uri = checkpoint_uri or self.last_checkpoint_uri
        if not uri:
            log.error("paddock.job: register_model_version needs a checkpoint: save one first or pass checkpoint_uri")
            return None
        self.flush(timeout=60)  # the checkpoint report may still wait in the queue
        clean = {
            name: number for name, value in (metrics or {}).items() if (number := self._number(name, value)) is not None
        }
        body: dict[str, Any] = {"model": model, "metrics": clean, "description": description}
        if uri in self._checkpoint_ids:
            body["checkpoint"] = self._checkpoint_ids[uri]
        else:
            body["uri"] = uri
        try:
            # 409: the checkpoint is still being measured (state writing); it completes shortly.
            result: dict[str, Any] = self._call(
                "POST",
                "job-reports/model-versions/",
                body,
                deadline=min(120.0, self.call_deadline),
                retry_when=lambda exc: exc.status == 409,
            )
        except (_Transient, _Rejected) as exc:
            message = exc.message if isinstance(exc, _Rejected) else str(exc)
            log.error("paddock.job: could not register %s as a version of %s: %s", uri, model, message)
            return None
        except Exception:
            log.exception("paddock.job: could not register %s as a version of %s", uri, model)
            return None
        log.info(
            "paddock.job: registered %s version %s", model, result.get("version") if isinstance(result, dict) else "?"
        )
        return result

    def context(self) -> dict[str, Any] | None:
        """What Paddock knows about this attempt (``GET job-reports/context/``), or None."""
        if self._disabled("context"):
            return None
        try:
            result: dict[str, Any] = self._call("GET", "job-reports/context/", deadline=min(60.0, self.call_deadline))
        except (_Transient, _Rejected) as exc:
            log.error("paddock.job: could not read the job's context: %s", exc)
            return None
        return result


# --- the module's functions: one Reporter from the environment ------------------------------
_default: Reporter | None = None
_default_lock = threading.Lock()
EXIT_FLUSH_SECONDS = 30.0
# Ray stops a job with SIGTERM and SIGKILLs it a few seconds later (RAY_JOB_STOP_WAIT_TIME_S).
SIGTERM_FLUSH_SECONDS = 2.0
# How long reporting a checkpoint waits for the queued metrics to go first.
CHECKPOINT_FLUSH_SECONDS = 5.0


def _reporter() -> Reporter:
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Reporter.from_env()
                if _default.enabled:
                    _flush_on_sigterm()
    return _default


def _flush_on_sigterm() -> None:
    """A stopped job (a preemption, a cancel) gets SIGTERM and a few seconds before SIGKILL:
    send what is queued, then end as SIGTERM would have. Only where nobody else handles
    SIGTERM, and only from the main thread (where Python runs signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def handler(signum: int, frame: Any) -> None:
            if _default is not None:
                _default.flush(timeout=SIGTERM_FLUSH_SECONDS)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # not the main interpreter, or signals are not ours to set
        return


def configure(reporter: Reporter | None = None, **options: Any) -> Reporter:
    """Install the reporter the module's functions use: the one given, or a new one from the
    environment with ``options`` set (e.g. ``request_timeout=5``). The previous one is flushed."""
    global _default
    if reporter is None:
        reporter = Reporter.from_env()
        for name, value in options.items():
            if not hasattr(reporter, name) or name.startswith("_"):
                raise TypeError(f"configure() got an unknown option {name!r}")
            setattr(reporter, name, value)
    with _default_lock:
        previous, _default = _default, reporter
    if previous is not None and previous is not reporter:
        previous.close(timeout=5)
    return reporter


def report_metrics(step: int, metrics: Mapping[str, Any] | None = None, /, **values: Any) -> None:
    _reporter().report_metrics(step, metrics, **values)


def report_checkpoint(
    uri: str, step: int, metrics: Mapping[str, Any] | None = None, final: bool = False
) -> dict[str, Any] | None:
    return _reporter().report_checkpoint(uri, step, metrics, final)


def save_checkpoint(
    local_dir: str | os.PathLike[str], step: int, metrics: Mapping[str, Any] | None = None, final: bool = False
) -> str | None:
    return _reporter().save_checkpoint(local_dir, step, metrics, final)


def resume_from() -> str | None:
    """The checkpoint this attempt resumes from (``PADDOCK_RESUME_FROM``), or None for a fresh start."""
    return _reporter().resume_uri


def resume_step() -> int | None:
    """The step of :func:`resume_from`'s checkpoint, when Paddock said (``PADDOCK_RESUME_STEP``)."""
    return _reporter().resume_step_value


def download_checkpoint(uri: str, local_dir: str | os.PathLike[str]) -> str:
    return _reporter().download_checkpoint(uri, local_dir)


def register_model_version(
    model: str, checkpoint_uri: str | None = None, metrics: Mapping[str, Any] | None = None, description: str = ""
) -> dict[str, Any] | None:
    return _reporter().register_model_version(model, checkpoint_uri, metrics, description)


def flush(timeout: float = 30.0) -> bool:
    return _reporter().flush(timeout)


def _flush_at_exit() -> None:
    if _default is not None and _default.enabled:
        try:
            _default.close(timeout=float(os.environ.get("PADDOCK_EXIT_FLUSH_SECONDS", "") or EXIT_FLUSH_SECONDS))
        except Exception:  # never turn a finished script into a failed one at exit
            log.exception("paddock.job: flushing at exit failed")


atexit.register(_flush_at_exit)
