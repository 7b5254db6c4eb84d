from typing import Any

import django_filters
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast

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
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=200,
        help_text="Part of the name (any case), or the start of the id (`12` finds #12, #120, #1234; `#12` too)",
    )
    mine = django_filters.ChoiceFilter(
        method="filter_mine",
        choices=[("true", "Only the caller's"), ("false", "Everyone's")],
        help_text="true: only the jobs the caller submitted",
    )

    class Meta:
        model = Job
        fields = ["team", "cluster", "pool", "state", "kind", "name", "search", "mine"]

    def filter_search(self, queryset: QuerySet[Job], name: str, value: str) -> QuerySet[Job]:
        term = value.strip()
        if not term:
            return queryset
        matches = Q(name__icontains=term)
        digits = term.removeprefix("#")
        if digits.isdigit():
            # The id as text, so a prefix finds it; on the rows already filtered (team, state…).
            queryset = queryset.alias(id_text=Cast("id", output_field=CharField()))
            matches |= Q(id_text__startswith=digits)
        return queryset.filter(matches)

    def filter_mine(self, queryset: QuerySet[Job], name: str, value: str) -> QuerySet[Job]:
        if value != "true":
            return queryset
        user = getattr(self.request, "user", None)
        if user is None or not user.is_authenticated:
            return queryset.none()
        return queryset.filter(submitted_by=user)


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
