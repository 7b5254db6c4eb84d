import { describe, expect, it } from "vitest";
import { chunkText, sseData } from "./sse";

/** A byte stream that delivers `pieces` one read each, and records whether it was cancelled. */
function streamOf(pieces: string[]) {
  const encoder = new TextEncoder();
  const state = { cancelled: false };
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const piece = pieces[i++];
      if (piece === undefined) controller.close();
      else controller.enqueue(encoder.encode(piece));
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for await (const payload of sseData(stream)) out.push(payload);
  return out;
}

describe("sseData", () => {
  it("yields each data line, joining lines split across reads, and stops at [DONE]", async () => {
    const { stream, state } = streamOf([
      ': keep-alive\n\ndata: {"a":',
      '1}\r\n\r\ndata: {"b":2}\n\ndata:{"c":3}\n',
      "\ndata: [DONE]\n\ndata: after\n\n",
      // Never read: the stream is cancelled at [DONE] while it still has more to send.
      "data: later\n\n",
      "data: much later\n\n",
    ]);
    expect(await collect(stream)).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    expect(state.cancelled).toBe(true);
  });

  it("reads a last line that has no newline, and ends with the stream", async () => {
    const { stream } = streamOf(["data: one\n", "data: two"]);
    expect(await collect(stream)).toEqual(["one", "two"]);
  });

  it("keeps a character split between reads whole", async () => {
    const bytes = new TextEncoder().encode('data: {"text":"é"}\n');
    const cut = bytes.indexOf(0xc3) + 1;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, cut));
        controller.enqueue(bytes.slice(cut));
        controller.close();
      },
    });
    expect(await collect(stream)).toEqual(['{"text":"é"}']);
  });
});

describe("chunkText", () => {
  it("reads completions and chat chunks", () => {
    expect(chunkText('{"choices":[{"text":"Hello"}]}')).toBe("Hello");
    expect(chunkText('{"choices":[{"delta":{"content":" world"}}]}')).toBe(" world");
    expect(chunkText('{"choices":[{"delta":{"role":"assistant"}}]}')).toBe("");
    expect(chunkText('{"choices":[]}')).toBe("");
  });

  it("throws an error chunk's message", () => {
    expect(() => chunkText('{"error":{"message":"model crashed"}}')).toThrow("model crashed");
  });
});
