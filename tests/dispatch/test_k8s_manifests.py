"""The Kubernetes objects Paddock writes for an attempt: valid for every supported Kubernetes
version (offline, strict), named safely, and wired the way a gang needs (ranks, DNS, GPUs)."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import re
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes_validate.utils import all_versions

from apps.dispatch.k8s_manifests import (
    ANNOTATION_REMOTE_ID,
    COMPLETION_INDEX_ANNOTATION,
    FETCH_SCRIPT,
    GPU_PRODUCT_LABEL,
    GPU_RESOURCE,
    HOSTNAME_LABEL,
    LABEL_ATTEMPT,
    LABEL_MANAGED,
    LABEL_QUEUE,
    ClusterOptions,
    ManifestError,
    cpu_quantity,
    job_objects,
    memory_quantity,
    object_name,
    team_queue_name,
)
from apps.dispatch.port import BackendError, JobSpec, PackageRef, Resources
from apps.dispatch.runtime_env import package_uri
from tests.k8s_schemas import (
    DNS1035_LABEL,
    SUPPORTED_VERSIONS,
    ManifestInvalid,
    is_dns1123_label,
    is_label_value,
    is_port_name,
    is_qualified_name,
    label_problems,
    problems,
    quantity,
    validate,
    validate_all,
)

ATTEMPT = "3f2b8c1e-7d4a-4e2b-9c1a-0f5e6d7c8b9a"
GiB = 2**30
API = "http://paddock-web.paddock.svc:8000"
TOKEN = "pdj_3f2b8c1e-7d4a-4e2b-9c1a-0f5e6d7c8b9a.c2lnbmF0dXJl"


def _package(name: str) -> PackageRef:
    sha = hashlib.sha256(name.encode()).hexdigest()
    return PackageRef(uri=package_uri(sha), sha256=sha, size_bytes=1, load=lambda: b"")


CLIENT = _package("paddock client")
WORKDIR = _package("the user's code")
OPTIONS = ClusterOptions(
    namespace="ml",
    api_url=API,
    tolerations=({"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},),
)
HOSTS = ("gpu-node-a", "gpu-node-b", "gpu-node-c", "gpu-node-d")


def make_spec(**changes: Any) -> JobSpec:
    fields: dict[str, Any] = {
        "remote_id": ATTEMPT,
        "entrypoint": "python train.py --epochs 3",
        "resources": Resources(cpus=8, gpus=8, memory_bytes=64 * GiB),
        "runtime_env": {
            "env_vars": {"LEARNING_RATE": "0.1", "PADDOCK_JOB_TOKEN": TOKEN, "PADDOCK_API_URL": "http://x:1"},
            "working_dir": WORKDIR.uri,
            "py_modules": [CLIENT.uri],
        },
        "packages": {CLIENT.uri: CLIENT, WORKDIR.uri: WORKDIR},
        "metadata": {"paddock_job": "41", "paddock_team": "vision"},
    }
    fields.update(changes)
    return JobSpec(**fields)


def placement(count: int, gpus: int = 2) -> tuple[dict[str, Any], ...]:
    return tuple(
        {"node_id": f"n{i}", "hostname": HOSTS[i], "address": f"10.0.0.{i}", "gpus": list(range(gpus))}
        for i in range(count)
    )


# Every kind of object Paddock writes, with the features that change its shape.
CASES: dict[str, tuple[JobSpec, ClusterOptions]] = {
    "single cpu-only, nothing to fetch": (
        make_spec(resources=Resources(cpus=0.5, memory_bytes=512 * 2**20), runtime_env={}, packages={}, metadata={}),
        ClusterOptions(),
    ),
    "single with GPUs, placement, model, tolerations, Kueue, packages": (
        make_spec(placement=placement(1, gpus=8), accelerator_model="NVIDIA-H100-80GB-HBM3"),
        ClusterOptions(**{**OPTIONS.__dict__, "kueue_queue": "team-vision", "service_account": "trainer"}),
    ),
    "single with pip and an https working_dir": (
        make_spec(
            runtime_env={
                "working_dir": "https://example.com/code.zip",
                "pip": ["numpy==2.1.0"],
                "py_modules": [CLIENT.uri],
                "env_vars": {"PADDOCK_JOB_TOKEN": TOKEN},
            },
            packages={CLIENT.uri: CLIENT},
        ),
        OPTIONS,
    ),
    "multi-node Indexed Job + headless Service": (make_spec(placement=placement(4)), OPTIONS),
    "multi-node from metadata, Kueue": (
        make_spec(metadata={"nodes": "2"}, resources=Resources(cpus=16, gpus=4, memory_bytes=100 * GiB)),
        ClusterOptions(**{**OPTIONS.__dict__, "kueue_queue": "q"}),
    ),
    "multi-node JobSet": (
        make_spec(placement=placement(4), accelerator_model="NVIDIA-A100-SXM4-80GB"),
        ClusterOptions(**{**OPTIONS.__dict__, "has_jobset": True, "kueue_queue": "q"}),
    ),
    "RayJob, one node": (
        make_spec(runtime_env={**make_spec().runtime_env, "ray": True}, resources=Resources(cpus=4, gpus=1)),
        ClusterOptions(**{**OPTIONS.__dict__, "has_kuberay": True, "image": "rayproject/ray:2.60.0-gpu"}),
    ),
    "RayJob, gang with remote code and pip": (
        make_spec(
            runtime_env={
                "working_dir": "s3://bucket/code.zip",
                "pip": ["torch==2.13.0"],
                "py_modules": [CLIENT.uri],
                "env_vars": {"PADDOCK_JOB_TOKEN": TOKEN},
            },
            packages={CLIENT.uri: CLIENT},
            metadata={"runtime": "ray"},
            placement=placement(4),
            accelerator_model="NVIDIA-H100-80GB-HBM3",
        ),
        ClusterOptions(**{**OPTIONS.__dict__, "has_kuberay": True, "kueue_queue": "q"}),
    ),
}


def objects(case: str) -> list[dict[str, Any]]:
    spec, options = CASES[case]
    return job_objects(spec, options)


def by_kind(objs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [obj for obj in objs if obj["kind"] == kind]
    return found


def pod_templates(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("spec"), dict) and "containers" in node["spec"]:
            yield node
            return
        for value in node.values():
            yield from pod_templates(value)
    elif isinstance(node, list):
        for value in node:
            yield from pod_templates(value)


def containers(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = template["spec"]
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


def kubelet_env(container: dict[str, Any], annotations: dict[str, str]) -> dict[str, str]:
    """The environment the container sees: fieldRefs resolved, $(VAR) and $$ expanded in order."""
    seen: dict[str, str] = {}
    for item in container["env"]:
        if "valueFrom" in item:
            match = re.fullmatch(r"metadata\.annotations\['(.+)'\]", item["valueFrom"]["fieldRef"]["fieldPath"])
            assert match, item
            seen[item["name"]] = annotations[match.group(1)]
        else:
            seen[item["name"]] = expand(item["value"], seen)
    return seen


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion (k8s.io/kubernetes/third_party/forked/golang/expansion)."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2 : end]
                    out.append(env.get(name, text[i : end + 1]))
                    i = end + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


# --- validity -------------------------------------------------------------------------------
def test_the_supported_versions_are_all_shipped_by_kubernetes_validate():
    shipped = {v.rsplit(".", 1)[0] for v in all_versions()}
    assert set(SUPPORTED_VERSIONS) <= shipped
    assert SUPPORTED_VERSIONS == tuple(f"1.{minor}" for minor in range(29, 36))


@pytest.mark.parametrize("case", list(CASES))
def test_every_manifest_validates_strictly_for_every_supported_version(case):
    objs = objects(case)
    assert objs
    validate_all(objs, SUPPORTED_VERSIONS)
    # and stays valid through a YAML round trip, as kubectl would send it
    validate_all(yaml.safe_load_all(yaml.safe_dump_all(objs)), SUPPORTED_VERSIONS)


@pytest.mark.parametrize("case", list(CASES))
def test_every_object_and_pod_is_labelled_as_paddock_s_attempt(case):
    for obj in objects(case):
        assert obj["metadata"]["labels"][LABEL_MANAGED] == "paddock"
        assert obj["metadata"]["labels"][LABEL_ATTEMPT] == ATTEMPT
        assert obj["metadata"]["annotations"][ANNOTATION_REMOTE_ID] == ATTEMPT
        assert obj["metadata"]["name"] == object_name(ATTEMPT)
        templates = list(pod_templates(obj))
        assert templates or obj["kind"] == "Service"
        for template in templates:
            assert template["metadata"]["labels"] == {LABEL_ATTEMPT: ATTEMPT, LABEL_MANAGED: "paddock"}
            assert template["spec"]["restartPolicy"] == "Never"


def test_the_validator_is_not_vacuous():
    """Each check catches what it is for, on an otherwise valid manifest."""
    job = objects("multi-node Indexed Job + headless Service")[1]
    validate(job)

    def broken(change) -> list[str]:
        copy = json.loads(json.dumps(job))
        change(copy)
        return problems(copy)

    pod = lambda j: j["spec"]["template"]["spec"]  # noqa: E731
    main = lambda j: pod(j)["containers"][0]  # noqa: E731
    assert any("bogus" in p for p in broken(lambda j: j["spec"].update(bogus=1)))  # schema, strict
    assert any("restartPolicy" in p for p in broken(lambda j: pod(j).update(restartPolicy="Sometimes")))
    assert any("restartPolicy" in p for p in broken(lambda j: pod(j).update(restartPolicy="Always")))
    assert any("completionMode" in p for p in broken(lambda j: j["spec"].update(completionMode="Gang")))
    assert any("DNS-1123" in p for p in broken(lambda j: j["metadata"].update(name="Pdk_Job")))
    assert any("DNS-1123" in p for p in broken(lambda j: j["metadata"].update(name="p" * 64)))
    assert any("quantity" in p for p in broken(lambda j: main(j)["resources"]["limits"].update(cpu="2 cores")))
    assert any("quantity" in p for p in broken(lambda j: main(j)["resources"]["limits"].update(memory=0.5)))
    assert any("equal" in p for p in broken(lambda j: main(j)["resources"]["requests"].update({GPU_RESOURCE: 1})))
    assert any("label value" in p for p in broken(lambda j: j["metadata"]["labels"].update(x="a b")))
    index_env = lambda j: next(e for e in main(j)["env"] if e["name"] == "JOB_COMPLETION_INDEX")  # noqa: E731
    assert any(
        "downward API" in p for p in broken(lambda j: index_env(j)["valueFrom"]["fieldRef"].update(fieldPath="x"))
    )
    assert any("operator" in p for p in broken(lambda j: pod(j)["tolerations"][0].update(operator="Has")))
    with pytest.raises(ManifestInvalid):
        validate({**job, "metadata": {**job["metadata"], "name": "-bad-"}})
    jobset = by_kind(objects("multi-node JobSet"), "JobSet")
    jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["containers"][0]["gpu"] = 1
    assert any("gpu" in p for p in problems(jobset))  # the CRD schema refuses unknown fields too
    rayjob = by_kind(objects("RayJob, one node"), "RayJob")
    rayjob["spec"]["shutdownAfterJobFinishes"] = "yes"
    assert any("shutdownAfterJobFinishes" in p for p in problems(rayjob))


def test_the_validator_knows_port_names_labels_and_quantities_exactly():
    """Port names as validation.IsValidPortName, labels with values that are not strings,
    and quantities compared exactly (not as floats)."""
    assert is_port_name("http") and is_port_name("h2c-8000")
    for name in ("a--b", "-http", "http-", "8000", "a" * 16, "HTTP", ""):
        assert not is_port_name(name), name
    assert label_problems({"app": "web", "example.com/tier": "a.b_c-d"}) == []
    assert label_problems({"replicas": 3}) and label_problems({"/x": "y"}) and label_problems({"a": "-b"})
    assert not is_qualified_name("/x") and not is_qualified_name("Bad_/x")
    assert quantity("1Gi") == 2**30 and quantity("100m") * 10 == 1 and quantity("1.5e3") == 1500
    assert quantity("0.1") + quantity("0.2") == quantity("300m")
    for bad in ("1.5 Gi", "1K", "1e1.5", "", 0.5, True):
        with pytest.raises(ValueError):
            quantity(bad)
    job = objects("multi-node Indexed Job + headless Service")[1]
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["ports"] = [{"name": "a--b", "containerPort": 8000}]
    container["readinessProbe"] = {"httpGet": {"path": "/", "port": "http-"}}
    job["metadata"]["labels"]["replicas"] = 3
    found = " | ".join(problems(job))
    assert "'a--b'" in found and "'http-'" in found and "replicas" in found
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"ports": [{"port": 80, "targetPort": "web--http"}]}}  # fmt: skip
    assert any("targetPort" in p for p in problems(service))


# --- names ----------------------------------------------------------------------------------
ODD_IDS = [
    ATTEMPT,
    ATTEMPT.upper(),
    "Job/42:attempt#1",
    "job/42:attempt#1",
    "job-42-attempt-1",
    "x" * 300,
    "---",
    "ünïcødé",
    "a.b",
    "a_b",
    "0",
    " spaced out ",
]


@pytest.mark.parametrize("remote_id", ODD_IDS)
def test_names_are_dns_labels_short_enough_for_what_kubernetes_derives(remote_id):
    name = object_name(remote_id)
    assert is_dns1123_label(name) and DNS1035_LABEL.match(name), name
    assert len(name) <= 40  # leaves room for <name>-<index>, <name>-node-0-0, KubeRay's suffixes
    assert object_name(remote_id) == name  # stable
    objs = job_objects(make_spec(remote_id=remote_id, placement=placement(2)), OPTIONS)
    validate_all(objs)
    for obj in objs:
        assert obj["metadata"]["annotations"][ANNOTATION_REMOTE_ID] == remote_id
        assert is_label_value(obj["metadata"]["labels"][LABEL_ATTEMPT])


def test_names_differ_for_different_ids():
    names = [object_name(remote_id) for remote_id in ODD_IDS]
    assert len(set(names)) == len(ODD_IDS)
    assert object_name(ATTEMPT) == "pdk-" + ATTEMPT.replace("-", "")


def test_an_empty_remote_id_is_refused():
    with pytest.raises(ManifestError):
        object_name("")


# --- single node --------------------------------------------------------------------------
def test_a_single_node_job_asks_for_its_gpus_on_the_placed_host_and_model():
    spec, options = CASES["single with GPUs, placement, model, tolerations, Kueue, packages"]
    (job,) = job_objects(spec, options)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["metadata"]["namespace"] == "ml"
    assert job["metadata"]["labels"][LABEL_QUEUE] == "team-vision"
    assert job["spec"]["suspend"] is True  # Kueue admits it
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
    pod = job["spec"]["template"]["spec"]
    main = containers(job["spec"]["template"])["job"]
    quantities = {GPU_RESOURCE: 8, "cpu": 8, "memory": "64Gi"}
    assert main["resources"] == {"requests": quantities, "limits": quantities}
    assert main["command"] == ["/bin/sh", "-c", "python train.py --epochs 3"]
    assert main["workingDir"] == "/workspace"
    (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": HOSTNAME_LABEL, "operator": "In", "values": ["gpu-node-a"]} in term["matchExpressions"]
    assert {"key": GPU_PRODUCT_LABEL, "operator": "In", "values": ["NVIDIA-H100-80GB-HBM3"]} in term["matchExpressions"]
    assert pod["tolerations"] == [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["serviceAccountName"] == "trainer"
    env = env_of(main)
    assert env["LEARNING_RATE"] == "0.1"
    assert env["PADDOCK_API_URL"] == API  # the cluster's view of Paddock wins over the job's copy
    assert env["PADDOCK_JOB_TOKEN"] == TOKEN
    assert json.loads(env["PADDOCK_PLACEMENT"]) == [dict(p) for p in spec.placement]
    assert env["PYTHONPATH"].split(":") == ["/workspace", "/opt/paddock/modules/0"]


def test_a_cpu_job_gets_quantities_kubernetes_accepts_and_no_api_token():
    (job,) = objects("single cpu-only, nothing to fetch")
    template = job["spec"]["template"]
    assert list(containers(template)) == ["job"]  # nothing to fetch: no init container
    assert containers(template)["job"]["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    assert template["spec"]["automountServiceAccountToken"] is False
    assert "affinity" not in template["spec"] and "tolerations" not in template["spec"]
    assert LABEL_QUEUE not in job["metadata"]["labels"] and "suspend" not in job["spec"]


@pytest.mark.parametrize(
    ("cpus", "expected"), [(1, 1), (0.5, "500m"), (2.25, "2250m"), (0.0001, "1m"), (16.0, 16), (1 / 3, "334m")]
)
def test_cpu_quantities(cpus, expected):
    assert cpu_quantity(cpus) == expected


@pytest.mark.parametrize(
    ("size", "expected"), [(16 * GiB, "16Gi"), (512 * 2**20, "512Mi"), (1536 * 2**20, "1536Mi"), (1000, 1000)]
)
def test_memory_quantities(size, expected):
    assert memory_quantity(size) == expected


def test_the_entrypoint_and_env_reach_the_container_unchanged_by_kubernetes_expansion():
    entrypoint = "echo $HOME $$ $(hostname) $(LEARNING_RATE) $$(x) && python -c 'print(1)'"
    spec = make_spec(
        entrypoint=entrypoint,
        runtime_env={"env_vars": {"LEARNING_RATE": "0.1", "PRICE": "$(LEARNING_RATE) $$5"}},
        packages={},
    )
    (job,) = job_objects(spec, OPTIONS)
    main = containers(job["spec"]["template"])["job"]
    env = kubelet_env(main, {})
    assert expand(main["command"][2], env) == entrypoint
    assert env["PRICE"] == "$(LEARNING_RATE) $$5"


# --- packages -----------------------------------------------------------------------------
def test_packages_are_fetched_from_paddock_by_an_init_container_with_the_job_token():
    (job,) = objects("single with GPUs, placement, model, tolerations, Kueue, packages")
    template = job["spec"]["template"]
    init = containers(template)["fetch-code"]
    assert init["image"] == containers(template)["job"]["image"] == "python:3.11-slim"
    assert init["command"][:2] == ["python", "-c"] and init["command"][2] == FETCH_SCRIPT
    assert "$" not in FETCH_SCRIPT
    env = env_of(init)
    assert env["PADDOCK_JOB_TOKEN"] == TOKEN
    plan = json.loads(env["PADDOCK_FETCH"])
    assert [(a["url"], a["dest"], a["paddock"]) for a in plan["archives"]] == [
        (f"{API}/api/v1/job-packages/{WORKDIR.sha256}/", "/workspace", True),
        (f"{API}/api/v1/job-packages/{CLIENT.sha256}/", "/opt/paddock/modules/0", True),
    ]
    assert {v["name"]: v["emptyDir"] for v in template["spec"]["volumes"]} == {"workspace": {}, "paddock-lib": {}}
    assert init["resources"]["limits"] == {"cpu": 8, "memory": "64Gi"}  # no GPUs held while fetching


def test_without_an_api_url_packages_cannot_be_fetched():
    spec = make_spec(runtime_env={"py_modules": [CLIENT.uri]})
    with pytest.raises(ManifestError, match="API URL"):
        job_objects(spec, ClusterOptions())


@pytest.fixture
def code_server() -> Iterator[tuple[str, dict[str, bytes], list[tuple[str, str | None]]]]:
    """An HTTP server on 127.0.0.1 serving zips by path, recording each request's Authorization."""
    files: dict[str, bytes] = {}
    seen: list[tuple[str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", files, seen
    server.shutdown()


def _zip(entries: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _run_fetch(plan: dict[str, Any], tmp_path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PADDOCK_FETCH": json.dumps(plan), "PADDOCK_JOB_TOKEN": TOKEN}
    return subprocess.run([sys.executable, "-c", FETCH_SCRIPT], env=env, capture_output=True, text=True, timeout=60)


def test_the_init_container_script_fetches_checks_and_unpacks(code_server, tmp_path):
    base, files, seen = code_server
    workdir, module, remote = _zip({"train.py": "print(1)"}), _zip({"paddock/__init__.py": ""}), _zip({"top/a.py": ""})
    files.update({"/pkg/w/": workdir, "/pkg/m/": module, "/elsewhere/code.zip": remote})
    sha = lambda data: hashlib.sha256(data).hexdigest()  # noqa: E731
    plan = {
        "archives": [
            {
                "url": f"{base}/pkg/w/",
                "sha256": sha(workdir),
                "dest": str(tmp_path / "ws"),
                "paddock": True,
                "strip": False,
            },
            {
                "url": f"{base}/pkg/m/",
                "sha256": sha(module),
                "dest": str(tmp_path / "m0"),
                "paddock": True,
                "strip": False,
            },
            {
                "url": f"{base}/elsewhere/code.zip",
                "sha256": "",
                "dest": str(tmp_path / "r"),
                "paddock": False,
                "strip": True,
            },
        ],
        "pip": [],
        "site_packages": str(tmp_path / "site"),
        "scratch": str(tmp_path),
    }
    result = _run_fetch(plan, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ws" / "train.py").read_text() == "print(1)"
    assert (tmp_path / "m0" / "paddock" / "__init__.py").exists()
    assert (tmp_path / "r" / "a.py").exists()  # the single top-level folder's contents
    # the job token goes to Paddock only, never to another host
    assert dict(seen) == {"/pkg/w/": f"Bearer {TOKEN}", "/pkg/m/": f"Bearer {TOKEN}", "/elsewhere/code.zip": None}

    plan["archives"] = [{**plan["archives"][0], "sha256": "0" * 64}]
    result = _run_fetch(plan, tmp_path)
    assert result.returncode != 0 and "sha256" in result.stderr


# --- gangs ----------------------------------------------------------------------------------
def test_a_four_node_gang_is_one_indexed_job_with_the_right_ranks():
    objs = objects("multi-node Indexed Job + headless Service")
    assert [obj["kind"] for obj in objs] == ["Service", "Job"]
    service, job = objs
    name = object_name(ATTEMPT)
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == job["spec"]["template"]["metadata"]["labels"]
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 4
    pod = job["spec"]["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"] == name
    main = containers(job["spec"]["template"])["job"]
    quantities = {GPU_RESOURCE: 2, "cpu": 2, "memory": "16Gi"}  # 8 GPUs, 8 CPUs, 64 GiB over 4 nodes
    assert main["resources"] == {"requests": quantities, "limits": quantities}
    ranks = []
    for index in range(4):
        env = kubelet_env(main, {COMPLETION_INDEX_ANNOTATION: str(index)})
        # pod <index>'s DNS name through the headless Service: <job>-<index>.<subdomain>.<namespace>.svc
        pod_dns = f"{job['metadata']['name']}-{index}.{pod['subdomain']}.ml.svc"
        if index == 0:
            assert env["MASTER_ADDR"] == pod_dns
        assert env["MASTER_PORT"] == env["PET_MASTER_PORT"] == "29500"
        assert env["WORLD_SIZE"] == env["NNODES"] == env["PET_NNODES"] == "4"
        assert env["PET_MASTER_ADDR"] == env["MASTER_ADDR"]
        assert env["NODE_RANK"] == env["PET_NODE_RANK"] == env["JOB_COMPLETION_INDEX"]
        ranks.append(int(env["NODE_RANK"]))
    assert ranks == [0, 1, 2, 3]
    # one pod per placed host
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == list(HOSTS)
    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti == {"labelSelector": {"matchLabels": {LABEL_ATTEMPT: ATTEMPT}}, "topologyKey": HOSTNAME_LABEL}


def test_a_gang_from_metadata_without_placement_has_no_host_pinning():
    service, job = objects("multi-node from metadata, Kueue")
    assert job["spec"]["completions"] == 2
    assert job["metadata"]["labels"][LABEL_QUEUE] == "q" and LABEL_QUEUE not in service["metadata"]["labels"]
    assert job["spec"]["suspend"] is True
    assert "affinity" not in job["spec"]["template"]["spec"]
    limits = containers(job["spec"]["template"])["job"]["resources"]["limits"]
    assert limits == {GPU_RESOURCE: 2, "cpu": 8, "memory": "50Gi"}


def test_a_gang_on_a_cluster_with_jobset_is_one_jobset():
    (jobset,) = objects("multi-node JobSet")
    name = object_name(ATTEMPT)
    assert (jobset["apiVersion"], jobset["kind"]) == ("jobset.x-k8s.io/v1alpha2", "JobSet")
    assert jobset["spec"]["network"] == {
        "enableDNSHostnames": True,
        "subdomain": name,
        "publishNotReadyAddresses": True,
    }
    assert jobset["spec"]["suspend"] is True and jobset["metadata"]["labels"][LABEL_QUEUE] == "q"
    (replicated,) = jobset["spec"]["replicatedJobs"]
    job_spec = replicated["template"]["spec"]
    assert replicated["replicas"] == 1 and job_spec["completions"] == 4 and job_spec["completionMode"] == "Indexed"
    main = containers(job_spec["template"])["job"]
    env = kubelet_env(main, {COMPLETION_INDEX_ANNOTATION: "3"})
    # JobSet names the Job <jobset>-<replicated job>-<job index> and pods <job>-<pod index>
    assert env["MASTER_ADDR"] == f"{name}-{replicated['name']}-0-0.{name}.ml.svc"
    assert env["NODE_RANK"] == "3" and env["WORLD_SIZE"] == "4"
    assert main["resources"]["limits"][GPU_RESOURCE] == 2


# --- Ray ------------------------------------------------------------------------------------
def test_a_ray_job_on_kuberay_is_a_rayjob_with_gpu_workers():
    (rayjob,) = objects("RayJob, gang with remote code and pip")
    assert (rayjob["apiVersion"], rayjob["kind"]) == ("ray.io/v1", "RayJob")
    spec = rayjob["spec"]
    assert spec["entrypoint"] == "python train.py --epochs 3"
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] == 3600
    assert spec["suspend"] is True and rayjob["metadata"]["labels"][LABEL_QUEUE] == "q"
    head = spec["rayClusterSpec"]["headGroupSpec"]
    (workers,) = spec["rayClusterSpec"]["workerGroupSpecs"]
    assert workers["replicas"] == workers["minReplicas"] == workers["maxReplicas"] == 4
    worker_limits = workers["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert worker_limits == {GPU_RESOURCE: 2, "cpu": 2, "memory": "16Gi"}
    head_limits = head["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert GPU_RESOURCE not in head_limits and head["rayStartParams"]["num-gpus"] == "0"
    assert "affinity" not in head["template"]["spec"]  # the head is not a placed GPU node
    assert "podAntiAffinity" in workers["template"]["spec"]["affinity"]
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert runtime_env["working_dir"] == "s3://bucket/code.zip"  # Ray fetches what it can
    assert runtime_env["pip"] == ["torch==2.13.0"]
    assert runtime_env["env_vars"]["PADDOCK_JOB_TOKEN"] == TOKEN
    for template in (head["template"], workers["template"]):  # Paddock's packages: the init container
        archives = json.loads(env_of(containers(template)["fetch-code"])["PADDOCK_FETCH"])["archives"]
        assert [a["dest"] for a in archives] == ["/opt/paddock/modules/0"]


def test_a_ray_job_with_a_paddock_working_dir_starts_there():
    (rayjob,) = objects("RayJob, one node")
    assert rayjob["spec"]["entrypoint"] == "cd /workspace && python train.py --epochs 3"
    assert "ray" not in yaml.safe_load(rayjob["spec"]["runtimeEnvYAML"])


def test_a_ray_job_without_kuberay_runs_as_a_job_on_one_node_and_is_refused_as_a_gang():
    spec = make_spec(runtime_env={"ray": True}, packages={}, resources=Resources(cpus=2))
    (job,) = job_objects(spec, OPTIONS)
    assert job["kind"] == "Job"
    with pytest.raises(ManifestError, match="KubeRay"):
        job_objects(make_spec(runtime_env={"ray": True}, packages={}, placement=placement(2)), OPTIONS)


# --- refusals -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"resources": Resources(gpus=6), "placement": placement(4)}, "whole GPUs"),
        ({"resources": Resources(gpus=0.5)}, "whole GPUs"),
        ({"placement": (*placement(1, gpus=4), *placement(2, gpus=2)[1:])}, "different GPU counts"),
        ({"metadata": {"nodes": "two"}}, "whole number"),
        ({"metadata": {"nodes": "0"}}, "at least one node"),
        ({"runtime_env": {"working_dir": "s3://bucket/code.zip"}, "packages": {}}, "https://"),
        ({"accelerator_model": "H100 (80 GB)"}, "label value"),
        ({"placement": ({"hostname": "bad host", "gpus": [0]},)}, "label value"),
    ],
)
def test_what_kubernetes_cannot_express_is_refused_and_not_retried(changes, message):
    with pytest.raises(ManifestError, match=re.escape(message)) as caught:
        job_objects(make_spec(**changes), OPTIONS)
    assert caught.value.retryable is False


def test_a_runtime_env_paddock_must_not_send_is_refused_before_anything_is_built():
    with pytest.raises(BackendError) as caught:
        job_objects(make_spec(runtime_env={"working_dir": "/home/me/code"}, packages={}), OPTIONS)
    assert caught.value.retryable is False and "runtime_env" in caught.value.message
    with pytest.raises(BackendError, match="not stored"):
        job_objects(make_spec(packages={}), OPTIONS)


@pytest.mark.parametrize(
    "options",
    [ClusterOptions(namespace="ML"), ClusterOptions(kueue_queue="q q"), ClusterOptions(service_account="A/B")],
)
def test_bad_cluster_options_are_refused(options):
    with pytest.raises(ManifestError):
        job_objects(make_spec(runtime_env={}, packages={}), options)


# --- the validator on the other custom resources Paddock writes ---------------------------
KUEUE = [
    {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor", "metadata": {"name": "h100"},
     "spec": {"nodeLabels": {GPU_PRODUCT_LABEL: "NVIDIA-H100-80GB-HBM3"}}},
    {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Cohort", "metadata": {"name": "org"}, "spec": {}},
    {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue", "metadata": {"name": "team-vision"},
     "spec": {"cohortName": "org", "namespaceSelector": {},
              "resourceGroups": [{"coveredResources": ["cpu", GPU_RESOURCE],
                                  "flavors": [{"name": "h100", "resources": [
                                      {"name": "cpu", "nominalQuota": 64},
                                      {"name": GPU_RESOURCE, "nominalQuota": 8, "borrowingLimit": 0}]}]}]}},
    {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue",
     "metadata": {"name": "team-vision", "namespace": "ml"}, "spec": {"clusterQueue": "team-vision"}},
]  # fmt: skip


def test_kueue_objects_validate_against_their_crds_and_mistakes_are_caught():
    validate_all(KUEUE)
    queue = json.loads(json.dumps(KUEUE[2]))
    queue["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = "64 cores"
    queue["spec"]["queueingStrategy"] = "Whenever"
    queue["spec"]["unknown"] = True
    found = " | ".join(problems(queue))
    assert "64 cores" in found and "Whenever" in found and "unknown" in found
    with pytest.raises(ValueError, match="v1alpha9"):
        validate({**KUEUE[3], "apiVersion": "kueue.x-k8s.io/v1alpha9"})


def test_asking_for_a_version_kubernetes_validate_lacks_is_an_error_not_a_pass():
    with pytest.raises(ValueError, match="1.99"):
        validate(KUEUE[3], versions=("1.99",))


# --- GPU product affinity ---------------------------------------------------------------------
def test_the_accelerator_products_become_one_in_expression_with_every_known_name():
    spec = make_spec(
        placement=placement(1, gpus=8),
        accelerator_model="H100",
        accelerator_products=("NVIDIA-H100-80GB-HBM3", "H100-SXM", "NVIDIA-H100-80GB-HBM3"),
    )
    (job,) = job_objects(spec, OPTIONS)
    validate(job)
    terms = job["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    expressions = terms["nodeSelectorTerms"][0]["matchExpressions"]
    product = [e for e in expressions if e["key"] == GPU_PRODUCT_LABEL]
    # "H100" itself is no GFD product: without the catalog's names it matched only by accident.
    assert product == [{"key": GPU_PRODUCT_LABEL, "operator": "In", "values": ["H100-SXM", "NVIDIA-H100-80GB-HBM3"]}]


def test_an_accelerator_product_that_is_no_label_value_is_refused():
    with pytest.raises(ManifestError, match="label value"):
        job_objects(make_spec(accelerator_model="H100", accelerator_products=("NVIDIA H100 (80GB)",)), OPTIONS)


@pytest.mark.parametrize(
    ("options", "queue"),
    [
        (ClusterOptions(kueue_team_queues=True), team_queue_name("ml_research")),
        (ClusterOptions(kueue_team_queues=True, kueue_queue="shared"), "shared"),
        (ClusterOptions(), None),
    ],
)
def test_a_job_goes_to_its_teams_local_queue_where_paddock_keeps_kueues_objects(
    options: ClusterOptions, queue: str | None
) -> None:
    (job,) = job_objects(make_spec(metadata={"paddock_team": "ml_research"}), options)
    assert job["metadata"]["labels"].get("kueue.x-k8s.io/queue-name") == queue
    assert job["spec"].get("suspend", False) is (queue is not None)
    assert team_queue_name("ml_research") == "ml-research-" + team_queue_name("ml_research").rsplit("-", 1)[1]
    assert team_queue_name("vision") == "vision"
