"""A cluster address that accepts connections and never answers: the worst kind of slow.

``tarpit`` (a fixture) listens on 127.0.0.1 on a port of its own, accepts every connection,
reads what is sent and never writes a byte. It counts connections, so a test can say a code
path never called the cluster, and records when each connection was opened and closed.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest


@dataclass
class Tarpit:
    port: int
    opened: list[float] = field(default_factory=list)
    closed: list[float] = field(default_factory=list)
    _sockets: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self.opened)

    def _hold(self, conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass  # swallow the request; never answer
        except OSError:
            pass
        with self._lock:
            self.closed.append(time.time())


@pytest.fixture
def tarpit() -> Iterator[Tarpit]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    pit = Tarpit(port=server.getsockname()[1])
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with pit._lock:
                pit.opened.append(time.time())
                pit._sockets.append(conn)
            threading.Thread(target=pit._hold, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield pit
    finally:
        stop.set()
        server.close()
        with pit._lock:
            for conn in pit._sockets:
                conn.close()
        thread.join(timeout=2)
