"""Endpoints of runtime ``vllm`` on Kubernetes clusters: the vLLM arguments a revision runs
with (from the capacity planner, at creation: a model that does not fit is refused), and the
container app the reconciler declares for it through the dispatch port.

vLLM itself checks nothing Paddock can use (its ``--api-key`` is one key in clear; Paddock
keeps token hashes only), so each replica loads ``paddock/serving/vllm_gate.py`` as a
``--middleware`` and reads the endpoint's token hashes from a file the backend keeps current.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Final

from apps.dispatch.port import Resources, ServeApp, ServeContainer
from apps.inventory.catalog import gpu_products
from apps.serving.models import Endpoint, Revision

# The pinned image; a cluster's ``serving_image`` setting overrides it.
VLLM_IMAGE: Final = "vllm/vllm-openai:v0.11.0"
VLLM_PORT: Final = 8000
HEALTH_PATH: Final = "/health"
FILES_PATH: Final = "/etc/paddock"
GATE_FILE: Final = "paddock_gate.py"
TOKENS_FILE: Final = "tokens.json"
# vLLM's gauge ``vllm:num_requests_running`` as a metrics adapter publishes it to the custom
# metrics API (Prometheus Adapter: a rule renaming it; ":" is not allowed there).
LOAD_METRIC: Final = "vllm_num_requests_running"
DEPLOYMENT_NAME: Final = "Model"  # what the reconciler calls a revision's replicas (reconcile.MODEL)
# The planner's inputs a vLLM endpoint's config may hold (besides what is derived from them).
INPUTS: Final = (
    "model",
    "precision",
    "kv_cache_dtype",
    "max_model_len",
    "max_position_embeddings",
    "gpu_memory_utilization",
    "tokens_per_sequence",
)
DERIVED: Final = "vllm"  # the key of the planner's result in a revision's config


@functools.cache
def gate_source() -> str:
    return (Path(__file__).resolve().parents[2] / "paddock" / "serving" / "vllm_gate.py").read_text(encoding="utf-8")


def replica_range(endpoint: Endpoint) -> tuple[int, int]:
    """(min, max) replicas: at most what the holding job covers, and at least one (Kubernetes'
    autoscaler does not scale a Deployment to zero)."""
    maximum = max(min(endpoint.max_replicas, endpoint.replicas_held or endpoint.max_replicas), 1)
    return min(max(endpoint.min_replicas, 1), maximum), maximum


def container_app(endpoint: Endpoint, revision: Revision, token_hashes: list[str]) -> ServeApp:
    """A revision as a container app: vLLM with the planner's arguments (stored on the
    revision when it was made), behind the endpoint's Service."""
    derived = (revision.config or {}).get(DERIVED) or {}
    command = list(derived.get("command") or [])
    if command[:2] != ["vllm", "serve"] or len(command) < 3:
        raise ValueError(f"revision {revision.number} has no vLLM configuration (make a new revision)")
    options = endpoint.cluster.kubernetes if isinstance(endpoint.cluster.kubernetes, dict) else {}
    minimum, maximum = replica_range(endpoint)
    args = (
        *command[2:],
        "--served-model-name",
        endpoint.name,
        "--host",
        "0.0.0.0",  # noqa: S104  (inside the pod: the Service and the kubelet's probes reach it)
        "--port",
        str(VLLM_PORT),
        "--middleware",
        "paddock_gate.gate",
    )
    tokens = json.dumps({"token_hashes": sorted(set(token_hashes))}, sort_keys=True)
    return ServeApp(
        name=revision.app_name,
        import_path="",
        route_prefix=None,
        container=ServeContainer(
            image=str(options.get("serving_image") or VLLM_IMAGE),
            command=("vllm", "serve"),
            args=args,
            port=VLLM_PORT,
            health_path=HEALTH_PATH,
            resources=Resources(
                cpus=float(endpoint.cpus), gpus=float(endpoint.gpus), memory_bytes=int(endpoint.memory_gb * 2**30)
            ),
            group=endpoint.app_name,
            endpoint_label=str(endpoint.pk),
            revision_label=str(revision.pk),
            deployment_name=DEPLOYMENT_NAME,
            accelerator_products=gpu_products(endpoint.accelerator_model, cluster_id=endpoint.cluster_id),
            min_replicas=minimum,
            max_replicas=maximum,
            target_per_replica=float(endpoint.target_ongoing_requests),
            load_metric=LOAD_METRIC,
            env={"PYTHONPATH": FILES_PATH, "PADDOCK_GATE_TOKENS": f"{FILES_PATH}/{TOKENS_FILE}"},
            files={GATE_FILE: gate_source(), TOKENS_FILE: tokens},
            files_path=FILES_PATH,
            volumes=tuple(options.get("serving_volumes") or ()),
        ),
    )


def derive(config: dict[str, Any], *, accelerator: Any, gpus: float, model_path: str) -> dict[str, Any]:
    """The planner's vLLM configuration for one replica (``gpus`` GPUs of ``accelerator``, the
    catalog's spec) from the validated inputs; raises the planner's ``SpecError``."""
    from apps.planner.estimator.spec import parse_model
    from apps.serving.vllm import vllm_config

    model = parse_model(config["model"])
    derived = vllm_config(
        model,
        model_path,
        accelerator,
        precision=config.get("precision", "bf16"),
        kv_cache_dtype=config.get("kv_cache_dtype", "auto"),
        tensor_parallel_size=int(gpus),
        max_model_len=config.get("max_model_len"),
        max_position_embeddings=config.get("max_position_embeddings"),
        gpu_memory_utilization=config.get("gpu_memory_utilization", 0.9),
        tokens_per_sequence=config.get("tokens_per_sequence", 768),
    )
    return derived.as_dict()
