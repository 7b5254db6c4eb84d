"""What only the Ray adapter does: translate specs and errors, time out, send the token."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.dispatch.backends.ray import RayBackend, _retryable_status, submit_arguments
from apps.dispatch.backends.ray_logs import DriverLocation, RayLogReader
from apps.dispatch.local_ray import LocalRayHead
from apps.dispatch.port import BackendError, JobSpec, PackageRef, Resources


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


@pytest.mark.parametrize("call", ["ping", "status", "logs", "capacity"])
def test_a_hung_cluster_times_out_as_retryable(silent_server: str, call: str) -> None:
    backend = RayBackend(silent_server, read_timeout=0.5)
    began = time.monotonic()

    with pytest.raises(BackendError) as raised:
        if call in ("status", "logs"):
            getattr(backend, call)("pdk-x")  # through Ray's own client, timeouts added by us
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


PACKAGE_SHA = "ab" * 32
PACKAGE_URI = f"paddock://packages/{PACKAGE_SHA}"


def test_a_package_becomes_rays_own_package_uri() -> None:
    package = PackageRef(uri=PACKAGE_URI, sha256=PACKAGE_SHA, size_bytes=1, load=lambda: b"")
    spec = JobSpec(
        "pdk-3",
        "python main.py",
        Resources(),
        runtime_env={"working_dir": PACKAGE_URI, "py_modules": [PACKAGE_URI, "s3://b/m.whl"]},
        packages={PACKAGE_URI: package},
    )
    gcs = f"gcs://_ray_pkg_{PACKAGE_SHA}.zip"

    assert submit_arguments(spec, {PACKAGE_URI: gcs})["runtime_env"] == {
        "working_dir": gcs,
        "py_modules": [gcs, "s3://b/m.whl"],
    }
    with pytest.raises(BackendError):
        submit_arguments(spec)  # never sent to Ray as a paddock:// URI it cannot fetch


@pytest.fixture
def slow_reader() -> Iterator[str]:
    """A "dashboard" that has no package (GET: 404) and then reads an upload slowly but steadily
    (about 1 MB/s: every socket write makes progress, so only a deadline in all can end it)."""
    stop = threading.Event()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)

    def serve(connection: socket.socket) -> None:
        with connection:
            head = b""
            while b"\r\n\r\n" not in head and not stop.is_set():
                head += connection.recv(1)
            if head.startswith(b"GET"):
                connection.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            while not stop.is_set() and connection.recv(65536):
                time.sleep(0.05)

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed at the end of the test
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    server.close()


def test_a_package_upload_ends_at_its_deadline(slow_reader: str) -> None:
    data = os.urandom(32 * 2**20)
    sha = hashlib.sha256(data).hexdigest()
    package = PackageRef(uri=f"paddock://packages/{sha}", sha256=sha, size_bytes=len(data), load=lambda: data)
    spec = JobSpec(
        "pdk-4",
        "python main.py",
        Resources(),
        runtime_env={"working_dir": package.uri},
        packages={package.uri: package},
    )
    backend = RayBackend(slow_reader, upload_timeout=1.0)
    outcome: list[BaseException | None] = []

    def submit() -> None:
        try:
            backend.submit(spec)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=submit, daemon=True)
    worker.start()
    worker.join(60)

    assert not worker.is_alive(), "the upload is still running past its deadline"
    (error,) = outcome
    assert isinstance(error, BackendError) and error.retryable is True, error
    assert "upload" in error.message


# --- logs: where Ray's driver log is read from -------------------------------------------
@pytest.fixture(scope="module")
def finished_job(ray_head: LocalRayHead) -> tuple[RayBackend, str, bytes]:
    """A finished job with a log of about 60 kB on the real head: (backend, remote id, its log)."""
    backend = RayBackend(ray_head.address, ray_head.auth_token)
    remote_id = f"pdk-test-{uuid.uuid4().hex[:12]}"
    backend.submit(JobSpec(remote_id, "python -c \"print('ab€' * 20000)\"", Resources(cpus=0.5)))
    deadline = time.monotonic() + 60
    while not backend.status(remote_id).state.is_terminal and time.monotonic() < deadline:
        time.sleep(0.2)
    whole = backend.logs(remote_id, offset=0, limit=10**7)
    assert whole.data.endswith(("ab€" * 20000 + "\n").encode()) and not whole.more
    return backend, remote_id, whole.data


def _head_node_id(backend: RayBackend) -> str:
    return next(node.node_id for node in backend.nodes() if node.alive and node.is_head)


@pytest.mark.ray
def test_a_driver_agent_out_of_reach_leaves_the_head_streaming_the_log(
    ray_head: LocalRayHead, finished_job: tuple[RayBackend, str, bytes]
) -> None:
    backend, remote_id, log = finished_job
    node_id = _head_node_id(backend)
    headers = {"Authorization": f"Bearer {ray_head.auth_token}"} if ray_head.auth_token else {}
    reader = RayLogReader(ray_head.address, headers, (3.0, 10.0))
    nowhere = DriverLocation(node_id=node_id, agent_address="http://127.0.0.1:1")  # a node IP, no agent

    chunk = reader.read(remote_id, 40_000, 1000, locate=lambda _: nowhere)
    tail = reader.read(remote_id, len(log) - 10, 1000, locate=lambda _: nowhere)

    assert chunk.data == log[40_000:41_000] and chunk.more
    assert chunk.transferred >= 41_000  # honest: the head sends the log from its first byte
    assert tail.data == log[-10:] and not tail.more


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.seen.append(f"{self.path} {self.headers.get('Authorization', '')}")
        self.send_response(206)
        self.send_header("Content-Range", "bytes 0-4/5")
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"lies!")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[int, list[str]]]:
    seen: list[str] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


@pytest.mark.ray
def test_a_driver_agent_address_that_is_no_node_of_the_cluster_gets_no_request_and_no_token(
    ray_head: LocalRayHead, finished_job: tuple[RayBackend, str, bytes], recorder: tuple[int, list[str]]
) -> None:
    # The job's record in Ray (where its agent is) can be rewritten by code in the cluster.
    backend, remote_id, log = finished_job
    port, seen = recorder
    node_id = _head_node_id(backend)
    headers = {"Authorization": f"Bearer {ray_head.auth_token}"} if ray_head.auth_token else {}
    reader = RayLogReader(ray_head.address, headers, (3.0, 10.0))
    elsewhere = DriverLocation(node_id=node_id, agent_address=f"http://localhost:{port}")  # no node's IP

    chunk = reader.read(remote_id, 0, 100, locate=lambda _: elsewhere)

    assert chunk.data == log[:100]
    assert seen == []
    # The same server at a node's IP is asked (so the recorder does hear requests).
    at_node_ip = DriverLocation(node_id=node_id, agent_address=f"http://127.0.0.1:{port}")
    assert reader.read("pdk-other", 0, 100, locate=lambda _: at_node_ip).data == b"lies!"
    assert len(seen) == 1


def test_a_long_failed_message_keeps_its_first_line_and_its_end() -> None:
    # Ray's runtime_env failure: a long traceback, pip's verdict on its last lines.
    from ray.job_submission import JobDetails, JobStatus, JobType

    from apps.dispatch.backends.ray import MESSAGE_LIMIT, remote_status

    traceback = "".join(f'  File "/venv/ray/_private/runtime_env/x{n}.py", line {n}, in create\n' for n in range(200))
    message = (
        "runtime_env setup failed: Failed to set up runtime environment.\n"
        + traceback
        + "Last 50 lines of stdout:\n    ERROR: No matching distribution found for torchh>=2\n"
    )
    info = JobDetails(
        type=JobType.SUBMISSION,
        entrypoint="python train.py",
        submission_id="pdk-1",
        status=JobStatus.FAILED,
        message=message,
        error_type="RUNTIME_ENV_SETUP_FAILURE",
        start_time=1_000,
        end_time=2_000,
    )

    status = remote_status("pdk-1", info)

    assert len(message) > MESSAGE_LIMIT >= len(status.message)
    assert status.message.startswith("runtime_env setup failed: Failed to set up runtime environment.\n… (cut) …\n")
    assert status.message.endswith("ERROR: No matching distribution found for torchh>=2\n")
    assert status.exit_code is None and status.error_type == "RUNTIME_ENV_SETUP_FAILURE"
