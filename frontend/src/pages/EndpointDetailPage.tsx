import { Link, useParams } from "react-router";
import { ApiError } from "../api/client";
import { useEndpoint } from "../api/serving";
import { StateBadge } from "../components/StateBadge";
import { ErrorState, Loading, errorMessage } from "../components/Status";
import { isChanging } from "../lib/endpointState";
import { CostCard } from "./endpoint-detail/CostCard";
import { EndpointFacts } from "./endpoint-detail/EndpointFacts";
import { EventsSection } from "./endpoint-detail/EventsSection";
import { HealthSection } from "./endpoint-detail/HealthSection";
import { ReplicasCard } from "./endpoint-detail/ReplicasCard";
import { RevisionsSection } from "./endpoint-detail/RevisionsSection";
import { TokensCard } from "./endpoint-detail/TokensCard";
import { TryIt } from "./endpoint-detail/TryIt";

export function EndpointDetailPage() {
  const params = useParams();
  const id = Number(params.id);
  if (!Number.isInteger(id) || id <= 0) {
    return <ErrorState error={new Error(`"${params.id}" is not an endpoint id.`)} title="No such endpoint" />;
  }
  return <EndpointDetail key={id} id={id} />;
}

function EndpointDetail({ id }: { id: number }) {
  const endpoint = useEndpoint(id);

  // A 404 is the answer (even after the endpoint was shown: it has been deleted since).
  if (endpoint.error instanceof ApiError && endpoint.error.status === 404) {
    return (
      <section>
        <p className="breadcrumb">
          <Link to="/endpoints">Endpoints</Link> / #{id}
        </p>
        <ErrorState
          error={new Error(`Endpoint #${id} does not exist, or it belongs to a team you are not in.`)}
          title="Endpoint not found"
        />
      </section>
    );
  }
  if (endpoint.isPending) return <Loading label="Loading endpoint…" />;
  if (endpoint.isError && !endpoint.data) {
    return <ErrorState error={endpoint.error} title="Could not load this endpoint" onRetry={() => void endpoint.refetch()} />;
  }
  const e = endpoint.data;
  const changing = isChanging(e.state);

  return (
    <section className="endpoint-detail">
      <p className="breadcrumb">
        <Link to="/endpoints">Endpoints</Link> / {e.name}
      </p>
      <div className="page-header">
        <h1>
          {e.name} <span className="muted">#{e.id}</span>
        </h1>
        <StateBadge state={e.state} moving={changing} testId="endpoint-state" />
        {endpoint.isFetching && <span className="refreshing" aria-hidden="true" />}
      </div>
      {e.state_reason && (
        <p className="state-reason" data-testid="endpoint-state-reason">
          {e.state_reason}
        </p>
      )}
      {endpoint.isError && (
        <p className="status status-error" role="alert">
          Live updates paused: {errorMessage(endpoint.error)}
        </p>
      )}

      <EndpointFacts endpoint={e} />

      <div className="cards">
        <ReplicasCard endpoint={e} />
        <CostCard cost={e.cost} />
      </div>

      <RevisionsSection endpoint={e} />
      <HealthSection endpointId={e.id} latest={e.latest} />

      <div className="cards">
        <TryIt endpoint={e} />
        <TokensCard endpointId={e.id} />
      </div>

      <EventsSection endpointId={e.id} changing={changing} />
    </section>
  );
}
