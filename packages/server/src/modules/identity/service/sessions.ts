import type { Selectable } from "kysely";
import type { z } from "zod";
import { generateToken, sha256Hex } from "../../../platform/crypto.js";
import type { Tx } from "../../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ActionContext, Principal } from "../../../platform/principal.js";
import { type Surface, TenancyErrors } from "../../tenancy/index.js";
import { IdentityErrors } from "../errors.js";
import { newId } from "../ids.js";
import { type Core, normalizeEmail } from "../internal/core.js";
import { checkPasswordStrength, HashingPlace } from "../internal/passwords.js";
import { toSession, toUser } from "../internal/rows.js";
import { TOKEN_PREFIX } from "../internal/tokens.js";
import type {
  ChangePasswordInput,
  LoginInput,
  MfaChallenge,
  ResetPasswordInput,
  Session,
  SignupInput,
  User,
} from "../schemas.js";
import type { UserTable } from "../tables.js";
import type { AccessTokensService, IssuedTokens } from "./access-tokens.js";
import type { AuthSettingsService } from "./auth-settings.js";
import type { MfaPolicy } from "./mfa-policy.js";
import type { UsersService } from "./users.js";

/** Issued: a new session's token, the session and its user (plus access and refresh tokens when the surface issues them). */
type Issued = { token: string; session: Session; user: User } & Partial<IssuedTokens>;
/** SignInResult: a session, or the MFA challenge to complete first. */
export type SignInResult = Issued | z.infer<typeof MfaChallenge>;

/** OpenOptions: how a session is being opened (password when omitted). */
export interface OpenOptions {
  /** method: password, magic_link, passkey, oidc, … (recorded on the session and its fact). */
  method?: string;
  /** aal: 2 when a second factor (or a passkey, which is two) was shown. */
  aal?: 1 | 2;
}

/** SIGNUP_LIMITS: sign-up attempts per client IP (15 minutes) and per address in an environment (hour). */
export const SIGNUP_LIMITS = {
  client: { windowMs: 15 * 60_000, max: 20 },
  address: { windowMs: 60 * 60_000, max: 5 },
} as const;

/**
 * EmailChecks: what the mailed flows add to sign-up and login (`EmailFlowsService`): a
 * verification mail for a new user, and the refusal of an unverified one where the surface
 * requires a proven address.
 */
export interface EmailChecks {
  afterSignup(tx: Tx, ctx: ActionContext, user: User, surface: Surface): Promise<void>;
  beforeLogin(
    ctx: ActionContext,
    user: Selectable<UserTable>,
    surfaceId: string,
    succeeded: ((tx: Tx) => Promise<void>) | null,
  ): Promise<void>;
}

/** SessionsService: end-user sign-up, login, sessions and passwords. */
export class SessionsService {
  /** emailChecks: set once by the identity service when the mailed flows are wired. */
  emailChecks: EmailChecks | null = null;

  constructor(
    private readonly c: Core,
    private readonly users: UsersService,
    private readonly tokens: AccessTokensService,
    private readonly mfa: MfaPolicy,
    private readonly authSettings: AuthSettingsService,
  ) {}

