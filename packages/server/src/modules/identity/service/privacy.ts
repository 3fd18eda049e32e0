import { sql } from "kysely";
import type { z } from "zod";
import type { Db, Tx } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { iso } from "../../../platform/http/schemas.js";
import type { DataSubject, PersonalDataProvider } from "../../../platform/personal-data.js";
import type { ActionContext } from "../../../platform/principal.js";
import { IdentityErrors } from "../errors.js";
import { type Core, normalizeEmail } from "../internal/core.js";
import { toSession, toUser } from "../internal/rows.js";
import { toPasskey } from "../internal/webauthn.js";
import type { UserErasure, UserExport } from "../schemas.js";

/**
 * PrivacyService runs data subject requests about an end user (docs/privacy.md):
 * - `exportUser`: everything the plane holds about the user, as JSON (an access request);
 * - `eraseUser`: removes the user and their personal data from every module in one transaction:
 *   the user row is deleted, sessions and reset tokens with it; memberships deleted, keys acting
 *   for the user revoked, invitations anonymised (access); stored events about the user redacted
 *   (events); the user's audit key destroyed, so the personal fields of their audit entries can no
 *   longer be read while the chain still verifies (audit).
 * Every module holding personal data registers its part (`personalData` in its definition).
 */
export class PrivacyService implements PersonalDataProvider {
  constructor(private readonly c: Core) {}

  async exportUser(ctx: ActionContext, userId: string): Promise<z.infer<typeof UserExport>> {
    const { environmentId } = this.c.access.environment(ctx, "users:read");
    const row = await this.c.tables
      .q()
      .selectFrom("user")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", userId)
      .executeTakeFirst();
    if (!row) throw new AppError(IdentityErrors.user_not_found, `No user ${userId}.`);
    const subject: DataSubject = { environmentId, userId, email: row.email };
    return {
      exportedAt: iso(this.c.clock.now()),
      user: toUser(row),
      modules: await this.c.personalData.exportAll(this.c.db, subject),
    };
  }

  /**
   * eraseUser erases a user in one write: the user's row is locked first (a login or reset racing
   * it either committed before, and its session is deleted here, or waits and finds no user), then
   * the `user.erased` fact, then every module's erasure, then the row itself.
   */
  async eraseUser(ctx: ActionContext, userId: string): Promise<z.infer<typeof UserErasure>> {
    const { environmentId } = this.c.access.environment(ctx, "users:write");
    return this.c.db.write(ctx, async (tx) => {
      const row = await this.c.tables
        .q(tx)
        .selectFrom("user")
        .select(["id", "email"])
        .where("environment_id", "=", environmentId)
        .where("id", "=", userId)
        .$call((qb) => this.c.db.forUpdate(qb))
        .executeTakeFirst();
      if (!row) throw new AppError(IdentityErrors.user_not_found, `No user ${userId}.`);
      const subject: DataSubject = { environmentId, userId, email: row.email };
      // The fact first: writers take the event log's lock before other rows (see access/internal/issued.ts).
      await this.c.facts.record(tx, ctx, {
        type: "user.erased",
        environmentId,
        targets: [{ type: "user", id: userId }],
      });
      const removed = await this.c.personalData.eraseAll(tx, subject);
      await this.c.tables.q(tx).deleteFrom("user").where("id", "=", userId).execute();
      await this.c.revoked(tx, userId);
      return { userId, erasedAt: iso(this.c.clock.now()), removed };
    });
  }

  /** export: the user's sessions (the user row itself is the export's `user`). */
  async export(_db: Db, s: DataSubject): Promise<Record<string, unknown>> {
    const sessions = await this.c.tables
      .q()
      .selectFrom("session")
      .selectAll()
      .where("environment_id", "=", s.environmentId)
      .where("user_id", "=", s.userId)
      .orderBy("id")
      .limit(10_000)
      .execute();
    const passkeys = await this.c.tables
      .q()
      .selectFrom("passkey")
      .selectAll()
      .where("environment_id", "=", s.environmentId)
      .where("user_id", "=", s.userId)
      .orderBy("id")
      .execute();
    return {
      sessions: sessions.map((r) => ({ ...toSession(r), revokedAt: r.revoked_at })),
      passkeys: passkeys.map((r) => ({ ...toPasskey(r), revokedAt: r.revoked_at })),
    };
  }

  /** erase: the identity module's rows that reference the user, before the user row goes. */
  async erase(tx: Tx, s: DataSubject): Promise<Record<string, number>> {
    const q = this.c.tables.q(tx);
    const sessions = await q
      .deleteFrom("session")
      .where("environment_id", "=", s.environmentId)
      .where("user_id", "=", s.userId)
      .returning("id")
      .execute();
    for (const { id } of sessions) await this.c.revoked(tx, id);
    const sessionIds = sessions.map((r) => r.id);
    let refreshTokens = 0;
    for (let i = 0; i < sessionIds.length; i += 500) {
      const gone = await q
        .deleteFrom("refresh_token")
        .where("session_id", "in", sessionIds.slice(i, i + 500))
        .executeTakeFirst();
      refreshTokens += Number(gone.numDeletedRows);
    }
    const resets = await q
      .deleteFrom("password_reset")
      .where("environment_id", "=", s.environmentId)
      .where("user_id", "=", s.userId)
      .executeTakeFirst();
    await q
      .deleteFrom("passkey_challenge")
      .where("environment_id", "=", s.environmentId)
      .where("user_id", "=", s.userId)
      .execute();
    const passkeys = await q
      .deleteFrom("passkey")
      .where("environment_id", "=", s.environmentId)
      .where("user_id", "=", s.userId)
      .executeTakeFirst();
    let factors = 0;
    for (const table of ["mfa_challenge", "mfa_recovery_code", "mfa_factor"] as const) {
      const gone = await q
        .deleteFrom(table)
        .where("environment_id", "=", s.environmentId)
        .where("user_id", "=", s.userId)
        .executeTakeFirst();
      if (table === "mfa_factor") factors = Number(gone.numDeletedRows);
    }
    await q
      .deleteFrom("email_token")
      .where("environment_id", "=", s.environmentId)
      .where("user_id", "=", s.userId)
      .execute();
    // Mails to the address (sent or waiting): the outbox keeps no copy of a person's mail.
    const mails = await q
      .deleteFrom("mail_outbox")
      .where("environment_id", "=", s.environmentId)
      .where(sql`lower(to_address)`, "=", normalizeEmail(s.email))
      .executeTakeFirst();
    // Throttle counters are keyed by the address (login and sign-up limits).
    const email = normalizeEmail(s.email);
    const contains =
      this.c.db.engine === "postgres" ? sql<number>`strpos(key, ${email})` : sql<number>`instr(key, ${email})`;
    const counters = await q.deleteFrom("throttle_counter").where(contains, ">", sql<number>`0`).executeTakeFirst();
    return {
      sessions: sessions.length,
      passwordResets: Number(resets.numDeletedRows),
      refreshTokens,
      passkeys: Number(passkeys.numDeletedRows),
      mails: Number(mails.numDeletedRows),
      mfaFactors: factors,
      throttleCounters: Number(counters.numDeletedRows),
    };
  }
}
