"""Paddock applies a Kubernetes cluster's Kueue objects itself (apps.admission.kueue_sync),
through the official client over real HTTP to the emulated API server (kmock; server-side
apply as one field manager sees it is emulated in tests/dispatch/k8s_emulator.py).

What is checked: the objects are created, each as stored by the API server valid against the
Kueue v1beta2 CRD schemas; a quota change reaches the ClusterQueue's nominalQuota once it
commits; a removed pool's flavor goes; Kueue objects that are not Paddock's are never written
or deleted, even one with a name Paddock wants; a sync with nothing changed writes nothing; a
cluster that does not answer is retried and then recorded as failed."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
import requests
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from apps.admission import kueue_sync, tasks
from apps.admission.kueue import API_VERSION, GPU_RESOURCE
from apps.core.errors import Conflict
from apps.core.models import AuditEntry
from apps.inventory.models import AcceleratorModel
from apps.quotas import services as quota_services
from apps.quotas.models import Cohort, Pool, Quota
from tests.dispatch.k8s_emulator import EmulatedCluster, k8s_cluster
from tests.factories import ClusterFactory, OrganisationFactory, TeamFactory, UserFactory
from tests.k8s_schemas import problems

pytestmark = pytest.mark.django_db

__all__ = ["k8s_cluster"]

BASE = f"/apis/{API_VERSION}"
PLURALS = {"ResourceFlavor": "resourceflavors", "Cohort": "cohorts", "ClusterQueue": "clusterqueues"}
WRITES = ("POST", "PATCH", "PUT", "DELETE")


class Kueue:
    """What the emulated API server holds of Kueue's kinds, read over HTTP."""

    def __init__(self, cluster: EmulatedCluster) -> None:
        self.cluster = cluster

    def items(self, plural: str) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.cluster.url}{BASE}/{plural}", timeout=5)
        answer.raise_for_status()
        return list(answer.json()["items"])

    def names(self, plural: str) -> set[str]:
        return {item["metadata"]["name"] for item in self.items(plural)}

    def get(self, plural: str, name: str) -> dict[str, Any]:
        answer = requests.get(f"{self.cluster.url}{BASE}/{plural}/{name}", timeout=5)
        answer.raise_for_status()
        return dict(answer.json())

    def everything(self) -> list[dict[str, Any]]:
        return [item for plural in [*PLURALS.values(), "localqueues"] for item in self.items(plural)]

    def create(self, plural: str, obj: dict[str, Any]) -> None:
        requests.post(f"{self.cluster.url}{BASE}/{plural}", json=obj, timeout=5).raise_for_status()

    def writes(self) -> int:
        return sum(len(self.cluster.requests(method)) for method in WRITES)


@pytest.fixture
def kueue(k8s_cluster: EmulatedCluster) -> Kueue:
    return Kueue(k8s_cluster)


@pytest.fixture
def lab(k8s_cluster: EmulatedCluster) -> Any:
    """A Kueue cluster with an H100 pool, an A100 pool and a CPU pool; three teams, two in a cohort."""
    org = OrganisationFactory(slug="acme")
    cluster = ClusterFactory(
        organisation=org,
        name="lab",
        kind="kubernetes",
        address=k8s_cluster.url,
        trusted_network=True,  # the emulator takes anonymous calls
        kubernetes={"kueue": True, "namespace": "paddock-jobs"},
    )
    h100 = Pool.objects.create(
        name="lab-h100", cluster=cluster, accelerator_model=AcceleratorModel.objects.get(name="H100 SXM")
    )
    a100 = Pool.objects.create(
        name="lab-a100", cluster=cluster, accelerator_model=AcceleratorModel.objects.get(name="A100 80GB SXM")
    )
    Pool.objects.create(name="lab-cpu", cluster=cluster)
    cohort = Cohort.objects.create(organisation=org, name="research")
    nlp = TeamFactory(organisation=org, slug="nlp", cohort=cohort)
    vision = TeamFactory(organisation=org, slug="vision", cohort=cohort)
    ops = TeamFactory(organisation=org, slug="ops")
    Quota.objects.create(team=nlp, pool=h100, guaranteed=16, max=24, lending_limit=8)
    Quota.objects.create(team=vision, pool=a100, guaranteed=8, max=16)
    Quota.objects.create(team=ops, pool=a100, guaranteed=4)
    return cluster


def gpu_quota(queue: dict[str, Any], flavor: str) -> dict[str, Any]:
    (group,) = queue["spec"]["resourceGroups"]
    (chosen,) = [item for item in group["flavors"] if item["name"] == flavor]
    (gpu,) = [item for item in chosen["resources"] if item["name"] == GPU_RESOURCE]
    return dict(gpu)


