// Reading an OpenAI-style stream of server-sent events: `data: {json}` lines, ended by
// `data: [DONE]`. Pure functions over a byte stream; no React.

/**
 * The payload of each `data:` line of `stream`, as the lines arrive (a line split across reads
 * is joined first). Ends at `data: [DONE]` or at the stream's end; comments (`:`), blank lines
 * and other fields are skipped. Returning early (a break, or `[DONE]`) cancels the stream, so
 * the connection closes.
 */
export async function* sseData(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let finished = false;
  try {
    while (!finished) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      const lines = buffer.split("\n");
      // The last piece may be half a line: keep it for the next read (unless there is none).
      buffer = done ? "" : (lines.pop() ?? "");
      for (const raw of lines) {
        const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
        if (!line.startsWith("data:")) continue;
        const payload = line.slice(line.startsWith("data: ") ? 6 : 5);
        if (payload.trim() === "[DONE]") return;
        yield payload;
      }
      finished = done;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/**
 * The text one chunk adds: a completion's `choices[0].text` or a chat's
 * `choices[0].delta.content` ("" for a chunk without text, such as the role or a finish
 * reason). A chunk that reports an error throws it; a payload that is not JSON throws too.
 */
export function chunkText(payload: string): string {
  const chunk: unknown = JSON.parse(payload);
  if (!chunk || typeof chunk !== "object") return "";
  if ("error" in chunk && chunk.error) throw new Error(describeError(chunk.error));
  const choices = "choices" in chunk && Array.isArray(chunk.choices) ? (chunk.choices as unknown[]) : [];
  const choice = choices[0];
  if (!choice || typeof choice !== "object") return "";
  if ("text" in choice && typeof choice.text === "string") return choice.text;
  if ("delta" in choice && choice.delta && typeof choice.delta === "object") {
    const delta = choice.delta;
    if ("content" in delta && typeof delta.content === "string") return delta.content;
  }
  return "";
}

function describeError(error: unknown): string {
  if (typeof error === "string") return error;
  if (error && typeof error === "object" && "message" in error && typeof error.message === "string") return error.message;
  return "The endpoint reported an error.";
}
