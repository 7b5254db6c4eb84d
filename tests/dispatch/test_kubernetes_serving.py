"""Serving on Kubernetes: the objects ``k8s_serving`` builds, and the backend's ``serve_apply``
and ``serve_state`` over real HTTP against the emulated API server (the test plays the
Deployment controller, the scheduler and the kubelet).

How a revision's Deployment and its pods map to the port's app status (``deployment_status``):

| the Deployment / its pods                                           | app status    | its replicas      |
|---------------------------------------------------------------------|---------------|-------------------|
| readyReplicas ≥ replicas                                            | RUNNING       | HEALTHY           |
| none ready, pods starting or not scheduled yet                      | DEPLOYING     | UPDATING, why     |
| Progressing=False ProgressDeadlineExceeded                          | DEPLOY_FAILED | the pods' reason  |
| none ready, a container in CrashLoopBackOff / ImagePullBackOff / …, | DEPLOY_FAILED | the reason        |
| and the rollout never completed                                     |               |                   |
| the same after the rollout had completed (NewReplicaSetAvailable)   | UNHEALTHY     | UNHEALTHY         |
| some ready, another failing                                         | RUNNING       | UNHEALTHY         |
| some ready, the rest starting                                       | RUNNING       | UPSCALING         |
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.dispatch.backends.kubernetes import KubernetesBackend
from apps.dispatch.k8s_manifests import ClusterOptions, ManifestError
from apps.dispatch.k8s_serving import ANNOTATION_DIGEST, serving_objects
from apps.dispatch.kubeconfig import SafeKubeconfig
from apps.dispatch.port import BackendError, Resources, ServeApp, ServeContainer
from paddock.serving import vllm_gate
from tests.dispatch.k8s_emulator import Controller, EmulatedCluster
from tests.k8s_schemas import SUPPORTED_VERSIONS, is_dns1123_label, quantity, validate_all

TOKEN = "serve-token-" + "y" * 8
NS = "default"
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"
SERVICES = f"/api/v1/namespaces/{NS}/services"
CONFIGMAPS = f"/api/v1/namespaces/{NS}/configmaps"
HPAS = f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers"
PREFIX = "paddock-"


def container(revision: int = 2, **overrides: Any) -> ServeContainer:
    values: dict[str, Any] = {
        "image": "vllm/vllm-openai:v0.11.0",
        "command": ("vllm", "serve"),
        "args": ("/models/llama", "--tensor-parallel-size", "1", "--port", "8000"),
        "port": 8000,
        "health_path": "/health",
        "resources": Resources(cpus=4, gpus=1, memory_bytes=32 * 2**30),
        "group": "paddock-ep-1",
        "endpoint_label": "1",
        "revision_label": str(revision),
        "deployment_name": "Model",
        "accelerator_products": ("H100-SXM", "NVIDIA-H100-80GB-HBM3"),
        "env": {"PYTHONPATH": "/etc/paddock"},
        "files": {"tokens.json": '{"token_hashes": []}', "paddock_gate.py": "# gate"},
    }
    values.update(overrides)
    return ServeContainer(**values)


def app(revision: int = 2, **overrides: Any) -> ServeApp:
    return ServeApp(
        name=f"paddock-rev-{revision}", import_path="", route_prefix=None, container=container(revision, **overrides)
    )


@pytest.fixture
def backend(k8s_cluster: EmulatedCluster) -> Iterator[KubernetesBackend]:
    made = KubernetesBackend(
        k8s_cluster.url,
        SafeKubeconfig(server=k8s_cluster.url, token=TOKEN).to_json(),
        ClusterOptions(
            namespace=NS, tolerations=({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)
        ),
    )
    yield made
    made.close()


def apply(backend: KubernetesBackend, apps: list[ServeApp]) -> Any:
    return backend.serve_apply(apps, owned_prefix=PREFIX, http_host="", http_port=0)


def writes(cluster: EmulatedCluster) -> list[tuple[str, str]]:
    """The writes the backend sent (not the test controller's)."""
    return [
        (str(r.method.value).upper(), str(r.url.path))
        for r in cluster.requests()
        if r.headers.get("User-Agent", "").startswith("OpenAPI-Generator")
        and str(r.method.value).upper() in ("POST", "PATCH", "DELETE", "PUT")
    ]


# --- the objects --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"min_replicas": 1, "max_replicas": 4, "target_per_replica": 2.5, "load_metric": "vllm_num_requests_running"},
        {"resources": Resources(cpus=0.5, memory_bytes=3 * 2**29), "accelerator_products": ()},
        {"volumes": ({"name": "models", "mountPath": "/models", "persistentVolumeClaim": {"claimName": "models"}},)},
    ],
    ids=["fixed", "autoscaled", "cpu-only", "model-volume"],
)
def test_every_object_is_valid_for_every_supported_kubernetes(overrides: dict[str, Any]) -> None:
    objects = serving_objects(
        [app(2, **overrides), app(3, **overrides)], ClusterOptions(namespace="serve"), owned_prefix=PREFIX
    )

    validate_all(objects, SUPPORTED_VERSIONS)  # strict OpenAPI schema, names, labels, quantities

    kinds = [o["kind"] for o in objects]
    assert kinds[:2] == ["ConfigMap", "Service"] and kinds.count("Deployment") == 2  # one group, two revisions
    assert kinds.count("HorizontalPodAutoscaler") == (2 if "max_replicas" in overrides else 0)
    for obj in objects:
        assert is_dns1123_label(obj["metadata"]["name"]) and obj["metadata"]["name"].startswith(PREFIX)
        assert obj["metadata"]["labels"]["paddock.dev/endpoint"] == "1"
        assert obj["metadata"]["annotations"][ANNOTATION_DIGEST]
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    server = deployment["spec"]["template"]["spec"]["containers"][0]
    assert server["resources"]["requests"] == server["resources"]["limits"]
    if "resources" not in overrides:
        assert server["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert quantity(server["resources"]["limits"]["memory"]) == 32 * 2**30
        assert "NVIDIA-H100-80GB-HBM3" in json.dumps(deployment["spec"]["template"]["spec"]["affinity"])
    else:
        assert quantity(server["resources"]["limits"]["cpu"]) == quantity("500m")
        assert "affinity" not in deployment["spec"]["template"]["spec"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert server[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert deployment["spec"]["template"]["metadata"]["labels"]["paddock.dev/revision"] == "2"
    service = next(o for o in objects if o["kind"] == "Service")
    assert service["spec"]["selector"] == {"app.kubernetes.io/managed-by": "paddock", "paddock.dev/endpoint": "1"}


def test_an_autoscaler_holds_the_load_metric_per_replica() -> None:
    objects = serving_objects(
        [app(min_replicas=2, max_replicas=5, target_per_replica=1.5, load_metric="vllm_num_requests_running")],
        ClusterOptions(),
        owned_prefix=PREFIX,
    )
    hpa = next(o for o in objects if o["kind"] == "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "vllm_num_requests_running"},
                "target": {"type": "AverageValue", "averageValue": "1500m"},
            },
        }
    ]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "paddock-rev-2"}


