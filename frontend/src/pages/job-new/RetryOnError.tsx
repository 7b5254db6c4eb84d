/**
 * Whether a failed attempt is retried when the job's own code failed. Failures of the cluster
 * (a lost node, a preemption) are retried either way, up to the job's max retries.
 */
export function RetryOnError({
  checked,
  onChange,
  errors,
}: {
  checked: boolean;
  onChange: (checked: boolean) => void;
  errors: string[];
}) {
  return (
    <div className={`field${errors.length ? " field-invalid" : ""}`}>
      <label className="checkbox">
        <input type="checkbox" name="retry_on_error" checked={checked} onChange={(e) => onChange(e.target.checked)} />{" "}
        Retry after the job&apos;s own errors too
      </label>
      <small className="hint">Off: only the cluster&apos;s failures are retried.</small>
      {errors.length > 0 && (
        <ul className="field-errors">
          {errors.map((message, i) => (
            <li key={i}>{message}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
