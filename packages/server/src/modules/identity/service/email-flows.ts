import type { Selectable } from "kysely";
import type { z } from "zod";
import { generateToken, sha256Hex } from "../../../platform/crypto.js";
import type { Tx } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ActionContext } from "../../../platform/principal.js";
import type { Surface } from "../../tenancy/index.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { IdentityErrors } from "../errors.js";
import { newId } from "../ids.js";
import { type Core, normalizeEmail } from "../internal/core.js";
import { EMAIL_TOKEN_TTL_MS, invalidLink, issueEmailToken, redeemEmailToken } from "../internal/email-tokens.js";
import { toUser } from "../internal/rows.js";
import type { AuthSettings } from "../internal/settings/index.js";
import { TOKEN_PREFIX } from "../internal/tokens.js";
import type { EmailRequestInput, TokenInput, User } from "../schemas.js";
import type { UserTable } from "../tables.js";
import type { AuthSettingsService } from "./auth-settings.js";
import type { MailService } from "./mail.js";
import type { SessionsService } from "./sessions.js";
import { PASSWORD_RESET_TTL_MS } from "./users.js";

/** MAIL_REQUEST_LIMITS: mailed-link requests per client IP (15 minutes) and per address in an environment (hour). */
export const MAIL_REQUEST_LIMITS = {
  client: { windowMs: 15 * 60_000, max: 20 },
  address: { windowMs: 60 * 60_000, max: 5 },
} as const;

type UserRow = Selectable<UserTable>;

/**
 * EmailFlowsService: the flows that prove an address by mail: verification, password reset by
 * link, magic-link sign-in. Requests answer alike whether the address is known or not (a mail
 * goes out only to a known, enabled user) and are throttled per client and per address; every
 * link is single use, short-lived, bound to the surface it was asked through, and stored as
 * SHA-256 only.
 */
export class EmailFlowsService {
  constructor(
    private readonly c: Core,
    private readonly mail: MailService,
    private readonly sessions: SessionsService,
    private readonly authSettings: AuthSettingsService,
  ) {}

  /** requestVerification mails a verification link to a known, unverified user (202 alike otherwise). */
  async requestVerification(ctx: ActionContext, input: z.infer<typeof EmailRequestInput>): Promise<{ accepted: true }> {
    const { surface, settings } = await this.#mailingSurface(input.surfaceId);
    await this.#throttle(ctx, surface, input.email);
    const user = await this.#userByEmail(surface.environmentId, input.email);
    if (user && user.disabled_at === null && user.email_verified_at === null) {
      await this.c.db.write(ctx, (tx) => this.queueVerification(tx, ctx, toUser(user), surface, settings));
    }
    return { accepted: true };
  }

  /**
   * sendVerification: the product backend mails a user a verification link through its key's
   * surface. `sent: false` with the reason when nothing was queued: the address is already
   * verified, or the surface has no `email.appUrl`.
   */
  async sendVerification(
    ctx: ActionContext,
    userId: string,
  ): Promise<{ sent: boolean; reason: "already_verified" | "email_not_configured" | null }> {
    const { environmentId, principal } = this.c.access.environment(ctx, "users:write");
    const row = await this.#userById(environmentId, userId);
    if (!row) throw new AppError(IdentityErrors.user_not_found, `No user ${userId}.`);
    if (row.disabled_at !== null) throw new AppError(IdentityErrors.user_disabled, "The user is disabled.");
    if (row.email_verified_at !== null) return { sent: false, reason: "already_verified" };
    const surface = await this.#surface(principal.surfaceId ?? "");
    const settings = await this.authSettings.settingsFor(surface.id);
    if (!settings.email.appUrl) return { sent: false, reason: "email_not_configured" };
    await this.c.db.write(ctx, (tx) => this.queueVerification(tx, ctx, toUser(row), surface, settings, false));
    return { sent: true, reason: null };
  }