@pytest.mark.parametrize(
    ("apps", "why"),
    [
        ([ServeApp(name="paddock-rev-2", import_path="x:y", route_prefix=None)], "Ray Serve application"),
        ([dataclasses.replace(app(), name="other-rev-2")], "does not start with paddock-"),
        ([app(resources=Resources(gpus=0.5))], "whole GPUs"),
        ([app(min_replicas=2, max_replicas=3, load_metric="")], "load metric"),
        ([app(volumes=({"name": "m", "mountPath": "models", "emptyDir": {}},))], "absolute path"),
        ([app(2), app(3, files={"tokens.json": "other"})], "disagree"),
    ],
)
def test_what_kubernetes_cannot_express_is_refused(apps: list[ServeApp], why: str) -> None:
    with pytest.raises(ManifestError) as raised:
        serving_objects(apps, ClusterOptions(), owned_prefix=PREFIX)
    assert why in raised.value.message and raised.value.retryable is False


# --- serve_apply against the API server ---------------------------------------------------------
def test_apply_creates_the_objects_then_writes_nothing_while_they_match(
    backend: KubernetesBackend, k8s_cluster: EmulatedCluster, k8s_controller: Controller
) -> None:
    first = apply(backend, [app()])

    assert first.written and first.changed == ("paddock-ep-1", "paddock-rev-2")
    assert (
        k8s_controller.deployment("paddock-rev-2")["spec"]["template"]["spec"]["tolerations"][0]["key"]
        == "nvidia.com/gpu"
    )
    assert k8s_controller.has(f"{SERVICES}/paddock-ep-1") and k8s_controller.has(f"{CONFIGMAPS}/paddock-ep-1-files")
    assert not k8s_controller.has(f"{HPAS}/paddock-rev-2")  # min = max: no autoscaler
    before = len(writes(k8s_cluster))

    again = apply(backend, [app()])

    assert again.written is False and again.changed == ()
    assert len(writes(k8s_cluster)) == before  # nothing sent but reads
    assert set(again.state.apps) == {"paddock-ep-1", "paddock-rev-2"}
    assert again.state.apps["paddock-ep-1"].url == "http://paddock-ep-1.default.svc.cluster.local"


