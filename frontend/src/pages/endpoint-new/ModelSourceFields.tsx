import type { ModelVersion } from "../../api/models";
import type { ModelSourceRequest } from "../../api/serving";
import { useTeamVersions } from "../../api/serving";
import { Field } from "../../components/Field";

export const DEFAULT_ENTRY_POINT = "paddock.serving.model:CausalLM";

/** What to serve: a registered version of the team's, or a model directory and the class that loads it. */
export interface ModelSourceValues {
  kind: "version" | "path";
  model_version: string;
  model_uri: string;
  entry_point: string;
}

export const INITIAL_SOURCE: ModelSourceValues = {
  kind: "version",
  model_version: "",
  model_uri: "",
  entry_point: DEFAULT_ENTRY_POINT,
};

export const SOURCE_FIELDS = ["model_version", "model_uri", "entry_point"] as const;
type SourceField = (typeof SOURCE_FIELDS)[number];

/** The request's source keys for `values`; a missing choice comes back as an error by field. */
export function sourceRequest(values: ModelSourceValues): { source: ModelSourceRequest; errors: Record<string, string[]> } {
  if (values.kind === "version") {
    const id = Number(values.model_version);
    if (!values.model_version || !Number.isInteger(id)) return { source: {}, errors: { model_version: ["Choose a model version."] } };
    return { source: { model_version: id }, errors: {} };
  }
  const uri = values.model_uri.trim();
  if (!uri) return { source: {}, errors: { model_uri: ["Enter the model's directory or URI."] } };
  const entry = values.entry_point.trim();
  return { source: entry ? { model_uri: uri, entry_point: entry } : { model_uri: uri }, errors: {} };
}

function versionLabel(v: ModelVersion): string {
  const stage = v.stage === "none" ? "" : `, ${v.stage}`;
  const step = v.checkpoint_step != null ? ` · step ${v.checkpoint_step}` : "";
  return `${v.model_name} v${v.version}${stage}${step}`;
}

interface Props {
  team: string;
  values: ModelSourceValues;
  onChange: (key: keyof ModelSourceValues, value: string) => void;
  errorsFor: (path: SourceField) => string[];
  /** Distinguishes the radio groups when two forms are on one page. */
  name: string;
}

/** The model source: a version from GET /model-versions/?team=, or a path and an entry point. */
export function ModelSourceFields({ team, values, onChange, errorsFor, name }: Props) {
  const versions = useTeamVersions(team);
  // Archived versions are kept for history, not served.
  const choices = (versions.data ?? []).filter((v) => v.stage !== "archived");
  return (
    <fieldset data-testid={`${name}-source`}>
      <legend>Model</legend>
      <div className="choice" role="radiogroup" aria-label="Model source">
        <label className="checkbox">
          <input
            type="radio"
            name={`${name}_source`}
            checked={values.kind === "version"}
            onChange={() => onChange("kind", "version")}
          />{" "}
          A registered model version
        </label>
        <label className="checkbox">
          <input type="radio" name={`${name}_source`} checked={values.kind === "path"} onChange={() => onChange("kind", "path")} />{" "}
          A model directory and entry point
        </label>
      </div>
      {values.kind === "version" ? (
        <Field
          label="Model version"
          errors={errorsFor("model_version")}
          hint={
            versions.isError
              ? "Could not load the team's model versions."
              : versions.isSuccess && choices.length === 0
                ? `Team ${team} has no registered model versions; serve a directory instead.`
                : undefined
          }
        >
          <select name="model_version" value={values.model_version} onChange={(e) => onChange("model_version", e.target.value)}>
            <option value="">{versions.isPending && team ? "Loading versions…" : "Choose a version"}</option>
            {choices.map((v) => (
              <option key={v.id} value={String(v.id)}>
                {versionLabel(v)}
              </option>
            ))}
          </select>
        </Field>
      ) : (
        <div className="grid-2">
          <Field label="Model URI" errors={errorsFor("model_uri")} hint="An absolute directory its replicas can read (local or shared file system).">
            <input name="model_uri" className="mono" value={values.model_uri} onChange={(e) => onChange("model_uri", e.target.value)} />
          </Field>
          <Field label="Entry point" errors={errorsFor("entry_point")} hint="module:Class that loads and serves the model.">
            <input
              name="entry_point"
              className="mono"
              value={values.entry_point}
              onChange={(e) => onChange("entry_point", e.target.value)}
            />
          </Field>
        </div>
      )}
    </fieldset>
  );
}
