import { randomBytes } from "node:crypto";
import type { z } from "zod";
import { sha256Hex } from "../../../platform/crypto.js";
import type { Tx } from "../../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { ActionContext, Principal } from "../../../platform/principal.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { IdentityErrors } from "../errors.js";
import { newId } from "../ids.js";
import type { Core } from "../internal/core.js";
import type { SecondFactorProof, SecondFactorSubject, SecondFactors } from "../internal/second-factors.js";
import { matchTotp, newTotpSecret, totpUri } from "../internal/totp.js";
import type { MfaFactor, MfaFactors, TotpEnrolment } from "../schemas.js";
import type { AuthSettingsService } from "./auth-settings.js";

/** RECOVERY_CODES: how many recovery codes a user gets, and their alphabet (60 bits each). */
export const RECOVERY_CODES = 10;
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

/** MFA_LIMITS: second-factor attempts per user (15 minutes), per challenge (its lifetime) and per client. */
export const MFA_LIMITS = {
  user: { windowMs: 15 * 60_000, max: 10 },
  challenge: { windowMs: 5 * 60_000, max: 5 },
  client: { windowMs: 15 * 60_000, max: 50 },
} as const;

/**
 * MfaFactorsService: a signed-in user's second factors — TOTP enrolment (secret sealed under the
 * master key, active once a first code confirms it), recovery codes (SHA-256, single use), listing
 * and removal — and the verifiers of `totp` and `recovery_code` it registers with `SecondFactors`.
 * Removing a factor and replacing recovery codes need a recent second factor (`access.stepUp`).
 */