def test_a_scale_change_patches_the_deployment_and_adds_an_autoscaler(
    backend: KubernetesBackend, k8s_cluster: EmulatedCluster, k8s_controller: Controller
) -> None:
    apply(backend, [app()])
    before = len(writes(k8s_cluster))

    result = apply(backend, [app(min_replicas=1, max_replicas=3, load_metric="vllm_num_requests_running")])

    assert result.changed == ("paddock-rev-2",)
    sent = writes(k8s_cluster)[before:]
    assert ("PATCH", f"{DEPLOYMENTS}/paddock-rev-2") in sent and ("POST", HPAS) in sent
    assert all("services" not in path and "configmaps" not in path for _, path in sent)  # untouched
    assert k8s_controller.has(f"{HPAS}/paddock-rev-2")
    # Back to a fixed size: the autoscaler goes and the Deployment says how many again.
    apply(backend, [app(min_replicas=2, max_replicas=2)])
    assert not k8s_controller.has(f"{HPAS}/paddock-rev-2")
    fixed = k8s_controller.deployment("paddock-rev-2")
    assert fixed["spec"]["replicas"] == 2 and "paddock.dev/autoscaled" not in fixed["metadata"]["annotations"]


def test_the_token_file_changes_without_touching_the_deployment(
    backend: KubernetesBackend, k8s_cluster: EmulatedCluster, k8s_controller: Controller
) -> None:
    apply(backend, [app()])
    before = len(writes(k8s_cluster))

    result = apply(backend, [app(files={"tokens.json": '{"token_hashes": ["ab"]}', "paddock_gate.py": "# gate"})])

    assert result.changed == ("paddock-ep-1",)
    assert writes(k8s_cluster)[before:] == [("PATCH", f"{CONFIGMAPS}/paddock-ep-1-files")]
    data = k8s_controller.objects(CONFIGMAPS)[0]["data"]
    assert json.loads(data["tokens.json"]) == {"token_hashes": ["ab"]}


def test_an_object_deleted_behind_paddocks_back_is_put_back(
    backend: KubernetesBackend, k8s_controller: Controller
) -> None:
    apply(backend, [app()])
    k8s_controller.delete(f"{DEPLOYMENTS}/paddock-rev-2")
    k8s_controller.delete(f"{SERVICES}/paddock-ep-1")

    result = apply(backend, [app()])

    assert result.written and result.changed == ("paddock-ep-1", "paddock-rev-2")
    assert "paddock-rev-2" not in result.state.apps  # the state is what was there before
    assert k8s_controller.has(f"{DEPLOYMENTS}/paddock-rev-2") and k8s_controller.has(f"{SERVICES}/paddock-ep-1")


def test_an_object_changed_behind_paddocks_back_is_put_back(
    backend: KubernetesBackend, k8s_controller: Controller
) -> None:
    apply(backend, [app()])
    k8s_controller._patch(  # someone edits the image and the digest with it
        f"{DEPLOYMENTS}/paddock-rev-2",
        {
            "metadata": {"annotations": {ANNOTATION_DIGEST: "edited"}},
            "spec": {"template": {"spec": {"containers": [{"name": "server", "image": "evil:1"}]}}},
        },
    )

    assert apply(backend, [app()]).changed == ("paddock-rev-2",)
    server = k8s_controller.deployment("paddock-rev-2")["spec"]["template"]["spec"]["containers"][0]
    assert server["image"] == "vllm/vllm-openai:v0.11.0" and server["args"][0] == "/models/llama"


