/** The messages that belong to no field, above a form; focusable, so a failed submit can move there. */
export function FormError({ messages }: { messages: readonly string[] }) {
  if (messages.length === 0) return null;
  return (
    <div className="form-error" role="alert" data-testid="form-error" data-form-error tabIndex={-1}>
      {messages.map((m, i) => (
        <p key={i}>{m}</p>
      ))}
    </div>
  );
}
