"""The Kubernetes objects that serve a model, as plain dicts: one endpoint's revisions.

For each :class:`~apps.dispatch.port.ServeApp` with a ``container`` (one revision of an
endpoint): an ``apps/v1`` Deployment running the container image (GPUs, CPUs and memory per
replica as requests = limits, node affinity to the accelerator's GPU Feature Discovery
product, the cluster's tolerations, startup/readiness/liveness probes on the health path), and
an ``autoscaling/v2`` HorizontalPodAutoscaler when its replicas may vary (on the container's
per-replica load metric, a Pods metric: the cluster needs a metrics adapter that publishes it).
For each group (an endpoint): a ``v1`` Service selecting the pods of all its revisions, and a
ConfigMap with the files the replicas read (kept current by the kubelet without a restart).

Every object carries ``app.kubernetes.io/managed-by: paddock`` and ``paddock.dev/endpoint``
(the revision's also ``paddock.dev/revision``) and a digest of what Paddock declared in the
annotation ``paddock.dev/digest``: the backend writes an object only when its digest differs.

Pure: no Kubernetes client, no I/O. The backend (``backends/kubernetes.py``) sends the result.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from apps.dispatch.k8s_manifests import (
    GPU_PRODUCT_LABEL,
    GPU_RESOURCE,
    LABEL_MANAGED,
    MANAGED_BY,
    ClusterOptions,
    ManifestError,
    cpu_quantity,
    memory_quantity,
)
from apps.dispatch.port import ServeApp, ServeContainer

LABEL_ENDPOINT = "paddock.dev/endpoint"
LABEL_REVISION = "paddock.dev/revision"
ANNOTATION_DIGEST = "paddock.dev/digest"
ANNOTATION_DEPLOYMENT_NAME = "paddock.dev/deployment-name"  # what serve_state calls the Deployment's replicas
ANNOTATION_APP = "paddock.dev/app"  # the ServeApp (or group) an object belongs to
ANNOTATION_AUTOSCALED = "paddock.dev/autoscaled"  # its HorizontalPodAutoscaler sets its replicas
SERVICE_PORT = 80
CONTAINER_NAME = "server"
PORT_NAME = "http"
FILES_VOLUME = "paddock-files"
SHM_VOLUME = "dshm"  # tensor parallel workers share tensors through /dev/shm
SHM_PATH = "/dev/shm"  # noqa: S108  (a mount point in the pod, not a file Paddock writes)
FILES_SUFFIX = "-files"
# Longest Deployment name: its pods are named <name>-<replicaset hash, ≤10>-<5>, within 63.
MAX_DEPLOYMENT_NAME = 47
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
# Pod-spec keys Paddock sets only sometimes: a merge patch must remove them when it no longer does.
_OPTIONAL_POD_KEYS = ("affinity", "tolerations", "serviceAccountName")


def serving_objects(apps: Sequence[ServeApp], options: ClusterOptions, *, owned_prefix: str) -> list[dict[str, Any]]:
    """Every object ``apps`` need, in the order to create them: ConfigMaps, Services,
    Deployments, HorizontalPodAutoscalers. Raises :class:`ManifestError` for what Kubernetes
    cannot express (an app without a container, a bad name, fractional GPUs)."""
    groups: dict[str, ServeContainer] = {}
    configs: list[dict[str, Any]] = []
    services: list[dict[str, Any]] = []
    deployments: list[dict[str, Any]] = []
    autoscalers: list[dict[str, Any]] = []
    for app in apps:
        container = app.container
        if container is None:
            raise ManifestError(
                f"{app.name} is a Ray Serve application; on Kubernetes Paddock serves container images (runtime vllm)"
            )
        _check_app(app, container, owned_prefix)
        first = groups.setdefault(container.group, container)
        if first.files != container.files or first.endpoint_label != container.endpoint_label:
            raise ManifestError(f"the apps of {container.group} disagree on their files or endpoint")
        if container.group == app.name:
            raise ManifestError(f"{app.name} names its own group; a group is the endpoint, not a revision")
        deployments.append(deployment(app, options))
        if container.min_replicas != container.max_replicas:
            autoscalers.append(autoscaler(app, options))
    for group, container in groups.items():
        configs.append(files_config_map(group, container, options))
        services.append(service(group, container, options))
    return [*configs, *services, *deployments, *autoscalers]


def with_digest(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with its digest annotation (over everything Paddock declares in it but the
    replicas an autoscaler owns)."""
    annotations = manifest["metadata"].setdefault("annotations", {})
    annotations.pop(ANNOTATION_DIGEST, None)
    annotations[ANNOTATION_DIGEST] = digest(manifest)
    return manifest


