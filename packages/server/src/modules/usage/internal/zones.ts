/**
 * Calendar arithmetic in IANA time zones, on Node's Intl data (no dependency): the boundaries of
 * minute, hour, day and month windows as epoch milliseconds. Days and months start at the first
 * instant the local clock shows midnight on that date (after a gap that skips midnight, the first
 * instant of the day; when midnight repeats, its first occurrence); hours start where the local clock
 * shows a whole hour or where the offset changes, so a repeated hour in autumn is two windows.
 */

export type Window = "minute" | "hour" | "day" | "month";

const MINUTE = 60_000;
const HOUR = 3_600_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** isTimeZone reports whether `tz` is an IANA time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  if (tz.length === 0 || tz.length > 64) return false;
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** LocalParts is the wall clock of an instant in a zone (month 1–12). */
export interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** localParts returns the wall clock of `t` in `tz`. */
export function localParts(t: number, tz: string): LocalParts {
  const out: LocalParts = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const p of formatter(tz).formatToParts(new Date(t))) {
    if (p.type === "year") out.year = Number(p.value);
    else if (p.type === "month") out.month = Number(p.value);
    else if (p.type === "day") out.day = Number(p.value);
    else if (p.type === "hour") out.hour = Number(p.value);
    else if (p.type === "minute") out.minute = Number(p.value);
    else if (p.type === "second") out.second = Number(p.value);
  }
  return out;
}

/** offsetAt is the zone's offset from UTC at `t`, in ms (whole seconds: milliseconds are dropped). */
export function offsetAt(t: number, tz: string): number {
  const p = localParts(t, tz);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - (t - (((t % 1000) + 1000) % 1000));
}

/**
 * localToUtc returns the first instant whose wall clock in `tz` reads `wall` (a wall time written as
 * if it were UTC), or, when the wall time does not exist (a gap), the instant the gap ends.
 */
export function localToUtc(wall: number, tz: string): number {
  const before = offsetAt(wall - 36 * HOUR, tz);
  const after = offsetAt(wall + 36 * HOUR, tz);
  const candidates = [wall - before, wall - after].filter((u, i) => offsetAt(u, tz) === (i === 0 ? before : after));
  if (candidates.length > 0) return Math.min(...candidates);
  // A gap: the wall time is skipped. The day (or hour) begins where the offset changes.
  let lo = Math.min(wall - before, wall - after);
  let hi = Math.max(wall - before, wall - after);
  const start = offsetAt(lo, tz);
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (offsetAt(mid, tz) === start) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** transitionIn returns the first instant (whole second) in (lo, hi] whose offset differs from lo's. */
function transitionIn(lo: number, hi: number, tz: string): number {
  const start = offsetAt(lo, tz);
  let a = lo;
  let b = hi;
  while (b - a > 1000) {
    const mid = a + Math.floor((b - a) / 2000) * 1000;
    if (offsetAt(mid, tz) === start) a = mid;
    else b = mid;
  }
  return b;
}

/** windowStart returns the start of the window of kind `w` containing `t`. */
export function windowStart(w: Window, t: number, tz: string): number {
  if (w === "minute") return Math.floor(t / MINUTE) * MINUTE;
  const p = localParts(t, tz);
  if (w === "hour") {
    // The local hour began `minute:second` ago, unless the offset changed since (then at the change).
    const start = Math.floor(t / 1000) * 1000 - (p.minute * 60 + p.second) * 1000;
    return offsetAt(start, tz) === offsetAt(t, tz) ? start : transitionIn(start, t, tz);
  }
  if (w === "day") return localToUtc(Date.UTC(p.year, p.month - 1, p.day), tz);
  return localToUtc(Date.UTC(p.year, p.month - 1, 1), tz);
}

/** nextWindow returns the start of the window after the one starting at `start`. */
export function nextWindow(w: Window, start: number, tz: string): number {
  if (w === "minute") return start + MINUTE;
  if (w === "hour") {
    // The next whole local hour, or the next change of offset if one comes first (an hour that
    // repeats at a fall-back, whole or by half, is two windows: one per offset).
    const next = start + HOUR - localParts(start, tz).minute * MINUTE;
    return offsetAt(next - 1000, tz) === offsetAt(start, tz) ? next : transitionIn(start, next, tz);
  }
  // Noon of the window's first day is safely inside it, whatever the offset.
  const p = localParts(start + 12 * HOUR, tz);
  if (w === "day") return localToUtc(Date.UTC(p.year, p.month - 1, p.day + 1), tz);
  return localToUtc(Date.UTC(p.year, p.month, 1), tz);
}

/** Bucket is one window of a query, clipped to the queried range. */
export interface Bucket {
  from: number;
  to: number;
}

/**
 * buckets splits [from, to) into windows of kind `w` in `tz` (the first and last clipped to the
 * range); without a window, the whole range is one bucket. Throws RangeError past `max` buckets.
 */
export function buckets(from: number, to: number, w: Window | null, tz: string, max: number): Bucket[] {
  if (w === null) return [{ from, to }];
  const out: Bucket[] = [];
  let start = windowStart(w, from, tz);
  while (start < to) {
    const next = nextWindow(w, start, tz);
    out.push({ from: Math.max(start, from), to: Math.min(next, to) });
    if (out.length > max) throw new RangeError(`more than ${max} windows`);
    start = next;
  }
  return out;
}
