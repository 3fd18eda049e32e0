import { randomFillSync } from "node:crypto";

/**
 * ID_PREFIXES is the one registry of ID kinds. Every stored object's ID starts with its kind's
 * prefix, so a log line, a support ticket or a leaked URL says what it points at.
 * NOTE: prefixes are part of the public API; never change or reuse one.
 */
export const ID_PREFIXES = {
  request: "req",
  fact: "fct",
  job: "job",
  idempotencyRecord: "idm",
  operator: "opr",
  project: "prj",
  environment: "env",
  surface: "srf",
  tenant: "ten",
  user: "usr",
  session: "ses",
  secretKey: "key",
  operatorToken: "otk",
  passwordReset: "prt",
  role: "rol",
  membership: "mem",
  invitation: "inv",
  tenantKey: "tky",
  agentKey: "agk",
  auditEntry: "aud",
  auditCheckpoint: "ack",
  auditSchema: "asc",
  event: "evt",
  eventType: "etp",
  webhookEndpoint: "whe",
  webhookMessage: "msg",
  webhookAttempt: "wha",
  benchItem: "bnc",
  testItem: "tst",
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ID_BODY = /^[0-9A-HJKMNP-TV-Z]{26}$/;

let lastTime = 0;
let lastRandom: Uint8Array = new Uint8Array(10);

/**
 * newId returns `<prefix>_<ULID>`: 48 bits of millisecond time and 80 random bits in Crockford
 * base32. IDs created in one process are strictly increasing (the random part is incremented
 * within a millisecond), so inserts stay append-friendly and lists sort by creation.
 */
export function newId(kind: IdKind, now: number = Date.now()): string {
  let random: Uint8Array;
  if (now <= lastTime) {
    random = incremented(lastRandom);
    now = lastTime;
  } else {
    random = randomFromPool();
  }
  lastTime = now;
  lastRandom = random;
  return `${ID_PREFIXES[kind]}_${encodeTime(now)}${encodeRandom(random)}`;
}

/** isId reports whether `value` is a well-formed ID of the given kind. It never throws. */
export function isId(kind: IdKind, value: unknown): value is string {
  if (typeof value !== "string") return false;
  const prefix = `${ID_PREFIXES[kind]}_`;
  return value.startsWith(prefix) && ID_BODY.test(value.slice(prefix.length));
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
