import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from "@simplewebauthn/server";
import type { Selectable } from "kysely";
import type { z } from "zod";
import { sha256Hex } from "../../../platform/crypto.js";
import { fromJson, type Tx, toJson } from "../../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import type { ActionContext, Principal } from "../../../platform/principal.js";
import { type Surface, TenancyErrors } from "../../tenancy/index.js";
import { IdentityErrors } from "../errors.js";
import { newId } from "../ids.js";
import { type Core, normalizeEmail } from "../internal/core.js";
import { toUser } from "../internal/rows.js";
import type { AuthSettings } from "../internal/settings/index.js";
import {
  base64url,
  CHALLENGE_TTL_MS,
  clientChallenge,
  DecoyCredentials,
  type RelyingParty,
  relyingPartyOf,
  toPasskey,
  userHandleOf,
} from "../internal/webauthn.js";
import type {
  Passkey,
  PasskeyAuthenticationResponse,
  PasskeyLoginInput,
  PasskeyLoginOptionsInput,
  UpdatePasskeyInput,
  VerifyPasskeyRegistrationInput,
} from "../schemas.js";
import type { PasskeyChallengeTable, PasskeyTable } from "../tables.js";
import type { AuthSettingsService } from "./auth-settings.js";
import type { SessionsService } from "./sessions.js";

type Issued = Awaited<ReturnType<SessionsService["open"]>>;
type Challenge = Selectable<PasskeyChallengeTable>;
type Purpose = PasskeyChallengeTable["purpose"];
type Me = Principal & { environmentId: string; surfaceId: string };

/** AssertionOptions: what `navigator.credentials.get` needs, and the id to answer with. */
export interface AssertionOptions {
  challengeId: string;
  options: PublicKeyCredentialRequestOptionsJSON;
}

/** VerifyAssertionInput: a signed answer to `optionsFor`, for one user on one surface. */
export interface VerifyAssertionInput {
  userId: string;
  surfaceId: string;
  challengeId: string;
  response: z.infer<typeof PasskeyAuthenticationResponse>;
}

/** AssertionResult: whether one of the user's passkeys signed the challenge (never thrown). */
export type AssertionResult =
  | { verified: true; passkeyId: string; userVerified: boolean }
  | { verified: false; reason: "challenge_invalid" | "passkey_invalid" | "clone_suspected" };

type Refused = Extract<AssertionResult, { verified: false }>;

/** AssertionCheck: a verified signature waiting to be spent by `useAssertion`, or a refusal. */
export type AssertionCheck =
  | { ok: true; readonly challenge: Challenge; readonly checked: Checked }
  | { ok: false; result: Refused };

/** Checked: an assertion whose signature verified against a stored passkey (not yet used). */
export interface Checked {
  passkey: Selectable<PasskeyTable>;
  counter: number;
  userVerified: boolean;
  backedUp: boolean;
}

/** CloneSuspected aborts a sign-in's transaction; the clone fact is then recorded on its own. */
class CloneSuspected extends Error {
  constructor(
    readonly stored: number,
    readonly received: number,
  ) {
    super("passkey counter did not increase");
  }
}

/** PASSKEY_OPTIONS_LIMIT: sign-in challenges per client IP (each is a stored row until it expires). */
export const PASSKEY_OPTIONS_LIMIT = { windowMs: 15 * 60_000, max: 300 } as const;

/**
 * PasskeysService: WebAuthn passkeys of end users, per surface relying party (`passkeys` section of
 * the surface's auth settings). Registration needs a recent sign-in; a passkey signs in on its own
 * (aal 2 when the authenticator verified the user, aal 1 otherwise) or serves as a second factor
 * (`optionsFor` + `verifyAssertionFor`). Every challenge is stored as its SHA-256, bound to its
 * surface (and user), used at most once and dead after `CHALLENGE_TTL_MS`.
 */
export class PasskeysService {
  readonly #decoys = new DecoyCredentials();

  constructor(
    private readonly c: Core,
    private readonly sessions: SessionsService,
    private readonly settings: AuthSettingsService,
  ) {}

