"""PLACEHOLDER for helper A's module (issue 14): the lead replaces this file with theirs.

The contract's interface with a minimal real implementation, enough for the Kubernetes
backend's tests: a single-node job is one ``batch/v1`` Job; several nodes are a headless
Service and an Indexed Job. No JobSet, no RayJob, no schema checks here.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apps.dispatch.port import JobSpec
from apps.dispatch.runtime_env import package_sha256, package_uris

LABEL_ATTEMPT = "paddock.dev/attempt"  # on every object: the remote_id
LABEL_MANAGED = "app.kubernetes.io/managed-by"  # value "paddock"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"

_FETCH_CODE = (
    "import io, os, urllib.request, zipfile; "
    "request = urllib.request.Request(os.environ['PADDOCK_PACKAGE_URL'], "
    "headers={'Authorization': 'Bearer ' + os.environ.get('PADDOCK_JOB_TOKEN', '')}); "
    "zipfile.ZipFile(io.BytesIO(urllib.request.urlopen(request).read())).extractall('/workspace')"
)


@dataclass(frozen=True)
class ClusterOptions:
    namespace: str = "default"
    image: str = "python:3.11-slim"  # the job's container image unless the job names one
    service_account: str = ""
    tolerations: tuple[Mapping[str, Any], ...] = ()
    kueue_queue: str = ""  # LocalQueue name: label kueue.x-k8s.io/queue-name
    has_jobset: bool = False
    has_kuberay: bool = False
    ttl_seconds_after_finished: int = 3600
    api_url: str = ""  # PADDOCK_API_URL given to the job


def object_name(remote_id: str) -> str:
    """A DNS-1123 label (at most 63 characters), the same for the same remote_id."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", remote_id.lower()).strip("-")
    if cleaned == remote_id and 0 < len(cleaned) <= 63:
        return cleaned
    digest = hashlib.sha256(remote_id.encode()).hexdigest()[:10]
    return f"{(cleaned[:52].strip('-') or 'pdk')}-{digest}"


def job_objects(spec: JobSpec, options: ClusterOptions) -> list[dict[str, Any]]:
    name = object_name(spec.remote_id)
    labels = {LABEL_ATTEMPT: spec.remote_id, LABEL_MANAGED: "paddock"}
    if options.kueue_queue:
        labels["kueue.x-k8s.io/queue-name"] = options.kueue_queue
    nodes = max(int(spec.metadata.get("nodes", "1") or "1"), len(spec.placement), 1)
    resources = spec.resources
    amounts: dict[str, str] = {}
    if resources.cpus > 0:
        amounts["cpu"] = f"{math.ceil(resources.cpus * 1000)}m"
    if resources.memory_bytes > 0:
        amounts["memory"] = str(resources.memory_bytes)
    if resources.gpus > 0:
        amounts[GPU_RESOURCE] = str(math.ceil(resources.gpus))
    env_vars = dict(spec.runtime_env.get("env_vars") or {})
    if options.api_url:
        env_vars["PADDOCK_API_URL"] = options.api_url
    env: list[dict[str, Any]] = [{"name": key, "value": value} for key, value in sorted(env_vars.items())]
    if nodes > 1:
        env += [
            {"name": "MASTER_ADDR", "value": f"{name}-0.{name}"},
            {"name": "MASTER_PORT", "value": "29500"},
            {"name": "WORLD_SIZE", "value": str(nodes)},
            {"name": "NNODES", "value": str(nodes)},
            {
                "name": "NODE_RANK",
                "valueFrom": {
                    "fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}
                },
            },
        ]
    workspace = [{"name": "workspace", "mountPath": "/workspace"}]
    container = {
        "name": "job",
        "image": options.image,
        "command": ["/bin/sh", "-c", spec.entrypoint],
        "workingDir": "/workspace",
        "env": env,
        "volumeMounts": workspace,
        "resources": {"requests": dict(amounts), "limits": dict(amounts)},
    }
    init = [
        {
            "name": f"fetch-code-{index}",
            "image": options.image,
            "command": ["python", "-c", _FETCH_CODE],
            "env": [
                {
                    "name": "PADDOCK_PACKAGE_URL",
                    "value": f"{options.api_url}/api/v1/job-packages/{package_sha256(uri)}/",
                },
                *[item for item in env if item["name"] == "PADDOCK_JOB_TOKEN"],
            ],
            "volumeMounts": workspace,
        }
        for index, uri in enumerate(package_uris(spec.runtime_env))
    ]
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": [{"name": "workspace", "emptyDir": {}}],
    }
    if init:
        pod_spec["initContainers"] = init
    if options.service_account:
        pod_spec["serviceAccountName"] = options.service_account
    if options.tolerations:
        pod_spec["tolerations"] = [dict(item) for item in options.tolerations]
    terms: list[dict[str, Any]] = []
    hostnames = [str(entry["hostname"]) for entry in spec.placement if entry.get("hostname")]
    if hostnames:
        terms.append({"key": "kubernetes.io/hostname", "operator": "In", "values": hostnames})
    if spec.accelerator_model:
        terms.append({"key": GPU_PRODUCT_LABEL, "operator": "In", "values": [spec.accelerator_model]})
    if terms:
        pod_spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": terms}]}
            }
        }
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": options.ttl_seconds_after_finished,
        "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
    }
    objects: list[dict[str, Any]] = []
    if nodes > 1:
        pod_spec["subdomain"] = name
        job_spec.update(completionMode="Indexed", completions=nodes, parallelism=nodes)
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": options.namespace, "labels": dict(labels)},
                "spec": {
                    "clusterIP": "None",
                    "publishNotReadyAddresses": True,
                    "selector": {LABEL_ATTEMPT: spec.remote_id},
                    "ports": [{"name": "rendezvous", "port": 29500}],
                },
            }
        )
    objects.append(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": options.namespace, "labels": dict(labels)},
            "spec": job_spec,
        }
    )
    return objects
