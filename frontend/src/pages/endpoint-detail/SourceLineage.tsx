import { Link } from "react-router";
import type { EndpointSource } from "../../api/serving";

/**
 * Where the served weights come from, one click from each step: the registered version (its
 * row on the model's page), the checkpoint, and the job that wrote it; or the directory and the
 * entry point that loads it.
 */
export function SourceLineage({ source, testId }: { source: EndpointSource; testId?: string }) {
  if (source.model_version === null) {
    return (
      <span data-testid={testId}>
        <code title="Model directory">{source.uri || "—"}</code> <span className="muted">via</span>{" "}
        <code title="Entry point">{source.entry_point}</code>
      </span>
    );
  }
  return (
    <ol className="lineage" aria-label="Lineage" data-testid={testId}>
      <li>
        {/* /model-versions/:id opens the version's row on its model's page. */}
        <Link to={`/model-versions/${source.model_version}`}>
          {source.model || "model"} v{source.version ?? "?"}
        </Link>
      </li>
      {source.checkpoint !== null && (
        <li title={source.uri}>
          <span className="muted">checkpoint </span>#{source.checkpoint}
        </li>
      )}
      {source.job !== null && (
        <li>
          <span className="muted">from </span>
          <Link to={`/jobs/${source.job}`}>job #{source.job}</Link>
        </li>
      )}
    </ol>
  );
}
