// The typed HTTP client: openapi-fetch over the generated schema, with same-origin session
// auth, Django's CSRF header on unsafe methods, and one error type that carries the status
// and the parsed body.
import createClient, { type Middleware } from "openapi-fetch";
import type { paths } from "./generated/schema";

export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;

  constructor(status: number, body: unknown, message?: string) {
    super(message ?? describeError(status, body));
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

function describeError(status: number, body: unknown): string {
  if (body && typeof body === "object" && "detail" in body && typeof body.detail === "string") {
    return body.detail;
  }
  if (status === 0) return "Could not reach the server.";
  if (status >= 500) return `The server had a problem (HTTP ${status}). Try again in a moment.`;
  return `Request failed (HTTP ${status}).`;
}

/** The session is gone (or never was): the caller should sign in again. */
export function isUnauthorized(error: unknown): boolean {
  return error instanceof ApiError && error.status === 401;
}

/** An answer the server means (signed out, forbidden, not found): asking again will not change it. */
export function isAnswer(error: unknown): boolean {
  return error instanceof ApiError && [401, 403, 404].includes(error.status);
}

export function readCookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** Django's CSRF header for an unsafe method; read on every request: Django rotates the token at login. */
export function csrfHeaders(method: string): Record<string, string> {
  if (!UNSAFE.has(method.toUpperCase())) return {};
  const token = readCookie("csrftoken");
  return token ? { "X-CSRFToken": token } : {};
}

const csrf: Middleware = {
  onRequest({ request }) {
    for (const [name, value] of Object.entries(csrfHeaders(request.method))) request.headers.set(name, value);
    return request;
  },
};

const options = {
  // Absolute, so that Request() accepts it outside a browser too (tests).
  baseUrl: window.location.origin,
  credentials: "same-origin" as const,
  headers: { Accept: "application/json" },
  // Looked up per call, so tests can replace the global fetch.
  fetch: (request: Request) => globalThis.fetch(request),
};

export const client = createClient<paths>(options);
client.use(csrf);

/**
 * The same client for routes the generated schema does not have yet (issue 12's serving
 * endpoints, typed by hand from the contract in ./serving.ts). Every call through it names its
 * result type; move a call to `client` once gen:api has its path.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const pendingClient = createClient<any>(options);
pendingClient.use(csrf);

interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * Awaits an openapi-fetch call and returns its data, or throws ApiError: status 0 when the
 * server could not be reached, else the HTTP status with the parsed error body.
 */
export async function unwrap<T>(call: Promise<FetchResult<T>>): Promise<T> {
  let result: FetchResult<T>;
  try {
    result = await call;
  } catch {
    throw new ApiError(0, null);
  }
  if (!result.response.ok) throw new ApiError(result.response.status, result.error ?? null);
  return result.data as T;
}

/**
 * POSTs `body` as JSON and returns the answer's body as a byte stream (server-sent events), for
 * the caller to read as it arrives. A refusal throws ApiError with the parsed body; so does a
 * server that cannot be reached (status 0). Aborting `signal` rejects with the AbortError.
 */
export async function postForStream(
  path: string,
  body: unknown,
  signal?: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  let response: Response;
  try {
    response = await globalThis.fetch(new URL(path, window.location.origin).toString(), {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "text/event-stream", "Content-Type": "application/json", ...csrfHeaders("POST") },
      body: JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError(0, null);
  }
  if (!response.ok) {
    const text = await response.text().catch(() => "");
    let parsed: unknown = text || null;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: keep the text.
    }
    throw new ApiError(response.status, parsed);
  }
  if (!response.body) throw new ApiError(response.status, null, "The server answered without a body.");
  return response.body;
}
