from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from apps.jobs.models import Job
from apps.quotas.choices import PlacementStrategy
from apps.quotas.models import Cohort, Pool, PriorityClass, Quota, TeamPolicy


class PoolFilter(django_filters.FilterSet):
    cluster = django_filters.CharFilter(field_name="cluster__name", help_text="Cluster name")
    accelerator_model = django_filters.CharFilter(
        field_name="accelerator_model__name", lookup_expr="iexact", help_text="Catalog model name, e.g. H100 SXM"
    )
    unit = django_filters.ChoiceFilter(
        choices=[("GPU", "GPU"), ("CPU", "CPU")], method="filter_unit", help_text="GPU pools or CPU pools"
    )
    placement = django_filters.ChoiceFilter(choices=PlacementStrategy.choices)

    class Meta:
        model = Pool
        fields = ["cluster", "accelerator_model", "unit", "placement"]

    def filter_unit(self, queryset: QuerySet[Pool], name: str, value: str) -> QuerySet[Pool]:
        return queryset.filter(accelerator_model__isnull=value == "CPU")


class QuotaFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug")
    pool = django_filters.CharFilter(field_name="pool__name", help_text="Pool name")
    cluster = django_filters.CharFilter(field_name="pool__cluster__name", help_text="Cluster name")

    class Meta:
        model = Quota
        fields = ["team", "pool", "cluster"]


class CohortFilter(django_filters.FilterSet):
    organisation = django_filters.CharFilter(field_name="organisation__slug", help_text="Organisation slug")
    team = django_filters.CharFilter(field_name="teams__slug", help_text="The cohort of this team (its slug)")

    class Meta:
        model = Cohort
        fields = ["organisation", "team"]


class TeamPolicyFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug")
    organisation = django_filters.CharFilter(field_name="team__organisation__slug", help_text="Organisation slug")

    class Meta:
        model = TeamPolicy
        fields = ["team", "organisation"]


class PriorityClassFilter(django_filters.FilterSet):
    organisation = django_filters.CharFilter(field_name="organisation__slug", help_text="Organisation slug")

    class Meta:
        model = PriorityClass
        fields = ["organisation", "preemptible"]


class QueueFilter(django_filters.FilterSet):
    # Only filters that keep each team's queue in a pool whole: positions stay true.
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug")
    pool = django_filters.CharFilter(field_name="pool__name", help_text="Pool name")

    class Meta:
        model = Job
        fields = ["team", "pool"]
