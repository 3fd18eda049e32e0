import type { z } from "zod";
import { sha256Hex } from "../../../platform/crypto.js";
import type { Tx } from "../../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import { isoOrNull } from "../../../platform/http/schemas.js";
import type { ActionContext } from "../../../platform/principal.js";
import { IdentityErrors } from "../errors.js";
import { newId } from "../ids.js";
import type { Core } from "../internal/core.js";
import { matchTotp, newTotpSecret, totpUri } from "../internal/totp.js";
import type { OperatorMfaStatus, TotpEnrolment } from "../schemas.js";
import { invalidCode, MFA_LIMITS, newRecoveryCode, normalizeRecoveryCode, RECOVERY_CODES } from "./mfa-factors.js";

/** ISSUER: the name authenticator apps show for an operator account. */
const ISSUER = "Baseplate";

/**
 * OperatorMfaService: plane operators' second factor — TOTP (secret sealed under the master key,
 * active once a first code confirms it) and single-use recovery codes (SHA-256). Every operator
 * manages its own, whatever its role (securing one's account changes nothing of the plane); an
 * admin can remove another operator's (a lost device), with a reason. Sign-in asks for a code once
 * TOTP is active (`checkAtLogin`, inside the write that opens the session).
 *
 * NOTE: a code is consumed by a conditional update (a later time step, an unused recovery code),
 * so two requests racing with one code cannot both pass.
 */
export class OperatorMfaService {
  constructor(private readonly c: Core) {}

  async status(ctx: ActionContext): Promise<z.infer<typeof OperatorMfaStatus>> {
    const operatorId = this.#self(ctx);
    return this.#status(operatorId);
  }

  /**
   * enrolTotp starts a TOTP enrolment for the calling operator: a new secret (shown once), pending
   * until `confirmTotp`. Replaces a pending one; 409 `mfa_already_enrolled` when TOTP is active.
   */
  async enrolTotp(ctx: ActionContext): Promise<z.infer<typeof TotpEnrolment>> {
    const operatorId = this.#self(ctx);
    return this.c.db.write(ctx, async (tx) => {
      const operator = await this.#lockOperator(tx, operatorId);
      if (await this.#factor(tx, operatorId, "active")) {
        throw new AppError(
          IdentityErrors.mfa_already_enrolled,
          "Two-factor sign-in is already on; turn it off first to enrol another device.",
        );
      }
      await tx
        .deleteFrom("operator_mfa_factor")
        .where("operator_id", "=", operatorId)
        .where("status", "=", "pending")
        .execute();
      const now = this.c.clock.now();
      const id = newId("mfaFactor", now);
      const secret = newTotpSecret();
      await tx
        .insertInto("operator_mfa_factor")
        .values({
          id,
          operator_id: operatorId,
          status: "pending",
          secret: this.c.secrets.seal(secret, id),
          last_time_step: null,
          created_at: now,
          confirmed_at: null,
          last_used_at: null,
        })
        .execute();
      return { factorId: id, secret, otpauthUri: totpUri(secret, ISSUER, operator.email) };
    });
  }

  /** confirmTotp activates the pending enrolment with a first right code and issues recovery codes (shown once). */
  async confirmTotp(ctx: ActionContext, code: string): Promise<{ recoveryCodes: string[] }> {
    const operatorId = this.#self(ctx);
    await this.limit(ctx, operatorId);
    return this.c.db.write(ctx, async (tx) => {
      await this.#lockOperator(tx, operatorId);
      const pending = await this.#factor(tx, operatorId, "pending");
      if (!pending) {
        throw new AppError(IdentityErrors.mfa_not_enrolled, "No enrolment is pending: start one first.");
      }
      const now = this.c.clock.now();
      const step = await matchTotp(this.c.secrets.open(pending.secret, pending.id), code, now, null);
      if (step === null) throw invalidCode();
      const done = await tx
        .updateTable("operator_mfa_factor")
        .set({ status: "active", confirmed_at: now, last_time_step: step, last_used_at: now })
        .where("id", "=", pending.id)
        .where("status", "=", "pending")
        .executeTakeFirst();
      if (Number(done.numUpdatedRows) !== 1) throw invalidCode();
      const recoveryCodes = await this.#issueRecoveryCodes(tx, operatorId);
      await this.c.facts.record(tx, ctx, {
        type: "operator.mfa_enabled",
        environmentId: null,
        targets: [{ type: "operator", id: operatorId }],
        data: { recoveryCodes: recoveryCodes.length },
      });
      return { recoveryCodes };
    });
  }

