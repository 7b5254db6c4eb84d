"""What only the Ray adapter does: translate specs and errors, time out, send the token."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from apps.dispatch.backends.ray import RayBackend, _retryable_status, submit_arguments
from apps.dispatch.local_ray import LocalRayHead
from apps.dispatch.port import BackendError, JobSpec, Resources


def test_spec_becomes_ray_submit_arguments() -> None:
    spec = JobSpec(
        remote_id="pdk-1",
        entrypoint="python train.py",
        resources=Resources(cpus=2, gpus=1, memory_bytes=4 * 2**30, custom={"tpu": 2}),
        runtime_env={"env_vars": {"A": "b"}, "pip": ["requests"], "working_dir": "s3://bucket/code.zip"},
        accelerator_model="H100",
        metadata={"paddock_job": "7"},
    )

    assert submit_arguments(spec) == {
        "runtime_env": {"env_vars": {"A": "b"}, "pip": ["requests"], "working_dir": "s3://bucket/code.zip"},
        "metadata": {"paddock_job": "7"},
        "entrypoint_num_cpus": 2,
        "entrypoint_num_gpus": 1,
        "entrypoint_memory": 4 * 2**30,
        "entrypoint_resources": {"tpu": 2.0, "accelerator_type:H100": 0.001},
    }


def test_empty_spec_sends_no_resource_arguments() -> None:
    assert submit_arguments(JobSpec("pdk-2", "true", Resources())) == {}


@pytest.mark.parametrize(
    ("status", "text", "retryable"),
    [
        (500, "Request failed with status code 500: No available agent to submit job", True),
        (503, "", True),
        (429, "", True),
        (400, "TypeError: entrypoint must be a string", False),
        (404, "Job x does not exist", False),
        # The head wraps its job agent's 400 in a 500.
        (500, "status code 500: Traceback ... RuntimeError: Request failed with status code 400: ...", False),
    ],
)
def test_http_statuses_say_whether_a_retry_can_help(status: int, text: str, retryable: bool) -> None:
    assert _retryable_status(status, text) is retryable


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections (the kernel does) and never answers: a hung cluster."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize("call", ["ping", "status", "capacity"])
def test_a_hung_cluster_times_out_as_retryable(silent_server: str, call: str) -> None:
    backend = RayBackend(silent_server, read_timeout=0.5)
    began = time.monotonic()

    with pytest.raises(BackendError) as raised:
        if call == "status":
            backend.status("pdk-x")  # goes through Ray's own client, timeouts added by us
        else:
            getattr(backend, call)()

    assert raised.value.retryable is True
    assert time.monotonic() - began < 3


def test_a_bad_address_is_refused_for_good() -> None:
    with pytest.raises(BackendError) as raised:
        RayBackend("ftp://somewhere")
    assert raised.value.retryable is False


def test_repr_never_shows_the_token() -> None:
    assert "s3cret" not in repr(RayBackend("http://127.0.0.1:8265", "s3cret"))


@pytest.mark.ray
@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["no-token", "wrong-token"])
def test_a_cluster_with_token_auth_refuses_us_for_good_without_the_right_token(
    ray_head: LocalRayHead, token: str | None
) -> None:
    backend = RayBackend(ray_head.address, token)

    for call in (backend.ping, backend.list_remote_ids, backend.capacity):
        with pytest.raises(BackendError) as raised:
            call()
        assert raised.value.retryable is False
        assert "wrong-token" not in raised.value.message