def test_only_paddocks_labelled_objects_are_changed_or_deleted(
    backend: KubernetesBackend, k8s_cluster: EmulatedCluster, k8s_controller: Controller
) -> None:
    theirs = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "paddock-theirs", "labels": {"app": "theirs"}},
        "spec": {"replicas": 1},
    }
    k8s_controller.put_object(DEPLOYMENTS, theirs)  # our prefix, not our labels
    k8s_controller.put_object(
        SERVICES,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "labels": {"app.kubernetes.io/managed-by": "paddock"}},
        },
    )
    apply(backend, [app(2), app(3)])

    result = apply(backend, [app(3)])  # revision 2 retired

    assert result.changed == ("paddock-rev-2",)
    assert not k8s_controller.has(f"{DEPLOYMENTS}/paddock-rev-2") and k8s_controller.has(f"{DEPLOYMENTS}/paddock-rev-3")
    assert k8s_controller.has(f"{DEPLOYMENTS}/paddock-theirs") and k8s_controller.has(f"{SERVICES}/web")

    apply(backend, [])  # the endpoint is gone: all of its objects go, and nothing else
    names = {
        o["metadata"]["name"]
        for path in (DEPLOYMENTS, SERVICES, CONFIGMAPS, HPAS)
        for o in k8s_controller.objects(path)
    }
    assert names == {"paddock-theirs", "web"}
    deleted = [path for method, path in writes(k8s_cluster) if method == "DELETE"]
    assert all("theirs" not in path and not path.endswith("/web") for path in deleted)


def test_an_object_of_someone_else_in_the_way_stops_the_pass(
    backend: KubernetesBackend, k8s_controller: Controller
) -> None:
    k8s_controller.put_object(
        SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "paddock-ep-1", "labels": {"app": "x"}}}
    )

    with pytest.raises(BackendError) as raised:
        apply(backend, [app()])

    assert raised.value.retryable is False and "is not Paddock's" in raised.value.message
    assert k8s_controller.objects(SERVICES)[0]["metadata"]["labels"] == {"app": "x"}  # left as it was


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (403, False)])
def test_errors_leave_as_backend_errors_without_the_credential(
    backend: KubernetesBackend, k8s_cluster: EmulatedCluster, status: int, retryable: bool
) -> None:
    k8s_cluster.refuse(status, "Refused", "no", echo_authorization=True)

    for call in (backend.serve_state, lambda: apply(backend, [app()])):
        with pytest.raises(BackendError) as raised:
            call()
        assert raised.value.retryable is retryable and f"HTTP {status}" in raised.value.message
        assert TOKEN not in raised.value.message


# --- serve_state --------------------------------------------------------------------------------
def model_status(backend: KubernetesBackend) -> Any:
    state = backend.serve_state()
    status = state.apps["paddock-rev-2"]
    return status, status.deployment("Model")


def test_a_revision_is_deploying_until_its_replicas_are_ready(
    backend: KubernetesBackend, k8s_controller: Controller
) -> None:
    apply(backend, [app(min_replicas=2, max_replicas=2)])
    status, model = model_status(backend)
    assert status.status == "DEPLOYING" and model.target_replicas == 2 and model.running == 0

    k8s_controller.make_ready("paddock-rev-2", 1)
    status, model = model_status(backend)
    assert (status.status, model.status, model.running) == ("RUNNING", "UPSCALING", 1)

    k8s_controller.make_ready("paddock-rev-2")
    status, model = model_status(backend)
    assert (status.status, model.status, model.running, model.replicas["STARTING"]) == ("RUNNING", "HEALTHY", 2, 0)


def test_an_unschedulable_replica_is_deploying_with_the_schedulers_reason(
    backend: KubernetesBackend, k8s_controller: Controller
) -> None:
    apply(backend, [app()])
    k8s_controller.replicas_unschedulable("paddock-rev-2", "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")

    status, model = model_status(backend)

    assert status.status == "DEPLOYING" and "Unschedulable: 0/3 nodes are available" in model.message


def test_a_rollout_past_its_deadline_failed_with_the_reason(
    backend: KubernetesBackend, k8s_controller: Controller
) -> None:
    apply(backend, [app()])
    k8s_controller.replicas_unschedulable("paddock-rev-2", "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")
    k8s_controller.progress_deadline_exceeded("paddock-rev-2")

    status, model = model_status(backend)

    assert status.status == "DEPLOY_FAILED" and model.status == "DEPLOY_FAILED"
    assert "ProgressDeadlineExceeded" in status.message and "Insufficient nvidia.com/gpu" in status.message


