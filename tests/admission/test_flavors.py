"""A job that accepts several pools (Kueue's flavors), in Kueue's terms: a team is a
ClusterQueue, a pool its flavor, and the team's ``flavorFungibility`` (``when_can_borrow``,
``when_can_preempt``) says whether a job stops at a pool where it must borrow or preempt, or
tries its next pool first. Each scenario runs a real pass on real rows and checks the
independent invariants afterwards."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.admission.apply import apply_decisions
from apps.admission.decide import decide
from apps.admission.policy import TeamPolicy
from apps.admission.pools import ensure_pools, resolve_pools
from apps.admission.scheduler import admit_pending
from apps.admission.state import load_candidates, load_state
from apps.inventory.models import AcceleratorModel
from apps.jobs.choices import HOLDING_STATES, EventKind, JobState
from apps.jobs.models import Job
from apps.quotas.choices import WhenCanBorrow, WhenCanPreempt
from apps.quotas.models import Cohort, Pool, Quota
from tests.admission.invariants import check_invariants
from tests.factories import AcceleratorFactory, JobFactory, NodeFactory

H100, A100 = "H100 SXM", "A100 80GB SXM"
H100_POOL, A100_POOL = "gpu-a-h100-sxm", "gpu-a-a100-80gb-sxm"


class Flavors:
    """One cluster with an 8-GPU H100 node and an 8-GPU A100 node: two pools."""

    def __init__(self, world: Any) -> None:
        self.world = world
        for name in (H100, A100):
            node = NodeFactory(cluster=world.cluster)
            model = AcceleratorModel.objects.get(name=name)
            for index in range(8):
                AcceleratorFactory(node=node, index=index, model=model)
        ensure_pools()
        self.h100 = Pool.objects.get(name=H100_POOL)
        self.a100 = Pool.objects.get(name=A100_POOL)
        self.cohort = Cohort.objects.create(organisation=world.org, name="research", preempt_lower_priority=True)
        for team in (world.alpha, world.beta):
            team.cohort = self.cohort
            team.save()

    def quota(self, team: Any, pool: Pool, guaranteed: int, max: int | None = None, **fields: Any) -> Quota:
        return Quota.objects.create(team=team, pool=pool, guaranteed=guaranteed, max=max, **fields)

    def submit(self, team: Any, gpus: int, models: list[str] | None = None, **fields: Any) -> Job:
        models = models or [H100, A100]
        first = Pool.objects.get(cluster=self.world.cluster, accelerator_model__name=models[0])
        return JobFactory(
            team=team,
            cluster=self.world.cluster,
            gpus=gpus,
            accelerator_model=models[0],
            accelerator_models=models if len(models) > 1 else [],
            pool=first,
            **fields,
        )

    def run(self, team: Any, gpus: int, pool: Pool, priority: int = 0) -> Job:
        """A job of one pool, admitted by a pass of its own."""
        job = JobFactory(
            team=team,
            cluster=self.world.cluster,
            gpus=gpus,
            accelerator_model=pool.accelerator_model.name,
            pool=pool,
            priority=priority,
        )
        self.schedule()
        job.refresh_from_db()
        assert job.state == JobState.ADMITTED
        return job

    def schedule(self, **fungibility: Any) -> None:
        """One pass, with team alpha's flavor fungibility set as given (the rest of its policy as stored)."""
        with transaction.atomic():
            state = load_state()
            team = self.world.alpha.pk
            state.team_policy[team] = replace(state.team_policy.get(team) or TeamPolicy(), **fungibility)
            candidates = load_candidates(state)
            now = timezone.now()
            decisions = decide(state, candidates, now)
            apply_decisions(state, {c.job_id: c for c in candidates}, decisions, now)
        assert check_invariants() == []


def fresh(job: Job) -> Job:
    job.refresh_from_db()
    return job


@pytest.fixture
def flavors(world: Any, catalog: None) -> Flavors:
    return Flavors(world)


