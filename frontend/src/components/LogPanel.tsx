import { useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from "react";
import type { LogArrival, LogTail } from "../hooks/useLogTail";
import { errorMessage } from "./Status";

/** More matches than this are counted but not all highlighted (the page would crawl). */
export const MAX_MATCHES = 5000;
/** Pixels from the bottom that still count as "at the end" (and so keep following). */
const STICK_SLACK = 24;

/** A time the line itself starts with: 2026-12-06T13:42:00Z, [2026-12-06 13:42:00,123], … */
const OWN_TIME = /^\[?(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\]?/;

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });

/** Start offsets of every case-insensitive occurrence of `query` in `text` (at most MAX_MATCHES + 1). */
export function findMatches(text: string, query: string): number[] {
  if (!query) return [];
  const haystack = text.toLowerCase();
  const needle = query.toLowerCase();
  const found: number[] = [];
  for (let at = haystack.indexOf(needle); at !== -1 && found.length <= MAX_MATCHES; at = haystack.indexOf(needle, at + needle.length)) {
    found.push(at);
  }
  return found;
}

/** The arrival holding character `offset` (arrivals are sorted by start). */
function arrivalAt(arrivals: readonly LogArrival[], offset: number): LogArrival | undefined {
  let lo = 0;
  let hi = arrivals.length - 1;
  let best: LogArrival | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const arrival = arrivals[mid]!;
    if (arrival.start <= offset) {
      best = arrival;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

/**
 * The log of a job: follows new output while scrolled to the bottom (and stays put when scrolled
 * up), with search (highlight, next / previous), line wrapping, timestamps, jump to end, and a
 * download of the whole stored log.
 */
export function LogPanel({ tail, active, downloadUrl }: { tail: LogTail; active: boolean; downloadUrl?: string }) {
  const ref = useRef<HTMLPreElement>(null);
  const stick = useRef(true);
  const [following, setFollowing] = useState(true);
  const [query, setQuery] = useState("");
  const [current, setCurrent] = useState(0);
  const [wrap, setWrap] = useState(true);
  const [timestamps, setTimestamps] = useState(false);

  const matches = useMemo(() => findMatches(tail.text, query), [tail.text, query]);
  const shownMatches = Math.min(matches.length, MAX_MATCHES);
  const currentMatch = shownMatches ? Math.min(current, shownMatches - 1) : -1;

  const setStick = (value: boolean) => {
    stick.current = value;
    setFollowing(value);
  };

  useLayoutEffect(() => {
    const el = ref.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [tail.text, wrap, timestamps]);

  // Bring the current match into view (and stop following, so it stays there).
  useEffect(() => {
    if (currentMatch < 0) return;
    const mark = ref.current?.querySelector<HTMLElement>(`mark[data-match="${currentMatch}"]`);
    if (mark) {
      setStick(false);
      mark.scrollIntoView?.({ block: "center", inline: "nearest" });
    }
  }, [currentMatch, query]);

  const onScroll = () => {
    const el = ref.current;
    if (!el) return;
    const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_SLACK;
    if (atEnd !== stick.current) setStick(atEnd);
  };

  const jumpToEnd = () => {
    setStick(true);
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  };

  const step = (by: number) => {
    if (!shownMatches) return;
    setCurrent(((currentMatch < 0 ? 0 : currentMatch) + by + shownMatches) % shownMatches);
  };

  let footer: string | null = null;
  if (tail.waiting) footer = "waiting for logs…";
  else if (tail.complete && !tail.text) footer = "No log output.";
  else if (active && !tail.complete) {
    footer = following ? "following…" : "new lines keep arriving below; Jump to end to follow them";
  }

  const plain = !timestamps && !query;

  return (
    <div className="log-panel">
      <div className="log-toolbar" role="toolbar" aria-label="Log tools">
        <input
          type="search"
          className="log-search"
          placeholder="Search the log"
          aria-label="Search the log"
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
            setCurrent(0);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter") {
              e.preventDefault();
              step(e.shiftKey ? -1 : 1);
            }
          }}
        />
        {query && (
          <span className="log-count" data-testid="log-search-count" aria-live="polite">
            {shownMatches ? `${currentMatch + 1} of ${matches.length > MAX_MATCHES ? `${MAX_MATCHES}+` : shownMatches}` : "no match"}
          </span>
        )}
        <button type="button" className="button-secondary button-small" onClick={() => step(-1)} disabled={!shownMatches} title="Previous match (Shift+Enter)">
          Previous
        </button>
        <button type="button" className="button-secondary button-small" onClick={() => step(1)} disabled={!shownMatches} title="Next match (Enter)">
          Next
        </button>
        <label className="checkbox">
          <input type="checkbox" checked={wrap} onChange={(e) => setWrap(e.target.checked)} /> Wrap lines
        </label>
        <label
          className="checkbox"
          title="The stored log has no times of its own: a line shows when this page received it, or the time written at its start when it has one."
        >
          <input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps(e.target.checked)} /> Timestamps
        </label>
        <button type="button" className="button-secondary button-small" onClick={jumpToEnd}>
          Jump to end
        </button>
        {downloadUrl && (
          <a className="button button-secondary button-small" href={downloadUrl} download data-testid="log-download">
            Download
          </a>
        )}
      </div>
      {timestamps && (
        <p className="log-legend" data-testid="log-time-legend">
          Times in grey: when this page received the line (lines read together share one), not when the job printed it.
          Times in white: written in the line itself.
        </p>
      )}
      <pre
        ref={ref}
        onScroll={onScroll}
        className={wrap ? undefined : "log-nowrap"}
        data-testid="job-logs"
        aria-label="Job logs"
        aria-live="off"
        tabIndex={0}
      >
        {plain ? tail.text : <LogLines text={tail.text} arrivals={tail.arrivals} matches={matches} current={currentMatch} query={query} timestamps={timestamps} />}
      </pre>
      <div className="log-footer" data-testid="job-logs-status">
        {footer}
        {tail.error != null && <span className="log-error"> Could not fetch logs: {errorMessage(tail.error)} (retrying)</span>}
      </div>
    </div>
  );
}

