from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Count, Prefetch, Q
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.admission.api.filters import (
    CohortFilter,
    PoolFilter,
    PriorityClassFilter,
    QueueFilter,
    QuotaFilter,
    TeamPolicyFilter,
)
from apps.admission.api.serializers import (
    CohortSerializer,
    PriorityClassSerializer,
    QueueEntrySerializer,
    QuotaSerializer,
    SchedulingPoolSerializer,
    TeamPolicySerializer,
)
from apps.admission.feasibility import attach_cannot_run
from apps.admission.state import PassState, load_state
from apps.core.api.pagination import KeysFirstPagination
from apps.core.api.viewsets import TeamScopedViewSet
from apps.inventory.api.views import OrganisationScopedViewSet
from apps.jobs.choices import JobState
from apps.jobs.models import Job
from apps.jobs.querysets import attach_queue_positions
from apps.quotas import services
from apps.quotas.models import Cohort, Pool, PriorityClass, Quota, TeamPolicy
from apps.tenancy.models import Team


class PassStateMixin:
    """Gives serializers the scheduler's view of every pool (usage, capacity, what is free),
    loaded at most once per request and only when a response shows it: a fixed number of
    queries, whatever the number of rows."""

    _pass_state: PassState | None = None

    def pass_state(self) -> PassState:
        if self._pass_state is None:
            self._pass_state = load_state()
        return self._pass_state

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "pass_state": self.pass_state}  # type: ignore[misc]


class PoolViewSet(
    PassStateMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, OrganisationScopedViewSet
):
    """Pools of the clusters of the caller's organisations, with capacity and use now; admins
    of the organisation choose how each places gangs (pack or spread)."""

    queryset = (
        Pool.objects.select_related("cluster", "accelerator_model")
        .annotate(pending=Count("jobs", filter=Q(jobs__state=JobState.PENDING)))
        .order_by("name")
    )
    serializer_class = SchedulingPoolSerializer
    filterset_class = PoolFilter
    organisation_field = "cluster__organisation"
    lookup_field = "name"
    ordering_fields = ["name", "created_at"]
    ordering = ["name"]
    http_method_names = ["get", "patch", "head", "options"]

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Before validation: field errors are for those who may write.
        self.require_organisation_admin(self.get_object().cluster.organisation_id, "change pools")
        return super().update(request, *args, **kwargs)

    def perform_update(self, serializer: Any) -> None:
        if "placement" in serializer.validated_data:
            services.set_pool_placement(
                actor=self.actor, pool=serializer.instance, placement=serializer.validated_data["placement"]
            )


class OrganisationAdminViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    OrganisationScopedViewSet,
):
    """Read by every member of the organisation; created, changed and deleted by its admins,
    through the services."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    noun: ClassVar[str] = ""
    plural: ClassVar[str] = ""  # empty: the noun and an s

    @property
    def nouns(self) -> str:
        return self.plural or f"{self.noun}s"

    def organisation_id_of(self, instance: Any) -> int:
        return int(instance.organisation_id)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Before validation: a caller who is an admin nowhere learns nothing from field errors.
        self.require_organisation_admin(None, f"add {self.nouns}")
        return super().create(request, *args, **kwargs)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.require_organisation_admin(self.organisation_id_of(self.get_object()), f"change {self.nouns}")
        return super().update(request, *args, **kwargs)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        self.require_organisation_admin(self.organisation_id_of(instance), f"delete {self.nouns}")
        self.perform_destroy(instance)
        return Response(status=status.HTTP_204_NO_CONTENT)


class QuotaViewSet(PassStateMixin, OrganisationAdminViewSet):
    """Quotas of the teams of the caller's organisations, with use, borrowing and lending now."""

    queryset = Quota.objects.select_related("team", "pool").order_by("pool__name", "team__slug", "id")
    serializer_class = QuotaSerializer
    filterset_class = QuotaFilter
    organisation_field = "team__organisation"
    ordering_fields = ["guaranteed", "max", "weight", "updated_at"]
    ordering = ["pool__name", "team__slug", "id"]
    noun = "quota"

    def organisation_id_of(self, instance: Quota) -> int:
        return instance.team.organisation_id

    def perform_create(self, serializer: Any) -> None:
        team: Team = serializer.validated_data["team"]
        self.require_organisation_admin(team.organisation_id, "add quotas")
        serializer.instance = services.create_quota(actor=self.actor, quota=Quota(**serializer.validated_data))

    def perform_update(self, serializer: Any) -> None:
        services.update_quota(actor=self.actor, quota=serializer.instance, changes=serializer.validated_data)

    def perform_destroy(self, instance: Quota) -> None:
        services.delete_quota(actor=self.actor, quota=instance)


