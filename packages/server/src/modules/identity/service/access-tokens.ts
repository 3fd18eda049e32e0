import { randomBytes } from "node:crypto";
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { generateToken, parseToken, sha256Hex } from "../../../platform/crypto.js";
import type { Tx } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ActionContext } from "../../../platform/principal.js";
import { IdentityErrors } from "../errors.js";
import { newId } from "../ids.js";
import type { Core } from "../internal/core.js";
import { TOKEN_PREFIX } from "../internal/tokens.js";
import type { AuthSettingsService } from "./auth-settings.js";
import type { SigningKeysService } from "./signing-keys.js";

/** MEMBERSHIPS_IN_TOKEN: the most tenants an access token lists (`tenants_truncated: true` when there are more). */
export const MEMBERSHIPS_IN_TOKEN = 50;

/** VERIFIED_CACHE_SIZE: how many verified access tokens are remembered (oldest forgotten first). */
const VERIFIED_CACHE_SIZE = 20_000;

/** ACCESS_TOKEN_TYPE is the JWT `typ` of access tokens (RFC 9068). */
export const ACCESS_TOKEN_TYPE = "at+jwt";

/** MembershipSummary is one tenant a user belongs to, with the keys of its roles there. */
export interface MembershipSummary {
  tenantId: string;
  roles: string[];
}

/**
 * MembershipsReader lists up to `limit` of a user's memberships inside `tx` (the access module
 * registers it: identity cannot import access). More than `limit` returned means "truncated".
 */
export type MembershipsReader = (
  tx: Tx,
  environmentId: string,
  userId: string,
  limit: number,
) => Promise<MembershipSummary[]>;

/** SessionForTokens is what an access token says about its session. */
export interface SessionForTokens {
  id: string;
  environmentId: string;
  userId: string;
  surfaceId: string;
  createdAt: number;
  expiresAt: number;
  authMethod: string;
  aal: number;
}

/** IssuedTokens: an access token (JWT), its expiry, and the refresh token that renews it. */
export interface IssuedTokens {
  accessToken: string;
  accessTokenExpiresAt: string;
  refreshToken: string;
}

/** AccessTokenClaims: what a verified access token says. */
export interface AccessTokenClaims {
  kid: string;
  userId: string;
  sessionId: string;
  surfaceId: string;
  environmentId: string;
  expiresAt: number;
  aal: number;
  method: string;
  authenticatedAt: number;
}

/** Verification: a verified access token, or why it is refused (another environment's token is `invalid`). */
export type Verification = { valid: true; claims: AccessTokenClaims } | { valid: false; reason: "invalid" | "expired" };

/** Header parameters that point at keys elsewhere or extend processing: a token carrying one is refused. */
const REFUSED_HEADERS = ["jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit"];

/**
 * AccessTokensService: short-lived JWT access tokens and rotating refresh tokens for sessions of
 * surfaces that turned them on (`tokens.accessTokens`). An access token names its session (`sid`)
 * and is verifiable by anyone with the environment's JWKS; a refresh token is spent once
 * (`refresh`), and spending one twice revokes its whole family with the session.
 */
export class AccessTokensService {
  #memberships: MembershipsReader | null = null;
  /**
   * #verified keeps tokens whose signature and claims were checked (a token never changes, nor
   * does a kid's key), so a token presented again costs a map lookup; expiry is checked on every use.
   */
  readonly #verified = new Map<string, AccessTokenClaims>();

  constructor(
    private readonly c: Core,
    private readonly keys: SigningKeysService,
    private readonly settings: AuthSettingsService,
  ) {}

  /** useMemberships installs the reader of a user's memberships (the access module's, at start-up). */
  useMemberships(reader: MembershipsReader): void {
    this.#memberships = reader;
  }

  /** issuer is the `iss` of an environment's access tokens. */
  issuer(environmentId: string): string {
    return `${this.c.config.publicUrl}/v1/environments/${environmentId}`;
  }

  /**
   * issueWithSession issues an access token and a new refresh-token family for a session just
   * opened in `tx`, when the surface turned access tokens on (null otherwise).
   */
  async issueWithSession(tx: Tx, session: SessionForTokens): Promise<IssuedTokens | null> {
    const settings = await this.settings.settingsFor(session.surfaceId, tx);
    if (!settings.tokens.accessTokens) return null;
    const refreshToken = await this.#refreshToken(tx, session, null, null);
    const access = await this.#sign(tx, session, settings.tokens.accessTokenTtlSeconds);
    return { ...access, refreshToken };
  }

