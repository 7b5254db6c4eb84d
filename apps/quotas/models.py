"""Pools, quotas, cohorts and priority classes: Kueue's admission ideas in plain words.

- A **pool** is a schedulable flavor: one cluster's GPUs of one accelerator model (or, with no
  model, its CPUs).
- A **quota** gives a team, in a pool, a ``guaranteed`` number of GPUs (Kueue's nominal quota),
  a ``max`` it may burst to by borrowing idle guarantees of its cohort (nominal + borrowing
  limit), a ``lending_limit`` on how much of its own idle guarantee others may borrow, and a
  fair-share ``weight``; optionally the same three for **memory** (GB), counted alongside.
- A **cohort** groups teams that lend to one another, with the three preemption switches.
- A **priority class** names a priority and says whether its jobs may be preempted.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from apps.core.models import TimeStampedModel
from apps.quotas.choices import (
    BorrowWithinCohort,
    FairSharingStrategy,
    PlacementStrategy,
    ReclaimWithinCohort,
    WhenCanBorrow,
    WhenCanPreempt,
    WithinTeam,
)


def default_fair_sharing_strategies() -> list[str]:
    """Kueue's default ``preemptionStrategies``."""
    return [
        FairSharingStrategy.LESS_THAN_OR_EQUAL_TO_FINAL_SHARE.value,
        FairSharingStrategy.LESS_THAN_INITIAL_SHARE.value,
    ]


class Cohort(TimeStampedModel):
    organisation = models.ForeignKey("tenancy.Organisation", on_delete=models.PROTECT, related_name="cohorts")
    name = models.SlugField(max_length=63)
    description = models.CharField(max_length=500, blank=True, default="")
    reclaim_from_borrowers = models.BooleanField(
        default=True,
        help_text="A team asking for work within its guarantee preempts other teams' jobs that borrow it.",
    )
    preempt_lower_priority = models.BooleanField(
        default=False, help_text="A job preempts lower-priority, preemptible jobs of its own team in the same pool."
    )
    preempt_while_borrowing = models.BooleanField(
        default=False,
        help_text="A job that must borrow preempts lower-priority, preemptible jobs of other teams that borrow.",
    )
    fair_sharing = models.BooleanField(
        default=False,
        help_text="Kueue's fair sharing: a team below its weighted share preempts the borrowing of a team above it.",
    )
    # A JSON list (not a PostgreSQL array): the embedded default runs on SQLite. The services
    # accept only the lists Kueue does (FAIR_SHARING_STRATEGY_LISTS).
    fair_sharing_strategies = models.JSONField(
        default=default_fair_sharing_strategies,
        help_text="Kueue's preemptionStrategies, tried in order (with fair sharing on).",
    )

    class Meta:
        ordering = ["organisation_id", "name"]
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="cohort_unique_org_name")]

    def __str__(self) -> str:
        return self.name


class TeamPolicy(TimeStampedModel):
    """A team's own preemption and flavor policy, in Kueue's words (a team is a ClusterQueue).
    A team without one follows its cohort's switches."""

    team = models.OneToOneField("tenancy.Team", on_delete=models.CASCADE, related_name="admission_policy")
    within_team = models.CharField(
        max_length=32,
        choices=WithinTeam.choices,
        default=WithinTeam.NEVER,
        help_text="Kueue's withinClusterQueue: which of the team's own jobs a job may preempt.",
    )
    reclaim_within_cohort = models.CharField(
        max_length=32,
        choices=ReclaimWithinCohort.choices,
        default=ReclaimWithinCohort.ANY,
        help_text="Kueue's reclaimWithinCohort: which borrowing jobs of other teams a job may preempt.",
    )
    borrow_within_cohort = models.CharField(
        max_length=32,
        choices=BorrowWithinCohort.choices,
        default=BorrowWithinCohort.NEVER,
        help_text="Kueue's borrowWithinCohort: whether a job that must borrow may preempt other teams' borrowing work.",
    )
    borrow_max_priority_threshold = models.IntegerField(
        null=True,
        blank=True,
        help_text="Only jobs of at most this priority are preempted while borrowing; empty: any lower priority.",
    )
    when_can_borrow = models.CharField(
        max_length=32,
        choices=WhenCanBorrow.choices,
        default=WhenCanBorrow.BORROW,
        help_text="Kueue's flavorFungibility.whenCanBorrow.",
    )
    when_can_preempt = models.CharField(
        max_length=32,
        choices=WhenCanPreempt.choices,
        default=WhenCanPreempt.TRY_NEXT_FLAVOR,
        help_text="Kueue's flavorFungibility.whenCanPreempt.",
    )

    class Meta:
        ordering = ["team_id"]
        verbose_name_plural = "team policies"

    def __str__(self) -> str:
        return f"policy of {self.team}"


