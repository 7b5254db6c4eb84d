import { Link, Navigate, useParams } from "react-router";
import { ApiError } from "../api/client";
import { useModel, useModelVersion, useModelVersions } from "../api/queries";
import { RelativeTime } from "../components/RelativeTime";
import { EmptyState, ErrorState, Loading } from "../components/Status";
import { VersionsTable } from "./models/VersionsTable";

function parseId(raw: string | undefined): number | null {
  const id = Number(raw);
  return Number.isInteger(id) && id > 0 ? id : null;
}

export function ModelDetailPage() {
  const params = useParams();
  const id = parseId(params.id);
  if (id === null) return <ErrorState error={new Error(`"${params.id}" is not a model id.`)} title="No such model" />;
  return <ModelDetail key={id} id={id} />;
}

function ModelDetail({ id }: { id: number }) {
  const model = useModel(id);
  const versions = useModelVersions(id);

  if (model.isPending) return <Loading label="Loading model…" />;
  if (model.isError) {
    if (model.error instanceof ApiError && model.error.status === 404) {
      return (
        <ErrorState
          error={new Error(`Model #${id} does not exist, or it belongs to a team you are not in.`)}
          title="Model not found"
        />
      );
    }
    return <ErrorState error={model.error} title="Could not load this model" onRetry={() => void model.refetch()} />;
  }
  const m = model.data;

  return (
    <section>
      <p className="breadcrumb">
        <Link to="/models">Models</Link> / {m.name}
      </p>
      <div className="page-header">
        <h1>
          {m.name} <span className="muted">#{m.id}</span>
        </h1>
      </div>
      {m.description && <p>{m.description}</p>}
      <dl className="facts">
        <dt>Team</dt>
        <dd>{m.team}</dd>
        <dt>Created</dt>
        <dd>
          <RelativeTime iso={m.created_at} />
        </dd>
      </dl>

      <h2>Versions</h2>
      {versions.isPending ? (
        <Loading label="Loading versions…" />
      ) : versions.isError ? (
        <ErrorState error={versions.error} title="Could not load the versions" onRetry={() => void versions.refetch()} />
      ) : versions.data.length === 0 ? (
        <EmptyState>
          No versions yet. A job registers one with <code>paddock.job.register_model_version("{m.name}")</code>.
        </EmptyState>
      ) : (
        <VersionsTable versions={versions.data} />
      )}
    </section>
  );
}

/** /model-versions/:id (where a checkpoint links to its versions): opens the version's model. */
export function ModelVersionRedirect() {
  const params = useParams();
  const id = parseId(params.id) ?? 0;
  const version = useModelVersion(id, { enabled: id > 0 });
  if (id === 0) return <ErrorState error={new Error(`"${params.id}" is not a version id.`)} title="No such version" />;
  if (version.isPending) return <Loading label="Loading version…" />;
  if (version.isError) return <ErrorState error={version.error} title="Could not load this version" onRetry={() => void version.refetch()} />;
  return <Navigate to={`/models/${version.data.model}#version-${id}`} replace />;
}
