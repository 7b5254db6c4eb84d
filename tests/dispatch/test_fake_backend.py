"""What the fake adds for tests: playing the cluster and injecting failures."""

from __future__ import annotations

import threading

import pytest

from apps.dispatch.backends.fake import FakeBackend
from apps.dispatch.port import BackendError, JobSpec, RemoteState, Resources


def _spec(remote_id: str = "pdk-1") -> JobSpec:
    return JobSpec(remote_id, "python -c 'print(1)'", Resources(cpus=1))


def test_a_finished_job_never_moves_again() -> None:
    fake = FakeBackend()
    fake.submit(_spec())
    fake.advance("pdk-1", RemoteState.SUCCEEDED)

    with pytest.raises(ValueError, match="terminal"):
        fake.advance("pdk-1", RemoteState.RUNNING)
    assert fake.status("pdk-1").state is RemoteState.SUCCEEDED


def test_advancing_to_not_found_makes_the_cluster_forget_the_job() -> None:
    fake = FakeBackend()
    fake.submit(_spec())

    fake.advance("pdk-1", RemoteState.NOT_FOUND)

    assert fake.status("pdk-1").state is RemoteState.NOT_FOUND
    assert fake.list_remote_ids() == []


def test_fail_next_raises_once_on_the_chosen_call() -> None:
    fake = FakeBackend()
    fake.fail_next(BackendError("agent busy", retryable=True), on="submit")

    fake.ping()  # not the chosen call
    with pytest.raises(BackendError, match="agent busy"):
        fake.submit(_spec())
    result = fake.submit(_spec())

    assert result.adopted is False
    assert fake.list_remote_ids() == ["pdk-1"]


def test_an_unreachable_fake_refuses_every_call_until_reachable_again() -> None:
    fake = FakeBackend()
    fake.set_reachable(False)

    with pytest.raises(BackendError) as raised:
        fake.submit(_spec())
    fake.set_reachable(True)

    assert raised.value.retryable is True
    assert fake.submit(_spec()).adopted is False


def test_concurrent_submits_of_one_id_create_one_job() -> None:
    fake = FakeBackend()
    results = []

    def submit() -> None:
        results.append(fake.submit(_spec()).adopted)

    threads = [threading.Thread(target=submit) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] + [True] * 15
    assert fake.spec_of("pdk-1") == _spec()


def test_a_cordon_is_kept_and_reported_like_a_kubernetes_clusters() -> None:
    fake = FakeBackend()
    (node,) = fake.nodes()
    assert node.schedulable is None  # never set: the fake, like Ray, has no opinion

    assert fake.set_schedulable(node.node_id, False) is True
    assert fake.set_schedulable(node.node_id, False) is False  # already so
    assert fake.nodes()[0].schedulable is False
    assert fake.set_schedulable(node.node_id, True) is True
    assert fake.nodes()[0].schedulable is True
    with pytest.raises(BackendError) as missing:
        fake.set_schedulable("no-such-node", False)
    assert missing.value.retryable is False
    assert ("set_schedulable", node.node_id) in fake.calls


def test_ray_has_no_cordon_and_sends_nothing() -> None:
    from apps.dispatch.backends.ray import RayBackend

    # An address nothing listens on: any request would fail.
    assert RayBackend("http://127.0.0.1:1").set_schedulable("node-1", False) is False


def test_the_fake_backend_refuses_to_apply_cluster_objects() -> None:
    from apps.dispatch.port import BackendError, ObjectKind

    kind = ObjectKind("kueue.x-k8s.io/v1beta2", "Cohort", "cohorts")
    with pytest.raises(BackendError) as refused:
        FakeBackend().apply_objects([], kinds=[kind], owner_label=("paddock.dev/kueue-of", "cluster-1"))
    assert not refused.value.retryable
