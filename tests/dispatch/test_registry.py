"""Which backend serves a cluster."""

from __future__ import annotations

import pytest

from apps.dispatch.backends.fake import FakeBackend
from apps.dispatch.port import BackendError
from apps.dispatch.registry import get_backend, override_backend


def test_the_same_cluster_gets_the_same_backend() -> None:
    first = get_backend("ray", "http://127.0.0.1:18265", "t")

    assert get_backend("ray", "http://127.0.0.1:18265", "t") is first
    assert get_backend("ray", "http://127.0.0.1:18265", "other") is not first
    # Every real cluster is guarded: a deadline on each call and a circuit breaker.
    assert type(first).__name__ == "GuardedBackend" and type(first.inner).__name__ == "RayBackend"


def test_fakes_are_shared_per_address() -> None:
    fake = get_backend("fake", "fake://a")

    assert isinstance(fake, FakeBackend)
    assert get_backend("fake", "fake://a", "any token") is fake
    assert get_backend("fake", "fake://b") is not fake


def test_override_wins_for_every_cluster_inside_the_block() -> None:
    mine = FakeBackend()
    before = get_backend("fake", "fake://a")

    with override_backend(mine):
        inside = [get_backend("ray", "http://127.0.0.1:18265"), get_backend("fake", "fake://a")]
        with override_backend(FakeBackend()) as inner:
            assert get_backend("fake", "fake://a") is inner
        assert get_backend("fake", "fake://a") is mine

    assert inside == [mine, mine]
    assert get_backend("fake", "fake://a") is before


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(BackendError) as raised:
        get_backend("slurm", "http://127.0.0.1:6820")
    assert raised.value.retryable is False