  /**
   * queueVerification issues a verification link and queues its mail inside `tx`, with its fact.
   * Returns false (nothing queued) when the surface has no `email.appUrl`.
   */
  async queueVerification(
    tx: Tx,
    ctx: ActionContext,
    user: User,
    surface: Surface,
    settings: AuthSettings,
    asUser = true,
  ): Promise<boolean> {
    if (!settings.email.appUrl) return false;
    const { token } = await issueEmailToken(this.c, tx, {
      purpose: "verify_email",
      environmentId: surface.environmentId,
      surfaceId: surface.id,
      userId: user.id,
    });
    await this.mail.queue(tx, {
      surface,
      to: user.email,
      template: "verify_email",
      vars: {
        name: user.name ?? user.email,
        link: this.mail.linkFor(settings, "verify-email", token),
        expiresInMinutes: EMAIL_TOKEN_TTL_MS.verify_email / 60_000,
      },
    });
    await this.c.facts.record(tx, asUser ? actingUser(ctx, user, surface.id) : ctx, {
      type: "user.email_verification_requested",
      environmentId: surface.environmentId,
      targets: [{ type: "user", id: user.id }],
      data: { surfaceId: surface.id },
    });
    return true;
  }

  /** confirmVerification redeems a verification link: the user's address is proven. */
  async confirmVerification(ctx: ActionContext, input: z.infer<typeof TokenInput>): Promise<{ emailVerified: true }> {
    const surface = await this.#surface(input.surfaceId);
    await this.c.db.write(ctx, async (tx) => {
      const token = await redeemEmailToken(this.c, tx, "verify_email", surface, input.token);
      const user = await this.#lockUser(tx, token.user_id);
      if (!user || user.disabled_at !== null) throw invalidLink();
      await this.markVerified(tx, ctx, toUser(user), surface.id, "verify_email");
    });
    return { emailVerified: true };
  }

  /** markVerified sets `email_verified_at` once, with its fact (a no-op for a verified user). */
  async markVerified(tx: Tx, ctx: ActionContext, user: User, surfaceId: string, method: string): Promise<void> {
    const done = await this.c.tables
      .q(tx)
      .updateTable("user")
      .set({ email_verified_at: this.c.clock.now() })
      .where("id", "=", user.id)
      .where("email_verified_at", "is", null)
      .executeTakeFirst();
    if (Number(done.numUpdatedRows) !== 1) return;
    await this.c.facts.record(tx, actingUser(ctx, user, surfaceId), {
      type: "user.email_verified",
      environmentId: user.environmentId,
      targets: [{ type: "user", id: user.id }],
      data: { surfaceId, method },
    });
  }

  /**
   * refuseUnverified is the login check of `email.requireVerification`: a user whose address is
   * not proven gets a new verification mail (within the per-address limit) and a 403
   * `email_not_verified`. Runs only after the password was found right.
   */
  async refuseUnverified(
    ctx: ActionContext,
    user: UserRow,
    surfaceId: string,
    succeeded: ((tx: Tx) => Promise<void>) | null,
  ): Promise<void> {
    if (user.email_verified_at !== null) return;
    const settings = await this.authSettings.settingsFor(surfaceId);
    if (!settings.email.requireVerification) return;
    const surface = await this.#surface(surfaceId);
    let mailed = false;
    try {
      await this.#throttle(ctx, surface, user.email);
      mailed = true;
    } catch {
      // Over the per-address limit: no new mail, the same refusal.
    }
    await this.c.db.write(ctx, async (tx) => {
      await succeeded?.(tx);
      if (mailed) await this.queueVerification(tx, ctx, toUser(user), surface, settings);
    });
    throw new AppError(
      IdentityErrors.email_not_verified,
      "Confirm your email address first: a link was sent to it (ask for another with /v1/auth/email-verification/request).",
    );
  }

  /** requestPasswordReset mails a reset link to a known, enabled user (202 alike otherwise). */
  async requestPasswordReset(
    ctx: ActionContext,
    input: z.infer<typeof EmailRequestInput>,
  ): Promise<{ accepted: true }> {
    const { surface, settings } = await this.#mailingSurface(input.surfaceId);
    await this.#throttle(ctx, surface, input.email);
    const user = await this.#userByEmail(surface.environmentId, input.email);
    if (user && user.disabled_at === null) {
      await this.c.db.write(ctx, async (tx) => {
        const locked = await this.#lockUser(tx, user.id);
        if (!locked || locked.disabled_at !== null) return;
        await this.queuePasswordReset(tx, actingUser(ctx, toUser(user), surface.id), toUser(user), surface, settings);
      });
    }
    return { accepted: true };
  }