export class MfaFactorsService {
  constructor(
    private readonly c: Core,
    private readonly settings: AuthSettingsService,
    private readonly factors: SecondFactors,
  ) {
    factors.register({
      method: "totp",
      enrols: true,
      available: async (s, tx) => (await this.#activeTotp(s, tx)) !== undefined,
      verify: (tx, _ctx, s, proof) => this.#verifyTotp(tx, s, proof),
    });
    factors.register({
      method: "recovery_code",
      enrols: false,
      available: async (s, tx) => (await this.#recoveryCodesLeft(s, tx)) > 0,
      verify: (tx, _ctx, s, proof) => this.#useRecoveryCode(tx, s, proof),
    });
  }

  /** enrolTotp starts a TOTP enrolment for the caller: a new secret, pending until `confirmTotp`. */
  async enrolTotp(ctx: ActionContext): Promise<z.infer<typeof TotpEnrolment>> {
    const subject = subjectOf(ctx);
    const issuer = await this.issuer(subject.surfaceId);
    return this.c.db.write(ctx, (tx) => this.startTotp(tx, subject, issuer));
  }

  /**
   * startTotp replaces any pending TOTP enrolment of the user with a new one (the user row is
   * locked, so one enrolment wins). Throws 409 `mfa_already_enrolled` when TOTP is active.
   */
  async startTotp(tx: Tx, subject: SecondFactorSubject, issuer: string): Promise<z.infer<typeof TotpEnrolment>> {
    const user = await this.c.tables
      .q(tx)
      .selectFrom("user")
      .select(["email", "disabled_at"])
      .where("id", "=", subject.userId)
      .where("environment_id", "=", subject.environmentId)
      .$call((qb) => this.c.db.forUpdate(qb))
      .executeTakeFirst();
    if (!user || user.disabled_at !== null) throw new AppError(PlatformErrors.unauthenticated, "The user is disabled.");
    if (await this.#activeTotp(subject, tx)) {
      throw new AppError(
        IdentityErrors.mfa_already_enrolled,
        "TOTP is already enrolled; remove it first to replace it.",
      );
    }
    await tx
      .deleteFrom("mfa_factor")
      .where("user_id", "=", subject.userId)
      .where("kind", "=", "totp")
      .where("status", "=", "pending")
      .execute();
    const now = this.c.clock.now();
    const id = newId("mfaFactor", now);
    const secret = newTotpSecret();
    await tx
      .insertInto("mfa_factor")
      .values({
        id,
        environment_id: subject.environmentId,
        user_id: subject.userId,
        kind: "totp",
        status: "pending",
        secret: this.c.secrets.seal(secret, id),
        last_time_step: null,
        created_at: now,
        confirmed_at: null,
        last_used_at: null,
      })
      .execute();
    return { factorId: id, secret, otpauthUri: totpUri(secret, issuer, user.email) };
  }

  /**
   * confirmTotp activates the caller's pending TOTP enrolment with a first right code and issues
   * recovery codes (shown once). The code counts as a second factor shown in this session.
   */
  async confirmTotp(ctx: ActionContext, code: string): Promise<{ recoveryCodes: string[] }> {
    const subject = subjectOf(ctx);
    await this.limit(ctx, subject);
    return this.c.db.write(ctx, async (tx) => {
      const recoveryCodes = await this.activateTotp(tx, ctx, subject, code);
      await this.markSecondFactor(tx, ctx, subject);
      return { recoveryCodes };
    });
  }

  /**
   * activateTotp checks `code` against the user's pending TOTP secret and activates it (a
   * conditional update: of two confirmations one wins), issues recovery codes and records
   * `user.mfa_enrolled`. Throws 401 `invalid_mfa_code`, 409 `mfa_not_enrolled` without a pending one.
   */
  async activateTotp(tx: Tx, ctx: ActionContext, subject: SecondFactorSubject, code: string): Promise<string[]> {
    const pending = await this.c.tables
      .q(tx)
      .selectFrom("mfa_factor")
      .select(["id", "secret"])
      .where("environment_id", "=", subject.environmentId)
      .where("user_id", "=", subject.userId)
      .where("kind", "=", "totp")
      .where("status", "=", "pending")
      .executeTakeFirst();
    if (!pending?.secret) {
      throw new AppError(IdentityErrors.mfa_not_enrolled, "No TOTP enrolment is pending: start one first.");
    }
    const now = this.c.clock.now();
    const step = await matchTotp(this.c.secrets.open(pending.secret, pending.id), code, now, null);
    if (step === null) throw invalidCode();
    const done = await tx
      .updateTable("mfa_factor")
      .set({ status: "active", confirmed_at: now, last_time_step: step, last_used_at: now })
      .where("id", "=", pending.id)
      .where("status", "=", "pending")
      .executeTakeFirst();
    if (Number(done.numUpdatedRows) !== 1) throw invalidCode();
    const recoveryCodes = await this.#issueRecoveryCodes(tx, subject);
    await this.c.facts.record(tx, ctx, {
      type: "user.mfa_enrolled",
      environmentId: subject.environmentId,
      targets: [
        { type: "user", id: subject.userId },
        { type: "mfa_factor", id: pending.id },
      ],
      data: { factorId: pending.id, kind: "totp", recoveryCodes: recoveryCodes.length },
    });
    return recoveryCodes;
  }

  async listFactors(ctx: ActionContext): Promise<z.infer<typeof MfaFactors>> {
    const subject = subjectOf(ctx);
    const rows = await this.c.tables
      .q()
      .selectFrom("mfa_factor")
      .select(["id", "kind", "created_at", "confirmed_at", "last_used_at"])
      .where("environment_id", "=", subject.environmentId)
      .where("user_id", "=", subject.userId)
      .where("status", "=", "active")
      .orderBy("id")
      .execute();
    const data: Array<z.infer<typeof MfaFactor>> = rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      createdAt: iso(r.created_at),
      confirmedAt: isoOrNull(r.confirmed_at),
      lastUsedAt: isoOrNull(r.last_used_at),
    }));
    return {
      userId: subject.userId,
      data,
      recoveryCodesLeft: await this.#recoveryCodesLeft(subject),
      hasMore: false,
      nextCursor: null,
    };
  }

  /**
   * removeFactor removes one of the caller's factors (needs a recent second factor). When no factor
   * that enrols is left, the recovery codes go too. Another user's factor answers 404.
   */
  async removeFactor(ctx: ActionContext, factorId: string): Promise<z.infer<typeof MfaFactor>> {
    const subject = subjectOf(ctx);
    await this.c.access.stepUp(ctx);
    return this.c.db.write(ctx, async (tx) => {
      const row = await this.c.tables
        .q(tx)
        .selectFrom("mfa_factor")
        .select(["id", "kind", "created_at", "confirmed_at", "last_used_at"])
        .where("id", "=", factorId)
        .where("environment_id", "=", subject.environmentId)
        .where("user_id", "=", subject.userId)
        .where("status", "=", "active")
        .$call((qb) => this.c.db.forUpdate(qb))
        .executeTakeFirst();
      if (!row) throw new AppError(IdentityErrors.mfa_factor_not_found, `No second factor ${factorId}.`);
      await tx.deleteFrom("mfa_factor").where("id", "=", factorId).execute();
      const remaining = await this.c.tables
        .q(tx)
        .selectFrom("mfa_factor")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .where("user_id", "=", subject.userId)
        .where("status", "=", "active")
        .executeTakeFirstOrThrow();
      const left = Number(remaining.n);
      if (!(await this.factors.enrolled(subject, tx))) {
        await tx.deleteFrom("mfa_recovery_code").where("user_id", "=", subject.userId).execute();
      }
      await this.c.facts.record(tx, ctx, {
        type: "user.mfa_removed",
        environmentId: subject.environmentId,
        targets: [
          { type: "user", id: subject.userId },
          { type: "mfa_factor", id: factorId },
        ],
        data: { factorId, kind: row.kind, remaining: left },
      });
      return {
        id: row.id,
        kind: row.kind,
        createdAt: iso(row.created_at),
        confirmedAt: isoOrNull(row.confirmed_at),
        lastUsedAt: isoOrNull(row.last_used_at),
      };
    });
  }

  /** regenerateRecoveryCodes replaces the caller's recovery codes (needs a recent second factor). */
  async regenerateRecoveryCodes(ctx: ActionContext): Promise<{ recoveryCodes: string[] }> {
    const subject = subjectOf(ctx);
    await this.c.access.stepUp(ctx);
    return this.c.db.write(ctx, async (tx) => {
      if (!(await this.factors.enrolled(subject, tx))) {
        throw new AppError(IdentityErrors.mfa_not_enrolled, "Enrol a second factor first.");
      }
      const recoveryCodes = await this.#issueRecoveryCodes(tx, subject);
      await this.c.facts.record(tx, ctx, {
        type: "user.recovery_codes_regenerated",
        environmentId: subject.environmentId,
        targets: [{ type: "user", id: subject.userId }],
        data: { count: recoveryCodes.length },
      });
      return { recoveryCodes };
    });
  }

  /** limit counts one second-factor attempt of the user (and client); 429 `too_many_attempts` past it. */
  async limit(ctx: ActionContext, subject: SecondFactorSubject, challengeId?: string): Promise<void> {
    await this.c.throttle.limit(
      [
        { ...MFA_LIMITS.user, scope: "mfa_user", key: `${subject.environmentId}:${subject.userId}` },
        { ...MFA_LIMITS.client, scope: "mfa_client", key: ctx.request.ip ?? "unknown" },
        ...(challengeId ? [{ ...MFA_LIMITS.challenge, scope: "mfa_challenge", key: challengeId }] : []),
      ],
      "Too many second-factor attempts; try again later.",
    );
  }

  /**
   * markSecondFactor records on the caller's session that a second factor was just shown (aal 2,
   * `second_factor_at` now) and evicts the cached session, so step-up checks see it at once.
   */
  async markSecondFactor(tx: Tx, ctx: ActionContext, subject: SecondFactorSubject) {
    const p = ctx.principal as Principal;
    const now = this.c.clock.now();
    const done = await tx
      .updateTable("session")
      .set({ second_factor_at: now, aal: 2 })
      .where("id", "=", p.credentialId)
      .where("user_id", "=", subject.userId)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    if (Number(done.numUpdatedRows) !== 1) {
      throw new AppError(PlatformErrors.unauthenticated, "The session is no longer valid.");
    }
    await this.c.revoked(tx, p.credentialId);
    return now;
  }

  async #activeTotp(s: SecondFactorSubject, tx?: Tx) {
    return this.c.tables
      .q(tx)
      .selectFrom("mfa_factor")
      .select(["id", "secret", "last_time_step"])
      .where("environment_id", "=", s.environmentId)
      .where("user_id", "=", s.userId)
      .where("kind", "=", "totp")
      .where("status", "=", "active")
      .executeTakeFirst();
  }

  /** #verifyTotp accepts a right code of a later time step than the last accepted one, once. */
  async #verifyTotp(tx: Tx, s: SecondFactorSubject, proof: SecondFactorProof): Promise<boolean> {
    const factor = await this.#activeTotp(s, tx);
    if (!factor?.secret || proof.code === undefined) return false;
    const last = factor.last_time_step === null ? null : Number(factor.last_time_step);
    const now = this.c.clock.now();
    const step = await matchTotp(this.c.secrets.open(factor.secret, factor.id), proof.code, now, last);
    if (step === null) return false;
    // Only a later step passes: of two requests with one code, exactly one updates the row.
    const used = await tx
      .updateTable("mfa_factor")
      .set({ last_time_step: step, last_used_at: now })
      .where("id", "=", factor.id)
      .where((eb) => eb.or([eb("last_time_step", "is", null), eb("last_time_step", "<", step)]))
      .executeTakeFirst();
    return Number(used.numUpdatedRows) === 1;
  }

  /** #useRecoveryCode spends a recovery code (a conditional update: a code works once, even in a race). */
  async #useRecoveryCode(tx: Tx, s: SecondFactorSubject, proof: SecondFactorProof): Promise<boolean> {
    if (proof.code === undefined) return false;
    const used = await tx
      .updateTable("mfa_recovery_code")
      .set({ used_at: this.c.clock.now() })
      .where("environment_id", "=", s.environmentId)
      .where("user_id", "=", s.userId)
      .where("code_hash", "=", sha256Hex(normalizeRecoveryCode(proof.code)))
      .where("used_at", "is", null)
      .executeTakeFirst();
    return Number(used.numUpdatedRows) > 0;
  }

  async #recoveryCodesLeft(s: SecondFactorSubject, tx?: Tx): Promise<number> {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("mfa_recovery_code")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("environment_id", "=", s.environmentId)
      .where("user_id", "=", s.userId)
      .where("used_at", "is", null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** recoveryCodesLeft: the user's unused recovery codes. */
  recoveryCodesLeft(s: SecondFactorSubject, tx?: Tx): Promise<number> {
    return this.#recoveryCodesLeft(s, tx);
  }

  /** #issueRecoveryCodes replaces the user's recovery codes with `RECOVERY_CODES` new ones (returned once). */
  async #issueRecoveryCodes(tx: Tx, s: SecondFactorSubject): Promise<string[]> {
    await tx.deleteFrom("mfa_recovery_code").where("user_id", "=", s.userId).execute();
    const now = this.c.clock.now();
    const codes = Array.from({ length: RECOVERY_CODES }, () => newRecoveryCode());
    await tx
      .insertInto("mfa_recovery_code")
      .values(
        codes.map((code) => ({
          id: newId("recoveryCode", now),
          environment_id: s.environmentId,
          user_id: s.userId,
          code_hash: sha256Hex(normalizeRecoveryCode(code)),
          created_at: now,
          used_at: null,
        })),
      )
      .execute();
    return codes;
  }

  /** issuer: the name authenticator apps show (the product name of the surface's mails, else the surface's). */
  async issuer(surfaceId: string): Promise<string> {
    const { email } = await this.settings.settingsFor(surfaceId);
    if (email.productName) return email.productName;
    const surface = await this.c.tenancy.surfaces.findActiveSurface(surfaceId);
    if (!surface) throw new AppError(TenancyErrors.surface_not_found, `No active surface ${surfaceId}.`);
    return surface.name;
  }
}

/** subjectOf: the signed-in user of `ctx` (routes admit user sessions only). */
export function subjectOf(ctx: ActionContext): SecondFactorSubject {
  const p = ctx.principal;
  if (p?.actorType !== "user" || !p.environmentId || !p.surfaceId) {
    throw new AppError(PlatformErrors.forbidden, "This route needs an end-user session.");
  }
  return { environmentId: p.environmentId, userId: p.actorId, surfaceId: p.surfaceId };
}

export function invalidCode(): AppError {
  return new AppError(IdentityErrors.invalid_mfa_code, "The code is wrong, already used or expired.");
}

/** newRecoveryCode: 12 characters of a 32-letter alphabet (60 bits), as `xxxx-xxxx-xxxx`. */
export function newRecoveryCode(): string {
  const bytes = randomBytes(12);
  const chars = Array.from(bytes, (b) => ALPHABET[b & 31]).join("");
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}`;
}

/** normalizeRecoveryCode: what the user typed, without separators, spaces or case. */
export function normalizeRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[^0-9a-z]/g, "");
}
