import { localParts, localToUtc } from "../../usage/index.js";
import type { Interval } from "../tables.js";

const DAY = 86_400_000;
const MINUTE = 60_000;

/**
 * shift moves the wall clock of `t` in `zone` by whole months and days (the day clamped to the
 * target month's last), keeping its time of day, and returns that wall time's instant. A wall time
 * a daylight-saving gap skips becomes the instant the gap ends; one that repeats, its first.
 */
function shift(t: number, zone: string, months: number, days: number): number {
  if (zone === "UTC") {
    const d = new Date(t);
    const y = d.getUTCFullYear();
    const m = d.getUTCMonth() + months;
    const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
    const day = Math.min(d.getUTCDate(), lastDay) + days;
    return Date.UTC(y, m, day, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
  }
  const p = localParts(t, zone);
  const m = p.month - 1 + months;
  const lastDay = new Date(Date.UTC(p.year, m + 1, 0)).getUTCDate();
  const day = Math.min(p.day, lastDay) + days;
  return localToUtc(Date.UTC(p.year, m, day, p.hour, p.minute, p.second), zone) + (t % 1000);
}

/**
 * Billing periods, on the wall clock of the subscription's time zone (its tenant's when it
 * started; UTC by default). Period `n` of a subscription starts at `anchor + n intervals`, each
 * computed from the anchor (not from the period before), so a month-end anchor stays at the month
 * end: Jan 31 → Feb 28 (29 in a leap year) → Mar 31 → Apr 30. A yearly period anchored on Feb 29
 * starts on Feb 28 in common years. Weeks are 7 local days: across a daylight-saving change a
 * period keeps its local time of day (a week of 167 or 169 hours), as months do.
 */
export function periodStart(anchor: number, interval: Interval, n: number, zone = "UTC"): number {
  if (interval === "week") return shift(anchor, zone, 0, 7 * n);
  return shift(anchor, zone, interval === "month" ? n : 12 * n, 0);
}

/** Period is one billing period [start, end). */
export interface Period {
  index: number;
  start: number;
  end: number;
}

export function periodOf(anchor: number, interval: Interval, n: number, zone = "UTC"): Period {
  return { index: n, start: periodStart(anchor, interval, n, zone), end: periodStart(anchor, interval, n + 1, zone) };
}

/** wholeMinute floors a time to its minute: periods start on whole minutes (usage answers by the minute). */
export function wholeMinute(t: number): number {
  return Math.floor(t / MINUTE) * MINUTE;
}

/** trialEnd is when a trial of `days` days started at `start` ends: `days` local days later, same time of day. */
export function trialEnd(start: number, days: number, zone = "UTC"): number {
  return zone === "UTC" ? start + days * DAY : shift(start, zone, 0, days);
}

/**
 * wholePeriod is the whole billing period a subscription is in: its current period may be the
 * later part of it after a plan change. A trial is a period of its own.
 */
export function wholePeriod(
  sub: {
    status: string;
    anchor: number;
    period_index: number;
    current_period_start: number;
    current_period_end: number;
    time_zone: string;
  },
  interval: Interval,
): { start: number; end: number } {
  if (sub.status === "trialing")
    return { start: Number(sub.current_period_start), end: Number(sub.current_period_end) };
  return periodOf(Number(sub.anchor), interval, Number(sub.period_index), sub.time_zone);
}
