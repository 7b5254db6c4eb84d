"""Kueue objects from Paddock's pools and quotas, so a Kubernetes cluster's Kueue and Paddock's
own admission never disagree about who may use what.

Paddock already speaks Kueue's quota language (README: Kueue semantics); this module writes it
out as the objects Kueue reads (API ``kueue.x-k8s.io/v1beta2``, served by Kueue 0.15 and later,
its storage version since 0.16):

- one **ResourceFlavor** per GPU pool, selecting its nodes by the GPU Feature Discovery label
  ``nvidia.com/gpu.product``, and one for the cluster's CPUs;
- one **ClusterQueue** per team: one resource group covering ``cpu``, ``memory`` and
  ``nvidia.com/gpu`` over every flavor the team may use, with ``nominalQuota`` = guaranteed,
  ``borrowingLimit`` = max − guaranteed (absent when max is unbounded), ``lendingLimit`` =
  lending limit, the team's ``preemption`` and ``flavorFungibility``, and ``cohortName``;
- one **LocalQueue** per team, in the namespace its jobs run in, pointing at its ClusterQueue
  (jobs carry ``kueue.x-k8s.io/queue-name: <its name>``);
- one **Cohort** per Paddock cohort (flat: Paddock has no hierarchical cohorts).

What Paddock counts and Kueue must count too is mapped one to one. What Paddock does *not*
count in a pool (CPUs and, without a memory quota, memory in a GPU pool; everything in a pool
with no quotas at all, which Paddock leaves open) gets ``NOT_COUNTED``, a quota no
installation reaches, because Kueue only admits a workload whose every requested resource is
covered. Where Kueue cannot say what Paddock means, the object carries an annotation
``paddock.dev/kueue-differs`` that says so, instead of silently saying something else.

The objects are cluster-scoped (except LocalQueues). Paddock applies them itself to a cluster
with ``"kueue": true`` (:mod:`apps.admission.kueue_sync`); otherwise an operator may
(``manage.py kueue_objects --cluster NAME | kubectl apply -f -``). The service account of
deploy/kubernetes is not granted cluster-wide Kueue rights: the cluster's kubeconfig must be.

``kueue_objects`` is pure: model instances (or anything with the same attributes) in, plain
dicts out, no query. ``load_kueue_inputs`` reads what it needs for one cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from apps.admission.policy import NO_PREEMPTION, TeamPolicy
from apps.dispatch.k8s_manifests import dns_label, team_queue_name
from apps.quotas.choices import BorrowWithinCohort, ReclaimWithinCohort, WhenCanBorrow, WhenCanPreempt

if TYPE_CHECKING:
    from apps.inventory.models import AcceleratorModel, Cluster
    from apps.quotas.models import Cohort, Pool, Quota
    from apps.tenancy.models import Team

API_VERSION = "kueue.x-k8s.io/v1beta2"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
# Kueue requires every flavor of a resource group to list the covered resources, in this order.
COVERED_RESOURCES = ("cpu", "memory", GPU_RESOURCE)
# A quota no installation reaches, for what Paddock does not count. Kept well inside int64 once
# Kueue sums it over many queues (cpu is counted in millicores, memory in bytes).
NOT_COUNTED = {"cpu": "100k", "memory": "1Pi", GPU_RESOURCE: "100k"}
CPU_FLAVOR_FALLBACK = "cpu"  # the CPU flavor's name when the cluster has no CPU pool in Paddock
LABEL_MANAGED = "app.kubernetes.io/managed-by"
LABEL_TEAM = "paddock.dev/team"
LABEL_POOL = "paddock.dev/pool"
LABEL_COHORT = "paddock.dev/cohort"
ANNOTATION_DIFFERS = "paddock.dev/kueue-differs"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class KueueExportError(ValueError):
    """The inputs cannot be written as one cluster's Kueue objects; the message says why."""


# --- names ----------------------------------------------------------------------------------


def gpu_product_label(model: AcceleratorModel) -> str:
    """The value GPU Feature Discovery puts in ``nvidia.com/gpu.product`` for this model: the
    product name NVML reports (the catalog's first ``match_names`` entry, else its name) with
    spaces as dashes, e.g. ``NVIDIA-H100-80GB-HBM3``."""
    reported = next((name for name in (model.match_names or []) if name), model.name)
    value = reported.strip().replace(" ", "-")
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise KueueExportError(f"accelerator model {model.name}: {value!r} is not a valid node label value")
    return value


def _quantity(value: int, unit: str = "") -> str | int:
    return f"{value}{unit}" if unit else value


