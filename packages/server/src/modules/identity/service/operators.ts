import type { z } from "zod";
import { generateToken, sha256Hex } from "../../../platform/crypto.js";
import { isUniqueViolation, type Tx } from "../../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { ActionContext, Principal } from "../../../platform/principal.js";
import { IdentityErrors } from "../errors.js";
import { newId } from "../ids.js";
import { type Core, normalizeEmail } from "../internal/core.js";
import { checkPasswordStrength, HashingPlace } from "../internal/passwords.js";
import { toOperator, toOperatorToken } from "../internal/rows.js";
import { TOKEN_PREFIX } from "../internal/tokens.js";
import type {
  CreateOperatorInput,
  CreateOperatorTokenInput,
  ListQuery,
  Operator,
  OperatorToken,
  UpdateOperatorInput,
} from "../schemas.js";
import { OperatorMfaService } from "./operator-mfa.js";
import { operatorPermissions } from "./resolve.js";

/** Issued: a new operator token with its secret (shown once) and the operator it belongs to. */
type Issued = OperatorToken & { token: string; operator: Operator };

/** OperatorsService: plane staff accounts (admin, support), their logins and API tokens. */
export class OperatorsService {
  /** mfa: operators' second factor (asked at sign-in once on). */
  readonly mfa: OperatorMfaService;

  constructor(private readonly c: Core) {
    this.mfa = new OperatorMfaService(c);
  }

