import { dictionary } from "@zxcvbn-ts/language-common";
import { AppError } from "../../../platform/errors.js";
import { IdentityErrors } from "../errors.js";
import { type Argon2Options, type HashJob, HashWorkers } from "./hash-workers.js";

/**
 * PASSWORD_PROFILES: `owasp` is the OWASP Password Storage Cheat Sheet's first argon2id choice
 * (19 MiB, 2 iterations, 1 lane); `test` is cheap and refused by config outside NODE_ENV=test.
 */
export const PASSWORD_PROFILES = {
  owasp: { memoryCost: 19_456, timeCost: 2, parallelism: 1 },
  test: { memoryCost: 1024, timeCost: 1, parallelism: 1 },
} as const;

/** ARGON2ID is `Algorithm.Argon2id` of `@node-rs/argon2` (a const enum, which isolated modules cannot import). */
const ARGON2ID = 2;

export const MIN_PASSWORD_LENGTH = 8;
/** MAX_PASSWORD_BYTES bounds hashing work; passwords are never truncated, longer ones are refused. */
export const MAX_PASSWORD_BYTES = 1024;

/** COMMON_PASSWORDS: the 10,000 most common passwords of the zxcvbn-ts ranked list (ASVS 6.2.4 asks for 3,000). */
const COMMON_PASSWORDS = new Set(dictionary["passwords-common"].slice(0, 10_000).map((p) => p.toLowerCase()));

/**
 * checkPasswordStrength refuses passwords that are too short, too long, or among the most common
 * (case-insensitive). No composition rules (ASVS 6.2.5). Throws 422 `weak_password`.
 */
export function checkPasswordStrength(password: string, context: { email?: string } = {}): void {
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH) {
    throw new AppError(IdentityErrors.weak_password, `Use at least ${MIN_PASSWORD_LENGTH} characters.`);
  }
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
    throw new AppError(IdentityErrors.weak_password, `Use at most ${MAX_PASSWORD_BYTES} bytes.`);
  }
  const lower = password.toLowerCase();
  if (COMMON_PASSWORDS.has(lower)) {
    throw new AppError(IdentityErrors.weak_password, "This password is among the most commonly used; choose another.");
  }
  if (context.email && lower === context.email.toLowerCase()) {
    throw new AppError(IdentityErrors.weak_password, "The password cannot be the email address.");
  }
}

/** PasswordHasherOptions: the queue behind the hashing threads (`BASEPLATE_PASSWORD_HASH_QUEUE`). */
export interface PasswordHasherOptions {
  /** maxQueue: hashes that may wait for a thread at once (default 16 per thread). */
  maxQueue?: number;
  /** nice: how much lower than the event loop the hashing threads run (Linux; 0 = same priority). */
  nice?: number;
}

/** QUEUE_PER_THREAD: the default queue, per hashing thread (about 16 hash times of waiting at most). */
export const QUEUE_PER_THREAD = 16;

interface Waiter {
  source: string;
  start: () => void;
}

/**
 * PasswordHasher hashes and verifies with argon2id on its own threads (`HashWorkers`), at most
 * `concurrency` at once; the others wait in a bounded queue. Admission is fair: the queue serves
 * the waiting sources (client addresses) in turn, one hash each, and one source may hold at most
 * half of it (beyond: 429 `too_many_logins`); a full queue answers 503 `hashing_busy`. Both carry
 * `Retry-After`, the time the queue ahead takes to drain. A login flood is therefore refused in
 * microseconds, before any database work, instead of stalling every other request.
 */
export class PasswordHasher {
  readonly maxQueue: number;
  readonly #options: (typeof PASSWORD_PROFILES)[keyof typeof PASSWORD_PROFILES];
  readonly #workers: HashWorkers;
  #running = 0;
  /** #queued counts admitted hashes not yet running (waiting, or admitted and not yet asked for). */
  #queued = 0;
  /** #perSource counts each source's admitted hashes not yet running. */
  readonly #perSource = new Map<string, number>();
  /** #waiting: per source, in turn order (a Map keeps insertion order; a served source moves last). */
  readonly #waiting = new Map<string, Waiter[]>();
  /** #hashMs: moving average of one hash's time, for Retry-After. */
  #hashMs = 50;
  #dummy: Promise<string> | null = null;

  constructor(
    readonly profile: keyof typeof PASSWORD_PROFILES,
    readonly concurrency: number,
    options: PasswordHasherOptions = {},
  ) {
    this.#options = PASSWORD_PROFILES[profile];
    this.maxQueue = options.maxQueue || QUEUE_PER_THREAD * concurrency;
    this.#workers = new HashWorkers(concurrency, options.nice);
  }