interface LinesProps {
  text: string;
  arrivals: readonly LogArrival[];
  matches: readonly number[];
  current: number;
  query: string;
  timestamps: boolean;
}

/** The log line by line: search matches marked, and a time in front of each line when asked. */
function LogLines({ text, arrivals, matches, current, query, timestamps }: LinesProps) {
  const out: ReactNode[] = [];
  let next = 0; // the first match not yet placed
  let lineStart = 0;
  let index = 0;
  while (lineStart < text.length) {
    const newline = text.indexOf("\n", lineStart);
    const lineEnd = newline === -1 ? text.length : newline + 1;
    const parts: ReactNode[] = [];
    let at = lineStart;
    while (next < matches.length && next < MAX_MATCHES && matches[next]! < lineEnd) {
      const start = matches[next]!;
      const end = Math.min(start + query.length, lineEnd);
      if (start > at) parts.push(text.slice(at, start));
      parts.push(
        <mark key={`m${next}`} data-match={next} className={next === current ? "log-match log-match-current" : "log-match"}>
          {text.slice(start, end)}
        </mark>,
      );
      at = end;
      next += 1;
    }
    if (at < lineEnd) parts.push(text.slice(at, lineEnd));
    out.push(
      <span key={index} className="log-line">
        {timestamps && <LineTime line={text.slice(lineStart, Math.min(lineEnd, lineStart + 40))} arrival={arrivalAt(arrivals, lineStart)} />}
        {parts}
      </span>,
    );
    lineStart = lineEnd;
    index += 1;
  }
  return <>{out}</>;
}

function LineTime({ line, arrival }: { line: string; arrival: LogArrival | undefined }) {
  const own = OWN_TIME.exec(line);
  if (own) {
    return (
      <span className="log-time log-time-own" title="The time written in the line itself" aria-hidden="true">
        {own[2]}
      </span>
    );
  }
  if (!arrival) return <span className="log-time" aria-hidden="true" />;
  const at = new Date(arrival.receivedAt);
  return (
    <span className="log-time log-time-received" title={`Received by this page at ${at.toLocaleString()}`} aria-hidden="true">
      {clock.format(at)}
    </span>
  );
}
