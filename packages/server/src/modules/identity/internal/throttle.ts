import type { Kysely } from "kysely";
import type { Clock } from "../../../platform/clock.js";
import type { Tx, TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { IdentityErrors } from "../errors.js";
import type { IdentityTables } from "../tables.js";

export interface ThrottleOptions {
  /** failed attempts one client (IP) may make per window before 429. */
  clientFailures: number;
  /** failed attempts on one account per hour from clients that never logged into it (ASVS 2.2.1: ≤ 100). */
  accountFailuresPerHour: number;
  /** after this many recent failures, each attempt on the account waits (soft delay), one at a time. */
  softDelayAfter: number;
  maxDelayMs: number;
  windowMs: number;
  /** how long a client that logged into an account stays known to it (refreshed on every login). */
  knownClientMs: number;
  sleep: (ms: number) => Promise<void>;
  /**
   * small runs the throttle's few writes (see `Db.small`): on SQLite they join the next group
   * commit instead of paying an fsync each, on the event loop; default: each statement commits alone.
   */
  small?: <T>(fn: (db: Kysely<IdentityTables>) => Promise<T>) => Promise<T>;
}

const HOUR = 3_600_000;

const DEFAULTS: ThrottleOptions = {
  clientFailures: 30,
  accountFailuresPerHour: 100,
  softDelayAfter: 3,
  maxDelayMs: 5000,
  windowMs: 15 * 60_000,
  knownClientMs: 90 * 24 * HOUR,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** Limit is one counter of `limit`: at most `max` attempts per `key` in each fixed window of `windowMs`. */
export interface Limit {
  scope: string;
  key: string;
  windowMs: number;
  max: number;
}

type Counter = { scope: string; key: string; window_start: number; expires_at: number };
type Bump = Counter & { count: number };

/**
 * LoginThrottle slows password guessing without letting a third party lock the owner out:
 * - per client (IP): more than `clientFailures` failures in the window → 429;
 * - per account: after `softDelayAfter` failures, attempts wait an exponentially growing delay
 *   (capped) and, within one process, run one at a time, so parallel guessing gains nothing;
 *   beyond `accountFailuresPerHour` failures, only clients that have logged into the account
 *   before may try.
 * Its counters live in the database (`throttle_counter`, fixed windows), so every process of a
 * scale-out plane sees the same counts and a restart forgets nothing. An attempt first counts
 * itself against the limits with one atomic upsert (which also reads the account's recent
 * failures) and is evaluated only if the counts it got back allow it, so racing processes cannot
 * all slip under a limit; a refused or successful attempt is taken back, a failed one is added
 * to the account's recent failures (which set the soft delay). Finished windows are deleted by
 * `prune` (the `identity.prune_throttle` job).
 */
export class LoginThrottle {
  readonly #options: ThrottleOptions;
  readonly #q: ReturnType<typeof statements>;
  readonly #small: <T>(fn: (db: Kysely<IdentityTables>) => Promise<T>) => Promise<T>;
  readonly #queues = new Map<string, Promise<void>>();

  constructor(
    private readonly tables: TypedDb<IdentityTables>,
    private readonly clock: Clock,
    options: Partial<ThrottleOptions> = {},
  ) {
    this.#options = { ...DEFAULTS, ...options };
    this.#small = options.small ?? ((fn) => fn(this.tables.q()));
    this.#q = statements(tables);
  }

  /**
   * attempt runs one login attempt for (account, client) under the throttle: `check` returns
   * whether the credentials were right. Throws 429 `too_many_attempts` when refused. `onDelay`:
   * see `attemptDeferred`.
   */
  async attempt<T>(
    account: string,
    client: string,
    check: () => Promise<{ ok: boolean; value: T }>,
    onDelay?: () => void,
  ): Promise<T> {
    const { value, succeeded } = await this.attemptDeferred(account, client, check, onDelay);
    if (succeeded) await this.#small(succeeded);
    return value;
  }

  /**
   * attemptDeferred is `attempt` for a caller that opens a transaction after a right password
   * (a login's session): instead of recording the success itself, it returns `succeeded`, which
   * the caller runs inside that transaction, so one commit holds the session and the success.
   * If the caller's transaction rolls back, the attempt stays counted against the client's and
   * the account's limits (as a refused attempt would), never as a failure of the account.
   * `onDelay` is called when the attempt is about to wait for its soft delay (and for the
   * account's earlier delayed attempts), before `check` runs.
   */
  async attemptDeferred<T>(
    account: string,
    client: string,
    check: () => Promise<{ ok: boolean; value: T }>,
    onDelay?: () => void,
  ): Promise<{ value: T; succeeded: ((db: Kysely<IdentityTables> | Tx) => Promise<void>) | null }> {
    const o = this.#options;
    const now = this.clock.now();
    const clientWindow = counter("login_client", client, now, o.windowMs);
    const accountWindow = counter("login_account", account, now, o.windowMs);
    const counters = [clientWindow, counter("login_account_hour", account, now, HOUR)];
    // One statement: this attempt counts against the limits, and the account's failures are read (+0).
    const [clientCount = 0, hourCount = 0, failures = 0] = await this.#bump([
      ...counters.map((c) => ({ ...c, count: 1 })),
      { ...accountWindow, count: 0 },
    ]);
    if (clientCount > o.clientFailures) {
      await this.#takeBack(counters);
      throw tooMany(clientWindow.expires_at - now);
    }
    if (hourCount > o.accountFailuresPerHour && !(await this.#known(account, client, now))) {
      await this.#takeBack(counters);
      throw tooMany(600_000);
    }
    let result: { ok: boolean; value: T };
    try {
      if (failures >= o.softDelayAfter) {
        onDelay?.();
        result = await this.#delayed(account, failures, check);
      } else {
        result = await check();
      }
    } catch (err) {
      await this.#takeBack(counters);
      throw err;
    }
    if (result.ok) {
      return { value: result.value, succeeded: (db) => this.#succeeded(db, account, client, clientWindow) };
    }
    await this.#bump([{ ...accountWindow, count: 1 }]);
    return { value: result.value, succeeded: null };
  }

  /**
   * limit counts one attempt against each of `limits` (one atomic upsert) and throws 429
   * `too_many_attempts` when any is over its `max`. Refused attempts count too.
   */
  async limit(limits: readonly Limit[], message: string): Promise<void> {
    const now = this.clock.now();
    const counters = limits.map((l) => counter(l.scope, l.key, now, l.windowMs));
    const counts = await this.#bump(counters.map((c) => ({ ...c, count: 1 })));
    const over = limits.findIndex((l, i) => (counts[i] as number) > l.max);
    if (over >= 0) throw tooMany((counters[over] as Counter).expires_at - now, message);
  }

  /** prune deletes the counters of finished windows and forgotten clients. Returns how many. */
  async prune(): Promise<number> {
    const result = await this.tables
      .q()
      .deleteFrom("throttle_counter")
      .where("expires_at", "<=", this.clock.now())
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** #bump adds each bump's `count` to its counter in one statement and returns the new counts, in order. */
  async #bump(bumps: readonly Bump[]): Promise<number[]> {
    const query = this.#bumpQuery(bumps.length);
    const args = bumps.flatMap((b) => [b.scope, b.key, String(b.window_start), String(b.count), String(b.expires_at)]);
    const rows = await this.#small((db) => query(asTx(db), ...args));
    return bumps.map((c) => Number(rows.find((r) => r.scope === c.scope && r.key === c.key)?.count ?? 0));
  }

  /**
   * #takeBack undoes `#bump` for an attempt that was refused or never evaluated.
   * NOTE: one statement per row. Only `#bump` locks several shared rows in one statement, always
   * in the same order (client, account hour, account), so concurrent attempts cannot deadlock on
   * PostgreSQL; a multi-row update or delete here would lock its rows in scan order.
   */
  async #takeBack(counters: readonly Counter[]): Promise<void> {
    await this.#small((db) => this.#takeBackIn(db, counters));
  }

  async #takeBackIn(db: Kysely<IdentityTables>, counters: readonly Counter[]): Promise<void> {
    for (const c of counters) await this.#q.takeBackOne(asTx(db), c.scope, c.key, String(c.window_start));
  }

  /*
   * The statements of every attempt, built and compiled to SQL once (`TypedDb.compiled`): a login
   * runs four or five of them, and building them anew cost as much as running them. Arguments are
   * strings; both engines convert them to the integer columns they are compared with or stored in.
   */

  /** #bumpQuery: the upsert of `rows` counters (one compiled statement per row count). */
  #bumpQuery(rows: number) {
    let query = this.#bumpQueries.get(rows);
    if (!query) {
      query = this.tables.compiled((q, ...args: string[]) =>
        q
          .insertInto("throttle_counter")
          .values(
            Array.from({ length: rows }, (_, i) => ({
              scope: args[5 * i] as string,
              key: args[5 * i + 1] as string,
              window_start: args[5 * i + 2] as unknown as number,
              count: args[5 * i + 3] as unknown as number,
              expires_at: args[5 * i + 4] as unknown as number,
            })),
          )
          .onConflict((oc) =>
            oc
              .columns(["scope", "key", "window_start"])
              .doUpdateSet((eb) => ({ count: eb(eb.ref("throttle_counter.count"), "+", eb.ref("excluded.count")) })),
          )
          .returning(["scope", "key", "count"]),
      );
      this.#bumpQueries.set(rows, query);
    }
    return query;
  }

  readonly #bumpQueries = new Map<
    number,
    (tx: Tx | undefined, ...args: string[]) => Promise<{ scope: string; key: string; count: number }[]>
  >();

  /** #succeeded: a right password is no failure; it clears the account's failures and makes the client known. */
  async #succeeded(
    into: Kysely<IdentityTables> | Tx,
    account: string,
    client: string,
    clientWindow: Counter,
  ): Promise<void> {
    const tx = asTx(into);
    const now = this.clock.now();
    const expiresAt = now + this.#options.knownClientMs;
    // NOTE: rows are touched in the order `#bump` locks them (client, account hour, account), so
    // inside a PostgreSQL transaction they cannot deadlock with a concurrent attempt's bump.
    await this.#q.takeBackOne(tx, clientWindow.scope, clientWindow.key, String(clientWindow.window_start));
    // One scope per statement (see `#takeBack`): only windows no attempt is bumping share a statement.
    for (const scope of ["login_account_hour", "login_account"]) await this.#q.clearAccount(tx, scope, account);
    await this.#q.makeKnown(tx, knownKey(account, client), String(expiresAt));
  }

  async #known(account: string, client: string, now: number): Promise<boolean> {
    const rows = await this.#q.known(undefined, knownKey(account, client), String(now));
    return rows.length > 0;
  }

  /** #delayed runs `check` after the soft delay, one delayed attempt per account at a time (in this process). */
  async #delayed<T>(
    account: string,
    failures: number,
    check: () => Promise<{ ok: boolean; value: T }>,
  ): Promise<{ ok: boolean; value: T }> {
    const o = this.#options;
    const delay = Math.min(o.maxDelayMs, 250 * 2 ** (failures - o.softDelayAfter));
    const run = async () => {
      await o.sleep(delay);
      return check();
    };
    const previous = this.#queues.get(account) ?? Promise.resolve();
    const mine = previous.then(run, run);
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(account, tail);
    return mine.finally(() => {
      if (this.#queues.get(account) === tail) this.#queues.delete(account);
    });
  }
}

