import { useRef, type ReactNode } from "react";
import { useCopy } from "../hooks/useCopy";

interface Props {
  /** The secret, shown here and nowhere else. */
  secret: string;
  /** What it is, in the warning: "Copy this token now." */
  what?: string;
  /** The region's accessible name. */
  label?: string;
  testId?: string;
  /** Shown under the secret (what to do with it, where it belongs). */
  children?: ReactNode;
  onDismiss?: () => void;
}

/** A secret the server shows once (a new token): a clear warning, the value and a Copy button. */
export function SecretBox({ secret, what = "token", label = "New token", testId = "new-token", children, onDismiss }: Props) {
  const { status, copy } = useCopy();
  const inputRef = useRef<HTMLInputElement>(null);

  const onCopy = async () => {
    // Where the clipboard is refused, select the text so Ctrl+C works instead.
    if (!(await copy(secret))) inputRef.current?.select();
  };

  return (
    <div className="card token-box" role="region" aria-label={label} data-testid={testId}>
      <p className="warning">
        <strong>Copy this {what} now.</strong> It will not be shown again.
      </p>
      <div className="copy-row">
        <input
          ref={inputRef}
          readOnly
          className="mono"
          value={secret}
          aria-label={`${label} value`}
          data-testid={`${testId}-value`}
          onFocus={(e) => e.target.select()}
        />
        <button type="button" onClick={() => void onCopy()}>
          {status === "copied" ? "Copied" : "Copy"}
        </button>
      </div>
      {status === "failed" && <p className="hint">Could not use the clipboard; the {what} is selected — press Ctrl+C.</p>}
      {children}
      {onDismiss && (
        <button type="button" className="button-link" onClick={onDismiss}>
          I have saved it
        </button>
      )}
    </div>
  );
}
