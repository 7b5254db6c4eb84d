"""The embedded default's broker under load: whole messages, each delivered exactly once.

kombu's own ``filesystem://`` transport created a message file and then filled it, so a
consumer could read it half-written (``JSONDecodeError``) and the worker crashed; ours writes
to a hidden name and renames, and claims by renaming.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue

import controlplane.celery  # noqa: F401  (registers the paddockfs transport)

PRODUCERS, CONSUMERS, PER_PRODUCER = 4, 3, 150


def _options(root: Path) -> dict[str, Any]:
    for name in ("queue", "processed", "control"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(root / "queue"),
        "data_folder_out": str(root / "queue"),
        "processed_folder": str(root / "processed"),
        "control_folder": str(root / "control"),
        "store_processed": False,
        "polling_interval": 0.01,
    }


def test_concurrent_producers_and_consumers_lose_and_double_nothing(tmp_path: Path) -> None:
    options = _options(tmp_path)
    exchange = Exchange("paddock-test", type="direct")
    queue = Queue("paddock-test", exchange, routing_key="paddock-test")
    # Big messages: a write takes long enough for a reader to catch it half done.
    padding = "x" * 200_000
    received: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def produce(first: int) -> None:
        try:
            with Connection("paddockfs://", transport_options=options) as conn:
                producer = conn.Producer(serializer="json")
                for n in range(first, first + PER_PRODUCER):
                    producer.publish(
                        {"n": n, "pad": padding}, exchange=exchange, routing_key="paddock-test", declare=[queue]
                    )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    total = PRODUCERS * PER_PRODUCER
    give_up = time.monotonic() + 60

    def consume() -> None:
        try:
            with Connection("paddockfs://", transport_options=options) as conn:
                simple = conn.SimpleQueue(queue)
                # Until every message is in: one a consumer held unacknowledged when it stopped
                # goes back to the queue, and another takes it.
                while len(received) < total and time.monotonic() < give_up:
                    try:
                        message = simple.get(timeout=0.05)
                    except simple.Empty:
                        continue
                    with lock:
                        received.append(message.payload["n"])
                    assert message.payload["pad"] == padding
                    message.ack()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    consumers = [threading.Thread(target=consume) for _ in range(CONSUMERS)]
    producers = [threading.Thread(target=produce, args=(i * PER_PRODUCER,)) for i in range(PRODUCERS)]
    for thread in consumers + producers:
        thread.start()
    for thread in producers:
        thread.join(timeout=120)
    for thread in consumers:
        thread.join(timeout=120)

    assert errors == []
    assert sorted(received) == list(range(PRODUCERS * PER_PRODUCER))
    assert not list((tmp_path / "processed").rglob("bad/*"))


def test_an_unreadable_message_is_set_aside_not_fatal(tmp_path: Path) -> None:
    options = _options(tmp_path)
    queue = Queue("paddock-test", Exchange("paddock-test", type="direct"), routing_key="paddock-test")
    (tmp_path / "queue" / "1_x.paddock-test.msg").write_text('{"half": ')
    with Connection("paddockfs://", transport_options=options) as conn:
        simple = conn.SimpleQueue(queue)
        with pytest.raises(simple.Empty):
            simple.get(timeout=0.2)
    assert [p.name for p in (tmp_path / "processed" / "bad").iterdir()][0].endswith("1_x.paddock-test.msg")
