"""deploy/kubernetes/: the Kustomize base and overlays that run Paddock on Kubernetes.

No API server can run here, so this is what stands between a typo and a broken rollout: each
overlay (and the base) is rendered with `kubectl kustomize` (kubectl ships Kustomize; a small
renderer below stands in where kubectl is missing, and is held to kubectl's output where both
exist), every object is validated by tests/k8s_schemas.py: built-in ones strictly against the
Kubernetes OpenAPI schemas of 1.29 to 1.35 (`kubernetes-validate`), the ServiceMonitor against
the Prometheus Operator's CRD schema, both against what the API server checks in code (names,
labels, quantities, port names). The rest is by hand: probes that hit real Django routes,
variables that settings.py reads, commands that exist, and RBAC that grants nothing
cluster-wide but nodes. Nothing here talks to a cluster.
"""

from __future__ import annotations

import ast
import copy
import functools
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s_schemas import (
    SUPPORTED_VERSIONS,
    ManifestInvalid,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_port_name,
    label_problems,
    problems,
    quantity,
    validate,
)

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
SETTINGS = ROOT / "controlplane" / "settings.py"
TARGETS = ("base", "overlays/dev", "overlays/production")
OVERLAYS = ("overlays/dev", "overlays/production")
IMAGE = "ghcr.io/paddock/paddock"
PLACEHOLDER_TAG = "REPLACE-WITH-RELEASE-TAG"
NAMESPACE = "paddock"
DISPATCH_NAMESPACE = "paddock-jobs"
SERVICE_ACCOUNT = "paddock"
REQUIRED_SECRETS = {"PADDOCK_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PADDOCK_ENCRYPTION_KEYS"}
APP_UID = 10001  # deploy/Dockerfile: USER 10001:10001
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass"}
WORKLOADS = {"Deployment", "Job"}
# What the Kubernetes backend does in a job namespace (CONTRACT-14: create, 409 -> read back,
# status from Job and pods, logs, foreground delete; JobSet/RayJob where installed; Kueue
# LocalQueues read), and in the cluster (nodes: discovery and cordon).
DISPATCH_RULES = {
    ("batch", "jobs"): {"create", "get", "list", "watch", "patch", "delete"},
    ("", "services"): {"create", "get", "list", "patch", "delete"},
    ("", "configmaps"): {"create", "get", "list", "patch", "delete"},  # serving endpoints' token hashes
    ("apps", "deployments"): {"create", "get", "list", "patch", "delete"},  # serving endpoints
    ("autoscaling", "horizontalpodautoscalers"): {"create", "get", "list", "patch", "delete"},
    ("", "pods"): {"get", "list", "watch"},
    ("", "pods/log"): {"get"},
    ("", "events"): {"get", "list", "watch"},
    ("jobset.x-k8s.io", "jobsets"): {"create", "get", "list", "watch", "patch", "delete"},
    ("ray.io", "rayjobs"): {"create", "get", "list", "watch", "patch", "delete"},
    ("kueue.x-k8s.io", "localqueues"): {"get", "list", "watch"},
}
NODE_RULES = {("", "nodes"): {"get", "list", "watch", "patch"}}
ENV_READERS = {"string", "required", "strings", "boolean", "integer", "number"}


# --- rendering ------------------------------------------------------------------------------


def kubectl() -> str | None:
    return shutil.which("kubectl")


def render_with_kubectl(path: Path) -> list[dict[str, Any]]:
    binary = kubectl()
    assert binary
    result = subprocess.run([binary, "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


# The small renderer: exactly the Kustomize features deploy/kubernetes uses, nothing more. It
# refuses anything else, so a new feature in the manifests fails here rather than rendering wrong.
SUPPORTED_KEYS = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "replicas", "patches"}
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}
REPLICATED = {"Deployment", "StatefulSet", "ReplicaSet"}


