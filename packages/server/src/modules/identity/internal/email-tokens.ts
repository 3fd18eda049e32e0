import { generateToken, sha256Hex } from "../../../platform/crypto.js";
import type { Tx } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { IdentityErrors } from "../errors.js";
import { newId } from "../ids.js";
import type { EmailTokenTable } from "../tables.js";
import type { Core } from "./core.js";
import { TOKEN_PREFIX } from "./tokens.js";

export type EmailTokenPurpose = EmailTokenTable["purpose"];

/** EMAIL_TOKEN_TTL_MS: how long each mailed link works (once). */
export const EMAIL_TOKEN_TTL_MS: Record<EmailTokenPurpose, number> = {
  verify_email: 24 * 60 * 60_000,
  magic_link: 15 * 60_000,
  email_change: 60 * 60_000,
};

const PREFIX: Record<EmailTokenPurpose, string> = {
  verify_email: TOKEN_PREFIX.verifyEmail,
  magic_link: TOKEN_PREFIX.magicLink,
  email_change: TOKEN_PREFIX.emailChange,
};

export function invalidLink(): AppError {
  return new AppError(IdentityErrors.invalid_link, "The link is invalid, used or expired: ask for a new one.");
}

/**
 * issueEmailToken writes a single-use token for one user, flow and surface inside `tx` (only its
 * SHA-256 is stored) and voids the user's earlier unused tokens of the same flow. Returns the token.
 */
export async function issueEmailToken(
  c: Core,
  tx: Tx,
  input: { purpose: EmailTokenPurpose; environmentId: string; surfaceId: string; userId: string; newEmail?: string },
): Promise<{ token: string; expiresAt: number }> {
  const now = c.clock.now();
  await c.tables
    .q(tx)
    .updateTable("email_token")
    .set({ used_at: now })
    .where("environment_id", "=", input.environmentId)
    .where("user_id", "=", input.userId)
    .where("purpose", "=", input.purpose)
    .where("used_at", "is", null)
    .execute();
  const token = generateToken(PREFIX[input.purpose]);
  const expiresAt = now + EMAIL_TOKEN_TTL_MS[input.purpose];
  await c.tables
    .q(tx)
    .insertInto("email_token")
    .values({
      id: newId("emailToken", now),
      environment_id: input.environmentId,
      surface_id: input.surfaceId,
      user_id: input.userId,
      purpose: input.purpose,
      token_hash: sha256Hex(token),
      new_email: input.newEmail ?? null,
      created_at: now,
      expires_at: expiresAt,
      used_at: null,
    })
    .execute();
  return { token, expiresAt };
}

/**
 * redeemEmailToken uses a token once inside `tx`: it must be of `purpose`, issued for `surfaceId`,
 * unused and unexpired, and the conditional update that marks it used must win (a concurrent
 * redeem loses). Throws 400 `invalid_link` in every other case, alike.
 */
export async function redeemEmailToken(
  c: Core,
  tx: Tx,
  purpose: EmailTokenPurpose,
  surface: { id: string; environmentId: string },
  token: string,
): Promise<{ id: string; user_id: string; new_email: string | null }> {
  const now = c.clock.now();
  const row = await c.tables
    .q(tx)
    .selectFrom("email_token")
    .select(["id", "user_id", "new_email", "purpose", "surface_id", "expires_at", "used_at"])
    .where("token_hash", "=", sha256Hex(token))
    .where("environment_id", "=", surface.environmentId)
    .executeTakeFirst();
  if (!row || row.purpose !== purpose || row.surface_id !== surface.id || row.used_at !== null) throw invalidLink();
  if (Number(row.expires_at) <= now) throw invalidLink();
  const used = await c.tables
    .q(tx)
    .updateTable("email_token")
    .set({ used_at: now })
    .where("id", "=", row.id)
    .where("used_at", "is", null)
    .executeTakeFirst();
  if (Number(used.numUpdatedRows) !== 1) throw invalidLink();
  return row;
}

/** voidUserTokens voids every unused mailed token and reset token of a user (its address changed). */
export async function voidUserTokens(c: Core, tx: Tx, environmentId: string, userId: string): Promise<void> {
  const now = c.clock.now();
  await c.tables
    .q(tx)
    .updateTable("email_token")
    .set({ used_at: now })
    .where("environment_id", "=", environmentId)
    .where("user_id", "=", userId)
    .where("used_at", "is", null)
    .execute();
  await c.tables
    .q(tx)
    .updateTable("password_reset")
    .set({ used_at: now })
    .where("environment_id", "=", environmentId)
    .where("user_id", "=", userId)
    .where("used_at", "is", null)
    .execute();
}
