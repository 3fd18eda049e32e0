import { randomFillSync } from "node:crypto";

/**
 * IdPrefixes maps ID kinds to their prefixes: `{ tenant: "ten", project: "prj" }`. Every stored
 * object's ID starts with its kind's prefix, so a log line, a support ticket or a leaked URL says
 * what it points at. NOTE: prefixes are part of the public API; never change or reuse one.
 */
export type IdPrefixes = Readonly<Record<string, string>>;

/**
 * PLATFORM_ID_PREFIXES are the kinds the platform itself creates. Every other kind is declared by
 * the module that owns it (`ids` in its `module.ts`), and the composition root registers them all
 * in one `IdRegistry`.
 */
export const PLATFORM_ID_PREFIXES = {
  request: "req",
  fact: "fct",
  job: "job",
  idempotencyRecord: "idm",
} as const;

/** IdKind is one of the platform's own ID kinds. */
export type IdKind = keyof typeof PLATFORM_ID_PREFIXES;

/**
 * IdFactory creates and recognises IDs of a fixed set of kinds `K`; its `prefixes` are the kinds it
 * was defined with (what a module declares as `ids`).
 */
export interface IdFactory<K extends string> {
  readonly prefixes: Readonly<Record<K, string>>;
  /** newId returns `<prefix>_<ULID>` for `kind` (see the module-level `newId`). */
  newId(kind: K | IdKind, now?: number): string;
  /** isId reports whether `value` is a well-formed ID of `kind`. It never throws. */
  isId(kind: K | IdKind, value: unknown): value is string;
}

const PREFIX = /^[a-z]{2,4}$/;
const KIND = /^[a-z][a-zA-Z0-9]*$/;

/**
 * defineIds declares a module's ID kinds and returns a factory typed by them (and the platform's
 * kinds, e.g. `request`): `export const { newId } = defineIds({ tenant: "ten" })` in the module's
 * `ids.ts`, and `ids: tenancyIds.prefixes` in its definition. Throws on a malformed kind or prefix,
 * a prefix used twice, or a kind or prefix the platform already owns.
 *
 * NOTE: why a factory per module rather than one `newId(kind: string)` checked at runtime: a typo
 * in a kind stays a compile-time error, `newId` works before (and without) an app, e.g. in unit
 * tests and benchmarks, and no module-level mutable registry is shared between apps. Clashes
 * *between* modules cannot be seen by one module's factory; `IdRegistry` refuses them when the
 * composition root starts.
 */
export function defineIds<const P extends Record<string, string>>(prefixes: P): IdFactory<keyof P & string> {
  const own = new IdRegistry();
  own.register("platform", PLATFORM_ID_PREFIXES);
  own.register("this module", prefixes);
  const all: Readonly<Record<string, string>> = { ...PLATFORM_ID_PREFIXES, ...prefixes };
  return {
    prefixes: Object.freeze({ ...prefixes }),
    newId: (kind, now) => generate(prefixOf(all, kind), now),
    isId: (kind, value): value is string => matches(prefixOf(all, kind), value),
  };
}

/**
 * IdRegistry is the plane's one registry of ID kinds: the platform's and every module's, as the
 * composition root registers them. `register` throws when a kind or a prefix is already owned,
 * naming both owners, so two modules can never mint look-alike IDs.
 */
export class IdRegistry {
  readonly #kinds = new Map<string, { owner: string; prefix: string }>();
  readonly #prefixes = new Map<string, { owner: string; kind: string }>();