def strategic_merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(key, str) and key.startswith("$"):
            raise NotImplementedError(f"patch directive {key} is not supported by the small renderer")
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            strategic_merge(target[key], value)
        elif (
            isinstance(value, list)
            and key in MERGE_KEYS
            and isinstance(target.get(key), list)
            and all(isinstance(item, dict) for item in value + target[key])
        ):
            merge_key = MERGE_KEYS[key]
            merged = target[key]
            for item in value:
                existing = next((old for old in merged if old.get(merge_key) == item.get(merge_key)), None)
                if existing is None:
                    merged.append(copy.deepcopy(item))
                else:
                    strategic_merge(existing, item)
        else:
            target[key] = copy.deepcopy(value)


def set_images(node: Any, images: list[dict[str, Any]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"containers", "initContainers"} and isinstance(value, list):
                for container in value:
                    for image in images:
                        name = (
                            container.get("image", "").rsplit(":", 1)[0]
                            if "@" not in container.get("image", "")
                            else ""
                        )
                        if name == image["name"]:
                            if set(image) - {"name", "newTag"}:
                                raise NotImplementedError(f"images entry {image} is not supported")
                            container["image"] = f"{name}:{image['newTag']}"
            else:
                set_images(value, images)
    elif isinstance(node, list):
        for item in node:
            set_images(item, images)


def mini_kustomize(path: Path) -> list[dict[str, Any]]:
    spec = yaml.safe_load((path / "kustomization.yaml").read_text())
    unsupported = set(spec) - SUPPORTED_KEYS
    if unsupported:
        raise NotImplementedError(f"{path}: {sorted(unsupported)} not supported by the small renderer")
    objects: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        target = (path / entry).resolve()
        if target.is_dir():
            objects += mini_kustomize(target)
        else:
            objects += [doc for doc in yaml.safe_load_all(target.read_text()) if doc]
    for patch_entry in spec.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise NotImplementedError(f"patch {patch_entry}: only whole-object strategic-merge files are supported")
        for patch in yaml.safe_load_all((path / patch_entry["path"]).read_text()):
            meta = patch["metadata"]
            matches = [
                obj
                for obj in objects
                if obj["kind"] == patch["kind"]
                and obj["metadata"]["name"] == meta["name"]
                and meta.get("namespace") in (None, obj["metadata"].get("namespace"))
            ]
            assert len(matches) == 1, f"patch {patch['kind']}/{meta['name']} matches {len(matches)} objects"
            strategic_merge(matches[0], {k: v for k, v in patch.items() if k not in {"apiVersion", "kind"}})
    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] == "Namespace":
                raise NotImplementedError("a Namespace object under `namespace:` (Kustomize renames it)")
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = spec["namespace"]
    for label_set in spec.get("labels", []):
        if label_set.get("includeSelectors") or label_set.get("includeTemplates"):
            raise NotImplementedError("labels with includeSelectors/includeTemplates")
        for obj in objects:
            obj["metadata"].setdefault("labels", {}).update(label_set["pairs"])
    for replica in spec.get("replicas", []):
        for obj in objects:
            if obj["kind"] in REPLICATED and obj["metadata"]["name"] == replica["name"]:
                obj["spec"]["replicas"] = replica["count"]
    set_images(objects, spec.get("images", []))
    return objects


@functools.cache
def _rendered(relative: str) -> tuple[str, ...]:
    path = KUSTOMIZE / relative
    objects = render_with_kubectl(path) if kubectl() else mini_kustomize(path)
    return tuple(yaml.safe_dump(obj) for obj in objects)


