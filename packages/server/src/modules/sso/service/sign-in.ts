import type { Selectable } from "kysely";
import * as client from "openid-client";
import { z } from "zod";
import { sha256Hex } from "../../../platform/crypto.js";
import { fromJson, isUniqueViolation, type Tx } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ActionContext } from "../../../platform/principal.js";
import type { User } from "../../identity/index.js";
import { IdentityErrors } from "../../identity/index.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { SsoErrors } from "../errors.js";
import { newId } from "../ids.js";
import type { Core } from "../internal/core.js";
import { issuerRefusal } from "../internal/issuer.js";
import { emailDomain } from "../internal/rows.js";
import type { DiscoverSsoInput, OidcCallbackInput, OidcSignedIn, StartOidcInput } from "../schemas.js";
import type { OidcProviderTable } from "../tables.js";
import type { DomainsService } from "./domains.js";
import type { ProvidersService } from "./providers.js";

/** LOGIN_TTL_MS: a started sign-in must come back within ten minutes. */
export const LOGIN_TTL_MS = 10 * 60_000;

type Provider = Selectable<OidcProviderTable>;
type SignedIn = z.input<typeof OidcSignedIn>;

const ValidEmail = z.email().max(254);

/** Claims: what the sign-in reads of a validated ID token. */
interface Claims {
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
}

/**
 * SignInService: the OpenID Connect authorization code flow with PKCE, for a surface's end users.
 * `start` stores a single-use sign-in (hashed state, sealed PKCE verifier, nonce, redirect URI on
 * one of the surface's allowed origins) and answers the IdP's authorization URL; `callback`
 * claims it once, exchanges the code (openid-client checks state, nonce, issuer, audience and
 * signature) and signs the user in by the linking rules of `#account` (docs: oidc.md).
 */
export class SignInService {
  constructor(
    private readonly c: Core,
    private readonly providers: ProvidersService,
    private readonly domains: DomainsService,
  ) {}

  /**
   * discover tells whether an address signs in through a tenant's IdP: only a domain verified by
   * a tenant with an enabled enterprise provider answers true, so unverified claims reveal nothing.
   */
  async discover(input: z.infer<typeof DiscoverSsoInput>) {
    const surface = await this.#surface(input.surfaceId);
    const provider = await this.#routed(surface.environmentId, input.email);
    return { sso: provider !== null, providerId: provider?.id ?? null, providerName: provider?.name ?? null };
  }

  async start(ctx: ActionContext, input: z.infer<typeof StartOidcInput>) {
    const surface = await this.#surface(input.surfaceId);
    const redirect = new URL(input.redirectUri);
    if (!surface.allowedOrigins.includes(redirect.origin)) {
      const message = `${redirect.origin} is not one of the surface's allowed origins`;
      throw new AppError(SsoErrors.redirect_uri_not_allowed, `redirectUri: ${message}.`, {
        errors: [{ path: "body.redirectUri", message }],
      });
    }
    let provider: Provider | null;
    if (input.providerId !== undefined) {
      provider = await this.providers.row(surface.environmentId, input.providerId);
      if (provider.kind === "social" && provider.surface_id !== surface.id) {
        throw new AppError(SsoErrors.provider_not_found, `No OIDC provider ${input.providerId} on this surface.`);
      }
    } else {
      provider = await this.#routed(surface.environmentId, input.email as string);
      if (!provider) throw new AppError(SsoErrors.sso_not_configured, "No single sign-on applies to this address.");
    }
    if (!provider.enabled) throw new AppError(SsoErrors.provider_disabled, "This provider is disabled.");
    const config = await this.#configuration(provider);
    const state = client.randomState();
    const nonce = client.randomNonce();
    const verifier = client.randomPKCECodeVerifier();
    const challenge = await client.calculatePKCECodeChallenge(verifier);
    const now = this.c.m.clock.now();
    const id = newId("oidcLogin", now);
    const expiresAt = now + LOGIN_TTL_MS;
    const authorizationUrl = client.buildAuthorizationUrl(config, {
      redirect_uri: input.redirectUri,
      scope: fromJson<string[]>(provider.scopes).join(" "),
      response_type: "code",
      code_challenge: challenge,
      code_challenge_method: "S256",
      state,
      nonce,
      ...(input.email !== undefined ? { login_hint: input.email } : {}),
    });
    await this.c.m.db.write(ctx, async (tx) => {
      await this.c.tables
        .q(tx)
        .insertInto("oidc_login")
        .values({
          id,
          environment_id: surface.environmentId,
          surface_id: surface.id,
          provider_id: provider.id,
          state_hash: sha256Hex(state),
          code_verifier: this.c.m.secrets.seal(verifier, id),
          nonce,
          redirect_uri: input.redirectUri,
          created_at: now,
          expires_at: expiresAt,
          used_at: null,
        })
        .execute();
    });
    return { authorizationUrl: authorizationUrl.href, state, providerId: provider.id, expiresAt: iso(expiresAt) };
  }

