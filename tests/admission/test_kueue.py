"""Kueue objects from Paddock's pools and quotas (apps/admission/kueue.py).

A realistic cluster: two GPU pools (H100 SXM, A100 80GB SXM) and its CPU pool; a cohort
`research` with lending limits holding nlp and vision, and interns with no quota at all; ops
outside any cohort. Every object is validated by tests/k8s_schemas.py against the Kueue
v0.19.2 CRD schemas (v1beta2; tests/k8s_crds), with the CEL rules that apply checked by hand
there, and the numbers are compared with the quotas they come from, before and after a quota
changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
import yaml
from django.core.management import call_command

from apps.admission.kueue import (
    ANNOTATION_DIFFERS,
    API_VERSION,
    COVERED_RESOURCES,
    GPU_PRODUCT_LABEL,
    GPU_RESOURCE,
    NOT_COUNTED,
    KueueExportError,
    dns_label,
    kueue_objects,
    load_kueue_inputs,
)
from apps.dispatch.k8s_manifests import team_queue_name
from apps.inventory.models import AcceleratorModel
from apps.quotas.choices import BorrowWithinCohort, ReclaimWithinCohort, WhenCanBorrow, WhenCanPreempt, WithinTeam
from apps.quotas.models import Cohort, Pool, Quota, TeamPolicy
from tests.factories import ClusterFactory, OrganisationFactory, TeamFactory
from tests.k8s_schemas import crd_schema, is_dns1123_label, problems

KINDS = {"ResourceFlavor", "ClusterQueue", "LocalQueue", "Cohort"}
CLUSTER_SCOPED = {"ResourceFlavor", "ClusterQueue", "Cohort"}
METADATA = {"name", "namespace", "labels", "annotations"}  # all that Paddock sets


def namespace_of(team: Any) -> str:
    return f"team-{dns_label(team.slug)}"


@dataclass
class Setup:
    cluster: Any
    h100: Pool
    a100: Pool
    cpu: Pool
    cohort: Cohort
    nlp: Any
    vision: Any
    interns: Any
    ops: Any


@pytest.fixture
def setup(db: Any) -> Setup:
    org = OrganisationFactory(slug="acme")
    cluster = ClusterFactory(organisation=org, name="gke-a", kind="kubernetes", address="https://127.0.0.1:6443")
    h100 = Pool.objects.create(
        name="gke-a-h100-sxm", cluster=cluster, accelerator_model=AcceleratorModel.objects.get(name="H100 SXM")
    )
    a100 = Pool.objects.create(
        name="gke-a-a100-80gb-sxm",
        cluster=cluster,
        accelerator_model=AcceleratorModel.objects.get(name="A100 80GB SXM"),
    )
    cpu = Pool.objects.create(name="gke-a-cpu", cluster=cluster)
    cohort = Cohort.objects.create(organisation=org, name="research")
    nlp = TeamFactory(organisation=org, slug="nlp", cohort=cohort)
    vision = TeamFactory(organisation=org, slug="vision", cohort=cohort)
    interns = TeamFactory(organisation=org, slug="interns", cohort=cohort)
    ops = TeamFactory(organisation=org, slug="ops")
    Quota.objects.create(
        team=nlp,
        pool=h100,
        guaranteed=16,
        max=24,
        lending_limit=8,
        memory_guaranteed_gb=512,
        memory_max_gb=1024,
        memory_lending_limit_gb=256,
    )
    Quota.objects.create(team=nlp, pool=cpu, guaranteed=64, max=None, lending_limit=32)
    Quota.objects.create(team=vision, pool=h100, guaranteed=8)
    Quota.objects.create(team=vision, pool=a100, guaranteed=8, max=16, lending_limit=4)
    Quota.objects.create(team=ops, pool=a100, guaranteed=4, max=8)
    TeamPolicy.objects.create(
        team=vision,
        within_team=WithinTeam.LOWER_PRIORITY,
        reclaim_within_cohort=ReclaimWithinCohort.LOWER_PRIORITY,
        borrow_within_cohort=BorrowWithinCohort.LOWER_PRIORITY,
        borrow_max_priority_threshold=100,
        when_can_borrow=WhenCanBorrow.TRY_NEXT_FLAVOR,
        when_can_preempt=WhenCanPreempt.PREEMPT,
    )
    return Setup(cluster, h100, a100, cpu, cohort, nlp, vision, interns, ops)


def generate(setup: Setup) -> list[dict[str, Any]]:
    inputs = load_kueue_inputs(setup.cluster)
    return kueue_objects(
        inputs.pools, inputs.quotas, inputs.cohorts, inputs.teams, namespace_of=namespace_of, policies=inputs.policies
    )


def named(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def flavor_quotas(queue: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """{flavor: {resource: {nominalQuota, borrowingLimit?, lendingLimit?}}} of a ClusterQueue."""
    (group,) = queue["spec"]["resourceGroups"]
    return {
        flavor["name"]: {r["name"]: {k: v for k, v in r.items() if k != "name"} for r in flavor["resources"]}
        for flavor in group["flavors"]
    }


def all_problems(objects: list[dict[str, Any]]) -> list[str]:
    """What Kueue's API server would refuse (schema, names, labels, quantities, the CEL rules
    that apply), and what Paddock means its objects to be (version, scope, metadata)."""
    found = []
    for obj in objects:
        kind = obj["kind"]
        where = f"{kind}/{obj['metadata']['name']}"
        if obj["apiVersion"] != API_VERSION or kind not in KINDS:
            found.append(f"{where}: {obj['apiVersion']}/{kind}, expected one of {sorted(KINDS)} of {API_VERSION}")
            continue
        found += problems(obj)
        scoped = "namespace" in obj["metadata"]
        if scoped == (kind in CLUSTER_SCOPED):
            found.append(f"{where}: {'namespaced' if scoped else 'no namespace'}")
        if set(obj["metadata"]) - METADATA:
            found.append(f"{where}: unexpected metadata fields {sorted(set(obj['metadata']) - METADATA)}")
    return found


# --- schema ---------------------------------------------------------------------------------


def test_every_object_validates_against_the_kueue_crds(setup: Setup) -> None:
    objects = generate(setup)
    assert [obj["kind"] for obj in objects] == (
        ["ResourceFlavor"] * 3 + ["Cohort"] + ["ClusterQueue"] * 4 + ["LocalQueue"] * 4
    ), "apply order: flavors and cohorts before the queues that name them"
    assert all_problems(objects) == []
    assert {obj["apiVersion"] for obj in objects} == {"kueue.x-k8s.io/v1beta2"}
    assert all(crd_schema(obj["apiVersion"], obj["kind"]) for obj in objects), "validated against a CRD schema"
    for obj in objects:
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "paddock"


def test_the_checks_catch_what_kueue_would_refuse(setup: Setup) -> None:
    objects = generate(setup)
    queue = named(objects, "ClusterQueue")["ops"]

    def changed(change: Any) -> dict[str, Any]:
        copy: dict[str, Any] = yaml.safe_load(yaml.safe_dump(queue))
        change(copy)
        return copy

    def first(obj: dict[str, Any]) -> dict[str, Any]:
        resource: dict[str, Any] = obj["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]
        return resource

    wrong = {
        "'cohort' was unexpected": changed(lambda q: q["spec"].update(cohort="research")),  # v1beta1 spelling
        "FIFO": changed(lambda q: q["spec"].update(queueingStrategy="FIFO")),
        "Ops_Team": changed(lambda q: q["metadata"].update(name="Ops_Team")),
        # no cohort, yet a borrowing limit
        "borrowingLimit must be nil": changed(lambda q: first(q).update(borrowingLimit=1)),
        "coveredResources": changed(lambda q: q["spec"]["resourceGroups"][0]["flavors"][0]["resources"].pop()),
        "negative": changed(lambda q: first(q).update(nominalQuota="-1")),
        "reclaimWithinCohort=Never": changed(
            lambda q: q["spec"]["preemption"].update(borrowWithinCohort={"policy": "LowerPriority"})
        ),
        "preference": changed(lambda q: q["spec"]["flavorFungibility"].update(preference="BorrowingOverPreemption")),
        "unexpected metadata": changed(lambda q: q["metadata"].update(finalizers=["paddock.dev/keep"])),
    }
    for reason, obj in wrong.items():
        found = all_problems([obj])
        assert any(reason in problem for problem in found), (reason, found)


# --- flavors --------------------------------------------------------------------------------


def test_a_flavor_per_gpu_pool_selects_its_nodes_by_the_gfd_product_label(setup: Setup) -> None:
    flavors = named(generate(setup), "ResourceFlavor")
    assert list(flavors) == ["gke-a-cpu", "gke-a-a100-80gb-sxm", "gke-a-h100-sxm"]
    assert flavors["gke-a-h100-sxm"]["spec"] == {"nodeLabels": {GPU_PRODUCT_LABEL: "NVIDIA-H100-80GB-HBM3"}}
    assert flavors["gke-a-a100-80gb-sxm"]["spec"] == {"nodeLabels": {GPU_PRODUCT_LABEL: "NVIDIA-A100-SXM4-80GB"}}
    assert flavors["gke-a-cpu"]["spec"] == {}
    assert flavors["gke-a-h100-sxm"]["metadata"]["labels"]["paddock.dev/pool"] == "gke-a-h100-sxm"


def test_cpu_work_tries_the_cpu_flavor_first(setup: Setup) -> None:
    for queue in named(generate(setup), "ClusterQueue").values():
        flavors = list(flavor_quotas(queue)) if queue["spec"]["resourceGroups"] else []
        if "gke-a-cpu" in flavors:
            assert flavors[0] == "gke-a-cpu"
        # A CPU flavor holds no GPUs, for anyone.
        if "gke-a-cpu" in flavors:
            assert flavor_quotas(queue)["gke-a-cpu"][GPU_RESOURCE] == {"nominalQuota": 0}


# --- the numbers ----------------------------------------------------------------------------


def test_cluster_queues_carry_the_teams_quotas(setup: Setup) -> None:
    queues = named(generate(setup), "ClusterQueue")
    assert set(queues) == {"nlp", "vision", "interns", "ops"}
    nlp = flavor_quotas(queues["nlp"])
    # guaranteed 16, max 24, lending 8 -> nominal 16, borrowing 8, lending 8; memory likewise in GiB.
    assert nlp["gke-a-h100-sxm"] == {
        "cpu": {"nominalQuota": NOT_COUNTED["cpu"]},
        "memory": {"nominalQuota": "512Gi", "borrowingLimit": "512Gi", "lendingLimit": "256Gi"},
        GPU_RESOURCE: {"nominalQuota": 16, "borrowingLimit": 8, "lendingLimit": 8},
    }
    # A CPU pool counts CPUs; max unbounded -> no borrowing limit; memory not counted.
    assert nlp["gke-a-cpu"] == {
        "cpu": {"nominalQuota": 64, "lendingLimit": 32},
        "memory": {"nominalQuota": NOT_COUNTED["memory"]},
        GPU_RESOURCE: {"nominalQuota": 0},
    }
    # No quota in the A100 pool, but in a cohort: it may borrow there, from a guarantee of 0.
    assert nlp["gke-a-a100-80gb-sxm"][GPU_RESOURCE] == {"nominalQuota": 0}
    vision = flavor_quotas(queues["vision"])
    assert vision["gke-a-h100-sxm"][GPU_RESOURCE] == {"nominalQuota": 8}  # max and lending: unbounded
    assert vision["gke-a-a100-80gb-sxm"][GPU_RESOURCE] == {"nominalQuota": 8, "borrowingLimit": 8, "lendingLimit": 4}
    assert queues["nlp"]["spec"]["cohortName"] == queues["vision"]["spec"]["cohortName"] == "research"


def test_a_team_outside_any_cohort_neither_borrows_nor_lends(setup: Setup) -> None:
    ops = named(generate(setup), "ClusterQueue")["ops"]
    assert "cohortName" not in ops["spec"]
    # Only the A100 pool, where it has a quota; max 8 cannot be reached without a cohort.
    assert flavor_quotas(ops) == {
        "gke-a-a100-80gb-sxm": {
            "cpu": {"nominalQuota": NOT_COUNTED["cpu"]},
            "memory": {"nominalQuota": NOT_COUNTED["memory"]},
            GPU_RESOURCE: {"nominalQuota": 4},
        }
    }


def test_a_team_without_quota_only_borrows_through_its_cohort(setup: Setup) -> None:
    queues = named(generate(setup), "ClusterQueue")
    interns = flavor_quotas(queues["interns"])
    assert set(interns) == {"gke-a-cpu", "gke-a-h100-sxm", "gke-a-a100-80gb-sxm"}
    assert interns["gke-a-h100-sxm"][GPU_RESOURCE] == {"nominalQuota": 0}
    assert interns["gke-a-cpu"]["cpu"] == {"nominalQuota": 0}
    assert "fairSharing" not in queues["interns"]["spec"]
    # Out of the cohort, a team without quota may use nothing: no flavor at all.
    setup.interns.cohort = None
    setup.interns.save()
    interns_alone = named(generate(setup), "ClusterQueue")["interns"]
    assert interns_alone["spec"]["resourceGroups"] == []
    assert all_problems([interns_alone]) == []


def test_changing_a_quota_changes_the_cluster_queue(setup: Setup) -> None:
    before = flavor_quotas(named(generate(setup), "ClusterQueue")["nlp"])["gke-a-h100-sxm"][GPU_RESOURCE]
    assert before == {"nominalQuota": 16, "borrowingLimit": 8, "lendingLimit": 8}
    Quota.objects.filter(team=setup.nlp, pool=setup.h100).update(guaranteed=20, max=32, lending_limit=None)
    after = flavor_quotas(named(generate(setup), "ClusterQueue")["nlp"])["gke-a-h100-sxm"][GPU_RESOURCE]
    assert after == {"nominalQuota": 20, "borrowingLimit": 12}
    Quota.objects.filter(team=setup.nlp, pool=setup.h100).update(max=None)
    unbounded = flavor_quotas(named(generate(setup), "ClusterQueue")["nlp"])["gke-a-h100-sxm"][GPU_RESOURCE]
    assert unbounded == {"nominalQuota": 20}


def test_a_pool_without_quotas_is_open_to_every_team(setup: Setup) -> None:
    Quota.objects.filter(pool=setup.a100).delete()
    queues = named(generate(setup), "ClusterQueue")
    for name in ("nlp", "vision", "interns", "ops"):
        a100 = flavor_quotas(queues[name])["gke-a-a100-80gb-sxm"]
        assert a100 == {resource: {"nominalQuota": NOT_COUNTED[resource]} for resource in COVERED_RESOURCES}, name


def test_a_cluster_without_a_cpu_pool_still_has_a_cpu_flavor(setup: Setup) -> None:
    Quota.objects.filter(pool=setup.cpu).delete()
    setup.cpu.delete()
    objects = generate(setup)
    assert list(named(objects, "ResourceFlavor"))[0] == "cpu"
    nlp = flavor_quotas(named(objects, "ClusterQueue")["nlp"])
    assert nlp["cpu"] == {
        "cpu": {"nominalQuota": NOT_COUNTED["cpu"]},
        "memory": {"nominalQuota": NOT_COUNTED["memory"]},
        GPU_RESOURCE: {"nominalQuota": 0},
    }
    assert all_problems(objects) == []


def test_quotas_of_other_clusters_are_left_out(setup: Setup) -> None:
    other = ClusterFactory(organisation=setup.cluster.organisation, name="gke-b", kind="kubernetes")
    far = Pool.objects.create(name="gke-b-cpu", cluster=other)
    Quota.objects.create(team=setup.ops, pool=far, guaranteed=100)
    objects = generate(setup)
    assert "gke-b-cpu" not in named(objects, "ResourceFlavor")
    assert set(flavor_quotas(named(objects, "ClusterQueue")["ops"])) == {"gke-a-a100-80gb-sxm"}
    inputs = load_kueue_inputs(setup.cluster)
    with pytest.raises(KueueExportError, match="one Kubernetes cluster"):
        kueue_objects([*inputs.pools, far], inputs.quotas, inputs.cohorts, inputs.teams, namespace_of=namespace_of)


def test_fair_share_weights(setup: Setup) -> None:
    Quota.objects.filter(team=setup.vision).update(weight=Decimal("2.500"))
    queues = named(generate(setup), "ClusterQueue")
    assert queues["vision"]["spec"]["fairSharing"] == {"weight": "2.5"}
    assert queues["nlp"]["spec"]["fairSharing"] == {"weight": "1"}
    Quota.objects.filter(team=setup.vision, pool=setup.a100).update(weight=Decimal("3"))
    vision = named(generate(setup), "ClusterQueue")["vision"]
    assert "fairSharing" not in vision["spec"]
    assert "weights differ by pool" in vision["metadata"]["annotations"][ANNOTATION_DIFFERS]


# --- policies -------------------------------------------------------------------------------


def test_preemption_and_flavor_fungibility_follow_the_teams_policy(setup: Setup) -> None:
    queues = named(generate(setup), "ClusterQueue")
    # vision's own policy.
    assert queues["vision"]["spec"]["preemption"] == {
        "withinClusterQueue": "LowerPriority",
        "reclaimWithinCohort": "LowerPriority",
        "borrowWithinCohort": {"policy": "LowerPriority", "maxPriorityThreshold": 100},
    }
    assert queues["vision"]["spec"]["flavorFungibility"] == {
        "whenCanBorrow": "TryNextFlavor",
        "whenCanPreempt": "MayStopSearch",  # v1beta2's word for Preempt
    }
    # nlp has none: its cohort's switches (reclaim on by default).
    assert queues["nlp"]["spec"]["preemption"] == {"withinClusterQueue": "Never", "reclaimWithinCohort": "Any"}
    assert queues["nlp"]["spec"]["flavorFungibility"] == {
        "whenCanBorrow": "MayStopSearch",
        "whenCanPreempt": "TryNextFlavor",
    }
    # ops: no policy, no cohort: no preemption, as the scheduler does.
    assert queues["ops"]["spec"]["preemption"] == {"withinClusterQueue": "Never", "reclaimWithinCohort": "Never"}
    setup.cohort.preempt_lower_priority = True
    setup.cohort.preempt_while_borrowing = True
    setup.cohort.save()
    nlp = named(generate(setup), "ClusterQueue")["nlp"]
    assert nlp["spec"]["preemption"] == {
        "withinClusterQueue": "LowerPriority",
        "reclaimWithinCohort": "Any",
        "borrowWithinCohort": {"policy": "LowerPriority"},
    }


def test_a_policy_kueue_refuses_is_written_as_kueue_accepts_and_says_so(setup: Setup) -> None:
    TeamPolicy.objects.filter(team=setup.vision).update(reclaim_within_cohort=ReclaimWithinCohort.NEVER)
    objects = generate(setup)
    vision = named(objects, "ClusterQueue")["vision"]
    assert vision["spec"]["preemption"]["borrowWithinCohort"] == {"policy": "Never"}
    assert "Kueue refuses the pair" in vision["metadata"]["annotations"][ANNOTATION_DIFFERS]
    assert all_problems(objects) == []


# --- queues, cohorts, names -----------------------------------------------------------------


def test_a_local_queue_per_team_in_its_namespace(setup: Setup) -> None:
    objects = generate(setup)
    queues = named(objects, "ClusterQueue")
    locals_ = named(objects, "LocalQueue")
    assert set(locals_) == set(queues)
    for name, local in locals_.items():
        team = local["metadata"]["labels"]["paddock.dev/team"]
        assert local["metadata"]["namespace"] == f"team-{team}"
        assert local["spec"] == {"clusterQueue": name}
        assert name == team_queue_name(team)  # what the team's jobs are labelled with
        # The ClusterQueue admits work from that namespace only.
        assert queues[name]["spec"]["namespaceSelector"] == {
            "matchLabels": {"kubernetes.io/metadata.name": f"team-{team}"}
        }


def test_cohorts_are_flat_and_only_those_in_use(setup: Setup) -> None:
    Cohort.objects.create(organisation=setup.cluster.organisation, name="empty")
    cohorts = named(generate(setup), "Cohort")
    assert cohorts == {
        "research": {
            "apiVersion": API_VERSION,
            "kind": "Cohort",
            "metadata": {
                "name": "research",
                "labels": {"app.kubernetes.io/managed-by": "paddock", "paddock.dev/cohort": "research"},
            },
            "spec": {},
        }
    }
    setup.cohort.fair_sharing = True
    setup.cohort.save()
    research = named(generate(setup), "Cohort")["research"]
    assert "whole installation" in research["metadata"]["annotations"][ANNOTATION_DIFFERS]


def test_names_are_dns_labels_and_never_collide(setup: Setup) -> None:
    assert dns_label("nlp") == "nlp"
    assert dns_label("ml_ops") != dns_label("ml-ops")
    assert all(is_dns1123_label(dns_label(name)) for name in ("ML_Ops", "x" * 80, "__"))
    TeamFactory(organisation=setup.cluster.organisation, slug="ml_ops", cohort=setup.cohort)
    Pool.objects.filter(pk=setup.h100.pk).update(name="gke_a_h100")
    objects = generate(setup)
    assert all_problems(objects) == []
    assert "ml-ops" in {name.rsplit("-", 1)[0] for name in named(objects, "ClusterQueue")}
    with pytest.raises(KueueExportError, match="DNS-1123"):
        inputs = load_kueue_inputs(setup.cluster)
        kueue_objects(
            inputs.pools, inputs.quotas, inputs.cohorts, inputs.teams, namespace_of=lambda team: "Team_Namespace"
        )


def test_the_management_command_prints_the_same_objects(setup: Setup) -> None:
    out = StringIO()
    call_command("kueue_objects", "--cluster", "gke-a", "--namespace", "paddock-jobs", stdout=out)
    printed = list(yaml.safe_load_all(out.getvalue()))
    inputs = load_kueue_inputs(setup.cluster)
    expected = kueue_objects(
        inputs.pools,
        inputs.quotas,
        inputs.cohorts,
        inputs.teams,
        namespace_of=lambda team: "paddock-jobs",
        policies=inputs.policies,
    )
    assert printed == expected
    assert {obj["metadata"].get("namespace") for obj in printed if obj["kind"] == "LocalQueue"} == {"paddock-jobs"}


def test_generation_reads_nothing_once_loaded(setup: Setup, django_assert_num_queries: Any) -> None:
    inputs = load_kueue_inputs(setup.cluster)
    with django_assert_num_queries(0):
        kueue_objects(
            inputs.pools,
            inputs.quotas,
            inputs.cohorts,
            inputs.teams,
            namespace_of=namespace_of,
            policies=inputs.policies,
        )
