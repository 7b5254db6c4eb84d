import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Fragment, useState } from "react";
import { Link } from "react-router";
import { api } from "../../api/endpoints";
import type { ModelVersion, PromotionStage } from "../../api/models";
import { queryKeys } from "../../api/queries";
import { RelativeTime } from "../../components/RelativeTime";
import { errorMessage } from "../../components/Status";
import { formatMetrics } from "../../lib/metrics";
import { LineagePanel } from "./LineagePanel";
import { StageBadge } from "./StageBadge";

type Action = { kind: "promote"; stage: PromotionStage } | { kind: "archive" };

/** "step 100 of job #7", or the URI a version was registered from. */
function Source({ version }: { version: ModelVersion }) {
  if (version.job === null) return <code title={version.uri}>{version.uri || "—"}</code>;
  const step = version.checkpoint_step;
  return (
    <span data-testid="version-source" title={version.uri}>
      {version.checkpoint !== null && <>{step != null ? `step ${step}` : `checkpoint #${version.checkpoint}`} of </>}
      <Link to={`/jobs/${version.job}`}>job #{version.job}</Link>
    </span>
  );
}

function VersionRow({ version, production }: { version: ModelVersion; production?: ModelVersion }) {
  const queryClient = useQueryClient();
  const [showLineage, setShowLineage] = useState(false);
  const action = useMutation({
    mutationFn: (a: Action) => (a.kind === "archive" ? api.archiveVersion(version.id) : api.promoteVersion(version.id, a.stage)),
    onSuccess: () => {
      // Promoting to production archives the previous one: refresh every version and the model.
      void queryClient.invalidateQueries({ queryKey: ["model-versions"] });
      void queryClient.invalidateQueries({ queryKey: queryKeys.model(version.model) });
      void queryClient.invalidateQueries({ queryKey: ["models"] });
    },
  });
  const run = (a: Action) => {
    if (a.kind === "promote" && a.stage === "production") {
      const moving = production && production.id !== version.id ? ` v${production.version} moves to archived.` : "";
      if (!window.confirm(`Promote v${version.version} of ${version.model_name} to production?${moving}`)) return;
    }
    action.mutate(a);
  };
  const busy = action.isPending;
  const stage = version.stage;

  return (
    <Fragment>
      <tr id={`version-${version.id}`} data-testid={`version-${version.version}`}>
        <td className="num">v{version.version}</td>
        <td>
          <StageBadge stage={stage} />
        </td>
        <td className="small">{formatMetrics(version.metrics) || <span className="muted">—</span>}</td>
        <td className="small">
          <Source version={version} />
        </td>
        <td>
          <RelativeTime iso={version.created_at} />
          {version.created_by && <div className="small muted">by {version.created_by}</div>}
        </td>
        <td className="small">
          {version.promoted_at ? (
            <>
              {version.promoted_by ?? "—"}, <RelativeTime iso={version.promoted_at} />
            </>
          ) : (
            <span className="muted">—</span>
          )}
        </td>
        <td>
          <div className="row-actions">
            {(stage === "none" || stage === "archived") && (
              <button type="button" className="button-secondary" disabled={busy} onClick={() => run({ kind: "promote", stage: "staging" })}>
                Promote to staging
              </button>
            )}
            {stage !== "production" && (
              <button type="button" className="button-secondary" disabled={busy} onClick={() => run({ kind: "promote", stage: "production" })}>
                Promote to production
              </button>
            )}
            {stage !== "archived" && (
              <button type="button" className="button-secondary" disabled={busy} onClick={() => run({ kind: "archive" })}>
                Archive
              </button>
            )}
            <button type="button" className="button-link" aria-expanded={showLineage} onClick={() => setShowLineage((v) => !v)}>
              {showLineage ? "Hide lineage" : "Lineage"}
            </button>
          </div>
          {action.isError && (
            <p className="status status-error small" role="alert">
              Could not {action.variables?.kind === "archive" ? "archive" : "promote"} v{version.version}:{" "}
              {errorMessage(action.error)}
            </p>
          )}
        </td>
      </tr>
      {showLineage && (
        <tr>
          <td colSpan={7}>
            <LineagePanel versionId={version.id} />
          </td>
        </tr>
      )}
    </Fragment>
  );
}

/** A model's versions, newest first, with their stage, source and promotion. */
export function VersionsTable({ versions }: { versions: readonly ModelVersion[] }) {
  const newestFirst = [...versions].sort((a, b) => b.version - a.version);
  const production = versions.find((v) => v.stage === "production");
  return (
    <table className="table" data-testid="model-versions">
      <thead>
        <tr>
          <th scope="col" className="num">
            Version
          </th>
          <th scope="col">Stage</th>
          <th scope="col">Metrics</th>
          <th scope="col">Source</th>
          <th scope="col">Created</th>
          <th scope="col">Promoted</th>
          <th scope="col">Actions</th>
        </tr>
      </thead>
      <tbody>
        {newestFirst.map((v) => (
          <VersionRow key={v.id} version={v} production={production} />
        ))}
      </tbody>
    </table>
  );
}
