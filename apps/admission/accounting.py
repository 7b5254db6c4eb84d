"""Quota arithmetic for one pool: who uses what, who may borrow, what a cohort can lend.

Pure Python over numbers the scheduler loads once per pass; the same code answers the
scheduler, the admin's what-if preview and the invariant checks in the tests. Units are GPUs
in a GPU pool and CPUs in a CPU pool.

Semantics (Kueue's, in plain words):

- A team's **guarantee** is always its: if others borrowed it while it was idle, the team gets
  it back by preemption (when its cohort reclaims).
- A team may go above its guarantee up to its **max** by **borrowing** the idle guarantees of
  the other teams of its **cohort**, as far as each lets (its **lending limit**). A team in no
  cohort cannot borrow.
- Cohort invariant: what the cohort's teams borrow, together, never exceeds what its teams lend
  (idle guarantee, each capped by its lending limit).
- A pool with no quotas at all is open: any team, first come, on free capacity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Share:
    """One team's quota and usage in one pool."""

    team_id: int
    guaranteed: int = 0
    max: int | None = None  # None: no ceiling of its own (what the cohort lends)
    lending_limit: int | None = None  # None: all of the guarantee
    weight: float = 1.0
    used: int = 0
    has_quota: bool = False

    @property
    def borrowed(self) -> int:
        return max(0, self.used - self.guaranteed)

    @property
    def lendable(self) -> int:
        """Idle guarantee others may borrow now."""
        limit = self.guaranteed if self.lending_limit is None else min(self.lending_limit, self.guaranteed)
        return min(limit, max(0, self.guaranteed - self.used))


@dataclass(frozen=True)
class Refusal:
    reason: str
    reclaim: bool = False  # within its guarantee, which borrowers hold: reclaiming helps
    borrowing: bool = False  # must borrow and the cohort has too little idle
    own: bool = False  # at its own max: preempting its own lower-priority work helps


