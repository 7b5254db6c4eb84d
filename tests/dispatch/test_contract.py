"""One contract, every backend: the same tests run against a real Ray head, an emulated
Kubernetes API server (kmock, see ``k8s_emulator.py``) and the fake.

Where the real cluster moves a job by itself, the fake and the emulator are moved by the
test: each test says what the cluster does with ``driver.play(...)`` (a no-op for Ray) and
waits for the outcome with ``driver.wait_for(...)`` (polling for Ray, immediate for the others).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any

import pytest

from apps.dispatch.backends.fake import FakeBackend, default_node
from apps.dispatch.kubeconfig import SafeKubeconfig
from apps.dispatch.port import (
    Backend,
    BackendError,
    JobSpec,
    LogChunk,
    PackageRef,
    RemoteState,
    RemoteStatus,
    Resources,
)
from apps.dispatch.registry import get_backend
from apps.jobs.choices import AttemptState
from apps.jobs.failures import cause_line
from tests.dispatch.k8s_emulator import Controller, EmulatedCluster, exit_code_in
from tests.raycluster import RAY_TEST_NUM_CPUS, RAY_TEST_NUM_GPUS, RAY_TEST_RESOURCES

WAIT_S = 60.0  # generous: a loaded 2-core CI machine is slow to start Ray workers
LONG_RUNNING = "python -c \"import time; print('started', flush=True); time.sleep(120)\""


@dataclass
class Driver:
    """How a test plays and watches one kind of cluster."""

    name: str
    backend: Backend
    unreachable: Backend  # the same kind of backend pointed at a dead cluster
    specs: list[JobSpec] = field(default_factory=list)
    # False where the cluster can only send a log from its first byte (Kubernetes' pod log
    # API): LogChunk.transferred then counts more than the bytes asked for.
    reads_log_from_offset = True

    def spec(self, entrypoint: str, **overrides: Any) -> JobSpec:
        spec = JobSpec(
            remote_id=f"pdk-test-{uuid.uuid4().hex[:12]}",
            entrypoint=entrypoint,
            resources=overrides.pop("resources", Resources(cpus=0.5)),
            **overrides,
        )
        self.specs.append(spec)
        return spec

    def play(self, remote_id: str, state: RemoteState, *, log: str = "", message: str = "") -> None:
        """What the cluster does by itself; only the fake needs telling."""

    def wait_for(self, remote_id: str, *states: RemoteState, timeout: float = WAIT_S) -> RemoteStatus:
        raise NotImplementedError

    def wait_until(self, predicate: Any, timeout: float = WAIT_S) -> Any:
        raise NotImplementedError

    def stop_leftovers(self) -> None:
        for spec in self.specs:
            try:
                self.backend.stop(spec.remote_id)
            except BackendError:
                pass


class RayDriver(Driver):
    def wait_for(self, remote_id: str, *states: RemoteState, timeout: float = WAIT_S) -> RemoteStatus:
        deadline = time.monotonic() + timeout
        status = self.backend.status(remote_id)
        while status.state not in states and time.monotonic() < deadline:
            if status.state.is_terminal:
                break  # it will not move again
            time.sleep(0.1)
            status = self.backend.status(remote_id)
        assert status.state in states, f"{remote_id}: {status.state} ({status.message!r}), wanted {states}"
        return status

    def wait_until(self, predicate: Any, timeout: float = WAIT_S) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.2)


class FakeDriver(Driver):
    backend: FakeBackend

    def play(self, remote_id: str, state: RemoteState, *, log: str = "", message: str = "") -> None:
        if log:
            self.backend.append_log(remote_id, log)
        exit_code = exit_code_in(message) if state is RemoteState.FAILED else None
        self.backend.advance(remote_id, state, message, exit_code=exit_code)

    def wait_for(self, remote_id: str, *states: RemoteState, timeout: float = WAIT_S) -> RemoteStatus:
        status = self.backend.status(remote_id)
        assert status.state in states, f"{remote_id}: {status.state} ({status.message!r}), wanted {states}"
        return status

    def wait_until(self, predicate: Any, timeout: float = WAIT_S) -> Any:
        return predicate()


class KubernetesDriver(Driver):
    """The emulated API server; the test plays the Job controller and the kubelet."""

    controller: Controller
    reads_log_from_offset = False

    def play(self, remote_id: str, state: RemoteState, *, log: str = "", message: str = "") -> None:
        if state is RemoteState.RUNNING:
            self.controller.run(remote_id)
        elif state is RemoteState.SUCCEEDED:
            self.controller.succeed(remote_id)
        elif state is RemoteState.FAILED:
            self.controller.fail(remote_id, exit_code=exit_code_in(message), message=message)
        elif state is RemoteState.NOT_FOUND:
            self.controller.delete_job(remote_id)
        if log:
            self.controller.write_log(remote_id, log)

    def wait_for(self, remote_id: str, *states: RemoteState, timeout: float = WAIT_S) -> RemoteStatus:
        status = self.backend.status(remote_id)
        assert status.state in states, f"{remote_id}: {status.state} ({status.message!r}), wanted {states}"
        return status

    def wait_until(self, predicate: Any, timeout: float = WAIT_S) -> Any:
        self.controller.collect_garbage()  # what the cluster's controllers would have done meanwhile
        return predicate()


def whole_log(backend: Backend, remote_id: str, *, limit: int = 1024 * 1024) -> bytes:
    """The job's log so far, read chunk by chunk from the start."""
    chunks: list[LogChunk] = [backend.logs(remote_id, offset=0, limit=limit)]
    while chunks[-1].more:
        chunks.append(backend.logs(remote_id, offset=chunks[-1].next_offset, limit=limit))
    return b"".join(chunk.data for chunk in chunks)