  /** #refuseWithoutPassword: a surface whose settings turned password sign-in off takes no password. */
  async #refuseWithoutPassword(surfaceId: string): Promise<void> {
    if (!(await this.authSettings.settingsFor(surfaceId)).signIn.password) {
      throw new AppError(
        IdentityErrors.password_sign_in_disabled,
        "This surface does not take passwords: sign in with a link, a passkey or single sign-on.",
      );
    }
  }

  /**
   * signup creates a user through a surface that allows self sign-up, and logs it in. An email
   * already registered answers 409 `email_taken` (the account exists at once, with no mailbox
   * check, so the answer cannot hide it; see docs/security.md); attempts are limited per client
   * and per address (`SIGNUP_LIMITS`) in every process, so addresses cannot be checked in bulk.
   */
  async signup(ctx: ActionContext, input: z.infer<typeof SignupInput>): Promise<SignInResult> {
    const surface = await this.#surface(input.surfaceId);
    if (!surface.selfSignup)
      throw new AppError(IdentityErrors.self_signup_disabled, "Ask the product to create your account.");
    await this.#refuseWithoutPassword(surface.id);
    await this.c.throttle.limit(
      [
        { ...SIGNUP_LIMITS.client, scope: "signup_client", key: ctx.request.ip ?? "unknown" },
        {
          ...SIGNUP_LIMITS.address,
          scope: "signup_address",
          key: `${surface.environmentId}:${normalizeEmail(input.email)}`,
        },
      ],
      "Too many sign-up attempts; try again later.",
    );
    let issued: SignInResult | undefined;
    await this.users.insertUser(
      { ...ctx, principal: null },
      surface.environmentId,
      { email: input.email, password: input.password, ...(input.name ? { name: input.name } : {}) },
      {
        factType: "user.signed_up",
        surfaceId: surface.id,
        afterInsert: async (tx, user) => {
          issued = await this.completeFirstFactor(tx, ctx, user, surface.id, "password");
          await this.emailChecks?.afterSignup(tx, ctx, user, surface);
        },
      },
    );
    return issued as SignInResult;
  }

  /**
   * login checks email + password through a surface and opens a new session (a new token on every
   * login: a token planted before login is never promoted). Unknown email, wrong password and
   * disabled user all answer the same 401 after the same work.
   */
  async login(ctx: ActionContext, input: z.infer<typeof LoginInput>): Promise<SignInResult> {
    // A place in the hashing queue first: a login the queue cannot take is refused before any work.
    const admission = new HashingPlace(this.c.hasher, ctx.request.ip);
    try {
      return await this.#login(ctx, input, admission);
    } finally {
      admission.release();
    }
  }

  async #login(ctx: ActionContext, input: z.infer<typeof LoginInput>, admission: HashingPlace): Promise<SignInResult> {
    const surface = await this.#surface(input.surfaceId);
    // The surface's own choice, known before any account is looked at: it tells nothing of users.
    await this.#refuseWithoutPassword(surface.id);
    const email = normalizeEmail(input.email);
    const row = await this.c.tables
      .q()
      .selectFrom("user")
      .selectAll()
      .where("environment_id", "=", surface.environmentId)
      .where("email_normalized", "=", email)
      .executeTakeFirst();
    const { value: user, succeeded } = await this.c.throttle.attemptDeferred(
      `user:${surface.environmentId}:${email}`,
      ctx.request.ip ?? "unknown",
      async () => {
        const ok = await admission.verify(row?.password_hash ?? null, input.password);
        return { ok: ok && row !== undefined && row.disabled_at === null, value: ok ? row : undefined };
      },
      () => admission.pause(),
    );
    if (!user || user.disabled_at !== null)
      throw new AppError(IdentityErrors.invalid_login, "The email or password is wrong.");
    await this.emailChecks?.beforeLogin(ctx, user, surface.id, succeeded);
    const rehash = user.password_hash !== null && this.c.hasher.needsRehash(user.password_hash);
    const newHash = rehash ? await this.c.hasher.hash(input.password, ctx.request.ip) : null;
    return this.c.db.write(ctx, async (tx) => {
      // The user row stays locked until the session is committed: a disable, password change or
      // reset that committed since the password was checked wins, and one that comes later finds
      // this session and revokes it. Either way no session outlives a disable.
      const locked = await this.#lockUser(tx, user.id);
      if (!locked || locked.disabled_at !== null || locked.password_hash !== user.password_hash) {
        throw new AppError(IdentityErrors.invalid_login, "The email or password is wrong.");
      }
      if (newHash) await tx.updateTable("user").set({ password_hash: newHash }).where("id", "=", user.id).execute();
      // The throttle learns of the success in the same commit as the session.
      await succeeded?.(tx);
      return this.completeFirstFactor(tx, ctx, toUser(user), surface.id, "password");
    });
  }

  /** logout revokes the session making the request. */
  async logout(ctx: ActionContext): Promise<{ revoked: number }> {
    const me = this.#me(ctx);
    return this.c.db.write(ctx, (tx) =>
      this.#revoke(tx, ctx, me, (q) => q.where("id", "=", me.credentialId), "user.logged_out"),
    );
  }

  async me(ctx: ActionContext): Promise<User> {
    const me = this.#me(ctx);
    const row = await this.c.tables
      .q()
      .selectFrom("user")
      .selectAll()
      .where("environment_id", "=", me.environmentId as string)
      .where("id", "=", me.actorId)
      .executeTakeFirst();
    if (!row) throw new AppError(IdentityErrors.user_not_found, "No such user.");
    return toUser(row);
  }

  async listMySessions(ctx: ActionContext): Promise<{ data: Session[]; hasMore: false; nextCursor: null }> {
    const me = this.#me(ctx);
    const now = this.c.clock.now();
    const rows = await this.c.tables
      .q()
      .selectFrom("session")
      .selectAll()
      .where("environment_id", "=", me.environmentId as string)
      .where("user_id", "=", me.actorId)
      .where("revoked_at", "is", null)
      .where("expires_at", ">", now)
      .orderBy("id")
      .limit(500)
      .execute();
    const live = rows.filter(
      (r) => Math.max(r.last_used_at, this.c.lastUsed.latest(r.id) ?? 0) + this.c.config.sessions.idleMs > now,
    );
    return {
      data: live.map((r) => ({
        ...toSession(r, me.credentialId),
        lastUsedAt: iso(Math.max(r.last_used_at, this.c.lastUsed.latest(r.id) ?? 0)),
      })),
      hasMore: false,
      nextCursor: null,
    };
  }

  /** revokeMySession revokes one of the caller's sessions (404 for anyone else's). */
  async revokeMySession(ctx: ActionContext, sessionId: string): Promise<{ revoked: number }> {
    const me = this.#me(ctx);
    return this.c.db.write(ctx, async (tx) => {
      const exists = await this.c.tables
        .q(tx)
        .selectFrom("session")
        .select("id")
        .where("environment_id", "=", me.environmentId as string)
        .where("user_id", "=", me.actorId)
        .where("id", "=", sessionId)
        .executeTakeFirst();
      if (!exists) throw new AppError(IdentityErrors.session_not_found, `No session ${sessionId}.`);
      return this.#revoke(tx, ctx, me, (q) => q.where("id", "=", sessionId), "session.revoked");
    });
  }

  async revokeOtherSessions(ctx: ActionContext): Promise<{ revoked: number }> {
    const me = this.#me(ctx);
    return this.c.db.write(ctx, (tx) =>
      this.#revoke(tx, ctx, me, (q) => q.where("id", "!=", me.credentialId), "session.revoked_others"),
    );
  }

  async revokeAllSessions(ctx: ActionContext): Promise<{ revoked: number }> {
    const me = this.#me(ctx);
    return this.c.db.write(ctx, (tx) => this.#revoke(tx, ctx, me, (q) => q, "session.revoked_all"));
  }

  /** revokeUserSessions: the product backend ends every session of a user. */
  async revokeUserSessions(ctx: ActionContext, userId: string): Promise<{ revoked: number }> {
    const { environmentId } = this.c.access.environment(ctx, "users:write");
    await this.users.findUserById(ctx, userId);
    const owner: Principal = { actorType: "user", actorId: userId, credentialId: "", environmentId, permissions: [] };
    return this.c.db.write(ctx, (tx) => this.#revoke(tx, ctx, owner, (q) => q, "session.revoked_all"));
  }

  /** changePassword needs the current password; by default it ends the user's other sessions. */
  async changePassword(ctx: ActionContext, input: z.infer<typeof ChangePasswordInput>): Promise<{ revoked: number }> {
    const me = this.#me(ctx);
    const user = await this.me(ctx);
    const row = await this.c.tables
      .q()
      .selectFrom("user")
      .select("password_hash")
      .where("id", "=", me.actorId)
      .executeTakeFirstOrThrow();
    const ok = await this.c.throttle.attempt(
      `user:${me.environmentId}:${normalizeEmail(user.email)}`,
      ctx.request.ip ?? "unknown",
      async () => {
        const valid = await this.c.hasher.verify(row.password_hash, input.currentPassword, ctx.request.ip);
        return { ok: valid, value: valid };
      },
    );
    if (!ok) throw new AppError(IdentityErrors.current_password_wrong, "The current password is wrong.");
    checkPasswordStrength(input.newPassword, { email: user.email });
    const hash = await this.c.hasher.hash(input.newPassword, ctx.request.ip);
    return this.c.db.write(ctx, async (tx) => {
      const current = await this.#lockUser(tx, me.actorId);
      const session = await this.c.tables
        .q(tx)
        .selectFrom("session")
        .select("id")
        .where("id", "=", me.credentialId)
        .where("revoked_at", "is", null)
        .$call((qb) => this.c.db.forUpdate(qb))
        .executeTakeFirst();
      // The caller's session was revoked (or the user disabled) since the request was resolved.
      if (!current || current.disabled_at !== null || !session) {
        throw new AppError(PlatformErrors.unauthenticated, "The session is no longer valid.");
      }
      if (current.password_hash !== row.password_hash) {
        throw new AppError(IdentityErrors.password_changed, "The password changed meanwhile; sign in again.");
      }
      await tx
        .updateTable("user")
        .set({ password_hash: hash, updated_at: this.c.clock.now() })
        .where("id", "=", me.actorId)
        .execute();
      // A reset token issued before the change must not outlive it.
      await tx
        .updateTable("password_reset")
        .set({ used_at: this.c.clock.now() })
        .where("user_id", "=", me.actorId)
        .where("used_at", "is", null)
        .execute();
      await this.c.facts.record(tx, ctx, {
        type: "user.password_changed",
        environmentId: me.environmentId ?? null,
        targets: [{ type: "user", id: me.actorId }],
      });
      if (!input.revokeOtherSessions) return { revoked: 0 };
      return this.#revoke(tx, ctx, me, (q) => q.where("id", "!=", me.credentialId), "session.revoked_others");
    });
  }

  /** resetPassword redeems a single-use reset token: sets the password and ends every session. */
  async resetPassword(ctx: ActionContext, input: z.infer<typeof ResetPasswordInput>): Promise<{ revoked: number }> {
    const surface = await this.#surface(input.surfaceId);
    const invalid = () =>
      new AppError(IdentityErrors.invalid_reset_token, "The reset token is invalid, used or expired.");
    const now = this.c.clock.now();
    const reset = await this.c.tables
      .q()
      .selectFrom("password_reset")
      .innerJoin("user", "user.id", "password_reset.user_id")
      .select([
        "password_reset.id",
        "password_reset.user_id",
        "password_reset.expires_at",
        "password_reset.used_at",
        "password_reset.surface_id",
        "user.email",
        "user.disabled_at",
      ])
      .where("password_reset.token_hash", "=", sha256Hex(input.token))
      .where("password_reset.environment_id", "=", surface.environmentId)
      .executeTakeFirst();
    if (!reset || reset.used_at !== null || reset.expires_at <= now || reset.disabled_at !== null) throw invalid();
    // A mailed reset link works only through the surface it was asked through.
    if (reset.surface_id !== null && reset.surface_id !== surface.id) throw invalid();
    checkPasswordStrength(input.newPassword, { email: reset.email });
    const hash = await this.c.hasher.hash(input.newPassword, ctx.request.ip);
    const owner: Principal = {
      actorType: "user",
      actorId: reset.user_id,
      credentialId: reset.id,
      environmentId: surface.environmentId,
      surfaceId: surface.id,
      permissions: [],
    };
    const asUser = { ...ctx, principal: owner };
    return this.c.db.write(ctx, async (tx) => {
      const user = await this.#lockUser(tx, reset.user_id);
      if (!user || user.disabled_at !== null) throw invalid();
      const used = await tx
        .updateTable("password_reset")
        .set({ used_at: now })
        .where("id", "=", reset.id)
        .where("used_at", "is", null)
        .executeTakeFirst();
      if (Number(used.numUpdatedRows) !== 1) throw invalid();
      await tx
        .updateTable("user")
        .set({ password_hash: hash, updated_at: now })
        .where("id", "=", reset.user_id)
        .execute();
      // A link that came by mail proves the address too.
      if (reset.surface_id !== null) {
        await tx
          .updateTable("user")
          .set({ email_verified_at: now })
          .where("id", "=", reset.user_id)
          .where("email_verified_at", "is", null)
          .execute();
      }
      await this.c.facts.record(tx, asUser, {
        type: "user.password_reset",
        environmentId: surface.environmentId,
        targets: [{ type: "user", id: reset.user_id }],
      });
      return this.#revoke(tx, asUser, owner, (q) => q, "session.revoked_all");
    });
  }

  /**
   * completeFirstFactor is where every sign-in method goes once the user proved one factor (inside
   * the same transaction, the user checked enabled): it opens the session (`open`, aal 1) or, when
   * the user has a second factor or the surface's `mfa.policy` requires one of them, answers an MFA
   * challenge instead (`mfaRequired: true`), to complete with `POST /v1/auth/mfa/verify`. `method`
   * is the first factor (password, magic_link, oidc, …); it is recorded on the session either way.
   * A sign-in that is itself two factors (a passkey) calls `open` with aal 2 directly.
   */
  async completeFirstFactor(
    tx: Tx,
    ctx: ActionContext,
    user: User,
    surfaceId: string,
    method: string,
  ): Promise<SignInResult> {
    const due = await this.mfa.due({ environmentId: user.environmentId, userId: user.id, surfaceId }, tx);
    if (!due) return this.open(tx, ctx, user, surfaceId, { method });
    return this.mfa.issueChallenge(tx, user, surfaceId, method, due);
  }

  /**
   * open starts a session for `user` on `surfaceId` inside `tx`, with its `user.logged_in` fact.
   * Every sign-in method ends here once the user is proven (the caller has checked the user is
   * enabled, under a lock or a conditional write in the same transaction). When the surface issues
   * access tokens (`tokens.accessTokens`), the answer also carries `accessToken`,
   * `accessTokenExpiresAt` and `refreshToken`.
   */
  async open(tx: Tx, ctx: ActionContext, user: User, surfaceId: string, opts: OpenOptions = {}): Promise<Issued> {
    const now = this.c.clock.now();
    const aal = opts.aal ?? 1;
    const token = generateToken(TOKEN_PREFIX.session);
    const row = {
      id: newId("session", now),
      environment_id: user.environmentId,
      user_id: user.id,
      surface_id: surfaceId,
      token_hash: sha256Hex(token),
      created_at: now,
      last_used_at: now,
      expires_at: now + this.c.config.sessions.absoluteMs,
      revoked_at: null,
      ip: ctx.request.ip ?? null,
      user_agent: ctx.request.userAgent ?? null,
      auth_method: opts.method ?? "password",
      aal,
      second_factor_at: aal >= 2 ? now : null,
    };
    await tx.insertInto("session").values(row).execute();
    const asUser: ActionContext = {
      ...ctx,
      principal: {
        actorType: "user",
        actorId: user.id,
        credentialId: row.id,
        environmentId: user.environmentId,
        surfaceId,
        permissions: [],
        displayName: user.email,
      },
    };
    await this.c.facts.record(tx, asUser, {
      type: "user.logged_in",
      environmentId: user.environmentId,
      targets: [
        { type: "user", id: user.id },
        { type: "session", id: row.id },
      ],
      data: { surfaceId, method: row.auth_method, aal },
    });
    const tokens = await this.tokens.issueWithSession(tx, {
      id: row.id,
      environmentId: row.environment_id,
      userId: row.user_id,
      surfaceId,
      createdAt: now,
      expiresAt: row.expires_at,
      authMethod: row.auth_method,
      aal,
    });
    return { token, session: toSession(row, row.id), user, ...tokens };
  }

  async #revoke(
    tx: Tx,
    ctx: ActionContext,
    owner: Principal,
    narrow: (q: ReturnType<SessionsService["baseRevoke"]>) => ReturnType<SessionsService["baseRevoke"]>,
    factType: string,
  ): Promise<{ revoked: number }> {
    const now = this.c.clock.now();
    const ids = await narrow(this.baseRevoke(tx, owner)).select("id").execute();
    if (ids.length === 0) return { revoked: 0 };
    await tx
      .updateTable("session")
      .set({ revoked_at: now })
      .where(
        "id",
        "in",
        ids.map((r) => r.id),
      )
      .execute();
    for (const { id } of ids) await this.c.revoked(tx, id);
    await this.c.facts.record(tx, ctx, {
      type: factType,
      environmentId: owner.environmentId ?? null,
      targets: [{ type: "user", id: owner.actorId }, ...ids.map(({ id }) => ({ type: "session", id }))],
      data: { count: ids.length },
    });
    return { revoked: ids.length };
  }

  /** @internal the live sessions of a user, for revocation queries. */
  baseRevoke(tx: Tx, owner: Principal) {
    return this.c.tables
      .q(tx)
      .selectFrom("session")
      .where("environment_id", "=", owner.environmentId as string)
      .where("user_id", "=", owner.actorId)
      .where("revoked_at", "is", null);
  }

  /** #lockUser reads a user's row inside `tx` and keeps it locked until `tx` ends (undefined when gone). */
  #lockUser(tx: Tx, id: string) {
    return this.c.tables
      .q(tx)
      .selectFrom("user")
      .select(["id", "disabled_at", "password_hash"])
      .where("id", "=", id)
      .$call((qb) => this.c.db.forUpdate(qb))
      .executeTakeFirst();
  }

  #me(ctx: ActionContext): Principal {
    const p = ctx.principal;
    if (p?.actorType !== "user" || !p.environmentId) {
      throw new AppError(PlatformErrors.forbidden, "This route needs an end-user session.");
    }
    return p;
  }

  async #surface(id: string) {
    const surface = await this.c.tenancy.surfaces.findActiveSurface(id);
    if (!surface) throw new AppError(TenancyErrors.surface_not_found, `No active surface ${id}.`);
    return surface;
  }
}