def test_the_objects_are_created_valid_and_labelled_as_this_clusters(lab: Any, kueue: Kueue) -> None:
    result = kueue_sync.sync_kueue(lab)

    assert set(result.created) == {
        "ResourceFlavor/lab-cpu",
        "ResourceFlavor/lab-h100",
        "ResourceFlavor/lab-a100",
        "Cohort/research",
        "ClusterQueue/nlp",
        "ClusterQueue/vision",
        "ClusterQueue/ops",
        "LocalQueue/paddock-jobs/nlp",
        "LocalQueue/paddock-jobs/vision",
        "LocalQueue/paddock-jobs/ops",
    }
    assert not (result.updated or result.deleted or result.refused or result.unchanged)
    stored = kueue.everything()
    assert len(stored) == 10
    for obj in stored:  # as the API server holds them, owner label and digest included
        assert problems(obj) == [], obj["metadata"]["name"]
        assert obj["metadata"]["labels"][kueue_sync.OWNER_LABEL] == f"cluster-{lab.pk}"
        assert obj["metadata"]["annotations"]["paddock.dev/applied-digest"]
    assert gpu_quota(kueue.get("clusterqueues", "nlp"), "lab-h100") == {
        "name": GPU_RESOURCE,
        "nominalQuota": 16,
        "borrowingLimit": 8,
        "lendingLimit": 8,
    }
    local = [obj for obj in stored if obj["kind"] == "LocalQueue"]
    assert {obj["metadata"]["namespace"] for obj in local} == {"paddock-jobs"}  # the cluster's job namespace
    entry = AuditEntry.objects.get(action="admission.kueue_applied")
    assert entry.target_id == str(lab.pk) and len(entry.data["created"]) == 10


def test_a_sync_with_nothing_changed_writes_nothing(lab: Any, kueue: Kueue) -> None:
    kueue_sync.sync_kueue(lab)
    before = kueue.writes()

    result = kueue_sync.sync_kueue(lab)

    assert kueue.writes() == before
    assert len(result.unchanged) == 10 and not result.written
    assert AuditEntry.objects.filter(action="admission.kueue_applied").count() == 1  # nothing to record


def test_a_quota_change_reaches_the_cluster_queue_once_it_commits(
    lab: Any, kueue: Kueue, k8s_cluster: EmulatedCluster, django_capture_on_commit_callbacks: Any
) -> None:
    kueue_sync.sync_kueue(lab)
    quota = Quota.objects.get(team__slug="nlp")
    operator = UserFactory(is_staff=True)

    with django_capture_on_commit_callbacks(execute=True):  # the signal's sync runs on commit
        quota_services.update_quota(actor=operator, quota=quota, changes={"guaranteed": 20, "max": 32})

    assert gpu_quota(kueue.get("clusterqueues", "nlp"), "lab-h100") == {
        "name": GPU_RESOURCE,
        "nominalQuota": 20,
        "borrowingLimit": 12,
        "lendingLimit": 8,
    }
    (patch,) = k8s_cluster.requests("PATCH")  # one object changed: one write
    assert patch.headers["Content-Type"] == "application/apply-patch+yaml"
    assert patch.params["fieldManager"] == "paddock" and patch.params["force"] == "true"
    entry = AuditEntry.objects.filter(action="admission.kueue_applied").latest("pk")
    assert entry.data["updated"] == ["ClusterQueue/nlp"] and entry.data["unchanged"] == 9
    assert problems(kueue.get("clusterqueues", "nlp")) == []


def test_a_dropped_field_is_removed_not_left_behind(lab: Any, kueue: Kueue) -> None:
    kueue_sync.sync_kueue(lab)
    assert "borrowingLimit" in gpu_quota(kueue.get("clusterqueues", "nlp"), "lab-h100")
    Quota.objects.filter(team__slug="nlp").update(max=None)  # unbounded: Kueue says no borrowingLimit

    kueue_sync.sync_kueue(lab)

    assert "borrowingLimit" not in gpu_quota(kueue.get("clusterqueues", "nlp"), "lab-h100")


