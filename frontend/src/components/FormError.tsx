import { useEffect, useRef } from "react";
import { errorsShown } from "../lib/formFocus";

/**
 * The messages that belong to no field, above a form; focusable, so that a failed submit with
 * no field to blame moves the focus here (see lib/formFocus).
 */
export function FormError({ messages }: { messages: readonly string[] }) {
  const ref = useRef<HTMLDivElement>(null);
  const key = messages.join("\n");
  useEffect(() => {
    if (key !== "") errorsShown(ref.current);
  }, [key]);
  if (messages.length === 0) return null;
  return (
    <div ref={ref} className="form-error" role="alert" data-testid="form-error" data-form-error tabIndex={-1}>
      {messages.map((m, i) => (
        <p key={i}>{m}</p>
      ))}
    </div>
  );
}