# --- the pure part --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Limits:
    """One resource of one flavor for one team, in Kueue's words."""

    nominal: str | int
    borrowing: str | int | None = None
    lending: str | int | None = None

    def as_dict(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name, "nominalQuota": self.nominal}
        if self.borrowing is not None:
            out["borrowingLimit"] = self.borrowing
        if self.lending is not None:
            out["lendingLimit"] = self.lending
        return out


def _counted(guaranteed: int, max_: int | None, lending: int | None, *, in_cohort: bool, unit: str = "") -> _Limits:
    if not in_cohort:  # Kueue: no borrowing or lending limit without a cohort (nothing to share)
        return _Limits(_quantity(guaranteed, unit))
    return _Limits(
        _quantity(guaranteed, unit),
        borrowing=None if max_ is None else _quantity(max_ - guaranteed, unit),
        lending=None if lending is None else _quantity(lending, unit),
    )


def _team_policy(team: Team, cohorts: Mapping[int, Cohort], policies: Mapping[int, TeamPolicy]) -> TeamPolicy:
    """As the scheduler resolves it: the team's own, else its cohort's switches, else none."""
    if team.pk in policies:
        return policies[team.pk]
    cohort = cohorts.get(team.cohort_id) if team.cohort_id is not None else None
    if cohort is None:
        return NO_PREEMPTION
    return TeamPolicy.from_cohort_switches(
        reclaim_from_borrowers=cohort.reclaim_from_borrowers,
        preempt_lower_priority=cohort.preempt_lower_priority,
        preempt_while_borrowing=cohort.preempt_while_borrowing,
    )


def _preemption(policy: TeamPolicy, differs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "withinClusterQueue": policy.within_team.value,
        "reclaimWithinCohort": policy.reclaim_within_cohort.value,
    }
    if policy.borrow_within_cohort != BorrowWithinCohort.NEVER:
        if policy.reclaim_within_cohort == ReclaimWithinCohort.NEVER:
            # Kueue refuses the pair (a CEL rule on ClusterQueue.spec.preemption).
            differs.append(
                "borrow_within_cohort LowerPriority with reclaim_within_cohort Never: Kueue refuses the pair, "
                "so borrowWithinCohort is Never here"
            )
            out["borrowWithinCohort"] = {"policy": BorrowWithinCohort.NEVER.value}
            return out
        borrow: dict[str, Any] = {"policy": policy.borrow_within_cohort.value}
        if policy.borrow_max_priority_threshold is not None:
            borrow["maxPriorityThreshold"] = policy.borrow_max_priority_threshold
        out["borrowWithinCohort"] = borrow
    return out


def _flavor_fungibility(policy: TeamPolicy) -> dict[str, str]:
    # v1beta2 says MayStopSearch where v1beta1 (and Paddock) say Borrow / Preempt.
    return {
        "whenCanBorrow": "MayStopSearch" if policy.when_can_borrow == WhenCanBorrow.BORROW else "TryNextFlavor",
        "whenCanPreempt": "MayStopSearch" if policy.when_can_preempt == WhenCanPreempt.PREEMPT else "TryNextFlavor",
    }


