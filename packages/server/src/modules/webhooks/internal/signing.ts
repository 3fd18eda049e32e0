import { createHmac, randomBytes } from "node:crypto";

/** SECRET_PREFIX marks a Standard Webhooks symmetric secret. */
export const SECRET_PREFIX = "whsec_";

/** generateSecret returns `whsec_` + base64 of 32 random bytes (Standard Webhooks: 24–64 bytes). */
export function generateSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString("base64")}`;
}

/**
 * sign returns the Standard Webhooks `v1` signature of one delivery: base64 HMAC-SHA256, keyed with
 * the secret's decoded bytes, over `{msgId}.{timestamp}.{body}` — exactly the bytes sent.
 */
export function sign(secret: string, msgId: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64");
  return `v1,${createHmac("sha256", key).update(`${msgId}.${timestamp}.${body}`).digest("base64")}`;
}

/** signatureHeader signs with every current secret (two during a rotation), space-separated. */
export function signatureHeader(secrets: readonly string[], msgId: string, timestamp: number, body: string): string {
  return secrets.map((s) => sign(s, msgId, timestamp, body)).join(" ");
}
