"""The Kubernetes objects that run one Paddock attempt, as plain dicts.

One node: a ``batch/v1`` Job. Several nodes: a headless Service and an Indexed Job whose pods
find each other through it (the ``torchrun`` environment: ``MASTER_ADDR`` is pod 0's DNS
name, ``NODE_RANK`` its completion index), or a JobSet where the cluster has that CRD. A Ray
job on a cluster with KubeRay: a ``ray.io/v1`` RayJob. Every pod asks for its node's share of
the job's GPUs, CPUs and memory (requests = limits), is pinned by node affinity to the hosts
the scheduler placed it on and to the accelerator model, never restarts (Paddock retries),
and is deleted a while after it finishes.

Code packages (``paddock://packages/<sha256>``) are fetched by an init container from
Paddock's API with the attempt's job token, checked against their sha256, and unpacked into
``/workspace`` (the working directory) and ``/opt/paddock`` (``py_modules``, pip installs).

Pure: no Kubernetes client, no I/O. The backend (``backends/kubernetes.py``) sends the result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from apps.dispatch.port import BackendError, JobSpec, Resources
from apps.dispatch.runtime_env import checked_for_dispatch, is_package_uri, package_sha256

LABEL_ATTEMPT = "paddock.dev/attempt"  # on every object: the remote_id (see attempt_label)
LABEL_MANAGED = "app.kubernetes.io/managed-by"  # value "paddock"
MANAGED_BY = "paddock"
ANNOTATION_REMOTE_ID = "paddock.dev/remote-id"  # the remote_id exactly, whatever its spelling
ANNOTATION_METADATA = "paddock.dev/metadata"  # the JobSpec's metadata as JSON
LABEL_QUEUE = "kueue.x-k8s.io/queue-name"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
HOSTNAME_LABEL = "kubernetes.io/hostname"
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"

CONTAINER_NAME = "job"
FETCH_CONTAINER_NAME = "fetch-code"
RAY_HEAD_CONTAINER = "ray-head"
RAY_WORKER_CONTAINER = "ray-worker"
RAY_WORKER_GROUP = "workers"
JOBSET_REPLICATED_JOB = "node"
WORKSPACE = "/workspace"
LIBRARY = "/opt/paddock"  # py_modules under modules/<n>, pip installs under site-packages
MASTER_PORT = 29500
# The Ray head runs the driver and Ray's own services, not the job's GPU work.
RAY_HEAD_RESOURCES: Mapping[str, str | int] = {"cpu": 1, "memory": "2Gi"}

NAME_PREFIX = "pdk-"
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def dns_label(text: str, *, max_length: int = 63) -> str:
    """``text`` as a DNS-1123 label: lowercase, ``[a-z0-9-]``, at most ``max_length``. A name
    that had to change gets a short hash of the original, so two different names never meet."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    cleaned = re.sub(r"-{2,}", "-", cleaned)
    if cleaned == text and len(cleaned) <= max_length and cleaned:
        return cleaned
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{cleaned[: max_length - 7].rstrip('-') or 'x'}-{digest}"


def team_queue_name(team_slug: str) -> str:
    """The name of a team's Kueue LocalQueue (and ClusterQueue): what Paddock's Kueue objects
    are called (apps.admission.kueue) and what its jobs are labelled with, from one function."""
    return dns_label(team_slug)