  /** countOperators tells whether the plane has been initialised. */
  async countOperators(): Promise<number> {
    const row = await this.c.tables
      .q()
      .selectFrom("operator")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * bootstrapOperator creates the first admin of an empty plane and an API token for it, in one
   * transaction that refuses if any operator exists (so two `baseplate init` runs cannot both win).
   */
  async bootstrapOperator(ctx: ActionContext, input: z.infer<typeof CreateOperatorInput>): Promise<Issued> {
    checkPasswordStrength(input.password, { email: input.email });
    const passwordHash = await this.c.hasher.hash(input.password, ctx.request.ip);
    return this.c.db.write(ctx, async (tx) => {
      await this.#lockOperators(tx);
      if ((await this.c.tables.q(tx).selectFrom("operator").select("id").limit(1).execute()).length > 0) {
        throw new AppError(IdentityErrors.email_taken, "The plane is already initialised.");
      }
      const operator = await this.#insert(tx, ctx, { ...input, role: "admin" }, passwordHash);
      return this.#issueToken(tx, ctx, operator, "api", "baseplate init", null);
    });
  }

  async createOperator(ctx: ActionContext, input: z.infer<typeof CreateOperatorInput>): Promise<Operator> {
    this.c.access.operator(ctx, "operators:write");
    checkPasswordStrength(input.password, { email: input.email });
    const passwordHash = await this.c.hasher.hash(input.password, ctx.request.ip);
    try {
      return await this.c.db.write(ctx, (tx) => this.#insert(tx, ctx, input, passwordHash));
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError(IdentityErrors.email_taken, "An operator with this email exists.");
      throw err;
    }
  }

  async listOperators(ctx: ActionContext, query: z.infer<typeof ListQuery>) {
    this.c.access.operator(ctx, "operators:read");
    const page = await pageById(this.c.tables.q().selectFrom("operator").selectAll(), query, toOperator);
    const on = await this.mfa.enabled(page.data.map((o) => o.id));
    return { ...page, data: page.data.map((o) => ({ ...o, mfa: on.has(o.id) })) };
  }

  async findOperatorById(ctx: ActionContext, id: string): Promise<Operator> {
    this.c.access.operator(ctx, "operators:read");
    const row = await this.#operator(id);
    return toOperator(row, (await this.mfa.enabled([id])).has(id));
  }

  /** updateOperator changes name, role or disabled; disabling revokes every token of the operator. */
  async updateOperator(ctx: ActionContext, id: string, input: z.infer<typeof UpdateOperatorInput>): Promise<Operator> {
    this.c.access.operator(ctx, "operators:write");
    return this.c.db.write(ctx, async (tx) => {
      if (input.role !== undefined || input.disabled !== undefined) await this.#lockOperators(tx);
      // Locked until commit: a login or token issue racing a disable either commits first (and is
      // revoked below) or waits and sees the operator disabled.
      const before = toOperator(
        await this.#operator(id, tx, { lock: true }),
        (await this.mfa.enabled([id], tx)).has(id),
      );
      const now = this.c.clock.now();
      const after: Operator = {
        ...before,
        name: input.name ?? before.name,
        role: input.role ?? before.role,
        disabled: input.disabled ?? before.disabled,
        updatedAt: iso(now),
      };
      const losesAdmin = before.role === "admin" && !before.disabled && (after.role !== "admin" || after.disabled);
      if (losesAdmin) {
        const admins = await this.c.tables
          .q(tx)
          .selectFrom("operator")
          .select("id")
          .where("role", "=", "admin")
          .where("disabled_at", "is", null)
          .execute();
        if (admins.length <= 1) throw new AppError(IdentityErrors.last_admin, "Promote another admin first.");
      }
      const changed = (["name", "role", "disabled"] as const).filter((f) => before[f] !== after[f]);
      if (changed.length === 0) return before;
      await tx
        .updateTable("operator")
        .set({
          name: after.name,
          role: after.role,
          disabled_at: after.disabled ? (before.disabled ? undefined : now) : null,
          updated_at: now,
        })
        .where("id", "=", id)
        .execute();
      if (after.disabled && !before.disabled) {
        // Disabling ends every token for good: re-enabling the operator does not revive them.
        await tx
          .updateTable("operator_token")
          .set({ revoked_at: now })
          .where("operator_id", "=", id)
          .where("revoked_at", "is", null)
          .execute();
      }
      if (before.role !== after.role || after.disabled) await this.c.revoked(tx, id);
      await this.c.facts.record(tx, ctx, {
        type: after.disabled && !before.disabled ? "operator.disabled" : "operator.updated",
        environmentId: null,
        targets: [{ type: "operator", id }],
        changes: {
          before: Object.fromEntries(changed.map((f) => [f, before[f]])),
          after: Object.fromEntries(changed.map((f) => [f, after[f]])),
        },
      });
      return after;
    });
  }

  /** loginOperator checks email + password (throttled) and opens an operator session. */
  async loginOperator(ctx: ActionContext, email: string, password: string, code?: string): Promise<Issued> {
    // A place in the hashing queue first: a login the queue cannot take is refused before any work.
    const admission = new HashingPlace(this.c.hasher, ctx.request.ip);
    try {
      return await this.#login(ctx, email, password, admission, code);
    } finally {
      admission.release();
    }
  }

  async #login(
    ctx: ActionContext,
    email: string,
    password: string,
    admission: HashingPlace,
    code: string | undefined,
  ): Promise<Issued> {
    const normalized = normalizeEmail(email);
    const row = await this.c.tables
      .q()
      .selectFrom("operator")
      .selectAll()
      .where("email", "=", normalized)
      .executeTakeFirst();
    const operator = await this.c.throttle.attempt(
      `operator:${normalized}`,
      ctx.request.ip ?? "unknown",
      async () => {
        const ok = await admission.verify(row?.password_hash ?? null, password);
        // NOTE: the row is returned only when the password matched; a wrong password must not log in.
        return { ok: ok && row !== undefined && row.disabled_at === null, value: ok ? row : undefined };
      },
      () => admission.pause(),
    );
    if (!operator || operator.disabled_at !== null) {
      throw new AppError(IdentityErrors.invalid_login, "The email or password is wrong.");
    }
    // A second-factor code counts as an attempt whatever it proves (the throttle writes on its own).
    if (code !== undefined) await this.mfa.limit(ctx, operator.id);
    return this.c.db.write(ctx, async (tx) => {
      // The password was checked outside the transaction: what it decided holds only if the row
      // (locked until the session commits) is still enabled with the same password.
      const current = await this.#operator(operator.id, tx, { lock: true });
      if (current.disabled_at !== null || current.password_hash !== operator.password_hash) {
        throw new AppError(IdentityErrors.invalid_login, "The email or password is wrong.");
      }
      // With two-factor sign-in on, the code is checked and spent in this write (or none opens).
      const mfa = await this.mfa.checkAtLogin(tx, current.id, code);
      const o = toOperator(current, mfa);
      const asSelf = { ...ctx, principal: operatorPrincipal(o, "login") };
      return this.#issueToken(
        tx,
        asSelf,
        o,
        "session",
        "login",
        this.c.clock.now() + this.c.config.sessions.absoluteMs,
      );
    });
  }