  async callback(ctx: ActionContext, input: z.infer<typeof OidcCallbackInput>): Promise<SignedIn> {
    const surface = await this.#surface(input.surfaceId);
    const invalid = () =>
      new AppError(SsoErrors.oidc_state_invalid, "The sign-in is unknown, used or expired; start again.");
    const now = this.c.m.clock.now();
    const login = await this.c.tables
      .q()
      .selectFrom("oidc_login")
      .selectAll()
      .where("state_hash", "=", sha256Hex(input.state))
      .where("environment_id", "=", surface.environmentId)
      .where("surface_id", "=", surface.id)
      .executeTakeFirst();
    if (!login || login.used_at !== null || login.expires_at <= now) throw invalid();
    // Single use, decided by the row count: of two callbacks with one state, one goes on.
    const claimed = await this.c.m.db.transaction((tx) =>
      this.c.tables
        .q(tx)
        .updateTable("oidc_login")
        .set({ used_at: now })
        .where("id", "=", login.id)
        .where("used_at", "is", null)
        .executeTakeFirst(),
    );
    if (Number(claimed.numUpdatedRows) !== 1) throw invalid();
    const provider = await this.providers.row(surface.environmentId, login.provider_id).catch(() => {
      throw invalid();
    });
    if (!provider.enabled) throw new AppError(SsoErrors.provider_disabled, "This provider is disabled.");
    const config = await this.#configuration(provider);
    const claims = await this.#exchange(config, login, input);
    return this.#account(ctx, surface.id, surface.selfSignup, provider, claims);
  }

  /** pruneLogins deletes sign-ins that expired over an hour ago (a recurring job). */
  async pruneLogins(): Promise<number> {
    const cutoff = this.c.m.clock.now() - 60 * 60_000;
    const res = await this.c.m.db.transaction((tx) =>
      this.c.tables.q(tx).deleteFrom("oidc_login").where("expires_at", "<", cutoff).executeTakeFirst(),
    );
    return Number(res.numDeletedRows);
  }

