import { useState } from "react";

export type CopyStatus = "idle" | "copied" | "failed";

/**
 * Copies text to the clipboard and says how it went. The clipboard needs a secure context
 * (https or localhost): elsewhere the status is "failed" and the caller offers the text to
 * select instead.
 */
export function useCopy() {
  const [status, setStatus] = useState<CopyStatus>("idle");
  const copy = async (text: string): Promise<boolean> => {
    try {
      await navigator.clipboard.writeText(text);
      setStatus("copied");
      return true;
    } catch {
      setStatus("failed");
      return false;
    }
  };
  return { status, copy };
}