def _weight(value: Decimal | float | int) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def _metadata(name: str, labels: Mapping[str, str], namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {LABEL_MANAGED: "paddock", **labels}}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def kueue_objects(
    pools: Iterable[Pool],
    quotas: Iterable[Quota],
    cohorts: Iterable[Cohort],
    teams: Iterable[Team],
    *,
    namespace_of: Callable[[Team], str],
    policies: Mapping[int, TeamPolicy] | None = None,
) -> list[dict[str, Any]]:
    """Kueue's ResourceFlavors, Cohorts, ClusterQueues and LocalQueues for the pools of ONE
    Kubernetes cluster, in that order (apply order). ``policies`` are the teams' own stored
    policies by team id (a team without one takes its cohort's switches, as in the scheduler).
    Pure: reads only attributes already loaded (``pool.accelerator_model``, ids)."""
    pools = sorted(pools, key=lambda pool: pool.name)
    teams = sorted(teams, key=lambda team: team.slug)
    cohort_by_id = {cohort.pk: cohort for cohort in cohorts}
    policies = policies or {}
    if len({pool.cluster_id for pool in pools}) > 1:
        raise KueueExportError("Kueue objects describe one Kubernetes cluster: pass the pools of one cluster")
    pool_ids = {pool.pk for pool in pools}
    quota_of: dict[tuple[int, int], Quota] = {}
    pools_with_quotas: set[int] = set()
    for quota in quotas:
        if quota.pool_id in pool_ids:
            quota_of[(quota.team_id, quota.pool_id)] = quota
            pools_with_quotas.add(quota.pool_id)

    # Flavors: the CPU flavor first, so that CPU-only work is tried there before any GPU flavor
    # (whose CPUs Paddock does not count), then the GPU pools by name.
    cpu_pools = [pool for pool in pools if pool.accelerator_model_id is None]
    gpu_pools = [pool for pool in pools if pool.accelerator_model_id is not None]
    if len(cpu_pools) > 1:
        raise KueueExportError("a cluster has at most one CPU pool")
    flavor_names: dict[int | None, str] = {}
    taken: set[str] = set()
    for pool in [*cpu_pools, *gpu_pools]:
        name = dns_label(pool.name)
        if name in taken:
            name = dns_label(f"{pool.name}-{pool.pk}")
        taken.add(name)
        flavor_names[pool.pk] = name
    objects: list[dict[str, Any]] = []
    cpu_pool = cpu_pools[0] if cpu_pools else None
    if cpu_pool is None:
        flavor_names[None] = CPU_FLAVOR_FALLBACK if CPU_FLAVOR_FALLBACK not in taken else dns_label("cpu_")
    cpu_flavor = flavor_names[cpu_pool.pk if cpu_pool else None]
    objects.append(
        {
            "apiVersion": API_VERSION,
            "kind": "ResourceFlavor",
            "metadata": _metadata(cpu_flavor, {LABEL_POOL: cpu_pool.name} if cpu_pool else {}),
            "spec": {},
        }
    )
    for pool in gpu_pools:
        assert pool.accelerator_model is not None  # a GPU pool has a model
        objects.append(
            {
                "apiVersion": API_VERSION,
                "kind": "ResourceFlavor",
                "metadata": _metadata(flavor_names[pool.pk], {LABEL_POOL: pool.name}),
                "spec": {"nodeLabels": {GPU_PRODUCT_LABEL: gpu_product_label(pool.accelerator_model)}},
            }
        )

    # Cohorts (flat), only those a team passed here belongs to.
    cohort_names: dict[int, str] = {}
    used_cohorts = sorted(
        {team.cohort_id for team in teams if team.cohort_id is not None and team.cohort_id in cohort_by_id}
    )
    for cohort_id in used_cohorts:
        cohort = cohort_by_id[cohort_id]
        name = dns_label(cohort.name)
        if name in cohort_names.values():
            name = dns_label(f"{cohort.name}-{cohort.pk}")
        cohort_names[cohort_id] = name
        meta = _metadata(name, {LABEL_COHORT: cohort.name})
        if cohort.fair_sharing:
            meta["annotations"] = {
                ANNOTATION_DIFFERS: (
                    "fair sharing is on for this cohort in Paddock; in Kueue it is switched on for the whole "
                    "installation (Configuration fairSharing.enable, preemptionStrategies "
                    + ", ".join(cohort.fair_sharing_strategies)
                    + ")"
                )
            }
        objects.append({"apiVersion": API_VERSION, "kind": "Cohort", "metadata": meta, "spec": {}})

    # One ClusterQueue and one LocalQueue per team.
    queue_names: set[str] = set()
    local_queues: list[dict[str, Any]] = []
    flavor_pools: list[Pool | None] = [cpu_pool, *gpu_pools]  # None: the CPU flavor of no pool
    for team in teams:
        cohort_name = cohort_names.get(team.cohort_id) if team.cohort_id is not None else None
        in_cohort = cohort_name is not None
        differs: list[str] = []
        flavors: list[dict[str, Any]] = []
        for flavor_pool in flavor_pools:
            limits = _team_limits(team, flavor_pool, quota_of, pools_with_quotas, in_cohort=in_cohort)
            if limits is None:
                continue
            flavors.append(
                {
                    "name": flavor_names[flavor_pool.pk if flavor_pool else None],
                    "resources": [limits[resource].as_dict(resource) for resource in COVERED_RESOURCES],
                }
            )
        policy = _team_policy(team, cohort_by_id, policies)
        spec: dict[str, Any] = {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace_of(team)}},
            "queueingStrategy": "BestEffortFIFO",
            "resourceGroups": [{"coveredResources": list(COVERED_RESOURCES), "flavors": flavors}] if flavors else [],
            "preemption": _preemption(policy, differs),
            "flavorFungibility": _flavor_fungibility(policy),
        }
        if cohort_name is not None:
            spec["cohortName"] = cohort_name
        weights = {quota.weight for (team_id, _), quota in quota_of.items() if team_id == team.pk}
        if len(weights) == 1:
            spec["fairSharing"] = {"weight": _weight(weights.pop())}
        elif len(weights) > 1:
            differs.append(
                "Paddock's fair-share weights differ by pool for this team; Kueue has one weight per ClusterQueue, "
                "so none is set (Kueue's default, 1)"
            )
        name = team_queue_name(team.slug)
        if name in queue_names:
            name = dns_label(f"{team.slug}-{team.pk}")
        queue_names.add(name)
        meta = _metadata(name, {LABEL_TEAM: team.slug})
        if differs:
            meta["annotations"] = {ANNOTATION_DIFFERS: "; ".join(differs)}
        objects.append({"apiVersion": API_VERSION, "kind": "ClusterQueue", "metadata": meta, "spec": spec})
        namespace = namespace_of(team)
        if not _DNS_LABEL.match(namespace) or len(namespace) > 63:
            raise KueueExportError(f"team {team.slug}: namespace {namespace!r} is not a DNS-1123 label")
        local_queues.append(
            {
                "apiVersion": API_VERSION,
                "kind": "LocalQueue",
                "metadata": _metadata(name, {LABEL_TEAM: team.slug}, namespace=namespace),
                "spec": {"clusterQueue": name},
            }
        )
    return objects + local_queues