LIVE_KUBECONFIG = os.environ.get("PADDOCK_TEST_KUBECONFIG", "")


class LiveKubernetesDriver(RayDriver):
    """A real cluster (``PADDOCK_TEST_KUBECONFIG``): its own controllers move the jobs, so the
    test only waits, as for Ray. Its image must have ``python`` (the cluster setting ``image``)."""

    reads_log_from_offset = False


@pytest.fixture(
    params=[
        pytest.param("ray", marks=pytest.mark.ray),
        "kubernetes",
        pytest.param(
            "kubernetes-live",
            marks=pytest.mark.skipif(
                not LIVE_KUBECONFIG, reason="no real Kubernetes cluster: set PADDOCK_TEST_KUBECONFIG to run this lane"
            ),
        ),
        "fake",
    ]
)
def driver(request: pytest.FixtureRequest) -> Any:
    if request.param == "kubernetes-live":
        from apps.dispatch.kubeconfig import parse_kubeconfig

        with open(LIVE_KUBECONFIG) as handle:  # the test's own file, never the control plane's
            live = parse_kubeconfig(handle.read())
        made_live: Driver = LiveKubernetesDriver(
            "kubernetes-live",
            backend=get_backend("kubernetes", live.server, live.to_json()),
            unreachable=get_backend("kubernetes", "http://127.0.0.1:1"),
        )
        yield made_live
        made_live.stop_leftovers()
        return
    if request.param == "ray":
        head = request.getfixturevalue("ray_head")
        made: Driver = RayDriver(
            "ray",
            backend=get_backend("ray", head.address, head.auth_token),
            unreachable=get_backend("ray", "http://127.0.0.1:1"),
        )
    elif request.param == "kubernetes":
        cluster: EmulatedCluster = request.getfixturevalue("k8s_cluster")
        controller: Controller = request.getfixturevalue("k8s_controller")
        # The Ray test head's shape: one node, 4 CPUs, 2 GPUs of one model.
        controller.seed_node(
            "node-0",
            cpus=str(RAY_TEST_NUM_CPUS),
            memory="16Gi",
            gpus=RAY_TEST_NUM_GPUS,
            product="H100",
            labels={"paddock-pool": "test"},
            control_plane=True,  # a one-node cluster: it runs the control plane too (is_head)
        )
        credentials = SafeKubeconfig(server=cluster.url, token="contract-test-token").to_json()
        made = KubernetesDriver(
            "kubernetes",
            backend=get_backend("kubernetes", cluster.url, credentials),
            unreachable=get_backend("kubernetes", "http://127.0.0.1:1"),
        )
        made.controller = controller
    else:
        total = Resources(
            cpus=RAY_TEST_NUM_CPUS, gpus=RAY_TEST_NUM_GPUS, memory_bytes=16 * 2**30, custom=RAY_TEST_RESOURCES
        )
        unreachable = FakeBackend("http://127.0.0.1:1")
        unreachable.set_reachable(False)
        node = dataclasses.replace(default_node(total), labels={"paddock-pool": "test"})
        made = FakeDriver("fake", backend=FakeBackend(total=total, node_infos=[node]), unreachable=unreachable)
    yield made
    made.stop_leftovers()


