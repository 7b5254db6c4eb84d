import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ApiError } from "../api/client";
import { api } from "../api/endpoints";
import { useTeams, useTokens } from "../api/queries";
import type { ApiToken, ApiTokenCreateRequest, IssuedToken, TokenScope } from "../api/models";
import { Field } from "../components/Field";
import { FormError } from "../components/FormError";
import { RelativeTime } from "../components/RelativeTime";
import { SecretBox } from "../components/SecretBox";
import { EmptyState, ErrorState, Loading, errorMessage } from "../components/Status";
import { assignErrors, type AssignedErrors } from "../lib/fieldErrors";

const TOKEN_FORM_FIELDS = ["name", "team", "scope", "expires_in_days"] as const;
const EXPIRY_DEFAULT = "default";
const EXPIRY_NEVER = "never";

function tokenStatus(t: ApiToken): "revoked" | "expired" | "active" {
  if (t.revoked_at) return "revoked";
  if (t.expires_at && new Date(t.expires_at).getTime() <= Date.now()) return "expired";
  return "active";
}

export function TokensPage() {
  const [page, setPage] = useState(1);
  const tokens = useTokens(page);
  const [created, setCreated] = useState<IssuedToken | null>(null);
  const queryClient = useQueryClient();

  const revoke = useMutation({
    mutationFn: (id: number) => api.revokeToken(id),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["tokens"] }),
  });

  const onRevoke = (t: ApiToken) => {
    if (window.confirm(`Revoke token "${t.name}" (${t.prefix}…)? Anything using it will stop working.`)) revoke.mutate(t.id);
  };

  return (
    <section>
      <h1>API tokens</h1>
      <p className="muted">Tokens let scripts and CI use the API as you. Send them as <code>Authorization: Bearer &lt;token&gt;</code>.</p>

      {created && <SecretBox secret={created.token} onDismiss={() => setCreated(null)} />}

      <CreateTokenForm
        onCreated={(t) => {
          setCreated(t);
          setPage(1);
          void queryClient.invalidateQueries({ queryKey: ["tokens"] });
        }}
      />

      <h2>Your tokens</h2>
      {revoke.isError && (
        <p className="status status-error" role="alert">
          Could not revoke: {errorMessage(revoke.error)}
        </p>
      )}
      {tokens.isPending ? (
        <Loading label="Loading tokens…" />
      ) : tokens.isError ? (
        <ErrorState error={tokens.error} title="Could not load tokens" onRetry={() => void tokens.refetch()} />
      ) : tokens.data.results.length === 0 ? (
        <EmptyState>No API tokens yet — create one above.</EmptyState>
      ) : (
        <>
          <table className="table" data-testid="tokens-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Team</th>
                <th scope="col">Scope</th>
                <th scope="col">Status</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.data.results.map((t) => {
                const status = tokenStatus(t);
                return (
                  <tr key={t.id} data-testid={`token-row-${t.id}`}>
                    <td>{t.name}</td>
                    <td className="mono">{t.prefix}…</td>
                    <td>{t.team ?? <span className="muted">all my teams</span>}</td>
                    <td>{t.scope}</td>
                    <td>
                      <span className={`badge badge-token-${status}`}>{status}</span>
                    </td>
                    <td>{t.expires_at ? <RelativeTime iso={t.expires_at} /> : <span className="muted">never</span>}</td>
                    <td>
                      <RelativeTime iso={t.last_used_at} />
                    </td>
                    <td>
                      <RelativeTime iso={t.created_at} />
                    </td>
                    <td>
                      {status !== "revoked" && (
                        <button
                          type="button"
                          className="button-danger button-small"
                          onClick={() => onRevoke(t)}
                          disabled={revoke.isPending && revoke.variables === t.id}
                          aria-label={`Revoke ${t.name}`}
                        >
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {(tokens.data.next || tokens.data.previous) && (
            <nav className="pagination" aria-label="Pagination">
              <span>{tokens.data.count} tokens</span>
              <button type="button" className="button-secondary" disabled={!tokens.data.previous} onClick={() => setPage(page - 1)}>
                Previous
              </button>
              <button type="button" className="button-secondary" disabled={!tokens.data.next} onClick={() => setPage(page + 1)}>
                Next
              </button>
            </nav>
          )}
        </>
      )}
    </section>
  );
}

function CreateTokenForm({ onCreated }: { onCreated: (t: IssuedToken) => void }) {
  const teams = useTeams();
  const [name, setName] = useState("");
  const [team, setTeam] = useState("");
  const [scope, setScope] = useState<TokenScope>("read");
  const [expires, setExpires] = useState<string>(EXPIRY_DEFAULT);

  const create = useMutation({
    mutationFn: api.createToken,
    onSuccess: (t) => {
      setName("");
      onCreated(t);
    },
  });

  const errors: AssignedErrors =
    create.error instanceof ApiError && create.error.status === 400
      ? assignErrors(create.error.body, TOKEN_FORM_FIELDS)
      : { fields: {}, general: create.error ? [errorMessage(create.error)] : [] };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const body: ApiTokenCreateRequest = { name: name.trim(), scope };
    if (team) body.team = team;
    // Omitted: the server's default lifetime; null: never expires.
    if (expires === EXPIRY_NEVER) body.expires_in_days = null;
    else if (expires !== EXPIRY_DEFAULT) body.expires_in_days = Number(expires);
    create.mutate(body);
  };

  return (
    <form className="card form" onSubmit={onSubmit} noValidate aria-label="Create token">
      <h2>Create a token</h2>
      <FormError messages={errors.general} />
      <div className="grid-4">
        <Field label="Token name" errors={errors.fields.name}>
          <input name="token_name" value={name} onChange={(e) => setName(e.target.value)} placeholder="ci-deploy" />
        </Field>
        <Field label="Token team" errors={errors.fields.team} hint={teams.isError ? "Could not load teams." : undefined}>
          <select name="token_team" value={team} onChange={(e) => setTeam(e.target.value)}>
            <option value="">All my teams</option>
            {(teams.data ?? []).map((t) => (
              <option key={t.slug} value={t.slug}>
                {t.slug}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Scope" errors={errors.fields.scope}>
          <select name="scope" value={scope} onChange={(e) => setScope(e.target.value as TokenScope)}>
            <option value="read">read</option>
            <option value="write">write</option>
          </select>
        </Field>
        <Field label="Expires" errors={errors.fields.expires_in_days}>
          <select name="expires_in_days" value={expires} onChange={(e) => setExpires(e.target.value)}>
            <option value={EXPIRY_DEFAULT}>Default lifetime</option>
            <option value="7">In 7 days</option>
            <option value="30">In 30 days</option>
            <option value="90">In 90 days</option>
            <option value="365">In a year</option>
            <option value={EXPIRY_NEVER}>Never</option>
          </select>
        </Field>
      </div>
      <div className="form-actions">
        <button type="submit" disabled={create.isPending}>
          {create.isPending ? "Creating…" : "Create token"}
        </button>
      </div>
    </form>
  );
}
