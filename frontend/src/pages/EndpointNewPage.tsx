import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import type { Team } from "../api/models";
import { usePriorityClasses, useTeams } from "../api/queries";
import { useCreateEndpoint, type CreatedEndpoint } from "../api/serving";
import { Field } from "../components/Field";
import { FormError } from "../components/FormError";
import { SecretBox } from "../components/SecretBox";
import { EmptyState, ErrorState, Loading } from "../components/Status";
import { useFormErrors } from "../hooks/useFormErrors";
import { newIdempotencyKey } from "../lib/ids";
import { ModelSourceFields, type ModelSourceValues } from "./endpoint-new/ModelSourceFields";
import {
  ENDPOINT_FORM_FIELDS,
  INITIAL_ENDPOINT,
  buildEndpointRequest,
  type EndpointFormValues,
} from "./endpoint-new/endpointRequest";
import { ClusterField, TeamField, defaultTeam } from "./job-new/Placement";

export function EndpointNewPage() {
  const teams = useTeams();
  const [created, setCreated] = useState<CreatedEndpoint | null>(null);

  let body;
  if (created) body = <Created endpoint={created} />;
  else if (teams.isPending) body = <Loading label="Loading teams…" />;
  else if (teams.isError) {
    body = <ErrorState error={teams.error} title="Could not load your teams" onRetry={() => void teams.refetch()} />;
  } else if (teams.data.length === 0) {
    body = <EmptyState>You are not a member of any team yet; ask an admin to add you to one.</EmptyState>;
  } else {
    body = <EndpointForm teams={teams.data} onCreated={setCreated} />;
  }
  return (
    <section>
      <p className="breadcrumb">
        <Link to="/endpoints">Endpoints</Link> / new
      </p>
      <h1>New endpoint</h1>
      {body}
    </section>
  );
}

/** After the 201: the endpoint's token, shown this once, and the way to the endpoint. */
function Created({ endpoint }: { endpoint: CreatedEndpoint }) {
  return (
    <div data-testid="endpoint-created">
      <p>
        Endpoint <strong>{endpoint.name}</strong> of team {endpoint.team} is created and will deploy shortly.
      </p>
      <SecretBox secret={endpoint.token.token} label="Endpoint token" testId="endpoint-token">
        <p className="small">
          Clients send it as <code>Authorization: Bearer {endpoint.token.prefix}…</code> to the endpoint&rsquo;s
          OpenAI-compatible URL. More tokens can be made, and this one revoked, on the endpoint&rsquo;s page.
        </p>
      </SecretBox>
      <p>
        <Link to={`/endpoints/${endpoint.id}`} data-testid="endpoint-link">
          Open {endpoint.name}
        </Link>{" "}
        to follow its deployment.
      </p>
    </div>
  );
}

