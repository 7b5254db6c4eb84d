"""Gang placement of GPU jobs on a snapshot of one pool's schedulable nodes (no Django here).

The scheduler builds one ``PoolSnapshot`` per pass and asks it, many times, where an N-GPU job
could go; when it admits one it ``take``s the GPUs. The rules, in order:

* all N GPUs at once or none (a failed ``place`` or ``take`` changes nothing);
* one node whenever some node has N free GPUs; the node is chosen by the pool's strategy —
  ``pack`` takes the node whose free count is the smallest that fits (big holes stay whole),
  ``spread`` the node with the most free — then a node where the job fits inside one NVLink
  domain, then the lowest node id;
* otherwise several nodes that all share one network fabric (nodes with no fabric take
  single-node jobs only): as few nodes as possible, the fullest ones whole, the remainder on
  one more node chosen by the strategy; the fabric where the job needs the fewest nodes wins,
  ties to the fabric with the most free GPUs (spread) or the fewest (pack), then the lowest id;
* within a node, the GPUs of one NVLink domain when one has enough free (the domain with the
  fewest free that still fits), otherwise the lowest free indices.

A decision must stay within milliseconds on thousands of nodes, so nodes are never scanned:
each group (the whole pool, and each fabric) keeps its nodes in buckets keyed by free count
and by the most free GPUs inside one NVLink domain, each bucket a sorted list of node ids;
``take`` and ``give_back`` move the nodes they touch between buckets.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

PACK = "pack"
SPREAD = "spread"
STRATEGIES = (PACK, SPREAD)


@dataclass
class NodeSlot:
    """One schedulable node as the snapshot sees it; ``free`` is mutated by take/give_back."""

    node_id: int
    hostname: str
    free: set[int]
    fabrics: frozenset[int] = frozenset()
    domains: tuple[frozenset[int], ...] = ()
    address: str = ""


@dataclass(frozen=True)
class NodeShare:
    """The GPUs one placement uses on one node."""

    node_id: int
    hostname: str
    address: str
    gpus: tuple[int, ...]

    def as_json(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "hostname": self.hostname, "address": self.address, "gpus": list(self.gpus)}


@dataclass(frozen=True)
class Placement:
    """Where a job goes: one share per node, the fullest first (a CPU-only job has none)."""

    shares: tuple[NodeShare, ...] = ()

    @property
    def gpus(self) -> int:
        return sum(len(share.gpus) for share in self.shares)

    @property
    def node_ids(self) -> tuple[int, ...]:
        return tuple(share.node_id for share in self.shares)

    def as_json(self) -> list[dict[str, Any]]:
        return [share.as_json() for share in self.shares]


@dataclass(frozen=True)
class NoPlacement:
    """Why a job cannot go anywhere now; ``reason`` is shown as the job's pending reason."""

    reason: str
    largest_block: int


_Key = tuple[int, int]  # (free GPUs on the node, most free GPUs inside one NVLink domain)


