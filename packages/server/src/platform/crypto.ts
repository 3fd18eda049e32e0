import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { crc32 as zlibCrc32 } from "node:zlib";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** sha256Hex hashes a string or bytes to lowercase hex. */
export function sha256Hex(input: string | Uint8Array): string {
  return createHash("sha256").update(input).digest("hex");
}

/** constantTimeEqual compares two strings without leaking where they differ (length may leak). */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  if (left.length !== right.length) {
    // Compare against itself so the call costs the same whatever the inputs.
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}

/** base62 encodes bytes as a fixed-width base62 string (no padding characters, URL-safe). */
export function base62(bytes: Uint8Array, width: number): string {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  let out = "";
  for (let i = 0; i < width; i++) {
    out = BASE62[Number(value % 62n)] + out;
    value /= 62n;
  }
  return out;
}

/** crc32 computes the IEEE CRC-32 of a string's UTF-8 bytes (zlib's, native). */
export function crc32(input: string): number {
  return zlibCrc32(input) >>> 0;
}

const TOKEN_BODY_LENGTH = 43; // 256 random bits in base62 (62^43 > 2^256)
const CHECKSUM_LENGTH = 6; // CRC-32 in base62 (62^6 > 2^32)

/**
 * generateToken returns `<prefix><43 base62 chars of 256 random bits><6 char CRC-32 checksum>`,
 * in the style of GitHub's token format: the prefix says what the token is, the checksum lets
 * secret scanners and the server reject mistyped or invented tokens without a database lookup.
 * Prefixes end with `_` (e.g. `bp_sk_`). The token is shown once; store only `sha256Hex(token)`.
 */
export function generateToken(prefix: string): string {
  if (!/^[a-z][a-z0-9]*(_[a-z0-9]+)*_$/.test(prefix)) throw new Error(`Bad token prefix "${prefix}"`);
  const body = base62(randomBytes(32), TOKEN_BODY_LENGTH);
  return `${prefix}${body}${checksum(prefix + body)}`;
}

/**
 * parseToken splits a token into its prefix and verifies its checksum. It returns `null` for any
 * token that is not well-formed for one of the given prefixes; it never throws.
 */
export function parseToken(token: string, prefixes: readonly string[]): { prefix: string } | null {
  const prefix = prefixes.find((p) => token.startsWith(p));
  if (!prefix) return null;
  const rest = token.slice(prefix.length);
  if (rest.length !== TOKEN_BODY_LENGTH + CHECKSUM_LENGTH || !/^[0-9A-Za-z]+$/.test(rest)) return null;
  // NOTE: the checksum is not a secret (anyone can compute it for a token they hold), so a
  // plain comparison is fine; the secret part is only ever compared as a SHA-256 lookup.
  return rest.slice(TOKEN_BODY_LENGTH) === checksum(token.slice(0, token.length - CHECKSUM_LENGTH)) ? { prefix } : null;
}

/** checksum is the CRC-32 of `value` as 6 base62 digits (the same digits `base62` gives its 4 bytes). */
function checksum(value: string): string {
  let n = crc32(value);
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** redactToken returns a display form that identifies a token without revealing it. */
export function redactToken(token: string, prefix: string): string {
  return `${prefix}…${token.slice(-4)}`;
}