  /**
   * sendPasswordReset: the product backend mails a user a reset link through its key's surface
   * (`POST /v1/users/:userId/password-reset-tokens` with `send: true`); the token is not returned.
   */
  async sendPasswordReset(ctx: ActionContext, userId: string): Promise<{ token: null; expiresAt: string; sent: true }> {
    const { environmentId, principal } = this.c.access.environment(ctx, "users:write");
    // Another environment's user answers 404 before anything about the surface is told.
    if (!(await this.#userById(environmentId, userId))) {
      throw new AppError(IdentityErrors.user_not_found, `No user ${userId}.`);
    }
    const { surface, settings } = await this.#mailingSurface(principal.surfaceId ?? "");
    return this.c.db.write(ctx, async (tx) => {
      const user = await this.#lockUser(tx, userId);
      if (!user || user.environment_id !== environmentId)
        throw new AppError(IdentityErrors.user_not_found, `No user ${userId}.`);
      if (user.disabled_at !== null) throw new AppError(IdentityErrors.user_disabled, "The user is disabled.");
      const expiresAt = await this.queuePasswordReset(tx, ctx, toUser(user), surface, settings);
      return { token: null, expiresAt: iso(expiresAt), sent: true };
    });
  }

  /** queuePasswordReset issues a reset token bound to the surface (voiding earlier ones) and queues its mail. */
  async queuePasswordReset(
    tx: Tx,
    ctx: ActionContext,
    user: User,
    surface: Surface,
    settings: AuthSettings,
  ): Promise<number> {
    const now = this.c.clock.now();
    await this.c.tables
      .q(tx)
      .updateTable("password_reset")
      .set({ used_at: now })
      .where("environment_id", "=", surface.environmentId)
      .where("user_id", "=", user.id)
      .where("used_at", "is", null)
      .execute();
    const token = generateToken(TOKEN_PREFIX.passwordReset);
    const expiresAt = now + PASSWORD_RESET_TTL_MS;
    await this.c.tables
      .q(tx)
      .insertInto("password_reset")
      .values({
        id: newId("passwordReset", now),
        environment_id: surface.environmentId,
        user_id: user.id,
        token_hash: sha256Hex(token),
        created_at: now,
        expires_at: expiresAt,
        used_at: null,
        surface_id: surface.id,
      })
      .execute();
    await this.mail.queue(tx, {
      surface,
      to: user.email,
      template: "password_reset",
      vars: {
        name: user.name ?? user.email,
        link: this.mail.linkFor(settings, "reset-password", token),
        expiresInMinutes: PASSWORD_RESET_TTL_MS / 60_000,
      },
    });
    await this.c.facts.record(tx, ctx, {
      type: "user.password_reset_requested",
      environmentId: surface.environmentId,
      targets: [{ type: "user", id: user.id }],
      data: { expiresAt: iso(expiresAt) },
    });
    return expiresAt;
  }

  /** requestMagicLink mails a sign-in link to a known, enabled user of a surface offering them (202 alike otherwise). */
  async requestMagicLink(ctx: ActionContext, input: z.infer<typeof EmailRequestInput>): Promise<{ accepted: true }> {
    const { surface, settings } = await this.#mailingSurface(input.surfaceId);
    if (!settings.signIn.magicLink) {
      throw new AppError(
        IdentityErrors.magic_link_disabled,
        "Turn on signIn.magicLink in the surface's auth settings.",
      );
    }
    await this.#throttle(ctx, surface, input.email);
    const user = await this.#userByEmail(surface.environmentId, input.email);
    if (user && user.disabled_at === null) {
      await this.c.db.write(ctx, async (tx) => {
        const { token, expiresAt } = await issueEmailToken(this.c, tx, {
          purpose: "magic_link",
          environmentId: surface.environmentId,
          surfaceId: surface.id,
          userId: user.id,
        });
        await this.mail.queue(tx, {
          surface,
          to: user.email,
          template: "magic_link",
          vars: {
            name: user.name ?? user.email,
            link: this.mail.linkFor(settings, "magic-link", token),
            expiresInMinutes: EMAIL_TOKEN_TTL_MS.magic_link / 60_000,
          },
        });
        await this.c.facts.record(tx, actingUser(ctx, toUser(user), surface.id), {
          type: "user.magic_link_requested",
          environmentId: surface.environmentId,
          targets: [{ type: "user", id: user.id }],
          data: { surfaceId: surface.id, expiresAt: iso(expiresAt) },
        });
      });
    }
    return { accepted: true };
  }

  /** redeemMagicLink signs in with a magic link once (it also proves the address). */
  async redeemMagicLink(ctx: ActionContext, input: z.infer<typeof TokenInput>) {
    const surface = await this.#surface(input.surfaceId);
    const settings = await this.authSettings.settingsFor(surface.id);
    if (!settings.signIn.magicLink) throw invalidLink();
    return this.c.db.write(ctx, async (tx) => {
      const token = await redeemEmailToken(this.c, tx, "magic_link", surface, input.token);
      const row = await this.#lockUser(tx, token.user_id);
      if (!row || row.disabled_at !== null) throw invalidLink();
      await this.markVerified(tx, ctx, toUser(row), surface.id, "magic_link");
      const user = {
        ...toUser(row),
        emailVerified: true,
        emailVerifiedAt: iso(row.email_verified_at ?? this.c.clock.now()),
      };
      // A second factor, when due, is asked for as after a password.
      return this.sessions.completeFirstFactor(tx, ctx, user, surface.id, "magic_link");
    });
  }

  async #throttle(ctx: ActionContext, surface: Surface, email: string): Promise<void> {
    await this.c.throttle.limit(
      [
        { ...MAIL_REQUEST_LIMITS.client, scope: "mail_client", key: ctx.request.ip ?? "unknown" },
        {
          ...MAIL_REQUEST_LIMITS.address,
          scope: "mail_address",
          key: `${surface.environmentId}:${normalizeEmail(email)}`,
        },
      ],
      "Too many mails asked for; try again later.",
    );
  }

