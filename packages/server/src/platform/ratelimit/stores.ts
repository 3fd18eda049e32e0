import { sql } from "kysely";
import type { Db } from "../db/db.js";
import { admit, type BucketAnswer, type BucketRule, describe, EPSILON_MS } from "./gcra.js";

/** BucketRequest names one bucket a request spends from, and the bucket's rule. */
export interface BucketRequest {
  key: string;
  rule: BucketRule;
}

/**
 * BucketStore spends one request from several buckets at once: the request is allowed only when
 * every bucket allows it, and then spends from each; a refused request spends from none.
 */
export interface BucketStore {
  take(buckets: readonly BucketRequest[], now: number): BucketAnswer[] | Promise<BucketAnswer[]>;
}

/**
 * MemoryBucketStore keeps buckets in this process: exact, O(1), no I/O. Memory is bounded: past
 * `maxBuckets`, full buckets are dropped first (a full bucket answers like an absent one, so this
 * changes nothing); only when more than `maxBuckets` callers are all spending at once are the
 * oldest buckets (by first use) forgotten (which favours those callers, never refuses anyone wrongly).
 */
export class MemoryBucketStore implements BucketStore {
  readonly #tats = new Map<string, number>();

  constructor(private readonly maxBuckets: number) {}

  take(buckets: readonly BucketRequest[], now: number): BucketAnswer[] {
    if (buckets.length === 1) return [this.#takeOne(buckets[0] as BucketRequest, now)];
    const answers = buckets.map((b) => admit(b.rule, this.#tats.get(b.key) ?? null, now));
    if (answers.every((a) => a.allowed)) {
      for (let i = 0; i < buckets.length; i++) {
        this.#tats.set((buckets[i] as BucketRequest).key, (answers[i] as BucketAnswer).tat);
      }
      if (this.#tats.size > this.maxBuckets) this.#sweep(now);
      return answers;
    }
    // Refused: nothing is spent; every bucket reports its unchanged state.
    return buckets.map((b) => describe(b.rule, Math.max(this.#tats.get(b.key) ?? now, now), now, false));
  }

  #takeOne(bucket: BucketRequest, now: number): BucketAnswer {
    const answer = admit(bucket.rule, this.#tats.get(bucket.key) ?? null, now);
    if (!answer.allowed) return answer;
    this.#tats.set(bucket.key, answer.tat);
    if (this.#tats.size > this.maxBuckets) this.#sweep(now);
    return answer;
  }

  get size(): number {
    return this.#tats.size;
  }

  #sweep(now: number): void {
    for (const [key, tat] of this.#tats) if (tat <= now) this.#tats.delete(key);
    const target = Math.floor(this.maxBuckets * 0.9);
    for (const key of this.#tats.keys()) {
      if (this.#tats.size <= target) break;
      this.#tats.delete(key);
    }
  }
}

/**
 * DatabaseBucketStore keeps buckets in the `rate_limit_bucket` table, shared by every process on
 * the database: one upsert per request decides every bucket the request spends from, atomically
 * per row (the row lock on PostgreSQL, the single writer on SQLite), so the limits are exact across
 * processes: no overshoot. Rows are written in key order (no deadlock between two requests). When
 * one bucket refuses and another allowed, the allowed ones are given back (one update each).
 * Rows of full buckets are deleted by `prune` (the `platform.rate_limit_prune` job).
 */
export class DatabaseBucketStore implements BucketStore {
  constructor(private readonly db: Db) {}

  async take(buckets: readonly BucketRequest[], now: number): Promise<BucketAnswer[]> {
    const sorted = [...buckets].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const greatest = this.db.engine === "postgres" ? sql`greatest` : sql`max`;
    const base = sql`${greatest}(rate_limit_bucket.tat, ${now})`;
    const fits = sql`${base} + excluded.interval_ms - ${now} <= excluded.window_ms + ${EPSILON_MS}`;
    const values = sql.join(
      sorted.map((b) => {
        const interval = b.rule.windowMs / b.rule.limit;
        return sql`(${b.key}, ${now + interval}, ${interval}, ${b.rule.windowMs}, 1)`;
      }),
    );
    const rows = await this.db.small(async (k) => {
      const result = await sql<{ bucket: string; tat: number | string; granted: number | string | boolean }>`
        insert into rate_limit_bucket (bucket, tat, interval_ms, window_ms, granted) values ${values}
        on conflict (bucket) do update set
          granted = case when ${fits} then 1 else 0 end,
          tat = case when ${fits} then ${base} + excluded.interval_ms else rate_limit_bucket.tat end,
          interval_ms = excluded.interval_ms,
          window_ms = excluded.window_ms
        returning bucket, tat, granted`.execute(k);
      return result.rows;
    });
    const byKey = new Map(rows.map((r) => [r.bucket, { tat: Number(r.tat), granted: Number(r.granted) === 1 }]));
    const allowed = buckets.every((b) => byKey.get(b.key)?.granted === true);
    const answers: BucketAnswer[] = [];
    for (const b of buckets) {
      const row = byKey.get(b.key);
      if (!row) throw new Error(`rate limit bucket ${b.key} was not returned`);
      let tat = row.tat;
      if (!allowed && row.granted) {
        const interval = b.rule.windowMs / b.rule.limit;
        await this.db.small((k) =>
          sql`update rate_limit_bucket set tat = tat - ${interval} where bucket = ${b.key}`.execute(k),
        );
        tat -= interval;
      }
      answers.push(describe(b.rule, Math.max(tat, now), now, allowed));
    }
    return answers;
  }

  /** prune deletes the rows of buckets that are full again (they answer like absent rows). */
  async prune(now: number): Promise<number> {
    const result = await this.db.small((k) => sql`delete from rate_limit_bucket where tat < ${now}`.execute(k));
    return Number(result.numAffectedRows ?? 0);
  }
}
