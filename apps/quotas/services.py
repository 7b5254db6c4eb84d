"""Quota use cases: a pool's placement, quotas, cohorts and priority classes. Every write here.

Each runs in one transaction and writes its audit row. The scheduler is asked for a pass by
the models' signals (:mod:`apps.quotas.signals`) once the change commits; nothing here admits
or preempts a job itself.

Validation lives here too (``check_*``), so the API, the admin and any later caller refuse the
same things with the same field errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from apps.core import audit
from apps.core.errors import Conflict
from apps.quotas.choices import (
    BorrowWithinCohort,
    FairSharingStrategy,
    PlacementStrategy,
    ReclaimWithinCohort,
    WhenCanBorrow,
    WhenCanPreempt,
    WithinTeam,
)
from apps.quotas.models import Cohort, Pool, PriorityClass, Quota, TeamPolicy
from apps.tenancy.models import Team

Actor = User | AnonymousUser | None

QUOTA_LIMITS = (
    "guaranteed",
    "max",
    "lending_limit",
    "weight",
    "memory_guaranteed_gb",
    "memory_max_gb",
    "memory_lending_limit_gb",
)
COHORT_FIELDS = (
    "name",
    "description",
    "reclaim_from_borrowers",
    "preempt_lower_priority",
    "preempt_while_borrowing",
    "fair_sharing",
    "fair_sharing_strategies",
)
TEAM_POLICY_FIELDS = (
    "within_team",
    "reclaim_within_cohort",
    "borrow_within_cohort",
    "borrow_max_priority_threshold",
    "when_can_borrow",
    "when_can_preempt",
)
# Kueue's validation of preemptionStrategies: one of them, or both in this order.
FAIR_SHARING_STRATEGY_LISTS = (
    [FairSharingStrategy.LESS_THAN_OR_EQUAL_TO_FINAL_SHARE.value],
    [FairSharingStrategy.LESS_THAN_INITIAL_SHARE.value],
    [FairSharingStrategy.LESS_THAN_OR_EQUAL_TO_FINAL_SHARE.value, FairSharingStrategy.LESS_THAN_INITIAL_SHARE.value],
)
PRIORITY_CLASS_FIELDS = ("name", "value", "preemptible", "description")


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def _apply(instance: Any, changes: Mapping[str, Any], allowed: Iterable[str]) -> list[str]:
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ValueError(f"cannot change {', '.join(unknown)}")
    for name, value in changes.items():
        setattr(instance, name, value)
    return sorted(changes)


# --- pools ----------------------------------------------------------------------------------
@transaction.atomic
def set_pool_placement(*, actor: Actor, pool: Pool, placement: str) -> Pool:
    """Choose how the pool places gangs: ``pack`` (fill nodes) or ``spread`` (emptiest first)."""
    if placement not in PlacementStrategy.values:
        raise ValidationError({"placement": [f"One of {', '.join(PlacementStrategy.values)}."]})
    previous = pool.placement
    pool.placement = placement
    pool.save(update_fields=["placement", "updated_at"])
    audit.record("quotas.pool_updated", pool, actor=actor, placement=placement, previous=previous)
    return pool


# --- quotas ---------------------------------------------------------------------------------
def check_quota(quota: Quota) -> None:
    """Raise :class:`ValidationError` with field errors when the quota's numbers do not go
    together, its team and pool are of different organisations, or the team already has a
    quota in the pool."""
    errors: dict[str, list[str]] = {}
    guaranteed = quota.guaranteed or 0
    if quota.max is not None and quota.max < guaranteed:
        errors["max"] = [f"At least the guaranteed {guaranteed}; leave it empty for no ceiling of the team's own."]
    if quota.lending_limit is not None and quota.lending_limit > guaranteed:
        errors["lending_limit"] = [f"At most the guaranteed {guaranteed}: a team lends only its own guarantee."]
    memory = quota.memory_guaranteed_gb
    if memory is None:
        for name in ("memory_max_gb", "memory_lending_limit_gb"):
            if getattr(quota, name) is not None:
                errors[name] = ["Set memory_guaranteed_gb too: memory limits count only where memory is guaranteed."]
    else:
        if quota.memory_max_gb is not None and quota.memory_max_gb < memory:
            errors["memory_max_gb"] = [f"At least the guaranteed {memory} GB; empty: no ceiling of its own."]
        if quota.memory_lending_limit_gb is not None and quota.memory_lending_limit_gb > memory:
            errors["memory_lending_limit_gb"] = [f"At most the guaranteed {memory} GB: a team lends only its own."]
    if quota.weight is None or quota.weight <= 0:
        errors["weight"] = ["Must be more than 0."]
    if quota.team_id is not None and quota.pool_id is not None:
        if quota.team.organisation_id != quota.pool.cluster.organisation_id:
            errors["pool"] = [f"Pool {quota.pool.name} belongs to another organisation than team {quota.team.slug}."]
        elif Quota.objects.filter(team_id=quota.team_id, pool_id=quota.pool_id).exclude(pk=quota.pk).exists():
            errors["pool"] = [f"Team {quota.team.slug} already has a quota in pool {quota.pool.name}; change that one."]
    _raise(errors)


def _limits(quota: Quota) -> dict[str, Any]:
    return {
        "team": quota.team.slug,
        "pool": quota.pool.name,
        "guaranteed": quota.guaranteed,
        "max": quota.max,
        "lending_limit": quota.lending_limit,
        "weight": str(quota.weight),
        "memory_guaranteed_gb": quota.memory_guaranteed_gb,
        "memory_max_gb": quota.memory_max_gb,
        "memory_lending_limit_gb": quota.memory_lending_limit_gb,
    }


@transaction.atomic
def create_quota(*, actor: Actor, quota: Quota) -> Quota:
    """Give a team a quota in a pool (``quota`` is unsaved)."""
    check_quota(quota)
    quota.save()
    audit.record("quotas.quota_created", quota, actor=actor, team_id=quota.team_id, **_limits(quota))
    return quota


@transaction.atomic
def update_quota(*, actor: Actor, quota: Quota, changes: Mapping[str, Any]) -> Quota:
    """Change a quota's guaranteed, max, lending limit or weight; a lowered limit is enforced by
    the next scheduler pass (it preempts the newest, lowest-priority work above it)."""
    changed = _apply(quota, changes, QUOTA_LIMITS)
    check_quota(quota)
    quota.save()
    audit.record("quotas.quota_updated", quota, actor=actor, team_id=quota.team_id, fields=changed, **_limits(quota))
    return quota


@transaction.atomic
def delete_quota(*, actor: Actor, quota: Quota) -> None:
    audit.record("quotas.quota_deleted", quota, actor=actor, team_id=quota.team_id, **_limits(quota))
    quota.delete()


# --- cohorts --------------------------------------------------------------------------------
def check_cohort(cohort: Cohort, teams: Iterable[Team] | None = None) -> None:
    """Field errors: a name taken in the organisation, a team of another organisation."""
    errors: dict[str, list[str]] = {}
    taken = Cohort.objects.filter(organisation_id=cohort.organisation_id, name=cohort.name).exclude(pk=cohort.pk)
    if taken.exists():
        errors["name"] = ["This organisation already has a cohort with this name."]
    foreign = sorted(team.slug for team in teams or () if team.organisation_id != cohort.organisation_id)
    if foreign:
        errors["teams"] = [f"Not a team of this cohort's organisation: {', '.join(foreign)}."]
    if [str(s) for s in cohort.fair_sharing_strategies or ()] not in FAIR_SHARING_STRATEGY_LISTS:
        errors["fair_sharing_strategies"] = [
            "One of: "
            + "; ".join(", ".join(choice) for choice in FAIR_SHARING_STRATEGY_LISTS)
            + " (Kueue's rules S2-a, S2-b)."
        ]
    _raise(errors)


def _set_teams(cohort: Cohort, teams: Iterable[Team]) -> list[str]:
    wanted = {team.pk for team in teams}
    Team.objects.filter(cohort=cohort).exclude(pk__in=wanted).update(cohort=None)
    Team.objects.filter(pk__in=wanted).update(cohort=cohort)
    return sorted(Team.objects.filter(pk__in=wanted).values_list("slug", flat=True))


@transaction.atomic
def create_cohort(*, actor: Actor, cohort: Cohort, teams: Iterable[Team] = ()) -> Cohort:
    """Create a cohort (``cohort`` is unsaved) and move ``teams`` into it (a team is in at most
    one cohort: one it was in before loses it)."""
    teams = list(teams)
    check_cohort(cohort, teams)
    cohort.save()
    slugs = _set_teams(cohort, teams)
    audit.record("quotas.cohort_created", cohort, actor=actor, name=cohort.name, teams=slugs, **_fair_sharing(cohort))
    return cohort


@transaction.atomic
def update_cohort(
    *, actor: Actor, cohort: Cohort, changes: Mapping[str, Any], teams: Iterable[Team] | None = None
) -> Cohort:
    """Change a cohort's name, description or policy; with ``teams``, its members are exactly those."""
    changed = _apply(cohort, changes, COHORT_FIELDS)
    teams = None if teams is None else list(teams)
    check_cohort(cohort, teams)
    cohort.save()  # also when only the members change: the save wakes the scheduler
    data: dict[str, Any] = {"fields": changed}
    if teams is not None:
        data["teams"] = _set_teams(cohort, teams)
    audit.record("quotas.cohort_updated", cohort, actor=actor, name=cohort.name, **data, **_fair_sharing(cohort))
    return cohort