def _team_limits(
    team: Team,
    pool: Pool | None,
    quota_of: Mapping[tuple[int, int], Quota],
    pools_with_quotas: set[int],
    *,
    in_cohort: bool,
) -> dict[str, _Limits] | None:
    """The team's three resources in one flavor (``pool`` None: the CPU flavor of a cluster with
    no CPU pool), or None when the team may not use it at all."""
    not_counted = {resource: _Limits(NOT_COUNTED[resource]) for resource in COVERED_RESOURCES}
    gpu_pool = pool is not None and pool.accelerator_model_id is not None
    if pool is None or pool.pk not in pools_with_quotas:
        # A pool without quotas is open: any team, first come, on free capacity.
        limits = dict(not_counted)
        if not gpu_pool:
            limits[GPU_RESOURCE] = _Limits(0)  # CPU nodes hold no GPUs
        return limits
    quota = quota_of.get((team.pk, pool.pk))
    if quota is None and not in_cohort:
        return None  # no quota and no cohort to borrow from: refused
    if quota is None:
        # No quota of its own: it may borrow what its cohort lends, up to no ceiling of its own.
        counted = _Limits(0)
        memory = not_counted["memory"]
    else:
        counted = _counted(quota.guaranteed, quota.max, quota.lending_limit, in_cohort=in_cohort)
        memory = (
            not_counted["memory"]
            if quota.memory_guaranteed_gb is None
            else _counted(
                quota.memory_guaranteed_gb,
                quota.memory_max_gb,
                quota.memory_lending_limit_gb,
                in_cohort=in_cohort,
                unit="Gi",  # Paddock's "GB" of memory are GiB (jobs' memory_gb × 2**30 bytes)
            )
        )
    if gpu_pool:
        return {"cpu": not_counted["cpu"], "memory": memory, GPU_RESOURCE: counted}
    return {"cpu": counted, "memory": memory, GPU_RESOURCE: _Limits(0)}


# --- loading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class KueueInputs:
    """Everything ``kueue_objects`` needs for one cluster, loaded in a handful of queries."""

    pools: Sequence[Pool]
    quotas: Sequence[Quota]
    cohorts: Sequence[Cohort]
    teams: Sequence[Team]
    policies: Mapping[int, TeamPolicy] = field(default_factory=dict)


def load_kueue_inputs(cluster: Cluster) -> KueueInputs:
    """The cluster's pools and quotas, and the teams of its organisation with their cohorts and
    policies."""
    from apps.quotas.models import Cohort, Pool, Quota
    from apps.quotas.models import TeamPolicy as StoredPolicy
    from apps.tenancy.models import Team

    pools = list(Pool.objects.filter(cluster=cluster).select_related("accelerator_model"))
    quotas = list(Quota.objects.filter(pool__cluster=cluster))
    teams = list(Team.objects.filter(organisation_id=cluster.organisation_id))
    cohorts = list(Cohort.objects.filter(organisation_id=cluster.organisation_id))
    policies = {row.team_id: TeamPolicy.from_row(row) for row in StoredPolicy.objects.filter(team__in=teams)}
    return KueueInputs(pools=pools, quotas=quotas, cohorts=cohorts, teams=teams, policies=policies)