  /** disable turns the calling operator's second factor off; it takes a current code (TOTP or recovery). */
  async disable(ctx: ActionContext, code: string): Promise<z.infer<typeof OperatorMfaStatus>> {
    const operatorId = this.#self(ctx);
    await this.limit(ctx, operatorId);
    await this.c.db.write(ctx, async (tx) => {
      await this.#lockOperator(tx, operatorId);
      if (!(await this.#factor(tx, operatorId, "active"))) {
        throw new AppError(IdentityErrors.mfa_not_enrolled, "Two-factor sign-in is not on.");
      }
      if (!(await this.#spend(tx, operatorId, code))) throw invalidCode();
      await this.#remove(tx, operatorId);
      await this.c.facts.record(tx, ctx, {
        type: "operator.mfa_disabled",
        environmentId: null,
        targets: [{ type: "operator", id: operatorId }],
      });
    });
    return this.#status(operatorId);
  }

  /** replaceRecoveryCodes issues new recovery codes (earlier ones stop working); it takes a current code. */
  async replaceRecoveryCodes(ctx: ActionContext, code: string): Promise<{ recoveryCodes: string[] }> {
    const operatorId = this.#self(ctx);
    await this.limit(ctx, operatorId);
    return this.c.db.write(ctx, async (tx) => {
      await this.#lockOperator(tx, operatorId);
      if (!(await this.#factor(tx, operatorId, "active"))) {
        throw new AppError(IdentityErrors.mfa_not_enrolled, "Two-factor sign-in is not on.");
      }
      if (!(await this.#spend(tx, operatorId, code))) throw invalidCode();
      const recoveryCodes = await this.#issueRecoveryCodes(tx, operatorId);
      await this.c.facts.record(tx, ctx, {
        type: "operator.recovery_codes_replaced",
        environmentId: null,
        targets: [{ type: "operator", id: operatorId }],
        data: { recoveryCodes: recoveryCodes.length },
      });
      return { recoveryCodes };
    });
  }

  /**
   * reset removes another operator's second factor (admins; the operator lost its device), with a
   * reason. Its sessions stay; its next sign-in takes a password only, until it enrols again.
   */
  async reset(ctx: ActionContext, operatorId: string, reason: string): Promise<z.infer<typeof OperatorMfaStatus>> {
    const me = this.c.access.operator(ctx, "operators:write");
    if (me.actorId === operatorId) {
      throw new AppError(
        PlatformErrors.validation_failed,
        "Turn your own second factor off with a code (POST /v1/operator/mfa/disable).",
        { errors: [{ path: "params.operatorId", message: "is the calling operator" }] },
      );
    }
    await this.c.db.write(ctx, async (tx) => {
      await this.#lockOperator(tx, operatorId, true);
      if (!(await this.#factor(tx, operatorId, "active")) && !(await this.#factor(tx, operatorId, "pending"))) {
        throw new AppError(IdentityErrors.mfa_not_enrolled, `Operator ${operatorId} has no second factor.`);
      }
      await this.#remove(tx, operatorId);
      await this.c.facts.record(tx, ctx, {
        type: "operator.mfa_reset",
        environmentId: null,
        targets: [{ type: "operator", id: operatorId }],
        data: { reason },
      });
    });
    return this.#status(operatorId);
  }

  /**
   * checkAtLogin runs inside the write that opens an operator session, after the password matched:
   * without an active factor it passes; with one, a missing code answers 401 `mfa_required` and a
   * wrong or used one 401 `invalid_mfa_code`. The caller counts the attempt (`limit`) before the
   * write: the throttle writes on its own connection.
   */
  async checkAtLogin(tx: Tx, operatorId: string, code: string | undefined): Promise<boolean> {
    if (!(await this.#factor(tx, operatorId, "active"))) return false;
    if (code === undefined || code.trim() === "") {
      throw new AppError(
        IdentityErrors.mfa_required,
        "Two-factor sign-in is on for this operator: send the code of its authenticator app (or a recovery code) as `code`.",
      );
    }
    if (!(await this.#spend(tx, operatorId, code))) throw invalidCode();
    return true;
  }

  /** enabled tells whether each of `operatorIds` has an active second factor. */
  async enabled(operatorIds: readonly string[], tx?: Tx): Promise<Set<string>> {
    if (operatorIds.length === 0) return new Set();
    const rows = await this.c.tables
      .q(tx)
      .selectFrom("operator_mfa_factor")
      .select("operator_id")
      .where("operator_id", "in", [...operatorIds])
      .where("status", "=", "active")
      .execute();
    return new Set(rows.map((r) => r.operator_id));
  }

  #self(ctx: ActionContext): string {
    const p = ctx.principal;
    if (p?.actorType !== "operator") throw new AppError(PlatformErrors.forbidden, "This route is for operators.");
    return p.actorId;
  }

  async #status(operatorId: string): Promise<z.infer<typeof OperatorMfaStatus>> {
    const active = await this.#factor(undefined, operatorId, "active");
    const pending = active ? undefined : await this.#factor(undefined, operatorId, "pending");
    const left = await this.c.tables
      .q()
      .selectFrom("operator_recovery_code")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("operator_id", "=", operatorId)
      .where("used_at", "is", null)
      .executeTakeFirstOrThrow();
    return {
      operatorId,
      enabled: active !== undefined,
      pending: pending !== undefined,
      enabledAt: isoOrNull(active?.confirmed_at ?? null),
      lastUsedAt: isoOrNull(active?.last_used_at ?? null),
      recoveryCodesLeft: active ? Number(left.n) : 0,
    };
  }

  async #lockOperator(tx: Tx, operatorId: string, notFound = false) {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("operator")
      .select(["id", "email", "disabled_at"])
      .where("id", "=", operatorId)
      .$call((qb) => this.c.db.forUpdate(qb))
      .executeTakeFirst();
    if (!row) {
      if (notFound) throw new AppError(IdentityErrors.operator_not_found, `No operator ${operatorId}.`);
      throw new AppError(PlatformErrors.unauthenticated, "The operator no longer exists.");
    }
    if (row.disabled_at !== null && !notFound) {
      throw new AppError(PlatformErrors.unauthenticated, "The operator is disabled.");
    }
    return row;
  }

  async #factor(tx: Tx | undefined, operatorId: string, status: "pending" | "active") {
    return this.c.tables
      .q(tx)
      .selectFrom("operator_mfa_factor")
      .selectAll()
      .where("operator_id", "=", operatorId)
      .where("status", "=", status)
      .executeTakeFirst();
  }

  /**
   * #spend accepts a TOTP code of a later time step than the last accepted one, or an unused
   * recovery code, and consumes it (conditional updates: one code passes once, even in a race).
   */
  async #spend(tx: Tx, operatorId: string, code: string): Promise<boolean> {
    const factor = await this.#factor(tx, operatorId, "active");
    if (!factor) return false;
    const now = this.c.clock.now();
    if (/^\s*\d{6}\s*$/.test(code)) {
      const last = factor.last_time_step === null ? null : Number(factor.last_time_step);
      const step = await matchTotp(this.c.secrets.open(factor.secret, factor.id), code.trim(), now, last);
      if (step === null) return false;
      const used = await tx
        .updateTable("operator_mfa_factor")
        .set({ last_time_step: step, last_used_at: now })
        .where("id", "=", factor.id)
        .where((eb) => eb.or([eb("last_time_step", "is", null), eb("last_time_step", "<", step)]))
        .executeTakeFirst();
      return Number(used.numUpdatedRows) === 1;
    }
    const used = await tx
      .updateTable("operator_recovery_code")
      .set({ used_at: now })
      .where("operator_id", "=", operatorId)
      .where("code_hash", "=", sha256Hex(normalizeRecoveryCode(code)))
      .where("used_at", "is", null)
      .executeTakeFirst();
    if (Number(used.numUpdatedRows) === 0) return false;
    await tx.updateTable("operator_mfa_factor").set({ last_used_at: now }).where("id", "=", factor.id).execute();
    return true;
  }

  async #issueRecoveryCodes(tx: Tx, operatorId: string): Promise<string[]> {
    await tx.deleteFrom("operator_recovery_code").where("operator_id", "=", operatorId).execute();
    const now = this.c.clock.now();
    const codes = Array.from({ length: RECOVERY_CODES }, () => newRecoveryCode());
    await tx
      .insertInto("operator_recovery_code")
      .values(
        codes.map((code) => ({
          id: newId("recoveryCode", now),
          operator_id: operatorId,
          code_hash: sha256Hex(normalizeRecoveryCode(code)),
          created_at: now,
          used_at: null,
        })),
      )
      .execute();
    return codes;
  }

  async #remove(tx: Tx, operatorId: string): Promise<void> {
    await tx.deleteFrom("operator_recovery_code").where("operator_id", "=", operatorId).execute();
    await tx.deleteFrom("operator_mfa_factor").where("operator_id", "=", operatorId).execute();
  }

  /** limit counts one second-factor attempt of the operator (and client); 429 `too_many_attempts` past it. */
  async limit(ctx: ActionContext, operatorId: string): Promise<void> {
    await this.c.throttle.limit(
      [
        { ...MFA_LIMITS.user, scope: "mfa_operator", key: operatorId },
        { ...MFA_LIMITS.client, scope: "mfa_client", key: ctx.request.ip ?? "unknown" },
      ],
      "Too many second-factor attempts; try again later.",
    );
  }
}