def _fair_sharing(cohort: Cohort) -> dict[str, Any]:
    strategies = [str(strategy) for strategy in cohort.fair_sharing_strategies]
    return {"fair_sharing": cohort.fair_sharing, "fair_sharing_strategies": strategies}


@transaction.atomic
def delete_cohort(*, actor: Actor, cohort: Cohort) -> None:
    """Remove a cohort; its teams stop lending and borrowing (they keep their quotas)."""
    teams = sorted(cohort.teams.values_list("slug", flat=True))
    audit.record("quotas.cohort_deleted", cohort, actor=actor, name=cohort.name, teams=teams)
    cohort.delete()


# --- team policies --------------------------------------------------------------------------
_POLICY_CHOICES: dict[str, list[str]] = {
    "within_team": list(WithinTeam.values),
    "reclaim_within_cohort": list(ReclaimWithinCohort.values),
    "borrow_within_cohort": list(BorrowWithinCohort.values),
    "when_can_borrow": list(WhenCanBorrow.values),
    "when_can_preempt": list(WhenCanPreempt.values),
}


def check_team_policy(policy: TeamPolicy) -> None:
    """Field errors: a value Kueue does not name, a threshold without borrowing within the
    cohort, a second policy for a team."""
    errors: dict[str, list[str]] = {}
    for name, allowed in _POLICY_CHOICES.items():
        if getattr(policy, name) not in allowed:
            errors[name] = [f"One of {', '.join(allowed)}."]
    if policy.borrow_max_priority_threshold is not None and policy.borrow_within_cohort == BorrowWithinCohort.NEVER:
        errors["borrow_max_priority_threshold"] = ["Only with borrow_within_cohort LowerPriority."]
    if policy.team_id is not None and TeamPolicy.objects.filter(team_id=policy.team_id).exclude(pk=policy.pk).exists():
        errors["team"] = [f"Team {policy.team.slug} already has a policy; change that one."]
    _raise(errors)


