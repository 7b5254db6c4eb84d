import { useEffect, useRef, useState } from "react";
import { ApiError } from "../api/client";
import { errorMessage } from "../components/Status";
import { assignErrors, type AssignedErrors } from "../lib/fieldErrors";
import { focusFirstError } from "../lib/formFocus";

const NONE: AssignedErrors = { fields: {}, general: [] };

/**
 * A form's errors: the server's 400 assigned to its fields (the rest, and any other failure,
 * above the form), or the browser's own checks. Showing errors focuses the first invalid field
 * (or the message above the form), even errors shown without a submit; Field itself puts away
 * a field's errors once the user changes it (see lib/formFocus for the forms without this
 * hook). Attach `formRef` to the form and show the general errors with FormError.
 */
export function useFormErrors(fieldPaths: readonly string[]) {
  const [errors, setErrors] = useState<AssignedErrors>(NONE);
  const [shown, setShown] = useState(0);
  const formRef = useRef<HTMLFormElement>(null);

  useEffect(() => {
    if (shown > 0 && formRef.current) focusFirstError(formRef.current);
  }, [shown]);

  const show = (next: AssignedErrors) => {
    setErrors(next);
    if (Object.keys(next.fields).length > 0 || next.general.length > 0) setShown((n) => n + 1);
  };

  return {
    formRef,
    general: errors.general,
    errorsFor: (path: string): string[] => errors.fields[path] ?? [],
    /** The browser's own checks, keyed by field path like the server's. */
    showFields: (fields: Record<string, string[]>) => show({ fields, general: [] }),
    /** A failed request: a 400's field errors under the fields, anything else above the form. */
    showError: (error: unknown) =>
      show(
        error instanceof ApiError && error.status === 400
          ? assignErrors(error.body, fieldPaths)
          : { fields: {}, general: [errorMessage(error)] },
      ),
    clearField: (path: string) =>
      setErrors((prev) => {
        if (!(path in prev.fields)) return prev;
        const fields = { ...prev.fields };
        delete fields[path];
        return { ...prev, fields };
      }),
    clear: () => setErrors(NONE),
  };
}
