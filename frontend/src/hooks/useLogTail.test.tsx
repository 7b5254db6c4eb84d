import { act, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { JobLog } from "../api/models";
import { useLogTail, type FetchLogs } from "./useLogTail";

function chunk(offset: number, text: string, complete = false, attempt: number | null = 1): JobLog {
  return { attempt, offset, next_offset: offset + text.length, text, complete };
}

/** Answers each call from a script of chunks; the last one repeats. */
function scripted(chunks: JobLog[]) {
  const offsets: number[] = [];
  const fetchLogs = vi.fn<FetchLogs>(async (_id, offset) => {
    offsets.push(offset);
    return chunks[Math.min(offsets.length - 1, chunks.length - 1)]!;
  });
  return { fetchLogs, offsets };
}

async function tick(ms: number) {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

describe("useLogTail", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("accumulates text and asks for the next offset each second until complete", async () => {
    const { fetchLogs, offsets } = scripted([
      chunk(0, ""),
      chunk(0, "hello\n"),
      chunk(6, "world\n"),
      chunk(12, "", true),
    ]);
    const { result } = renderHook(() => useLogTail(7, { fetchLogs, intervalMs: 1000 }));

    await tick(0);
    expect(result.current.waiting).toBe(true);
    expect(result.current.text).toBe("");

    await tick(1000);
    expect(result.current.text).toBe("hello\n");
    expect(result.current.waiting).toBe(false);

    await tick(1000);
    expect(result.current.text).toBe("hello\nworld\n");

    await tick(1000);
    expect(result.current.complete).toBe(true);
    expect(offsets).toEqual([0, 0, 6, 12]);
    expect(fetchLogs).toHaveBeenCalledWith(7, 12);

    await tick(5000);
    expect(fetchLogs).toHaveBeenCalledTimes(4);
  });

  it("keeps polling past a complete chunk while the job is still active", async () => {
    const { fetchLogs } = scripted([chunk(0, "a\n", true), chunk(2, "", true)]);
    const { result, rerender } = renderHook(({ follow }) => useLogTail(1, { fetchLogs, follow }), {
      initialProps: { follow: true },
    });
    await tick(0);
    expect(result.current.complete).toBe(false);
    await tick(3000);
    expect(fetchLogs).toHaveBeenCalledTimes(4);

    rerender({ follow: false });
    await tick(1000);
    expect(result.current.complete).toBe(true);
    const calls = fetchLogs.mock.calls.length;
    await tick(5000);
    expect(fetchLogs).toHaveBeenCalledTimes(calls);
  });

  it("finishes the old attempt, then restarts at offset 0 of a retry's attempt", async () => {
    const logs: Record<number, string> = { 1: "first\ntail", 2: "two\n" };
    let latest = 1;
    const calls: [number, number | undefined][] = [];
    const fetchLogs = vi.fn<FetchLogs>(async (_id, offset, attempt) => {
      calls.push([offset, attempt]);
      const number = attempt ?? latest;
      const text = logs[number]!.slice(offset);
      const result = { attempt: number, offset, next_offset: offset + text.length, text, complete: number === 1 };
      if (number === 1 && offset === 0) {
        latest = 2; // the retry starts while we read
        return { ...result, text: "first\n", next_offset: 6, complete: false };
      }
      return result;
    });
    const { result } = renderHook(() => useLogTail(1, { fetchLogs, follow: true }));
    await tick(0);
    expect(result.current.text).toBe("first\n");
    await tick(1000);
    // The new attempt is read without waiting for another interval.
    await tick(10);
    expect(result.current.text).toBe("first\ntail\n--- attempt 2 ---\ntwo\n");
    // latest at 6 (attempt 2 answered: dropped), drain attempt 1 from 6, then attempt 2 from 0.
    expect(calls).toEqual([
      [0, undefined],
      [6, undefined],
      [6, 1],
      [0, undefined],
    ]);
    await tick(1000);
    expect(calls.at(-1)).toEqual([4, undefined]);
  });

  it("never moves the offset backwards", async () => {
    const { fetchLogs, offsets } = scripted([
      chunk(0, "abc"),
      { attempt: 1, offset: 3, next_offset: 1, text: "", complete: false },
      chunk(3, "", true),
    ]);
    renderHook(() => useLogTail(1, { fetchLogs }));
    await tick(0);
    await tick(1000);
    await tick(1000);
    expect(offsets).toEqual([0, 3, 3]);
  });

  it("reports a failed poll and recovers on the next one", async () => {
    let calls = 0;
    const fetchLogs = vi.fn<FetchLogs>(async (_id, offset) => {
      calls += 1;
      if (calls === 1) throw new Error("boom");
      return chunk(offset, "ok\n", true);
    });
    const { result } = renderHook(() => useLogTail(1, { fetchLogs }));
    await tick(0);
    expect(result.current.error).toBeInstanceOf(Error);
    await tick(1000);
    expect(result.current.error).toBeNull();
    expect(result.current.text).toBe("ok\n");
  });

  it("does nothing while disabled and stops when unmounted", async () => {
    const { fetchLogs } = scripted([chunk(0, "x")]);
    const { rerender, unmount } = renderHook(({ enabled }) => useLogTail(1, { fetchLogs, enabled }), {
      initialProps: { enabled: false },
    });
    await tick(3000);
    expect(fetchLogs).not.toHaveBeenCalled();
    rerender({ enabled: true });
    await tick(0);
    expect(fetchLogs).toHaveBeenCalledTimes(1);
    unmount();
    await tick(5000);
    expect(fetchLogs).toHaveBeenCalledTimes(1);
  });
  it("records when each piece of text arrived and where it starts", async () => {
    vi.setSystemTime(new Date("2026-12-06T10:00:00Z"));
    const { fetchLogs } = scripted([chunk(0, "a\n"), chunk(2, ""), chunk(2, "b\nc\n", true)]);
    const { result } = renderHook(() => useLogTail(7, { fetchLogs, intervalMs: 1000 }));
    await tick(0);
    await tick(1000);
    await tick(1000);
    expect(result.current.text).toBe("a\nb\nc\n");
    const at = result.current.arrivals.map((a) => [a.start, new Date(a.receivedAt).toISOString()]);
    expect(at).toEqual([
      [0, "2026-12-06T10:00:00.000Z"],
      [2, "2026-12-06T10:00:02.000Z"],
    ]); // an empty chunk adds no arrival
  });
});
