"""factory_boy factories for every app's models."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.inventory.models import Cluster
from apps.jobs.models import Job
from apps.tenancy.models import Membership, Organisation, OrganisationMembership, Team


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-1")


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"org{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    organisation = factory.SubFactory(OrganisationFactory)
    slug = factory.Sequence(lambda n: f"team{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = "member"


class OrganisationAdminFactory(factory.django.DjangoModelFactory):
    """An organisation admin (not a member of any team unless made one)."""

    class Meta:
        model = OrganisationMembership

    organisation = factory.SubFactory(OrganisationFactory)
    user = factory.SubFactory(UserFactory)
    role = "admin"


class ClusterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cluster
        django_get_or_create = ("name",)

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"cluster{n}")
    kind = "ray"
    address = "http://127.0.0.1:8265"


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    team = factory.SubFactory(TeamFactory)
    cluster = factory.SubFactory(ClusterFactory, organisation=factory.SelfAttribute("..team.organisation"))
    name = factory.Sequence(lambda n: f"job-{n}")
    kind = "batch"
    entrypoint = "python -c 'print(1)'"
    submitted_by = factory.SubFactory(UserFactory)


# --- inventory: nodes, accelerators, interconnect, fabrics, storage, maintenance ----------
class AcceleratorModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "inventory.AcceleratorModel"
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Test GPU {n}")
    vendor = "nvidia"
    memory_gb = 80.0
    memory_bandwidth_gbps = 3350.0
    bf16_tflops = 989.0
    source_url = "https://example.com/datasheet"


class NodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "inventory.Node"

    cluster = factory.SubFactory(ClusterFactory)
    hostname = factory.Sequence(lambda n: f"gpu-node-{n:03d}")
    cpus = 64
    memory_bytes = 512 * 2**30
    state = "ready"


class AcceleratorFactory(factory.django.DjangoModelFactory):
    """An idle, healthy 80 GiB GPU unless told otherwise."""

    class Meta:
        model = "inventory.Accelerator"

    node = factory.SubFactory(NodeFactory)
    index = factory.Sequence(lambda n: n % 30000)
    uuid = factory.Sequence(lambda n: f"GPU-{n:08d}")
    model = factory.SubFactory(AcceleratorModelFactory)
    reported_name = factory.LazyAttribute(lambda a: a.model.name if a.model else "Unknown GPU")
    memory_total_mib = 81559
    memory_used_mib = 0
    utilisation_percent = 0.0
    health = "ok"


class InterconnectDomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "inventory.InterconnectDomain"

    node = factory.SubFactory(NodeFactory)
    kind = "nvswitch"
    link_generation = 4
    bandwidth_gbps = 900.0


class NetworkFabricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "inventory.NetworkFabric"

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"fabric{n}")
    kind = "infiniband"
    gbps_per_node = 3200.0
    rdma = True


class StorageBackendFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "inventory.StorageBackend"

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"storage{n}")
    kind = "local"
    uri = "/tmp"
    purpose = "checkpoints"


class MaintenanceWindowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "inventory.MaintenanceWindow"

    node = factory.SubFactory(NodeFactory)
    starts_at = factory.LazyFunction(timezone.now)
    ends_at = factory.LazyAttribute(lambda w: w.starts_at + timedelta(hours=2))
    reason = "firmware upgrade"


# --- costs: dated prices --------------------------------------------------------------------
class PricePointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "costs.PricePoint"

    accelerator_model = factory.SubFactory(AcceleratorModelFactory)
    pricing_class = "on_demand"
    price_per_gpu_hour = Decimal("2.5000")
    offer = factory.Sequence(lambda n: f"Test cloud offer {n}")
    as_of = date(2026, 1, 1)
    source_url = "https://example.com/pricing"


def job_request(team: Team, cluster: Cluster, **overrides: object) -> object:
    """A validated submission for ``apps.jobs.services.submit_job`` (what the API builds)."""
    from apps.jobs.services import JobRequest

    fields: dict[str, object] = {
        "name": "job",
        "team": team,
        "cluster": cluster,
        "kind": "batch",
        "entrypoint": "true",
        "runtime_env": {},
        "cpus": 1.0,
        "gpus": 0.0,
        "accelerator_model": "",
        "memory_gb": 0.0,
        "max_retries": 0,
    }
    fields.update(overrides)
    return JobRequest(**fields)  # type: ignore[arg-type]
