"""A team's admission policy as the pass uses it: Kueue's ClusterQueue ``preemption`` and
``flavorFungibility``, one per team (a team is Kueue's ClusterQueue, a pool its flavor).

Pure data: the scheduler, the what-if preview, the ETA replay and the trace simulator share it.
A team with no policy of its own takes its cohort's switches (the settings before per-team
policies existed); a team in no cohort cannot borrow or reclaim, so only ``within_team`` matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from apps.quotas.choices import BorrowWithinCohort, ReclaimWithinCohort, WhenCanBorrow, WhenCanPreempt, WithinTeam

if TYPE_CHECKING:
    from apps.quotas.models import TeamPolicy as StoredPolicy


@dataclass(frozen=True)
class TeamPolicy:
    within_team: WithinTeam = WithinTeam.NEVER
    reclaim_within_cohort: ReclaimWithinCohort = ReclaimWithinCohort.ANY
    borrow_within_cohort: BorrowWithinCohort = BorrowWithinCohort.NEVER
    borrow_max_priority_threshold: int | None = None  # None: any lower priority
    when_can_borrow: WhenCanBorrow = WhenCanBorrow.BORROW
    when_can_preempt: WhenCanPreempt = WhenCanPreempt.TRY_NEXT_FLAVOR

    @classmethod
    def from_row(cls, row: StoredPolicy) -> TeamPolicy:
        """A team's own stored policy."""
        return cls(
            within_team=WithinTeam(row.within_team),
            reclaim_within_cohort=ReclaimWithinCohort(row.reclaim_within_cohort),
            borrow_within_cohort=BorrowWithinCohort(row.borrow_within_cohort),
            borrow_max_priority_threshold=row.borrow_max_priority_threshold,
            when_can_borrow=WhenCanBorrow(row.when_can_borrow),
            when_can_preempt=WhenCanPreempt(row.when_can_preempt),
        )

    @classmethod
    def from_cohort_switches(
        cls, *, reclaim_from_borrowers: bool, preempt_lower_priority: bool, preempt_while_borrowing: bool
    ) -> TeamPolicy:
        """The policy the three cohort switches always meant."""
        return cls(
            within_team=WithinTeam.LOWER_PRIORITY if preempt_lower_priority else WithinTeam.NEVER,
            reclaim_within_cohort=ReclaimWithinCohort.ANY if reclaim_from_borrowers else ReclaimWithinCohort.NEVER,
            borrow_within_cohort=(
                BorrowWithinCohort.LOWER_PRIORITY if preempt_while_borrowing else BorrowWithinCohort.NEVER
            ),
        )


NO_PREEMPTION = TeamPolicy(reclaim_within_cohort=ReclaimWithinCohort.NEVER)
