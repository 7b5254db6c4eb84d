// After a failed submit, focus goes to the first field with an error (or to the message above
// the form when no field has one). One mechanism for every form: Field and FormError call
// `errorsShown` when their errors appear or the form is submitted again, and the form's own
// submit event says that errors are awaited. Typing in the form ends the wait, so that errors
// arriving later (a live check) never steal the focus from where the user is.

const awaitingErrors = new WeakSet<HTMLFormElement>();
const watched = new WeakSet<HTMLFormElement>();

function watch(form: HTMLFormElement) {
  if (watched.has(form)) return;
  watched.add(form);
  form.addEventListener("submit", () => awaitingErrors.add(form));
  const stopWaiting = () => awaitingErrors.delete(form);
  form.addEventListener("input", stopWaiting);
  form.addEventListener("change", stopWaiting);
}

/** The form around `element`, watched for submits; null when it is in no form. */
export function formOf(element: HTMLElement | null): HTMLFormElement | null {
  const form = element?.closest("form") ?? null;
  if (form) watch(form);
  return form;
}

/** Focuses the first control marked invalid in `form`, else its message above the fields. */
export function focusFirstError(form: HTMLElement) {
  const target =
    form.querySelector<HTMLElement>('[aria-invalid="true"]') ?? form.querySelector<HTMLElement>("[data-form-error]");
  target?.focus();
}

/**
 * Errors are showing in `element` after a submit of its form (or after it was submitted and
 * before the user typed again): focus the first. Called again when a request's errors replace
 * the ones shown while it ran, so the focus ends on the first of the newest.
 */
export function errorsShown(element: HTMLElement | null) {
  const form = formOf(element);
  if (form && awaitingErrors.has(form)) focusFirstError(form);
}
