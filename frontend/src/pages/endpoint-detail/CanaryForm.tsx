import { useState, type FormEvent } from "react";
import { useCreateRevision, type RevisionCreateRequest } from "../../api/serving";
import { Field } from "../../components/Field";
import { FormError } from "../../components/FormError";
import { useFormErrors } from "../../hooks/useFormErrors";
import { INITIAL_SOURCE, ModelSourceFields, SOURCE_FIELDS, sourceRequest, type ModelSourceValues } from "../endpoint-new/ModelSourceFields";

const CANARY_FIELDS = [...SOURCE_FIELDS, "traffic_percent", "config"] as const;
/** A canary's usual first share. */
const DEFAULT_PERCENT = "10";

/** A new revision beside the serving one, taking `traffic_percent` of requests (100: all of them). */
export function CanaryForm({ endpointId, team, onDone }: { endpointId: number; team: string; onDone: () => void }) {
  const create = useCreateRevision(endpointId);
  const errors = useFormErrors(CANARY_FIELDS);
  const [source, setSource] = useState<ModelSourceValues>(INITIAL_SOURCE);
  const [percent, setPercent] = useState(DEFAULT_PERCENT);

  const onSource = (key: keyof ModelSourceValues, value: string) => {
    if (key !== "kind") errors.clearField(key);
    setSource((prev) => ({ ...prev, [key]: value }));
  };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const built = sourceRequest(source);
    const n = Number(percent);
    const fieldErrors: Record<string, string[]> = { ...built.errors };
    if (!Number.isInteger(n) || n < 1 || n > 100) fieldErrors.traffic_percent = ["A whole percent from 1 to 100."];
    if (Object.keys(fieldErrors).length > 0) {
      errors.showFields(fieldErrors);
      return;
    }
    errors.clear();
    const body: RevisionCreateRequest = { ...built.source, traffic_percent: n };
    create.mutate(body, { onSuccess: onDone, onError: errors.showError });
  };

  const full = Number(percent) === 100;
  return (
    <form ref={errors.formRef} className="card form" onSubmit={onSubmit} noValidate aria-label="New revision">
      <h3>New revision</h3>
      <FormError messages={errors.general} />
      <ModelSourceFields name="canary" team={team} values={source} onChange={onSource} errorsFor={errors.errorsFor} />
      <Field
        label="Traffic %"
        errors={errors.errorsFor("traffic_percent")}
        hint="Under 100 is a canary beside the serving revision; promote it once it looks right. 100 replaces it."
      >
        <input
          name="traffic_percent"
          type="number"
          min={1}
          max={100}
          step={1}
          value={percent}
          onChange={(e) => {
            errors.clearField("traffic_percent");
            setPercent(e.target.value);
          }}
        />
      </Field>
      <div className="form-actions">
        <button type="submit" disabled={create.isPending}>
          {create.isPending ? "Deploying…" : full ? "Deploy revision" : "Start canary"}
        </button>
        <button type="button" className="button-secondary" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
