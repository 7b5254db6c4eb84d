import { useId, type ReactElement, type ReactNode } from "react";
import { cloneElement } from "react";

interface Props {
  label: string;
  /** The input, select or textarea; it receives id, aria-invalid and aria-describedby. */
  children: ReactElement<{ id?: string; "aria-invalid"?: boolean; "aria-describedby"?: string }>;
  errors?: string[];
  hint?: ReactNode;
  testId?: string;
}

/** A labelled form control with its hint and inline errors. */
export function Field({ label, children, errors, hint, testId }: Props) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const hasErrors = !!errors && errors.length > 0;
  const describedBy = [hint ? hintId : null, hasErrors ? errorId : null].filter(Boolean).join(" ") || undefined;
  return (
    <div className={`field${hasErrors ? " field-invalid" : ""}`} data-testid={testId}>
      <label htmlFor={id}>{label}</label>
      {cloneElement(children, { id, "aria-invalid": hasErrors || undefined, "aria-describedby": describedBy })}
      {hint && (
        <small id={hintId} className="hint">
          {hint}
        </small>
      )}
      {hasErrors && (
        <ul id={errorId} className="field-errors">
          {errors.map((message, i) => (
            <li key={i}>{message}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
