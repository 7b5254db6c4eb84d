import { useEffect, useRef, useState } from "react";
import type { JobLog } from "../api/models";

/** Reads a job's log from `offset`; `attempt` picks an attempt (the latest when omitted). */
export type FetchLogs = (jobId: number, offset: number, attempt?: number) => Promise<JobLog>;

/** When a piece of `text` reached the dashboard: it starts at character `start`. */
export interface LogArrival {
  start: number;
  /** Milliseconds since the epoch, by this browser's clock, when the poll that read it answered. */
  receivedAt: number;
}

export interface LogTail {
  text: string;
  /** One per piece appended, in order (the stored log itself carries no times). */
  arrivals: LogArrival[];
  /** The server said the log is complete (the job finished and every character was read). */
  complete: boolean;
  /** Nothing has arrived yet. */
  waiting: boolean;
  /** The last poll failed; polling goes on. */
  error: unknown;
}

export interface LogTailOptions {
  fetchLogs: FetchLogs;
  intervalMs?: number;
  /** Poll only while this is true (e.g. the job detail has loaded). */
  enabled?: boolean;
  /**
   * The job is still active: keep polling even after a chunk says `complete`, because a
   * retry may start a new attempt. Once this is false, the first `complete` chunk ends it.
   */
  follow?: boolean;
}

/** Most chunks read to drain a finished attempt before moving on to the next one. */
const MAX_DRAIN_READS = 50;

/**
 * Tails a job's log: asks for the latest attempt's text from `offset`, appends it, continues
 * from `next_offset`, and polls again after `intervalMs` until the server reports `complete`.
 *
 * Offsets count within one attempt. When a retry makes a newer attempt the latest, the rest of
 * the previous attempt is read (by number), a separator is added, and reading starts again at
 * offset 0 of the new attempt.
 */
export function useLogTail(
  jobId: number,
  { fetchLogs, intervalMs = 1000, enabled = true, follow = false }: LogTailOptions,
): LogTail {
  const [state, setState] = useState<LogTail>(EMPTY);
  const fetchRef = useRef(fetchLogs);
  fetchRef.current = fetchLogs;
  const followRef = useRef(follow);
  followRef.current = follow;

  useEffect(() => {
    setState(EMPTY);
    if (!enabled) return;

    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let offset = 0;
    let attempt: number | null = null;
    let seenText = false;
    let atLineStart = true;

    const append = (addition: string, complete: boolean) => {
      if (addition) {
        seenText = true;
        atLineStart = addition.endsWith("\n");
      }
      const receivedAt = Date.now();
      setState((prev) => ({
        text: prev.text + addition,
        arrivals: addition ? [...prev.arrivals, { start: prev.text.length, receivedAt }] : prev.arrivals,
        complete,
        waiting: !seenText && !complete,
        error: null,
      }));
    };

    /** Reads what is left of attempt `number` from `offset`. */
    const drain = async (number: number): Promise<string> => {
      let rest = "";
      for (let i = 0; i < MAX_DRAIN_READS; i++) {
        const chunk = await fetchRef.current(jobId, offset, number);
        if (cancelled) return rest;
        rest += chunk.text;
        offset = Math.max(offset, chunk.next_offset);
        if (chunk.complete || chunk.text === "") break;
      }
      return rest;
    };

    const poll = async () => {
      let again = intervalMs;
      try {
        const chunk = await fetchRef.current(jobId, offset);
        if (cancelled) return;
        if (chunk.attempt !== null && attempt !== null && chunk.attempt !== attempt) {
          // A new attempt: this chunk was read at the old attempt's offset, so drop it.
          append(await drain(attempt), false);
          if (cancelled) return;
          attempt = chunk.attempt;
          offset = 0;
          append(`${atLineStart ? "" : "\n"}--- attempt ${attempt} ---\n`, false);
          again = 0;
        } else {
          if (chunk.attempt !== null) attempt = chunk.attempt;
          // Never move backwards: a stale response must not make us re-read text we have.
          offset = Math.max(offset, chunk.next_offset);
          const done = chunk.complete && !followRef.current;
          append(chunk.text, done);
          if (done) return;
          // More is waiting beyond this chunk: read it right away.
          if (chunk.text.length >= LARGE_CHUNK) again = 0;
        }
      } catch (error) {
        if (cancelled) return;
        setState((prev) => ({ ...prev, error }));
      }
      timer = setTimeout(poll, again);
    };

    void poll();
    return () => {
      cancelled = true;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [jobId, intervalMs, enabled]);

  return state;
}

const EMPTY: LogTail = { text: "", arrivals: [], complete: false, waiting: true, error: null };

/** A chunk this long probably hit the server's chunk limit, so read on without waiting. */
const LARGE_CHUNK = 64 * 1024;
