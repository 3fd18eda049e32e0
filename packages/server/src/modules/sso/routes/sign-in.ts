import { defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { AccessErrors } from "../../access/index.js";
import { IdentityErrors } from "../../identity/index.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { SsoErrors } from "../errors.js";
import {
  DiscoveredSso,
  DiscoverSsoInput,
  OidcCallbackInput,
  OidcSignedIn,
  StartedOidc,
  StartOidcInput,
} from "../schemas.js";
import type { SsoService } from "../service.js";

const tags = ["End-user auth"];

/** signInRoutes: the OIDC sign-in flow, called by a product's frontend (no credential). */
export function signInRoutes(s: SsoService): RouteDefinition[] {
  return [
    defineRoute({
      method: "POST",
      url: "/v1/auth/sso/discover",
      operationId: "discoverSso",
      readOnly: true,
      summary: "Does this address sign in through its organisation's IdP?",
      description: "True only for a domain a tenant verified, with an enabled enterprise provider.",
      tags,
      auth: "none",
      body: DiscoverSsoInput,
      response: { status: 200, schema: DiscoveredSso, description: "Whether single sign-on applies." },
      errors: [TenancyErrors.surface_not_found],
      handler: ({ body }) => s.signIn.discover(body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/oidc/start",
      operationId: "startOidcSignIn",
      summary: "Start signing in with an OIDC provider (or the IdP an address's verified domain names)",
      description:
        "Answers the IdP's authorization URL (code flow, PKCE S256, state, nonce). The sign-in must come back within 10 minutes, once.",
      tags,
      auth: "none",
      body: StartOidcInput,
      response: { status: 201, schema: StartedOidc, description: "Where to send the browser." },
      errors: [
        TenancyErrors.surface_not_found,
        SsoErrors.provider_not_found,
        SsoErrors.provider_disabled,
        SsoErrors.redirect_uri_not_allowed,
        SsoErrors.sso_not_configured,
        SsoErrors.insecure_issuer,
        SsoErrors.idp_unavailable,
      ],
      handler: ({ ctx, body }) => s.signIn.start(ctx, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/oidc/callback",
      operationId: "completeOidcSignIn",
      summary: "Complete an OIDC sign-in with the state and code the IdP redirected with",
      description:
        "The product's frontend receives the redirect and forwards `state` and `code` (after checking the state is the one it started). Opens a session (method `oidc`).",
      tags,
      auth: "none",
      body: OidcCallbackInput,
      response: { status: 201, schema: OidcSignedIn, description: "The user and its session token (shown once)." },
      secretFields: ["token", "accessToken", "refreshToken", "challengeToken"],
      errors: [
        TenancyErrors.surface_not_found,
        SsoErrors.oidc_state_invalid,
        SsoErrors.oidc_callback_invalid,
        SsoErrors.oidc_email_missing,
        SsoErrors.account_exists_unverified,
        SsoErrors.account_link_not_trusted,
        SsoErrors.oidc_signup_disabled,
        SsoErrors.provider_disabled,
        SsoErrors.insecure_issuer,
        SsoErrors.idp_unavailable,
        IdentityErrors.user_disabled,
        IdentityErrors.email_taken,
        AccessErrors.already_member,
      ],
      handler: ({ ctx, body }) => s.signIn.callback(ctx, body),
    }),
  ];
}
