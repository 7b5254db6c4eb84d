// Human units for sizes, durations, money, counts and FLOPs. Pure functions; the locale is the
// browser's, as elsewhere in the dashboard.

const number1 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const number3 = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 3 });
const whole = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

const SI_BYTES = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
const BINARY_BYTES = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/** Scales `value` by `base` until it is under `base`; returns the scaled value and the step. */
function scale(value: number, base: number, steps: number): [number, number] {
  let scaled = value;
  let step = 0;
  while (Math.abs(scaled) >= base && step < steps - 1) {
    scaled /= base;
    step += 1;
  }
  return [scaled, step];
}

/**
 * A size in bytes. GPU memory is binary (GiB, as nvidia-smi and the planner's explanations
 * state it); storage is decimal (GB, as vendors and df -H state it): pass `{ si: true }`.
 */
export function formatBytes(bytes: number | null | undefined, { si = false }: { si?: boolean } = {}): string {
  if (bytes == null || !Number.isFinite(bytes)) return "—";
  const units = si ? SI_BYTES : BINARY_BYTES;
  const [value, step] = scale(bytes, si ? 1000 : 1024, units.length);
  return `${number1.format(value)} ${units[step]}`;
}

const DURATION_STEPS: readonly [limit: number, divisor: number, unit: string][] = [
  [1, 1e-3, "ms"],
  [120, 1, "s"],
  [120 * 60, 60, "min"],
  [72 * 3600, 3600, "h"],
  [Infinity, 86400, "days"],
];

/** "850 ms", "45 s", "12.5 min", "3.2 h", "4.1 days"; a dash for no value. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return "—";
  if (seconds < 0) return `−${formatDuration(-seconds)}`;
  for (const [limit, divisor, unit] of DURATION_STEPS) {
    if (seconds < limit) {
      const value = seconds / divisor;
      return `${(unit === "ms" ? whole : number1).format(value)} ${unit}`;
    }
  }
  return "—"; // unreachable: the last step has no limit
}

/** The API sends money as decimal strings (or numbers); null means there is no price. */
export type Money = string | number | null | undefined;

function toNumber(amount: Money): number | null {
  if (amount == null || amount === "") return null;
  const n = typeof amount === "number" ? amount : Number(amount);
  return Number.isFinite(n) ? n : null;
}

/**
 * "$22.32", "$0.0792" (small amounts keep three significant digits, so a price per million
 * tokens does not round to $0.00), "no price" when there is none.
 */
export function formatMoney(amount: Money, currency: string | null | undefined): string {
  const value = toNumber(amount);
  if (value === null) return "no price";
  const digits: Intl.NumberFormatOptions =
    Math.abs(value) >= 1 || value === 0
      ? { minimumFractionDigits: 2, maximumFractionDigits: 2 }
      : { minimumSignificantDigits: 1, maximumSignificantDigits: 3 };
  if (!currency) return new Intl.NumberFormat(undefined, digits).format(value);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency, ...digits }).format(value);
  } catch {
    // Not an ISO 4217 code Intl knows: say the number and the code.
    return `${new Intl.NumberFormat(undefined, digits).format(value)} ${currency}`;
  }
}

const SI_PREFIXES = ["", "k", "M", "G", "T", "P", "E", "Z", "Y"];

/** An amount of floating-point operations: "662 TFLOP", "40.4 EFLOP". */
export function formatFlops(flops: number | null | undefined): string {
  if (flops == null || !Number.isFinite(flops)) return "—";
  const [value, step] = scale(flops, 1000, SI_PREFIXES.length);
  return `${number3.format(value)} ${SI_PREFIXES[step]}FLOP`;
}

const COUNT_SUFFIXES = ["", "K", "M", "B", "T"];

/** A large count the way model cards say it: "6.7B", "110M", "1.5T"; small ones in full. */
export function formatCount(count: number | null | undefined): string {
  if (count == null || !Number.isFinite(count)) return "—";
  if (Math.abs(count) < 1000) return whole.format(count);
  const [value, step] = scale(count, 1000, COUNT_SUFFIXES.length);
  return `${number1.format(value)}${COUNT_SUFFIXES[step]}`;
}

/** A rate per second: "3.2/s", "51/s", "0.05/s"; a dash for no value. */
export function formatRate(perSecond: number | null | undefined): string {
  if (perSecond == null || !Number.isFinite(perSecond)) return "—";
  return `${number3.format(perSecond)}/s`;
}

/** A share of a whole as "42 %"; "—" when the whole is zero. */
export function formatPercent(part: number, total: number): string {
  if (!total) return "—";
  return `${whole.format((part / total) * 100)} %`;
}

const QUANTITY = /^([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbt])?$/i;
const MULTIPLIERS: Record<string, number> = { k: 1e3, m: 1e6, b: 1e9, t: 1e12 };

/**
 * Reads a count as people write it: "7000000000", "6.7e9", "7B", "500M", "2T" (k, M, B, T,
 * case-insensitive; commas and underscores ignored). Returns null for anything else.
 */
export function parseCount(text: string): number | null {
  const cleaned = text.trim().replace(/[,_]/g, "");
  const match = QUANTITY.exec(cleaned);
  if (!match) return null;
  const value = Number(match[1]) * (match[2] ? (MULTIPLIERS[match[2].toLowerCase()] ?? 1) : 1);
  return Number.isFinite(value) ? value : null;
}
