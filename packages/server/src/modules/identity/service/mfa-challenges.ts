import type { z } from "zod";
import { sha256Hex } from "../../../platform/crypto.js";
import type { Tx } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import type { ActionContext } from "../../../platform/principal.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { IdentityErrors } from "../errors.js";
import type { Core } from "../internal/core.js";
import { toSession, toUser } from "../internal/rows.js";
import type { SecondFactorProof, SecondFactorSubject, SecondFactors } from "../internal/second-factors.js";
import type {
  EnrolWithChallengeInput,
  MfaProofInput,
  StepUpResult,
  TotpEnrolment,
  VerifiedSession,
  VerifyMfaInput,
} from "../schemas.js";
import { invalidCode, type MfaFactorsService, subjectOf } from "./mfa-factors.js";
import type { SessionsService } from "./sessions.js";

/**
 * MfaChallengesService completes the challenges first-factor sign-ins answer with (a second
 * factor, or enrolling one when the surface requires it) into aal-2 sessions, and steps a signed-in
 * session up. Attempts are throttled per challenge, per user and per client; a challenge is single
 * use (consumed by a conditional update in the write that opens the session) and bound to its user
 * and surface.
 */
export class MfaChallengesService {
  constructor(
    private readonly c: Core,
    private readonly factors: SecondFactors,
    private readonly mfa: MfaFactorsService,
    private readonly sessions: SessionsService,
  ) {}

  /**
   * verify checks a second factor against a challenge and opens an aal-2 session. For an `enroll`
   * challenge the code confirms the TOTP enrolment started with `enrolWithChallenge`, and the
   * answer carries the new recovery codes. Throws 400 `invalid_mfa_challenge` (unknown, used,
   * expired, another surface's), 401 `invalid_mfa_code`, 429 `too_many_attempts`.
   */
  async verify(ctx: ActionContext, input: z.infer<typeof VerifyMfaInput>): Promise<z.infer<typeof VerifiedSession>> {
    const challenge = await this.#challenge(input.surfaceId, input.challengeToken);
    const subject = {
      environmentId: challenge.environment_id,
      userId: challenge.user_id,
      surfaceId: challenge.surface_id,
    };
    await this.mfa.limit(ctx, subject, challenge.id);
    const proof = proofOf(input);
    if (challenge.purpose === "enroll" && proof.method !== "totp") {
      throw new AppError(IdentityErrors.mfa_method_unavailable, "Confirm the enrolment with a TOTP code.");
    }
    const verifier = this.factors.get(proof.method);
    if (!verifier) throw new AppError(IdentityErrors.mfa_method_unavailable, `Unknown method ${proof.method}.`);
    return this.c.db.write(ctx, async (tx) => {
      const now = this.c.clock.now();
      const consumed = await tx
        .updateTable("mfa_challenge")
        .set({ used_at: now })
        .where("id", "=", challenge.id)
        .where("used_at", "is", null)
        .where("expires_at", ">", now)
        .executeTakeFirst();
      if (Number(consumed.numUpdatedRows) !== 1) throw invalidChallenge();
      const userRow = await this.c.tables
        .q(tx)
        .selectFrom("user")
        .selectAll()
        .where("id", "=", subject.userId)
        .$call((qb) => this.c.db.forUpdate(qb))
        .executeTakeFirst();
      if (!userRow || userRow.disabled_at !== null) throw invalidChallenge();
      const user = toUser(userRow);
      const asUser: ActionContext = {
        ...ctx,
        principal: {
          actorType: "user",
          actorId: user.id,
          credentialId: challenge.id,
          environmentId: user.environmentId,
          surfaceId: subject.surfaceId,
          permissions: [],
          displayName: user.email,
        },
      };
      let recoveryCodes: string[] | undefined;
      if (challenge.purpose === "enroll") {
        recoveryCodes = await this.mfa.activateTotp(tx, asUser, subject, proof.code ?? "");
      } else if (!(await verifier.verify(tx, asUser, subject, proof))) {
        throw invalidCode();
      }
      await this.#recordVerified(tx, asUser, subject, challenge.purpose, proof.method);
      const issued = await this.sessions.open(tx, ctx, user, subject.surfaceId, {
        method: challenge.first_factor,
        aal: 2,
      });
      return recoveryCodes ? { ...issued, recoveryCodes } : issued;
    });
  }

