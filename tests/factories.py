"""factory_boy factories for every app's models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from apps.inventory.models import Cluster
from apps.jobs.models import Job
from apps.tenancy.models import Membership, Organisation, Team


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