def test_job_runs_to_success_and_its_output_is_in_the_logs(driver: Driver) -> None:
    spec = driver.spec("python -c \"print('hello from paddock')\"")

    result = driver.backend.submit(spec)
    driver.play(spec.remote_id, RemoteState.RUNNING)
    driver.play(spec.remote_id, RemoteState.SUCCEEDED, log="hello from paddock\n")

    assert result.remote_id == spec.remote_id and not result.adopted
    status = driver.wait_for(spec.remote_id, RemoteState.SUCCEEDED)
    assert status.finished_at is not None and status.started_at is not None
    assert status.started_at <= status.finished_at
    assert b"hello from paddock" in whole_log(driver.backend, spec.remote_id)


def test_failing_entrypoint_is_failed_with_its_exit_code_and_a_message(driver: Driver) -> None:
    spec = driver.spec("python -c \"import sys; print('boom'); print('ValueError: bad lr'); sys.exit(3)\"")

    driver.backend.submit(spec)
    driver.play(spec.remote_id, RemoteState.RUNNING)
    driver.play(
        spec.remote_id,
        RemoteState.FAILED,
        log="boom\nValueError: bad lr\n",
        message="Job entrypoint command failed with exit code 3",
    )

    status = driver.wait_for(spec.remote_id, RemoteState.FAILED)
    assert "exit code 3" in status.message
    assert status.exit_code == 3 and not status.infrastructure
    log = whole_log(driver.backend, spec.remote_id)
    assert b"boom" in log
    # What the job page and the CLI then say first.
    cause = cause_line(AttemptState.FAILED, exit_code=status.exit_code, message=status.message, log_tail=log.decode())
    assert cause == "exit code 3: ValueError: bad lr"


def test_running_job_holds_its_resources_until_stopped(driver: Driver) -> None:
    spec = driver.spec(LONG_RUNNING, resources=Resources(cpus=1, gpus=1), accelerator_model="H100")

    driver.backend.submit(spec)
    driver.play(spec.remote_id, RemoteState.RUNNING, log="started\n")
    driver.wait_for(spec.remote_id, RemoteState.RUNNING)
    # Ray's usage report trails by up to AUTOSCALER_UPDATE_INTERVAL_S (1 s on the test head).
    held = driver.wait_until(lambda: driver.backend.capacity().available.gpus == RAY_TEST_NUM_GPUS - 1)
    assert held, driver.backend.capacity()
    accelerator_left = driver.backend.capacity().available.custom["accelerator_type:H100"]

    stopping = driver.backend.stop(spec.remote_id)

    assert stopping is True
    assert accelerator_left == pytest.approx(1 - 0.001)
    status = driver.wait_for(spec.remote_id, RemoteState.STOPPED)
    assert status.finished_at is not None
    assert driver.backend.stop(spec.remote_id) is False  # nothing left to stop
    released = driver.wait_until(lambda: driver.backend.capacity().available.gpus == RAY_TEST_NUM_GPUS)
    assert released, driver.backend.capacity()


def test_job_that_cannot_be_placed_stays_pending_even_when_stopped(driver: Driver) -> None:
    # No A100 in the cluster: Ray keeps the job PENDING (its own start timeout is 15 minutes),
    # and a stop waits for resources too. The control plane needs its own pending timeout.
    if driver.name.startswith("kubernetes"):
        pytest.skip(
            "Ray's quirk: on Kubernetes a stop deletes a pending Job at once "
            "(test_kubernetes_backend covers stopping a pending job)"
        )
    spec = driver.spec("python -c \"print('never')\"", accelerator_model="A100")

    driver.backend.submit(spec)
    time.sleep(1.5 if driver.name == "ray" else 0)
    stopping = driver.backend.stop(spec.remote_id)
    time.sleep(0.5 if driver.name == "ray" else 0)

    assert stopping is True
    status = driver.backend.status(spec.remote_id)
    assert status.state is RemoteState.PENDING
    assert status.started_at is None


