/**
 * A token bucket kept as one number, the GCRA way: `tat` (the theoretical arrival time, epoch ms)
 * is when the bucket would be full again. A bucket of `limit` tokens that refills completely in
 * `windowMs` lets one request in every `interval = windowMs / limit` ms on average, and bursts of up
 * to `limit` at once: a request at `now` is allowed when `max(tat, now) + interval - now ≤ windowMs`,
 * and then moves `tat` to `max(tat, now) + interval`. A bucket whose `tat` has passed is full,
 * exactly as if it did not exist, so full buckets can be forgotten without changing any answer.
 */

/** EPSILON_MS absorbs floating-point error in `interval` sums (a fraction of a microsecond). */
export const EPSILON_MS = 1e-6;

export interface BucketRule {
  limit: number;
  windowMs: number;
}

export interface BucketAnswer {
  allowed: boolean;
  /** tat is the bucket's state after this request (unchanged when refused). */
  tat: number;
  /** remaining: whole requests the bucket still allows now. */
  remaining: number;
  /** resetMs: ms until the bucket is full again. */
  resetMs: number;
  /** retryAfterMs: ms until the next request would be allowed (0 when one is allowed now). */
  retryAfterMs: number;
}

/** admit answers a request of `cost` against a bucket whose state is `tat` (null: a full bucket). */
export function admit(rule: BucketRule, tat: number | null, now: number, cost = 1): BucketAnswer {
  const interval = rule.windowMs / rule.limit;
  const base = tat === null || tat < now ? now : tat;
  const next = base + interval * cost;
  const allowed = next - now <= rule.windowMs + EPSILON_MS;
  const state = allowed ? next : base;
  return describe(rule, state, now, allowed, interval);
}

/** describe reports a bucket's state `tat` at `now` (after `allowed` was decided). */
export function describe(
  rule: BucketRule,
  tat: number,
  now: number,
  allowed: boolean,
  interval = rule.windowMs / rule.limit,
): BucketAnswer {
  const used = Math.max(0, tat - now);
  const remaining = Math.max(0, Math.floor((rule.windowMs - used + EPSILON_MS) / interval));
  // The next request fits once `tat + interval - windowMs` has passed.
  const retryAfterMs = Math.max(0, used + interval - rule.windowMs);
  return { allowed, tat, remaining, resetMs: used, retryAfterMs: retryAfterMs <= EPSILON_MS ? 0 : retryAfterMs };
}