  register(owner: string, prefixes: IdPrefixes): void {
    for (const [kind, prefix] of Object.entries(prefixes)) {
      if (!KIND.test(kind)) throw new Error(`${owner}: ID kind "${kind}" must be camelCase letters/digits`);
      if (!PREFIX.test(prefix)) throw new Error(`${owner}: ID prefix "${prefix}" must be 2–4 lower-case letters`);
      const kindTaken = this.#kinds.get(kind);
      if (kindTaken) {
        throw new Error(`ID kind "${kind}" is declared by both ${kindTaken.owner} and ${owner}`);
      }
      const prefixTaken = this.#prefixes.get(prefix);
      if (prefixTaken) {
        throw new Error(
          `ID prefix "${prefix}" is claimed by both ${prefixTaken.owner} (${prefixTaken.kind}) and ${owner} (${kind})`,
        );
      }
      this.#kinds.set(kind, { owner, prefix });
      this.#prefixes.set(prefix, { owner, kind });
    }
  }

  /** prefixOf returns the prefix of a registered kind, or undefined. */
  prefixOf(kind: string): string | undefined {
    return this.#kinds.get(kind)?.prefix;
  }

  /** ownerOf returns who registered a kind (`platform` or a module name), or undefined. */
  ownerOf(kind: string): string | undefined {
    return this.#kinds.get(kind)?.owner;
  }

  /** kinds lists every registered kind with its prefix and owner, in registration order. */
  kinds(): Array<{ kind: string; prefix: string; owner: string }> {
    return [...this.#kinds].map(([kind, { owner, prefix }]) => ({ kind, prefix, owner }));
  }
}

const platformIds = defineIds({});

/**
 * newId returns `<prefix>_<ULID>` for one of the platform's kinds: 48 bits of millisecond time and
 * 80 random bits in Crockford base32. IDs created in one process (of every kind and factory) are
 * strictly increasing (the random part is incremented within a millisecond), so inserts stay
 * append-friendly and lists sort by creation. Modules use the `newId` of their own `ids.ts`.
 */
export const newId: (kind: IdKind, now?: number) => string = platformIds.newId;

/** isId reports whether `value` is a well-formed ID of one of the platform's kinds. It never throws. */
export const isId: (kind: IdKind, value: unknown) => value is string = platformIds.isId;

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ID_BODY = /^[0-9A-HJKMNP-TV-Z]{26}$/;

let lastTime = 0;
let lastRandom: Uint8Array = new Uint8Array(10);

function prefixOf(prefixes: Readonly<Record<string, string>>, kind: string): string {
  const prefix = prefixes[kind];
  // Unreachable through the typed API; a cast or a JavaScript caller gets a clear error.
  if (prefix === undefined) throw new Error(`Unknown ID kind "${kind}"`);
  return prefix;
}

function generate(prefix: string, now: number = Date.now()): string {
  let random: Uint8Array;
  if (now <= lastTime) {
    random = incremented(lastRandom);
    now = lastTime;
  } else {
    random = randomFromPool();
  }
  lastTime = now;
  lastRandom = random;
  return `${prefix}_${encodeTime(now)}${encodeRandom(random)}`;
}

function matches(prefix: string, value: unknown): value is string {
  if (typeof value !== "string") return false;
  return value.startsWith(`${prefix}_`) && ID_BODY.test(value.slice(prefix.length + 1));
}

/** A pool of random bytes refilled 4 KiB at a time: one CSPRNG call per ~400 IDs instead of per ID. */
const pool = new Uint8Array(4096);
let poolOffset = pool.length;

function randomFromPool(): Uint8Array {
  if (poolOffset + 10 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.slice(poolOffset, poolOffset + 10);
  poolOffset += 10;
  return bytes;
}

function encodeTime(ms: number): string {
  let out = "";
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function encodeRandom(bytes: Uint8Array): string {
  // 80 bits → 16 base32 characters, most significant first (5 bits at a time, no BigInt: hot path).
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD[(buffer >>> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  return out;
}

function incremented(bytes: Uint8Array): Uint8Array {
  const next = Uint8Array.from(bytes);
  for (let i = next.length - 1; i >= 0; i--) {
    if (next[i] === 255) {
      next[i] = 0;
    } else {
      next[i] = (next[i] ?? 0) + 1;
      return next;
    }
  }
  // 2^80 IDs in one millisecond cannot happen; wrap rather than throw.
  return next;
}