@dataclass
class _Group:
    """The nodes of the whole pool or of one fabric, bucketed by free count then domain block."""

    buckets: dict[int, dict[int, list[int]]] = field(default_factory=dict)
    free: int = 0

    def add(self, node_id: int, key: _Key) -> None:
        count, block = key
        if count:
            insort(self.buckets.setdefault(count, {}).setdefault(block, []), node_id)
            self.free += count

    def remove(self, node_id: int, key: _Key) -> None:
        count, block = key
        if not count:
            return
        by_block = self.buckets[count]
        ids = by_block[block]
        del ids[bisect_left(ids, node_id)]
        if not ids:
            del by_block[block]
            if not by_block:
                del self.buckets[count]
        self.free -= count

    @property
    def largest(self) -> int:
        return max(self.buckets, default=0)

    def pick(self, need: int, *, spread: bool, exclude: Collection[int] = ()) -> int | None:
        """The node for ``need`` GPUs by the strategy: the tightest fit (pack) or the most free
        (spread), then one whose NVLink domain fits, then the lowest id."""
        for count in sorted((c for c in self.buckets if c >= need), reverse=spread):
            anywhere: int | None = None
            in_one_domain: int | None = None
            for block, ids in self.buckets[count].items():
                first = next((node_id for node_id in ids if node_id not in exclude), None)
                if first is None:
                    continue
                if anywhere is None or first < anywhere:
                    anywhere = first
                if block >= need and (in_one_domain is None or first < in_one_domain):
                    in_one_domain = first
            if in_one_domain is not None:
                return in_one_domain
            if anywhere is not None:
                return anywhere
        return None

    def nodes_needed(self, need: int) -> int | None:
        """The fewest nodes whose free GPUs add up to ``need`` (the fullest nodes first)."""
        gathered = nodes = 0
        for count in sorted(self.buckets, reverse=True):
            size = sum(len(ids) for ids in self.buckets[count].values())
            if gathered + count * size >= need:
                return nodes + -(-(need - gathered) // count)
            gathered += count * size
            nodes += size
        return None

    def fullest(self, how_many: int) -> list[int]:
        """The ``how_many`` nodes with the most free GPUs, ties to the lowest id."""
        chosen: list[int] = []
        for count in sorted(self.buckets, reverse=True):
            for node_id in heapq.merge(*self.buckets[count].values()):
                if len(chosen) == how_many:
                    return chosen
                chosen.append(node_id)
        return chosen

    def copy(self) -> _Group:
        return _Group(
            {count: {block: list(ids) for block, ids in by_block.items()} for count, by_block in self.buckets.items()},
            self.free,
        )


def _key(node: NodeSlot) -> _Key:
    return len(node.free), max((len(node.free & domain) for domain in node.domains), default=0)


def _choose_gpus(node: NodeSlot, need: int) -> tuple[int, ...]:
    """``need`` free GPU indices of the node, inside one NVLink domain when one has enough."""
    fitting = [sorted(node.free & domain) for domain in node.domains]
    fitting = [free for free in fitting if len(free) >= need]
    if fitting:
        return tuple(min(fitting, key=lambda free: (len(free), free[0]))[:need])
    return tuple(sorted(node.free)[:need])


class PoolSnapshot:
    """Free GPUs of one pool (one cluster × one accelerator model) for one scheduling pass."""

    def __init__(
        self,
        nodes: Iterable[NodeSlot],
        *,
        strategy: str = PACK,
        gpu_name: str = "GPU",
        fabric_names: Mapping[int, str] | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown placement strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
        self.strategy = strategy
        self.gpu_name = gpu_name
        self.fabric_names: dict[int, str] = dict(fabric_names or {})
        self._nodes: dict[int, NodeSlot] = {}
        self._keys: dict[int, _Key] = {}
        self._all = _Group()
        self._fabrics: dict[int, _Group] = {}
        self._unfabricked_free = 0
        # Ascending ids make every insort an append: building is O(nodes log nodes).
        for node in sorted(nodes, key=lambda node: node.node_id):
            if node.node_id in self._nodes:
                raise ValueError(f"node {node.node_id} appears twice in the snapshot")
            self._nodes[node.node_id] = node
            for fabric_id in node.fabrics:
                self._fabrics.setdefault(fabric_id, _Group())
            self._index(node)

    # --- what the scheduler reads -------------------------------------------------------

    @property
    def free_gpus(self) -> int:
        return self._all.free

    @property
    def total_nodes(self) -> int:
        return len(self._nodes)

    @property
    def largest_block(self) -> int:
        """The most free GPUs on one node."""
        return self._all.largest

    @property
    def largest_gang(self) -> int:
        """The most free GPUs one job could get: on one node, or on nodes that share a fabric."""
        return max(self._all.largest, max((group.free for group in self._fabrics.values()), default=0))

    def node(self, node_id: int) -> NodeSlot:
        return self._nodes[node_id]

    def place(self, gpus: int) -> Placement | NoPlacement:
        """Where a ``gpus``-GPU job would go now; reserves nothing (see ``take``)."""
        if gpus < 0:
            raise ValueError("a job cannot ask for a negative number of GPUs")
        if gpus == 0:
            return Placement()
        if not self._nodes:
            return NoPlacement("the pool has no schedulable nodes", 0)
        spread = self.strategy == SPREAD
        node_id = self._all.pick(gpus, spread=spread)
        if node_id is not None:
            node = self._nodes[node_id]
            return Placement((self._share(node, _choose_gpus(node, gpus)),))
        fabric_id = self._best_fabric(gpus, spread=spread)
        if fabric_id is None:
            return self._no_placement(gpus)
        return self._place_across(self._fabrics[fabric_id], gpus, spread=spread)

    # --- what the scheduler changes -----------------------------------------------------

    def take(self, placement: Placement) -> None:
        """Mark the placement's GPUs taken; all of them or, with ValueError, none."""
        changes: list[tuple[NodeSlot, set[int]]] = []
        for node, gpus in self._resolve(placement, missing_ok=False):
            busy = gpus - node.free
            if busy:
                raise ValueError(f"GPUs {sorted(busy)} on {node.hostname} are not free")
            changes.append((node, gpus))
        for node, gpus in changes:
            self._unindex(node)
            node.free -= gpus
            self._index(node)

    def give_back(self, placement: Placement) -> None:
        """Return the placement's GPUs (a finished or preempted job). Shares on nodes outside the
        snapshot (cordoned, draining, down) are skipped: their GPUs are not schedulable."""
        changes: list[tuple[NodeSlot, set[int]]] = []
        for node, gpus in self._resolve(placement, missing_ok=True):
            already = gpus & node.free
            if already:
                raise ValueError(f"GPUs {sorted(already)} on {node.hostname} are already free")
            changes.append((node, gpus))
        for node, gpus in changes:
            self._unindex(node)
            node.free |= gpus
            self._index(node)

    def copy(self) -> PoolSnapshot:
        """An independent snapshot for what-if trials (preemption); O(nodes)."""
        clone = PoolSnapshot.__new__(PoolSnapshot)
        clone.strategy = self.strategy
        clone.gpu_name = self.gpu_name
        clone.fabric_names = dict(self.fabric_names)
        clone._nodes = {node_id: replace(node, free=set(node.free)) for node_id, node in self._nodes.items()}
        clone._keys = dict(self._keys)
        clone._all = self._all.copy()
        clone._fabrics = {fabric_id: group.copy() for fabric_id, group in self._fabrics.items()}
        clone._unfabricked_free = self._unfabricked_free
        return clone

    # --- internals ------------------------------------------------------------------------

    def _index(self, node: NodeSlot) -> None:
        key = self._keys[node.node_id] = _key(node)
        self._all.add(node.node_id, key)
        for fabric_id in node.fabrics:
            self._fabrics[fabric_id].add(node.node_id, key)
        if not node.fabrics:
            self._unfabricked_free += key[0]

    def _unindex(self, node: NodeSlot) -> None:
        key = self._keys.pop(node.node_id)
        self._all.remove(node.node_id, key)
        for fabric_id in node.fabrics:
            self._fabrics[fabric_id].remove(node.node_id, key)
        if not node.fabrics:
            self._unfabricked_free -= key[0]

    def _resolve(self, placement: Placement, *, missing_ok: bool) -> list[tuple[NodeSlot, set[int]]]:
        resolved: list[tuple[NodeSlot, set[int]]] = []
        seen: set[int] = set()
        for share in placement.shares:
            if share.node_id in seen:
                raise ValueError(f"node {share.node_id} appears twice in the placement")
            seen.add(share.node_id)
            gpus = set(share.gpus)
            if len(gpus) != len(share.gpus):
                raise ValueError(f"a GPU index repeats in the share of node {share.node_id}")
            node = self._nodes.get(share.node_id)
            if node is None:
                if missing_ok:
                    continue
                raise ValueError(f"node {share.node_id} ({share.hostname}) is not in this pool's snapshot")
            resolved.append((node, gpus))
        return resolved

    def _share(self, node: NodeSlot, gpus: Iterable[int]) -> NodeShare:
        return NodeShare(node.node_id, node.hostname, node.address, tuple(sorted(gpus)))

    def _best_fabric(self, gpus: int, *, spread: bool) -> int | None:
        best: tuple[int, int, int] | None = None
        for fabric_id, group in self._fabrics.items():
            if group.free < gpus:
                continue
            nodes = group.nodes_needed(gpus)
            if nodes is None:
                continue
            rank = (nodes, -group.free if spread else group.free, fabric_id)
            if best is None or rank < best:
                best = rank
        return None if best is None else best[2]

    def _place_across(self, group: _Group, gpus: int, *, spread: bool) -> Placement:
        nodes = group.nodes_needed(gpus)
        assert nodes is not None  # _best_fabric chose a fabric where it fits
        whole = [self._nodes[node_id] for node_id in group.fullest(nodes - 1)]
        remainder = gpus - sum(len(node.free) for node in whole)
        # The nodes-th fullest node has at least the remainder free, so a last node exists.
        last_id = group.pick(remainder, spread=spread, exclude={node.node_id for node in whole})
        assert last_id is not None
        last = self._nodes[last_id]
        shares = [self._share(node, node.free) for node in whole]
        shares.append(self._share(last, _choose_gpus(last, remainder)))
        return Placement(tuple(shares))

    def _gpus(self, count: int) -> str:
        plural = "" if count == 1 else "s"
        name = self.gpu_name.strip()
        if not name or name.upper() == "GPU":
            return f"GPU{plural}"
        return f"{name} GPU{plural}"

    def _no_placement(self, gpus: int) -> NoPlacement:
        largest_node = self._all.largest
        fabric = max(self._fabrics.items(), key=lambda item: (item[1].free, -item[0]), default=None)
        largest_fabric = fabric[1].free if fabric else 0
        largest = max(largest_node, largest_fabric)
        if self.free_gpus < gpus:
            free = self.free_gpus
            return NoPlacement(
                f"the pool has {free} free {self._gpus(free)}, fewer than the {gpus} asked; "
                f"the most on one node is {largest_node}",
                largest,
            )
        if fabric is None or largest_fabric == 0:
            return NoPlacement(
                f"no node has {gpus} free {self._gpus(gpus)} (the most on one node is {largest_node}), "
                "and nodes without a recorded network fabric take single-node jobs only",
                largest,
            )
        fabric_id = fabric[0]
        name = self.fabric_names.get(fabric_id, f"#{fabric_id}")
        reason = (
            f"no fabric joins nodes with {gpus} free {self._gpus(gpus)}; "
            f"the most on one fabric is {largest_fabric} (fabric {name})"
        )
        if self._unfabricked_free:
            reason += (
                f"; {self._unfabricked_free} more sit on nodes without a recorded network fabric, "
                "which take single-node jobs only"
            )
        return NoPlacement(reason, largest)