@dataclass
class PoolLedger:
    pool_id: int
    name: str
    unit: str
    capacity: int
    shares: dict[int, Share] = field(default_factory=dict)
    cohort_of: dict[int, int | None] = field(default_factory=dict)
    team_names: dict[int, str] = field(default_factory=dict)
    cohort_names: dict[int, str] = field(default_factory=dict)
    used_total: int = 0
    _cohort_index: tuple[dict[int, int | None], dict[int, list[int]]] | None = field(
        default=None, repr=False, compare=False
    )
    # cohort → (borrowed, lendable), summed once and then kept by ``add``/``remove`` (the only
    # writers of ``used``): every quota check reads both. A copy (``dataclasses.replace``) starts
    # empty, as it must: its shares are new objects.
    _totals: dict[int, list[int]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _open: tuple[int, bool] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def open(self) -> bool:
        # Asked for every job a pass considers; shares are only ever added (a team's first use
        # adds one without quota), so the answer is kept until their number changes.
        cached = self._open
        if cached is None or cached[0] != len(self.shares):
            cached = self._open = (len(self.shares), not any(share.has_quota for share in self.shares.values()))
        return cached[1]

    def share(self, team_id: int) -> Share:
        found = self.shares.get(team_id)
        if found is None:
            found = self.shares[team_id] = Share(team_id)
        return found

    def members(self, cohort_id: int | None) -> Iterable[Share]:
        if cohort_id is None:
            return ()
        index = self._cohort_index
        if index is None or index[0] is not self.cohort_of:  # built once per ``cohort_of`` given
            grouped: dict[int, list[int]] = {}
            for team_id, cohort in self.cohort_of.items():
                if cohort is not None:
                    grouped.setdefault(cohort, []).append(team_id)
            index = self._cohort_index = (self.cohort_of, grouped)
        # Every quota check sums a cohort: over its own teams, not over every team (1,000s).
        return (self.share(t) for t in index[1].get(cohort_id, ()))

    def _cohort_totals(self, cohort_id: int) -> list[int]:
        totals = self._totals.get(cohort_id)
        if totals is None:
            members = list(self.members(cohort_id))
            totals = self._totals[cohort_id] = [
                sum(share.borrowed for share in members),
                sum(share.lendable for share in members),
            ]
        return totals

    def cohort_borrowed(self, cohort_id: int | None) -> int:
        return 0 if cohort_id is None else self._cohort_totals(cohort_id)[0]

    def cohort_lendable(self, cohort_id: int | None) -> int:
        return 0 if cohort_id is None else self._cohort_totals(cohort_id)[1]

    def _change(self, team_id: int, units: int) -> None:
        share = self.share(team_id)
        cohort = self.cohort_of.get(team_id)
        totals = self._totals.get(cohort) if cohort is not None else None
        if totals is not None:
            totals[0] -= share.borrowed
            totals[1] -= share.lendable
        share.used += units
        self.used_total += units
        if totals is not None:
            totals[0] += share.borrowed
            totals[1] += share.lendable

    def lent_by(self, team_id: int) -> int:
        """The part of ``team_id``'s idle guarantee its cohort's borrowers are using, if the
        borrowing is spread over lenders in proportion to what each lends."""
        cohort = self.cohort_of.get(team_id)
        lendable = self.cohort_lendable(cohort)
        if not lendable:
            return 0
        borrowed = min(self.cohort_borrowed(cohort), lendable)
        return round(borrowed * self.share(team_id).lendable / lendable)

    def fair_share(self, team_id: int) -> float:
        """Borrowed / capacity / weight: lower goes first among equal priorities."""
        share = self.share(team_id)
        return share.borrowed / max(self.capacity, 1) / max(share.weight, 1e-9)

    def refuse(self, team_id: int, units: int, *, preemptible: bool = True, priority_class: str = "") -> Refusal | None:
        """None when the quotas allow ``units`` more for the team; else why not, and whether
        preempting borrowers (``reclaim``) or other borrowing work (``borrowing``) could help."""
        if self.open:
            return None
        share = self.share(team_id)
        team = self.team_names.get(team_id, str(team_id))
        cohort = self.cohort_of.get(team_id)
        after = share.used + units
        if not share.has_quota and cohort is None:
            return Refusal(f"team {team} has no quota in pool {self.name} and is in no cohort to borrow from")
        if not preemptible and after > share.guaranteed:
            return Refusal(
                f"priority class {priority_class} is not preemptible, so it must fit in team {team}'s guarantee: "
                f"{share.used} of {share.guaranteed} in use"
            )
        if share.max is not None and after > share.max:
            return Refusal(f"team {team} uses {share.used} of its max {share.max} {self.unit}s", own=True)
        if cohort is None:
            if after <= share.guaranteed:
                return None
            return Refusal(
                f"team {team} uses {share.used} of its {share.guaranteed} guaranteed "
                "and is in no cohort to borrow from",
                own=units <= share.guaranteed,  # its own lower-priority work may make room
            )
        # The cohort's invariant after the change: what its teams borrow ≤ what its teams lend.
        others_borrowed = self.cohort_borrowed(cohort) - share.borrowed
        others_lendable = self.cohort_lendable(cohort) - share.lendable
        probe = Share(team_id, share.guaranteed, share.max, share.lending_limit, share.weight, after, share.has_quota)
        if others_borrowed + probe.borrowed <= others_lendable + probe.lendable:
            return None
        cohort_name = self.cohort_names.get(cohort, str(cohort))
        if after <= share.guaranteed:
            return Refusal(
                f"team {team} uses {share.used} of its {share.guaranteed} guaranteed; the rest is lent to other "
                f"teams of cohort {cohort_name}",
                reclaim=True,
            )
        idle = max(0, others_lendable - others_borrowed - share.borrowed)  # what the other teams could still lend
        return Refusal(
            f"team {team} uses {share.used} of its {share.guaranteed} guaranteed, "
            f"the cohort {cohort_name} has {idle} idle to lend",
            borrowing=True,
        )

    def add(self, team_id: int, units: int) -> None:
        self._change(team_id, units)

    def remove(self, team_id: int, units: int) -> None:
        self._change(team_id, -units)


def violations(ledger: PoolLedger) -> list[str]:
    """Every broken invariant of the pool, in words (empty when all hold)."""
    out: list[str] = []
    if ledger.open:
        if ledger.used_total > ledger.capacity:
            out.append(f"pool {ledger.name}: {ledger.used_total} in use, capacity {ledger.capacity}")
        return out
    for share in ledger.shares.values():
        if share.max is not None and share.used > share.max:
            out.append(f"pool {ledger.name}: team {share.team_id} uses {share.used} over its max {share.max}")
        if not share.has_quota and ledger.cohort_of.get(share.team_id) is None and share.used:
            out.append(f"pool {ledger.name}: team {share.team_id} uses {share.used} with no quota")
    for cohort in sorted({c for c in ledger.cohort_of.values() if c is not None}):
        borrowed, lendable = ledger.cohort_borrowed(cohort), ledger.cohort_lendable(cohort)
        if borrowed > lendable:
            out.append(f"pool {ledger.name}: cohort {cohort} borrows {borrowed} but lends {lendable}")
    for share in ledger.shares.values():
        if ledger.cohort_of.get(share.team_id) is None and share.has_quota and share.used > share.guaranteed:
            out.append(f"pool {ledger.name}: team {share.team_id} borrows {share.borrowed} outside any cohort")
    if ledger.used_total > ledger.capacity:
        out.append(f"pool {ledger.name}: {ledger.used_total} in use, capacity {ledger.capacity}")
    return out