@pytest.mark.parametrize(
    ("fail", "expected"),
    [
        (
            lambda c: c.crash_loop("paddock-rev-2", "torch.OutOfMemoryError: CUDA out of memory", exit_code=1),
            "CrashLoopBackOff",
        ),
        (lambda c: c.image_pull_fails("paddock-rev-2", 'pull access denied for "vllm/nope"'), "ImagePullBackOff"),
    ],
    ids=["crash-loop", "image-pull"],
)
def test_a_replica_that_cannot_start_fails_the_rollout_with_the_reason(
    backend: KubernetesBackend, k8s_controller: Controller, fail: Any, expected: str
) -> None:
    apply(backend, [app()])
    fail(k8s_controller)

    status, model = model_status(backend)

    assert status.status == "DEPLOY_FAILED" and expected in model.message
    if expected == "CrashLoopBackOff":
        assert "exit code 1: torch.OutOfMemoryError: CUDA out of memory" in model.message


def test_replicas_that_served_and_then_crash_are_unhealthy(
    backend: KubernetesBackend, k8s_controller: Controller
) -> None:
    apply(backend, [app()])
    k8s_controller.make_ready("paddock-rev-2")
    for pod in k8s_controller.deployment_pods("paddock-rev-2"):
        k8s_controller.delete(f"/api/v1/namespaces/{NS}/pods/{pod['metadata']['name']}")
    k8s_controller.crash_loop("paddock-rev-2", "CUDA error: an illegal memory access was encountered")

    status, model = model_status(backend)

    assert status.status == "UNHEALTHY" and model.status == "UNHEALTHY" and "illegal memory access" in model.message


# --- the token gate vLLM loads ------------------------------------------------------------------
def test_the_gate_lets_through_only_tokens_whose_hash_it_holds(tmp_path: Path, monkeypatch: Any) -> None:
    tokens = tmp_path / "tokens.json"
    good = "pde_1.secret"
    tokens.write_text(json.dumps({"token_hashes": [hashlib.sha256(good.encode()).hexdigest()]}))
    monkeypatch.setattr(vllm_gate, "TOKENS_FILE", str(tokens))

    assert vllm_gate.allowed("/v1/completions", f"Bearer {good}")
    for header in ("", "Bearer pde_1.wrong", f"Basic {good}", "Bearer "):
        assert not vllm_gate.allowed("/v1/chat/completions", header)
    assert not vllm_gate.allowed("/tokenize", "")  # every route of the model, not only /v1
    assert vllm_gate.allowed("/health", "") and vllm_gate.allowed("/metrics", "")

    tokens.write_text(json.dumps({"token_hashes": []}))  # revoked: the kubelet swapped the file
    assert not vllm_gate.allowed("/v1/completions", f"Bearer {good}")


def test_the_gate_answers_401_as_openai_does_and_never_calls_the_model(tmp_path: Path, monkeypatch: Any) -> None:
    from starlette.requests import Request

    monkeypatch.setattr(vllm_gate, "TOKENS_FILE", str(tmp_path / "missing.json"))
    called: list[Any] = []

    async def model(request: Any) -> str:
        called.append(request)
        return "answer"

    def request(path: str) -> Request:
        return Request(
            {
                "type": "http",
                "method": "POST",
                "path": path,
                "headers": [(b"authorization", b"Bearer x")],
                "query_string": b"",
            }
        )

    refused = asyncio.run(vllm_gate.gate(request("/v1/completions"), model))
    assert refused.status_code == 401 and json.loads(refused.body)["error"]["code"] == "invalid_api_key"
    assert called == []
    assert asyncio.run(vllm_gate.gate(request("/health"), model)) == "answer"


# --- the cluster's serving settings ------------------------------------------------------------
def test_the_serving_settings_are_checked_when_the_cluster_is_saved() -> None:
    from django.core.exceptions import ValidationError

    from apps.inventory.services import check_kubernetes_settings

    models = {"name": "models", "mountPath": "/models", "persistentVolumeClaim": {"claimName": "models"}}
    check_kubernetes_settings({"serving_image": "registry.example/vllm:1", "serving_volumes": [models]})
    for bad, words in (
        ({"serving_volumes": [{"name": "models", "mountPath": "/models"}]}, "serving_volumes[0]"),
        ({"serving_volumes": [{**models, "mountPath": "models"}]}, "serving_volumes[0]"),
        ({"serving_volumes": {"name": "models"}}, "serving_volumes: a list"),
        ({"serving_image": 3}, "serving_image: a str"),
    ):
        with pytest.raises(ValidationError) as raised:
            check_kubernetes_settings(bad)
        assert words in str(raised.value), (bad, raised.value)