def test_second_submit_of_the_same_id_adopts_the_first(driver: Driver) -> None:
    spec = driver.spec("python -c \"print('once')\"")

    first = driver.backend.submit(spec)
    second = driver.backend.submit(spec)

    assert (first.adopted, second.adopted) == (False, True)
    assert second.remote_id == spec.remote_id
    assert driver.backend.list_remote_ids().count(spec.remote_id) == 1


def test_unknown_id_is_not_found(driver: Driver) -> None:
    remote_id = f"pdk-test-never-submitted-{uuid.uuid4().hex[:8]}"

    assert driver.backend.status(remote_id).state is RemoteState.NOT_FOUND
    assert driver.backend.stop(remote_id) is False
    assert driver.backend.logs(remote_id) == LogChunk(offset=0)
    assert remote_id not in driver.backend.list_remote_ids()


def test_env_vars_reach_the_job(driver: Driver) -> None:
    spec = driver.spec(
        "python -c \"import os; print('flavour=' + os.environ['PADDOCK_TEST_FLAVOUR'])\"",
        runtime_env={"env_vars": {"PADDOCK_TEST_FLAVOUR": "pistachio"}},
        metadata={"paddock_job": "42"},
    )

    driver.backend.submit(spec)
    driver.play(spec.remote_id, RemoteState.RUNNING)
    driver.play(spec.remote_id, RemoteState.SUCCEEDED, log="flavour=pistachio\n")

    driver.wait_for(spec.remote_id, RemoteState.SUCCEEDED)
    assert b"flavour=pistachio" in whole_log(driver.backend, spec.remote_id)


def test_gpu_job_sees_its_gpu(driver: Driver) -> None:
    spec = driver.spec(
        "python -c \"import os; print('gpus=' + os.environ.get('CUDA_VISIBLE_DEVICES', 'none'))\"",
        resources=Resources(cpus=1, gpus=1),
        accelerator_model="H100",
    )

    driver.backend.submit(spec)
    driver.play(spec.remote_id, RemoteState.RUNNING)
    driver.play(spec.remote_id, RemoteState.SUCCEEDED, log="gpus=1\n")

    driver.wait_for(spec.remote_id, RemoteState.SUCCEEDED)
    logs = whole_log(driver.backend, spec.remote_id).decode()
    assert "gpus=" in logs
    assert "gpus=none" not in logs and "gpus=\n" not in logs


def test_capacity_reports_what_the_cluster_has(driver: Driver) -> None:
    capacity = driver.backend.capacity()

    assert capacity.nodes == 1
    assert capacity.total.cpus == RAY_TEST_NUM_CPUS
    assert capacity.total.gpus == RAY_TEST_NUM_GPUS
    assert capacity.total.custom == RAY_TEST_RESOURCES
    assert capacity.total.memory_bytes > 0
    assert capacity.available.fits_in(capacity.total)


def test_nodes_report_each_node_with_its_resources_and_labels(driver: Driver) -> None:
    nodes = driver.backend.nodes()

    alive = [node for node in nodes if node.alive]
    assert len(alive) == 1
    (node,) = alive
    assert node.node_id and node.hostname
    assert node.is_head
    assert node.cpus == RAY_TEST_NUM_CPUS
    assert node.gpus == RAY_TEST_NUM_GPUS
    assert node.memory_bytes > 0
    assert node.accelerator_type == "H100"
    assert dict(node.custom) == RAY_TEST_RESOURCES
    assert dict(node.labels).items() >= {"paddock-pool": "test"}.items()
    assert len({n.node_id for n in nodes}) == len(nodes)