def _policy(policy: TeamPolicy) -> dict[str, Any]:
    return {"team": policy.team.slug, **{name: getattr(policy, name) for name in TEAM_POLICY_FIELDS}}


@transaction.atomic
def create_team_policy(*, actor: Actor, policy: TeamPolicy) -> TeamPolicy:
    """Give a team its own preemption policy (``policy`` is unsaved); until then it follows its
    cohort's switches."""
    check_team_policy(policy)
    policy.save()
    audit.record("quotas.team_policy_created", policy, actor=actor, team_id=policy.team_id, **_policy(policy))
    return policy


@transaction.atomic
def update_team_policy(*, actor: Actor, policy: TeamPolicy, changes: Mapping[str, Any]) -> TeamPolicy:
    changed = _apply(policy, changes, TEAM_POLICY_FIELDS)
    check_team_policy(policy)
    policy.save()
    audit.record(
        "quotas.team_policy_updated", policy, actor=actor, team_id=policy.team_id, fields=changed, **_policy(policy)
    )
    return policy


@transaction.atomic
def delete_team_policy(*, actor: Actor, policy: TeamPolicy) -> None:
    """The team goes back to its cohort's switches."""
    audit.record("quotas.team_policy_deleted", policy, actor=actor, team_id=policy.team_id, **_policy(policy))
    policy.delete()


# --- priority classes -----------------------------------------------------------------------
def check_priority_class(priority_class: PriorityClass) -> None:
    taken = PriorityClass.objects.filter(
        organisation_id=priority_class.organisation_id, name=priority_class.name
    ).exclude(pk=priority_class.pk)
    if taken.exists():
        raise ValidationError({"name": ["This organisation already has a priority class with this name."]})


@transaction.atomic
def create_priority_class(*, actor: Actor, priority_class: PriorityClass) -> PriorityClass:
    check_priority_class(priority_class)
    priority_class.save()
    audit.record(
        "quotas.priority_class_created",
        priority_class,
        actor=actor,
        name=priority_class.name,
        value=priority_class.value,
        preemptible=priority_class.preemptible,
    )
    return priority_class


@transaction.atomic
def update_priority_class(*, actor: Actor, priority_class: PriorityClass, changes: Mapping[str, Any]) -> PriorityClass:
    """Change a priority class. As in Kueue, jobs keep the priority they were submitted with;
    whether they may be preempted follows the class as it is now."""
    changed = _apply(priority_class, changes, PRIORITY_CLASS_FIELDS)
    check_priority_class(priority_class)
    priority_class.save()
    audit.record("quotas.priority_class_updated", priority_class, actor=actor, name=priority_class.name, fields=changed)
    return priority_class


@transaction.atomic
def delete_priority_class(*, actor: Actor, priority_class: PriorityClass) -> None:
    """Remove a priority class no job refers to (409 otherwise)."""
    audit.record("quotas.priority_class_deleted", priority_class, actor=actor, name=priority_class.name)
    try:
        with transaction.atomic():
            priority_class.delete()
    except ProtectedError:
        raise Conflict(f"Jobs still use the priority class {priority_class.name}.") from None
