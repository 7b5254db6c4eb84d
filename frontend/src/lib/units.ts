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

const cents = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const smallMoney = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 3 });

/**
 * "4,687.60": thousands separators and two decimals; an amount under one that two decimals
 * would round (a price per 1,000 tokens, "0.0792") keeps three significant digits instead.
 * "—" when there is no amount.
 */
export function formatAmount(amount: Money): string {
  const value = toNumber(amount);
  if (value === null) return "—";
  const exact = Math.abs(value) >= 1 || Math.round(value * 100) === value * 100;
  return (exact ? cents : smallMoney).format(value);
}

/**
 * The one way the dashboard writes money: "USD 29.88", "EUR 4,687.60" (the currency's code,
 * then formatAmount's number), "no price" when there is none; the bare number without a currency.
 */
export function formatMoney(amount: Money, currency: string | null | undefined): string {
  if (toNumber(amount) === null) return "no price";
  return currency ? `${currency} ${formatAmount(amount)}` : formatAmount(amount);
}

const hours2 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

/** GPU- or CPU-hours as the API sends them ("12.000"): "12", "0.25", "1,234.5"; "—" for none. */
export function formatHours(hours: Money): string {
  const value = toNumber(hours);
  return value === null ? "—" : hours2.format(value);
}

/**
 * A wall-clock span the way people say it: "45 s", "12 min", "1 h 30 min", "3 d 4 h"; "—" when
 * there is none (a job that never started).
 */
export function formatElapsed(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return "—";
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
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
