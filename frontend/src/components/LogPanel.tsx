import { useLayoutEffect, useRef } from "react";
import type { LogTail } from "../hooks/useLogTail";
import { errorMessage } from "./Status";

/** The log tail: follows new output while scrolled to the bottom, stays put when scrolled up. */
export function LogPanel({ tail, active }: { tail: LogTail; active: boolean }) {
  const ref = useRef<HTMLPreElement>(null);
  const stick = useRef(true);

  useLayoutEffect(() => {
    const el = ref.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [tail.text]);

  const onScroll = () => {
    const el = ref.current;
    if (el) stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
  };

  let footer: string | null = null;
  if (tail.waiting) footer = "waiting for logs…";
  else if (tail.complete && !tail.text) footer = "No log output.";
  else if (active && !tail.complete) footer = "following…";

  return (
    <div className="log-panel">
      <pre ref={ref} onScroll={onScroll} data-testid="job-logs" aria-label="Job logs" aria-live="off" tabIndex={0}>
        {tail.text}
      </pre>
      <div className="log-footer" data-testid="job-logs-status">
        {footer}
        {tail.error != null && <span className="log-error"> Could not fetch logs: {errorMessage(tail.error)} (retrying)</span>}
      </div>
    </div>
  );
}
