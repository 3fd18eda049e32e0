import type { z } from "zod";
import type { StepUpDemand } from "../../../platform/access.js";
import { generateToken, sha256Hex } from "../../../platform/crypto.js";
import type { Tx } from "../../../platform/db/db.js";
import { iso } from "../../../platform/http/schemas.js";
import type { Principal } from "../../../platform/principal.js";
import { newId } from "../ids.js";
import type { Core } from "../internal/core.js";
import type { SecondFactorSubject, SecondFactors } from "../internal/second-factors.js";
import { TOKEN_PREFIX } from "../internal/tokens.js";
import type { MfaChallenge, User } from "../schemas.js";
import type { AuthSettingsService } from "./auth-settings.js";

/** MFA_CHALLENGE_TTL_MS: how long a challenge answered by a first-factor sign-in lives. */
export const MFA_CHALLENGE_TTL_MS = 5 * 60_000;

/**
 * AdminCheck answers whether a user holds an admin-like role in any tenant of the environment
 * (the access module plugs it in: identity cannot know memberships).
 */
export type AdminCheck = (environmentId: string, userId: string, tx?: Tx) => Promise<boolean>;

/** SecondFactorDue: what a signing-in user must do before a session opens. */
export type SecondFactorDue = { purpose: "sign_in"; methods: string[] } | { purpose: "enroll"; methods: string[] };

/**
 * MfaPolicy decides when a second factor is due: at sign-in (the user has one, or the surface's
 * `mfa.policy` requires one of them) and before sensitive actions (step-up), and issues the
 * challenges a first-factor sign-in answers with.
 */
export class MfaPolicy {
  #isAdmin: AdminCheck = async () => false;

  constructor(
    private readonly c: Core,
    private readonly settings: AuthSettingsService,
    readonly factors: SecondFactors,
  ) {}

  /** useAdminCheck plugs in the lookup behind `required_for_admins` (the access module, at start). */
  useAdminCheck(check: AdminCheck): void {
    this.#isAdmin = check;
  }

  /** covered answers whether the surface's policy requires a second factor of this user. */
  async covered(subject: SecondFactorSubject, tx?: Tx): Promise<boolean> {
    const { mfa } = await this.settings.settingsFor(subject.surfaceId, tx);
    if (mfa.policy === "required") return true;
    return mfa.policy === "required_for_admins" && this.#isAdmin(subject.environmentId, subject.userId, tx);
  }

  /** due returns what the user must show before a session opens, or null when one factor is enough. */
  async due(subject: SecondFactorSubject, tx?: Tx): Promise<SecondFactorDue | null> {
    const methods = await this.factors.methods(subject, tx);
    if (methods.length > 0) return { purpose: "sign_in", methods };
    if (await this.covered(subject, tx)) return { purpose: "enroll", methods: ["totp"] };
    return null;
  }

  /**
   * issueChallenge stores a single-use challenge (token as SHA-256) bound to the user and surface,
   * valid `MFA_CHALLENGE_TTL_MS`, and returns it with its token (shown once).
   */
  async issueChallenge(
    tx: Tx,
    user: User,
    surfaceId: string,
    firstFactor: string,
    due: SecondFactorDue,
  ): Promise<z.infer<typeof MfaChallenge>> {
    const now = this.c.clock.now();
    const token = generateToken(TOKEN_PREFIX.mfaChallenge);
    const id = newId("mfaChallenge", now);
    const expiresAt = now + MFA_CHALLENGE_TTL_MS;
    await tx
      .insertInto("mfa_challenge")
      .values({
        id,
        environment_id: user.environmentId,
        user_id: user.id,
        surface_id: surfaceId,
        token_hash: sha256Hex(token),
        purpose: due.purpose,
        first_factor: firstFactor,
        created_at: now,
        expires_at: expiresAt,
        used_at: null,
      })
      .execute();
    const subject = { environmentId: user.environmentId, userId: user.id, surfaceId };
    const methodOptions: Record<string, unknown> = {};
    for (const method of due.methods) {
      const options = await this.factors.get(method)?.options?.(tx, subject, id);
      if (options) methodOptions[method] = options;
    }
    return {
      mfaRequired: true,
      challengeToken: token,
      purpose: due.purpose,
      methods: due.methods,
      methodOptions,
      expiresAt: iso(expiresAt),
    };
  }

  /**
   * stepUpDemand is the platform's `stepUp` hook: a user session must have shown a second factor
   * within the surface's `mfa.stepUpMaxAgeSeconds` when the user is enrolled or the policy covers
   * them. It reads the session's `second_factor_at` from the database (never the cached principal).
   */
  async stepUpDemand(p: Principal): Promise<StepUpDemand | null> {
    if (p.actorType !== "user" || !p.environmentId || !p.surfaceId) return null;
    const subject = { environmentId: p.environmentId, userId: p.actorId, surfaceId: p.surfaceId };
    const enrolled = await this.factors.enrolled(subject);
    if (!enrolled && !(await this.covered(subject))) return null;
    const { mfa } = await this.settings.settingsFor(p.surfaceId);
    const session = await this.c.tables
      .q()
      .selectFrom("session")
      .select("second_factor_at")
      .where("id", "=", p.credentialId)
      .where("user_id", "=", p.actorId)
      .executeTakeFirst();
    const at = session?.second_factor_at ?? null;
    if (at !== null && this.c.clock.now() - at <= mfa.stepUpMaxAgeSeconds * 1000) return null;
    return { maxAgeSeconds: mfa.stepUpMaxAgeSeconds, enrolled };
  }
}
