import type { Team } from "../../api/models";
import { useClusters } from "../../api/queries";
import { Field } from "../../components/Field";

/** The team a form starts with: the first the user may submit to. */
export function defaultTeam(teams: readonly Team[]): string {
  return (teams.find((t) => t.role !== "viewer") ?? teams[0])?.slug ?? "";
}

type Change = (event: { target: { value: string } }) => void;

/** The team to submit as; teams the user only views are listed but disabled. */
export function TeamField({ teams, value, onChange, errors }: { teams: readonly Team[]; value: string; onChange: Change; errors: string[] }) {
  return (
    <Field label="Team" errors={errors}>
      <select name="team" value={value} onChange={onChange}>
        {teams.map((t) => (
          <option key={t.slug} value={t.slug} disabled={t.role === "viewer"}>
            {t.slug}
            {t.name && t.name !== t.slug ? ` — ${t.name}` : ""}
            {t.role === "viewer" ? " (read-only)" : ""}
          </option>
        ))}
      </select>
    </Field>
  );
}

/** The cluster to run on: the clusters `team` may use, or blank for the team's default. */
export function ClusterField({ team, value, onChange, errors }: { team: string; value: string; onChange: Change; errors: string[] }) {
  const clusters = useClusters();
  return (
    <Field
      label="Cluster"
      errors={errors}
      hint={clusters.isError ? "Could not load clusters; the default will be used." : undefined}
    >
      <select name="cluster" value={value} onChange={onChange}>
        <option value="">default</option>
        {(clusters.data ?? [])
          .filter((c) => c.usable_by.includes(team))
          .map((c) => (
            <option key={c.id} value={c.name}>
              {c.name} ({c.kind}, {c.state})
            </option>
          ))}
      </select>
    </Field>
  );
}
