"""Benchmark (``make bench``): Kubernetes dispatch and discovery against the emulated API server
(kmock over real HTTP, ``tests/dispatch/k8s_emulator.py``: no kube-apiserver runs here).

* Dispatch of 1,000 jobs through Paddock against creating the same Job objects with the
  official client, same run, rounds interleaved (target: ratio ≤ 1.3). Through Paddock is the
  real path: ``submit_job`` ×1,000 on a ``kubernetes`` cluster whose credentials are a stored
  SafeKubeconfig, one ``admit_pending`` pass, and its dispatcher's sends through the guarded
  ``KubernetesBackend``, timed until every Job object exists and every attempt is recorded as
  ``submitted``. The figure compared is the dispatch: from the admitted attempts to every Job
  created and recorded (what a direct caller does, plus Paddock's bookkeeping); queueing and
  admission, which a direct caller does not do at all, are timed and printed beside it, as is
  the whole path from the first submission. Directly is
  ``BatchV1Api.create_namespaced_job`` with the manifests ``job_objects`` built for the first
  round's attempts (built once, outside the timing). Each side has its own emulator, emptied
  before each round. The ratio is taken round by round (a round's dispatch over the direct
  creates that follow it at once, so a busier stretch of the machine weighs on both alike), and
  the median of the rounds is compared with the target. Also printed: where Paddock's time
  goes, and the emulator's floor (the same bodies, serialized beforehand, POSTed with bare
  urllib3).
* Discovery of 100 and 1,000 GPU nodes (GPU Feature Discovery labels, 8 GPUs each) with
  ``discover_cluster``: seconds and queries, first and an identical repeat (target: queries
  constant in the number of nodes).

Printed side by side; only counts and equalities are asserted, never a time.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3
from django.db import connection
from django.test.utils import CaptureQueriesContext
from kubernetes.client import ApiClient, BatchV1Api, Configuration, V1Job

from apps.admission.pools import ensure_pools
from apps.admission.scheduler import admit_pending
from apps.dispatch.backends.kubernetes import KubernetesBackend
from apps.dispatch.k8s_manifests import job_objects
from apps.dispatch.kubeconfig import SafeKubeconfig
from apps.dispatch.registry import forget_backends
from apps.inventory.discovery import discover_cluster
from apps.inventory.models import Accelerator, AcceleratorModel, Cluster
from apps.inventory.services import backend_for, kubernetes_options
from apps.jobs import services
from apps.jobs.models import Attempt
from tests.dispatch.k8s_emulator import Controller, EmulatedCluster
from tests.factories import ClusterFactory, OrganisationFactory, TeamFactory, UserFactory, job_request
from tests.report import table

pytestmark = pytest.mark.django_db

JOBS = 1_000
ROUNDS = 5
GPUS_PER_NODE = 8
PRODUCT = "NVIDIA-H100-80GB-HBM3"  # GPU Feature Discovery's nvidia.com/gpu.product of an H100 SXM
NAMESPACE = "paddock-jobs"
TOKEN = "bench-token-0123456789"
TARGET = 1.3


@pytest.fixture
def emulators() -> Iterator[tuple[EmulatedCluster, EmulatedCluster]]:
    """Two API servers: the one Paddock dispatches to and the one the client creates on.
    Neither keeps its request history (kmock would walk it on every request)."""
    through = EmulatedCluster(keep_requests=False).start()
    direct = EmulatedCluster(keep_requests=False).start()
    try:
        yield through, direct
    finally:
        through.close()
        direct.close()
        forget_backends()


def register(org: Any, name: str, url: str) -> Cluster:
    """A cluster of kind ``kubernetes`` as the console stores one: its kubeconfig checked and
    kept as SafeKubeconfig JSON, encrypted."""
    cluster = ClusterFactory(
        organisation=org, name=name, kind="kubernetes", address=url, kubernetes={"image": "python:3.11-slim"}
    )
    cluster.set_auth_token(SafeKubeconfig(server=url, namespace=NAMESPACE, token=TOKEN).to_json())
    cluster.save()
    return cluster


def seed(controller: Controller, count: int, prefix: str) -> None:
    for n in range(count):
        controller.seed_node(
            f"{prefix}-{n:04d}",
            cpus="224",
            memory="2Ti",
            gpus=GPUS_PER_NODE,
            product=PRODUCT,
            gpu_memory_mib=81559,
            mig_strategy="none",
        )


def jobs_in(controller: Controller, namespace: str = NAMESPACE) -> int:
    return len(controller.objects(f"/apis/batch/v1/namespaces/{namespace}/jobs"))


def client_api(url: str) -> BatchV1Api:
    """The official client as a direct caller builds it: once, token authentication."""
    configuration = Configuration(host=url)
    configuration.api_key = {"BearerToken": TOKEN}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    return BatchV1Api(ApiClient(configuration))


def client_model(manifest: dict[str, Any]) -> V1Job:
    """A manifest as the client's V1Job. Its model types quantities as strings (the API server
    takes 1 and "1" alike) and validates a dict body into one on every call anyway."""

    def strings(value: Any, quantities: bool = False) -> Any:
        if isinstance(value, dict):
            return {key: strings(item, quantities or key in ("limits", "requests")) for key, item in value.items()}
        if isinstance(value, list):
            return [strings(item) for item in value]
        if quantities and isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    return V1Job.from_dict(strings(manifest))


def stopwatch(monkeypatch: Any, spent: Counter[str], owner: Any, name: str) -> None:
    """Add the time spent in ``owner.name`` to ``spent[name]`` (about a microsecond a call)."""
    original: Callable[..., Any] = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - began

    monkeypatch.setattr(owner, name, timed)


def test_dispatch_of_1000_jobs_through_paddock_and_directly(
    emulators: tuple[EmulatedCluster, EmulatedCluster],
    settings: Any,
    monkeypatch: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.PADDOCK_CLUSTER_BUDGET = 600.0  # the pass waits for all 1,000 answers: none left to the task
    through, direct = emulators
    paddock_side, direct_side = Controller(through, NAMESPACE), Controller(direct, NAMESPACE)
    org = OrganisationFactory(slug="bench-k8s")
    team = TeamFactory(organisation=org, slug="bench-k8s")
    user = UserFactory(username="bench-k8s")
    cluster = register(org, "bench-k8s", through.url)
    nodes = ROUNDS * JOBS // GPUS_PER_NODE  # a GPU for every job of every round: all are admitted
    seed(paddock_side, nodes, "gpu")
    assert discover_cluster(cluster).nodes_created == nodes
    ensure_pools()
    options = kubernetes_options(cluster)
    model = AcceleratorModel.objects.get(name="H100 SXM").name
    api = client_api(direct.url)
    bare = urllib3.PoolManager()
    floor_url = f"{direct.url}/apis/batch/v1/namespaces/floor/jobs"
    floor_headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    spent: Counter[str] = Counter()
    stopwatch(monkeypatch, spent, services, "begin_dispatches")
    stopwatch(monkeypatch, spent, services, "finish_dispatches")
    stopwatch(monkeypatch, spent, services, "job_spec")
    stopwatch(monkeypatch, spent, KubernetesBackend, "submit")

    queries = [0]

    def counted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries[0] += 1  # no cap, unlike CaptureQueriesContext (9,000)
        return execute(sql, params, many, context)

    paddock: list[dict[str, float]] = []
    direct_s: list[float] = []
    floor_s: list[float] = []
    bodies: list[V1Job] = []
    raw: list[bytes] = []
    for round_ in range(ROUNDS):
        through.forget_objects()
        direct.forget_objects()
        spent.clear()
        queries[0] = 0
        began = time.perf_counter()
        for n in range(JOBS):
            services.submit_job(
                actor=user,
                request=job_request(team, cluster, name=f"bench-{round_}-{n}", gpus=1.0, accelerator_model=model),
            )
        submitted = time.perf_counter()
        with connection.execute_wrapper(counted):
            with django_capture_on_commit_callbacks(execute=True):  # the pass's sends run as it commits
                admitted = admit_pending()
                decided = time.perf_counter()
                admission_queries = queries[0]
            done = time.perf_counter()
        assert admitted == JOBS
        assert jobs_in(paddock_side) == JOBS
        attempts = list(Attempt.objects.filter(job__name__startswith=f"bench-{round_}-").select_related("job__team"))
        assert len(attempts) == JOBS and all(a.state == "submitted" for a in attempts)
        paddock.append(
            {
                "submit": submitted - began,
                "admit": decided - submitted,
                "dispatch": done - decided,
                "total": done - began,
                "backend": spent["submit"],
                "bookkeeping": spent["begin_dispatches"] + spent["finish_dispatches"],
                "spec": spent["job_spec"],
                "queries": queries[0] - admission_queries,
            }
        )

        # The same objects, built once (for the first round's attempts: each round starts from an
        # empty API server, so the names are free again), created with the client.
        if not bodies:
            manifests = [m for attempt in attempts for m in job_objects(services.job_spec(attempt), options)]
            assert len(manifests) == JOBS and {m["kind"] for m in manifests} == {"Job"}
            bodies.extend(client_model(m) for m in manifests)
            raw.extend(
                json.dumps({**m, "metadata": {**m["metadata"], "namespace": "floor"}}).encode() for m in manifests
            )
        began = time.perf_counter()
        for body in bodies:
            api.create_namespaced_job(NAMESPACE, body)
        direct_s.append(time.perf_counter() - began)
        assert jobs_in(direct_side) == JOBS

        # The emulator's floor: no client at all, the JSON made beforehand (another namespace).
        direct.forget_objects()
        began = time.perf_counter()
        for data in raw:
            assert bare.request("POST", floor_url, body=data, headers=floor_headers).status in (200, 201)
        floor_s.append(time.perf_counter() - began)
        assert jobs_in(direct_side, "floor") == JOBS

    reference = statistics.median(direct_s)

    def row(name: str, values: list[float]) -> tuple[str, ...]:
        seconds = statistics.median(values)
        return (
            name,
            f"{seconds:.2f}",
            f"{seconds / JOBS * 1000:.2f}",
            f"{seconds / reference:.2f}",
            " ".join(f"{v:.2f}" for v in values),
        )

    def paddock_row(name: str, key: str) -> tuple[str, ...]:
        return row(name, [r[key] for r in paddock])

    total = statistics.median(r["total"] for r in paddock)
    dispatch = statistics.median(r["dispatch"] for r in paddock)
    # Compared round by round: each round's dispatch against the direct creates that follow it
    # straight away, so a slower or busier stretch of the machine weighs on both alike.
    paired = [r["dispatch"] / d for r, d in zip(paddock, direct_s, strict=True)]
    dispatch_queries = statistics.median(r["queries"] for r in paddock)
    table(
        f"Dispatch of {JOBS:,} Jobs to the emulated API server, {ROUNDS} interleaved rounds, medians "
        f"(target: dispatch ≤ {TARGET} × direct, round by round: median {statistics.median(paired):.2f} of "
        f"{' '.join(f'{p:.2f}' for p in paired)}; of the medians: {dispatch / reference:.2f}; the whole path "
        f"from the first submission: {total / reference:.2f})",
        [
            ("path", "seconds", "ms / job", "× direct", "per round (s)"),
            row("direct: BatchV1Api.create_namespaced_job", direct_s),
            paddock_row(
                f"Paddock dispatch: admitted → all created, recorded (compared; {dispatch_queries:.0f} queries)",
                "dispatch",
            ),
            paddock_row("    of which KubernetesBackend.submit (manifests, HTTP)", "backend"),
            paddock_row("    of which begin/finish_dispatches (states, events)", "bookkeeping"),
            paddock_row("    of which job_spec (environment, token, packages)", "spec"),
            paddock_row("Paddock, the whole path: submit → admit → all created", "total"),
            paddock_row("  submit_job ×1,000 (queueing; no direct counterpart)", "submit"),
            paddock_row("  admit_pending: decide and write (quotas, placement; no direct counterpart)", "admit"),
            row("floor: bare urllib3 POST, JSON made beforehand", floor_s),
        ],
    )


def timed_discovery(cluster: Cluster) -> tuple[Any, float, int, int]:
    """(result, seconds, queries, of which INSERT statements) of one discovery."""
    with CaptureQueriesContext(connection) as ctx:
        began = time.perf_counter()
        result = discover_cluster(cluster)
        seconds = time.perf_counter() - began
    inserts = sum(1 for q in ctx.captured_queries if q["sql"].startswith("INSERT"))
    return result, seconds, len(ctx.captured_queries), inserts


def test_discovery_of_1000_gpu_nodes() -> None:
    org = OrganisationFactory(slug="bench-k8s-nodes")
    rows = [("nodes", "discovery", "seconds", "ms / node", "queries", "of which INSERT", "rows written")]
    others: dict[str, set[int]] = {"first": set(), "repeat": set()}  # queries less the INSERT batches
    listing: list[str] = []
    for size in (100, 1_000):
        emulator = EmulatedCluster(keep_requests=False).start()
        try:
            seed(Controller(emulator), size, f"n{size}")
            cluster = register(org, f"bench-k8s-{size}", emulator.url)
            began = time.perf_counter()
            assert len(backend_for(cluster).nodes()) == size
            listing.append(f"{size:,}: {time.perf_counter() - began:.2f} s")
            first, first_s, first_q, first_i = timed_discovery(cluster)
            assert (first.nodes_created, first.accelerators_created) == (size, size * GPUS_PER_NODE)
            repeat, repeat_s, repeat_q, repeat_i = timed_discovery(cluster)
            assert repeat.rows_written == 0, "an identical discovery must write nothing"
            assert Accelerator.objects.filter(node__cluster=cluster, model__name="H100 SXM").count() == (
                size * GPUS_PER_NODE
            )
            others["first"].add(first_q - first_i)
            others["repeat"].add(repeat_q - repeat_i)
            for name, result, seconds, count, inserts in (
                ("first", first, first_s, first_q, first_i),
                ("identical repeat", repeat, repeat_s, repeat_q, repeat_i),
            ):
                rows.append(
                    (
                        f"{size:,}",
                        name,
                        f"{seconds:.2f}",
                        f"{seconds / size * 1000:.2f}",
                        str(count),
                        str(inserts),
                        f"{result.rows_written:,}",
                    )
                )
        finally:
            emulator.close()
            forget_backends()
    table(
        f"discover_cluster: GPU nodes with GPU Feature Discovery labels, {GPUS_PER_NODE} GPUs each, one call each "
        f"(INSERTs go in batches of 1,000 nodes / 2,000 GPUs; listing the nodes alone: {', '.join(listing)})",
        rows,
    )
    assert all(len(counts) == 1 for counts in others.values()), others
