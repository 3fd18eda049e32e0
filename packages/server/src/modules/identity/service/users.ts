import type { z } from "zod";
import { generateToken, sha256Hex } from "../../../platform/crypto.js";
import { containsPattern, isUniqueViolation, type Tx, toJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ActionContext } from "../../../platform/principal.js";
import { IdentityErrors } from "../errors.js";
import { newId } from "../ids.js";
import { type Core, normalizeEmail } from "../internal/core.js";
import { checkPasswordStrength } from "../internal/passwords.js";
import { toSession, toUser } from "../internal/rows.js";
import { TOKEN_PREFIX } from "../internal/tokens.js";
import type { CreateUserInput, ListQuery, ListUsersQuery, UpdateUserInput, User } from "../schemas.js";

/** PASSWORD_RESET_TTL_MS: reset tokens are single-use and live one hour. */
export const PASSWORD_RESET_TTL_MS = 60 * 60_000;

/** UsersService: environment-scoped end-user identities, managed by the product backend (secret key). */
export class UsersService {
  constructor(private readonly c: Core) {}

  async createUser(ctx: ActionContext, input: z.infer<typeof CreateUserInput>): Promise<User> {
    const { environmentId } = this.c.access.environment(ctx, "users:write");
    return this.insertUser(ctx, environmentId, input, { factType: "user.created" });
  }

