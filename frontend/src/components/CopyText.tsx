import { useCopy } from "../hooks/useCopy";

/** A value (a URL, a name) in code type with a Copy button; blank values show `empty`. */
export function CopyText({ text, label, empty = "—", testId }: { text: string; label: string; empty?: string; testId?: string }) {
  const { status, copy } = useCopy();
  if (!text) return <span className="muted">{empty}</span>;
  return (
    <span className="copy-text" data-testid={testId}>
      <code className="selectable">{text}</code>{" "}
      <button
        type="button"
        className="button-link button-copy"
        onClick={() => void copy(text)}
        aria-label={`Copy ${label}`}
        title={status === "failed" ? "Could not use the clipboard: select the text and press Ctrl+C" : undefined}
      >
        {status === "copied" ? "Copied" : status === "failed" ? "Select to copy" : "Copy"}
      </button>
    </span>
  );
}