class Pool(TimeStampedModel):
    name = models.SlugField(max_length=63, unique=True)
    cluster = models.ForeignKey("inventory.Cluster", on_delete=models.CASCADE, related_name="pools")
    accelerator_model = models.ForeignKey(
        "inventory.AcceleratorModel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pools",
        help_text="Empty: the cluster's CPUs (quotas then count CPUs).",
    )
    placement = models.CharField(max_length=8, choices=PlacementStrategy.choices, default=PlacementStrategy.PACK)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "accelerator_model"],
                condition=Q(accelerator_model__isnull=False),
                name="pool_unique_cluster_model",
            ),
            models.UniqueConstraint(
                fields=["cluster"], condition=Q(accelerator_model__isnull=True), name="pool_unique_cluster_cpu"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def unit(self) -> str:
        return "GPU" if self.accelerator_model_id else "CPU"


class Quota(TimeStampedModel):
    team = models.ForeignKey("tenancy.Team", on_delete=models.CASCADE, related_name="quotas")
    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="quotas")
    guaranteed = models.PositiveIntegerField(
        default=0, help_text="GPUs (CPUs in a CPU pool) always there for the team."
    )
    max = models.PositiveIntegerField(
        null=True, blank=True, help_text="Burst ceiling, borrowing from the cohort; empty: as much as the cohort lends."
    )
    lending_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="How much of the idle guarantee others may borrow; empty: all of it."
    )
    weight = models.DecimalField(max_digits=8, decimal_places=3, default=1, help_text="Fair-share weight.")
    # Memory, a second resource of the same flavor (Kueue: another resource in the pool's
    # resource group). Empty guarantee: the team's memory is not counted in this pool.
    memory_guaranteed_gb = models.PositiveIntegerField(
        null=True, blank=True, help_text="GB of memory always there for the team; empty: memory not counted."
    )
    memory_max_gb = models.PositiveIntegerField(
        null=True, blank=True, help_text="GB of memory it may burst to by borrowing; empty: what the cohort lends."
    )
    memory_lending_limit_gb = models.PositiveIntegerField(
        null=True, blank=True, help_text="GB of its idle memory guarantee others may borrow; empty: all of it."
    )

    class Meta:
        ordering = ["team_id", "pool_id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "pool"], name="quota_unique_team_pool"),
            models.CheckConstraint(
                condition=Q(max__isnull=True) | Q(max__gte=F("guaranteed")), name="quota_max_gte_guaranteed"
            ),
            models.CheckConstraint(
                condition=Q(lending_limit__isnull=True) | Q(lending_limit__lte=F("guaranteed")),
                name="quota_lending_lte_guaranteed",
            ),
            models.CheckConstraint(condition=Q(weight__gt=0), name="quota_weight_positive"),
            models.CheckConstraint(
                condition=Q(memory_guaranteed_gb__isnull=False)
                | (Q(memory_max_gb__isnull=True) & Q(memory_lending_limit_gb__isnull=True)),
                name="quota_memory_limits_need_guarantee",
            ),
            models.CheckConstraint(
                condition=Q(memory_max_gb__isnull=True) | Q(memory_max_gb__gte=F("memory_guaranteed_gb")),
                name="quota_memory_max_gte_guaranteed",
            ),
            models.CheckConstraint(
                condition=Q(memory_lending_limit_gb__isnull=True)
                | Q(memory_lending_limit_gb__lte=F("memory_guaranteed_gb")),
                name="quota_memory_lending_lte_guaranteed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team} in {self.pool}"


class PriorityClass(TimeStampedModel):
    organisation = models.ForeignKey("tenancy.Organisation", on_delete=models.PROTECT, related_name="priority_classes")
    name = models.SlugField(max_length=63)
    value = models.IntegerField(help_text="Higher runs first.")
    preemptible = models.BooleanField(
        default=True, help_text="Jobs of a class that is not preemptible must fit in their team's guarantee."
    )
    description = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-value", "name"]
        verbose_name_plural = "priority classes"
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="priority_class_unique_org_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.value})"
