// Maps DRF's 400 bodies onto form fields.
//
// DRF nests errors the way the data is nested:
//   {name: ["This field is required."],
//    resources: {gpus: ["Ensure this value is greater than or equal to 0."]},
//    runtime_env: {pip: {"0": ["Not a valid string."]}, env_vars: {"A B": ["..."]}},
//    non_field_errors: ["..."]}
// A list serializer answers a list of per-item objects, and a bare string can appear too.

export type FlatErrors = Record<string, string[]>;

const NON_FIELD = new Set(["non_field_errors", "detail"]);

/** Flattens a DRF error body into {"resources.gpus": [...], "": [...general...]}. */
export function flattenErrors(body: unknown, prefix = ""): FlatErrors {
  const out: FlatErrors = {};
  const add = (path: string, messages: string[]) => {
    if (messages.length === 0) return;
    (out[path] ??= []).push(...messages);
  };
  const join = (key: string) => (prefix ? `${prefix}.${key}` : key);

  if (body === null || body === undefined) return out;
  if (typeof body === "string") {
    add(prefix, [body]);
    return out;
  }
  if (Array.isArray(body)) {
    if (body.every((item) => typeof item === "string")) {
      add(prefix, body as string[]);
      return out;
    }
    body.forEach((item, index) => {
      if (item === null || (typeof item === "object" && Object.keys(item).length === 0)) return;
      merge(out, flattenErrors(item, join(String(index))));
    });
    return out;
  }
  if (typeof body === "object") {
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      merge(out, flattenErrors(value, NON_FIELD.has(key) ? prefix : join(key)));
    }
    return out;
  }
  add(prefix, [String(body)]);
  return out;
}

function merge(into: FlatErrors, from: FlatErrors) {
  for (const [path, messages] of Object.entries(from)) (into[path] ??= []).push(...messages);
}

export interface AssignedErrors {
  /** Messages per form field path, e.g. "resources.gpus". */
  fields: Record<string, string[]>;
  /** Messages that belong to no field on the form (non_field_errors, detail, unknown keys). */
  general: string[];
}

/**
 * Assigns flattened errors to the form's fields. A field claims its own path and everything
 * below it (so "runtime_env.pip" claims "runtime_env.pip.2", with the sub-path as context).
 * The longest matching field wins; whatever no field claims becomes a general error, so no
 * message from the server is ever dropped.
 */
export function assignErrors(body: unknown, fieldPaths: readonly string[]): AssignedErrors {
  const flat = flattenErrors(body);
  const fields: Record<string, string[]> = {};
  const general: string[] = [];
  const byLength = [...fieldPaths].sort((a, b) => b.length - a.length);

  for (const [path, messages] of Object.entries(flat)) {
    const field = path === "" ? undefined : byLength.find((f) => path === f || path.startsWith(`${f}.`));
    if (field === undefined) {
      const label = path ? `${path}: ` : "";
      general.push(...messages.map((m) => label + m));
      continue;
    }
    const rest = path.slice(field.length + 1);
    (fields[field] ??= []).push(...messages.map((m) => (rest ? `${rest}: ${m}` : m)));
  }
  return { fields, general };
}