def test_nodes_are_the_same_nodes_when_asked_again(driver: Driver) -> None:
    first = {n.node_id: (n.hostname, n.alive, n.cpus, n.gpus, dict(n.labels)) for n in driver.backend.nodes()}
    second = {n.node_id: (n.hostname, n.alive, n.cpus, n.gpus, dict(n.labels)) for n in driver.backend.nodes()}

    assert first == second


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda b: b.ping(), id="ping"),
        pytest.param(lambda b: b.capacity(), id="capacity"),
        pytest.param(lambda b: b.submit(JobSpec("pdk-x", "true", Resources())), id="submit"),
        pytest.param(lambda b: b.status("pdk-x"), id="status"),
        pytest.param(lambda b: b.stop("pdk-x"), id="stop"),
        pytest.param(lambda b: b.logs("pdk-x"), id="logs"),
        pytest.param(lambda b: b.list_remote_ids(), id="list"),
        pytest.param(lambda b: b.nodes(), id="nodes"),
    ],
)
def test_unreachable_cluster_is_a_retryable_error_and_quick(driver: Driver, call: Any) -> None:
    began = time.monotonic()

    with pytest.raises(BackendError) as raised:
        call(driver.unreachable)

    assert raised.value.retryable is True
    assert time.monotonic() - began < 2.0


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"entrypoint": "  "}, id="blank-entrypoint"),
        pytest.param({"runtime_env": {"env_vars": {"N": 1}}}, id="env-var-not-a-string"),
    ],
)
def test_a_job_the_cluster_cannot_take_is_refused_for_good(driver: Driver, bad: dict[str, Any]) -> None:
    fields = dict(bad)  # the parameter is shared by both backends' runs
    spec = driver.spec(fields.pop("entrypoint", "python -c 'print(1)'"), **fields)

    with pytest.raises(BackendError) as raised:
        driver.backend.submit(spec)

    assert raised.value.retryable is False
    assert spec.remote_id not in driver.backend.list_remote_ids()


def test_ping_answers(driver: Driver) -> None:
    driver.backend.ping()


