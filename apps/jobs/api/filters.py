import django_filters

from apps.jobs.choices import JobKind, JobState
from apps.jobs.models import CodePackage, Job


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
