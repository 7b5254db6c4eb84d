"""Real brokers for tests that send tasks: the suite's Redis under a private key prefix (no
running worker takes what is sent there), or an address nothing listens on (a broker down)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from django.conf import settings


@contextmanager
def broker(url: str, **transport_options: Any) -> Iterator[None]:
    """Tasks sent inside the block go to ``url``: a real broker, or an address nothing listens on."""
    from controlplane.celery import app

    saved = (app.conf.broker_url, dict(app.conf.broker_transport_options or {}), app.conf.task_always_eager)

    def switch(to_url: str, options: dict[str, Any], eager: bool) -> None:
        app.conf.broker_url, app.conf.broker_transport_options, app.conf.task_always_eager = to_url, options, eager
        app._pool = None  # Celery keeps its connection and producer pools for the old broker
        app.amqp._producer_pool = None

    switch(url, {**saved[1], **transport_options}, False)
    try:
        yield
    finally:
        switch(*saved)


class PrivateQueue:
    """The suite's Redis broker under a key prefix of one test's own, so that no running
    worker takes what the test sends there."""

    def __init__(self) -> None:
        self.prefix = f"test-logs-{uuid.uuid4().hex[:8]}:"
        self.redis = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    def sending(self) -> Any:
        return broker(settings.CELERY_BROKER_URL, global_keyprefix=self.prefix)

    def messages(self, task: str) -> int:
        """How many messages for ``task`` wait in the queue."""
        return sum(1 for m in self.redis.lrange(f"{self.prefix}celery", 0, -1) if f'"{task}"'.encode() in m)

    def refreshes(self, attempt_id: Any) -> int:
        """How many ``jobs.refresh_logs`` for the attempt wait in the queue."""
        messages = self.redis.lrange(f"{self.prefix}celery", 0, -1)
        return sum(1 for m in messages if b'"jobs.refresh_logs"' in m and str(attempt_id).encode() in m)


@pytest.fixture
def private_queue() -> Iterator[PrivateQueue]:
    queue = PrivateQueue()
    yield queue
    for key in queue.redis.scan_iter(f"{queue.prefix}*"):
        queue.redis.delete(key)