def test_the_first_pool_where_it_fits_without_borrowing_is_taken(flavors: Flavors, world: Any) -> None:
    flavors.quota(world.alpha, flavors.h100, 8)
    flavors.quota(world.alpha, flavors.a100, 8)
    job = flavors.submit(world.alpha, 4)

    flavors.schedule()

    job = fresh(job)
    assert (job.state, job.pool_id, job.accelerator_model) == (JobState.ADMITTED, flavors.h100.pk, "H100")
    event = job.events.get(kind=EventKind.ADMITTED)
    assert event.message.startswith(f"admitted to pool {H100_POOL} (choice 1 of {H100_POOL}, {A100_POOL}):")


def test_a_pool_where_it_must_borrow_is_passed_for_the_next_with_try_next_flavor(flavors: Flavors, world: Any) -> None:
    flavors.quota(world.alpha, flavors.h100, 0, max=8)  # can only borrow there
    flavors.quota(world.beta, flavors.h100, 8)  # idle: lends
    flavors.quota(world.alpha, flavors.a100, 8)
    job = flavors.submit(world.alpha, 4)

    flavors.schedule(when_can_borrow=WhenCanBorrow.TRY_NEXT_FLAVOR)

    job = fresh(job)
    assert (job.state, job.pool_id, job.accelerator_model) == (JobState.ADMITTED, flavors.a100.pk, "A100-80G")
    assert f"admitted to pool {A100_POOL} (choice 2 of {H100_POOL}, {A100_POOL})" in (
        job.events.get(kind=EventKind.ADMITTED).message
    )


def test_a_team_that_borrows_with_borrow_takes_its_first_pool_by_borrowing(flavors: Flavors, world: Any) -> None:
    flavors.quota(world.alpha, flavors.h100, 0, max=8)
    flavors.quota(world.beta, flavors.h100, 8)
    flavors.quota(world.alpha, flavors.a100, 8)
    job = flavors.submit(world.alpha, 4)

    flavors.schedule(when_can_borrow=WhenCanBorrow.BORROW)

    assert fresh(job).pool_id == flavors.h100.pk
    assert fresh(job).state == JobState.ADMITTED


def test_when_every_pool_needs_borrowing_try_next_flavor_borrows_in_the_first(flavors: Flavors, world: Any) -> None:
    for pool in (flavors.h100, flavors.a100):
        flavors.quota(world.alpha, pool, 0, max=8)
        flavors.quota(world.beta, pool, 8)
    job = flavors.submit(world.alpha, 4)

    flavors.schedule(when_can_borrow=WhenCanBorrow.TRY_NEXT_FLAVOR)

    assert (fresh(job).state, fresh(job).pool_id) == (JobState.ADMITTED, flavors.h100.pk)


def test_a_pool_that_needs_preemption_is_passed_for_the_next_that_fits_with_try_next_flavor(
    flavors: Flavors, world: Any
) -> None:
    flavors.quota(world.alpha, flavors.h100, 8)
    flavors.quota(world.alpha, flavors.a100, 8)
    low = flavors.run(world.alpha, 8, flavors.h100, priority=0)  # fills the first pool
    job = flavors.submit(world.alpha, 4, priority=10)

    flavors.schedule(when_can_preempt=WhenCanPreempt.TRY_NEXT_FLAVOR)

    assert (fresh(job).state, fresh(job).pool_id) == (JobState.ADMITTED, flavors.a100.pk)
    assert fresh(low).state in HOLDING_STATES  # nothing preempted: the next pool fitted


def test_with_preempt_it_preempts_in_its_first_pool_though_the_next_is_free(flavors: Flavors, world: Any) -> None:
    flavors.quota(world.alpha, flavors.h100, 8)
    flavors.quota(world.alpha, flavors.a100, 8)
    low = flavors.run(world.alpha, 8, flavors.h100, priority=0)
    job = flavors.submit(world.alpha, 4, priority=10)

    flavors.schedule(when_can_preempt=WhenCanPreempt.PREEMPT)

    assert (fresh(job).state, fresh(job).pool_id) == (JobState.ADMITTED, flavors.h100.pk)
    assert fresh(low).state == JobState.PENDING
    assert fresh(low).events.filter(kind=EventKind.PREEMPTED, message__contains=f"job {job.pk}").exists()


