import { Link } from "react-router";
import type { Endpoint } from "../../api/serving";
import { CopyText } from "../../components/CopyText";
import { RelativeTime } from "../../components/RelativeTime";
import { StateBadge } from "../../components/StateBadge";
import { SourceLineage } from "./SourceLineage";

/** How to reach the endpoint, what it serves and where that came from, and what runs it. */
export function EndpointFacts({ endpoint: e }: { endpoint: Endpoint }) {
  const r = e.resources;
  return (
    <dl className="facts" data-testid="endpoint-facts">
      <dt>URL</dt>
      <dd>
        <CopyText text={e.url} label="URL" empty="not deployed yet" testId="endpoint-url" />
      </dd>
      <dt>OpenAI base URL</dt>
      <dd>
        <CopyText text={e.openai_base_url} label="OpenAI base URL" empty="not deployed yet" testId="endpoint-openai-url" />
      </dd>
      <dt>Model name</dt>
      <dd>
        <CopyText text={e.model_name} label="model name" testId="endpoint-model-name" />{" "}
        <span className="muted small">(what clients pass as model)</span>
      </dd>
      <dt>Serves</dt>
      <dd>
        <SourceLineage source={e.source} testId="endpoint-lineage" />
      </dd>
      <dt>Deployment job</dt>
      <dd data-testid="endpoint-job">
        {e.job === null ? (
          <span className="muted">none yet</span>
        ) : (
          <>
            <Link to={`/jobs/${e.job}`}>job #{e.job}</Link> {e.job_state && <StateBadge state={e.job_state} />}
          </>
        )}
      </dd>
      <dt>Team</dt>
      <dd>{e.team}</dd>
      <dt>Cluster</dt>
      <dd>{e.cluster || "default"}</dd>
      <dt>Runtime</dt>
      <dd>{e.runtime === "vllm" ? "vLLM" : "Ray Serve"}</dd>
      <dt>Each replica</dt>
      <dd>
        {r.cpus} CPU · {r.gpus} GPU{r.accelerator_model ? ` (${r.accelerator_model})` : ""} · {r.memory_gb} GB
      </dd>
      <dt>Holds now</dt>
      <dd data-testid="endpoint-held">
        {e.gpus_held} GPU · {e.cpus_held} CPU
      </dd>
      {e.priority_class && (
        <>
          <dt>Priority class</dt>
          <dd>
            <span className="badge badge-class">{e.priority_class}</span>
          </dd>
        </>
      )}
      <dt>Created</dt>
      <dd>
        <RelativeTime iso={e.created_at} /> by {e.created_by || "—"}
      </dd>
    </dl>
  );
}
