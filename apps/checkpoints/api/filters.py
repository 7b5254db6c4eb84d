import django_filters

from apps.checkpoints.choices import CheckpointState, Stage
from apps.checkpoints.models import Checkpoint, Model, ModelVersion
from apps.core.api.fields import IdFilter


class CheckpointFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug")
    job = IdFilter(field_name="job_id")
    state = django_filters.MultipleChoiceFilter(choices=CheckpointState.choices, distinct=False)

    class Meta:
        model = Checkpoint
        fields = ["team", "job", "state"]


class ModelFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug")
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = Model
        fields = ["team", "name"]


class ModelVersionFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="model__team__slug", help_text="Team slug")
    model = IdFilter(field_name="model_id")
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices, distinct=False)

    class Meta:
        model = ModelVersion
        fields = ["team", "model", "stage"]