def test_when_no_pool_fits_outright_it_preempts_in_the_first_pool_where_preemption_works(
    flavors: Flavors, world: Any
) -> None:
    flavors.quota(world.alpha, flavors.h100, 8)
    flavors.quota(world.alpha, flavors.a100, 8)
    high = flavors.run(world.alpha, 8, flavors.h100, priority=20)  # not preemptible by the job: higher
    low = flavors.run(world.alpha, 8, flavors.a100, priority=0)
    job = flavors.submit(world.alpha, 4, priority=10)

    flavors.schedule(when_can_preempt=WhenCanPreempt.TRY_NEXT_FLAVOR)

    assert (fresh(job).state, fresh(job).pool_id) == (JobState.ADMITTED, flavors.a100.pk)
    assert fresh(low).state == JobState.PENDING  # preempted
    assert fresh(high).state in HOLDING_STATES


def test_preemption_in_an_earlier_pool_wins_over_a_later_one(flavors: Flavors, world: Any) -> None:
    flavors.quota(world.alpha, flavors.h100, 8)
    flavors.quota(world.alpha, flavors.a100, 8)
    first = flavors.run(world.alpha, 8, flavors.h100, priority=0)
    second = flavors.run(world.alpha, 8, flavors.a100, priority=0)
    job = flavors.submit(world.alpha, 4, priority=10)

    flavors.schedule(when_can_preempt=WhenCanPreempt.TRY_NEXT_FLAVOR)

    assert (fresh(job).state, fresh(job).pool_id) == (JobState.ADMITTED, flavors.h100.pk)
    assert (fresh(first).state, fresh(second).state) == (JobState.PENDING, JobState.ADMITTED)


def test_the_reason_of_a_waiting_job_names_every_pool_it_tried_and_why(flavors: Flavors, world: Any) -> None:
    flavors.quota(world.alpha, flavors.h100, 2)
    flavors.quota(world.alpha, flavors.a100, 8)
    flavors.run(world.alpha, 8, flavors.a100, priority=50)
    job = flavors.submit(world.alpha, 4)

    flavors.schedule()

    assert fresh(job).state == JobState.PENDING
    assert fresh(job).state_reason == (
        f"Waiting for 4 × GPU in any of the pools {H100_POOL}, {A100_POOL}: "
        f"pool {H100_POOL}: team alpha uses 0 of its 2 guaranteed, the cohort research has 0 idle to lend; "
        f"pool {A100_POOL}: team alpha uses 8 of its 8 guaranteed, the cohort research has 0 idle to lend."
    )
    assert fresh(job).pool_id == flavors.h100.pk  # while pending: its first choice


def test_a_job_preempted_from_its_second_pool_shows_its_first_choice_again(flavors: Flavors, world: Any) -> None:
    flavors.quota(world.alpha, flavors.h100, 8)
    flavors.quota(world.alpha, flavors.a100, 8)
    flavors.run(world.alpha, 8, flavors.h100, priority=50)
    job = flavors.submit(world.alpha, 8, priority=0)
    flavors.schedule()
    assert fresh(job).pool_id == flavors.a100.pk
    flavors.submit(world.alpha, 8, models=[A100], priority=40)

    flavors.schedule(when_can_preempt=WhenCanPreempt.PREEMPT)

    assert (fresh(job).state, fresh(job).pool_id) == (JobState.PENDING, flavors.h100.pk)


