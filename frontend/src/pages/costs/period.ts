// The costs page's period: whole days (YYYY-MM-DD, UTC as the ledger's days are), what it asks
// the API for, and the days or months its chart has a bar for.
import { addDays, differenceInCalendarDays, eachDayOfInterval, eachMonthOfInterval, format, parseISO, subDays, subMonths } from "date-fns";

export interface Period {
  /** First day, included. */
  from: string;
  /** Last day, included. */
  to: string;
}

const DAY = "yyyy-MM-dd";
/** Longer periods are charted by month. */
const MAX_DAYS_BY_DAY = 92;

/** Today in UTC, as the server counts days. */
export function todayUtc(now: Date = new Date()): string {
  return now.toISOString().slice(0, 10);
}

/** The first of this month to today: the server's default period. */
export function thisMonth(now: Date = new Date()): Period {
  const today = todayUtc(now);
  return { from: `${today.slice(0, 8)}01`, to: today };
}

export function lastMonth(now: Date = new Date()): Period {
  const first = parseISO(thisMonth(now).from);
  return { from: format(subMonths(first, 1), DAY), to: format(subDays(first, 1), DAY) };
}

const isDay = (text: string) => /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(parseISO(text).getTime());

/** The period in the URL, this month for what is missing or not a date. */
export function readPeriod(from: string, to: string, now: Date = new Date()): Period {
  const fallback = thisMonth(now);
  return { from: isDay(from) ? from : fallback.from, to: isDay(to) ? to : fallback.to };
}

export function isBackwards(period: Period): boolean {
  return period.from > period.to;
}

/**
 * What the API is asked: instants, from the first day's midnight (UTC) to the midnight after
 * the last day, so the last day counts whole.
 */
// CONTRACT: `to` as a bare date could mean its start or its end; instants leave no doubt.
export function apiRange(period: Period): { from: string; to: string } {
  return { from: `${period.from}T00:00:00Z`, to: `${format(addDays(parseISO(period.to), 1), DAY)}T00:00:00Z` };
}

export type Bucket = "day" | "month";

/** Days for up to three months, months beyond. */
export function bucketFor(period: Period): Bucket {
  return differenceInCalendarDays(parseISO(period.to), parseISO(period.from)) + 1 > MAX_DAYS_BY_DAY ? "month" : "day";
}

/** Every day ("2026-12-01") or month ("2026-12") of the period, in order. */
export function periodCategories(period: Period, bucket: Bucket): string[] {
  if (isBackwards(period)) return [];
  const interval = { start: parseISO(period.from), end: parseISO(period.to) };
  if (bucket === "month") return eachMonthOfInterval(interval).map((d) => format(d, "yyyy-MM"));
  return eachDayOfInterval(interval).map((d) => format(d, DAY));
}

/** Every day from `start` to the day before `end` (both ISO datetimes or dates), at most `limit`. */
export function daysBetween(start: string, end: string, limit = 400): string[] {
  const first = parseISO(start.slice(0, 10));
  const last = subDays(parseISO(end.slice(0, 10)), 1);
  if (last < first || differenceInCalendarDays(last, first) >= limit) return [];
  return eachDayOfInterval({ start: first, end: last }).map((d) => format(d, DAY));
}

/** "1 Dec 2026 – 31 Dec 2026" for a budget's period (its end is exclusive). */
export function formatPeriod(start: string, end: string): string {
  const show = (iso: string) => format(parseISO(iso.slice(0, 10)), "d MMM yyyy");
  return `${show(start)} – ${show(format(subDays(parseISO(end.slice(0, 10)), 1), DAY))}`;
}
