import { CronExpressionParser } from "cron-parser";
import { type Kysely, sql } from "kysely";
import type { Clock } from "../clock.js";
import type { ChangeBus } from "../db/bus.js";
import { type AnyKysely, afterCommit, type Db, fromJson, type Tx, toJson } from "../db/db.js";
import type { JobTable, PlatformTables } from "../db/tables.js";
import { newId } from "../ids.js";

/** JOBS_TOPIC is the change-bus topic announcing new due jobs. */
const JOBS_TOPIC = "jobs.enqueued";
/** ANNOUNCE_MS: the shortest interval between two cross-process wake-ups sent by one process. */
const ANNOUNCE_MS = 100;
/** EXPIRED_CHECK_MS: how often `claim` looks for attempts whose lease expired (their worker died). */
const EXPIRED_CHECK_MS = 1000;

/** JobContext is what a handler gets besides its payload. */
export interface JobContext {
  jobId: string;
  /** attempt is 1 for the first run. */
  attempt: number;
  maxAttempts: number;
  /** signal aborts when the worker shuts down or loses the job's lease. */
  signal: AbortSignal;
  /**
   * complete records this attempt's success inside `tx`, the transaction holding the handler's
   * own writes, so the work and its completion commit together: a crash can no longer run the work
   * again after it committed. Throws `JobLeaseLostError` (rolling `tx` back) when the attempt no
   * longer owns the job. Handlers that do not call it are completed after they return.
   */
  complete(tx: Tx): Promise<void>;
}

/** JobLeaseLostError: the attempt lost its lease (another worker took the job over). */
export class JobLeaseLostError extends Error {
  constructor(jobId: string) {
    super(`job ${jobId} is no longer owned by this attempt`);
    this.name = "JobLeaseLostError";
  }
}

/**
 * JobDefinition declares one kind of background work. Handlers must be safe to run again: a job
 * whose worker died mid-run is retried after its lease (at-least-once). Throw to fail the attempt;
 * throw a `RetryLaterError` to choose the delay (e.g. from a `Retry-After`).
 */
export interface JobDefinition<P = unknown> {
  name: string;
  handler(payload: P, ctx: JobContext): Promise<void>;
  /** maxAttempts before the job is dead-lettered (default 10). */
  maxAttempts?: number;
  /** retryDelayMs gives the delay before attempt `attempt + 1` (default: exponential, jittered). */
  retryDelayMs?(attempt: number): number;
}

export class RetryLaterError extends Error {
  /**
   * `details` are logged with the attempt (what failed and why: an endpoint, a host, a status), in
   * place of a stack: a retry is an expected outcome, not a crash.
   */
  constructor(
    message: string,
    readonly delayMs: number,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "RetryLaterError";
  }
}

export interface EnqueueOptions {
  /** runAt schedules the job (epoch ms); default now. */
  runAt?: number;
  /** dedupeKey makes the enqueue a no-op when a job with the same key already exists. */
  dedupeKey?: string;
  maxAttempts?: number;
  environmentId?: string | null;
  tenantId?: string | null;
}

export type ClaimedJob = Pick<JobTable, "id" | "name" | "attempts" | "max_attempts" | "locked_by"> & {
  payload: unknown;
};

export interface QueueStats {
  queued: number;
  due: number;
  running: number;
  dead: number;
  /** oldestDueAgeMs is how long the oldest runnable job has waited (0 when none). */
  oldestDueAgeMs: number;
}