def test_any_gpu_with_enough_memory_tries_the_smallest_memory_first(flavors: Flavors, world: Any) -> None:
    node = NodeFactory(cluster=world.cluster)
    for index in range(8):
        AcceleratorFactory(node=node, index=index, model=AcceleratorModel.objects.get(name="H200 SXM"))
    ensure_pools()
    h200 = Pool.objects.get(name="gpu-a-h200-sxm")
    for pool in (flavors.h100, flavors.a100, h200):
        flavors.quota(world.alpha, pool, 8)
    flavors.run(world.alpha, 8, flavors.a100)  # 80 GB, and first by name among the 80 GB pools
    job = JobFactory(team=world.alpha, cluster=world.cluster, gpus=4, min_gpu_memory_gb=90, pool=h200)
    smaller = JobFactory(team=world.alpha, cluster=world.cluster, gpus=4, min_gpu_memory_gb=40, pool=flavors.a100)

    flavors.schedule()

    assert fresh(job).pool_id == h200.pk  # the only one with 90 GB
    assert fresh(smaller).pool_id == flavors.h100.pk  # A100 80GB full, H100 80 GB next, before H200 141 GB


# --- submission ----------------------------------------------------------------------------------


def post(world: Any, resources: dict[str, Any]) -> Any:
    body = {"name": "flex", "team": "alpha", "entrypoint": "python train.py", "resources": resources}
    return world.client(world.member).post("/api/v1/jobs/", body, format="json")


def test_a_job_submitted_with_several_models_stores_them_in_order_and_waits_on_its_first_choice(
    flavors: Flavors, world: Any
) -> None:
    response = post(world, {"gpus": 2, "accelerator_models": [A100, "H100"]})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["pool"] == A100_POOL
    assert body["resources"]["accelerator_models"] == [A100, "H100"]
    assert body["resources"]["accelerator_model"] == A100
    detail = world.client(world.member).get(f"/api/v1/jobs/{body['id']}/").json()
    assert detail["accepted_pools"] == [A100_POOL, H100_POOL]


def test_a_job_that_asks_for_gpu_memory_accepts_every_pool_with_enough(flavors: Flavors, world: Any) -> None:
    response = post(world, {"gpus": 1, "min_gpu_memory_gb": 40})

    assert response.status_code == 201, response.content
    detail = world.client(world.member).get(f"/api/v1/jobs/{response.json()['id']}/").json()
    assert detail["accepted_pools"] == [A100_POOL, H100_POOL]  # both 80 GB: by pool name
    assert detail["pool"] == A100_POOL


@pytest.mark.parametrize(
    ("resources", "field"),
    [
        ({"gpus": 1, "accelerator_models": ["H100", "Z9000"]}, "accelerator_models"),
        ({"gpus": 1, "accelerator_models": ["H100", "h100"]}, "accelerator_models"),
        ({"gpus": 1, "accelerator_models": []}, "accelerator_models"),
        ({"gpus": 1, "accelerator_models": ["H100; rm -rf /"]}, "accelerator_models"),
        ({"gpus": 1, "accelerator_models": ["H100"], "min_gpu_memory_gb": 40}, "min_gpu_memory_gb"),
        ({"gpus": 1, "accelerator_model": "A100", "accelerator_models": ["H100", A100]}, "accelerator_model"),
        ({"gpus": 1, "accelerator_model": "H100", "min_gpu_memory_gb": 40}, "accelerator_model"),
        ({"gpus": 0, "accelerator_models": ["H100", A100]}, "gpus"),
        ({"gpus": 1, "min_gpu_memory_gb": 5000}, "min_gpu_memory_gb"),
        ({"gpus": 1, "min_gpu_memory_gb": 0}, "min_gpu_memory_gb"),
    ],
)
def test_bad_accepted_pools_are_400_with_field_errors(
    flavors: Flavors, world: Any, resources: dict[str, Any], field: str
) -> None:
    response = post(world, resources)

    assert response.status_code == 400, response.content
    assert field in response.json()["resources"]
    assert not Job.objects.exists()


