import { z } from "zod";
import { paginationQuery } from "../../platform/http/pagination.js";
import { Id, nameSchemas, Timestamp } from "../../platform/http/schemas.js";
import { IssuedSession, MfaChallenge } from "../identity/index.js";

/** Public shapes of the sso module. */

export const ProviderKind = z
  .enum(["social", "enterprise"])
  .describe("`social`: a surface's provider (Google-style); `enterprise`: a tenant's own IdP.");

const Scope = z
  .string()
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,100}$/, "must be an OAuth scope token")
  .describe("An OAuth scope.");

const Issuer = z
  .string()
  .min(1)
  .max(500)
  .refine((v) => URL.canParse(v), "must be an absolute URL")
  .describe("The issuer URL (https); its `/.well-known/openid-configuration` is discovered.");

const RoleKey = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,62}$/, "must be a role key")
  .describe("The role a member created by just-in-time sign-in gets (never `owner`).");

export const OidcProvider = z.object({
  id: z.string(),
  environmentId: z.string(),
  kind: ProviderKind,
  surfaceId: z.string().nullable().describe("A social provider's surface."),
  tenantId: z.string().nullable().describe("An enterprise provider's tenant."),
  name: z.string().describe("Shown on the sign-in button."),
  issuer: z.string(),
  clientId: z.string(),
  scopes: z.array(z.string()),
  trustEmailVerified: z
    .boolean()
    .describe(
      "Social providers: link a first sign-in to an existing account with the same address when the provider asserts `email_verified`. Enterprise providers link only addresses of the tenant's verified domains.",
    ),
  jit: z.boolean().describe("Enterprise providers: a first sign-in creates the user and its membership."),
  defaultRole: z.string().describe("The role of a membership created by just-in-time sign-in."),
  enabled: z.boolean(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type OidcProvider = z.infer<typeof OidcProvider>;

export const CreateProviderInput = z
  .strictObject({
    kind: ProviderKind,
    surfaceId: Id.optional().describe("Required for a social provider."),
    tenantId: Id.optional().describe("Required for an enterprise provider."),
    name: z.string().trim().min(1).max(100),
    issuer: Issuer,
    clientId: z.string().min(1).max(500),
    clientSecret: z.string().min(1).max(2000).describe("Stored sealed under the master key; never shown again."),
    scopes: z.array(Scope).max(20).default(["openid", "email", "profile"]).describe("`openid` is always added."),
    trustEmailVerified: z.boolean().default(false),
    jit: z.boolean().default(true),
    defaultRole: RoleKey.default("member"),
    enabled: z.boolean().default(true),
  })
  .superRefine((v, ctx) => {
    if (v.kind === "social" && (v.surfaceId === undefined || v.tenantId !== undefined)) {
      ctx.addIssue({ code: "custom", path: ["surfaceId"], message: "a social provider names a surface (no tenant)" });
    }
    if (v.kind === "enterprise" && (v.tenantId === undefined || v.surfaceId !== undefined)) {
      ctx.addIssue({
        code: "custom",
        path: ["tenantId"],
        message: "an enterprise provider names a tenant (no surface)",
      });
    }
  });

export const UpdateProviderInput = z.strictObject({
  name: z.string().trim().min(1).max(100).optional(),
  issuer: Issuer.optional(),
  clientId: z.string().min(1).max(500).optional(),
  clientSecret: z.string().min(1).max(2000).optional(),
  scopes: z.array(Scope).max(20).optional(),
  trustEmailVerified: z.boolean().optional(),
  jit: z.boolean().optional(),
  defaultRole: RoleKey.optional(),
  enabled: z.boolean().optional(),
});

export const ListProvidersQuery = paginationQuery.extend({
  surfaceId: Id.optional(),
  tenantId: Id.optional(),
});

const DomainName = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(
    /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/,
    "must be a domain name such as example.com",
  );

export const SsoDomain = z.object({
  id: z.string(),
  environmentId: z.string(),
  tenantId: z.string(),
  domain: z.string(),
  verified: z.boolean(),
  verifiedAt: Timestamp.nullable(),
  dnsRecord: z
    .object({ type: z.literal("TXT"), name: z.string(), value: z.string() })
    .describe("Publish this record, then call verify."),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type SsoDomain = z.infer<typeof SsoDomain>;

export const CreateDomainInput = z.strictObject({ domain: DomainName });

const RedirectUri = z
  .string()
  .min(1)
  .max(2000)
  .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), "must be an absolute http(s) URL")
  .describe("Where the IdP sends the browser back; its origin must be one of the surface's allowed origins.");

export const StartOidcInput = z
  .strictObject({
    surfaceId: Id,
    providerId: Id.optional().describe("The provider to sign in with."),
    email: z.email().max(254).optional().describe("Or an address whose verified domain names a tenant's IdP."),
    redirectUri: RedirectUri,
  })
  .refine((v) => (v.providerId === undefined) !== (v.email === undefined), {
    message: "give exactly one of providerId and email",
    path: ["providerId"],
  });

export const StartedOidc = z.object({
  authorizationUrl: z.string().describe("Send the browser here."),
  state: z.string().describe("Keep it (e.g. in session storage) and forward the callback only if its state matches."),
  providerId: z.string(),
  expiresAt: Timestamp,
});

export const OidcCallbackInput = z.strictObject({
  surfaceId: Id,
  state: z.string().min(1).max(512),
  code: z.string().min(1).max(4096),
  iss: z.string().max(500).optional().describe("The `iss` parameter of the redirect, when the IdP sent one."),
});

const SignInOutcome = {
  userCreated: z.boolean().describe("The sign-in created the user."),
  linked: z.boolean().describe("The sign-in linked the provider's identity to the user for the first time."),
};
export const OidcSignedIn = z
  .union([IssuedSession.extend(SignInOutcome), MfaChallenge.extend(SignInOutcome)])
  .describe(
    "The session; or, when a second factor is due, an MFA challenge (`mfaRequired: true`) to complete with `POST /v1/auth/mfa/verify`.",
  );

export const DiscoverSsoInput = z.strictObject({ surfaceId: Id, email: z.email().max(254) });

export const DiscoveredSso = z.object({
  sso: z.boolean().describe("Whether the address's domain is verified for a tenant's IdP."),
  providerId: z.string().nullable(),
  providerName: z.string().nullable(),
});

// The API document's names of this module's resources and inputs (`#/components/schemas/…`).
nameSchemas({
  CreateDomainInput,
  CreateProviderInput,
  DiscoverSsoInput,
  DiscoveredSso,
  OidcCallbackInput,
  OidcProvider,
  OidcSignedIn,
  SsoDomain,
  StartOidcInput,
  StartedOidc,
  UpdateProviderInput,
});
