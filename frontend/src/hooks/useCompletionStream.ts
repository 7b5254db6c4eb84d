import { useEffect, useRef, useState } from "react";
import { errorMessage } from "../components/Status";
import { chunkText, sseData } from "../lib/sse";

export type StreamStatus = "idle" | "streaming" | "done" | "stopped" | "failed";

/**
 * Runs one streamed completion at a time: `start(open)` calls `open(signal)` for the event
 * stream and appends each chunk's text to `text` as it arrives, until `[DONE]`, the stream's
 * end, `stop()`, a new start, or unmounting (all of which abort the request).
 */
export function useCompletionStream() {
  const [text, setText] = useState("");
  const [status, setStatus] = useState<StreamStatus>("idle");
  const [error, setError] = useState<string | null>(null);
  const controller = useRef<AbortController | null>(null);

  useEffect(() => () => controller.current?.abort(), []);

  const start = async (open: (signal: AbortSignal) => Promise<ReadableStream<Uint8Array>>) => {
    controller.current?.abort();
    const mine = new AbortController();
    controller.current = mine;
    setText("");
    setError(null);
    setStatus("streaming");
    try {
      const stream = await open(mine.signal);
      for await (const payload of sseData(stream)) {
        if (mine.signal.aborted) break;
        const piece = chunkText(payload);
        if (piece) setText((prev) => prev + piece);
      }
      if (!mine.signal.aborted) setStatus("done");
    } catch (caught) {
      // A stop or a newer start aborted this one: it says nothing more.
      if (mine.signal.aborted) return;
      setError(errorMessage(caught));
      setStatus("failed");
    } finally {
      if (controller.current === mine) controller.current = null;
    }
  };

  const stop = () => {
    if (!controller.current) return;
    controller.current.abort();
    controller.current = null;
    setStatus("stopped");
  };

  return { text, status, error, start, stop };
}