/** defaultRetryDelayMs: 1 s, 2 s, 4 s … capped at 1 h, with ±20% jitter. */
export function defaultRetryDelayMs(attempt: number): number {
  const base = Math.min(1000 * 2 ** Math.max(0, attempt - 1), 3_600_000);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/**
 * JobQueue is the durable queue in the database, which is also the transactional outbox: a job
 * enqueued with the business transaction exists exactly when its cause committed.
 * Claiming takes a lease (`leaseMs`); on PostgreSQL it uses `FOR UPDATE SKIP LOCKED`, so workers
 * in many processes never claim the same attempt. Completing an attempt checks the lease owner
 * and attempt number, so an attempt whose lease was taken over cannot be recorded twice.
 */
export class JobQueue {
  readonly #definitions = new Map<string, JobDefinition>();
  readonly #schedules = new Map<string, string>();
  #wake: (() => void) | null = null;
  #bus: ChangeBus | null = null;
  /** #announced: transactions that already announced a job (one wake-up per commit). */
  readonly #announced = new WeakSet<Tx>();
  #lastAnnounce = 0;
  #lastExpiredCheck = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    readonly leaseMs: number,
  ) {}

  /** define registers a job kind. Throws when the name is taken. */
  define<P>(definition: JobDefinition<P>): void {
    if (this.#definitions.has(definition.name)) throw new Error(`Job "${definition.name}" is defined twice`);
    this.#definitions.set(definition.name, definition as JobDefinition);
  }

  definition(name: string): JobDefinition | undefined {
    return this.#definitions.get(name);
  }

  get names(): string[] {
    return [...this.#definitions.keys()];
  }

  /**
   * every runs the job `name` on a cron schedule (5 fields, UTC; e.g. `*\/15 * * * *`). Each due
   * slot is enqueued once across all processes (dedupe key `schedule:<name>:<slot>`).
   * Throws on an unknown job or an invalid expression.
   */
  every(name: string, cron: string): void {
    if (!this.#definitions.has(name)) throw new Error(`Cannot schedule unknown job "${name}"`);
    nextCronTime(cron, this.clock.now());
    this.#schedules.set(name, cron);
  }

  get schedules(): ReadonlyMap<string, string> {
    return this.#schedules;
  }

  /** enqueue adds a job inside `tx`. Returns the job id, or null when `dedupeKey` already existed. */
  async enqueue(tx: Tx, name: string, payload: unknown, options: EnqueueOptions = {}): Promise<string | null> {
    const definition = this.#definitions.get(name);
    if (!definition) throw new Error(`Cannot enqueue unknown job "${name}"`);
    const now = this.clock.now();
    const id = newId("job", now);
    const result = await (tx as unknown as Db["kysely"])
      .insertInto("job")
      .values({
        id,
        name,
        payload: toJson(payload ?? null),
        status: "queued",
        run_at: options.runAt ?? now,
        attempts: 0,
        max_attempts: options.maxAttempts ?? definition.maxAttempts ?? 10,
        locked_by: null,
        locked_until: null,
        last_error: null,
        dedupe_key: options.dedupeKey ?? null,
        environment_id: options.environmentId ?? null,
        tenant_id: options.tenantId ?? null,
        created_at: now,
        updated_at: now,
        finished_at: null,
      })
      .onConflict((oc) => oc.column("dedupe_key").doNothing())
      .executeTakeFirst();
    if (Number(result.numInsertedOrUpdatedRows ?? 0n) !== 1) return null;
    if ((options.runAt ?? now) <= now && !this.#announced.has(tx)) {
      // Wake workers once the job exists: this process's at once, other processes' through the
      // bus — at most every ANNOUNCE_MS, because PostgreSQL serializes the commits of notifying
      // transactions (a workers' poll picks up what an unannounced commit added).
      this.#announced.add(tx);
      afterCommit(tx, () => this.wake());
      const wallNow = Date.now();
      if (this.#bus && wallNow - this.#lastAnnounce >= ANNOUNCE_MS) {
        this.#lastAnnounce = wallNow;
        await this.#bus.publish(tx, JOBS_TOPIC, "1");
      }
    }
    return id;
  }

  /**
   * announceTo makes enqueues wake the workers of every process through `bus` (NOTIFY on
   * PostgreSQL) instead of leaving them to their next poll.
   */
  announceTo(bus: ChangeBus): void {
    this.#bus = bus;
    bus.subscribe(JOBS_TOPIC, () => this.wake());
  }

  /** onEnqueued lets a local worker be woken after a commit instead of waiting for its next poll. */
  setWakeListener(wake: (() => void) | null): void {
    this.#wake = wake;
  }

  wake(): void {
    this.#wake?.();
  }

  /** asWorker runs `fn` (the worker's loop) with its queries on the jobs' own database pool. */
  asWorker<T>(fn: () => Promise<T>): Promise<T> {
    return this.db.asWorker(fn);
  }

  /**
   * claim leases up to `limit` runnable jobs this process knows how to run: queued jobs that are
   * due, and running jobs whose lease expired (their worker died). Each claim starts a new attempt.
   */
  async claim(workerId: string, limit: number): Promise<ClaimedJob[]> {
    const names = this.names;
    if (names.length === 0 || limit <= 0) return [];
    const now = this.clock.now();
    // Due queued jobs in run_at order (an index range read, never a scan of the backlog), leased
    // by one conditional statement: on PostgreSQL `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
    // LOCKED) RETURNING` is one round trip that two processes can run at once without claiming a
    // row twice; on SQLite it joins the group commit. Leases that expired (a worker died) are
    // looked for at most once a second: a lease lasts far longer than that.
    const claimed = await this.db.small((db) => this.#lease(db as Kysely<PlatformTables>, workerId, limit, now, "due"));
    if (claimed.length >= limit || now - this.#lastExpiredCheck < EXPIRED_CHECK_MS) return claimed;
    this.#lastExpiredCheck = now;
    const expired = await this.db.small((db) =>
      this.#lease(db as Kysely<PlatformTables>, workerId, limit - claimed.length, now, "expired"),
    );
    return [...claimed, ...expired];
  }

  async #lease(
    db: Kysely<PlatformTables>,
    workerId: string,
    limit: number,
    now: number,
    which: "due" | "expired",
  ): Promise<ClaimedJob[]> {
    const names = this.names;
    const postgres = this.db.engine === "postgres";
    // The chosen ids are a materialized CTE: read (and on PostgreSQL locked) once, whatever plan
    // the update gets; a subquery with LIMIT … SKIP LOCKED may be rescanned and lease extra rows.
    const rows = await db
      .with(
        (cte) => cte("chosen").materialized(),
        (qb) => {
          const chosen = (
            which === "due"
              ? qb
                  .selectFrom("job")
                  .select("id")
                  .where("status", "=", "queued")
                  .where("run_at", "<=", now)
                  .where("name", "in", names)
                  .orderBy("run_at")
              : qb
                  .selectFrom("job")
                  .select("id")
                  .where("status", "=", "running")
                  .where("locked_until", "<", now)
                  .where("name", "in", names)
          ).limit(limit);
          return postgres ? chosen.forUpdate().skipLocked() : chosen;
        },
      )
      .updateTable("job")
      .set({
        status: "running",
        attempts: sql<number>`attempts + 1`,
        locked_by: workerId,
        locked_until: now + this.leaseMs,
        updated_at: now,
      })
      .where("id", "in", (eb) => eb.selectFrom("chosen").select("chosen.id"))
      // The row must still be what the read chose (SQLite re-reads nothing; on PostgreSQL the lock
      // already re-checked it): a claim never leases a job twice.
      .$call((qb) =>
        which === "due"
          ? qb.where("status", "=", "queued")
          : qb.where("status", "=", "running").where("locked_until", "<", now),
      )
      .returning(["id", "name", "payload", "attempts", "max_attempts", "locked_by"])
      .execute();
    return rows.map((r) => ({ ...r, payload: fromJson(r.payload) }));
  }

  /** extendLease keeps a long-running attempt's lease alive. Returns false when the lease was lost. */
  async extendLease(job: ClaimedJob): Promise<boolean> {
    const now = this.clock.now();
    const result = await this.db.small((db) =>
      this.#owned(job, db)
        .set({ locked_until: now + this.leaseMs, updated_at: now })
        .executeTakeFirst(),
    );
    return Number(result.numUpdatedRows) === 1;
  }

  /** succeed records a finished attempt. Returns false when the attempt no longer owned the job. */
  async succeed(job: ClaimedJob): Promise<boolean> {
    return this.db.small((db) => this.#succeed(job, db));
  }

  /**
   * succeedIn records a finished attempt inside `tx` (see `JobContext.complete`). Throws
   * `JobLeaseLostError` when the attempt no longer owns the job, so `tx` rolls back.
   */
  async succeedIn(job: ClaimedJob, tx: Tx): Promise<void> {
    if (!(await this.#succeed(job, tx))) throw new JobLeaseLostError(job.id);
  }

  async #succeed(job: ClaimedJob, executor: AnyKysely | Tx): Promise<boolean> {
    const now = this.clock.now();
    const result = await this.#owned(job, executor)
      .set({
        status: "succeeded",
        locked_by: null,
        locked_until: null,
        finished_at: now,
        updated_at: now,
        last_error: null,
      })
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /**
   * fail records a failed attempt: the job is queued again after its retry delay, or dead-lettered
   * when it has used all its attempts. Returns the outcome, or "lost" when the lease was lost.
   */
  async fail(job: ClaimedJob, error: unknown): Promise<"retry" | "dead" | "lost"> {
    const now = this.clock.now();
    const message = (error instanceof Error ? error.message : String(error)).slice(0, 2000);
    const dead = job.attempts >= job.max_attempts;
    const definition = this.#definitions.get(job.name);
    const delay =
      error instanceof RetryLaterError
        ? error.delayMs
        : (definition?.retryDelayMs?.(job.attempts) ?? defaultRetryDelayMs(job.attempts));
    const result = await this.db.small((db) =>
      this.#owned(job, db)
        .set(
          dead
            ? {
                status: "dead",
                locked_by: null,
                locked_until: null,
                finished_at: now,
                updated_at: now,
                last_error: message,
              }
            : {
                status: "queued",
                locked_by: null,
                locked_until: null,
                run_at: now + delay,
                updated_at: now,
                last_error: message,
              },
        )
        .executeTakeFirst(),
    );
    if (Number(result.numUpdatedRows) !== 1) return "lost";
    return dead ? "dead" : "retry";
  }

  /** retryDead puts a dead-lettered job back in the queue with a fresh attempt budget. */
  async retryDead(jobId: string): Promise<boolean> {
    const now = this.clock.now();
    const result = await this.db
      .typed<PlatformTables>()
      .updateTable("job")
      .set({ status: "queued", attempts: 0, run_at: now, finished_at: null, updated_at: now })
      .where("id", "=", jobId)
      .where("status", "=", "dead")
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** enqueueDueSchedules enqueues every recurring job whose slot has come. Returns how many. */
  async enqueueDueSchedules(): Promise<number> {
    if (this.#schedules.size === 0) return 0;
    const now = this.clock.now();
    let enqueued = 0;
    await this.db.transaction(async (tx) => {
      const t = tx as unknown as Db["kysely"];
      const existing = await t.selectFrom("job_schedule").selectAll().execute();
      const byName = new Map(existing.map((r) => [r.name as string, r]));
      for (const [name, cron] of this.#schedules) {
        const row = byName.get(name);
        if (!row || row.cron !== cron) {
          await t
            .insertInto("job_schedule")
            .values({ name, cron, next_run_at: nextCronTime(cron, now), last_enqueued_at: null, updated_at: now })
            .onConflict((oc) =>
              oc.column("name").doUpdateSet({ cron, next_run_at: nextCronTime(cron, now), updated_at: now }),
            )
            .execute();
          continue;
        }
        const slot = Number(row.next_run_at);
        if (slot > now) continue;
        const id = await this.enqueue(tx, name, { scheduledFor: slot }, { dedupeKey: `schedule:${name}:${slot}` });
        if (id) enqueued++;
        await t
          .updateTable("job_schedule")
          .set({ next_run_at: nextCronTime(cron, now), last_enqueued_at: now, updated_at: now })
          .where("name", "=", name)
          .where("next_run_at", "=", slot)
          .execute();
      }
    });
    return enqueued;
  }

  /** stats reads the queue's depth and age (for `/metrics` and the CLI). */
  async stats(): Promise<QueueStats> {
    const now = this.clock.now();
    const db = this.db.typed<PlatformTables>();
    const rows = await db
      .selectFrom("job")
      .select((eb) => [
        "status",
        eb.fn.countAll<number>().as("count"),
        eb.fn.min("run_at").as("oldest"),
        eb.fn.sum<number>(eb.case().when("run_at", "<=", now).then(1).else(0).end()).as("due"),
      ])
      .where("status", "in", ["queued", "running", "dead"])
      .groupBy("status")
      .execute();
    const stats: QueueStats = { queued: 0, due: 0, running: 0, dead: 0, oldestDueAgeMs: 0 };
    for (const r of rows) {
      const count = Number(r.count);
      if (r.status === "queued") {
        stats.queued = count;
        stats.due = Number(r.due ?? 0);
        if (stats.due > 0) stats.oldestDueAgeMs = Math.max(0, now - Number(r.oldest));
      } else if (r.status === "running") stats.running = count;
      else if (r.status === "dead") stats.dead = count;
    }
    return stats;
  }

  /** prune deletes succeeded jobs finished before `before`; dead jobs stay until retried or removed. */
  async prune(before: number): Promise<number> {
    const result = await this.db
      .typed<PlatformTables>()
      .deleteFrom("job")
      .where("status", "=", "succeeded")
      .where("finished_at", "<", before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  #owned(job: ClaimedJob, executor: AnyKysely | Tx = this.db.kysely) {
    return (executor as unknown as Kysely<PlatformTables>)
      .updateTable("job")
      .where("id", "=", job.id)
      .where("status", "=", "running")
      .where("locked_by", "=", job.locked_by)
      .where("attempts", "=", job.attempts);
  }
}

/** nextCronTime returns the first slot of `cron` strictly after `after` (UTC). Throws when invalid. */
export function nextCronTime(cron: string, after: number): number {
  if (cron.trim().split(/\s+/).length !== 5) throw new Error(`Cron expression "${cron}" must have 5 fields`);
  return CronExpressionParser.parse(cron, { currentDate: new Date(after), tz: "UTC" })
    .next()
    .getTime();
}
