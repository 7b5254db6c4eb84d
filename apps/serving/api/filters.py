import django_filters

from apps.serving.choices import EndpointState
from apps.serving.models import Endpoint


class EndpointFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug")
    cluster = django_filters.CharFilter(field_name="cluster__name", help_text="Cluster name")
    state = django_filters.MultipleChoiceFilter(choices=EndpointState.choices, distinct=False)
    name = django_filters.CharFilter(field_name="name", help_text="Exact name")

    class Meta:
        model = Endpoint
        fields = ["team", "cluster", "state", "name"]
