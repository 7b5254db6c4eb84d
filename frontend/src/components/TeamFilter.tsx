import { useTeams } from "../api/queries";

/** A list filter's team select: the caller's teams, and "All teams". */
export function TeamFilter({ value, onChange }: { value: string; onChange: (team: string) => void }) {
  const teams = useTeams();
  return (
    <label>
      Team
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">All teams</option>
        {(teams.data ?? []).map((t) => (
          <option key={t.slug} value={t.slug}>
            {t.name}
          </option>
        ))}
        {/* Keep a filter from the URL selectable even before (or without) the team list. */}
        {value && !teams.data?.some((t) => t.slug === value) && <option value={value}>{value}</option>}
      </select>
    </label>
  );
}
