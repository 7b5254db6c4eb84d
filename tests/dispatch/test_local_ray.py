"""The local Ray head: two of them side by side, and stopping one leaves the other alone."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from apps.dispatch.local_ray import LocalRayError, LocalRayHead, RayHeadPorts, port_in_use, wait_ports_free
from apps.dispatch.port import JobSpec, RemoteState, Resources
from apps.dispatch.registry import get_backend
from tests.raycluster import RAY_TEST_DASHBOARD_PORT, RAY_TEST_GCS_PORT

REPO = Path(__file__).resolve().parents[2]


def _pids_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def test_make_run_and_test_heads_use_disjoint_ports() -> None:
    run = RayHeadPorts.derive(6380, 8265)
    tests = RayHeadPorts.derive(RAY_TEST_GCS_PORT, RAY_TEST_DASHBOARD_PORT)
    second = RayHeadPorts.derive(RAY_TEST_GCS_PORT + 10, RAY_TEST_DASHBOARD_PORT + 10)

    for ports in (run, tests, second):
        ports.validate()
    assert not run.all_ports() & tests.all_ports()
    assert not tests.all_ports() & second.all_ports()
    assert not run.all_ports() & second.all_ports()
    assert 6379 not in run.all_ports() | tests.all_ports() | second.all_ports()


def test_command_pins_every_port_and_binds_to_loopback() -> None:
    head = LocalRayHead(gcs_port=6380, dashboard_port=8265, temp_dir="/tmp/pdk-ray-cmd")
    command = " ".join(head.command())
    env = head.environment()

    for port in head.ports.listening().values():
        assert str(port) in command or str(port) in env.values()
    assert "--node-ip-address=127.0.0.1" in command and "--dashboard-host=127.0.0.1" in command
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert env["RAY_AUTH_MODE"] == "disabled"


def test_start_refuses_a_port_that_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        head = LocalRayHead(gcs_port=port, dashboard_port=port + 100 if port < 65000 else port - 100)

        began = time.monotonic()
        with pytest.raises(LocalRayError, match=f"gcs {port}"):
            head.start()

    assert time.monotonic() - began < 2
    assert not head.is_running()


@pytest.mark.ray
def test_second_head_runs_beside_the_first_and_stops_alone(ray_head: LocalRayHead) -> None:
    """A head from `python -m apps.dispatch.local_ray` beside the session head; SIGTERM ends it all."""
    gcs, dashboard = RAY_TEST_GCS_PORT + 10, RAY_TEST_DASHBOARD_PORT + 10
    ports = RayHeadPorts.derive(gcs, dashboard)
    temp_dir = tempfile.mkdtemp(prefix="pdk-t2-")
    marker = f"pdk-marker-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apps.dispatch.local_ray",
            f"--gcs-port={gcs}",
            f"--dashboard-port={dashboard}",
        ]
        + ["--num-cpus=1", f"--temp-dir={temp_dir}"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert "ready at http://127.0.0.1:" in ready, ready + (process.stdout.read() if process.poll() else "")
        second = get_backend("ray", f"http://127.0.0.1:{dashboard}")
        second.ping()
        # A job whose driver runs in a session of its own: stop() must find it too.
        spec = JobSpec(f"pdk-{marker}", f'python -c "import time; time.sleep(300)" {marker}', Resources())
        second.submit(spec)
        # A new head's first job waits for its first worker processes: on a loaded 2-core
        # machine that took over 30 s once. Ray says RUNNING just before the driver starts.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            _pids_mentioning(marker) and second.status(spec.remote_id).state is RemoteState.RUNNING
        ):
            time.sleep(0.2)
        assert second.status(spec.remote_id).state is RemoteState.RUNNING
        assert _pids_mentioning(marker), "the job's driver should be running"

        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=30)

        assert exit_code == 0
        assert wait_ports_free(ports.listening().values(), timeout=10) == []
        assert _pids_mentioning(temp_dir) == []
        assert _pids_mentioning(marker) == []
        # The session head did not notice.
        first = get_backend("ray", ray_head.address, ray_head.auth_token)
        first.ping()
        assert first.capacity().total.cpus == 4
        assert all(port_in_use(port) for port in ray_head.ports.listening().values())
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.ray
def test_the_head_refuses_callers_without_its_token(ray_head: LocalRayHead) -> None:
    """A job of one team read another team's log and stopped its job through an open dashboard."""
    import requests

    assert ray_head.auth_token
    for path in ("/api/jobs/", "/api/version", "/api/v0/nodes"):
        refused = requests.get(ray_head.address + path, timeout=5)
        assert refused.status_code in (401, 403), (path, refused.status_code)
    allowed = requests.get(
        ray_head.address + "/api/jobs/", headers={"Authorization": f"Bearer {ray_head.auth_token}"}, timeout=5
    )
    assert allowed.status_code == 200


@pytest.mark.ray
def test_a_job_sees_none_of_the_control_planes_environment(
    ray_head: LocalRayHead, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The head copied os.environ to every job: PADDOCK_ADMIN_PASSWORD, DATABASE_URL, keys."""
    backend = get_backend("ray", ray_head.address, ray_head.auth_token)
    remote_id = f"env-{uuid.uuid4().hex[:8]}"
    script = "import os, json; print('ENV=' + json.dumps(sorted(os.environ)))"
    backend.submit(
        JobSpec(
            remote_id=remote_id,
            entrypoint=f'python -c "{script}"',
            resources=Resources(cpus=0.1),
            runtime_env={"env_vars": {"MY_SETTING": "mine"}},
        )
    )
    deadline = time.monotonic() + 90
    while backend.status(remote_id).state not in (RemoteState.SUCCEEDED, RemoteState.FAILED):
        assert time.monotonic() < deadline, backend.logs(remote_id).data
        time.sleep(0.2)
    text = backend.logs(remote_id, limit=10**6).data.decode()
    line = next(line for line in text.splitlines() if line.startswith("ENV="))
    names = set(__import__("json").loads(line[4:]))
    assert "MY_SETTING" in names and "PATH" in names  # the job's own variables do arrive
    # The suite's own process has these; the head was started from it.
    assert {"DATABASE_URL", "REDIS_URL"} <= set(os.environ)
    leaked = sorted(n for n in names if n.startswith("PADDOCK_") or n in {"DATABASE_URL", "REDIS_URL"})
    assert leaked == []


def test_the_environment_keeps_only_what_a_process_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PADDOCK_ADMIN_PASSWORD", "s3cret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    monkeypatch.setenv("CUDA_HOME", "/usr/local/cuda")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    env = LocalRayHead(gcs_port=6380, dashboard_port=8265, temp_dir="/tmp/pdk-ray-env").environment()

    assert "PADDOCK_ADMIN_PASSWORD" not in env and "AWS_SECRET_ACCESS_KEY" not in env and "RAY_ADDRESS" not in env
    assert env["CUDA_HOME"] == "/usr/local/cuda" and env["LC_ALL"] == "C.UTF-8"
    assert "s3cret" not in env.values()
