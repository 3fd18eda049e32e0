/** Kysely table types of the sso module. */

export type ProviderKind = "social" | "enterprise";

/** OidcProviderTable: an OpenID Connect provider of a surface (social) or of a tenant (enterprise). */
export interface OidcProviderTable {
  id: string;
  environment_id: string;
  kind: ProviderKind;
  /** surface_id: set for a social provider (users of that surface sign in with it). */
  surface_id: string | null;
  /** tenant_id: set for an enterprise provider (the tenant's own IdP). */
  tenant_id: string | null;
  name: string;
  issuer: string;
  client_id: string;
  /** client_secret is sealed under the master key (row id as associated data). */
  client_secret: string;
  scopes: unknown;
  trust_email_verified: number | boolean;
  jit: number | boolean;
  default_role: string;
  enabled: number | boolean;
  created_at: number;
  updated_at: number;
}

/** OidcLoginTable: one started sign-in, single use, bound to its state (stored hashed). */
export interface OidcLoginTable {
  id: string;
  environment_id: string;
  surface_id: string;
  provider_id: string;
  state_hash: string;
  /** code_verifier is the PKCE verifier, sealed under the master key (row id as associated data). */
  code_verifier: string;
  nonce: string;
  redirect_uri: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

/** UserIdentityTable: the link of a provider's subject to a user; (provider, subject) is the identity. */
export interface UserIdentityTable {
  id: string;
  environment_id: string;
  provider_id: string;
  subject: string;
  user_id: string;
  email: string | null;
  created_at: number;
  last_login_at: number;
}

/** SsoDomainTable: a tenant's claim on an email domain, verified by a DNS TXT record. */
export interface SsoDomainTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  domain: string;
  /** token is the value the TXT record must carry (public by design). */
  token: string;
  /** verified_key is `environment_id:domain` once verified (unique: one tenant per environment), else null. */
  verified_key: string | null;
  verified_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface SsoTables {
  oidc_provider: OidcProviderTable;
  oidc_login: OidcLoginTable;
  user_identity: UserIdentityTable;
  sso_domain: SsoDomainTable;
}
