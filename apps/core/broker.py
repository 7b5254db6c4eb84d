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
- a message that still cannot be decoded (a disk that filled up mid-write) is set aside in
  ``bad/`` with a log line instead of killing the worker.

The database remembers; the broker only delivers. A message lost with a killed worker is
recovered by the periodic passes (reconcile re-sends undispatched work).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
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
