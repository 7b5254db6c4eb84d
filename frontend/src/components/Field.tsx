import { cloneElement, useEffect, useId, useRef, useState, type ReactElement, type ReactNode } from "react";
import { errorsShown, formOf } from "../lib/formFocus";

/** On a form: its errors are recomputed from the values as they change (nothing to put away). */
export const LIVE_ERRORS = "data-live-errors";

interface Props {
  label: string;
  /** The input, select or textarea; it receives id, aria-invalid and aria-describedby. */
  children: ReactElement<{ id?: string; "aria-invalid"?: boolean; "aria-describedby"?: string }>;
  errors?: string[];
  hint?: ReactNode;
  testId?: string;
}

/**
 * A labelled form control with its hint and inline errors.
 *
 * Errors are about what the user had typed: once they change the control, its errors are put
 * away until the form is submitted again or different errors arrive. After a failed submit,
 * the first field with an error takes the focus (see lib/formFocus). A form whose errors are
 * worked out from what is typed, as it is typed, says so with `data-live-errors`: its errors
 * are never stale.
 */
export function Field({ label, children, errors, hint, testId }: Props) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const ref = useRef<HTMLDivElement>(null);
  const key = errors?.join("\n") ?? "";
  // The errors the user has since answered by changing the control (null: none put away).
  const [answered, setAnswered] = useState<string | null>(null);
  const [submits, setSubmits] = useState(0);
  const hasErrors = key !== "" && key !== answered;
  const describedBy = [hint ? hintId : null, hasErrors ? errorId : null].filter(Boolean).join(" ") || undefined;

  useEffect(() => {
    const form = formOf(ref.current);
    if (!form) return;
    const resubmitted = () => {
      setAnswered(null);
      setSubmits((n) => n + 1);
    };
    form.addEventListener("submit", resubmitted);
    return () => form.removeEventListener("submit", resubmitted);
  }, []);

  useEffect(() => {
    if (key === "") setAnswered(null); // gone: should they come back, they are news
    if (hasErrors) errorsShown(ref.current);
  }, [key, hasErrors, submits]);

  return (
    <div
      ref={ref}
      className={`field${hasErrors ? " field-invalid" : ""}`}
      data-testid={testId}
      onChange={() => {
        if (hasErrors && !formOf(ref.current)?.hasAttribute(LIVE_ERRORS)) setAnswered(key);
      }}
    >
      <label htmlFor={id}>{label}</label>
      {cloneElement(children, { id, "aria-invalid": hasErrors || undefined, "aria-describedby": describedBy })}
      {hint && (
        <small id={hintId} className="hint">
          {hint}
        </small>
      )}
      {hasErrors && (
        <ul id={errorId} className="field-errors">
          {errors?.map((message, i) => (
            <li key={i}>{message}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
