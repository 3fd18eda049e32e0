import { type Algorithm, hash, verify } from "@node-rs/argon2";
import { dictionary } from "@zxcvbn-ts/language-common";
import { AppError } from "../../../platform/errors.js";
import { IdentityErrors } from "../errors.js";

/**
 * PASSWORD_PROFILES: `owasp` is the OWASP Password Storage Cheat Sheet's first argon2id choice
 * (19 MiB, 2 iterations, 1 lane); `test` is cheap and refused by config outside NODE_ENV=test.
 */
export const PASSWORD_PROFILES = {
  owasp: { memoryCost: 19_456, timeCost: 2, parallelism: 1 },
  test: { memoryCost: 1024, timeCost: 1, parallelism: 1 },
} as const;

/** ARGON2ID is `Algorithm.Argon2id` (a const enum, which isolated modules cannot import). */
const ARGON2ID = 2 as Algorithm;

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

/**
 * PasswordHasher hashes and verifies with argon2id on worker threads, at most `concurrency` at
 * once; up to `maxQueue` more wait, beyond that 503 `hashing_busy`. A login flood therefore queues
 * behind a fixed CPU budget instead of starving every other request.
 */
export class PasswordHasher {
  #running = 0;
  readonly #waiting: Array<() => void> = [];
  readonly #options: (typeof PASSWORD_PROFILES)[keyof typeof PASSWORD_PROFILES];
  #dummy: Promise<string> | null = null;

  constructor(
    readonly profile: keyof typeof PASSWORD_PROFILES,
    readonly concurrency: number,
    readonly maxQueue = 256,
  ) {
    this.#options = PASSWORD_PROFILES[profile];
  }

  async hash(password: string): Promise<string> {
    return this.#limited(() => hash(password, { algorithm: ARGON2ID, ...this.#options }));
  }

  /** verify checks a password against a PHC string; a null hash is checked against a dummy so timing matches. */
  async verify(stored: string | null, password: string): Promise<boolean> {
    if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) return false;
    this.#dummy ??= hash("dummy password for timing", { algorithm: ARGON2ID, ...this.#options });
    const target = stored ?? (await this.#dummy);
    const ok = await this.#limited(() => verify(target, password).catch(() => false));
    return stored !== null && ok;
  }

  /** needsRehash: the stored hash uses weaker parameters than the current profile. */
  needsRehash(stored: string): boolean {
    const o = this.#options;
    return !stored.startsWith(`$argon2id$v=19$m=${o.memoryCost},t=${o.timeCost},p=${o.parallelism}$`);
  }

  async #limited<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.concurrency) {
      if (this.#waiting.length >= this.maxQueue) {
        throw new AppError(IdentityErrors.hashing_busy, "Too many logins at once; retry in a moment.", {
          headers: { "retry-after": "1" },
        });
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
