"""Where attempts ran, in words a person reads: the stored placement joined with the inventory.

The scheduler stores each attempt's placement as JSON (``[{"node_id", "hostname", "address",
"gpus"}]``, one share per node). The API shows it enriched with what the inventory knows of
those nodes now: each GPU's UUID, the accelerator model and the node's fabric. The lookups are
batched over every attempt of a response (three queries, however many attempts and nodes), and
a node deleted since keeps its stored hostname and address with ``node_id`` null.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

from apps.inventory.models import Accelerator, NetworkFabric, Node

FABRIC_LABELS = {"infiniband": "InfiniBand", "roce": "RoCE", "ethernet": "Ethernet"}


def _node_id(entry: Mapping[str, Any]) -> int | None:
    value = entry.get("node_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _gpus(entry: Mapping[str, Any]) -> list[int]:
    return [gpu for gpu in entry.get("gpus") or () if isinstance(gpu, int) and not isinstance(gpu, bool)]


def _shares(placement: Any) -> list[Mapping[str, Any]]:
    return [entry for entry in placement or () if isinstance(entry, Mapping)] if isinstance(placement, list) else []


def describe_fabric(name: str, kind: str, gbps: float, rdma: bool) -> str:
    """``"ib-a (InfiniBand, 400 Gbit/s, RDMA)"``."""
    speed = f"{gbps:g} Gbit/s"
    return f"{name} ({FABRIC_LABELS.get(kind, kind)}, {speed}{', RDMA' if rdma else ''})"


def enrich_placements(placements: Sequence[Any]) -> list[list[dict[str, Any]]]:
    """Each placement (an attempt's stored JSON) as the API shows it, in the same order.

    Three queries for all of them together (none when no placement names a node): the nodes,
    their GPUs with their catalog models, and their fabrics.
    """
    shares = [_shares(placement) for placement in placements]
    node_ids = sorted({node_id for entries in shares for entry in entries if (node_id := _node_id(entry)) is not None})
    cluster_of: dict[int, int] = {}
    gpus: dict[int, dict[int, tuple[str, str]]] = defaultdict(dict)
    fabrics: dict[int, str] = {}
    if node_ids:
        cluster_of = dict(Node.objects.filter(pk__in=node_ids).values_list("id", "cluster_id"))
        for row in (
            Accelerator.objects.filter(node_id__in=node_ids)
            .order_by()
            .values_list("node_id", "index", "uuid", "model__name", "reported_name")
        ):
            node_id, index, uuid, model, reported = row
            gpus[node_id][index] = (uuid, model or reported or "")
        # A node on several fabrics: the fastest speaks for it (the one its gang traffic takes).
        memberships = (
            NetworkFabric.nodes.through.objects.filter(node_id__in=node_ids)
            .order_by("node_id", "-networkfabric__rdma", "-networkfabric__gbps_per_node", "networkfabric__name")
            .values_list(
                "node_id",
                "networkfabric__name",
                "networkfabric__kind",
                "networkfabric__gbps_per_node",
                "networkfabric__rdma",
            )
        )
        for node_id, name, kind, gbps, rdma in memberships:
            fabrics.setdefault(node_id, describe_fabric(name, kind, gbps, rdma))
    return [[_enrich(entry, cluster_of, gpus, fabrics) for entry in entries] for entries in shares]


def _enrich(
    entry: Mapping[str, Any],
    cluster_of: Mapping[int, int],
    gpus: Mapping[int, Mapping[int, tuple[str, str]]],
    fabrics: Mapping[int, str],
) -> dict[str, Any]:
    node_id = _node_id(entry)
    known = node_id if node_id is not None and node_id in cluster_of else None  # None: removed since
    indexes = _gpus(entry)
    found = gpus.get(known, {}) if known is not None else {}
    models = list(dict.fromkeys(found[index][1] for index in indexes if index in found and found[index][1]))
    return {
        "node_id": known,
        "hostname": str(entry.get("hostname") or ""),
        "address": str(entry.get("address") or ""),
        "gpus": indexes,
        "gpu_uuids": [found[index][0] if index in found else "" for index in indexes],
        "accelerator_model": ", ".join(models),
        "fabric": fabrics.get(known, "") if known is not None else "",
        "cluster_id": cluster_of[known] if known is not None else None,
    }


# SQLite: is there a share of the attempt's placement on the node (%s)?
SQLITE_ON_NODE = (
    'EXISTS (SELECT 1 FROM json_each("jobs_attempt"."placement") AS share '
    "WHERE json_extract(share.value, '$.node_id') = %s)"
)


def on_node(node_id: int, *, vendor: str | None = None) -> Q:
    """Attempts whose placement has a share on the node.

    PostgreSQL: JSON containment (``placement @> '[{"node_id": N}]'``). SQLite (the embedded
    default of ``make run``) has no containment operator: ``json_each`` over the shares instead.
    Neither is indexed (a GIN index on ``placement`` would need a migration): both read the
    attempts of the caller's teams once per page.
    """
    if (vendor or connection.vendor) == "postgresql":
        return Q(placement__contains=[{"node_id": node_id}])
    return Q(RawSQL(SQLITE_ON_NODE, (node_id,), output_field=BooleanField()))  # noqa: S611 (a constant; the id bound)


def gpus_on_node(placement: Any, node_id: int) -> list[int]:
    """The GPU indexes a placement holds on one node."""
    return [gpu for entry in _shares(placement) if _node_id(entry) == node_id for gpu in _gpus(entry)]
