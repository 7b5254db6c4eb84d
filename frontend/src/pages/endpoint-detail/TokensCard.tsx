import { useState, type FormEvent } from "react";
import {
  ENDPOINT_TABLE_PAGE_SIZE,
  useCreateEndpointToken,
  useEndpointTokens,
  useRevokeEndpointToken,
  type EndpointToken,
  type IssuedEndpointToken,
} from "../../api/serving";
import { Field } from "../../components/Field";
import { FormError } from "../../components/FormError";
import { Pager } from "../../components/Pager";
import { RelativeTime } from "../../components/RelativeTime";
import { SecretBox } from "../../components/SecretBox";
import { EmptyState, ErrorState, Loading, errorMessage } from "../../components/Status";
import { useFormErrors } from "../../hooks/useFormErrors";

const TOKEN_FIELDS = ["name"] as const;

function TokensTable({ tokens, endpointId }: { tokens: readonly EndpointToken[]; endpointId: number }) {
  const revoke = useRevokeEndpointToken(endpointId);
  const onRevoke = (t: EndpointToken) => {
    if (window.confirm(`Revoke token "${t.name}" (${t.prefix}…)? Clients using it get 401 from now on.`)) revoke.mutate(t.id);
  };
  return (
    <>
      {revoke.isError && (
        <p className="status status-error" role="alert">
          Could not revoke: {errorMessage(revoke.error)}
        </p>
      )}
      <table className="table table-compact" data-testid="endpoint-tokens">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Prefix</th>
            <th scope="col">Created</th>
            <th scope="col">Status</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {tokens.map((t) => (
            <tr key={t.id} data-testid={`endpoint-token-${t.id}`} className={t.revoked_at ? "row-muted" : undefined}>
              <td>{t.name}</td>
              <td className="mono">{t.prefix}…</td>
              <td>
                <RelativeTime iso={t.created_at} /> <span className="muted small">by {t.created_by || "—"}</span>
              </td>
              <td>
                {t.revoked_at ? (
                  <span className="badge badge-token-revoked" title={`Revoked ${t.revoked_at}`}>
                    revoked
                  </span>
                ) : (
                  <span className="badge badge-token-active">active</span>
                )}
              </td>
              <td>
                {!t.revoked_at && (
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
          ))}
        </tbody>
      </table>
    </>
  );
}

function CreateTokenForm({ endpointId, onCreated }: { endpointId: number; onCreated: (t: IssuedEndpointToken) => void }) {
  const create = useCreateEndpointToken(endpointId);
  const errors = useFormErrors(TOKEN_FIELDS);
  const [name, setName] = useState("");
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    errors.clear();
    create.mutate(name.trim(), {
      onSuccess: (t) => {
        setName("");
        onCreated(t);
      },
      onError: errors.showError,
    });
  };
  return (
    <form ref={errors.formRef} className="inline-form" onSubmit={onSubmit} noValidate aria-label="Create endpoint token">
      <FormError messages={errors.general} />
      <Field label="Token name" errors={errors.errorsFor("name")}>
        <input
          name="endpoint_token_name"
          value={name}
          placeholder="ci"
          onChange={(e) => {
            errors.clearField("name");
            setName(e.target.value);
          }}
        />
      </Field>
      <button type="submit" disabled={create.isPending}>
        {create.isPending ? "Creating…" : "Create token"}
      </button>
    </form>
  );
}

/** The endpoint's own tokens (clients send them as Bearer): create one (shown once), revoke. */
export function TokensCard({ endpointId }: { endpointId: number }) {
  const [page, setPage] = useState(1);
  const [issued, setIssued] = useState<IssuedEndpointToken | null>(null);
  const tokens = useEndpointTokens(endpointId, page);

  let body;
  if (tokens.isPending) body = <Loading label="Loading tokens…" />;
  else if (tokens.isError && !tokens.data) {
    body = <ErrorState error={tokens.error} title="Could not load the tokens" onRetry={() => void tokens.refetch()} />;
  } else if (tokens.data.results.length === 0) {
    body = <EmptyState>No tokens: create one for each client.</EmptyState>;
  } else {
    body = (
      <>
        <TokensTable tokens={tokens.data.results} endpointId={endpointId} />
        <Pager page={page} count={tokens.data.count} pageSize={ENDPOINT_TABLE_PAGE_SIZE} hasNext={Boolean(tokens.data.next)} onPage={setPage} />
      </>
    );
  }

  return (
    <section className="card" aria-labelledby="tokens-heading" data-testid="tokens">
      <h2 id="tokens-heading">Tokens</h2>
      <p className="small muted">
        Clients send one as <code>Authorization: Bearer pde_…</code>; a revoked token is refused with 401.
      </p>
      {issued && (
        <SecretBox secret={issued.token} label="New endpoint token" testId="new-endpoint-token" onDismiss={() => setIssued(null)} />
      )}
      <CreateTokenForm
        endpointId={endpointId}
        onCreated={(t) => {
          setIssued(t);
          setPage(1);
        }}
      />
      {body}
    </section>
  );
}