function EndpointForm({ teams, onCreated }: { teams: readonly Team[]; onCreated: (e: CreatedEndpoint) => void }) {
  const [values, setValues] = useState<EndpointFormValues>(INITIAL_ENDPOINT);
  // One key per endpoint the user means to create: a double submit returns the first.
  const [idempotencyKey] = useState(newIdempotencyKey);
  const create = useCreateEndpoint(idempotencyKey);
  const errors = useFormErrors(ENDPOINT_FORM_FIELDS);
  const priorityClasses = usePriorityClasses();

  const team = values.team || defaultTeam(teams);
  const organisation = teams.find((t) => t.slug === team)?.organisation;
  const classes = (priorityClasses.data ?? []).filter((c) => !c.organisation || c.organisation === organisation);

  const set =
    (key: Exclude<keyof EndpointFormValues, "source" | "scale_to_zero">) =>
    (event: { target: { value: string } }) => {
      errors.clearField(key);
      setValues((prev) => ({ ...prev, [key]: event.target.value }));
    };
  const setSource = (key: keyof ModelSourceValues, value: string) => {
    if (key !== "kind") errors.clearField(key);
    setValues((prev) => ({ ...prev, source: { ...prev.source, [key]: value } }));
  };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const built = buildEndpointRequest({ ...values, team });
    if (built.body === null) {
      errors.showFields(built.errors);
      return;
    }
    errors.clear();
    create.mutate(built.body, { onSuccess: onCreated, onError: errors.showError });
  };

  return (
    <form ref={errors.formRef} className="card form" onSubmit={onSubmit} noValidate aria-label="New endpoint">
      <FormError messages={errors.general} />
      <div className="grid-2">
        <TeamField teams={teams} value={team} onChange={set("team")} errors={errors.errorsFor("team")} />
        <Field label="Name" errors={errors.errorsFor("name")} hint="Lowercase letters, digits and dashes; part of its URL.">
          <input name="name" value={values.name} onChange={set("name")} placeholder="tiny-chat" required />
        </Field>
        <ClusterField team={team} value={values.cluster} onChange={set("cluster")} errors={errors.errorsFor("cluster")} />
        <Field label="Runtime" errors={errors.errorsFor("runtime")}>
          <select name="runtime" value={values.runtime} onChange={set("runtime")}>
            <option value="ray-serve">Ray Serve</option>
            <option value="vllm">vLLM</option>
          </select>
        </Field>
      </div>

      <ModelSourceFields name="endpoint" team={team} values={values.source} onChange={setSource} errorsFor={errors.errorsFor} />

      <fieldset>
        <legend>Each replica</legend>
        <div className="grid-4">
          <Field label="CPUs" errors={errors.errorsFor("cpus")}>
            <input name="cpus" type="number" min={0} step="any" value={values.cpus} onChange={set("cpus")} />
          </Field>
          <Field label="GPUs" errors={errors.errorsFor("gpus")}>
            <input name="gpus" type="number" min={0} step="any" value={values.gpus} onChange={set("gpus")} />
          </Field>
          <Field label="Accelerator model" errors={errors.errorsFor("accelerator_model")} hint="e.g. H100; blank for any.">
            <input name="accelerator_model" value={values.accelerator_model} onChange={set("accelerator_model")} />
          </Field>
          <Field label="Memory (GB)" errors={errors.errorsFor("memory_gb")}>
            <input name="memory_gb" type="number" min={0} step="any" value={values.memory_gb} onChange={set("memory_gb")} />
          </Field>
        </div>
      </fieldset>

      <fieldset>
        <legend>Scaling</legend>
        <div className="grid-4">
          <Field label="Min replicas" errors={errors.errorsFor("min_replicas")}>
            <input name="min_replicas" type="number" min={0} step={1} value={values.min_replicas} onChange={set("min_replicas")} />
          </Field>
          <Field label="Max replicas" errors={errors.errorsFor("max_replicas")}>
            <input name="max_replicas" type="number" min={1} step={1} value={values.max_replicas} onChange={set("max_replicas")} />
          </Field>
          <Field
            label="Target ongoing requests"
            errors={errors.errorsFor("target_ongoing_requests")}
            hint="Per replica; more in flight adds a replica."
          >
            <input
              name="target_ongoing_requests"
              type="number"
              min={0}
              step="any"
              value={values.target_ongoing_requests}
              onChange={set("target_ongoing_requests")}
            />
          </Field>
          <Field label="Priority class" errors={errors.errorsFor("priority_class")}>
            <select name="priority_class" value={values.priority_class} onChange={set("priority_class")}>
              <option value="">Team default</option>
              {classes.map((c) => (
                <option key={c.name} value={c.name}>
                  {c.name}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <label className="checkbox">
          <input
            type="checkbox"
            name="scale_to_zero"
            checked={values.scale_to_zero}
            onChange={(e) => {
              errors.clearField("scale_to_zero");
              setValues((prev) => ({ ...prev, scale_to_zero: e.target.checked }));
            }}
          />{" "}
          Scale to zero when idle (frees its GPUs; the first request then waits for a replica to start)
        </label>
        {errors.errorsFor("scale_to_zero").length > 0 && (
          <ul className="field-errors">
            {errors.errorsFor("scale_to_zero").map((m, i) => (
              <li key={i}>{m}</li>
            ))}
          </ul>
        )}
      </fieldset>

      <div className="form-actions">
        <button type="submit" disabled={create.isPending}>
          {create.isPending ? "Creating…" : "Create endpoint"}
        </button>
        <Link to="/endpoints" className="button-link">
          Cancel
        </Link>
      </div>
    </form>
  );
}