  /** createOperatorToken issues an API token to the calling operator: the token object, its secret shown once. */
  async createOperatorToken(
    ctx: ActionContext,
    input: z.infer<typeof CreateOperatorTokenInput>,
  ): Promise<OperatorToken & { token: string }> {
    const me = this.c.access.operator(ctx, "operator_tokens:write");
    if (input.expiresAt !== undefined && input.expiresAt <= this.c.clock.now()) {
      throw new AppError(PlatformErrors.validation_failed, "expiresAt must be in the future.", {
        errors: [{ path: "body.expiresAt", message: "must be in the future" }],
      });
    }
    return this.c.db.write(ctx, async (tx) => {
      const row = await this.#operator(me.actorId, tx, { lock: true });
      // Disabled since this request was resolved: the caller's own token is already revoked.
      if (row.disabled_at !== null) throw new AppError(PlatformErrors.unauthenticated, "The operator is disabled.");
      const { operator: _operator, ...issued } = await this.#issueToken(
        tx,
        ctx,
        toOperator(row),
        "api",
        input.name,
        input.expiresAt ?? null,
      );
      return issued;
    });
  }

  async listOperatorTokens(ctx: ActionContext, query: z.infer<typeof ListQuery>) {
    const me = this.c.access.operator(ctx, "operator_tokens:read");
    return pageById(
      this.c.tables
        .q()
        .selectFrom("operator_token")
        .selectAll()
        .where("operator_id", "=", me.actorId)
        .where("revoked_at", "is", null),
      query,
      toOperatorToken,
    );
  }

  /** revokeOperatorToken revokes one of the caller's own tokens ("current" for the one in use). */
  async revokeOperatorToken(ctx: ActionContext, tokenId: string): Promise<OperatorToken> {
    const me = ctx.principal;
    if (me?.actorType !== "operator") throw new AppError(IdentityErrors.operator_token_not_found, "No such token.");
    const id = tokenId === "current" ? me.credentialId : tokenId;
    return this.c.db.write(ctx, async (tx) => {
      const row = await this.c.tables
        .q(tx)
        .selectFrom("operator_token")
        .selectAll()
        .where("id", "=", id)
        .where("operator_id", "=", me.actorId)
        .$call((qb) => this.c.db.forUpdate(qb))
        .executeTakeFirst();
      if (!row) throw new AppError(IdentityErrors.operator_token_not_found, `No token ${tokenId}.`);
      if (row.revoked_at !== null) return toOperatorToken(row);
      const now = this.c.clock.now();
      await tx.updateTable("operator_token").set({ revoked_at: now }).where("id", "=", id).execute();
      await this.c.revoked(tx, id);
      await this.c.facts.record(tx, ctx, {
        type: row.kind === "session" ? "operator.logged_out" : "operator_token.revoked",
        environmentId: null,
        targets: [{ type: "operator_token", id }],
      });
      return toOperatorToken({ ...row, revoked_at: now });
    });
  }

  async #insert(
    tx: Tx,
    ctx: ActionContext,
    input: z.infer<typeof CreateOperatorInput>,
    passwordHash: string,
  ): Promise<Operator> {
    const now = this.c.clock.now();
    const row = {
      id: newId("operator", now),
      email: normalizeEmail(input.email),
      name: input.name,
      role: input.role,
      password_hash: passwordHash,
      disabled_at: null,
      created_at: now,
      updated_at: now,
    };
    await tx.insertInto("operator").values(row).execute();
    await this.c.facts.record(tx, ctx, {
      type: "operator.created",
      environmentId: null,
      targets: [{ type: "operator", id: row.id }],
      data: { email: row.email, name: row.name, role: row.role },
    });
    return toOperator(row);
  }

  async #issueToken(
    tx: Tx,
    ctx: ActionContext,
    operator: Operator,
    kind: "session" | "api",
    name: string,
    expiresAt: number | null,
  ): Promise<Issued> {
    const now = this.c.clock.now();
    const token = generateToken(TOKEN_PREFIX.operator);
    const row = {
      id: newId("operatorToken", now),
      operator_id: operator.id,
      kind,
      name,
      token_hash: sha256Hex(token),
      created_at: now,
      last_used_at: now,
      expires_at: expiresAt,
      revoked_at: null,
      ip: ctx.request.ip ?? null,
      user_agent: ctx.request.userAgent ?? null,
    };
    await tx.insertInto("operator_token").values(row).execute();
    await this.c.facts.record(tx, ctx, {
      type: kind === "session" ? "operator.logged_in" : "operator_token.created",
      environmentId: null,
      targets: [
        { type: "operator", id: operator.id },
        { type: "operator_token", id: row.id },
      ],
      data: { name, kind, expiresAt: isoOrNull(expiresAt) },
    });
    return { ...toOperatorToken(row), token, operator };
  }

  /**
   * #lockOperators serialises the transactions whose check depends on the set of operators (the
   * first admin, the last admin): without it two concurrent ones both pass on PostgreSQL (READ
   * COMMITTED). SQLite runs one write transaction at a time already.
   */
  async #lockOperators(tx: Tx): Promise<void> {
    await this.c.db.lockTable(tx, "operator");
  }

  /** #operator reads an operator; with `lock` (inside a write) its row stays locked until the transaction ends. */
  async #operator(id: string, tx?: Tx, options: { lock?: boolean } = {}) {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("operator")
      .selectAll()
      .where("id", "=", id)
      .$if(options.lock === true, (qb) => this.c.db.forUpdate(qb))
      .executeTakeFirst();
    if (!row) throw new AppError(IdentityErrors.operator_not_found, `No operator ${id}.`);
    return row;
  }
}

function operatorPrincipal(o: Operator, credentialId: string): Principal {
  return {
    actorType: "operator",
    actorId: o.id,
    credentialId,
    permissions: operatorPermissions(o.role),
    displayName: o.email,
  };
}
