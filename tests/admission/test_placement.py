"""Gang placement on a pool snapshot: the rules one at a time, then a property test that checks
every answer against a brute-force scan of the same rules."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from apps.admission.placement import NodeShare, NodeSlot, NoPlacement, Placement, PoolSnapshot

HALVES = (frozenset(range(4)), frozenset(range(4, 8)))


def slot(node_id: int, free: Iterable[int], fabrics: Iterable[int] = (), domains=HALVES) -> NodeSlot:
    return NodeSlot(
        node_id=node_id,
        hostname=f"gpu-{node_id:03d}",
        free=set(free),
        fabrics=frozenset(fabrics),
        domains=domains,
        address=f"10.0.0.{node_id}",
    )


def pool(*nodes: NodeSlot, strategy: str = "pack", **kwargs) -> PoolSnapshot:
    return PoolSnapshot(nodes, strategy=strategy, **kwargs)


def layout(result: Placement | NoPlacement) -> list[tuple[int, tuple[int, ...]]]:
    assert isinstance(result, Placement), result
    return [(share.node_id, share.gpus) for share in result.shares]


def free_sets(snapshot: PoolSnapshot, node_ids: Iterable[int]) -> dict[int, set[int]]:
    return {node_id: set(snapshot.node(node_id).free) for node_id in node_ids}


# --- one node ---------------------------------------------------------------------------------


def test_a_job_that_fits_one_node_gets_one_node_with_its_address() -> None:
    snapshot = pool(slot(1, range(8), fabrics=[1]), slot(2, range(8), fabrics=[1]))
    result = snapshot.place(4)
    assert isinstance(result, Placement)
    assert result.gpus == 4
    assert result.as_json() == [{"node_id": 1, "hostname": "gpu-001", "address": "10.0.0.1", "gpus": [0, 1, 2, 3]}]


def test_pack_takes_the_tightest_node_and_spread_the_emptiest() -> None:
    nodes = [slot(1, range(8)), slot(2, [0, 1, 2]), slot(3, range(5)), slot(4, [4, 5, 6])]
    assert layout(pool(*nodes, strategy="pack").place(3)) == [(2, (0, 1, 2))]  # 3 free, tie with 4 → lower id
    assert layout(pool(*nodes, strategy="spread").place(3)) == [(1, (0, 1, 2))]
    assert layout(pool(*nodes, strategy="pack").place(4)) == [(3, (0, 1, 2, 3))]


def test_an_nvlink_domain_is_preferred_inside_a_node() -> None:
    snapshot = pool(slot(1, [1, 2, 3, 4, 5]))
    assert layout(snapshot.place(3)) == [(1, (1, 2, 3))]
    # Two fit in both domains: the domain with fewer free wins, so {1, 2, 3} stays whole.
    assert layout(snapshot.place(2)) == [(1, (4, 5))]
    # No domain has four free: the lowest free indices.
    assert layout(snapshot.place(4)) == [(1, (1, 2, 3, 4))]
    assert layout(snapshot.place(5)) == [(1, (1, 2, 3, 4, 5))]


def test_among_equally_full_nodes_one_where_the_job_stays_in_one_domain_wins() -> None:
    split, whole = slot(1, [0, 1, 4, 5]), slot(2, [4, 5, 6, 7])
    assert layout(pool(split, whole).place(4)) == [(2, (4, 5, 6, 7))]
    assert layout(pool(split, whole).place(2)) == [(1, (0, 1))]  # both fit in a domain → lowest id


def test_nodes_without_recorded_domains_take_the_lowest_indices() -> None:
    assert layout(pool(slot(1, [7, 2, 5, 0], domains=())).place(3)) == [(1, (0, 2, 5))]


def test_a_cpu_only_job_gets_an_empty_placement() -> None:
    result = pool(slot(1, range(8))).place(0)
    assert result == Placement(())
    assert result.gpus == 0
    assert result.as_json() == []


def test_bad_asks_and_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        pool(slot(1, range(8))).place(-1)
    with pytest.raises(ValueError, match="strategy"):
        pool(slot(1, range(8)), strategy="random")
    with pytest.raises(ValueError, match="twice"):
        pool(slot(1, range(8)), slot(1, range(8)))


# --- several nodes ----------------------------------------------------------------------------


def test_a_multi_node_job_uses_the_fewest_nodes_of_one_fabric() -> None:
    nodes = [slot(1, range(8), [1]), slot(2, range(4), [1]), slot(3, range(8), [1]), slot(4, range(8), [1])]
    # 20 GPUs: two full nodes (lowest ids) whole, the remaining 4 on the tightest node (pack)…
    assert layout(pool(*nodes, strategy="pack").place(20)) == [
        (1, tuple(range(8))),
        (3, tuple(range(8))),
        (2, (0, 1, 2, 3)),
    ]
    # … or on the emptiest one left (spread), inside one NVLink domain.
    assert layout(pool(*nodes, strategy="spread").place(20)) == [
        (1, tuple(range(8))),
        (3, tuple(range(8))),
        (4, (0, 1, 2, 3)),
    ]


def test_a_node_that_fits_alone_is_always_preferred_to_several() -> None:
    snapshot = pool(slot(1, range(4), [1]), slot(2, range(4), [1]), slot(3, range(6)))
    assert layout(snapshot.place(5)) == [(3, (0, 1, 2, 3, 4))]
    assert layout(snapshot.place(7)) == [(1, (0, 1, 2, 3)), (2, (0, 1, 2))]


def test_the_fabric_that_needs_fewer_nodes_wins_even_with_fewer_free_gpus() -> None:
    dense = [slot(1, range(8), [10]), slot(2, range(8), [10])]
    sparse = [slot(i, range(5), [20]) for i in range(3, 9)]  # 30 free, but 16 needs 4 nodes
    assert layout(pool(*dense, *sparse).place(16)) == [(1, tuple(range(8))), (2, tuple(range(8)))]


def test_fabrics_that_fit_with_as_many_nodes_tie_on_free_gpus_by_strategy() -> None:
    small = [slot(1, range(8), [10]), slot(2, range(8), [10])]
    large = [slot(3, range(8), [20]), slot(4, range(8), [20]), slot(5, range(8), [20])]
    assert {share.node_id for share in pool(*small, *large, strategy="pack").place(16).shares} == {1, 2}
    assert {share.node_id for share in pool(*small, *large, strategy="spread").place(16).shares} == {3, 4}


def test_nodes_on_different_fabrics_are_never_combined() -> None:
    snapshot = pool(
        slot(1, range(8), [1]), slot(2, range(4), [2]), gpu_name="H100 SXM", fabric_names={1: "ib-a", 2: "ib-b"}
    )
    before = free_sets(snapshot, [1, 2])
    result = snapshot.place(12)
    assert result == NoPlacement(
        "no fabric joins nodes with 12 free H100 SXM GPUs; the most on one fabric is 8 (fabric ib-a)", 8
    )
    assert free_sets(snapshot, [1, 2]) == before and snapshot.free_gpus == 12


def test_a_node_on_two_fabrics_joins_either() -> None:
    snapshot = pool(slot(1, range(8), [1]), slot(2, range(8), [1, 2]), slot(3, range(8), [2]))
    first = snapshot.place(16)
    assert layout(first) == [(1, tuple(range(8))), (2, tuple(range(8)))]
    snapshot.take(first)
    assert isinstance(snapshot.place(16), NoPlacement)  # 1 and 3 share no fabric
    snapshot.give_back(Placement((NodeShare(2, "gpu-002", "", tuple(range(8))),)))
    assert layout(snapshot.place(16)) == [(2, tuple(range(8))), (3, tuple(range(8)))]


def test_nodes_without_a_fabric_take_single_node_jobs_only() -> None:
    snapshot = pool(slot(1, range(8)), slot(2, range(8)), gpu_name="H100 SXM")
    assert layout(snapshot.place(8)) == [(1, tuple(range(8)))]
    refused = snapshot.place(16)
    assert isinstance(refused, NoPlacement)
    assert refused.reason == (
        "no node has 16 free H100 SXM GPUs (the most on one node is 8), "
        "and nodes without a recorded network fabric take single-node jobs only"
    )
    assert refused.largest_block == 8


def test_the_reason_counts_gpus_stranded_on_nodes_without_a_fabric() -> None:
    snapshot = pool(slot(1, range(8), [3]), slot(2, range(6), [3]), slot(3, range(8)), fabric_names={3: "roce-1"})
    refused = snapshot.place(16)
    assert isinstance(refused, NoPlacement)
    assert refused.reason == (
        "no fabric joins nodes with 16 free GPUs; the most on one fabric is 14 (fabric roce-1); "
        "8 more sit on nodes without a recorded network fabric, which take single-node jobs only"
    )
    assert refused.largest_block == 14


def test_a_pool_without_enough_free_gpus_says_so() -> None:
    refused = pool(slot(1, [0], [1]), slot(2, [0, 1], [1]), gpu_name="H200").place(4)
    assert refused == NoPlacement("the pool has 3 free H200 GPUs, fewer than the 4 asked; the most on one node is 2", 3)
    assert pool(slot(1, [])).place(1) == NoPlacement(
        "the pool has 0 free GPUs, fewer than the 1 asked; the most on one node is 0", 0
    )
    assert pool().place(1) == NoPlacement("the pool has no schedulable nodes", 0)


# --- take, give back, copy --------------------------------------------------------------------


def test_take_then_give_back_restores_the_pool() -> None:
    snapshot = pool(slot(1, range(8), [1]), slot(2, range(8), [1]), slot(3, range(5), [1]))
    before = free_sets(snapshot, [1, 2, 3])
    placement = snapshot.place(20)
    assert isinstance(placement, Placement) and placement.gpus == 20
    snapshot.take(placement)
    assert snapshot.free_gpus == 1
    assert snapshot.place(2) == NoPlacement(
        "the pool has 1 free GPU, fewer than the 2 asked; the most on one node is 1", 1
    )
    snapshot.give_back(placement)
    assert free_sets(snapshot, [1, 2, 3]) == before and snapshot.free_gpus == 21
    assert snapshot.place(20) == placement


def test_taking_a_gpu_that_is_not_free_raises_and_changes_nothing() -> None:
    snapshot = pool(slot(1, range(8), [1]), slot(2, [0, 1], [1]))
    stale = Placement((NodeShare(1, "gpu-001", "", (0, 1)), NodeShare(2, "gpu-002", "", (1, 2))))
    with pytest.raises(ValueError, match=r"GPUs \[2\] on gpu-002 are not free"):
        snapshot.take(stale)
    assert free_sets(snapshot, [1, 2]) == {1: set(range(8)), 2: {0, 1}} and snapshot.free_gpus == 10

    placement = snapshot.place(8)
    snapshot.take(placement)
    with pytest.raises(ValueError, match="not free"):
        snapshot.take(placement)  # a second admission of the same decision
    with pytest.raises(ValueError, match="not in this pool"):
        snapshot.take(Placement((NodeShare(99, "gpu-099", "", (0,)),)))
    assert snapshot.free_gpus == 2


def test_giving_back_free_gpus_raises_and_foreign_nodes_are_skipped() -> None:
    snapshot = pool(slot(1, [0, 1, 2, 3]))
    with pytest.raises(ValueError, match="already free"):
        snapshot.give_back(Placement((NodeShare(1, "gpu-001", "", (3, 4)),)))
    assert snapshot.free_gpus == 4
    # A preempted job's GPUs on a draining node (outside the snapshot) do not become placeable.
    snapshot.give_back(Placement((NodeShare(1, "gpu-001", "", (4, 5)), NodeShare(7, "gpu-007", "", (0, 1)))))
    assert snapshot.free_gpus == 6 and snapshot.total_nodes == 1


def test_a_copy_is_independent_of_the_original() -> None:
    snapshot = pool(slot(1, range(8), [1]), slot(2, range(8), [1]))
    trial = snapshot.copy()
    trial.take(trial.place(16))
    assert trial.free_gpus == 0 and isinstance(trial.place(1), NoPlacement)
    assert snapshot.free_gpus == 16 and snapshot.node(1).free == set(range(8))
    assert layout(snapshot.place(16)) == [(1, tuple(range(8))), (2, tuple(range(8)))]


def test_placements_do_not_depend_on_the_order_nodes_arrive_in() -> None:
    nodes = [slot(i, range(i % 9), [i % 3]) for i in range(1, 40)]
    forward = pool(*nodes)
    backward = pool(*(slot(n.node_id, n.free, n.fabrics) for n in reversed(nodes)))
    for gpus in [1, 3, 8, 12, 20, 5, 2, 16, 8, 7]:
        a, b = forward.place(gpus), backward.place(gpus)
        assert a == b
        if isinstance(a, Placement):
            forward.take(a)
            backward.take(b)


# --- property: the indexed snapshot agrees with a brute-force scan of the rules -------------


def brute_gpus(node: NodeSlot, need: int) -> tuple[int, ...]:
    fitting = sorted(
        (len(node.free & domain), min(node.free & domain), sorted(node.free & domain))
        for domain in node.domains
        if len(node.free & domain) >= need
    )
    return tuple(fitting[0][2][:need]) if fitting else tuple(sorted(node.free)[:need])


def brute_node(candidates: list[NodeSlot], need: int, spread: bool) -> NodeSlot | None:
    fits = [node for node in candidates if len(node.free) >= need]
    if not fits:
        return None

    def rank(node: NodeSlot) -> tuple[int, bool, int]:
        in_domain = any(len(node.free & domain) >= need for domain in node.domains)
        return (-len(node.free) if spread else len(node.free), not in_domain, node.node_id)

    return min(fits, key=rank)


def brute_place(nodes: list[NodeSlot], gpus: int, spread: bool) -> list[tuple[int, tuple[int, ...]]] | None:
    if gpus == 0:
        return []
    single = brute_node(nodes, gpus, spread)
    if single is not None:
        return [(single.node_id, brute_gpus(single, gpus))]
    options = []
    for fabric in sorted({f for node in nodes for f in node.fabrics}):
        members = sorted((n for n in nodes if fabric in n.fabrics), key=lambda n: (-len(n.free), n.node_id))
        total = sum(len(n.free) for n in members)
        if total < gpus:
            continue
        count = next(k for k in range(1, len(members) + 1) if sum(len(n.free) for n in members[:k]) >= gpus)
        options.append(((count, -total if spread else total, fabric), members, count))
    if not options:
        return None
    _, members, count = min(options, key=lambda option: option[0])
    whole = members[: count - 1]
    remainder = gpus - sum(len(n.free) for n in whole)
    last = brute_node(members[count - 1 :], remainder, spread)
    assert last is not None
    return [(n.node_id, tuple(sorted(n.free))) for n in whole] + [(last.node_id, brute_gpus(last, remainder))]


@st.composite
def pools(draw: st.DrawFn) -> tuple[list[NodeSlot], str]:
    count = draw(st.integers(0, 12))
    ids = draw(st.lists(st.integers(1, 500), min_size=count, max_size=count, unique=True))
    nodes = []
    for node_id in ids:
        free = draw(st.sets(st.integers(0, 7)))
        fabrics = draw(st.frozensets(st.integers(1, 3), max_size=2))
        domains = draw(st.sampled_from([HALVES, (), (frozenset({0, 1}), frozenset({2, 3}), frozenset(range(4, 8)))]))
        nodes.append(slot(node_id, free, fabrics, domains))
    return nodes, draw(st.sampled_from(["pack", "spread"]))


operations = st.lists(
    st.one_of(
        st.tuples(st.just("place"), st.integers(0, 24), st.booleans()),
        st.tuples(st.just("give_back"), st.integers(0, 20), st.booleans()),
        st.tuples(st.just("copy"), st.integers(0, 40), st.booleans()),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pools(), operations)
def test_random_sequences_never_double_allocate_and_match_the_rules(
    world: tuple[list[NodeSlot], str], ops: list[tuple[str, int, bool]]
) -> None:
    nodes, strategy = world
    initial = {node.node_id: set(node.free) for node in nodes}
    snapshot = PoolSnapshot([slot(n.node_id, n.free, n.fabrics, n.domains) for n in nodes], strategy=strategy)
    owner: dict[tuple[int, int], int] = {}  # (node, gpu) → the admitted placement holding it
    admitted: list[Placement] = []

    for op, number, flag in ops:
        if op == "place":
            current = [snapshot.node(n.node_id) for n in nodes]
            free_before = {n.node_id: set(n.free) for n in current}
            result = snapshot.place(number)
            expected = brute_place(current, number, strategy == "spread")
            assert {n.node_id: n.free for n in current} == free_before  # place reserves nothing
            if expected is None:
                event("refused")
                assert isinstance(result, NoPlacement) and result.reason
                continue
            event("multi-node" if len(expected) > 1 else "single node" if expected else "no GPUs")
            assert layout(result) == expected
            assert result.gpus == number
            if len(result.shares) > 1:
                assert frozenset.intersection(*(snapshot.node(i).fabrics for i in result.node_ids))
            if flag:
                snapshot.take(result)
                for share in result.shares:
                    for gpu in share.gpus:
                        assert (share.node_id, gpu) not in owner
                        owner[share.node_id, gpu] = len(admitted)
                admitted.append(result)
        elif op == "give_back" and admitted:
            placement = admitted.pop(number % len(admitted))
            snapshot.give_back(placement)
            for share in placement.shares:
                for gpu in share.gpus:
                    del owner[share.node_id, gpu]
            if flag and placement.shares:
                with pytest.raises(ValueError, match="already free"):
                    snapshot.give_back(placement)
        elif op == "copy":
            trial = snapshot.copy()
            result = trial.place(number)
            if isinstance(result, Placement):
                trial.take(result)  # the what-if must leave the real snapshot alone (checked below)
                assert trial.free_gpus == snapshot.free_gpus - number

        held = {(node_id, gpu) for node_id, gpu in owner}
        for node_id, free in initial.items():
            mine = {gpu for n, gpu in held if n == node_id}
            assert snapshot.node(node_id).free == free - mine
            assert not snapshot.node(node_id).free & mine
        assert snapshot.free_gpus == sum(len(snapshot.node(i).free) for i in initial)
        assert snapshot.free_gpus == sum(len(f) for f in initial.values()) - len(owner)
