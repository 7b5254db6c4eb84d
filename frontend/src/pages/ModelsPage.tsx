import { useState } from "react";
import { Link } from "react-router";
import { MODELS_PAGE_SIZE } from "../api/endpoints";
import type { RegisteredModel } from "../api/models";
import { useModels } from "../api/queries";
import { Pager } from "../components/Pager";
import { RelativeTime } from "../components/RelativeTime";
import { EmptyState, ErrorState, Loading } from "../components/Status";
import { StageBadge } from "./models/StageBadge";

/** The version in production, by number, linked to its row on the model's page. */
function ProductionVersion({ model }: { model: RegisteredModel }) {
  const production = model.production_version;
  if (production == null) return <span className="muted">none</span>;
  return <Link to={`/models/${model.id}#version-${production.id}`}>v{production.version}</Link>;
}

/** The model registry: every model of the caller's teams. */
export function ModelsPage() {
  const [page, setPage] = useState(1);
  const models = useModels(page);

  let body;
  if (models.isPending) body = <Loading label="Loading models…" />;
  else if (models.isError) {
    body = <ErrorState error={models.error} title="Could not load the models" onRetry={() => void models.refetch()} />;
  } else if (models.data.results.length === 0) {
    body = (
      <EmptyState>
        No models yet. A training job registers one with <code>paddock.job.register_model_version</code>, or submit a{" "}
        <Link to="/jobs/new?template=lora">LoRA fine-tuning job</Link>.
      </EmptyState>
    );
  } else {
    body = (
      <>
        <table className="table" data-testid="models">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Team</th>
              <th scope="col" className="num">
                Versions
              </th>
              <th scope="col">Production</th>
              <th scope="col">Latest</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {models.data.results.map((m) => (
              <tr key={m.id}>
                <td>
                  <Link to={`/models/${m.id}`}>{m.name}</Link>
                  {m.description && <div className="small muted">{m.description}</div>}
                </td>
                <td>{m.team}</td>
                <td className="num">{m.versions}</td>
                <td>
                  <ProductionVersion model={m} />
                </td>
                <td>
                  {m.latest_version ? (
                    <>
                      v{m.latest_version.version} <StageBadge stage={m.latest_version.stage} />
                    </>
                  ) : (
                    <span className="muted">none</span>
                  )}
                </td>
                <td>
                  <RelativeTime iso={m.created_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager
          page={page}
          count={models.data.count}
          pageSize={MODELS_PAGE_SIZE}
          hasNext={Boolean(models.data.next)}
          onPage={setPage}
        />
      </>
    );
  }

  return (
    <section>
      <h1>Models</h1>
      {body}
    </section>
  );
}
