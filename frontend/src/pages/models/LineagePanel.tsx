import { Link } from "react-router";
import { useVersionLineage } from "../../api/queries";
import { StateBadge } from "../../components/StateBadge";
import { ErrorState, Loading } from "../../components/Status";
import { kindLabel } from "../../lib/jobState";

/** Where a version came from and where it went: base model → job → attempt → checkpoint → this
 * version → endpoints, and the jobs that start from it. */
export function LineagePanel({ versionId }: { versionId: number }) {
  const lineage = useVersionLineage(versionId);
  if (lineage.isPending) return <Loading label="Loading lineage…" />;
  if (lineage.isError) {
    return <ErrorState error={lineage.error} title="Could not load the lineage" onRetry={() => void lineage.refetch()} />;
  }
  const { version, checkpoint, attempt, job, base_model: base, derived_jobs: derived, endpoints } = lineage.data;
  const baseVersion = base.version;
  const baseName = version.base_model.name;
  return (
    <div className="lineage-panel" data-testid={`lineage-${versionId}`}>
      <ol className="lineage" aria-label={`Lineage of v${version.version}`}>
        <li data-testid="lineage-base">
          <span className="muted">base model </span>
          {baseVersion ? (
            <Link to={`/models/${baseVersion.model}#version-${baseVersion.id}`}>
              {baseVersion.model_name} v{baseVersion.version}
            </Link>
          ) : base.uri || baseName ? (
            <code title={base.uri || undefined}>{baseName || base.uri}</code>
          ) : (
            <span className="muted">none recorded</span>
          )}
        </li>
        <li data-testid="lineage-job">
          <span className="muted">job </span>
          {job ? (
            <>
              <Link to={`/jobs/${job.id}`}>
                {job.name} #{job.id}
              </Link>{" "}
              <span className="muted">({kindLabel(job.kind)})</span> <StateBadge state={job.state} live={false} />
            </>
          ) : (
            <span className="muted">registered by hand</span>
          )}
        </li>
        {attempt && (
          <li data-testid="lineage-attempt">
            <span className="muted">attempt </span>
            {attempt.number} <StateBadge state={attempt.state} live={false} />
            {attempt.resume_step != null && <span className="muted"> (resumed from step {attempt.resume_step})</span>}
          </li>
        )}
        <li data-testid="lineage-checkpoint">
          <span className="muted">checkpoint </span>
          {checkpoint ? (
            <span title={checkpoint.uri}>step {checkpoint.step}</span>
          ) : (
            <code title={version.uri}>{version.uri || "—"}</code>
          )}
        </li>
        <li data-testid="lineage-version">
          <strong>
            {version.model_name} v{version.version}
          </strong>
        </li>
        <li data-testid="lineage-endpoints">
          <span className="muted">endpoints </span>
          {endpoints.length === 0 ? (
            <span className="muted">not served yet</span>
          ) : (
            <span className="inline-list">
              {endpoints.map((e) => (
                <Link key={String(e.id)} to={`/endpoints/${String(e.id)}`}>
                  {String(e.name ?? `#${String(e.id)}`)}
                </Link>
              ))}
            </span>
          )}
        </li>
      </ol>
      <p className="small" data-testid="lineage-derived">
        Jobs started from this version:{" "}
        {derived.length === 0 ? (
          <span className="muted">none</span>
        ) : (
          <span className="inline-list">
            {derived.map((d, i) => (
              <span key={d.id}>
                {i > 0 && ", "}
                <Link to={`/jobs/${d.id}`}>
                  {d.name} #{d.id}
                </Link>{" "}
                <StateBadge state={d.state} live={false} />
              </span>
            ))}
          </span>
        )}
      </p>
    </div>
  );
}
