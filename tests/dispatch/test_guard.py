"""Every call to a cluster has a deadline, and a cluster that keeps failing is left alone.

Against a real socket that accepts and never answers (a tarpit): what hung a worker forever."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from apps.dispatch.backends.ray import RayBackend
from apps.dispatch.fanout import per_cluster
from apps.dispatch.guard import GuardedBackend
from apps.dispatch.port import BackendError


class Store:
    """The breaker's store (Django's cache in the product), in memory for these tests."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        self.data[key] = value

    def delete(self, key: str) -> Any:
        return self.data.pop(key, None)


def guarded(tarpit: Any, **options: Any) -> GuardedBackend:
    # The adapter's own read timeout is long: only the guard's deadline can end the call.
    inner = RayBackend(tarpit.address, connect_timeout=5, read_timeout=60)
    return GuardedBackend(inner, f"ray cluster at {tarpit.address}", store=Store(), **options)


def test_a_call_to_a_cluster_that_never_answers_ends_at_its_deadline(tarpit: Any) -> None:
    backend = guarded(tarpit, deadline=0.5)
    with pytest.raises(BackendError) as raised:
        backend.capacity()
    assert raised.value.retryable and "no answer to capacity within 0.5 s" in raised.value.message
    # The caller is free while the tarpit still holds the abandoned request.
    assert tarpit.connections == 1 and tarpit.closed == []


def test_after_three_failures_the_cluster_is_not_asked_for_a_while(tarpit: Any) -> None:
    backend = guarded(tarpit, deadline=0.3)
    for _ in range(3):
        with pytest.raises(BackendError):
            backend.status("pdk-x")
    asked = tarpit.connections

    with pytest.raises(BackendError) as raised:
        backend.status("pdk-x")

    assert tarpit.connections == asked  # refused at once, without a call
    assert "not answering since" in raised.value.message and raised.value.retryable
    state = backend.breaker()
    assert state is not None and state["failures"] == 3


def test_an_operators_probe_asks_even_an_open_breaker_and_an_answer_closes_it(ray_head: Any) -> None:
    store = Store()
    backend = GuardedBackend(
        RayBackend(ray_head.address, ray_head.auth_token), "ray cluster at the test head", store=store
    )
    backend._failed(BackendError("timeout", retryable=True))
    backend._failed(BackendError("timeout", retryable=True))
    backend._failed(BackendError("timeout", retryable=True))
    with pytest.raises(BackendError, match="not answering since"):
        backend.ping()

    backend.probing().ping()

    assert backend.breaker() is None
    backend.ping()  # closed for every caller


def test_a_refusal_is_an_answer_and_opens_nothing(ray_head: Any) -> None:
    backend = GuardedBackend(RayBackend(ray_head.address, "wrong-token"), "ray with a bad token", store=Store())
    for _ in range(5):
        with pytest.raises(BackendError) as raised:
            backend.ping()
        assert raised.value.retryable is False
    assert backend.breaker() is None


def test_no_more_than_eight_calls_wait_on_one_cluster(tarpit: Any) -> None:
    backend = guarded(tarpit, deadline=30, max_in_flight=8)
    errors: list[BackendError] = []
    started = threading.Barrier(9)

    def call() -> None:
        started.wait()
        try:
            backend.status("pdk-x")
        except BackendError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    started.wait()
    threading.Event().wait(1.0)  # let the eight take their places (one talks, seven queue behind it)
    with pytest.raises(BackendError, match="8 calls are still waiting"):
        backend.status("pdk-x")
    assert 1 <= tarpit.connections <= 8 and errors == []


def test_each_cluster_is_asked_on_its_own_thread_and_a_silent_one_is_left_behind(tarpit: Any, ray_head: Any) -> None:
    slow = guarded(tarpit, deadline=30)
    fine = GuardedBackend(RayBackend(ray_head.address, ray_head.auth_token), "the test head", store=Store())

    outcomes = per_cluster(
        {
            "slow": [("slow-1", slow.capacity), ("slow-2", slow.capacity)],
            "fine": [("fine-1", fine.capacity), ("fine-2", fine.ping)],
        },
        budget=3.0,
    )

    assert outcomes["fine-1"].ok and outcomes["fine-2"].ok
    assert "slow-1" not in outcomes and "slow-2" not in outcomes  # not answered within the budget
    assert tarpit.connections == 1  # its second call waits behind its first, on its own thread
