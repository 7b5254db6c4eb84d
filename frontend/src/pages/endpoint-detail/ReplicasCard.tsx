import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import {
  useDeleteEndpoint,
  useStartEndpoint,
  useStopEndpoint,
  useUpdateEndpoint,
  type Endpoint,
  type EndpointReplicas,
} from "../../api/serving";
import { Field } from "../../components/Field";
import { FormError } from "../../components/FormError";
import { errorMessage } from "../../components/Status";
import { useFormErrors } from "../../hooks/useFormErrors";
import { canStart } from "../../lib/endpointState";
import { readNumbers } from "../endpoint-new/endpointRequest";

const SCALE_FIELDS = ["min_replicas", "max_replicas", "target_ongoing_requests", "scale_to_zero"] as const;

/** Replicas now and their bounds; scale, stop, start and delete. */
export function ReplicasCard({ endpoint }: { endpoint: Endpoint }) {
  const [scaling, setScaling] = useState(false);
  const navigate = useNavigate();
  const stop = useStopEndpoint(endpoint.id);
  const start = useStartEndpoint(endpoint.id);
  const remove = useDeleteEndpoint(endpoint.id);
  const r = endpoint.replicas;
  const failed = [stop, start, remove].find((m) => m.isError);

  const onStop = () => {
    if (window.confirm(`Stop ${endpoint.name}? It stops answering and frees its GPUs until started again.`)) stop.mutate();
  };
  const onDelete = () => {
    if (window.confirm(`Delete endpoint ${endpoint.name}? Its URL and tokens stop working; this cannot be undone.`)) {
      remove.mutate(undefined, { onSuccess: () => void navigate("/endpoints", { replace: true }) });
    }
  };

  return (
    <section className="card" aria-labelledby="replicas-heading" data-testid="replicas">
      <h2 id="replicas-heading">Replicas</h2>
      <dl className="stat-row">
        <div>
          <dt>Running</dt>
          <dd data-testid="replicas-running">{r.running}</dd>
        </div>
        <div>
          <dt>Min</dt>
          <dd data-testid="replicas-min">{r.min}</dd>
        </div>
        <div>
          <dt>Max</dt>
          <dd data-testid="replicas-max">{r.max}</dd>
        </div>
        <div>
          <dt>Target in flight</dt>
          <dd>{r.target_ongoing_requests}</dd>
        </div>
      </dl>
      <p className="small muted">{r.scale_to_zero ? "Scales to zero when idle." : "Keeps at least the minimum running."}</p>

      {scaling ? (
        <ScaleForm endpointId={endpoint.id} replicas={r} onDone={() => setScaling(false)} />
      ) : (
        <div className="row-actions">
          <button type="button" className="button-secondary" onClick={() => setScaling(true)}>
            Scale
          </button>
          {canStart(endpoint.state) ? (
            <button type="button" className="button-secondary" onClick={() => start.mutate()} disabled={start.isPending}>
              {start.isPending ? "Starting…" : "Start"}
            </button>
          ) : (
            <button type="button" className="button-secondary" onClick={onStop} disabled={stop.isPending}>
              {stop.isPending ? "Stopping…" : "Stop"}
            </button>
          )}
          <button type="button" className="button-danger" onClick={onDelete} disabled={remove.isPending}>
            {remove.isPending ? "Deleting…" : "Delete"}
          </button>
        </div>
      )}
      {failed && (
        <p className="status status-error" role="alert">
          {errorMessage(failed.error)}
        </p>
      )}
    </section>
  );
}

function ScaleForm({ endpointId, replicas, onDone }: { endpointId: number; replicas: EndpointReplicas; onDone: () => void }) {
  const update = useUpdateEndpoint(endpointId);
  const errors = useFormErrors(SCALE_FIELDS);
  const [values, setValues] = useState({
    min_replicas: String(replicas.min),
    max_replicas: String(replicas.max),
    target_ongoing_requests: String(replicas.target_ongoing_requests),
  });
  const [scaleToZero, setScaleToZero] = useState(replicas.scale_to_zero);

  const set = (key: keyof typeof values) => (event: { target: { value: string } }) => {
    errors.clearField(key);
    setValues((prev) => ({ ...prev, [key]: event.target.value }));
  };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const read = readNumbers(values, ["min_replicas", "max_replicas", "target_ongoing_requests"], new Set(["min_replicas", "max_replicas"]));
    if (Object.keys(read.errors).length > 0) {
      errors.showFields(read.errors);
      return;
    }
    errors.clear();
    update.mutate({ ...read.numbers, scale_to_zero: scaleToZero }, { onSuccess: onDone, onError: errors.showError });
  };

  return (
    <form ref={errors.formRef} className="form" onSubmit={onSubmit} noValidate aria-label="Scale">
      <FormError messages={errors.general} />
      <div className="grid-3">
        <Field label="Min replicas" errors={errors.errorsFor("min_replicas")}>
          <input name="min_replicas" type="number" min={0} step={1} value={values.min_replicas} onChange={set("min_replicas")} />
        </Field>
        <Field label="Max replicas" errors={errors.errorsFor("max_replicas")}>
          <input name="max_replicas" type="number" min={1} step={1} value={values.max_replicas} onChange={set("max_replicas")} />
        </Field>
        <Field label="Target ongoing requests" errors={errors.errorsFor("target_ongoing_requests")}>
          <input
            name="target_ongoing_requests"
            type="number"
            min={0}
            step="any"
            value={values.target_ongoing_requests}
            onChange={set("target_ongoing_requests")}
          />
        </Field>
      </div>
      <label className="checkbox">
        <input
          type="checkbox"
          checked={scaleToZero}
          onChange={(e) => {
            errors.clearField("scale_to_zero");
            setScaleToZero(e.target.checked);
          }}
        />{" "}
        Scale to zero when idle
      </label>
      {errors.errorsFor("scale_to_zero").map((m, i) => (
        <p key={i} className="field-errors">
          {m}
        </p>
      ))}
      <div className="form-actions">
        <button type="submit" disabled={update.isPending}>
          {update.isPending ? "Saving…" : "Save"}
        </button>
        <button type="button" className="button-secondary" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