def test_a_removed_pool_takes_its_flavor_and_leaves_other_kueue_objects_alone(lab: Any, kueue: Kueue) -> None:
    # Kueue objects that are not this cluster's Paddock's: one of no owner, one of another owner,
    # and one whose name Paddock wants.
    kueue.create("resourceflavors", {"apiVersion": API_VERSION, "kind": "ResourceFlavor", "metadata": {"name": "spot"}})
    other_owner = {kueue_sync.OWNER_LABEL: "cluster-999999"}
    kueue.create(
        "clusterqueues",
        {"apiVersion": API_VERSION, "kind": "ClusterQueue", "metadata": {"name": "batch", "labels": other_owner}},
    )
    squatter = {"apiVersion": API_VERSION, "kind": "Cohort", "metadata": {"name": "research"}, "spec": {"x": 1}}
    kueue.create("cohorts", squatter)
    first = kueue_sync.sync_kueue(lab)
    assert first.refused == ("Cohort/research",)
    assert "is not Paddock's" in first.messages[0]

    Pool.objects.filter(name="lab-a100").delete()  # its quotas go with it
    result = kueue_sync.sync_kueue(lab)

    assert result.deleted == ("ResourceFlavor/lab-a100",)
    # Every queue named the flavor (nlp's with nothing of its own there, to borrow in its cohort).
    assert set(result.updated) == {"ClusterQueue/nlp", "ClusterQueue/vision", "ClusterQueue/ops"}
    assert kueue.names("resourceflavors") == {"spot", "lab-cpu", "lab-h100"}
    assert kueue.names("clusterqueues") == {"batch", "nlp", "vision", "ops"}
    flavors = {item["name"] for item in kueue.get("clusterqueues", "vision")["spec"]["resourceGroups"][0]["flavors"]}
    assert "lab-a100" not in flavors
    assert kueue.get("cohorts", "research") == squatter  # never written
    assert kueue.get("clusterqueues", "batch")["metadata"]["labels"] == other_owner
    entry = AuditEntry.objects.filter(action="admission.kueue_applied").latest("pk")
    assert entry.data["refused"] == ["Cohort/research"]


def test_every_object_goes_when_kueue_has_nothing_left_to_say(lab: Any, kueue: Kueue) -> None:
    kueue_sync.sync_kueue(lab)
    Pool.objects.filter(cluster=lab).delete()
    Cohort.objects.all().delete()
    for team in ("nlp", "vision", "ops"):
        TeamFactory._meta.model.objects.filter(slug=team).delete()

    result = kueue_sync.sync_kueue(lab)

    # The CPU flavor stays (every ClusterQueue needs one, even with no pool), all else goes,
    # LocalQueues before their ClusterQueues.
    order = list(result.deleted)
    assert order.index("LocalQueue/paddock-jobs/nlp") < order.index("ClusterQueue/nlp")
    assert kueue.names("clusterqueues") == set() and kueue.names("localqueues") == set()
    assert kueue.names("resourceflavors") == {"cpu"}


def test_an_unanswering_cluster_is_retried_then_the_failure_recorded(
    lab: Any, kueue: Kueue, k8s_cluster: EmulatedCluster
) -> None:
    k8s_cluster.refuse(503, "ServiceUnavailable", "etcd is down")

    outcome = tasks.sync_kueue(lab.pk)  # eager: its retries run at once, here

    assert outcome["retrying"] == 1 and "503" in outcome["error"]
    lists = [r for r in k8s_cluster.requests("GET") if "/resourceflavors" in str(r.url)]
    assert len(lists) >= 2, "asked again before giving up"
    entry = AuditEntry.objects.get(action="admission.kueue_apply_failed")
    assert "503" in entry.data["error"] or "not answering" in entry.data["error"]

    k8s_cluster.allow()
    from apps.dispatch.registry import reset_breakers

    reset_breakers()
    assert tasks.sync_kueue(lab.pk)["created"] == 10


def test_a_refusal_is_not_retried(lab: Any, k8s_cluster: EmulatedCluster) -> None:
    k8s_cluster.refuse(403, "Forbidden", "cannot list resourceflavors")

    assert "failed" in tasks.sync_kueue(lab.pk)

    assert len(k8s_cluster.requests("GET")) == 1
    assert "403" in AuditEntry.objects.get(action="admission.kueue_apply_failed").data["error"]


def test_a_cluster_without_kueue_is_left_alone(lab: Any, kueue: Kueue) -> None:
    lab.kubernetes = {"namespace": "paddock-jobs"}
    lab.save()
    with pytest.raises(Conflict):
        kueue_sync.sync_kueue(lab)
    assert tasks.sync_kueue(lab.pk) == {"skipped": True}
    assert kueue.writes() == 0
    with pytest.raises(CommandError, match="does not use Kueue"):
        call_command("kueue_objects", "--cluster", "lab", "--apply")