def test_a_job_whose_models_its_cluster_lacks_is_refused_and_one_already_queued_says_it_cannot_run(
    flavors: Flavors, world: Any
) -> None:
    response = post(world, {"gpus": 1, "accelerator_models": ["H200 SXM", "B200"]})
    assert response.status_code == 400, response.content
    assert response.json()["resources"]["accelerator_models"] == [
        "Cluster gpu-a has none of H200 SXM, B200 (it has 8 × A100 80GB SXM, 8 × H100 SXM)."
    ]
    assert not Job.objects.exists()

    # Submitted before submissions were checked (or the cluster lost those GPUs since).
    job = JobFactory(
        team=world.alpha,
        cluster=world.cluster,
        gpus=1,
        accelerator_model="H200 SXM",
        accelerator_models=["H200 SXM", "B200"],
    )
    admit_pending()

    job.refresh_from_db()
    assert job.pool_id is None
    assert job.state_reason == (
        "Cannot run on cluster gpu-a: it has none of H200 SXM, B200 "
        f"(its pools: {A100_POOL}, gpu-a-cpu, {H100_POOL}). "
        "Cancel it and resubmit it for what the cluster has, or to another cluster."
    )


# --- clusters without an inventory (no pools): their Ray accelerator types stand for the pools -----


def test_a_pool_less_cluster_admits_a_job_on_the_first_model_it_has_room_for(world: Any, catalog: None) -> None:
    from apps.dispatch.backends.fake import FakeBackend
    from apps.dispatch.port import Resources
    from apps.dispatch.registry import override_backend

    total = Resources(cpus=8, gpus=2, memory_bytes=64 * 2**30, custom={"accelerator_type:A100-80G": 2})
    first = JobFactory(
        team=world.alpha, cluster=world.cluster, gpus=1, accelerator_model=H100, accelerator_models=[H100, A100]
    )
    memory = JobFactory(team=world.alpha, cluster=world.cluster, gpus=1, min_gpu_memory_gb=60)
    with override_backend(FakeBackend(total=total)):
        admit_pending()

    first, memory = fresh(first), fresh(memory)
    assert (first.pool_id, first.state != JobState.PENDING, first.accelerator_model) == (None, True, "A100-80G")
    assert memory.state != JobState.PENDING and memory.accelerator_model == "A100-80G"


def test_a_pool_less_cluster_says_when_it_has_none_of_the_models_a_job_accepts(world: Any, catalog: None) -> None:
    from apps.dispatch.backends.fake import FakeBackend
    from apps.dispatch.port import Resources
    from apps.dispatch.registry import override_backend

    total = Resources(cpus=8, gpus=2, memory_bytes=64 * 2**30, custom={"accelerator_type:L4": 2})
    job = JobFactory(
        team=world.alpha, cluster=world.cluster, gpus=1, accelerator_model=H100, accelerator_models=[H100, A100]
    )
    with override_backend(FakeBackend(total=total)):
        admit_pending()

    assert fresh(job).state == JobState.PENDING
    assert fresh(job).state_reason.startswith(f"Cannot run on cluster {world.cluster.name}: it asks for")


def test_a_list_of_one_model_is_that_model_by_the_name_ray_knows(flavors: Flavors, world: Any) -> None:
    response = post(world, {"gpus": 1, "accelerator_models": [A100]})

    assert response.status_code == 201, response.content
    assert response.json()["pool"] == A100_POOL
    assert response.json()["resources"]["accelerator_model"] == "A100-80G"
    assert response.json()["resources"]["accelerator_models"] == []


def test_jobs_without_a_pool_get_theirs_in_queries_by_shape_not_by_job(flavors: Flavors, world: Any) -> None:
    def resolve(count: int) -> int:
        jobs = [
            JobFactory(team=world.alpha, cluster=world.cluster, gpus=1, accelerator_model=model, pool=None)
            for model in [H100, A100] * (count // 2)
        ]
        with CaptureQueriesContext(connection) as queries:
            assert resolve_pools() == len(jobs)
        assert {fresh(job).pool_id for job in jobs} == {flavors.h100.pk, flavors.a100.pk}
        assert all(fresh(job).pool == (flavors.h100 if job.accelerator_model == H100 else flavors.a100) for job in jobs)
        return len(queries.captured_queries)

    assert resolve(4) == resolve(40)  # two shapes either way
