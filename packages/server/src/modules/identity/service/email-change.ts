import type { z } from "zod";
import { isUniqueViolation } from "../../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ActionContext, Principal } from "../../../platform/principal.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { IdentityErrors } from "../errors.js";
import { type Core, normalizeEmail } from "../internal/core.js";
import {
  EMAIL_TOKEN_TTL_MS,
  invalidLink,
  issueEmailToken,
  redeemEmailToken,
  voidUserTokens,
} from "../internal/email-tokens.js";
import { toUser } from "../internal/rows.js";
import type { EmailChangeInput, TokenInput, User } from "../schemas.js";
import type { AuthSettingsService } from "./auth-settings.js";
import { actingUser, MAIL_REQUEST_LIMITS } from "./email-flows.js";
import type { MailService } from "./mail.js";

/**
 * EmailChangeService: a signed-in user moves its account to another address. The change needs
 * the current password (when the user has one) and happens only when the link mailed to the new
 * address is followed; the old address is told at once. Confirming voids every other pending
 * link and reset token (they were mailed to the old address).
 */
export class EmailChangeService {
  constructor(
    private readonly c: Core,
    private readonly mail: MailService,
    private readonly authSettings: AuthSettingsService,
  ) {}

  /**
   * requestEmailChange answers 202 alike whether the new address is free or not (a taken address
   * gets no mail), so a signed-in user cannot probe which addresses have accounts.
   */
  async requestEmailChange(ctx: ActionContext, input: z.infer<typeof EmailChangeInput>): Promise<{ accepted: true }> {
    const me = this.#me(ctx);
    const surfaceId = me.surfaceId ?? "";
    const surface = await this.c.tenancy.surfaces.findActiveSurface(surfaceId);
    if (!surface) throw new AppError(TenancyErrors.surface_not_found, `No active surface ${surfaceId}.`);
    const settings = await this.authSettings.settingsFor(surfaceId);
    if (!settings.email.appUrl) {
      throw new AppError(IdentityErrors.email_not_configured, `Surface ${surfaceId} has no email.appUrl.`);
    }
    const row = await this.c.tables
      .q()
      .selectFrom("user")
      .selectAll()
      .where("environment_id", "=", me.environmentId as string)
      .where("id", "=", me.actorId)
      .executeTakeFirstOrThrow();
    const user = toUser(row);
    if (row.password_hash !== null) {
      const ok = await this.c.throttle.attempt(
        `user:${me.environmentId}:${normalizeEmail(user.email)}`,
        ctx.request.ip ?? "unknown",
        async () => {
          const valid = await this.c.hasher.verify(row.password_hash, input.password ?? "", ctx.request.ip);
          return { ok: valid, value: valid };
        },
      );
      if (!ok) throw new AppError(IdentityErrors.current_password_wrong, "The current password is wrong.");
    }
    await this.c.throttle.limit(
      [
        { ...MAIL_REQUEST_LIMITS.client, scope: "mail_client", key: ctx.request.ip ?? "unknown" },
        {
          ...MAIL_REQUEST_LIMITS.address,
          scope: "mail_address",
          key: `${me.environmentId}:${normalizeEmail(input.newEmail)}`,
        },
      ],
      "Too many mails asked for; try again later.",
    );
    const newEmail = input.newEmail;
    if (normalizeEmail(newEmail) === normalizeEmail(user.email)) return { accepted: true };
    const taken = await this.c.tables
      .q()
      .selectFrom("user")
      .select("id")
      .where("environment_id", "=", me.environmentId as string)
      .where("email_normalized", "=", normalizeEmail(newEmail))
      .executeTakeFirst();
    await this.c.db.write(ctx, async (tx) => {
      const common = { surface };
      const vars = { name: user.name ?? user.email, email: user.email, newEmail };
      if (!taken) {
        const { token } = await issueEmailToken(this.c, tx, {
          purpose: "email_change",
          environmentId: user.environmentId,
          surfaceId,
          userId: user.id,
          newEmail,
        });
        await this.mail.queue(tx, {
          ...common,
          to: newEmail,
          template: "email_change_confirm",
          vars: {
            ...vars,
            link: this.mail.linkFor(settings, "confirm-email-change", token),
            expiresInMinutes: EMAIL_TOKEN_TTL_MS.email_change / 60_000,
          },
        });
      }
      await this.mail.queue(tx, { ...common, to: user.email, template: "email_change_notice", vars });
      await this.c.facts.record(tx, ctx, {
        type: "user.email_change_requested",
        environmentId: user.environmentId,
        targets: [{ type: "user", id: user.id }],
        data: { surfaceId },
      });
    });
    return { accepted: true };
  }

  /** confirmEmailChange applies a change with the link mailed to the new address (409 `email_taken` if taken meanwhile). */
  async confirmEmailChange(ctx: ActionContext, input: z.infer<typeof TokenInput>): Promise<User> {
    const surface = await this.c.tenancy.surfaces.findActiveSurface(input.surfaceId);
    if (!surface) throw new AppError(TenancyErrors.surface_not_found, `No active surface ${input.surfaceId}.`);
    try {
      return await this.c.db.write(ctx, async (tx) => {
        const token = await redeemEmailToken(this.c, tx, "email_change", surface, input.token);
        const row = await this.c.tables
          .q(tx)
          .selectFrom("user")
          .selectAll()
          .where("id", "=", token.user_id)
          .$call((qb) => this.c.db.forUpdate(qb))
          .executeTakeFirst();
        if (!row || row.disabled_at !== null || token.new_email === null) throw invalidLink();
        const now = this.c.clock.now();
        await this.c.tables
          .q(tx)
          .updateTable("user")
          .set({
            email: token.new_email,
            email_normalized: normalizeEmail(token.new_email),
            email_verified_at: now,
            updated_at: now,
          })
          .where("id", "=", row.id)
          .execute();
        await voidUserTokens(this.c, tx, row.environment_id, row.id);
        const before = toUser(row);
        const after: User = {
          ...before,
          email: token.new_email,
          emailVerified: true,
          emailVerifiedAt: iso(now),
          updatedAt: iso(now),
        };
        await this.c.facts.record(tx, actingUser(ctx, before, surface.id), {
          type: "user.email_changed",
          environmentId: row.environment_id,
          targets: [{ type: "user", id: row.id }],
          changes: { before: { email: before.email }, after: { email: after.email } },
        });
        await this.c.revoked(tx, row.id);
        return after;
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError(IdentityErrors.email_taken, "Another account took this address meanwhile.");
      }
      throw err;
    }
  }

  #me(ctx: ActionContext): Principal {
    const p = ctx.principal;
    if (p?.actorType !== "user" || !p.environmentId) {
      throw new AppError(PlatformErrors.forbidden, "This route needs an end-user session.");
    }
    return p;
  }
}
