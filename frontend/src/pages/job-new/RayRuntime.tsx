/**
 * Whether the entrypoint runs in a Ray cluster made for the job (head and workers from its
 * resources): on a Kubernetes cluster with KubeRay a RayJob; on a Ray cluster every job already
 * runs under Ray, so it changes nothing there.
 */
export function RayRuntime({
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
        <input type="checkbox" name="runtime_ray" checked={checked} onChange={(e) => onChange(e.target.checked)} />{" "}
        Run in a Ray cluster of its own
      </label>
      <small className="hint">On Kubernetes with KubeRay: a RayJob. Jobs on a Ray cluster run under Ray anyway.</small>
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
