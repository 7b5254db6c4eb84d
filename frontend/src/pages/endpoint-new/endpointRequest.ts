// The new-endpoint form's values and the create body they make.
import type { EndpointCreateRequest, EndpointRuntime } from "../../api/serving";
import { INITIAL_SOURCE, SOURCE_FIELDS, sourceRequest, type ModelSourceValues } from "./ModelSourceFields";

/** Keyed by the request's field names, so a server error lands on the field of the same name. */
export interface EndpointFormValues {
  team: string;
  name: string;
  cluster: string;
  runtime: EndpointRuntime;
  cpus: string;
  gpus: string;
  accelerator_model: string;
  memory_gb: string;
  min_replicas: string;
  max_replicas: string;
  target_ongoing_requests: string;
  scale_to_zero: boolean;
  priority_class: string;
  source: ModelSourceValues;
}

/** The API's defaults. */
export const INITIAL_ENDPOINT: EndpointFormValues = {
  team: "",
  name: "",
  cluster: "",
  runtime: "ray-serve",
  cpus: "1",
  gpus: "0",
  accelerator_model: "",
  memory_gb: "0",
  min_replicas: "1",
  max_replicas: "1",
  target_ongoing_requests: "2",
  scale_to_zero: false,
  priority_class: "",
  source: INITIAL_SOURCE,
};

/** Every request field the form has a field for; errors for others are shown above the form. */
export const ENDPOINT_FORM_FIELDS = [
  "team",
  "name",
  "cluster",
  "runtime",
  ...SOURCE_FIELDS,
  "cpus",
  "gpus",
  "accelerator_model",
  "memory_gb",
  "min_replicas",
  "max_replicas",
  "target_ongoing_requests",
  "scale_to_zero",
  "priority_class",
] as const;

type NumberField = "cpus" | "gpus" | "memory_gb" | "min_replicas" | "max_replicas" | "target_ongoing_requests";
const WHOLE: ReadonlySet<NumberField> = new Set(["min_replicas", "max_replicas"]);

/**
 * Reads a number field as the API takes it; what the browser can see is wrong comes back as
 * errors keyed like the server's (then there is no body).
 */
export function readNumbers<K extends string>(
  values: Record<K, string>,
  keys: readonly K[],
  whole: ReadonlySet<string> = new Set(),
): { numbers: Record<K, number>; errors: Record<string, string[]> } {
  const numbers = {} as Record<K, number>;
  const errors: Record<string, string[]> = {};
  for (const key of keys) {
    const text = values[key].trim();
    const n = Number(text);
    if (text === "" || !Number.isFinite(n)) errors[key] = ["Enter a number."];
    else if (n < 0) errors[key] = ["Enter 0 or more."];
    else if (whole.has(key) && !Number.isInteger(n)) errors[key] = ["Enter a whole number."];
    numbers[key] = n;
  }
  return { numbers, errors };
}

export function buildEndpointRequest(values: EndpointFormValues): {
  body: EndpointCreateRequest | null;
  errors: Record<string, string[]>;
} {
  const keys: NumberField[] = ["cpus", "gpus", "memory_gb", "min_replicas", "max_replicas", "target_ongoing_requests"];
  const { numbers, errors } = readNumbers(values, keys, WHOLE);
  const source = sourceRequest(values.source);
  Object.assign(errors, source.errors);
  if (Object.keys(errors).length > 0) return { body: null, errors };

  const body: EndpointCreateRequest = {
    team: values.team,
    name: values.name.trim(),
    runtime: values.runtime,
    ...source.source,
    ...numbers,
    accelerator_model: values.accelerator_model.trim(),
    scale_to_zero: values.scale_to_zero,
  };
  if (values.cluster) body.cluster = values.cluster;
  if (values.priority_class) body.priority_class = values.priority_class;
  return { body, errors };
}
