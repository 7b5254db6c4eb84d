import type { Cohort, TeamPolicy } from "../../api/models";
import { useCohorts, useTeamPolicies } from "../../api/queries";
import { errorMessage } from "../../components/Status";

// --- preemption policies, in Kueue's words ------------------------------------------------------
interface EffectivePolicy {
  team: string;
  cohort: string | null;
  own: boolean;
  withinTeam: string;
  reclaim: string;
  borrow: string;
  whenCanBorrow: string;
  whenCanPreempt: string;
}

/** Each team's policy as the scheduler uses it: its own, or the one its cohort's switches mean. */
export function effectivePolicies(cohorts: readonly Cohort[], policies: readonly TeamPolicy[]): EffectivePolicy[] {
  const own = new Map(policies.map((p) => [p.team, p]));
  const cohortOf = new Map<string, Cohort>();
  for (const cohort of cohorts) for (const team of cohort.teams ?? []) cohortOf.set(team, cohort);
  const teams = [...new Set([...cohortOf.keys(), ...own.keys()])].sort();
  return teams.map((team) => {
    const cohort = cohortOf.get(team) ?? null;
    const policy = own.get(team);
    if (policy) {
      const threshold = policy.borrow_max_priority_threshold;
      return {
        team,
        cohort: cohort?.name ?? null,
        own: true,
        withinTeam: policy.within_team ?? "Never",
        reclaim: policy.reclaim_within_cohort ?? "Any",
        borrow:
          (policy.borrow_within_cohort ?? "Never") +
          (threshold === null || threshold === undefined ? "" : ` (priority ≤ ${threshold})`),
        whenCanBorrow: policy.when_can_borrow ?? "Borrow",
        whenCanPreempt: policy.when_can_preempt ?? "TryNextFlavor",
      };
    }
    return {
      team,
      cohort: cohort?.name ?? null,
      own: false,
      withinTeam: cohort?.preempt_lower_priority ? "LowerPriority" : "Never",
      reclaim: cohort && cohort.reclaim_from_borrowers === false ? "Never" : "Any",
      borrow: cohort?.preempt_while_borrowing ? "LowerPriority" : "Never",
      whenCanBorrow: "Borrow",
      whenCanPreempt: "TryNextFlavor",
    };
  });
}

export function PreemptionPolicies() {
  const cohorts = useCohorts();
  const policies = useTeamPolicies();
  if (cohorts.isPending || policies.isPending) return null;
  if (cohorts.isError || policies.isError) {
    return (
      <p className="status status-error" role="alert">
        Could not load preemption policies: {errorMessage((cohorts.error ?? policies.error) as Error)}
      </p>
    );
  }
  const rows = effectivePolicies(cohorts.data, policies.data);
  if (rows.length === 0) return null;
  return (
    <section className="preemption-policies" aria-labelledby="preemption-policies-title">
      <h2 id="preemption-policies-title">Preemption policies</h2>
      <p className="muted small">
        In Kueue&rsquo;s words (a team is a ClusterQueue). A team without a policy of its own follows its
        cohort&rsquo;s switches.
      </p>
      {cohorts.data.length > 0 && (
        <table className="table table-compact" aria-label="Cohorts">
          <thead>
            <tr>
              <th scope="col">Cohort</th>
              <th scope="col">Teams</th>
              <th scope="col">Fair sharing</th>
            </tr>
          </thead>
          <tbody>
            {cohorts.data.map((c) => (
              <tr key={c.id} data-testid={`cohort-${c.name}`}>
                <td>{c.name}</td>
                <td>{(c.teams ?? []).join(", ")}</td>
                <td data-testid="cohort-fair-sharing">
                  {c.fair_sharing ? (c.fair_sharing_strategies ?? []).join(", then ") : <span className="muted">off</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <table className="table table-compact" aria-label="Team policies">
        <thead>
          <tr>
            <th scope="col">Team</th>
            <th scope="col">Cohort</th>
            <th scope="col" title="Kueue's withinClusterQueue">Within team</th>
            <th scope="col" title="Kueue's reclaimWithinCohort">Reclaim</th>
            <th scope="col" title="Kueue's borrowWithinCohort">Borrow within cohort</th>
            <th scope="col" title="Kueue's flavorFungibility">When it can borrow / preempt</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.team} data-testid={`policy-${r.team}`}>
              <td>
                {r.team}
                {!r.own && <span className="muted small"> (cohort&rsquo;s switches)</span>}
              </td>
              <td>{r.cohort ?? <span className="muted">none</span>}</td>
              <td data-testid="policy-within-team">{r.withinTeam}</td>
              <td data-testid="policy-reclaim">{r.reclaim}</td>
              <td data-testid="policy-borrow">{r.borrow}</td>
              <td data-testid="policy-fungibility">
                {r.whenCanBorrow} / {r.whenCanPreempt}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