  async #exchange(
    config: client.Configuration,
    login: { redirect_uri: string; nonce: string; code_verifier: string; id: string },
    input: z.infer<typeof OidcCallbackInput>,
  ): Promise<Claims> {
    const current = new URL(login.redirect_uri);
    current.searchParams.set("code", input.code);
    current.searchParams.set("state", input.state);
    // The state names the provider this sign-in was started with, so an IdP mix-up cannot
    // happen; the issuer the IdP sent (RFC 9207) is still checked when it sent one.
    const meta = config.serverMetadata();
    const iss = input.iss ?? (meta.authorization_response_iss_parameter_supported ? meta.issuer : undefined);
    if (iss !== undefined) current.searchParams.set("iss", iss);
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(
        config,
        current,
        {
          pkceCodeVerifier: this.c.m.secrets.open(login.code_verifier, login.id),
          expectedState: input.state,
          expectedNonce: login.nonce,
          idTokenExpected: true,
        },
        { redirect_uri: login.redirect_uri },
      );
    } catch (err) {
      if (
        err instanceof client.ClientError ||
        err instanceof client.ResponseBodyError ||
        err instanceof client.AuthorizationResponseError ||
        err instanceof client.WWWAuthenticateChallengeError
      ) {
        const about = err.cause instanceof Error && err.cause.message !== err.message ? ` (${err.cause.message})` : "";
        throw new AppError(
          SsoErrors.oidc_callback_invalid,
          `The identity provider's answer was refused: ${err.message}${about}`,
        );
      }
      this.c.m.logger.warn({ err }, "OIDC code exchange failed");
      throw new AppError(SsoErrors.idp_unavailable, "The identity provider could not be reached; try again.");
    }
    const idToken = tokens.claims();
    if (!idToken) throw new AppError(SsoErrors.oidc_callback_invalid, "The identity provider sent no ID token.");
    const email =
      typeof idToken.email === "string" && ValidEmail.safeParse(idToken.email).success ? idToken.email : null;
    const name = typeof idToken.name === "string" ? idToken.name.trim().slice(0, 200) : "";
    return {
      subject: idToken.sub,
      email,
      // Only the boolean true counts: a string "true" or a missing claim proves nothing.
      emailVerified: idToken.email_verified === true,
      name: name === "" ? null : name,
    };
  }

  /**
   * #account applies the linking rules and opens the session, the account's change and its facts
   * in one transaction:
   * 1. a link (provider, subject) exists → its user;
   * 2. else a user with the address exists → linked only when the IdP asserted `email_verified`
   *    (409 `account_exists_unverified` otherwise) AND the provider is trusted for that address:
   *    a social provider with `trustEmailVerified`, an enterprise provider for addresses of its
   *    tenant's verified domains (409 `account_link_not_trusted` otherwise);
   * 3. else a user is created: through a social provider when the surface allows sign-up, through
   *    an enterprise provider with JIT for addresses of its tenant's verified domains (403
   *    `oidc_signup_disabled` otherwise). The address counts as verified only when it is trusted.
   * A first sign-in through an enterprise provider with JIT adds the user to its tenant.
   */
  async #account(
    ctx: ActionContext,
    surfaceId: string,
    selfSignup: boolean,
    provider: Provider,
    claims: Claims,
  ): Promise<SignedIn> {
    const environmentId = provider.environment_id;
    const link = await this.#link(provider.id, claims.subject);
    if (link) {
      return this.c.m.db.write(ctx, async (tx) => {
        const locked = await this.#link(provider.id, claims.subject, tx);
        if (!locked) throw raced();
        const user = await this.c.identity.users.lockUserForSignIn(tx, environmentId, { id: locked.user_id });
        if (!user || user.disabled) throw new AppError(IdentityErrors.user_disabled, "The user is disabled.");
        await this.c.tables
          .q(tx)
          .updateTable("user_identity")
          .set({ last_login_at: this.c.m.clock.now() })
          .where("id", "=", locked.id)
          .execute();
        const issued = await this.c.identity.sessions.completeFirstFactor(tx, ctx, user, surfaceId, "oidc");
        return { ...issued, userCreated: false, linked: false };
      });
    }
    if (claims.email === null) {
      throw new AppError(SsoErrors.oidc_email_missing, "The identity provider gave no usable email address.");
    }
    const email = claims.email;
    const existing = await this.c.identity.users.lookupUser(environmentId, { email });
    if (existing) {
      await this.#checkLinkable(provider, claims);
      return this.c.m.db.write(ctx, async (tx) => {
        const user = await this.c.identity.users.lockUserForSignIn(tx, environmentId, { email });
        if (!user || user.id !== existing.id) throw raced();
        if (user.disabled) throw new AppError(IdentityErrors.user_disabled, "The user is disabled.");
        await this.#checkLinkable(provider, claims, tx);
        return this.#linkAndOpen(tx, ctx, surfaceId, provider, claims, user, false);
      });
    }
    const trusted = claims.emailVerified && (await this.#trusted(provider, email));
    const allowed =
      provider.kind === "social" ? selfSignup : Boolean(provider.jit) && (await this.#tenantDomain(provider, email));
    if (!allowed) {
      throw new AppError(
        SsoErrors.oidc_signup_disabled,
        provider.kind === "social"
          ? "This surface does not allow sign-up; ask the product to create your account."
          : "This IdP creates accounts only for addresses of its tenant's verified domains, with JIT on.",
      );
    }
    let signedIn: SignedIn | undefined;
    try {
      await this.c.identity.users.insertUser(
        { ...ctx, principal: null },
        environmentId,
        { email, ...(claims.name ? { name: claims.name } : {}) },
        {
          factType: "user.signed_up",
          surfaceId,
          emailVerified: trusted,
          afterInsert: async (tx, user) => {
            signedIn = await this.#linkAndOpen(tx, ctx, surfaceId, provider, claims, user, true);
          },
        },
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw raced();
      throw err;
    }
    return signedIn as SignedIn;
  }

  async #linkAndOpen(
    tx: Tx,
    ctx: ActionContext,
    surfaceId: string,
    provider: Provider,
    claims: Claims,
    user: User,
    userCreated: boolean,
  ): Promise<SignedIn> {
    const now = this.c.m.clock.now();
    const id = newId("userIdentity", now);
    const asUser: ActionContext = {
      ...ctx,
      principal: {
        actorType: "user",
        actorId: user.id,
        credentialId: id,
        environmentId: user.environmentId,
        surfaceId,
        permissions: [],
        displayName: user.email,
      },
    };
    await this.c.tables
      .q(tx)
      .insertInto("user_identity")
      .values({
        id,
        environment_id: user.environmentId,
        provider_id: provider.id,
        subject: claims.subject,
        user_id: user.id,
        email: claims.email,
        created_at: now,
        last_login_at: now,
      })
      .execute();
    await this.c.m.facts.record(tx, asUser, {
      type: "user_identity.linked",
      environmentId: user.environmentId,
      tenantId: provider.tenant_id,
      targets: [
        { type: "user", id: user.id },
        { type: "user_identity", id },
        { type: "oidc_provider", id: provider.id },
      ],
      data: { providerId: provider.id, kind: provider.kind, email: claims.email },
    });
    if (provider.kind === "enterprise" && provider.jit && provider.tenant_id) {
      const scope = { environmentId: user.environmentId, tenantId: provider.tenant_id };
      const member = await this.c.access.grants.membershipOf(scope.environmentId, scope.tenantId, user.id, tx);
      if (!member)
        await this.c.access.memberships.insertMembership(tx, asUser, scope, user.id, [provider.default_role]);
    }
    const issued = await this.c.identity.sessions.completeFirstFactor(tx, ctx, user, surfaceId, "oidc");
    return { ...issued, userCreated, linked: true };
  }

  /** #checkLinkable throws unless an existing account with the IdP's address may be linked. */
  async #checkLinkable(provider: Provider, claims: Claims, tx?: Tx): Promise<void> {
    if (!claims.emailVerified) {
      throw new AppError(
        SsoErrors.account_exists_unverified,
        "An account with this email exists and the identity provider did not prove the address: sign in as before, then link this provider.",
      );
    }
    if (!(await this.#trusted(provider, claims.email as string, tx))) {
      throw new AppError(
        SsoErrors.account_link_not_trusted,
        "An account with this email exists and this provider is not trusted to prove it: sign in as before.",
      );
    }
  }

  /** #trusted: the provider may vouch for the address (see `#account`). */
  async #trusted(provider: Provider, email: string, tx?: Tx): Promise<boolean> {
    if (provider.kind === "social") return Boolean(provider.trust_email_verified);
    return this.#tenantDomain(provider, email, tx);
  }

  /** #tenantDomain: the address's domain is verified by the enterprise provider's tenant. */
  async #tenantDomain(provider: Provider, email: string, tx?: Tx): Promise<boolean> {
    if (!provider.tenant_id) return false;
    return (await this.domains.verifiedOwner(provider.environment_id, emailDomain(email), tx)) === provider.tenant_id;
  }

  /** #routed: the enabled enterprise provider of the tenant that verified the address's domain (oldest first). */
  async #routed(environmentId: string, email: string): Promise<Provider | null> {
    const tenantId = await this.domains.verifiedOwner(environmentId, emailDomain(email));
    if (!tenantId) return null;
    const row = await this.c.tables
      .q()
      .selectFrom("oidc_provider")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("tenant_id", "=", tenantId)
      .where("kind", "=", "enterprise")
      .where("enabled", "=", this.c.m.db.bool(true))
      .orderBy("id")
      .executeTakeFirst();
    return row ?? null;
  }

  #link(providerId: string, subject: string, tx?: Tx) {
    return this.c.tables
      .q(tx)
      .selectFrom("user_identity")
      .selectAll()
      .where("provider_id", "=", providerId)
      .where("subject", "=", subject)
      .$if(tx !== undefined, (qb) => this.c.m.db.forUpdate(qb))
      .executeTakeFirst();
  }

  async #configuration(provider: Provider): Promise<client.Configuration> {
    const policy = await this.providers.policyFor(provider.environment_id);
    const refusal = issuerRefusal(provider.issuer, policy);
    if (refusal) throw new AppError(SsoErrors.insecure_issuer, `The provider's issuer URL ${refusal}.`);
    try {
      return await this.c.issuers.configuration(this.providers.clientOf(provider), policy);
    } catch (err) {
      this.c.m.logger.warn({ err, providerId: provider.id }, "OIDC discovery failed");
      throw new AppError(SsoErrors.idp_unavailable, "The identity provider's configuration could not be read.");
    }
  }

  async #surface(id: string) {
    const surface = await this.c.tenancy.surfaces.findActiveSurface(id);
    if (!surface) throw new AppError(TenancyErrors.surface_not_found, `No active surface ${id}.`);
    return surface;
  }
}

function raced(): AppError {
  return new AppError(IdentityErrors.email_taken, "The account changed during sign-in; start again.");
}