  /** #mailingSurface: an active surface that can send mails with links (409 `email_not_configured` otherwise). */
  async #mailingSurface(surfaceId: string): Promise<{ surface: Surface; settings: AuthSettings }> {
    const surface = await this.#surface(surfaceId);
    const settings = await this.authSettings.settingsFor(surface.id);
    if (!settings.email.appUrl) {
      throw new AppError(
        IdentityErrors.email_not_configured,
        `Surface ${surface.id} has no email.appUrl: set it (PATCH /v1/surfaces/${surface.id}/auth-settings) so mails can carry links.`,
      );
    }
    return { surface, settings };
  }

  async #surface(id: string): Promise<Surface> {
    const surface = await this.c.tenancy.surfaces.findActiveSurface(id);
    if (!surface) throw new AppError(TenancyErrors.surface_not_found, `No active surface ${id}.`);
    return surface;
  }

  #userByEmail(environmentId: string, email: string) {
    return this.c.tables
      .q()
      .selectFrom("user")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("email_normalized", "=", normalizeEmail(email))
      .executeTakeFirst();
  }

  #userById(environmentId: string, id: string) {
    return this.c.tables
      .q()
      .selectFrom("user")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .executeTakeFirst();
  }

  #lockUser(tx: Tx, id: string) {
    return this.c.tables
      .q(tx)
      .selectFrom("user")
      .selectAll()
      .where("id", "=", id)
      .$call((qb) => this.c.db.forUpdate(qb))
      .executeTakeFirst();
  }
}

/** actingUser: the context of a user acting through a mailed link (its audit entry names the user and surface). */
export function actingUser(ctx: ActionContext, user: User, surfaceId: string): ActionContext {
  return {
    ...ctx,
    principal: {
      actorType: "user",
      actorId: user.id,
      credentialId: "email_link",
      environmentId: user.environmentId,
      surfaceId,
      permissions: [],
      displayName: user.email,
    },
  };
}
