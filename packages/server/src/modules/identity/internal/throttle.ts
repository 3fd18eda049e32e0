import type { Clock } from "../../../platform/clock.js";
import { AppError } from "../../../platform/errors.js";
import { IdentityErrors } from "../errors.js";

export interface ThrottleOptions {
  /** failed attempts one client (IP) may make per window before 429. */
  clientFailures: number;
  /** failed attempts on one account per hour from clients that never logged into it (ASVS 2.2.1: ≤ 100). */
  accountFailuresPerHour: number;
  /** after this many recent failures, each attempt on the account waits (soft delay), one at a time. */
  softDelayAfter: number;
  maxDelayMs: number;
  windowMs: number;
  sleep: (ms: number) => Promise<void>;
}

const DEFAULTS: ThrottleOptions = {
  clientFailures: 30,
  accountFailuresPerHour: 100,
  softDelayAfter: 3,
  maxDelayMs: 5000,
  windowMs: 15 * 60_000,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/**
 * LoginThrottle slows password guessing without letting a third party lock the owner out:
 * - per client (IP): more than `clientFailures` failures in the window → 429;
 * - per account: after `softDelayAfter` failures, attempts wait an exponentially growing delay
 *   (capped) and run one at a time, so parallel guessing gains nothing; beyond
 *   `accountFailuresPerHour` failures, only clients that have logged into the account before may try.
 * State is per process and in memory (it resets on restart; each process of a scale-out plane
 * throttles on its own).
 */
export class LoginThrottle {
  readonly #options: ThrottleOptions;
  readonly #clients = new Map<string, number[]>();
  readonly #accounts = new Map<string, number[]>();
  readonly #known = new Map<string, Set<string>>();
  readonly #queues = new Map<string, Promise<void>>();

  constructor(
    private readonly clock: Clock,
    options: Partial<ThrottleOptions> = {},
  ) {
    this.#options = { ...DEFAULTS, ...options };
  }

  /**
   * attempt runs one login attempt for (account, client) under the throttle: `check` returns
   * whether the credentials were right. Throws 429 `too_many_attempts` when refused.
   */
  async attempt<T>(account: string, client: string, check: () => Promise<{ ok: boolean; value: T }>): Promise<T> {
    const o = this.#options;
    const now = this.clock.now();
    const clientFailures = recent(this.#clients, client, now, o.windowMs);
    if (clientFailures >= o.clientFailures) throw tooMany(o.windowMs / 1000);
    const known = this.#known.get(account)?.has(client) ?? false;
    if (!known && recent(this.#accounts, account, now, 3_600_000) >= o.accountFailuresPerHour) {
      throw tooMany(600);
    }
    const failures = recent(this.#accounts, account, now, o.windowMs);
    let run = check;
    if (failures >= o.softDelayAfter) {
      const delay = Math.min(o.maxDelayMs, 250 * 2 ** (failures - o.softDelayAfter));
      run = async () => {
        await o.sleep(delay);
        return check();
      };
      // One delayed attempt per account at a time.
      const previous = this.#queues.get(account) ?? Promise.resolve();
      const mine = previous.then(run, run);
      const tail = mine.then(
        () => undefined,
        () => undefined,
      );
      this.#queues.set(account, tail);
      const result = await mine.finally(() => {
        if (this.#queues.get(account) === tail) this.#queues.delete(account);
      });
      return this.#record(account, client, result);
    }
    return this.#record(account, client, await run());
  }

  #record<T>(account: string, client: string, result: { ok: boolean; value: T }): T {
    const now = this.clock.now();
    if (result.ok) {
      const set = this.#known.get(account) ?? new Set<string>();
      this.#known.set(account, set);
      set.add(client);
      this.#accounts.delete(account);
    } else {
      push(this.#clients, client, now);
      push(this.#accounts, account, now);
    }
    return result.value;
  }
}

function recent(map: Map<string, number[]>, key: string, now: number, windowMs: number): number {
  const list = map.get(key);
  if (!list) return 0;
  while (list.length > 0 && (list[0] as number) <= now - Math.max(windowMs, 3_600_000)) list.shift();
  if (list.length === 0) map.delete(key);
  return list.filter((t) => t > now - windowMs).length;
}

/** MAX_KEYS bounds the memory an attacker can make the throttle use (oldest keys are dropped). */
const MAX_KEYS = 100_000;

function push(map: Map<string, number[]>, key: string, at: number): void {
  const list = map.get(key) ?? [];
  list.push(at);
  if (list.length > 1000) list.shift();
  map.delete(key);
  map.set(key, list);
  if (map.size > MAX_KEYS) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}

function tooMany(retryAfterSeconds: number): AppError {
  return new AppError(IdentityErrors.too_many_attempts, "Too many failed login attempts; try again later.", {
    headers: { "retry-after": String(Math.ceil(retryAfterSeconds)) },
  });
}