def render(relative: str) -> list[dict[str, Any]]:
    return [yaml.safe_load(text) for text in _rendered(relative)]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in WORKLOADS:
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def containers(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, spec in pod_specs(objects):
        for container in spec.get("initContainers", []) + spec["containers"]:
            yield f"{name}/{container['name']}", container


def settings_variables() -> set[str]:
    """Every variable settings.py reads through controlplane.env (with its _FILE twins for
    the readers that accept them)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(SETTINGS.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "env"
            and node.func.attr in ENV_READERS
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(node.args[0].value)
            if node.func.attr in {"string", "required", "strings"}:
                names.add(f"{node.args[0].value}_FILE")
    assert len(names) > 20
    return names


def secret_template() -> dict[str, Any]:
    return yaml.safe_load((KUSTOMIZE / "base" / "secret.template.yaml").read_text())


# --- rendering: the tool, and the stand-in held to it ---------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_renders(target: str) -> None:
    objects = render(target)
    assert len({key(obj) for obj in objects}) == len(objects), "duplicate objects"
    kinds = {obj["kind"] for obj in objects}
    assert {"Namespace", "Deployment", "Service", "Job", "ConfigMap", "ServiceMonitor", "Role"} <= kinds


@pytest.mark.skipif(kubectl() is None, reason="kubectl (with its built-in Kustomize) is not installed")
@pytest.mark.parametrize("target", TARGETS)
def test_the_small_renderer_agrees_with_kubectl_kustomize(target: str) -> None:
    """Where kubectl is missing the tests fall back to the small renderer: it must give exactly
    what `kubectl kustomize` gives for these manifests."""
    path = KUSTOMIZE / target
    assert sorted(map(yaml.safe_dump, mini_kustomize(path))) == sorted(map(yaml.safe_dump, render_with_kubectl(path)))


# --- schemas --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
@pytest.mark.parametrize("target", TARGETS)
def test_every_object_validates_strictly(target: str, version: str) -> None:
    assert [problem for obj in render(target) for problem in problems(obj, (version,))] == []


def test_the_schema_check_rejects_what_the_api_server_rejects() -> None:
    deployment = copy.deepcopy(by_kind(render("base"), "Deployment")["paddock-web"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(ManifestInvalid, match="livenessProbes"):
        validate(deployment, SUPPORTED_VERSIONS[-1:])


@pytest.mark.parametrize("target", TARGETS)
def test_service_monitor_validates_against_the_prometheus_operator_crd(target: str) -> None:
    monitors = [obj for obj in render(target) if obj["kind"] == "ServiceMonitor"]
    assert len(monitors) == 1
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert problems(monitor) == []
    wrong = copy.deepcopy(monitors[0])
    wrong["spec"]["endpoints"][0]["pathh"] = "/metrics"
    assert any("pathh" in problem and "CRD schema" in problem for problem in problems(wrong))


# --- what the schemas miss ------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_names_and_labels(target: str) -> None:
    for obj in render(target):
        meta = obj["metadata"]
        label_like = obj["kind"] in {"Namespace", "Service"}
        assert (is_dns1123_label if label_like else is_dns1123_subdomain)(meta["name"]), key(obj)
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in meta, key(obj)
        else:
            assert is_dns1123_label(meta.get("namespace", "")), f"{key(obj)} names no namespace"
        assert label_problems(meta.get("labels")) == [], key(obj)
        assert meta["labels"]["app.kubernetes.io/part-of"] == "paddock", key(obj)
    for obj in render(target):
        if obj["kind"] in WORKLOADS:
            assert label_problems(obj["spec"]["template"]["metadata"].get("labels")) == [], key(obj)
    for name, spec in pod_specs(render(target)):
        for volume in spec.get("volumes", []):
            assert is_dns1123_label(volume["name"]), name
    for name, container in containers(render(target)):
        assert is_dns1123_label(container["name"]), name
        for port in container.get("ports", []):
            assert is_port_name(port["name"]), name


@pytest.mark.parametrize("target", TARGETS)
def test_resources_are_quantities_and_requests_fit_limits(target: str) -> None:
    for name, container in containers(render(target)):
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), name
        assert "memory" in resources["limits"], name
        for section in ("requests", "limits"):
            for value in resources[section].values():
                quantity(value)
        assert quantity(resources["requests"]["memory"]) <= quantity(resources["limits"]["memory"]), name
    for name, spec in pod_specs(render(target)):
        for volume in spec.get("volumes", []):
            if "emptyDir" in volume and "sizeLimit" in volume["emptyDir"]:
                assert quantity(volume["emptyDir"]["sizeLimit"]) > 0, name
    with pytest.raises(ValueError):
        quantity("1.5 Gi")


def test_dev_is_smaller_than_production() -> None:
    def memory(target: str, deployment: str) -> Any:
        spec = by_kind(render(target), "Deployment")[deployment]["spec"]["template"]["spec"]
        return quantity(spec["containers"][0]["resources"]["limits"]["memory"])

    for deployment in ("paddock-web", "paddock-worker"):
        assert memory("overlays/dev", deployment) < memory("overlays/production", deployment)


@pytest.mark.parametrize("target", TARGETS)
def test_probes_reach_paddocks_health_routes_with_an_allowed_host(target: str) -> None:
    from django.urls import resolve

    from apps.core import views

    objects = render(target)
    web = by_kind(objects, "Deployment")["paddock-web"]["spec"]["template"]["spec"]["containers"][0]
    allowed = by_kind(objects, "ConfigMap")["paddock-config"]["data"]["PADDOCK_ALLOWED_HOSTS"].split(",")
    port_names = {port["name"] for port in web["ports"]}
    expected = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe_name, path in expected.items():
        probe = web[probe_name]["httpGet"]
        assert probe["path"] == path
        assert probe["port"] in port_names
        host = {header["name"]: header["value"] for header in probe.get("httpHeaders", [])}.get("Host")
        assert host in allowed, f"{probe_name} sends Host {host!r}, which Django would refuse"
    assert resolve("/healthz").func is views.healthz
    assert resolve("/readyz").func.view_class is views.ReadyzView
    assert resolve("/metrics").func is views.metrics
    # The ServiceMonitor scrapes /metrics on the Service's named port, which reaches the pods.
    monitor = by_kind(objects, "ServiceMonitor")["paddock-web"]
    service = by_kind(objects, "Service")["paddock-web"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["endpoints"][0]["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] in port_names


@pytest.mark.parametrize("target", TARGETS)
def test_selectors_match_their_pods(target: str) -> None:
    objects = render(target)
    deployments = by_kind(objects, "Deployment")
    for name, deployment in deployments.items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items(), name
    web_labels = deployments["paddock-web"]["spec"]["template"]["metadata"]["labels"]
    assert by_kind(objects, "Service")["paddock-web"]["spec"]["selector"].items() <= web_labels.items()
    assert by_kind(objects, "PodDisruptionBudget")["paddock-web"]["spec"]["selector"]["matchLabels"] == {
        key: web_labels[key] for key in ("app.kubernetes.io/name", "app.kubernetes.io/component")
    }
    # Selectors must tell the components apart, or a Service would route to workers.
    selectors = {tuple(sorted(d["spec"]["selector"]["matchLabels"].items())) for d in deployments.values()}
    assert len(selectors) == len(deployments)


@pytest.mark.parametrize("target", TARGETS)
def test_every_variable_set_is_one_paddock_reads(target: str) -> None:
    read = settings_variables()
    objects = render(target)
    config = by_kind(objects, "ConfigMap")["paddock-config"]["data"]
    assert set(config) <= read, set(config) - read
    secret = secret_template()
    assert set(secret["stringData"]) <= read
    for name, container in containers(objects):
        sources = {"configMapRef": set(config), "secretRef": set(secret["stringData"])}
        defined: set[str] = set()
        for source in container.get("envFrom", []):
            ((kind, ref),) = source.items()
            assert ref["name"] == {"configMapRef": "paddock-config", "secretRef": "paddock-secrets"}[kind], name
            defined |= sources[kind]
        env = container.get("env", [])
        for index, variable in enumerate(env):
            for reference in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", variable.get("value", "")):
                assert reference in defined, f"{name}: {variable['name']} uses $({reference}) before it is defined"
            # A variable Paddock does not read is allowed only as an ingredient of a later one.
            used_later = any(f"$({variable['name']})" in later.get("value", "") for later in env[index + 1 :])
            assert variable["name"] in read or used_later, f"{name}: {variable['name']} is read by nothing"
            defined.add(variable["name"])


def test_the_web_pods_allow_their_own_address_for_prometheus() -> None:
    web = by_kind(render("base"), "Deployment")["paddock-web"]["spec"]["template"]["spec"]["containers"][0]
    env = {variable["name"]: variable for variable in web["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["PADDOCK_ALLOWED_HOSTS"]["value"] == "$(PADDOCK_ALLOWED_HOSTS),$(POD_IP)"


def test_the_secret_is_a_template_with_empty_placeholders_and_never_rendered() -> None:
    secret = secret_template()
    validate(secret)
    assert secret["metadata"] == {"name": "paddock-secrets", "namespace": NAMESPACE}
    assert set(secret["stringData"]) == REQUIRED_SECRETS
    assert set(secret["stringData"].values()) == {""}, "a placeholder that works would be a known secret"
    assert "data" not in secret
    for target in TARGETS:
        assert not [obj for obj in render(target) if obj["kind"] == "Secret"], target
    # Nothing secret lives in the ConfigMap.
    assert not REQUIRED_SECRETS & set(by_kind(render("base"), "ConfigMap")["paddock-config"]["data"])


@pytest.mark.parametrize("target", TARGETS)
def test_containers_run_locked_down(target: str) -> None:
    for name, spec in pod_specs(render(target)):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == APP_UID and pod["runAsGroup"] == APP_UID, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["enableServiceLinks"] is False, name
        mounts = {mount["mountPath"] for c in spec["containers"] for mount in c.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{name}: a read-only root needs a writable /tmp"
    for name, container in containers(render(target)):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["capabilities"] == {"drop": ["ALL"]}, name


@pytest.mark.parametrize("target", TARGETS)
def test_only_web_and_worker_get_the_service_account_token(target: str) -> None:
    objects = render(target)
    assert by_kind(objects, "ServiceAccount")[SERVICE_ACCOUNT]["automountServiceAccountToken"] is False
    tokens = {name for name, spec in pod_specs(objects) if spec.get("automountServiceAccountToken")}
    assert tokens == {"paddock-web", "paddock-worker"}
    assert {spec["serviceAccountName"] for _, spec in pod_specs(objects)} == {SERVICE_ACCOUNT}


# --- processes ------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_commands_name_code_that_exists(target: str) -> None:
    from celery import Celery
    from celery.app.utils import find_app
    from django.core.management import get_commands
    from gunicorn.config import Config

    commands = {name: container["command"] for name, container in containers(render(target))}
    assert set(commands) == {"paddock-web/web", "paddock-worker/worker", "paddock-beat/beat", "paddock-migrate/migrate"}
    web = commands["paddock-web/web"]
    assert web[:2] == ["gunicorn", "controlplane.wsgi"]
    Config().parser().parse_args(web[1:])  # gunicorn's own parser: exits on an unknown flag
    assert "/dev/shm" in web and "--no-control-socket" in web  # read-only root filesystem
    for name in ("paddock-worker/worker", "paddock-beat/beat"):
        argv = commands[name]
        assert argv[:3] == ["celery", "-A", "controlplane"], name
        app = find_app(argv[2])
        assert isinstance(app, Celery) and app.main == "paddock"
    assert commands["paddock-worker/worker"][3] == "worker"
    assert commands["paddock-beat/beat"][3:] == ["beat", "--loglevel=INFO"]
    assert commands["paddock-migrate/migrate"] == ["python", "manage.py", "migrate", "--noinput"]
    assert "migrate" in get_commands()


@pytest.mark.parametrize("target", TARGETS)
def test_ports_match_the_image(target: str) -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "EXPOSE 8000" in dockerfile and f"USER {APP_UID}:{APP_UID}" in dockerfile
    web = by_kind(render(target), "Deployment")["paddock-web"]["spec"]["template"]["spec"]["containers"][0]
    assert [port["containerPort"] for port in web["ports"]] == [8000]
    assert "0.0.0.0:8000" in web["command"]


@pytest.mark.parametrize("target", TARGETS)
def test_exactly_one_beat_replaced_not_rolled(target: str) -> None:
    beat = by_kind(render(target), "Deployment")["paddock-beat"]["spec"]
    assert beat["replicas"] == 1
    assert beat["strategy"] == {"type": "Recreate"}
    assert not [
        obj
        for obj in render(target)
        if obj["kind"] == "HorizontalPodAutoscaler" and obj["spec"]["scaleTargetRef"]["name"] == "paddock-beat"
    ]


@pytest.mark.parametrize("target", TARGETS)
def test_migrations_are_a_job_not_a_step_of_web(target: str) -> None:
    objects = render(target)
    job = by_kind(objects, "Job")["paddock-migrate"]["spec"]
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    assert job["ttlSecondsAfterFinished"] > 0 and job["backoffLimit"] >= 1
    for name, spec in pod_specs(objects):
        if name != "paddock-migrate":
            assert "initContainers" not in spec, name


def test_images_tagged_by_the_overlays_only() -> None:
    assert {container["image"] for _, container in containers(render("base"))} == {f"{IMAGE}:{PLACEHOLDER_TAG}"}
    for target in OVERLAYS:
        images = {container["image"] for _, container in containers(render(target))}
        assert len(images) == 1, target
        (image,) = images
        name, tag = image.rsplit(":", 1)
        assert name == IMAGE and tag not in {PLACEHOLDER_TAG, "latest", ""}, image


def test_dev_runs_one_of_everything() -> None:
    objects = render("overlays/dev")
    assert {name: d["spec"]["replicas"] for name, d in by_kind(objects, "Deployment").items()} == {
        "paddock-web": 1,
        "paddock-worker": 1,
        "paddock-beat": 1,
    }
    assert not by_kind(objects, "HorizontalPodAutoscaler")


def test_production_scales_web_with_an_autoscaler_and_spreads_replicas() -> None:
    objects = render("overlays/production")
    deployments = by_kind(objects, "Deployment")
    assert "replicas" not in deployments["paddock-web"]["spec"], "a fixed count would fight the autoscaler"
    assert deployments["paddock-worker"]["spec"]["replicas"] >= 2
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["paddock-web"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "paddock-web"}
    assert 2 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    # Connections: 12 per web pod (3 workers x 4 threads) and ~5 per worker pod under 100.
    assert hpa["maxReplicas"] * 12 + deployments["paddock-worker"]["spec"]["replicas"] * 5 < 100
    for name in ("paddock-web", "paddock-worker"):
        spec = deployments[name]["spec"]["template"]["spec"]
        term = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
        assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
        assert (
            term["podAffinityTerm"]["labelSelector"]["matchLabels"]
            == deployments[name]["spec"]["selector"]["matchLabels"]
        )
    assert by_kind(objects, "PodDisruptionBudget")["paddock-web"]["spec"]["maxUnavailable"] == 1


# --- RBAC -----------------------------------------------------------------------------------


def rules_of(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, f"{role['metadata']['name']}: {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


@pytest.mark.parametrize("target", TARGETS)
def test_rbac_grants_exactly_what_the_backend_needs(target: str) -> None:
    objects = render(target)
    roles = [obj for obj in objects if obj["kind"] == "Role"]
    assert {role["metadata"]["namespace"] for role in roles} == {DISPATCH_NAMESPACE}
    for role in roles:
        assert rules_of(role) == DISPATCH_RULES
    for binding in (obj for obj in objects if obj["kind"] == "RoleBinding"):
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "paddock-dispatch",
        }
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}]
    # Cluster-wide: nodes, and nothing else.
    cluster_roles = by_kind(objects, "ClusterRole")
    assert list(cluster_roles) == ["paddock-nodes"]
    assert rules_of(cluster_roles["paddock-nodes"]) == NODE_RULES
    (binding,) = by_kind(objects, "ClusterRoleBinding").values()
    assert binding["roleRef"]["name"] == "paddock-nodes"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}]
    every_rule = [rule for obj in objects if obj["kind"] in {"Role", "ClusterRole"} for rule in obj["rules"]]
    assert not [rule for rule in every_rule if "*" in rule["verbs"] + rule["resources"] + rule["apiGroups"]]
    assert not [rule for rule in every_rule if "secrets" in rule["resources"]]
    # Paddock's own namespace is not a dispatch target: no Role there, so job pods never share it.
    assert DISPATCH_NAMESPACE in by_kind(objects, "Namespace")


def test_an_overlay_adds_dispatch_namespaces_as_the_readme_says(tmp_path: Path) -> None:
    """The documented way to add a namespace: a folder with `namespace:` over
    dispatch-namespace/. The binding must still name Paddock's service account in `paddock`."""
    tree = tmp_path / "kubernetes"
    shutil.copytree(KUSTOMIZE, tree)
    extra = tree / "overlays" / "production" / "dispatch-team-a"
    extra.mkdir()
    (extra / "kustomization.yaml").write_text("namespace: team-a\nresources: [../../../dispatch-namespace]\n")
    kustomization = tree / "overlays" / "production" / "kustomization.yaml"
    text = kustomization.read_text()
    assert "  # - dispatch-team-a\n" in text, "the README's example is gone from the production overlay"
    kustomization.write_text(text.replace("  # - dispatch-team-a\n", "  - dispatch-team-a\n"))
    renderers = [mini_kustomize] + ([render_with_kubectl] if kubectl() else [])
    for renderer in renderers:
        objects = renderer(tree / "overlays" / "production")
        roles = {
            (obj["metadata"]["namespace"], obj["kind"]) for obj in objects if obj["kind"] in {"Role", "RoleBinding"}
        }
        assert roles == {(ns, kind) for ns in (DISPATCH_NAMESPACE, "team-a") for kind in ("Role", "RoleBinding")}
        for binding in (obj for obj in objects if obj["kind"] == "RoleBinding"):
            assert binding["subjects"][0]["namespace"] == NAMESPACE


def test_the_readme_names_paths_and_commands_that_exist() -> None:
    from django.core.management import get_commands

    readme = (KUSTOMIZE / "README.md").read_text()
    paths = set(re.findall(r"deploy/kubernetes/[\w./-]*\w", readme))
    paths |= {
        f"deploy/kubernetes/{path}" for path in re.findall(r"`((?:base|overlays|dispatch-namespace)/[\w./-]*)`", readme)
    }
    assert "deploy/kubernetes/overlays/production" in paths
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert missing == []
    commands = set(re.findall(r"manage\.py (\w+)", readme))
    assert {"kueue_objects", "createsuperuser"} <= commands
    assert commands <= set(get_commands())


def test_the_optional_kueue_grant_names_exactly_the_kinds_paddock_applies(tmp_path: Path) -> None:
    """deploy/kubernetes/kueue/, included as the production overlay's comment says: one
    ClusterRole over Kueue's kinds that apps/admission/kueue_sync.py writes, bound to Paddock."""
    from apps.admission.kueue_sync import KUEUE_KINDS

    tree = tmp_path / "kubernetes"
    shutil.copytree(KUSTOMIZE, tree)
    kustomization = tree / "overlays" / "production" / "kustomization.yaml"
    text = kustomization.read_text()
    assert "  # - ../../kueue\n" in text, "the production overlay no longer shows how to include the Kueue grant"
    kustomization.write_text(text.replace("  # - ../../kueue\n", "  - ../../kueue\n"))
    renderers = [mini_kustomize] + ([render_with_kubectl] if kubectl() else [])
    for renderer in renderers:
        objects = renderer(tree / "overlays" / "production")
        cluster_roles = by_kind(objects, "ClusterRole")
        assert set(cluster_roles) == {"paddock-nodes", "paddock-kueue"}
        assert rules_of(cluster_roles["paddock-kueue"]) == {
            ("kueue.x-k8s.io", kind.plural): {"get", "list", "create", "patch", "delete"} for kind in KUEUE_KINDS
        }
        binding = by_kind(objects, "ClusterRoleBinding")["paddock-kueue"]
        assert binding["roleRef"]["name"] == "paddock-kueue"
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}]
        assert [problem for obj in objects for problem in problems(obj)] == []