  /** registrationOptions: creation options for the caller's surface, excluding its passkeys there. */
  async registrationOptions(ctx: ActionContext) {
    const me = this.#me(ctx);
    const { surface, rp, settings } = await this.#relyingParty(me.surfaceId);
    this.#requireRecentSignIn(me, settings);
    const user = await this.#user(me.environmentId, me.actorId);
    if (!user || user.disabled_at !== null) throw new AppError(PlatformErrors.unauthenticated, "Sign in again.");
    const existing = await this.#passkeysOf(me.environmentId, me.actorId, rp.id);
    const options = await generateRegistrationOptions({
      rpName: rp.name,
      rpID: rp.id,
      userName: user.email,
      userID: userHandleOf(user.id),
      userDisplayName: user.name ?? user.email,
      timeout: CHALLENGE_TTL_MS,
      attestationType: "none",
      excludeCredentials: existing.map((p) => ({ id: p.credential_id, transports: this.#transports(p) })),
      // A discoverable passkey when the authenticator can keep one (a security key with few slots
      // may not); the user verified when it can be, which decides the sign-in's level, not whether
      // the passkey is accepted.
      authenticatorSelection: { residentKey: "preferred", userVerification: "preferred" },
    });
    await this.#storeChallenge(surface, me.actorId, "registration", options.challenge);
    return options;
  }

  /** verifyRegistration checks a new credential against the caller's open challenge and stores it. */
  async verifyRegistration(
    ctx: ActionContext,
    input: z.infer<typeof VerifyPasskeyRegistrationInput>,
  ): Promise<Passkey> {
    const me = this.#me(ctx);
    const { rp } = await this.#relyingParty(me.surfaceId);
    const now = this.c.clock.now();
    const challenge = clientChallenge(input.response.response.clientDataJSON);
    const row = challenge
      ? await this.c.tables
          .q()
          .selectFrom("passkey_challenge")
          .selectAll()
          .where("challenge_hash", "=", sha256Hex(challenge))
          .executeTakeFirst()
      : undefined;
    if (
      !challenge ||
      !row ||
      row.purpose !== "registration" ||
      row.environment_id !== me.environmentId ||
      row.surface_id !== me.surfaceId ||
      row.user_id !== me.actorId ||
      row.used_at !== null ||
      row.expires_at <= now
    ) {
      throw challengeInvalid();
    }
    let info: Awaited<ReturnType<typeof verifyRegistrationResponse>>["registrationInfo"];
    try {
      const verified = await verifyRegistrationResponse({
        response: input.response as unknown as RegistrationResponseJSON,
        expectedChallenge: challenge,
        expectedOrigin: rp.origins,
        expectedRPID: rp.id,
        requireUserVerification: false,
      });
      info = verified.registrationInfo;
    } catch (err) {
      throw new AppError(IdentityErrors.passkey_registration_failed, reasonOf(err));
    }
    if (!info) throw new AppError(IdentityErrors.passkey_registration_failed, "The attestation did not verify.");
    const registered = info;
    return this.c.db.write(ctx, async (tx) => {
      if (!(await this.#consume(tx, row.id))) throw challengeInvalid();
      const user = await this.#lockUser(tx, me.actorId);
      if (!user || user.disabled_at !== null) throw new AppError(PlatformErrors.unauthenticated, "Sign in again.");
      const taken = await this.c.tables
        .q(tx)
        .selectFrom("passkey")
        .select("id")
        .where("environment_id", "=", me.environmentId)
        .where("credential_id", "=", registered.credential.id)
        .executeTakeFirst();
      if (taken) throw new AppError(IdentityErrors.passkey_exists, "This passkey is already registered.");
      const passkey = {
        id: newId("passkey", now),
        environment_id: me.environmentId,
        user_id: me.actorId,
        surface_id: me.surfaceId,
        rp_id: rp.id,
        credential_id: registered.credential.id,
        public_key: Buffer.from(registered.credential.publicKey),
        counter: registered.credential.counter,
        transports: toJson(input.response.response.transports ?? []),
        aaguid: registered.aaguid,
        backed_up: this.c.db.bool(registered.credentialBackedUp),
        name: input.name ?? "Passkey",
        created_at: now,
        last_used_at: null,
        revoked_at: null,
      };
      await tx.insertInto("passkey").values(passkey).execute();
      await this.c.facts.record(tx, ctx, {
        type: "passkey.created",
        environmentId: me.environmentId,
        targets: [
          { type: "user", id: me.actorId },
          { type: "passkey", id: passkey.id },
        ],
        data: { rpId: rp.id, aaguid: passkey.aaguid, backedUp: registered.credentialBackedUp, name: passkey.name },
      });
      return toPasskey(passkey);
    });
  }

  /** listMyPasskeys: the caller's live passkeys (every relying party), oldest first. */
  async listMyPasskeys(ctx: ActionContext): Promise<{ data: Passkey[]; hasMore: false; nextCursor: null }> {
    const me = this.#me(ctx);
    const rows = await this.c.tables
      .q()
      .selectFrom("passkey")
      .selectAll()
      .where("environment_id", "=", me.environmentId)
      .where("user_id", "=", me.actorId)
      .where("revoked_at", "is", null)
      .orderBy("id")
      .limit(200)
      .execute();
    return { data: rows.map(toPasskey), hasMore: false, nextCursor: null };
  }

  /** updateMyPasskey renames one of the caller's passkeys (404 for anyone else's). */
  async updateMyPasskey(ctx: ActionContext, id: string, input: z.infer<typeof UpdatePasskeyInput>): Promise<Passkey> {
    const me = this.#me(ctx);
    return this.c.db.write(ctx, async (tx) => {
      const row = await this.#lockMine(tx, me, id);
      if (row.name !== input.name) {
        await tx.updateTable("passkey").set({ name: input.name }).where("id", "=", id).execute();
        await this.c.facts.record(tx, ctx, {
          type: "passkey.updated",
          environmentId: me.environmentId,
          targets: [
            { type: "user", id: me.actorId },
            { type: "passkey", id },
          ],
          data: { changes: { name: { before: row.name, after: input.name } } },
        });
      }
      return toPasskey({ ...row, name: input.name });
    });
  }

  /**
   * deleteMyPasskey removes one of the caller's passkeys for good (it signs in no more). A sensitive
   * action: the session must have signed in, or shown a second factor, recently.
   */
  async deleteMyPasskey(ctx: ActionContext, id: string): Promise<Passkey> {
    const me = this.#me(ctx);
    const settings = await this.settings.settingsFor(me.surfaceId);
    return this.c.db.write(ctx, async (tx) => {
      const row = await this.#lockMine(tx, me, id);
      this.#requireRecentSignIn(me, settings);
      const now = this.c.clock.now();
      await tx.updateTable("passkey").set({ revoked_at: now }).where("id", "=", id).execute();
      await this.c.facts.record(tx, ctx, {
        type: "passkey.deleted",
        environmentId: me.environmentId,
        targets: [
          { type: "user", id: me.actorId },
          { type: "passkey", id },
        ],
      });
      return toPasskey(row);
    });
  }

  /**
   * loginOptions: assertion options for a passwordless sign-in. Without `email` any discoverable
   * passkey of the surface's rpId may answer; with it, the address's passkeys are listed, and an
   * unknown (or disabled, or passkey-less) address gets decoy ids of the same shape.
   */
  async loginOptions(ctx: ActionContext, input: z.infer<typeof PasskeyLoginOptionsInput>): Promise<AssertionOptions> {
    const { surface, rp } = await this.#relyingParty(input.surfaceId);
    await this.c.throttle.limit(
      [{ ...PASSKEY_OPTIONS_LIMIT, scope: "passkey_options", key: ctx.request.ip ?? "unknown" }],
      "Too many passkey sign-in attempts; try again later.",
    );
    let userId: string | null = null;
    let allowCredentials: Array<{ id: string; transports?: string[] }> | undefined;
    if (input.email) {
      const email = normalizeEmail(input.email);
      const user = await this.c.tables
        .q()
        .selectFrom("user")
        .select(["id", "disabled_at"])
        .where("environment_id", "=", surface.environmentId)
        .where("email_normalized", "=", email)
        .executeTakeFirst();
      const live = user && user.disabled_at === null ? user.id : null;
      // The same queries for every address, known or not.
      const passkeys = await this.#passkeysOf(surface.environmentId, live ?? "usr_none", rp.id);
      userId = live;
      allowCredentials =
        passkeys.length > 0
          ? passkeys.map((p) => ({ id: p.credential_id, transports: this.#transports(p) }))
          : this.#decoys.for(surface.environmentId, email);
    }
    return this.#assertionOptions(surface, rp, userId, "login", allowCredentials);
  }

  /**
   * verifyLogin signs a user in with a passkey: the challenge of `loginOptions` (same surface),
   * a passkey of the surface's rpId whose signature verifies over a counter that increased, and
   * an enabled user. Every refusal answers alike (401 `passkey_invalid`), except a challenge
   * that is unknown, used or expired (400). A counter that did not increase records
   * `passkey.clone_suspected`.
   */
  async verifyLogin(ctx: ActionContext, input: z.infer<typeof PasskeyLoginInput>): Promise<Issued> {
    const { surface, rp } = await this.#relyingParty(input.surfaceId);
    const challenge = await this.#openChallenge(input.challengeId, surface, "login");
    if (!challenge) throw challengeInvalid();
    const checked = await this.#check(rp, challenge, input.response);
    if (!checked) throw passkeyInvalid();
    try {
      return await this.c.db.write(ctx, async (tx) => {
        const used = await this.#use(tx, challenge, checked);
        if (used === "challenge_invalid") throw challengeInvalid();
        if (used !== "ok") throw passkeyInvalid();
        const user = await this.#lockUser(tx, checked.passkey.user_id);
        if (!user || user.disabled_at !== null) throw passkeyInvalid();
        return this.sessions.open(tx, ctx, toUser(user), surface.id, {
          method: "passkey",
          aal: checked.userVerified ? 2 : 1,
        });
      });
    } catch (err) {
      if (!(err instanceof CloneSuspected)) throw err;
      await this.c.db.write({}, async (tx) => {
        await this.#consume(tx, challenge.id);
        await this.#recordClone(tx, ctx, checked, err);
      });
      throw passkeyInvalid();
    }
  }

  /**
   * optionsFor: assertion options restricted to `userId`'s passkeys of the surface's rpId, for a
   * second factor (the MFA challenge). Throws `passkeys_disabled` when the surface has none.
   */
  async optionsFor(userId: string, surfaceId: string): Promise<AssertionOptions> {
    const { surface, rp } = await this.#relyingParty(surfaceId);
    const passkeys = await this.#passkeysOf(surface.environmentId, userId, rp.id);
    const allow = passkeys.map((p) => ({ id: p.credential_id, transports: this.#transports(p) }));
    return this.#assertionOptions(surface, rp, userId, "second_factor", allow);
  }

  /**
   * verifyAssertionFor: whether one of `userId`'s passkeys signed the challenge of `optionsFor`
   * (same surface). On success the challenge is spent and the passkey's counter advanced. Refusals
   * are returned, not thrown (a `clone_suspected` refusal has recorded `passkey.clone_suspected`).
   * Throws only when the surface has no passkeys (`passkeys_disabled`). Runs its own transaction:
   * inside a caller's transaction use `checkAssertionFor` before it and `useAssertion` in it.
   */
  async verifyAssertionFor(ctx: ActionContext, input: VerifyAssertionInput): Promise<AssertionResult> {
    const check = await this.checkAssertionFor(input);
    if (!check.ok) return check.result;
    return this.c.db.write({}, (tx) => this.useAssertion(tx, ctx, check));
  }

  /**
   * checkAssertionFor: the reads and the signature check of `verifyAssertionFor`, made before the
   * caller's transaction (on SQLite a read outside an open write transaction would wait for it).
   * Nothing is spent until `useAssertion`.
   */
  async checkAssertionFor(input: VerifyAssertionInput): Promise<AssertionCheck> {
    const { surface, rp } = await this.#relyingParty(input.surfaceId);
    const challenge = await this.#openChallenge(input.challengeId, surface, "second_factor");
    if (!challenge || challenge.user_id !== input.userId) {
      return { ok: false, result: { verified: false, reason: "challenge_invalid" } };
    }
    const checked = await this.#check(rp, challenge, input.response);
    if (!checked) return { ok: false, result: { verified: false, reason: "passkey_invalid" } };
    return { ok: true, challenge, checked };
  }

  /**
   * useAssertion spends a checked assertion inside the caller's `tx`: the challenge once, the
   * counter forward (on the locked passkey row). A counter that did not increase records
   * `passkey.clone_suspected` in `tx` and answers `clone_suspected`: commit `tx` to keep the fact.
   */
  async useAssertion(tx: Tx, ctx: ActionContext, check: AssertionCheck): Promise<AssertionResult> {
    if (!check.ok) return check.result;
    try {
      const used = await this.#use(tx, check.challenge, check.checked);
      if (used !== "ok") return { verified: false, reason: used };
      return { verified: true, passkeyId: check.checked.passkey.id, userVerified: check.checked.userVerified };
    } catch (err) {
      if (!(err instanceof CloneSuspected)) throw err;
      await this.#recordClone(tx, ctx, check.checked, err);
      return { verified: false, reason: "clone_suspected" };
    }
  }

  /** pruneChallenges deletes challenges that expired (the `identity.prune_passkey_challenges` job). */
  async pruneChallenges(): Promise<number> {
    const result = await this.c.tables
      .q()
      .deleteFrom("passkey_challenge")
      .where("expires_at", "<=", this.c.clock.now() - CHALLENGE_TTL_MS)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async #assertionOptions(
    surface: Surface,
    rp: RelyingParty,
    userId: string | null,
    purpose: Purpose,
    allowCredentials: Array<{ id: string; transports?: string[] }> | undefined,
  ): Promise<AssertionOptions> {
    const options = await generateAuthenticationOptions({
      rpID: rp.id,
      ...(allowCredentials ? { allowCredentials } : {}),
      timeout: CHALLENGE_TTL_MS,
      userVerification: "preferred",
    });
    const challengeId = await this.#storeChallenge(surface, userId, purpose, options.challenge);
    return { challengeId, options };
  }

  /**
   * #check finds the passkey that answered and verifies its signature over the challenge, the
   * origin and the rpId. The counter is judged later, on the locked row (`#use`). Null: refused.
   */
  async #check(
    rp: RelyingParty,
    challenge: Challenge,
    response: z.infer<typeof PasskeyAuthenticationResponse>,
  ): Promise<Checked | null> {
    const passkey = await this.c.tables
      .q()
      .selectFrom("passkey")
      .selectAll()
      .where("environment_id", "=", challenge.environment_id)
      .where("credential_id", "=", response.id)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    if (!passkey || passkey.rp_id !== rp.id) return null;
    if (challenge.user_id !== null && challenge.user_id !== passkey.user_id) return null;
    const handle = response.response.userHandle ?? undefined;
    if (handle && handle !== base64url(userHandleOf(passkey.user_id))) return null;
    try {
      const { verified, authenticationInfo: info } = await verifyAuthenticationResponse({
        response: { ...response, response: { ...response.response, userHandle: handle } } as AuthenticationResponseJSON,
        expectedChallenge: (signed) => sha256Hex(signed) === challenge.challenge_hash,
        expectedOrigin: rp.origins,
        expectedRPID: rp.id,
        // The stored counter is compared on the locked row, after the signature is known good.
        credential: { id: passkey.credential_id, publicKey: new Uint8Array(passkey.public_key), counter: 0 },
        requireUserVerification: false,
      });
      if (!verified) return null;
      return { passkey, counter: info.newCounter, userVerified: info.userVerified, backedUp: info.credentialBackedUp };
    } catch {
      return null;
    }
  }

  /**
   * #use spends the challenge and advances the passkey's counter inside `tx`, on the locked row.
   * Throws CloneSuspected when a counter (either, once non-zero) did not increase.
   */
  async #use(tx: Tx, challenge: Challenge, checked: Checked): Promise<"ok" | "challenge_invalid" | "passkey_invalid"> {
    if (!(await this.#consume(tx, challenge.id))) return "challenge_invalid";
    const locked = await this.c.tables
      .q(tx)
      .selectFrom("passkey")
      .select(["counter", "revoked_at"])
      .where("id", "=", checked.passkey.id)
      .$call((qb) => this.c.db.forUpdate(qb))
      .executeTakeFirst();
    if (!locked || locked.revoked_at !== null) return "passkey_invalid";
    const stored = Number(locked.counter);
    if ((stored > 0 || checked.counter > 0) && checked.counter <= stored) {
      throw new CloneSuspected(stored, checked.counter);
    }
    const updated = await tx
      .updateTable("passkey")
      .set({
        counter: checked.counter,
        last_used_at: this.c.clock.now(),
        backed_up: this.c.db.bool(checked.backedUp),
      })
      .where("id", "=", checked.passkey.id)
      .where("counter", "=", stored)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    return Number(updated.numUpdatedRows) === 1 ? "ok" : "passkey_invalid";
  }

  async #recordClone(tx: Tx, ctx: ActionContext, checked: Checked, err: CloneSuspected): Promise<void> {
    await this.c.facts.record(tx, ctx, {
      type: "passkey.clone_suspected",
      environmentId: checked.passkey.environment_id,
      targets: [
        { type: "user", id: checked.passkey.user_id },
        { type: "passkey", id: checked.passkey.id },
      ],
      data: { storedCounter: err.stored, receivedCounter: err.received },
    });
  }

  /** #consume marks a challenge used; false when it was used (or expired) meanwhile. */
  async #consume(tx: Tx, id: string): Promise<boolean> {
    const now = this.c.clock.now();
    const result = await tx
      .updateTable("passkey_challenge")
      .set({ used_at: now })
      .where("id", "=", id)
      .where("used_at", "is", null)
      .where("expires_at", ">", now)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async #openChallenge(id: string, surface: Surface, purpose: Purpose, tx?: Tx): Promise<Challenge | null> {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("passkey_challenge")
      .selectAll()
      .where("id", "=", id)
      .where("environment_id", "=", surface.environmentId)
      .executeTakeFirst();
    const ok =
      row &&
      row.surface_id === surface.id &&
      row.purpose === purpose &&
      row.used_at === null &&
      row.expires_at > this.c.clock.now();
    return ok ? row : null;
  }

  async #storeChallenge(surface: Surface, userId: string | null, purpose: Purpose, challenge: string) {
    const now = this.c.clock.now();
    const id = newId("passkeyChallenge", now);
    await this.c.tables
      .q()
      .insertInto("passkey_challenge")
      .values({
        id,
        environment_id: surface.environmentId,
        surface_id: surface.id,
        user_id: userId,
        purpose,
        challenge_hash: sha256Hex(challenge),
        created_at: now,
        expires_at: now + CHALLENGE_TTL_MS,
        used_at: null,
      })
      .execute();
    return id;
  }

  async #relyingParty(surfaceId: string): Promise<{ surface: Surface; rp: RelyingParty; settings: AuthSettings }> {
    const surface = await this.c.tenancy.surfaces.findActiveSurface(surfaceId);
    if (!surface) throw new AppError(TenancyErrors.surface_not_found, `No active surface ${surfaceId}.`);
    const settings = await this.settings.settingsFor(surfaceId);
    const rp = relyingPartyOf(surface, settings.passkeys);
    if ("refused" in rp) throw new AppError(IdentityErrors.passkeys_disabled, rp.refused);
    return { surface, rp, settings };
  }

  /**
   * #requireRecentSignIn refuses a session that signed in, or showed a second factor, longer ago
   * than the surface's `mfa.stepUpMaxAgeSeconds`.
   */
  #requireRecentSignIn(me: Me, settings: AuthSettings): void {
    // step-up: the one check passkey routes make before a sensitive change; MFA step-up plugs in here.
    const auth = me.auth;
    const last = Math.max(auth?.authenticatedAt ?? 0, auth?.secondFactorAt ?? 0);
    if (last + settings.mfa.stepUpMaxAgeSeconds * 1000 < this.c.clock.now()) {
      throw new AppError(IdentityErrors.recent_sign_in_required, "Sign in again (or show a second factor) first.");
    }
  }

  async #lockMine(tx: Tx, me: Me, id: string) {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("passkey")
      .selectAll()
      .where("environment_id", "=", me.environmentId)
      .where("user_id", "=", me.actorId)
      .where("id", "=", id)
      .where("revoked_at", "is", null)
      .$call((qb) => this.c.db.forUpdate(qb))
      .executeTakeFirst();
    if (!row) throw new AppError(IdentityErrors.passkey_not_found, `No passkey ${id}.`);
    return row;
  }

  #passkeysOf(environmentId: string, userId: string, rpId: string) {
    return this.c.tables
      .q()
      .selectFrom("passkey")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("user_id", "=", userId)
      .where("rp_id", "=", rpId)
      .where("revoked_at", "is", null)
      .orderBy("id")
      .limit(100)
      .execute();
  }

  #transports(p: Selectable<PasskeyTable>): string[] {
    return fromJson<string[]>(p.transports);
  }

  #user(environmentId: string, id: string) {
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

  #me(ctx: ActionContext): Me {
    const p = ctx.principal;
    if (p?.actorType !== "user" || !p.environmentId || !p.surfaceId) {
      throw new AppError(PlatformErrors.forbidden, "This route needs an end-user session.");
    }
    return p as Me;
  }
}

const challengeInvalid = () =>
  new AppError(IdentityErrors.passkey_challenge_invalid, "The challenge is unknown, used or expired; start again.");
const passkeyInvalid = () => new AppError(IdentityErrors.passkey_invalid, "The passkey could not be verified.");

/** reasonOf: the verifier's reason, bounded (it names origins and ids the client sent, never secrets). */
function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : "The attestation did not verify.";
  return message.slice(0, 300);
}