/** statements compiles the throttle's fixed statements once (see `#bumpQuery`). */
function statements(tables: TypedDb<IdentityTables>) {
  return {
    takeBackOne: tables.compiled((q, scope: string, key: string, windowStart: string) =>
      q
        .updateTable("throttle_counter")
        .set((eb) => ({ count: eb("count", "-", 1) }))
        .where("scope", "=", scope)
        .where("key", "=", key)
        .where("window_start", "=", windowStart as unknown as number),
    ),

    clearAccount: tables.compiled((q, scope: string, key: string) =>
      q.deleteFrom("throttle_counter").where("scope", "=", scope).where("key", "=", key),
    ),

    makeKnown: tables.compiled((q, key: string, expiresAt: string) =>
      q
        .insertInto("throttle_counter")
        .values({
          scope: "login_known",
          key,
          window_start: 0,
          count: 1,
          expires_at: expiresAt as unknown as number,
        })
        .onConflict((oc) =>
          oc
            .columns(["scope", "key", "window_start"])
            .doUpdateSet((eb) => ({ expires_at: eb.ref("excluded.expires_at") })),
        ),
    ),

    known: tables.compiled((q, key: string, now: string) =>
      q
        .selectFrom("throttle_counter")
        .select("count")
        .where("scope", "=", "login_known")
        .where("key", "=", key)
        .where("window_start", "=", 0)
        .where("expires_at", ">", now as unknown as number),
    ),
  };
}

/** asTx: a statement runs on whatever `small` or the caller's transaction handed over. */
function asTx(db: Kysely<IdentityTables> | Tx): Tx {
  return db as unknown as Tx;
}

function counter(scope: string, key: string, now: number, windowMs: number): Counter {
  const windowStart = Math.floor(now / windowMs) * windowMs;
  return { scope, key, window_start: windowStart, expires_at: windowStart + windowMs };
}

function knownKey(account: string, client: string): string {
  return `${account}\n${client}`;
}

function tooMany(retryAfterMs: number, message = "Too many failed login attempts; try again later."): AppError {
  return new AppError(IdentityErrors.too_many_attempts, message, {
    headers: { "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  });
}
