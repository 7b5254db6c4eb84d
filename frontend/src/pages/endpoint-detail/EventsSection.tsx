import { useState } from "react";
import { ENDPOINT_TABLE_PAGE_SIZE, useEndpointEvents } from "../../api/serving";
import { Pager } from "../../components/Pager";
import { RelativeTime } from "../../components/RelativeTime";
import { EmptyState, ErrorState, Loading } from "../../components/Status";

/** What happened to the endpoint, newest first. */
export function EventsSection({ endpointId, changing }: { endpointId: number; changing: boolean }) {
  const [page, setPage] = useState(1);
  const events = useEndpointEvents(endpointId, page, { changing });

  let body;
  if (events.isPending) body = <Loading label="Loading events…" />;
  else if (events.isError && !events.data) {
    body = <ErrorState error={events.error} title="Could not load the events" onRetry={() => void events.refetch()} />;
  } else if (events.data.results.length === 0) {
    body = <EmptyState>No events yet.</EmptyState>;
  } else {
    body = (
      <>
        <ol className="timeline" data-testid="endpoint-events">
          {events.data.results.map((e) => (
            <li key={e.id}>
              <RelativeTime iso={e.created_at} />
              <div>
                <strong>{e.kind.replace(/_/g, " ")}</strong>
                {e.message && <p className="event-message">{e.message}</p>}
              </div>
            </li>
          ))}
        </ol>
        <Pager page={page} count={events.data.count} pageSize={ENDPOINT_TABLE_PAGE_SIZE} hasNext={Boolean(events.data.next)} onPage={setPage} />
      </>
    );
  }
  return (
    <section aria-labelledby="events-heading">
      <h2 id="events-heading">Events</h2>
      {body}
    </section>
  );
}
