"""What can never run on a cluster: the refusal at submission and the queue's "cannot run".

A job *can never run* on a cluster when no placement its hardware could ever give, with every
GPU free and nothing else running, holds the job. It is judged on the cluster's hardware, not
on what is free now:

* The hardware is every node Paddock knows for the cluster that is not **down** — ready,
  cordoned, draining, or inside a maintenance window: those take no new work now but come
  back — with every GPU on them, healthy or not (a failed GPU is repaired or replaced). A
  down node does not count: discovery marks down a node it no longer finds, so it may be gone
  for good (the scheduler's gang limit counts the same nodes).
* When Paddock knows no node of the cluster that is up (not discovered yet, or every node
  down), nothing is refused: what the cluster has is unknown (at most a whole cluster's totals,
  and a cluster that scales grows). Jobs wait; the capacity admission and the queue judge them
  on the totals the cluster last reported (:func:`beyond_reported`).

On known hardware a job can never run when:

* it asks for GPUs and the cluster has none; or none of the model(s) it names, or none with
  the memory it asks for; or, naming no model, GPUs of several models (no pool takes it);
* its GPUs exceed what gang placement (:mod:`apps.admission.placement`) could ever give in
  each model it accepts: all on one node, or on nodes that share one network fabric;
* its CPUs or memory exceed every node that could run it (a node with GPUs of the model for a
  GPU job, any node for a CPU job). On Ray the entrypoint takes all of them on one node; a
  Kubernetes gang splits them evenly over its nodes, so there one node's share counts.

A node that reports no CPUs or no memory (0: unknown) refuses nothing on that resource.
Loading costs a fixed number of queries whatever the number of clusters or nodes (one for CPU
jobs, four with GPUs), and time in proportion to the nodes: at 1,000 8-GPU nodes a submission
took about 30 ms more (90 ms instead of 60, a busy 2-core VM); a cache across requests, kept
true to inventory changes, is the next step for fleets ten times that.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db.models import Count

from apps.admission.capacity import job_options
from apps.admission.placement import NodeSlot, NoPlacement, PoolSnapshot
from apps.inventory.catalog import Matcher
from apps.inventory.choices import ClusterKind, NodeState
from apps.inventory.models import Accelerator, AcceleratorModel, Cluster, Node, resources_from_json
from apps.quotas.models import Pool
from apps.quotas.pools import accepted_pools

GIB = 2**30


class Shape(Protocol):
    """What a job asks for: a submission (``JobRequest``) or a stored ``Job`` alike."""

    gpus: float
    cpus: float
    memory_gb: float
    accelerator_model: str
    min_gpu_memory_gb: float | None

    @property
    def accelerator_models(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class NodeHardware:
    """One node that is not down: its CPUs, memory, fabrics and GPUs per catalog model."""

    node_id: int
    hostname: str
    cpus: float
    memory_bytes: int
    fabrics: frozenset[int] = frozenset()
    gpus: dict[int, int] = field(default_factory=dict)  # catalog model id → GPUs


def _plural(count: float, word: str) -> str:
    return f"{count:g} {word}{'' if count == 1 else 's'}"


@dataclass
class ClusterHardware:
    """A cluster's hardware as :func:`never_runs` judges it (see the module's docstring)."""

    cluster: Cluster
    nodes: list[NodeHardware]
    down: int = 0
    uncatalogued: int = 0  # GPUs of no model in the catalog
    models: dict[int, AcceleratorModel] = field(default_factory=dict)  # the catalog by id
    matcher: Matcher | None = None
    gpus_known: bool = True  # loaded with its GPUs (else it judges CPU jobs only)

    @property
    def known(self) -> bool:
        return bool(self.nodes)

    # --- what a job can never get ------------------------------------------------------

    def never_runs(self, job: Shape) -> dict[str, list[str]]:
        """Why ``job`` can never run here, per resource field (``gpus``, ``cpus``, ``memory_gb``,
        ``accelerator_model``, ``accelerator_models``, ``min_gpu_memory_gb``); empty when it
        may (or when nothing is known of the cluster)."""
        if not self.known:
            return {}
        if job.gpus <= 0:
            return self._fits_a_node(job, self.nodes, where="", gang_nodes=1)
        assert self.gpus_known, "a GPU job is judged on hardware loaded with its GPUs"
        return self._gpu_job(job)

    def _gpu_job(self, job: Shape) -> dict[str, list[str]]:
        name = self.cluster.name
        present: dict[int, int] = defaultdict(int)
        for node in self.nodes:
            for model_id, count in node.gpus.items():
                present[model_id] += count
        if not present:
            odd = (
                f" (its {_plural(self.uncatalogued, 'GPU')} are of no model in Paddock's catalog)"
                if self.uncatalogued
                else ""
            )
            return {
                "gpus": [
                    f"Cluster {name} has no GPUs{odd}{self._down_note()}: a job that asks for "
                    f"{_plural(job.gpus, 'GPU')} can never run there. Ask for 0 GPUs, or submit to a cluster with GPUs."
                ]
            }
        # The pools the job would accept if the cluster had one per model it holds (it has, once
        # the scheduler has looked): the very rules that give a job its pools.
        models = sorted((self.models[model_id] for model_id in present), key=lambda model: model.name)
        pools = [Pool(name=model.name, cluster_id=self.cluster.pk, accelerator_model=model) for model in models]
        several = tuple(job.accelerator_models) if len(job.accelerator_models) > 1 else ()
        accepted = accepted_pools(
            pools,
            self.cluster.pk,
            job.gpus,
            job.accelerator_model,
            several,
            job.min_gpu_memory_gb,
            self.matcher,
        )
        has = ", ".join(f"{present[model.pk]} × {model.name}" for model in models)
        if not accepted:
            return self._no_model(job, several, has, models)
        need = math.ceil(job.gpus)
        first: dict[str, list[str]] | None = None
        for pool in accepted:
            model = pool.accelerator_model
            assert model is not None
            holders = [node for node in self.nodes if node.gpus.get(model.pk)]
            snapshot = PoolSnapshot(
                (
                    NodeSlot(node.node_id, node.hostname, set(range(node.gpus[model.pk])), node.fabrics)
                    for node in holders
                ),
                gpu_name=model.name,
            )
            placement = snapshot.place(need)  # every GPU free: the best the cluster could ever do
            if isinstance(placement, NoPlacement):
                problems = {"gpus": [self._too_many_gpus(need, model, snapshot)]}
            else:
                gang = len(placement.shares)
                # A single-node job needs a node with that many GPUs; a gang any holder (its first node).
                able = holders if gang > 1 else [node for node in holders if node.gpus[model.pk] >= need]
                problems = self._fits_a_node(job, able, where=f" with {model.name} GPUs", gang_nodes=gang)
            if not problems:
                return {}
            first = first or problems
        assert first is not None
        return first

    def _no_model(
        self, job: Shape, several: tuple[str, ...], has: str, models: list[AcceleratorModel]
    ) -> dict[str, list[str]]:
        name = self.cluster.name
        if job.min_gpu_memory_gb is not None:
            sizes = ", ".join(f"{model.name} {model.memory_gb:g} GB" for model in models)
            return {
                "min_gpu_memory_gb": [
                    f"Cluster {name} has no GPU with {job.min_gpu_memory_gb:g} GB or more (it has {sizes})."
                ]
            }
        if several:
            return {"accelerator_models": [f"Cluster {name} has none of {', '.join(several)} (it has {has})."]}
        if not job.accelerator_model:
            return {
                "accelerator_model": [
                    f"Cluster {name} has GPUs of several models ({has}): name the one the job needs, "
                    "or several it accepts."
                ]
            }
        return {"accelerator_model": [f"Cluster {name} has no {job.accelerator_model} GPUs (it has {has})."]}

    def _too_many_gpus(self, need: int, model: AcceleratorModel, snapshot: PoolSnapshot) -> str:
        most = snapshot.largest_gang
        on_one = snapshot.largest_block
        how = (
            f"{on_one} on one node"
            if most == on_one
            else f"{on_one} on one node, {most} on nodes that share one network fabric"
        )
        return (
            f"Cluster {self.cluster.name} can never give one job {need} {model.name} GPUs: "
            f"at most {most} ({how}){self._down_note()}."
        )

    def _fits_a_node(
        self, job: Shape, nodes: list[NodeHardware], *, where: str, gang_nodes: int
    ) -> dict[str, list[str]]:
        """Whether one node of ``nodes`` holds the job's CPUs and memory (one node's share of
        them for a Kubernetes gang over ``gang_nodes`` nodes)."""
        split = gang_nodes if self.cluster.kind == ClusterKind.KUBERNETES else 1
        share = f"each of its {gang_nodes} nodes' share" if split > 1 else ""
        cpus_why = share or "the job's CPUs run on one node"
        memory_why = share or "the job's memory is on one node"
        problems: dict[str, list[str]] = {}
        cpus = job.cpus / split
        if cpus > 0 and nodes and all(node.cpus > 0 for node in nodes):
            biggest = max(nodes, key=lambda node: (node.cpus, -node.node_id))
            if cpus > biggest.cpus + 1e-9:
                problems["cpus"] = [
                    f"No node of cluster {self.cluster.name}{where} has {_plural(cpus, 'CPU')} ({cpus_why}): "
                    f"the most is {biggest.cpus:g}, on {biggest.hostname}{self._down_note()}."
                ]
        memory = job.memory_gb * GIB / split
        if memory > 0 and nodes and all(node.memory_bytes > 0 for node in nodes):
            biggest = max(nodes, key=lambda node: (node.memory_bytes, -node.node_id))
            if memory > biggest.memory_bytes:
                problems["memory_gb"] = [
                    f"No node of cluster {self.cluster.name}{where} has {memory / GIB:.4g} GB of memory "
                    f"({memory_why}): the most is {biggest.memory_bytes / GIB:.4g} GB, on {biggest.hostname}"
                    f"{self._down_note()}."
                ]
        return problems

    def _down_note(self) -> str:
        return f", not counting {_plural(self.down, 'down node')}" if self.down else ""


def load(clusters: Iterable[Cluster], *, gpus: bool = True) -> dict[int, ClusterHardware]:
    """The hardware of ``clusters`` by id, in four queries whatever their number or size (none
    without clusters): nodes, GPUs per node and model, fabrics, and the catalog; without
    ``gpus`` (only CPU jobs are judged) the nodes alone, in one."""
    by_id = {cluster.pk: cluster for cluster in clusters}
    if not by_id:
        return {}
    matcher = Matcher.load() if gpus else None
    models = {model.pk: model for model in matcher.by_name.values()} if matcher is not None else {}
    hardware = {
        pk: ClusterHardware(cluster=cluster, nodes=[], models=models, matcher=matcher, gpus_known=gpus)
        for pk, cluster in by_id.items()
    }
    up: dict[int, tuple[int, str, float, int]] = {}
    for node_id, cluster_id, hostname, cpus, memory_bytes, state in Node.objects.filter(
        cluster_id__in=list(by_id)
    ).values_list("id", "cluster_id", "hostname", "cpus", "memory_bytes", "state"):
        if state == NodeState.DOWN:
            hardware[cluster_id].down += 1
        else:
            up[node_id] = (cluster_id, hostname, cpus, memory_bytes)
    per_node: dict[int, dict[int, int]] = defaultdict(dict)
    fabrics: dict[int, set[int]] = defaultdict(set)
    if gpus:
        for node_id, model_id, count in (
            Accelerator.objects.filter(node__cluster_id__in=list(by_id))
            .values_list("node_id", "model_id")
            .annotate(count=Count("id"))
            .order_by()  # the model's ordering would join the GROUP BY
        ):
            if node_id not in up:
                continue
            if model_id in models:
                per_node[node_id][model_id] = count
            else:
                hardware[up[node_id][0]].uncatalogued += count
        for node_id, fabric_id in Node.fabrics.through.objects.filter(node__cluster_id__in=list(by_id)).values_list(
            "node_id", "networkfabric_id"
        ):
            fabrics[node_id].add(fabric_id)
    for node_id, (cluster_id, hostname, cpus, memory_bytes) in sorted(up.items()):
        hardware[cluster_id].nodes.append(
            NodeHardware(
                node_id=node_id,
                hostname=hostname,
                cpus=cpus,
                memory_bytes=memory_bytes,
                fabrics=frozenset(fabrics.get(node_id, ())),
                gpus=per_node.get(node_id, {}),
            )
        )
    return hardware


def never_runs(cluster: Cluster, job: Shape) -> dict[str, list[str]]:
    """Why ``job`` can never run on ``cluster`` (see the module's docstring); empty when it may."""
    return load([cluster], gpus=job.gpus > 0)[cluster.pk].never_runs(job)


def beyond_reported(job: Any, cluster: Cluster, by_memory: dict[float, list[str]], matchers: list[Matcher]) -> str:
    """For a cluster Paddock has no node of: why the job can never run on what the cluster last
    reported it has in all (as :mod:`apps.admission.capacity` judges it: such a job waits there
    saying "Cannot run"); "" when it may, or when the cluster never answered. Submissions are
    not refused on it: the figure is a whole cluster's, and one that scales grows."""
    if not cluster.total_resources:
        return ""
    total = resources_from_json(cluster.total_resources)
    options = job_options(job, by_memory, matchers)
    if any(not need.shortfall(total) for _, need in options):
        return ""
    lacking = options[0][1].shortfall(total) if options else []
    asked = f"it asks for {', '.join(lacking)}" if lacking else "it has none of the GPUs the job accepts"
    return f"Cluster {cluster.name} reported less than the job asks for in all: {asked}."


def attach_cannot_run(jobs: Iterable[Any]) -> None:
    """Set ``cannot_run`` on each job (with ``cluster`` loaded): why it can never run on its
    cluster's hardware, in words, or "" — one load for all their clusters. A cluster with no
    node known is judged on the totals it last reported (:func:`beyond_reported`)."""
    jobs = list(jobs)
    clusters = {job.cluster_id: job.cluster for job in jobs}.values()
    hardware = load(clusters, gpus=any(job.gpus > 0 for job in jobs)) if jobs else {}
    by_memory: dict[float, list[str]] = {}
    matchers: list[Matcher] = []
    shapes: dict[tuple[Any, ...], str] = {}
    for job in jobs:
        key = (
            job.cluster_id,
            job.gpus,
            job.cpus,
            job.memory_gb,
            job.accelerator_model,
            tuple(job.accelerator_models or ()),
            job.min_gpu_memory_gb,
        )
        if key not in shapes:
            known = hardware[job.cluster_id]
            if known.known:
                problems = known.never_runs(job)
                shapes[key] = " ".join(message for messages in problems.values() for message in messages)
            else:
                shapes[key] = beyond_reported(job, job.cluster, by_memory, matchers)
        job.cannot_run = shapes[key]