  /**
   * refresh spends a refresh token for a new access token and a new refresh token. The spend is a
   * conditional update: of two requests with one token exactly one wins; the other, like any later
   * use of a spent token, is taken for a stolen copy (OAuth 2.1 §4.3.1 reuse detection): the
   * token's family and its session are revoked, `session.refresh_reused` is recorded, and 401.
   * A token of a revoked, expired or idle session, a disabled user or a surface that turned
   * access tokens off answers the same 401 `invalid_refresh_token`.
   */
  async refresh(ctx: ActionContext, token: string): Promise<IssuedTokens> {
    const invalid = () =>
      new AppError(IdentityErrors.invalid_refresh_token, "The refresh token is invalid, spent or expired.");
    if (!parseToken(token, [TOKEN_PREFIX.refreshToken])) throw invalid();
    const hash = sha256Hex(token);
    // The surface is checked before the transaction (tenancy reads outside it): an archived surface's
    // sessions are refused by the resolvers too, so a race here grants nothing they would not.
    const owner = await this.c.tables
      .q()
      .selectFrom("refresh_token")
      .innerJoin("session", "session.id", "refresh_token.session_id")
      .select(["session.surface_id", "session.environment_id"])
      .where("refresh_token.token_hash", "=", hash)
      .executeTakeFirst();
    const surface = owner ? await this.c.tenancy.surfaces.findActiveSurface(owner.surface_id) : null;
    const surfaceLive = surface !== null && surface.environmentId === owner?.environment_id;
    // A plain transaction: a detected reuse must commit its revocation, then answer 401.
    const outcome = await this.c.db.transaction(async (tx): Promise<IssuedTokens | "refused"> => {
      const now = this.c.clock.now();
      const q = this.c.tables.q(tx);
      const row = await q.selectFrom("refresh_token").selectAll().where("token_hash", "=", hash).executeTakeFirst();
      if (!row || row.revoked_at !== null || row.expires_at <= now) return "refused";
      const spent = await q
        .updateTable("refresh_token")
        .set({ used_at: now })
        .where("id", "=", row.id)
        .where("used_at", "is", null)
        .where("revoked_at", "is", null)
        .executeTakeFirst();
      if (Number(spent.numUpdatedRows) !== 1) {
        await this.#revokeFamily(tx, ctx, row.family_id, row.session_id, row.environment_id, now);
        return "refused";
      }
      const session = await q
        .selectFrom("session")
        .innerJoin("user", "user.id", "session.user_id")
        .select([
          "session.id",
          "session.environment_id",
          "session.user_id",
          "session.surface_id",
          "session.created_at",
          "session.last_used_at",
          "session.expires_at",
          "session.revoked_at",
          "session.auth_method",
          "session.aal",
          "user.disabled_at",
        ])
        .where("session.id", "=", row.session_id)
        .$call((qb) => this.c.db.forUpdate(qb))
        .executeTakeFirst();
      if (!session || session.revoked_at !== null || session.disabled_at !== null) return "refused";
      const lastUsed = Math.max(session.last_used_at, this.c.lastUsed.latest(session.id) ?? 0);
      if (session.expires_at <= now || lastUsed + this.c.config.sessions.idleMs <= now) return "refused";
      if (!surfaceLive || session.surface_id !== owner?.surface_id) return "refused";
      const settings = await this.settings.settingsFor(session.surface_id, tx);
      if (!settings.tokens.accessTokens) return "refused";
      // Renewing is using the session: it does not idle out while its access tokens are refreshed.
      await q.updateTable("session").set({ last_used_at: now }).where("id", "=", session.id).execute();
      const s: SessionForTokens = {
        id: session.id,
        environmentId: session.environment_id,
        userId: session.user_id,
        surfaceId: session.surface_id,
        createdAt: session.created_at,
        expiresAt: session.expires_at,
        authMethod: session.auth_method,
        aal: Number(session.aal),
      };
      const refreshToken = await this.#refreshToken(tx, s, row.family_id, row.id);
      const access = await this.#sign(tx, s, settings.tokens.accessTokenTtlSeconds);
      return { ...access, refreshToken };
    });
    if (outcome === "refused") throw invalid();
    return outcome;
  }