class ManifestError(BackendError):
    """The job cannot be expressed as Kubernetes objects (never retryable: the spec is at fault)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class ClusterOptions:
    """How Paddock uses one Kubernetes cluster (set by its operator on the cluster record)."""

    namespace: str = "default"
    image: str = "python:3.11-slim"  # the job's container image unless the job names one
    service_account: str = ""
    tolerations: tuple[Mapping[str, Any], ...] = ()
    kueue_queue: str = ""  # one LocalQueue for every job: label kueue.x-k8s.io/queue-name
    kueue_team_queues: bool = False  # else each job its team's LocalQueue (team_queue_name)
    has_jobset: bool = False
    has_kuberay: bool = False
    ttl_seconds_after_finished: int = 3600
    api_url: str = ""  # PADDOCK_API_URL given to the job


def object_name(remote_id: str) -> str:
    """The name of every object of the attempt ``remote_id``: a DNS-1123 label (and DNS-1035,
    for the Service), the same for the same id, different for different ids.

    A canonical UUID (what Paddock's attempts use) gives ``pdk-<32 hex>`` (36 characters);
    anything else a readable slug and a hash. Short on purpose: Kubernetes derives longer
    names from it (``<name>-<index>`` pod host names, JobSet's ``<name>-node-0-0``, KubeRay's
    ``<name>-xxxxx-head-svc``), which must stay within 63 characters.
    """
    if not isinstance(remote_id, str) or not remote_id:
        raise ManifestError("an attempt needs a remote_id to be named on Kubernetes")
    try:
        canonical = uuid.UUID(remote_id)
    except ValueError:
        canonical = None
    if canonical is not None and str(canonical) == remote_id:  # other spellings get their own name
        return NAME_PREFIX + canonical.hex
    digest = hashlib.sha256(remote_id.encode()).hexdigest()[:12]
    slug = re.sub(r"[^a-z0-9]+", "-", remote_id.lower())[:20].strip("-")
    return f"{NAME_PREFIX}{slug}-{digest}" if slug else f"{NAME_PREFIX}{digest}"


def attempt_label(remote_id: str) -> str:
    """The ``paddock.dev/attempt`` label value: the remote_id itself when it is a valid label
    value (a UUID is), else :func:`object_name`. The exact id is also in the annotation
    ``paddock.dev/remote-id``."""
    return remote_id if _is_label_value(remote_id) else object_name(remote_id)


def job_objects(spec: JobSpec, options: ClusterOptions) -> list[dict[str, Any]]:
    """The objects to create, in order, to run ``spec`` (see the module's docstring).

    Raises :class:`ManifestError` for what Kubernetes cannot express (GPUs that do not divide
    into whole GPUs per node, a bad label value…) and :class:`BackendError` (not retryable)
    for a runtime_env Paddock must not send.
    """
    plan = _Plan.build(spec, options)
    if plan.ray and options.has_kuberay:
        return [_ray_job(plan)]
    if plan.ray and plan.nodes > 1:
        raise ManifestError(
            "a multi-node Ray job needs KubeRay on the cluster (ray.io/v1 RayJob), and this cluster has none"
        )
    if plan.nodes == 1:
        return [_job(plan, indexed=False)]
    if options.has_jobset:
        return [_job_set(plan)]
    return [_headless_service(plan), _job(plan, indexed=True)]


# --- what every object shares ---------------------------------------------------------------
@dataclass(frozen=True)
class _Fetch:
    """One archive for the init container to fetch and unpack."""

    url: str
    sha256: str  # "" when not known (a remote https:// zip)
    dest: str
    paddock: bool  # send the job token (only ever to Paddock's own API)
    strip: bool  # a remote working_dir zip holds one top-level folder: its contents are the dir


@dataclass(frozen=True)
class _Plan:
    spec: JobSpec
    options: ClusterOptions
    name: str
    label: str
    nodes: int
    ray: bool
    image: str
    per_node: Mapping[str, str | int]  # quantities for requests = limits
    env_vars: Mapping[str, str]  # the job's own plus Paddock's (literal values)
    fetches: tuple[_Fetch, ...]
    pip: tuple[str, ...]
    python_path: tuple[str, ...]
    ray_runtime_env: Mapping[str, Any]  # what Ray itself fetches (remote URIs, pip) for a RayJob

    @classmethod
    def build(cls, spec: JobSpec, options: ClusterOptions) -> _Plan:
        _check_options(options)
        runtime_env = dict(spec.runtime_env or {})
        ray = runtime_env.pop("ray", None) is True or spec.metadata.get("runtime") == "ray"
        checked, _ = checked_for_dispatch(dataclasses.replace(spec, runtime_env=runtime_env))
        nodes = _node_count(spec)
        env_vars = dict(checked.get("env_vars") or {})
        if options.api_url:
            env_vars["PADDOCK_API_URL"] = options.api_url
        if spec.placement:
            env_vars["PADDOCK_PLACEMENT"] = json.dumps(list(spec.placement), separators=(",", ":"))
        api_url = env_vars.get("PADDOCK_API_URL", "")
        fetches: list[_Fetch] = []
        python_path: list[str] = [WORKSPACE]
        ray_runtime_env: dict[str, Any] = {}
        working_dir = checked.get("working_dir")
        if isinstance(working_dir, str):
            if is_package_uri(working_dir):
                fetches.append(_package_fetch(working_dir, api_url, WORKSPACE))
            elif ray:
                ray_runtime_env["working_dir"] = working_dir
            else:
                fetches.append(_remote_fetch(working_dir, WORKSPACE, strip=True))
        remote_modules: list[str] = []
        for index, module in enumerate(checked.get("py_modules") or []):
            dest = f"{LIBRARY}/modules/{index}"
            if is_package_uri(module):
                fetches.append(_package_fetch(module, api_url, dest))
                python_path.append(dest)
            elif ray:
                remote_modules.append(module)
            else:
                fetches.append(_remote_fetch(module, dest, strip=False))
                python_path.append(dest)
        if remote_modules:
            ray_runtime_env["py_modules"] = remote_modules
        pip = tuple(checked.get("pip") or ())
        if ray and pip:
            ray_runtime_env["pip"] = list(pip)
            pip = ()
        if pip:
            python_path.append(f"{LIBRARY}/site-packages")
        if ray:
            ray_runtime_env["env_vars"] = env_vars
        return cls(
            spec=spec,
            options=options,
            name=object_name(spec.remote_id),
            label=attempt_label(spec.remote_id),
            nodes=nodes,
            ray=ray,
            image=spec.metadata.get("image") or options.image,
            per_node=_per_node(spec.resources, nodes, spec.placement),
            env_vars=env_vars,
            fetches=tuple(fetches),
            pip=pip,
            python_path=tuple(python_path),
            ray_runtime_env=ray_runtime_env,
        )

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_ATTEMPT: self.label, LABEL_MANAGED: MANAGED_BY}

    def metadata(self, *, queued: bool = False) -> dict[str, Any]:
        """An object's metadata; ``queued``: the object Kueue admits (it carries the queue)."""
        labels = self.labels
        if queued and self.queue:
            labels[LABEL_QUEUE] = self.queue
        return {
            "name": self.name,
            "namespace": self.options.namespace,
            "labels": labels,
            "annotations": self.annotations(),
        }

    def annotations(self) -> dict[str, str]:
        annotations = {ANNOTATION_REMOTE_ID: self.spec.remote_id}
        if self.spec.metadata:
            annotations[ANNOTATION_METADATA] = json.dumps(dict(self.spec.metadata), sort_keys=True)
        return annotations

    @property
    def queue(self) -> str:
        """The LocalQueue Kueue admits the job from: the cluster's one queue, else its team's
        where Paddock keeps the cluster's Kueue objects, else none (Paddock's admission decides)."""
        if self.options.kueue_queue:
            return self.options.kueue_queue
        team = str(self.spec.metadata.get("paddock_team") or "")
        return team_queue_name(team) if self.options.kueue_team_queues and team else ""

    @property
    def suspended(self) -> bool:
        """Created suspended so Kueue admits it (its webhook would suspend it anyway)."""
        return bool(self.queue)


def _check_options(options: ClusterOptions) -> None:
    if not _is_dns_label(options.namespace):
        raise ManifestError(f"namespace {options.namespace!r} is not a Kubernetes namespace name")
    if options.kueue_queue and not (_is_dns_label(options.kueue_queue)):
        raise ManifestError(f"Kueue queue {options.kueue_queue!r} is not a LocalQueue name")
    if options.service_account and not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", options.service_account):
        raise ManifestError(f"service account {options.service_account!r} is not a Kubernetes name")
    if options.ttl_seconds_after_finished < 0:
        raise ManifestError("ttl_seconds_after_finished must not be negative")


def _node_count(spec: JobSpec) -> int:
    text = spec.metadata.get("nodes") or "1"
    try:
        nodes = int(text)
    except ValueError:
        raise ManifestError(f"metadata nodes={text!r} is not a whole number") from None
    if nodes < 1:
        raise ManifestError(f"metadata nodes={text!r}: a job runs on at least one node")
    return max(nodes, len(spec.placement))


def _per_node(resources: Resources, nodes: int, placement: Sequence[Mapping[str, Any]]) -> dict[str, str | int]:
    """Each node's share of the job's resources as Kubernetes quantities."""
    shares = {len(entry.get("gpus") or ()) for entry in placement if entry.get("gpus") is not None}
    if len(shares) > 1:
        raise ManifestError(
            f"the placement gives the nodes different GPU counts ({sorted(shares)}); a Kubernetes gang runs one pod "
            "template, so every node must hold the same number"
        )
    quantities: dict[str, str | int] = {}
    gpus = resources.gpus / nodes
    if gpus > 0:
        if abs(gpus - round(gpus)) > 1e-9:
            raise ManifestError(
                f"{resources.gpus:g} GPUs over {nodes} node(s) is {gpus:g} per node; Kubernetes gives whole GPUs "
                f"({GPU_RESOURCE}) only"
            )
        quantities[GPU_RESOURCE] = round(gpus)
    if resources.cpus > 0:
        quantities["cpu"] = cpu_quantity(resources.cpus / nodes)
    if resources.memory_bytes > 0:
        quantities["memory"] = memory_quantity(math.ceil(resources.memory_bytes / nodes))
    return quantities


def cpu_quantity(cpus: float) -> str | int:
    """CPUs as a Kubernetes quantity: whole CPUs as an integer, else millicores (rounded up)."""
    millis = math.ceil(round(cpus * 1000, 6))
    return millis // 1000 if millis % 1000 == 0 else f"{millis}m"


def memory_quantity(size: int) -> str | int:
    """Bytes as a Kubernetes quantity, in the largest binary unit that divides them."""
    for suffix, unit in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if size >= unit and size % unit == 0:
            return f"{size // unit}{suffix}"
    return size


def _package_fetch(uri: str, api_url: str, dest: str) -> _Fetch:
    if not api_url:
        raise ManifestError(
            f"package {uri} is fetched from Paddock's API, but no API URL is set for the cluster (api_url)"
        )
    if not api_url.startswith(("https://", "http://")):
        raise ManifestError(f"Paddock's API URL for the cluster must be http(s), not {api_url!r}")
    sha256 = package_sha256(uri)
    url = f"{api_url.rstrip('/')}/api/v1/job-packages/{sha256}/"
    return _Fetch(url=url, sha256=sha256, dest=dest, paddock=True, strip=False)


def _remote_fetch(uri: str, dest: str, *, strip: bool) -> _Fetch:
    if not uri.startswith("https://"):
        raise ManifestError(
            f"{uri.split('://')[0]}:// code is not fetched on Kubernetes (only Ray fetches it): upload it as a "
            "Paddock package (paddock submit --workdir) or give an https:// URL"
        )
    return _Fetch(url=uri, sha256="", dest=dest, paddock=False, strip=strip)


# --- pods -----------------------------------------------------------------------------------
# Run by the init container (standard library only): fetch each archive, check its sha256,
# unpack it; then pip-install the job's requirements into LIBRARY/site-packages. The job
# token goes only to Paddock's own URLs. No "$" in it: Kubernetes would expand $(…) in args.
FETCH_SCRIPT = """\
import hashlib, io, json, os, shutil, subprocess, sys, tempfile, urllib.request, zipfile
plan = json.loads(os.environ["PADDOCK_FETCH"])
token = os.environ.get("PADDOCK_JOB_TOKEN", "")
for item in plan["archives"]:
    headers = {"Authorization": "Bearer " + token} if item["paddock"] and token else {}
    with urllib.request.urlopen(urllib.request.Request(item["url"], headers=headers), timeout=600) as reply:
        data = reply.read()
    if item["sha256"] and hashlib.sha256(data).hexdigest() != item["sha256"]:
        sys.exit("paddock: " + item["url"] + " does not hold the expected package (sha256 differs)")
    archive = zipfile.ZipFile(io.BytesIO(data))
    os.makedirs(item["dest"], exist_ok=True)
    names = [n for n in archive.namelist() if n.strip("/")]
    tops = {n.split("/", 1)[0] for n in names}
    if item["strip"] and len(tops) == 1 and all("/" in n for n in names):
        scratch = tempfile.mkdtemp(dir=plan["scratch"])
        archive.extractall(scratch)
        top = os.path.join(scratch, tops.pop())
        for child in os.listdir(top):
            shutil.move(os.path.join(top, child), item["dest"])
        shutil.rmtree(scratch)
    else:
        archive.extractall(item["dest"])
    print("paddock: unpacked", item["url"].split("?")[0], "into", item["dest"], flush=True)
if plan["pip"]:
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
                    "--target", plan["site_packages"], *plan["pip"]], check=True)
"""


def _literal(value: str) -> str:
    """``value`` as Kubernetes must be given it in ``command``, ``args`` and ``env`` so the
    container sees it unchanged: Kubernetes turns ``$(NAME)`` into a variable's value and
    ``$$`` into ``$``, so every ``$`` is doubled."""
    return value.replace("$", "$$")


def _env(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": _literal(value)}


def _resources(quantities: Mapping[str, str | int]) -> dict[str, Any]:
    if not quantities:
        return {}
    return {"requests": dict(quantities), "limits": dict(quantities)}


def _init_container(plan: _Plan, quantities: Mapping[str, str | int]) -> dict[str, Any] | None:
    if not plan.fetches and not plan.pip:
        return None
    fetch_plan = {
        "archives": [dataclasses.asdict(fetch) for fetch in plan.fetches],
        "pip": list(plan.pip),
        "site_packages": f"{LIBRARY}/site-packages",
        "scratch": LIBRARY,
    }
    env = [_env("PADDOCK_FETCH", json.dumps(fetch_plan, separators=(",", ":")))]
    token = plan.env_vars.get("PADDOCK_JOB_TOKEN")
    if token and any(fetch.paddock for fetch in plan.fetches):
        env.append(_env("PADDOCK_JOB_TOKEN", token))
    container: dict[str, Any] = {
        "name": FETCH_CONTAINER_NAME,
        "image": plan.image,
        "command": ["python", "-c", FETCH_SCRIPT],
        "env": env,
        "volumeMounts": _volume_mounts(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    # The same CPU and memory as the job's container, so the pod asks for no more than it.
    cpu_memory = {name: value for name, value in quantities.items() if name in ("cpu", "memory")}
    if cpu_memory:
        container["resources"] = _resources(cpu_memory)
    return container


def _volumes() -> list[dict[str, Any]]:
    return [{"name": "workspace", "emptyDir": {}}, {"name": "paddock-lib", "emptyDir": {}}]


def _volume_mounts() -> list[dict[str, Any]]:
    return [{"name": "workspace", "mountPath": WORKSPACE}, {"name": "paddock-lib", "mountPath": LIBRARY}]


def _python_path(plan: _Plan) -> str:
    own = plan.env_vars.get("PYTHONPATH", "")
    return ":".join([*plan.python_path, own] if own else plan.python_path)


def _affinity(plan: _Plan, *, placed: bool = True) -> dict[str, Any]:
    """Node affinity to the placement's hosts and the accelerator model; for a gang placed on
    several hosts, one pod per host. ``placed`` False (a Ray head): none of it."""
    if not placed:
        return {}
    expressions: list[dict[str, Any]] = []
    hostnames = list(dict.fromkeys(str(entry.get("hostname") or "") for entry in plan.spec.placement))
    hostnames = [name for name in hostnames if name]
    for hostname in hostnames:
        if not _is_label_value(hostname):
            raise ManifestError(f"placement hostname {hostname!r} is not a Kubernetes node label value")
    if placed and hostnames:
        expressions.append({"key": HOSTNAME_LABEL, "operator": "In", "values": hostnames})
    if plan.spec.accelerator_products:
        # Every product name the catalog knows the model by: the node's GFD label is one of them.
        products = sorted(set(plan.spec.accelerator_products))
        for product in products:
            if not _is_label_value(product):
                raise ManifestError(f"accelerator product {product!r} is not a node label value")
        expressions.append({"key": GPU_PRODUCT_LABEL, "operator": "In", "values": products})
    elif plan.spec.accelerator_model:
        product = "-".join(plan.spec.accelerator_model.split())
        if not _is_label_value(product):
            raise ManifestError(f"accelerator model {plan.spec.accelerator_model!r} is not a node label value")
        expressions.append({"key": GPU_PRODUCT_LABEL, "operator": "In", "values": [product]})
    affinity: dict[str, Any] = {}
    if expressions:
        affinity["nodeAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": expressions}]}
        }
    if placed and plan.nodes > 1 and len(hostnames) > 1:
        affinity["podAntiAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {LABEL_ATTEMPT: plan.label}}, "topologyKey": HOSTNAME_LABEL}
            ]
        }
    return affinity


def _pod_template(
    plan: _Plan,
    container: dict[str, Any],
    quantities: Mapping[str, str | int],
    *,
    subdomain: str = "",
    placed: bool = True,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"restartPolicy": "Never", "enableServiceLinks": False}
    init = _init_container(plan, quantities)
    if init is not None:
        spec["initContainers"] = [init]
    spec["containers"] = [container]
    spec["volumes"] = _volumes()
    affinity = _affinity(plan, placed=placed)
    if affinity:
        spec["affinity"] = affinity
    if plan.options.tolerations:
        spec["tolerations"] = [dict(toleration) for toleration in plan.options.tolerations]
    if plan.options.service_account:
        spec["serviceAccountName"] = plan.options.service_account
    else:
        spec["automountServiceAccountToken"] = False  # a job has no business with the API
    if subdomain:
        spec["subdomain"] = subdomain
    return {
        "metadata": {"labels": plan.labels, "annotations": {ANNOTATION_REMOTE_ID: plan.spec.remote_id}},
        "spec": spec,
    }


def _job_container(plan: _Plan, gang_env: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    gang_names = {item["name"] for item in gang_env}
    env = [
        _env(name, value) for name, value in plan.env_vars.items() if name not in gang_names and name != "PYTHONPATH"
    ]
    env.append(_env("PYTHONPATH", _python_path(plan)))
    env.extend(gang_env)
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": plan.image,
        "command": ["/bin/sh", "-c", _literal(plan.spec.entrypoint)],
        "workingDir": WORKSPACE,
        "env": env,
        "volumeMounts": _volume_mounts(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if plan.per_node:
        container["resources"] = _resources(plan.per_node)
    return container


def torchrun_env(nodes: int, master_addr: str) -> list[dict[str, Any]]:
    """What a gang's pods need to rendezvous: ``NODE_RANK`` is the pod's completion index (from
    its annotation, which the Job controller sets), the rest is the same for every pod.
    ``PET_*`` are torchrun's own variables, so plain ``torchrun --nproc-per-node=N`` works."""
    index = {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"}}
    same = {
        "MASTER_ADDR": master_addr,
        "MASTER_PORT": str(MASTER_PORT),
        "WORLD_SIZE": str(nodes),
        "NNODES": str(nodes),
    }
    # The Job controller adds JOB_COMPLETION_INDEX too, but after every other variable, where
    # $(JOB_COMPLETION_INDEX) cannot see it; defined first here, it adds nothing.
    env: list[dict[str, Any]] = [{"name": "JOB_COMPLETION_INDEX", "valueFrom": index}]
    env += [{"name": name, "value": value} for name, value in same.items()]
    env.append({"name": "NODE_RANK", "value": "$(JOB_COMPLETION_INDEX)"})
    env += [
        {"name": "PET_NNODES", "value": str(nodes)},
        {"name": "PET_NODE_RANK", "value": "$(JOB_COMPLETION_INDEX)"},
        {"name": "PET_MASTER_ADDR", "value": master_addr},
        {"name": "PET_MASTER_PORT", "value": str(MASTER_PORT)},
    ]
    return env


# --- the objects ----------------------------------------------------------------------------
def _job_spec(plan: _Plan, template: dict[str, Any], *, indexed: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"backoffLimit": 0}
    if indexed:
        spec.update({"completionMode": "Indexed", "completions": plan.nodes, "parallelism": plan.nodes})
    spec["template"] = template
    return spec


def _job(plan: _Plan, *, indexed: bool) -> dict[str, Any]:
    gang_env: list[dict[str, Any]] = []
    subdomain = ""
    if indexed:
        subdomain = plan.name  # the headless Service
        master = f"{plan.name}-0.{subdomain}.{plan.options.namespace}.svc"
        gang_env = torchrun_env(plan.nodes, master)
    template = _pod_template(plan, _job_container(plan, gang_env), plan.per_node, subdomain=subdomain)
    spec = _job_spec(plan, template, indexed=indexed)
    spec["ttlSecondsAfterFinished"] = plan.options.ttl_seconds_after_finished
    if plan.suspended:
        spec["suspend"] = True
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": plan.metadata(queued=True), "spec": spec}


def _headless_service(plan: _Plan) -> dict[str, Any]:
    """DNS names for the gang's pods (``<name>-<index>.<name>``), ready or not, for rendezvous."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": plan.metadata(),
        "spec": {
            "clusterIP": "None",
            "selector": plan.labels,
            "publishNotReadyAddresses": True,
            "ports": [{"name": "rendezvous", "port": MASTER_PORT, "targetPort": MASTER_PORT, "protocol": "TCP"}],
        },
    }


def _job_set(plan: _Plan) -> dict[str, Any]:
    """One replicated Job (Indexed, one pod per node); JobSet makes the headless Service."""
    master = f"{plan.name}-{JOBSET_REPLICATED_JOB}-0-0.{plan.name}.{plan.options.namespace}.svc"
    template = _pod_template(plan, _job_container(plan, torchrun_env(plan.nodes, master)), plan.per_node)
    spec: dict[str, Any] = {
        "network": {"enableDNSHostnames": True, "subdomain": plan.name, "publishNotReadyAddresses": True},
        "failurePolicy": {"maxRestarts": 0},
        "replicatedJobs": [
            {
                "name": JOBSET_REPLICATED_JOB,
                "replicas": 1,
                "template": {
                    "metadata": {"labels": plan.labels},
                    "spec": _job_spec(plan, template, indexed=True),
                },
            }
        ],
        "ttlSecondsAfterFinished": plan.options.ttl_seconds_after_finished,
    }
    if plan.suspended:
        spec["suspend"] = True
    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": plan.metadata(queued=True),
        "spec": spec,
    }


def _ray_job(plan: _Plan) -> dict[str, Any]:
    """A RayJob: a head (no GPUs) and ``nodes`` workers with each node's share; KubeRay submits
    the entrypoint and deletes the cluster when it finishes."""

    def ray_container(name: str, quantities: Mapping[str, str | int]) -> dict[str, Any]:
        container: dict[str, Any] = {
            "name": name,
            "image": plan.image,
            "volumeMounts": _volume_mounts(),
            "env": [_env("PYTHONPATH", _python_path(plan))],
        }
        if quantities:
            container["resources"] = _resources(quantities)
        return container

    head = _pod_template(plan, ray_container(RAY_HEAD_CONTAINER, RAY_HEAD_RESOURCES), RAY_HEAD_RESOURCES, placed=False)
    worker = _pod_template(plan, ray_container(RAY_WORKER_CONTAINER, plan.per_node), plan.per_node)
    entrypoint = plan.spec.entrypoint
    if any(fetch.dest == WORKSPACE for fetch in plan.fetches):
        entrypoint = f"cd {WORKSPACE} && {entrypoint}"  # the driver runs on the head, in Ray's own directory
    spec: dict[str, Any] = {
        "entrypoint": entrypoint,
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": plan.options.ttl_seconds_after_finished,
        "backoffLimit": 0,
        "rayClusterSpec": {
            "headGroupSpec": {"rayStartParams": {"num-gpus": "0"}, "template": head},
            "workerGroupSpecs": [
                {
                    "groupName": RAY_WORKER_GROUP,
                    "replicas": plan.nodes,
                    "minReplicas": plan.nodes,
                    "maxReplicas": plan.nodes,
                    "rayStartParams": {},
                    "template": worker,
                }
            ],
        },
    }
    if plan.ray_runtime_env:
        spec["runtimeEnvYAML"] = yaml.safe_dump(dict(plan.ray_runtime_env), sort_keys=True)
    if plan.suspended:
        spec["suspend"] = True
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": plan.metadata(queued=True), "spec": spec}


def _is_label_value(value: str) -> bool:
    return len(value) <= 63 and _LABEL_VALUE.match(value) is not None


def _is_dns_label(value: str) -> bool:
    return len(value) <= 63 and _DNS1123_LABEL.match(value) is not None