class CohortViewSet(OrganisationAdminViewSet):
    """Cohorts of the caller's organisations: teams that lend to one another, and their
    preemption policy."""

    queryset = (
        Cohort.objects.select_related("organisation")
        .prefetch_related(Prefetch("teams", queryset=Team.objects.only("id", "slug", "cohort_id").order_by("slug")))
        .order_by("name", "id")
    )
    serializer_class = CohortSerializer
    filterset_class = CohortFilter
    ordering_fields = ["name", "created_at"]
    ordering = ["name", "id"]
    noun = "cohort"

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        self.require_organisation_admin(data["organisation"].pk, "add cohorts")
        teams = data.pop("teams", [])
        serializer.instance = services.create_cohort(actor=self.actor, cohort=Cohort(**data), teams=teams)

    def perform_update(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        data.pop("organisation", None)  # fixed once created (the serializer checks)
        teams = data.pop("teams", None)
        services.update_cohort(actor=self.actor, cohort=serializer.instance, changes=data, teams=teams)

    def perform_destroy(self, instance: Cohort) -> None:
        services.delete_cohort(actor=self.actor, cohort=instance)


class TeamPolicyViewSet(OrganisationAdminViewSet):
    """Teams' own preemption policies in Kueue's words (withinClusterQueue, reclaimWithinCohort,
    borrowWithinCohort, flavorFungibility); a team with none follows its cohort's switches."""

    queryset = TeamPolicy.objects.select_related("team").order_by("team__slug", "id")
    serializer_class = TeamPolicySerializer
    filterset_class = TeamPolicyFilter
    organisation_field = "team__organisation"
    ordering_fields = ["updated_at"]
    ordering = ["team__slug", "id"]
    noun = "team policy"
    plural = "team policies"

    def organisation_id_of(self, instance: TeamPolicy) -> int:
        return instance.team.organisation_id

    def perform_create(self, serializer: Any) -> None:
        team: Team = serializer.validated_data["team"]
        self.require_organisation_admin(team.organisation_id, "add team policies")
        serializer.instance = services.create_team_policy(
            actor=self.actor, policy=TeamPolicy(**serializer.validated_data)
        )

    def perform_update(self, serializer: Any) -> None:
        services.update_team_policy(actor=self.actor, policy=serializer.instance, changes=serializer.validated_data)

    def perform_destroy(self, instance: TeamPolicy) -> None:
        services.delete_team_policy(actor=self.actor, policy=instance)


class PriorityClassViewSet(OrganisationAdminViewSet):
    """Priority classes of the caller's organisations (a job names one at submission)."""

    queryset = PriorityClass.objects.select_related("organisation").order_by("-value", "name", "id")
    serializer_class = PriorityClassSerializer
    filterset_class = PriorityClassFilter
    ordering_fields = ["value", "name", "created_at"]
    ordering = ["-value", "name", "id"]
    noun = "priority class"
    plural = "priority classes"

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        self.require_organisation_admin(data["organisation"].pk, "add priority classes")
        serializer.instance = services.create_priority_class(actor=self.actor, priority_class=PriorityClass(**data))

    def perform_update(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        data.pop("organisation", None)
        services.update_priority_class(actor=self.actor, priority_class=serializer.instance, changes=data)

    def perform_destroy(self, instance: PriorityClass) -> None:
        services.delete_priority_class(actor=self.actor, priority_class=instance)


class QueueViewSet(mixins.ListModelMixin, TeamScopedViewSet):
    """The caller's teams' pending jobs in queue order: position, jobs ahead and why each waits."""

    queryset = Job.objects.queue().select_related("cluster")
    pagination_class = KeysFirstPagination
    serializer_class = QueueEntrySerializer
    filterset_class = QueueFilter
    ordering_fields: list[str] = []  # the queue's own order only
    ordering = ["-priority", "created_at", "id"]

    def paginate_queryset(self, queryset: Any) -> list[Any] | None:
        page = super().paginate_queryset(queryset)
        if page is not None:
            attach_queue_positions(page, jobs_ahead=True)  # one query for the page
            attach_cannot_run(page)  # a few for the page's clusters, whatever their size
        return page
