from django.db import models


class PlacementStrategy(models.TextChoices):
    PACK = "pack", "Pack (fill nodes, keep big holes whole)"
    SPREAD = "spread", "Spread (the emptiest node first)"


# A team's preemption and flavor policy, in Kueue's words (a team is Kueue's ClusterQueue).


class WithinTeam(models.TextChoices):
    """Kueue's ``withinClusterQueue``: which of its own team's work a job may preempt."""

    NEVER = "Never", "Never"
    LOWER_PRIORITY = "LowerPriority", "Lower priority"
    LOWER_OR_NEWER_EQUAL_PRIORITY = "LowerOrNewerEqualPriority", "Lower priority, or equal and newer"


class ReclaimWithinCohort(models.TextChoices):
    """Kueue's ``reclaimWithinCohort``: which borrowing work of other teams a job within its
    guarantee may preempt to get that guarantee back."""

    NEVER = "Never", "Never"
    LOWER_PRIORITY = "LowerPriority", "Lower priority"
    ANY = "Any", "Any"


class BorrowWithinCohort(models.TextChoices):
    """Kueue's ``borrowWithinCohort.policy``: whether a job that must borrow may preempt other
    teams' borrowing work of lower priority (up to a priority threshold)."""

    NEVER = "Never", "Never"
    LOWER_PRIORITY = "LowerPriority", "Lower priority"


class WhenCanBorrow(models.TextChoices):
    """Kueue's ``flavorFungibility.whenCanBorrow``: take a pool where the job must borrow, or try
    the job's next pool first."""

    BORROW = "Borrow", "Borrow"
    TRY_NEXT_FLAVOR = "TryNextFlavor", "Try the next pool"


class WhenCanPreempt(models.TextChoices):
    """Kueue's ``flavorFungibility.whenCanPreempt``: preempt in a pool, or try the job's next pool first."""

    PREEMPT = "Preempt", "Preempt"
    TRY_NEXT_FLAVOR = "TryNextFlavor", "Try the next pool"


class FairSharingStrategy(models.TextChoices):
    """Kueue's fair-sharing ``preemptionStrategies``."""

    LESS_THAN_OR_EQUAL_TO_FINAL_SHARE = "LessThanOrEqualToFinalShare", "Preemptor's share after ≤ victim's share"
    LESS_THAN_INITIAL_SHARE = "LessThanInitialShare", "Preemptor's share after < victim's share before"