  /**
   * verifyAccessToken verifies a JWT access token issued to `environmentId`, locally: the `kid`
   * must name a published key of that environment, `alg` must be exactly that key's (so `none`,
   * HS256 keyed with the public key and any other algorithm fail), and no header that points at
   * a key elsewhere (`jku`, `x5u`, `jwk`, …) is accepted. A token of another environment, a forged
   * one and a malformed one are all `invalid`; `expired` is told only for a genuine token of this
   * environment. It never throws.
   */
  async verifyAccessToken(environmentId: string, token: string): Promise<Verification> {
    const invalid = { valid: false, reason: "invalid" } as const;
    const known = this.#verified.get(token);
    if (known) {
      if (known.environmentId !== environmentId) return invalid;
      if (known.expiresAt > this.c.clock.now()) return { valid: true, claims: known };
      this.#verified.delete(token);
      return { valid: false, reason: "expired" };
    }
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return invalid;
    }
    if (typeof header.kid !== "string" || typeof header.alg !== "string") return invalid;
    if (REFUSED_HEADERS.some((name) => name in header)) return invalid;
    const key = await this.keys.verificationKey(header.kid);
    if (!key || key.environmentId !== environmentId || key.alg !== header.alg) return invalid;
    try {
      const { payload } = await jwtVerify(token, key.publicKey, {
        algorithms: [key.alg],
        issuer: this.issuer(environmentId),
        typ: ACCESS_TOKEN_TYPE,
        currentDate: new Date(this.c.clock.now()),
        requiredClaims: ["sub", "aud", "exp", "iat", "sid", "env"],
      });
      if (payload.env !== environmentId || typeof payload.sid !== "string" || typeof payload.aud !== "string") {
        return invalid;
      }
      const claims: AccessTokenClaims = {
        kid: key.kid,
        userId: payload.sub as string,
        sessionId: payload.sid,
        surfaceId: payload.aud,
        environmentId,
        expiresAt: (payload.exp as number) * 1000,
        aal: Number(payload.aal ?? 1),
        method: Array.isArray(payload.amr) ? String(payload.amr[0]) : "password",
        authenticatedAt: Number(payload.auth_time ?? 0) * 1000,
      };
      if (this.#verified.size >= VERIFIED_CACHE_SIZE) {
        const oldest = this.#verified.keys().next().value;
        if (oldest !== undefined) this.#verified.delete(oldest);
      }
      this.#verified.set(token, claims);
      return { valid: true, claims };
    } catch (err) {
      return err instanceof joseErrors.JWTExpired ? { valid: false, reason: "expired" } : invalid;
    }
  }

  async #sign(
    tx: Tx,
    s: SessionForTokens,
    ttlSeconds: number,
  ): Promise<{ accessToken: string; accessTokenExpiresAt: string }> {
    const key = await this.keys.activeKey(tx, s.environmentId);
    const nowSeconds = Math.floor(this.c.clock.now() / 1000);
    // An access token never outlives its session.
    const exp = Math.min(nowSeconds + ttlSeconds, Math.floor(s.expiresAt / 1000));
    const memberships = this.#memberships
      ? await this.#memberships(tx, s.environmentId, s.userId, MEMBERSHIPS_IN_TOKEN + 1)
      : [];
    const tenants = Object.fromEntries(memberships.slice(0, MEMBERSHIPS_IN_TOKEN).map((m) => [m.tenantId, m.roles]));
    const accessToken = await new SignJWT({
      sid: s.id,
      env: s.environmentId,
      aal: s.aal,
      amr: [s.authMethod],
      auth_time: Math.floor(s.createdAt / 1000),
      tenants,
      ...(memberships.length > MEMBERSHIPS_IN_TOKEN ? { tenants_truncated: true } : {}),
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYPE })
      .setIssuer(this.issuer(s.environmentId))
      .setSubject(s.userId)
      .setAudience(s.surfaceId)
      .setIssuedAt(nowSeconds)
      .setNotBefore(nowSeconds)
      .setExpirationTime(exp)
      .setJti(randomBytes(16).toString("base64url"))
      .sign(key.privateKey);
    return { accessToken, accessTokenExpiresAt: iso(exp * 1000) };
  }

  async #refreshToken(tx: Tx, s: SessionForTokens, familyId: string | null, parentId: string | null): Promise<string> {
    const now = this.c.clock.now();
    const token = generateToken(TOKEN_PREFIX.refreshToken);
    const id = newId("refreshToken", now);
    await this.c.tables
      .q(tx)
      .insertInto("refresh_token")
      .values({
        id,
        environment_id: s.environmentId,
        session_id: s.id,
        family_id: familyId ?? id,
        parent_id: parentId,
        token_hash: sha256Hex(token),
        created_at: now,
        expires_at: s.expiresAt,
        used_at: null,
        revoked_at: null,
      })
      .execute();
    return token;
  }

  /** #revokeFamily ends a refresh-token family and its session (a spent token came back), with its fact. */
  async #revokeFamily(
    tx: Tx,
    ctx: ActionContext,
    familyId: string,
    sessionId: string,
    environmentId: string,
    now: number,
  ): Promise<void> {
    const q = this.c.tables.q(tx);
    await q
      .updateTable("refresh_token")
      .set({ revoked_at: now })
      .where("family_id", "=", familyId)
      .where("revoked_at", "is", null)
      .execute();
    const session = await q
      .selectFrom("session")
      .select(["user_id", "surface_id"])
      .where("id", "=", sessionId)
      .executeTakeFirst();
    await q
      .updateTable("session")
      .set({ revoked_at: now })
      .where("id", "=", sessionId)
      .where("revoked_at", "is", null)
      .execute();
    await this.c.revoked(tx, sessionId);
    // Recorded as the session's user: whoever presented the token acted with its credential.
    const asUser: ActionContext = session
      ? {
          ...ctx,
          principal: {
            actorType: "user",
            actorId: session.user_id,
            credentialId: sessionId,
            environmentId,
            surfaceId: session.surface_id,
            permissions: [],
          },
        }
      : ctx;
    await this.c.facts.record(tx, asUser, {
      type: "session.refresh_reused",
      environmentId,
      targets: [...(session ? [{ type: "user", id: session.user_id }] : []), { type: "session", id: sessionId }],
      data: { familyId },
    });
  }
}