  /**
   * enrolWithChallenge starts a TOTP enrolment for the user of an `enroll` challenge (the surface
   * requires a second factor the user lacks); `verify` with a code then confirms it and signs in.
   */
  async enrolWithChallenge(
    ctx: ActionContext,
    input: z.infer<typeof EnrolWithChallengeInput>,
  ): Promise<z.infer<typeof TotpEnrolment>> {
    const challenge = await this.#challenge(input.surfaceId, input.challengeToken);
    if (challenge.purpose !== "enroll") throw invalidChallenge();
    const subject = {
      environmentId: challenge.environment_id,
      userId: challenge.user_id,
      surfaceId: challenge.surface_id,
    };
    await this.mfa.limit(ctx, subject, challenge.id);
    const issuer = await this.mfa.issuer(subject.surfaceId);
    return this.c.db.write(ctx, (tx) => this.mfa.startTotp(tx, subject, issuer));
  }

  /**
   * stepUp checks a second factor of the signed-in user and marks the session: `second_factor_at`
   * now and aal 2, visible at once to step-up checks in every process.
   */
  async stepUp(ctx: ActionContext, input: z.infer<typeof MfaProofInput>): Promise<z.infer<typeof StepUpResult>> {
    const subject = subjectOf(ctx);
    await this.mfa.limit(ctx, subject);
    const proof = proofOf(input);
    const verifier = this.factors.get(proof.method);
    if (!verifier) throw new AppError(IdentityErrors.mfa_method_unavailable, `Unknown method ${proof.method}.`);
    return this.c.db.write(ctx, async (tx) => {
      if (!(await this.factors.enrolled(subject, tx))) {
        throw new AppError(IdentityErrors.mfa_not_enrolled, "Enrol a second factor first (POST /v1/auth/mfa/totp).");
      }
      if (!(await verifier.verify(tx, ctx, subject, proof))) throw invalidCode();
      await this.mfa.markSecondFactor(tx, ctx, subject);
      await this.#recordVerified(tx, ctx, subject, "step_up", proof.method);
      const row = await this.c.tables
        .q(tx)
        .selectFrom("session")
        .selectAll()
        .where("id", "=", ctx.principal?.credentialId as string)
        .executeTakeFirstOrThrow();
      return { session: toSession(row, row.id) };
    });
  }

  async #recordVerified(tx: Tx, ctx: ActionContext, s: SecondFactorSubject, purpose: string, method: string) {
    const left = method === "recovery_code" ? { recoveryCodesLeft: await this.mfa.recoveryCodesLeft(s, tx) } : {};
    await this.c.facts.record(tx, ctx, {
      type: "user.mfa_verified",
      environmentId: s.environmentId,
      targets: [{ type: "user", id: s.userId }],
      data: { purpose, method, surfaceId: s.surfaceId, ...left },
    });
  }

  /** #challenge finds a live challenge by its token on `surfaceId` (the same answer for every failure). */
  async #challenge(surfaceId: string, token: string) {
    const now = this.c.clock.now();
    const row = await this.c.tables
      .q()
      .selectFrom("mfa_challenge")
      .selectAll()
      .where("token_hash", "=", sha256Hex(token))
      .executeTakeFirst();
    if (!row || row.surface_id !== surfaceId || row.used_at !== null || row.expires_at <= now) throw invalidChallenge();
    const surface = await this.c.tenancy.surfaces.findActiveSurface(surfaceId);
    if (!surface || surface.environmentId !== row.environment_id) {
      throw new AppError(TenancyErrors.surface_not_found, `No active surface ${surfaceId}.`);
    }
    return row;
  }
}

/** proofOf: the method and proof a request carries (`code`: TOTP; `recoveryCode`; else `method` + `response`). */
function proofOf(input: z.infer<typeof MfaProofInput>): SecondFactorProof {
  if (input.recoveryCode !== undefined) return { method: "recovery_code", code: input.recoveryCode };
  if (input.code !== undefined) return { method: input.method ?? "totp", code: input.code };
  return { method: input.method ?? "passkey", ...(input.response ? { response: input.response } : {}) };
}

function invalidChallenge(): AppError {
  return new AppError(
    IdentityErrors.invalid_mfa_challenge,
    "The challenge is invalid, used or expired: sign in again.",
  );
}
