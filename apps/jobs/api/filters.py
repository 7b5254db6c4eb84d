from typing import Any

import django_filters
from django.db.models import QuerySet

from apps.jobs.choices import ATTEMPT_ACTIVE_STATES, JobKind, JobState
from apps.jobs.models import Attempt, CodePackage, Job


class JobFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug")
    cluster = django_filters.CharFilter(field_name="cluster__name", help_text="Cluster name")
    pool = django_filters.CharFilter(field_name="pool__name", help_text="Pool name")
    # distinct=False: a single-valued field needs no DISTINCT (which would sort every row).
    state = django_filters.MultipleChoiceFilter(
        choices=JobState.choices, distinct=False, help_text="Repeat for several states"
    )
    kind = django_filters.ChoiceFilter(choices=JobKind.choices)
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = Job
        fields = ["team", "cluster", "pool", "state", "kind", "name"]


class CodePackageFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug")
    sha256 = django_filters.CharFilter(field_name="sha256", help_text="The zip's sha256 (is it uploaded already?)")

    class Meta:
        model = CodePackage
        fields = ["team", "sha256"]


class NodeAttemptFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="job__team__slug", help_text="Team slug")
    # A choice, not a BooleanFilter: that one reads a misspelt value as "no filter" (no 400).
    active = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_active",
        help_text="true: attempts on the node now; false: finished ones",
    )

    class Meta:
        model = Attempt
        fields = ["team", "active"]

    def filter_active(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        if not value:
            return queryset
        return (
            queryset.filter(state__in=ATTEMPT_ACTIVE_STATES)
            if value == "true"
            else queryset.exclude(state__in=ATTEMPT_ACTIVE_STATES)
        )
