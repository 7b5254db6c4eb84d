import { CheckboxField } from "./CheckboxField";

/**
 * Whether a failed attempt is retried when the job's own code failed. Failures of the cluster
 * (a lost node, a preemption) are retried either way, up to the job's max retries.
 */
export function RetryOnError(props: { checked: boolean; onChange: (checked: boolean) => void; errors: string[] }) {
  return (
    <CheckboxField
      name="retry_on_error"
      label="Retry after the job's own errors too"
      hint="Off: only the cluster's failures are retried."
      {...props}
    />
  );
}
