import { Link } from "react-router";
import { canClone } from "../job-new/fromJob";

/** "Clone / re-run": the submit form, filled in from this job (a deployment has none: its endpoint makes it). */
export function CloneLink({ jobId, kind }: { jobId: number; kind: string }) {
  if (!canClone(kind)) return null;
  return (
    <Link
      className="button button-secondary"
      to={`/jobs/new?from=${jobId}`}
      title="Open the submit form filled in from this job"
      data-testid="job-clone"
    >
      Clone / re-run
    </Link>
  );
}