# --- code: packages, and never a path on the control plane --------------------------------
def code_package(files: dict[str, str], *, loads: list[int] | None = None) -> PackageRef:
    """A package as the jobs service hands it over; ``loads`` counts reads of its bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    data = buffer.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()

    def load() -> bytes:
        if loads is not None:
            loads.append(1)
        return data

    return PackageRef(uri=f"paddock://packages/{sha256}", sha256=sha256, size_bytes=len(data), load=load)


def test_a_job_runs_in_its_package_which_is_read_only_when_the_cluster_lacks_it(driver: Driver) -> None:
    if driver.name.startswith("kubernetes"):
        pytest.skip(
            "on Kubernetes the job's init container fetches its package from Paddock's API; the backend "
            "never reads it (test_kubernetes_backend checks the Job carries the fetch)"
        )
    marker = uuid.uuid4().hex  # a package the cluster has never seen
    loads: list[int] = []
    package = code_package(
        {"main.py": "print(open('data/hello.txt').read().strip())\n", "data/hello.txt": f"hello {marker}\n"},
        loads=loads,
    )
    spec = driver.spec("python main.py", runtime_env={"working_dir": package.uri}, packages={package.uri: package})

    driver.backend.submit(spec)
    unread = dataclasses.replace(package, load=lambda: pytest.fail("the cluster already has this package"))
    again = driver.spec("python main.py", runtime_env={"working_dir": package.uri}, packages={package.uri: unread})
    driver.backend.submit(again)
    driver.play(spec.remote_id, RemoteState.RUNNING)
    driver.play(spec.remote_id, RemoteState.SUCCEEDED, log=f"hello {marker}\n")

    driver.wait_for(spec.remote_id, RemoteState.SUCCEEDED)
    assert f"hello {marker}" in driver.backend.logs(spec.remote_id, limit=10**6).data.decode()
    assert loads == [1]


def test_a_package_the_job_was_not_given_is_refused_for_good(driver: Driver) -> None:
    uri = "paddock://packages/" + "0" * 64
    spec = driver.spec("python main.py", runtime_env={"working_dir": uri})

    with pytest.raises(BackendError) as raised:
        driver.backend.submit(spec)

    assert raised.value.retryable is False
    assert spec.remote_id not in driver.backend.list_remote_ids()


@pytest.mark.parametrize(
    "runtime_env",
    [
        pytest.param({"working_dir": "{dir}"}, id="working_dir"),
        pytest.param({"working_dir": "file://{dir}"}, id="working_dir-file-url"),
        pytest.param({"py_modules": ["{dir}"]}, id="py_modules"),
        pytest.param({"pip": "{dir}/requirements.txt"}, id="pip-file"),
        pytest.param({"pip": ["-r {dir}/requirements.txt"]}, id="pip-r"),
        pytest.param({"conda": "{dir}/environment.yml"}, id="conda-file"),
    ],
)
def test_a_stored_local_path_is_refused_without_being_read(
    driver: Driver, tmp_path: Any, runtime_env: dict[str, Any]
) -> None:
    """Jobs stored before the API's rules may name the control plane's files. Each path here
    holds a FIFO with no writer: anything that reads it (Ray's client zipping a working_dir,
    reading a requirements file) blocks forever, as /proc/self did."""
    for name in ("pipe", "requirements.txt", "environment.yml"):
        os.mkfifo(tmp_path / name)
    filled = json.loads(json.dumps(runtime_env).replace("{dir}", str(tmp_path)))
    spec = driver.spec("python -c 'print(1)'", runtime_env=filled)
    outcome: list[BaseException | None] = []

    def submit() -> None:
        try:
            driver.backend.submit(spec)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=submit, daemon=True)
    worker.start()
    worker.join(30)

    assert not worker.is_alive(), "submit is stuck reading a path on the control plane"
    (error,) = outcome
    assert isinstance(error, BackendError) and error.retryable is False, error
    assert spec.remote_id not in driver.backend.list_remote_ids()


# Three bytes, two, four and one: reads at any offset cut some of them.
MULTIBYTE_LINE = "€é😀a" * 50 + "\n"
PRINT_MULTIBYTE = f'python -c "import sys; sys.stdout.write({MULTIBYTE_LINE!r} * 200)"'


def test_a_log_is_read_from_any_byte_offset_in_chunks_of_at_most_the_limit(driver: Driver) -> None:
    spec = driver.spec(PRINT_MULTIBYTE)
    output = (MULTIBYTE_LINE * 200).encode()

    driver.backend.submit(spec)
    driver.play(spec.remote_id, RemoteState.RUNNING)
    driver.play(spec.remote_id, RemoteState.SUCCEEDED, log=MULTIBYTE_LINE * 200)
    driver.wait_for(spec.remote_id, RemoteState.SUCCEEDED)
    whole = driver.wait_until(lambda: (log := whole_log(driver.backend, spec.remote_id)).endswith(output) and log)

    assert whole.endswith(output)  # Ray writes a line of its own before the job's output
    middle = driver.backend.logs(spec.remote_id, offset=len(whole) - len(output) + 1, limit=1000)
    assert middle.data == whole[len(whole) - len(output) + 1 :][:1000]  # raw bytes, a character cut at each end
    assert middle.more and middle.next_offset == middle.offset + 1000
    if driver.reads_log_from_offset:
        assert middle.transferred == 1000  # only the bytes asked for came over
    else:
        assert middle.transferred > 1000  # the log came from its first byte
    assert whole_log(driver.backend, spec.remote_id, limit=4099) == whole  # chunks that cut characters
    last = driver.backend.logs(spec.remote_id, offset=len(whole) - 5, limit=1000)
    assert last.data == whole[-5:] and not last.more
    past = driver.backend.logs(spec.remote_id, offset=len(whole) + 10)
    if driver.reads_log_from_offset:
        assert past == LogChunk(offset=len(whole) + 10)
    else:
        assert (past.offset, past.data, past.more) == (len(whole) + 10, b"", False)


@pytest.mark.parametrize(("offset", "limit"), [(-1, 10), (0, 0)])
def test_a_log_range_that_cannot_be_is_refused_for_good(driver: Driver, offset: int, limit: int) -> None:
    with pytest.raises(BackendError) as raised:
        driver.backend.logs("pdk-x", offset=offset, limit=limit)
    assert raised.value.retryable is False
