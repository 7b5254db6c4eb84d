# mypy: disable-error-code="attr-defined, call-arg, override"
# (the kombu stubs lag kombu 5.7: they lack _exchange_file and have older signatures)
"""The embedded default's broker: kombu's file-system transport, made safe under load.

kombu's ``filesystem://`` transport writes a message by creating ``<ts>_<uuid>.<queue>.msg``
and then filling it, while a consumer may list the folder, move that file away and read it
between the two: it gets a half-written message, ``json.loads`` raises, and the worker
crashes (seen under load right after beat sent ``jobs.reconcile``). It also moves consumed
files into the system temp dir, which may be another file system (a copy, not a rename).

This transport (``paddockfs://``, registered in :mod:`controlplane.celery`) fixes both:

- a message is written to a hidden temporary name and then renamed to its final name,
  atomically, so a consumer only ever sees whole messages;
- a consumer claims a message by renaming it into a folder beside the queue (atomic: of two
  consumers racing for one message exactly one wins), then reads and deletes it;
- the exchange table (which queues an exchange routes to) is replaced whole under a lock
  file, never rewritten in place where a publisher could read it half written, and a queue
  declared by one thread is in it before any thread of the process publishes (kombu lost the
  first messages of threads racing to declare);
- a message that still cannot be decoded (a disk that filled up mid-write) is set aside in
  ``bad/`` with a log line instead of killing the worker.

The database remembers; the broker only delivers. A message lost with a killed worker is
recovered by the periodic passes (reconcile re-sends undispatched work).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

from apps.core.logging import get_logger

log = get_logger("paddock.broker")


class Channel(filesystem.Channel):
    """kombu's file-system channel with atomic writes and atomic claims."""

    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        folder = Path(self.data_folder_out)
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        temporary = folder / f".{uuid.uuid4().hex}.writing"  # never matches "<queue>.msg"
        try:
            with open(temporary, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(temporary, folder / name)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise ChannelError(f"Cannot add a message to {folder}") from exc

    # -- the exchange table: which queues an exchange routes to ------------------------------
    # kombu rewrites it in place, so a reader could find it empty or half written while a
    # process declared a queue (json.loads on "" failed a publish). Here it is replaced whole,
    # under a lock file, and readers see the old table or the new one.
    def get_table(self, exchange: str) -> list[Any]:
        file = self._exchange_file(exchange)
        try:
            table = loads(bytes_to_str(file.read_bytes()))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ChannelError(f"Cannot read {file}") from exc
        return [filesystem.exchange_queue_t(*entry) for entry in table]

    def queue_bind(
        self, queue: str, exchange: str | None = None, routing_key: str = "", arguments: Any = None, **kwargs: Any
    ) -> None:
        # kombu skips the file when this process's in-memory state already has the binding,
        # which another thread may have recorded a moment before writing the file: this
        # thread would then publish into an empty table and the message went nowhere. The
        # binding is in the file before this returns, whichever thread declared it first.
        super().queue_bind(queue, exchange, routing_key, arguments, **kwargs)
        exchange = exchange or "amq.direct"
        self._queue_bind(exchange, *self.typeof(exchange).prepare_bind(queue, exchange, routing_key, arguments))

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(exist_ok=True)
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_lock(file):
            table = self.get_table(exchange)
            if entry not in table:
                table.insert(0, entry)
                self._write_table(file, table)

    def _delete(self, queue: str, exchange: str, routing_key: str, pattern: str, *args: Any, **kwargs: Any) -> None:
        virtual.Channel._delete(self, queue, exchange, routing_key, pattern, *args, **kwargs)
        file = self._exchange_file(exchange)
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_lock(file):
            table = self.get_table(exchange)
            if entry in table:
                table.remove(entry)
                self._write_table(file, table)

    @contextlib.contextmanager
    def _table_lock(self, file: Path) -> Iterator[None]:
        with open(file.with_name(file.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _write_table(file: Path, table: list[Any]) -> None:
        temporary = file.with_name(f".{uuid.uuid4().hex}.writing")
        temporary.write_bytes(str_to_bytes(dumps(table)))
        os.replace(temporary, file)

    # -- messages -------------------------------------------------------------------------------
    def _claimed_folder(self) -> Path:
        folder = Path(self.processed_folder) / "claimed"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        wanted = f"{queue}.msg"
        folder = Path(self.data_folder_in)
        for filename in sorted(os.listdir(folder)):
            if filename.partition(".")[2] != wanted:
                continue
            claimed = self._claimed_folder() / f"{os.getpid()}-{filename}"
            try:
                os.rename(folder / filename, claimed)  # atomic: one consumer wins each message
            except OSError:
                continue  # another consumer took it first
            try:
                payload = claimed.read_bytes()
                message = loads(bytes_to_str(payload))
            except (OSError, ValueError) as exc:
                self._set_aside(claimed, exc)
                continue
            claimed.unlink(missing_ok=True)
            return message
        raise Empty()

    def _set_aside(self, path: Path, exc: Exception) -> None:
        bad = Path(self.processed_folder) / "bad"
        bad.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, bad / path.name)
        except OSError:
            path.unlink(missing_ok=True)
        log.error("broker.unreadable_message", file=path.name, error=str(exc))


class Transport(filesystem.Transport):
    """``paddockfs://``: the file-system transport with :class:`Channel`."""

    Channel = Channel
    driver_type = "paddockfs"
    driver_name = "paddockfs"
