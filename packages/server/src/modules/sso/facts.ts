import { z } from "zod";
import type { FactDeclaration } from "../../platform/module.js";

/** SSO_FACTS: what the sso module records. */
export const SSO_FACTS: Readonly<Record<string, FactDeclaration>> = {
  "oidc_provider.created": {
    description: "An OIDC provider was added (a surface's social provider or a tenant's enterprise IdP).",
    data: z.object({ kind: z.string(), name: z.string(), issuer: z.string(), surfaceId: z.string().nullable() }),
  },
  "oidc_provider.updated": {
    description:
      "An OIDC provider changed (`changes`: before/after; `linksRemoved`: links to users ended by a new issuer).",
    data: z.object({ secretChanged: z.boolean(), linksRemoved: z.number().int() }),
  },
  "oidc_provider.deleted": {
    description: "An OIDC provider was removed, with its links to users.",
    data: z.object({ kind: z.string(), name: z.string(), issuer: z.string() }),
  },
  "user_identity.linked": {
    description: "A provider's identity (issuer subject) was linked to a user, at its first sign-in through it.",
    data: z.object({ providerId: z.string(), kind: z.string(), email: z.string().nullable() }),
  },
  "sso_domain.created": {
    description: "A tenant claimed an email domain (not yet verified).",
    data: z.object({ domain: z.string() }),
  },
  "sso_domain.verified": {
    description: "A tenant's domain claim was verified by its DNS TXT record.",
    data: z.object({ domain: z.string() }),
  },
  "sso_domain.deleted": {
    description: "A tenant's domain claim was removed.",
    data: z.object({ domain: z.string(), wasVerified: z.boolean() }),
  },
};
