import { useState, type FormEvent } from "react";
import { servingApi, type Endpoint } from "../../api/serving";
import { Field } from "../../components/Field";
import { useCompletionStream } from "../../hooks/useCompletionStream";
import { canServe } from "../../lib/endpointState";

const DEFAULT_MAX_TOKENS = "32";

/** A prompt sent through Paddock (no endpoint token needed), its answer shown as it streams. */
export function TryIt({ endpoint }: { endpoint: Endpoint }) {
  const [prompt, setPrompt] = useState("");
  const [maxTokens, setMaxTokens] = useState(DEFAULT_MAX_TOKENS);
  const stream = useCompletionStream();
  const serving = canServe(endpoint.state);
  const streaming = stream.status === "streaming";

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const max = Math.max(1, Math.round(Number(maxTokens)) || Number(DEFAULT_MAX_TOKENS));
    void stream.start((signal) => servingApi.tryIt(endpoint.id, { prompt, max_tokens: max }, signal));
  };

  return (
    <section className="card" aria-labelledby="try-heading" data-testid="try-it">
      <h2 id="try-heading">Try it</h2>
      <form className="form" onSubmit={onSubmit} aria-label="Try it">
        <Field label="Prompt">
          <textarea name="prompt" rows={3} value={prompt} onChange={(e) => setPrompt(e.target.value)} />
        </Field>
        <div className="inline-form">
          <Field label="Max tokens">
            <input name="max_tokens" type="number" min={1} step={1} value={maxTokens} onChange={(e) => setMaxTokens(e.target.value)} />
          </Field>
          <button type="submit" disabled={!serving || streaming || prompt.trim() === ""}>
            {streaming ? "Sending…" : "Send"}
          </button>
          {streaming && (
            <button type="button" className="button-secondary" onClick={stream.stop}>
              Stop streaming
            </button>
          )}
        </div>
        {!serving && <p className="small muted">The endpoint answers once it is ready (it is {endpoint.state}).</p>}
      </form>
      {(stream.status !== "idle" || stream.text) && (
        <>
          <pre className="try-output" data-testid="try-output" aria-live="polite" aria-busy={streaming}>
            {stream.text}
          </pre>
          <p className="small muted" data-testid="try-status">
            {stream.status === "streaming" && "Streaming…"}
            {stream.status === "done" && "Done."}
            {stream.status === "stopped" && "Stopped."}
          </p>
        </>
      )}
      {stream.error && (
        <p className="status status-error" role="alert">
          {stream.error}
        </p>
      )}
    </section>
  );
}