def test_the_command_applies_on_demand(lab: Any, kueue: Kueue) -> None:
    out = StringIO()
    call_command("kueue_objects", "--cluster", "lab", "--apply", stdout=out)
    assert "created ClusterQueue/nlp" in out.getvalue()
    assert len(kueue.everything()) == 10

    out = StringIO()
    call_command("kueue_objects", "--cluster", "lab", "--apply", stdout=out)
    assert out.getvalue().strip() == "10 unchanged"


def test_the_admin_action_applies_as_the_operator(
    lab: Any, kueue: Kueue, django_capture_on_commit_callbacks: Any
) -> None:
    operator = UserFactory(username="root", is_staff=True, is_superuser=True)
    ray = ClusterFactory(organisation=lab.organisation, name="ray-one")
    console = Client()
    console.force_login(operator)

    with django_capture_on_commit_callbacks(execute=True):
        answer = console.post(
            reverse("admin:inventory_cluster_changelist"),
            {"action": "apply_kueue_objects", "_selected_action": [lab.pk, ray.pk]},
            follow=True,
        )

    text = answer.content.decode()
    assert "Kueue objects queued to apply on lab" in text
    assert "Not Kueue clusters" in text and "ray-one" in text
    assert len(kueue.everything()) == 10
    entry = AuditEntry.objects.get(action="admission.kueue_applied")
    assert entry.actor == operator


def test_a_sync_delivered_twice_writes_once(lab: Any, kueue: Kueue) -> None:
    assert tasks.sync_kueue(lab.pk)["created"] == 10
    writes = kueue.writes()

    assert tasks.sync_kueue(lab.pk) == {"created": 0, "updated": 0, "deleted": 0, "refused": 0, "unchanged": 10}
    assert kueue.writes() == writes


def test_the_periodic_pass_syncs_every_kueue_cluster_and_no_other(lab: Any, kueue: Kueue) -> None:
    ClusterFactory(organisation=lab.organisation, name="ray-one")
    ClusterFactory(organisation=lab.organisation, name="plain-k8s", kind="kubernetes", kubernetes={"namespace": "x"})

    assert tasks.sync_kueue_all() == 1

    assert len(kueue.everything()) == 10


def test_a_team_moved_into_the_cohort_is_synced_on_commit(
    lab: Any, kueue: Kueue, django_capture_on_commit_callbacks: Any
) -> None:
    kueue_sync.sync_kueue(lab)
    assert "cohortName" not in kueue.get("clusterqueues", "ops")["spec"]
    ops = TeamFactory._meta.model.objects.get(slug="ops")

    with django_capture_on_commit_callbacks(execute=True):
        ops.cohort = Cohort.objects.get(name="research")
        ops.save()

    assert kueue.get("clusterqueues", "ops")["spec"]["cohortName"] == "research"


def test_apply_refuses_what_it_cannot_place(lab: Any, kueue: Kueue) -> None:
    from apps.dispatch.port import BackendError
    from apps.inventory.services import backend_for

    backend = backend_for(lab)
    owner = kueue_sync.owner_label(lab)
    flavor = {"apiVersion": API_VERSION, "kind": "ResourceFlavor", "metadata": {"name": "a"}}
    with pytest.raises(BackendError, match="not among the kinds given") as unknown:
        backend.apply_objects([flavor], kinds=kueue_sync.KUEUE_KINDS[1:], owner_label=owner)
    with pytest.raises(BackendError, match="cluster-scoped") as scoped:
        bad = {**flavor, "metadata": {"name": "a", "namespace": "x"}}
        backend.apply_objects([bad], kinds=kueue_sync.KUEUE_KINDS, owner_label=owner)
    with pytest.raises(BackendError, match="twice") as twice:
        backend.apply_objects([flavor, flavor], kinds=kueue_sync.KUEUE_KINDS, owner_label=owner)
    assert not (unknown.value.retryable or scoped.value.retryable or twice.value.retryable)
    assert kueue.writes() == 0


def test_a_cluster_that_never_answers_is_given_up_on_at_the_deadline(lab: Any, tarpit: Any, settings: Any) -> None:
    import time

    from apps.dispatch.port import BackendError

    settings.PADDOCK_SUBMIT_DEADLINE = 0.5  # the deadline of one apply, all its requests together
    lab.address = tarpit.address
    lab.save()
    started = time.monotonic()

    with pytest.raises(BackendError) as failure:
        kueue_sync.sync_kueue(lab)

    assert failure.value.retryable  # the task asks again later
    assert "no answer to apply objects within 0.5 s" in failure.value.message
    assert time.monotonic() - started < 5, "ended by its deadline, not the adapter's read timeout (10 s)"
    assert tarpit.connections >= 1
