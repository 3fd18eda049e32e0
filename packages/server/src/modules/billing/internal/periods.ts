import type { Interval } from "../tables.js";

const DAY = 86_400_000;
const MINUTE = 60_000;

/**
 * Billing periods, in UTC. Period `n` of a subscription starts at `anchor + n intervals`, each
 * computed from the anchor (not from the period before), so a month-end anchor stays at the month
 * end: Jan 31 → Feb 28 (29 in a leap year) → Mar 31 → Apr 30. A yearly period anchored on Feb 29
 * starts on Feb 28 in common years. Weeks are 7 × 24 hours.
 */
export function periodStart(anchor: number, interval: Interval, n: number): number {
  if (interval === "week") return anchor + n * 7 * DAY;
  const months = interval === "month" ? n : 12 * n;
  const d = new Date(anchor);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  const day = Math.min(d.getUTCDate(), lastDay);
  return Date.UTC(y, m, day, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
}

/** Period is one billing period [start, end). */
export interface Period {
  index: number;
  start: number;
  end: number;
}

export function periodOf(anchor: number, interval: Interval, n: number): Period {
  return { index: n, start: periodStart(anchor, interval, n), end: periodStart(anchor, interval, n + 1) };
}

/** wholeMinute floors a time to its minute: periods start on whole minutes (usage answers by the minute). */
export function wholeMinute(t: number): number {
  return Math.floor(t / MINUTE) * MINUTE;
}

/** trialEnd is when a trial of `days` days started at `start` ends. */
export function trialEnd(start: number, days: number): number {
  return start + days * DAY;
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
  },
  interval: Interval,
): { start: number; end: number } {
  if (sub.status === "trialing")
    return { start: Number(sub.current_period_start), end: Number(sub.current_period_end) };
  return periodOf(Number(sub.anchor), interval, Number(sub.period_index));
}