  /**
   * insertUser creates a user in an environment: by the product backend (`user.created`, the
   * caller acts) or by self sign-up through `surfaceId` (`user.signed_up`, the new user acts).
   * Throws 409 `email_taken`.
   */
  async insertUser(
    ctx: ActionContext,
    environmentId: string,
    input: z.infer<typeof CreateUserInput>,
    options: (
      | { factType: "user.created"; afterInsert?: (tx: Tx, user: User) => Promise<void> }
      | { factType: "user.signed_up"; surfaceId: string; afterInsert?: (tx: Tx, user: User) => Promise<void> }
    ) & {
      /** emailVerified: the address is already proven (an IdP asserted it). */
      emailVerified?: boolean;
    },
  ): Promise<User> {
    const { factType, afterInsert } = options;
    if (input.password !== undefined) checkPasswordStrength(input.password, { email: input.email });
    const passwordHash = input.password === undefined ? null : await this.c.hasher.hash(input.password, ctx.request.ip);
    try {
      return await this.c.db.write(ctx, async (tx) => {
        const now = this.c.clock.now();
        const row = {
          id: newId("user", now),
          environment_id: environmentId,
          email: input.email,
          email_normalized: normalizeEmail(input.email),
          name: input.name ?? null,
          profile: toJson(input.profile ?? {}),
          password_hash: passwordHash,
          disabled_at: null,
          email_verified_at: options.emailVerified ? now : null,
          created_at: now,
          updated_at: now,
        };
        await tx.insertInto("user").values(row).execute();
        const user = toUser(row);
        // A self sign-up is the new user's own act: its audit entry names the user and the surface.
        const actor: ActionContext =
          options.factType === "user.signed_up"
            ? {
                ...ctx,
                principal: {
                  actorType: "user",
                  actorId: row.id,
                  credentialId: "signup",
                  environmentId,
                  surfaceId: options.surfaceId,
                  permissions: [],
                  displayName: row.email,
                },
              }
            : ctx;
        await this.c.facts.record(tx, actor, {
          type: factType,
          environmentId,
          targets: [{ type: "user", id: row.id }],
          data: { email: row.email, name: row.name, passwordSet: passwordHash !== null },
        });
        await afterInsert?.(tx, user);
        return user;
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError(IdentityErrors.email_taken, "A user with this email exists in the environment.");
      }
      throw err;
    }
  }

  async listUsers(ctx: ActionContext, query: z.infer<typeof ListUsersQuery>) {
    const { environmentId } = this.c.access.environment(ctx, "users:read");
    const like = query.q ? containsPattern(query.q) : null;
    return pageById(
      this.c.tables
        .q()
        .selectFrom("user")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .$if(query.email !== undefined, (qb) =>
          qb.where("email_normalized", "=", normalizeEmail(query.email as string)),
        )
        .$if(like !== null, (qb) =>
          qb.where((eb) =>
            eb.or([
              eb("email_normalized", "like", like as string),
              eb(eb.fn("lower", ["name"]), "like", like as string),
            ]),
          ),
        ),
      query,
      toUser,
    );
  }

  async findUserById(ctx: ActionContext, id: string): Promise<User> {
    const { environmentId } = this.c.access.environment(ctx, "users:read");
    return toUser(await this.#user(environmentId, id));
  }

  /**
   * lookupUser returns a user of an environment for another module's use case (access: members,
   * agent keys, invitations), or null. No permission check: the calling use case guards.
   */
  async lookupUser(
    environmentId: string,
    by: { id: string } | { email: string },
    tx?: Tx,
  ): Promise<{ id: string; email: string; disabled: boolean } | null> {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("user")
      .select(["id", "email", "disabled_at"])
      .where("environment_id", "=", environmentId)
      .$if("id" in by, (qb) => qb.where("id", "=", (by as { id: string }).id))
      .$if("email" in by, (qb) => qb.where("email_normalized", "=", normalizeEmail((by as { email: string }).email)))
      .executeTakeFirst();
    return row ? { id: row.id, email: row.email, disabled: row.disabled_at !== null } : null;
  }

  /**
   * lockUserForSignIn reads a user of an environment inside `tx` (by id or by address) and keeps
   * its row locked until `tx` ends, for another module's sign-in method that opens a session in
   * the same transaction (see `SessionsService.open`): a disable that commits first is seen, one
   * that comes later waits and then revokes the session. Null when there is no such user.
   */
  async lockUserForSignIn(tx: Tx, environmentId: string, by: { id: string } | { email: string }): Promise<User | null> {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("user")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .$if("id" in by, (qb) => qb.where("id", "=", (by as { id: string }).id))
      .$if("email" in by, (qb) => qb.where("email_normalized", "=", normalizeEmail((by as { email: string }).email)))
      .$call((qb) => this.c.db.forUpdate(qb))
      .executeTakeFirst();
    return row ? toUser(row) : null;
  }

  /** updateUser changes profile fields or the disabled flag; disabling ends every session at once. */
  async updateUser(ctx: ActionContext, id: string, input: z.infer<typeof UpdateUserInput>): Promise<User> {
    const { environmentId } = this.c.access.environment(ctx, "users:write");
    try {
      return await this.c.db.write(ctx, async (tx) => {
        // Locked until commit: a login or reset-token issue racing a disable either commits first
        // (and is revoked below) or waits and sees the user disabled.
        const before = toUser(await this.#user(environmentId, id, tx, { lock: true }));
        const now = this.c.clock.now();
        const after: User = {
          ...before,
          email: input.email ?? before.email,
          name: input.name === undefined ? before.name : input.name,
          profile: input.profile ?? before.profile,
          disabled: input.disabled ?? before.disabled,
          updatedAt: iso(now),
        };
        const fields = (["email", "name", "profile", "disabled"] as const).filter(
          (f) => JSON.stringify(before[f]) !== JSON.stringify(after[f]),
        );
        if (fields.length === 0) return before;
        await tx
          .updateTable("user")
          .set({
            email: after.email,
            email_normalized: normalizeEmail(after.email),
            name: after.name,
            profile: toJson(after.profile),
            ...(after.disabled !== before.disabled ? { disabled_at: after.disabled ? now : null } : {}),
            updated_at: now,
          })
          .where("environment_id", "=", environmentId)
          .where("id", "=", id)
          .execute();
        if (after.disabled && !before.disabled) {
          await tx
            .updateTable("session")
            .set({ revoked_at: now })
            .where("environment_id", "=", environmentId)
            .where("user_id", "=", id)
            .where("revoked_at", "is", null)
            .execute();
          // Pending reset tokens die too: re-enabling the user must not revive them.
          await tx
            .updateTable("password_reset")
            .set({ used_at: now })
            .where("environment_id", "=", environmentId)
            .where("user_id", "=", id)
            .where("used_at", "is", null)
            .execute();
          await this.c.revoked(tx, id);
        }
        const type =
          after.disabled !== before.disabled ? (after.disabled ? "user.disabled" : "user.enabled") : "user.updated";
        await this.c.facts.record(tx, ctx, {
          type,
          environmentId,
          targets: [{ type: "user", id }],
          changes: {
            before: Object.fromEntries(fields.map((f) => [f, before[f]])),
            after: Object.fromEntries(fields.map((f) => [f, after[f]])),
          },
        });
        return after;
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError(IdentityErrors.email_taken, "A user with this email exists in the environment.");
      }
      throw err;
    }
  }

  /** createPasswordResetToken issues a single-use reset token for the product to deliver itself. */
  async createPasswordResetToken(ctx: ActionContext, id: string): Promise<{ token: string; expiresAt: string }> {
    const { environmentId } = this.c.access.environment(ctx, "users:write");
    return this.c.db.write(ctx, async (tx) => {
      const user = await this.#user(environmentId, id, tx, { lock: true });
      if (user.disabled_at !== null) throw new AppError(IdentityErrors.user_disabled, "The user is disabled.");
      const now = this.c.clock.now();
      // A new token replaces any unused earlier one.
      await tx
        .updateTable("password_reset")
        .set({ used_at: now })
        .where("environment_id", "=", environmentId)
        .where("user_id", "=", id)
        .where("used_at", "is", null)
        .execute();
      const token = generateToken(TOKEN_PREFIX.passwordReset);
      const expiresAt = now + PASSWORD_RESET_TTL_MS;
      await tx
        .insertInto("password_reset")
        .values({
          id: newId("passwordReset", now),
          environment_id: environmentId,
          user_id: id,
          token_hash: sha256Hex(token),
          created_at: now,
          expires_at: expiresAt,
          used_at: null,
        })
        .execute();
      await this.c.facts.record(tx, ctx, {
        type: "user.password_reset_requested",
        environmentId,
        targets: [{ type: "user", id }],
        data: { expiresAt: iso(expiresAt) },
      });
      return { token, expiresAt: iso(expiresAt) };
    });
  }

  async listUserSessions(ctx: ActionContext, id: string, query: z.infer<typeof ListQuery>) {
    const { environmentId } = this.c.access.environment(ctx, "users:read");
    await this.#user(environmentId, id);
    const now = this.c.clock.now();
    return pageById(
      this.c.tables
        .q()
        .selectFrom("session")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .where("user_id", "=", id)
        .where("revoked_at", "is", null)
        .where("expires_at", ">", now)
        .where("last_used_at", ">", now - this.c.config.sessions.idleMs),
      query,
      (r) => toSession(r),
    );
  }

  /** #user reads a user of the environment; with `lock` (inside a write) its row stays locked until the transaction ends. */
  /** emailsOf maps users of an environment to their email (ids not found are left out): for reports. */
  async emailsOf(environmentId: string, ids: readonly string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows = await this.c.tables
      .q()
      .selectFrom("user")
      .select(["id", "email"])
      .where("environment_id", "=", environmentId)
      .where("id", "in", [...new Set(ids)])
      .execute();
    return new Map(rows.map((r) => [r.id, r.email]));
  }

  /** withSecondFactor lists which of these users of an environment have an active second factor (TOTP or a passkey). */
  async withSecondFactor(environmentId: string, ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const unique = [...new Set(ids)];
    const [totp, passkeys] = await Promise.all([
      this.c.tables
        .q()
        .selectFrom("mfa_factor")
        .select("user_id")
        .where("environment_id", "=", environmentId)
        .where("status", "=", "active")
        .where("user_id", "in", unique)
        .execute(),
      this.c.tables
        .q()
        .selectFrom("passkey")
        .select("user_id")
        .where("environment_id", "=", environmentId)
        .where("revoked_at", "is", null)
        .where("user_id", "in", unique)
        .execute(),
    ]);
    return new Set([...totp, ...passkeys].map((r) => r.user_id));
  }

  async #user(environmentId: string, id: string, tx?: Tx, options: { lock?: boolean } = {}) {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("user")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .$if(options.lock === true, (qb) => this.c.db.forUpdate(qb))
      .executeTakeFirst();
    if (!row) throw new AppError(IdentityErrors.user_not_found, `No user ${id}.`);
    return row;
  }
}