def digest(manifest: Mapping[str, Any]) -> str:
    body = copy.deepcopy(dict(manifest))
    (body.get("metadata") or {}).get("annotations", {}).pop(ANNOTATION_DIGEST, None)
    if autoscaled(body):
        body.get("spec", {}).pop("replicas", None)
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:20]


def autoscaled(manifest: Mapping[str, Any]) -> bool:
    """A Deployment whose replicas its HorizontalPodAutoscaler sets (Paddock leaves them)."""
    return manifest.get("kind") == "Deployment" and bool(
        ((manifest.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_AUTOSCALED)
    )


def merge_patch(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch that makes an existing object what ``manifest`` declares: its
    labels, annotations and spec (data for a ConfigMap); lists are replaced whole by a merge
    patch, and the optional pod-spec keys Paddock leaves out are removed (null)."""
    metadata = manifest.get("metadata") or {}
    patch: dict[str, Any] = {
        "metadata": {
            "labels": dict(metadata.get("labels") or {}),
            "annotations": dict(metadata.get("annotations") or {}),
        }
    }
    if manifest.get("kind") == "ConfigMap":
        patch["data"] = dict(manifest.get("data") or {})
        return patch
    spec = copy.deepcopy(dict(manifest.get("spec") or {}))
    if manifest.get("kind") == "Deployment":
        pod = spec["template"]["spec"]
        for key in _OPTIONAL_POD_KEYS:
            pod.setdefault(key, None)
        if autoscaled(manifest):
            spec.pop("replicas", None)  # the autoscaler's to set
        else:
            patch["metadata"]["annotations"][ANNOTATION_AUTOSCALED] = None  # no longer, if it was
        spec.pop("selector", None)  # immutable; the same for the same name
    if manifest.get("kind") == "Service":
        spec.pop("clusterIP", None)
    patch["spec"] = spec
    return patch


# --- the objects ------------------------------------------------------------------------------
def deployment(app: ServeApp, options: ClusterOptions) -> dict[str, Any]:
    container = _container(app)
    labels = _revision_labels(container)
    quantities = _quantities(container)
    probe = {"httpGet": {"path": container.health_path, "port": PORT_NAME}, "timeoutSeconds": 5}
    mounts: list[dict[str, Any]] = [{"name": FILES_VOLUME, "mountPath": container.files_path, "readOnly": True}]
    pod_volumes: list[dict[str, Any]] = [
        {"name": FILES_VOLUME, "configMap": {"name": files_name(container.group)}},
    ]
    if quantities.get(GPU_RESOURCE):
        mounts.append({"name": SHM_VOLUME, "mountPath": SHM_PATH})
        pod_volumes.append({"name": SHM_VOLUME, "emptyDir": {"medium": "Memory"}})
    for volume in container.volumes:
        path = volume.get("mountPath")
        if (
            not isinstance(volume.get("name"), str)
            or not _DNS1123.match(volume["name"])
            or volume["name"]
            in (
                FILES_VOLUME,
                SHM_VOLUME,
            )
        ):
            raise ManifestError(f"volume {volume.get('name')!r}: a volume needs its own DNS-1123 name")
        if not isinstance(path, str) or not path.startswith("/") or path in (container.files_path, SHM_PATH):
            raise ManifestError(f"volume {volume['name']}: mountPath {path!r} must be an absolute path of its own")
        spec = {key: copy.deepcopy(value) for key, value in volume.items() if key not in ("mountPath", "readOnly")}
        mounts.append(
            {"name": spec["name"], "mountPath": volume["mountPath"], "readOnly": bool(volume.get("readOnly"))}
        )
        pod_volumes.append(spec)
    env = [{"name": name, "value": str(value)} for name, value in sorted(container.env.items())]
    for item in env:
        if not _ENV_NAME.match(item["name"]):
            raise ManifestError(f"{item['name']!r} is not an environment variable name")
    server: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": container.image,
        **({"command": list(container.command)} if container.command else {}),
        "args": list(container.args),
        "ports": [{"name": PORT_NAME, "containerPort": container.port, "protocol": "TCP"}],
        "env": env,
        "resources": {"requests": dict(quantities), "limits": dict(quantities)},
        # Loading a large model takes minutes: liveness and readiness start once it has answered.
        "startupProbe": {**probe, "periodSeconds": 10, "failureThreshold": max(1, math.ceil(container.startup_s / 10))},
        "readinessProbe": {**probe, "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 6},
        "volumeMounts": mounts,
    }
    pod: dict[str, Any] = {
        "containers": [server],
        "volumes": pod_volumes,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 30,
    }
    if container.accelerator_products:
        for product in container.accelerator_products:
            if not _LABEL_VALUE.match(product) or len(product) > 63:
                raise ManifestError(f"accelerator product {product!r} is not a node label value")
        pod["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": GPU_PRODUCT_LABEL,
                                    "operator": "In",
                                    "values": list(container.accelerator_products),
                                }
                            ]
                        }
                    ]
                }
            }
        }
    if options.tolerations:
        pod["tolerations"] = [dict(toleration) for toleration in options.tolerations]
    if options.service_account:
        pod["serviceAccountName"] = options.service_account
    pod["automountServiceAccountToken"] = False  # a model server has no business with the API
    annotations = {ANNOTATION_APP: app.name, ANNOTATION_DEPLOYMENT_NAME: container.deployment_name}
    if container.min_replicas != container.max_replicas:
        annotations[ANNOTATION_AUTOSCALED] = "true"
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app.name, "namespace": options.namespace, "labels": labels, "annotations": annotations},
        "spec": {
            "replicas": container.min_replicas,
            "selector": {
                "matchLabels": {LABEL_ENDPOINT: container.endpoint_label, LABEL_REVISION: container.revision_label}
            },
            "progressDeadlineSeconds": max(container.startup_s, 60),
            "revisionHistoryLimit": 2,
            # No surge: a replica's GPUs are all the endpoint's hold has for it.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
        },
    }
    return with_digest(manifest)


def autoscaler(app: ServeApp, options: ClusterOptions) -> dict[str, Any]:
    container = _container(app)
    if not _METRIC_NAME.match(container.load_metric or ""):
        raise ManifestError(f"{app.name}: autoscaling needs a load metric name, got {container.load_metric!r}")
    if container.target_per_replica <= 0:
        raise ManifestError(f"{app.name}: the autoscaling target must be positive")
    manifest = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": app.name,
            "namespace": options.namespace,
            "labels": _revision_labels(container),
            "annotations": {ANNOTATION_APP: app.name},
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app.name},
            "minReplicas": max(container.min_replicas, 1),
            "maxReplicas": container.max_replicas,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": container.load_metric},
                        "target": {
                            "type": "AverageValue",
                            "averageValue": decimal_quantity(container.target_per_replica),
                        },
                    },
                }
            ],
        },
    }
    return with_digest(manifest)


def service(group: str, container: ServeContainer, options: ClusterOptions) -> dict[str, Any]:
    if not _DNS1035.match(group) or len(group) > 63:
        raise ManifestError(f"{group!r} is not a Service name (a DNS-1035 label)")
    labels = _group_labels(container)
    manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": group,
            "namespace": options.namespace,
            "labels": labels,
            "annotations": {ANNOTATION_APP: group},
        },
        "spec": {
            "type": "ClusterIP",
            # Every ready replica of every live revision: traffic divides by ready replicas.
            "selector": dict(labels),
            "ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "targetPort": PORT_NAME, "protocol": "TCP"}],
        },
    }
    return with_digest(manifest)


def files_config_map(group: str, container: ServeContainer, options: ClusterOptions) -> dict[str, Any]:
    for key in container.files:
        if not _CONFIG_KEY.match(key) or len(key) > 253:
            raise ManifestError(f"{key!r} is not a ConfigMap key")
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": files_name(group),
            "namespace": options.namespace,
            "labels": _group_labels(container),
            "annotations": {ANNOTATION_APP: group},
        },
        "data": {key: str(value) for key, value in sorted(container.files.items())},
    }
    return with_digest(manifest)


def files_name(group: str) -> str:
    return f"{group}{FILES_SUFFIX}"


def service_url(group: str, namespace: str) -> str:
    """Where the group's Service answers inside the cluster."""
    return f"http://{group}.{namespace}.svc.cluster.local" + ("" if SERVICE_PORT == 80 else f":{SERVICE_PORT}")


def decimal_quantity(value: float) -> str:
    """A positive number as a Kubernetes quantity: whole as "2", else millis ("1500m")."""
    millis = Decimal(str(value)) * 1000
    whole = int(millis.to_integral_value(rounding="ROUND_CEILING"))
    return str(whole // 1000) if whole % 1000 == 0 else f"{whole}m"


# --- helpers ----------------------------------------------------------------------------------
def _container(app: ServeApp) -> ServeContainer:
    if app.container is None:
        raise ManifestError(f"{app.name} has no container to run")
    return app.container


def _check_app(app: ServeApp, container: ServeContainer, owned_prefix: str) -> None:
    for name in (app.name, container.group, files_name(container.group)):
        if not name.startswith(owned_prefix):
            raise ManifestError(f"{name} does not start with {owned_prefix}: Paddock names every object it owns so")
    if not _DNS1035.match(app.name) or len(app.name) > MAX_DEPLOYMENT_NAME:
        raise ManifestError(f"{app.name!r} is not a Deployment name Paddock can use (a DNS-1035 label of ≤ 47)")
    for what, value in (("endpoint", container.endpoint_label), ("revision", container.revision_label)):
        if not value or not _LABEL_VALUE.match(value) or len(value) > 63:
            raise ManifestError(f"{app.name}: {what} label {value!r} is not a label value")
    if not container.image.strip() or any(ch.isspace() for ch in container.image):
        raise ManifestError(f"{app.name}: {container.image!r} is not a container image")
    if not 1 <= container.port <= 65535:
        raise ManifestError(f"{app.name}: port {container.port} is not a port")
    if not container.health_path.startswith("/"):
        raise ManifestError(f"{app.name}: the health path must start with /")
    if container.min_replicas < 1 or container.max_replicas < container.min_replicas:
        raise ManifestError(
            f"{app.name}: replicas {container.min_replicas}..{container.max_replicas}; Kubernetes runs at least one"
        )


def _quantities(container: ServeContainer) -> dict[str, str | int]:
    quantities: dict[str, str | int] = {}
    gpus = container.resources.gpus
    if gpus > 0:
        if abs(gpus - round(gpus)) > 1e-9:
            raise ManifestError(f"{gpus:g} GPUs per replica: Kubernetes gives whole GPUs ({GPU_RESOURCE}) only")
        quantities[GPU_RESOURCE] = round(gpus)
    if container.resources.cpus > 0:
        quantities["cpu"] = cpu_quantity(container.resources.cpus)
    if container.resources.memory_bytes > 0:
        quantities["memory"] = memory_quantity(container.resources.memory_bytes)
    return quantities


def _group_labels(container: ServeContainer) -> dict[str, str]:
    return {LABEL_MANAGED: MANAGED_BY, LABEL_ENDPOINT: container.endpoint_label}


def _revision_labels(container: ServeContainer) -> dict[str, str]:
    return {**_group_labels(container), LABEL_REVISION: container.revision_label}