  /** stats: hashes running and waiting, and the hashing threads alive. */
  get stats(): { running: number; queued: number; threads: number } {
    return { running: this.#running, queued: this.#queued, threads: this.#workers.threads };
  }

  /**
   * admit takes a place in the queue for one hash by `source` (the client address), or throws
   * 503 `hashing_busy` / 429 `too_many_logins` at once. Take it before any other work of the
   * request, so a refused request costs nothing; the place is given back by the hash, or by
   * `release` if the request ends without one.
   */
  admit(source = ""): Admission {
    if (this.#queued >= this.maxQueue) {
      throw new AppError(IdentityErrors.hashing_busy, "Too many logins at once; retry in a moment.", {
        headers: { "retry-after": this.#retryAfter(this.#queued) },
      });
    }
    const mine = this.#perSource.get(source) ?? 0;
    if (mine >= Math.max(1, Math.floor(this.maxQueue / 2))) {
      throw new AppError(
        IdentityErrors.too_many_logins,
        "Too many logins at once from this client; retry in a moment.",
        {
          headers: { "retry-after": this.#retryAfter(mine) },
        },
      );
    }
    this.#queued++;
    this.#perSource.set(source, mine + 1);
    return new Admission(this, source);
  }

  /** hash computes the PHC string of a password, queued as `source`. */
  async hash(password: string, source = ""): Promise<string> {
    return this.admit(source).hash(password);
  }

  /** verify checks a password against a PHC string, queued as `source` (see `Admission.verify`). */
  async verify(stored: string | null, password: string, source = ""): Promise<boolean> {
    return this.admit(source).verify(stored, password);
  }

  /** needsRehash: the stored hash uses weaker parameters than the current profile. */
  needsRehash(stored: string): boolean {
    const o = this.#options;
    return !stored.startsWith(`$argon2id$v=19$m=${o.memoryCost},t=${o.timeCost},p=${o.parallelism}$`);
  }

  /** close ends the hashing threads (hashes still queued or asked for fail). */
  async close(): Promise<void> {
    await this.#workers.close();
  }

  /** @internal runs one admitted hash: waits for its turn, then for a thread. */
  async run(source: string, job: HashJob): Promise<unknown> {
    if (this.#running >= this.concurrency) {
      await new Promise<void>((start) => {
        const line = this.#waiting.get(source);
        if (line) line.push({ source, start });
        else this.#waiting.set(source, [{ source, start }]);
      });
    } else {
      this.#running++;
    }
    this.#dequeue(source);
    const started = performance.now();
    try {
      return await this.#workers.run(job);
    } finally {
      this.#hashMs += (performance.now() - started - this.#hashMs) / 8;
      this.#next();
    }
  }

  /** @internal gives back an admitted place that no hash used. */
  release(source: string): void {
    this.#dequeue(source);
  }

  /** @internal the dummy hash an unknown account is checked against, so every login does one verify. */
  dummy(): Promise<string> {
    if (!this.#dummy) {
      // Outside the limits (it is the plane's own work, done once), but through the queue.
      this.#queued++;
      this.#perSource.set("", (this.#perSource.get("") ?? 0) + 1);
      this.#dummy = this.run("", { op: "hash", password: "dummy password for timing", options: this.argon2Options })
        .then((value) => value as string)
        .catch((err) => {
          this.#dummy = null;
          throw err;
        });
    }
    return this.#dummy;
  }

  get argon2Options(): Argon2Options {
    return { algorithm: ARGON2ID, ...this.#options };
  }

  #dequeue(source: string): void {
    this.#queued--;
    const left = (this.#perSource.get(source) ?? 1) - 1;
    if (left > 0) this.#perSource.set(source, left);
    else this.#perSource.delete(source);
  }

  /** #next hands the finished hash's thread to the next source in turn, or frees it. */
  #next(): void {
    const entry = this.#waiting.entries().next();
    if (entry.done) {
      this.#running--;
      return;
    }
    const [source, line] = entry.value;
    const waiter = line.shift() as Waiter;
    this.#waiting.delete(source);
    if (line.length > 0) this.#waiting.set(source, line); // to the back of the turn order
    waiter.start();
  }

  /** #retryAfter: seconds until `ahead` hashes have drained through the threads (at least 1). */
  #retryAfter(ahead: number): string {
    return String(Math.max(1, Math.ceil(((ahead + 1) * this.#hashMs) / this.concurrency / 1000)));
  }
}

/**
 * Admission is one admitted hash: use it once with `verify` or `hash`, or `release` it. Using it
 * gives the queue place back when the hash starts; `release` after use does nothing.
 */
export class Admission {
  #used = false;

  constructor(
    private readonly hasher: PasswordHasher,
    private readonly source: string,
  ) {}

  /** verify checks a password against a PHC string; a null hash is checked against a dummy so timing matches. */
  async verify(stored: string | null, password: string): Promise<boolean> {
    this.#use();
    if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
      this.hasher.release(this.source);
      return false;
    }
    let target = stored;
    if (target === null) {
      try {
        target = await this.hasher.dummy();
      } catch (err) {
        this.hasher.release(this.source);
        throw err;
      }
    }
    const ok = await this.hasher
      .run(this.source, { op: "verify", hash: target, password })
      .then((value) => value === true)
      .catch(() => false);
    return stored !== null && ok;
  }

  async hash(password: string): Promise<string> {
    this.#use();
    return (await this.hasher.run(this.source, { op: "hash", password, options: this.hasher.argon2Options })) as string;
  }

  /** release gives the place back when the request ends without hashing (safe to call after use). */
  release(): void {
    if (this.#used) return;
    this.#used = true;
    this.hasher.release(this.source);
  }

  #use(): void {
    if (this.#used) throw new Error("an admission is used once");
    this.#used = true;
  }
}

/**
 * HashingPlace is one request's place in the hashing queue, taken when the request starts, so a
 * login the queue cannot take is refused before any other work. `pause` gives the place back
 * while the request waits for something else (the throttle's soft delay: a guessing campaign
 * must not fill the queue with sleeping attempts); `verify` then takes a new one.
 */
export class HashingPlace {
  #admission: Admission | null;

  constructor(
    private readonly hasher: PasswordHasher,
    private readonly source?: string,
  ) {
    this.#admission = hasher.admit(source);
  }

  pause(): void {
    this.#admission?.release();
    this.#admission = null;
  }

  verify(stored: string | null, password: string): Promise<boolean> {
    this.#admission ??= this.hasher.admit(this.source);
    return this.#admission.verify(stored, password);
  }

  /** release gives the place back if no hash used it (safe to call more than once). */
  release(): void {
    this.#admission?.release();
  }
}
