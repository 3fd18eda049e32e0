import type { Selectable } from "kysely";
import { fromJson } from "../../../platform/db/db.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { OidcProvider, SsoDomain } from "../schemas.js";
import type { OidcProviderTable, SsoDomainTable } from "../tables.js";

/** CHALLENGE_LABEL is the label under which a domain publishes its verification TXT record. */
export const CHALLENGE_LABEL = "_baseplate-challenge";

export function toProvider(r: Selectable<OidcProviderTable>): OidcProvider {
  return {
    id: r.id,
    environmentId: r.environment_id,
    kind: r.kind,
    surfaceId: r.surface_id,
    tenantId: r.tenant_id,
    name: r.name,
    issuer: r.issuer,
    clientId: r.client_id,
    scopes: fromJson<string[]>(r.scopes),
    trustEmailVerified: Boolean(r.trust_email_verified),
    jit: Boolean(r.jit),
    defaultRole: r.default_role,
    enabled: Boolean(r.enabled),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

export function toDomain(r: Selectable<SsoDomainTable>): SsoDomain {
  return {
    id: r.id,
    environmentId: r.environment_id,
    tenantId: r.tenant_id,
    domain: r.domain,
    verified: r.verified_at !== null,
    verifiedAt: isoOrNull(r.verified_at),
    dnsRecord: { type: "TXT", name: `${CHALLENGE_LABEL}.${r.domain}`, value: r.token },
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

/** emailDomain is the lower-cased domain of an address (after its last `@`). */
export function emailDomain(email: string): string {
  return email
    .slice(email.lastIndexOf("@") + 1)
    .trim()
    .toLowerCase();
}
