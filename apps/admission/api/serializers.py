from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from apps.admission.accounting import PoolLedger
from apps.admission.state import PassState
from apps.inventory.api.serializers import OrganisationOwnedSerializer
from apps.jobs.choices import EstimateConfidence
from apps.jobs.models import Job
from apps.quotas.choices import FairSharingStrategy
from apps.quotas.models import Cohort, Pool, PriorityClass, Quota, TeamPolicy
from apps.tenancy.models import Organisation, Team


def _pass_state(context: Mapping[str, Any]) -> PassState:
    """The scheduler's view of every pool, loaded once per request by the view (lazily, so a
    write's response shows the numbers after the write)."""
    state: PassState = context["pass_state"]()
    return state


class SchedulingPoolSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A schedulable flavor: one cluster's GPUs of one model (or its CPUs), with what is in use now."""

    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True)
    accelerator_model = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True, help_text="Catalog model; null: the cluster's CPUs"
    )
    unit = serializers.CharField(read_only=True, help_text="What quotas count here: GPU or CPU")
    capacity = serializers.SerializerMethodField(help_text="Units on the pool's nodes that are not down")
    used = serializers.SerializerMethodField(help_text="Units held by admitted and running jobs")
    free = serializers.SerializerMethodField(help_text="Units on schedulable nodes that no job holds")
    pending = serializers.IntegerField(read_only=True, help_text="Pending jobs counted against this pool")

    class Meta:
        model = Pool
        fields = ["name", "cluster", "accelerator_model", "unit", "placement", "capacity", "used", "free", "pending"]
        read_only_fields = ["name", "cluster", "accelerator_model", "unit", "capacity", "used", "free", "pending"]

    def get_capacity(self, pool: Pool) -> int:
        ledger = _pass_state(self.context).ledgers.get(pool.pk)
        return ledger.capacity if ledger is not None else 0

    def get_used(self, pool: Pool) -> int:
        ledger = _pass_state(self.context).ledgers.get(pool.pk)
        return ledger.used_total if ledger is not None else 0

    def get_free(self, pool: Pool) -> int:
        state = _pass_state(self.context)
        snapshot = state.snapshots.get(pool.pk)
        if snapshot is not None:
            return int(snapshot.free_gpus)
        return max(0, int(state.cpu_free.get(pool.pk, 0)))


MAX_UNITS = 10_000_000  # GPUs or CPUs: far above any pool, far below the column's limit


class TeamField(serializers.SlugRelatedField):  # type: ignore[type-arg]
    """A team by slug, among the teams of the caller's organisations (others do not exist)."""

    def get_queryset(self) -> Any:
        return Team.objects.filter(organisation__in=self.context.get("organisations", Organisation.objects.none()))


class PoolField(serializers.SlugRelatedField):  # type: ignore[type-arg]
    """A pool by name, among the pools of the caller's organisations' clusters."""

    def get_queryset(self) -> Any:
        organisations = self.context.get("organisations", Organisation.objects.none())
        return Pool.objects.filter(cluster__organisation__in=organisations).select_related("cluster")


class QuotaSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A team's share of a pool: guaranteed, burst ceiling, lending limit and fair-share weight,
    with what it uses, borrows and lends right now."""

    team = TeamField(slug_field="slug", queryset=Team.objects.all(), help_text="Team slug")
    pool = PoolField(slug_field="name", queryset=Pool.objects.all(), help_text="Pool name")
    unit = serializers.CharField(source="pool.unit", read_only=True, help_text="GPU or CPU")
    max = serializers.IntegerField(
        min_value=0,
        max_value=MAX_UNITS,
        required=False,
        allow_null=True,
        help_text="Burst ceiling, borrowing from the cohort; null: as much as the cohort lends",
    )
    lending_limit = serializers.IntegerField(
        min_value=0,
        max_value=MAX_UNITS,
        required=False,
        allow_null=True,
        help_text="How much of the idle guarantee others may borrow; null: all of it",
    )
    weight = serializers.DecimalField(
        max_digits=8, decimal_places=3, required=False, coerce_to_string=False, help_text="Fair-share weight (> 0)"
    )
    memory_guaranteed_gb = serializers.IntegerField(
        min_value=0,
        max_value=MAX_UNITS,
        required=False,
        allow_null=True,
        help_text="GB of memory always there for the team; null: its memory is not counted in this pool",
    )
    memory_max_gb = serializers.IntegerField(
        min_value=0,
        max_value=MAX_UNITS,
        required=False,
        allow_null=True,
        help_text="GB of memory it may burst to by borrowing; null: what the cohort lends",
    )
    memory_lending_limit_gb = serializers.IntegerField(
        min_value=0,
        max_value=MAX_UNITS,
        required=False,
        allow_null=True,
        help_text="GB of its idle memory guarantee others may borrow; null: all of it",
    )
    memory_used_gb = serializers.SerializerMethodField(
        help_text="GB of memory its admitted and running jobs hold now (counted only with a memory guarantee)"
    )
    used = serializers.SerializerMethodField(help_text="Units its admitted and running jobs hold now")
    borrowed = serializers.SerializerMethodField(help_text="Units used above its guarantee (lent by its cohort)")
    lent = serializers.SerializerMethodField(help_text="Units of its idle guarantee other teams of its cohort use")
    fair_share = serializers.SerializerMethodField(help_text="Borrowed / pool capacity / weight: lower goes first")

    class Meta:
        model = Quota
        fields = [
            "id",
            "team",
            "pool",
            "unit",
            "guaranteed",
            "max",
            "lending_limit",
            "weight",
            "memory_guaranteed_gb",
            "memory_max_gb",
            "memory_lending_limit_gb",
            "used",
            "borrowed",
            "lent",
            "fair_share",
            "memory_used_gb",
            "updated_at",
        ]
        read_only_fields = ["id", "unit", "used", "borrowed", "lent", "fair_share", "memory_used_gb", "updated_at"]
        extra_kwargs = {"guaranteed": {"min_value": 0, "max_value": MAX_UNITS}}
        validators: list[Any] = []  # team × pool is checked by the service (a 400, not a 500)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance = self.instance
        if instance is not None:
            fixed: dict[str, Any] = {
                name: ["Cannot be changed; delete this quota and create another."]
                for name in ("team", "pool")
                if name in attrs and attrs[name].pk != getattr(instance, f"{name}_id")
            }
            if fixed:
                raise serializers.ValidationError(fixed)
            attrs.pop("team", None)
            attrs.pop("pool", None)
        return attrs

    def _ledger(self, quota: Quota) -> PoolLedger | None:
        ledger: PoolLedger | None = _pass_state(self.context).ledgers.get(quota.pool_id)
        return ledger

    def get_memory_used_gb(self, quota: Quota) -> int:
        ledger = _pass_state(self.context).memory_ledgers.get(quota.pool_id)
        if ledger is None or quota.team_id not in ledger.shares:
            return 0
        return ledger.shares[quota.team_id].used

    def get_used(self, quota: Quota) -> int:
        ledger = self._ledger(quota)
        return ledger.share(quota.team_id).used if ledger is not None else 0

    def get_borrowed(self, quota: Quota) -> int:
        ledger = self._ledger(quota)
        return ledger.share(quota.team_id).borrowed if ledger is not None else 0

    def get_lent(self, quota: Quota) -> int:
        ledger = self._ledger(quota)
        return ledger.lent_by(quota.team_id) if ledger is not None else 0

    def get_fair_share(self, quota: Quota) -> float:
        ledger = self._ledger(quota)
        return round(ledger.fair_share(quota.team_id), 6) if ledger is not None else 0.0


class TeamSlugsField(serializers.ListField):
    """Team slugs: written as a list, read from the prefetched relation (no query per row)."""

    child = serializers.SlugField(max_length=63)

    def get_attribute(self, instance: Cohort) -> list[str]:
        return sorted(team.slug for team in instance.teams.all())


class CohortSerializer(OrganisationOwnedSerializer):
    """Teams that lend idle guarantees to one another, and when their jobs may preempt."""

    teams = TeamSlugsField(
        required=False, max_length=10_000, help_text="Slugs of the member teams; a team is in at most one cohort"
    )
    fair_sharing_strategies = serializers.ListField(
        child=serializers.ChoiceField(choices=FairSharingStrategy.choices),
        required=False,
        max_length=2,
        help_text="Kueue's preemptionStrategies, tried in order: LessThanOrEqualToFinalShare, LessThanInitialShare "
        "or both in that order",
    )

    class Meta:
        model = Cohort
        fields = [
            "id",
            "organisation",
            "name",
            "description",
            "reclaim_from_borrowers",
            "preempt_lower_priority",
            "preempt_while_borrowing",
            "fair_sharing",
            "fair_sharing_strategies",
            "teams",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []  # (organisation, name) is checked in validate()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if "teams" in attrs:
            wanted = set(attrs["teams"])
            found = list(Team.objects.filter(slug__in=wanted, organisation__in=self.context["organisations"]))
            missing = sorted(wanted - {team.slug for team in found})
            if missing:
                raise serializers.ValidationError({"teams": [f"Unknown team: {', '.join(missing)}."]})
            attrs["teams"] = found
        return attrs


class PriorityClassSerializer(OrganisationOwnedSerializer):
    """A named priority: higher runs first; a class that is not preemptible must fit in the
    team's guarantee."""

    value = serializers.IntegerField(min_value=-1_000_000, max_value=1_000_000, help_text="Higher runs first")

    class Meta:
        model = PriorityClass
        fields = ["id", "organisation", "name", "value", "preemptible", "description", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []  # (organisation, name) is checked in validate()


class QueueEntrySerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A pending job, where it stands in the queue and why it waits."""

    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    pool = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    priority_class = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    queue_position = serializers.IntegerField(
        read_only=True, help_text="1-based, among the pending jobs of its team in its pool (priority, then age)"
    )
    jobs_ahead = serializers.IntegerField(
        read_only=True,
        help_text="Pending jobs of any team in its pool before it by priority, then age "
        "(the scheduler also weighs fair share between teams)",
    )
    pending_reason = serializers.CharField(source="state_reason", read_only=True, help_text="Why it waits, in words")
    cannot_run = serializers.CharField(
        read_only=True,
        help_text="Why it can never run on its cluster's hardware as it asks (more than any placement there "
        "could give, or a GPU model the cluster lacks), in words; empty when it can. Such a job is never "
        "next in its pool: cancel it and resubmit it to fit.",
    )
    waiting_since = serializers.DateTimeField(
        read_only=True, help_text="When it last joined the queue (submitted, preempted or retried)."
    )
    estimated_start_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the scheduler expects to start it (refreshed each pass)"
    )
    estimate_confidence = serializers.ChoiceField(
        choices=EstimateConfidence.choices,
        read_only=True,
        help_text="How far to trust estimated_start_at: high, medium or low; empty without an estimate",
    )
    estimate_basis = serializers.CharField(read_only=True, help_text="What the estimate rests on, in words")

    class Meta:
        model = Job
        fields = [
            "id",
            "name",
            "team",
            "pool",
            "priority",
            "priority_class",
            "queue_position",
            "jobs_ahead",
            "pending_reason",
            "cannot_run",
            "waiting_since",
            "estimated_start_at",
            "estimate_confidence",
            "estimate_basis",
        ]
        read_only_fields = fields


class TeamPolicySerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A team's own preemption and flavor policy, in Kueue's words (a team is a ClusterQueue);
    a team without one follows its cohort's switches."""

    team = TeamField(slug_field="slug", queryset=Team.objects.all(), help_text="Team slug")
    borrow_max_priority_threshold = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=-(2**31),
        max_value=2**31 - 1,
        help_text="While borrowing, preempt only jobs of at most this priority; null: any lower priority",
    )

    class Meta:
        model = TeamPolicy
        fields = [
            "id",
            "team",
            "within_team",
            "reclaim_within_cohort",
            "borrow_within_cohort",
            "borrow_max_priority_threshold",
            "when_can_borrow",
            "when_can_preempt",
            "updated_at",
        ]
        read_only_fields = ["id", "updated_at"]
        validators: list[Any] = []  # one per team is checked by the service (a 400, not a 500)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance = self.instance
        if instance is not None:
            if "team" in attrs and attrs["team"].pk != instance.team_id:
                fixed = ["Cannot be changed; delete this policy and create another."]
                raise serializers.ValidationError({"team": fixed})
            attrs.pop("team", None)
        return attrs
