import { fromJson, toJson } from "../../../platform/db/db.js";
import { SecretBox } from "../../../platform/secrets.js";
import type { SecretVault } from "../../../platform/secrets-vault.js";

/**
 * An endpoint's signing secrets and custom header values (a receiver's `authorization`, say) are
 * read back to sign and send deliveries, so they are sealed under the plane's master key, never
 * stored readable (see docs/security.md). Rows written before sealing hold plaintext until the
 * plane's start seals them; these helpers read both.
 */

/** sealSecret seals a signing secret for the endpoint `id`. */
export function sealSecret(vault: SecretVault, secret: string, id: string): string {
  return vault.seal(secret, id);
}

/** openSecret returns a stored signing secret in clear. */
export function openSecret(vault: SecretVault, stored: string, id: string): string {
  return SecretBox.isSealed(stored) ? vault.open(stored, id) : stored;
}

/** sealHeaders returns the value to store in the `headers` JSON column: the headers, sealed. */
export function sealHeaders(vault: SecretVault, headers: Record<string, string>, id: string): string {
  return toJson(vault.sealJson(headers, id));
}

/** openHeaders returns the custom headers stored in the `headers` column, in clear. */
export function openHeaders(vault: SecretVault, stored: unknown, id: string): Record<string, string> {
  // PostgreSQL hands a jsonb string back already decoded; SQLite hands back the JSON text.
  const value = typeof stored === "string" && SecretBox.isSealed(stored) ? stored : fromJson<unknown>(stored);
  if (typeof value === "string" && SecretBox.isSealed(value)) {
    return JSON.parse(vault.open(value, id)) as Record<string, string>;
  }
  return value as Record<string, string>;
}
