import { z } from "zod";
import { Id, nameSchemas, Timestamp } from "../../platform/http/schemas.js";

/** PORTAL_FEATURES: the portal's sections; a link opens the ones it names (all by default). */
export const PORTAL_FEATURES = [
  "webhooks",
  "audit",
  "keys",
  "members",
  "usage",
  "billing",
  "support",
  "review",
] as const;
export type PortalFeature = (typeof PORTAL_FEATURES)[number];

/** isHttpsUrl: an https URL without credentials (logos, and the portal's back link). */
function isHttpsUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "https:" && !url.username && !url.password;
  } catch {
    return false;
  }
}

const Color = z
  .string()
  .regex(/^#[0-9a-fA-F]{6}$/, "must be a colour written #rrggbb")
  .transform((v) => v.toLowerCase());

/** CreatePortalLinkInput: what the product's backend vouches for when it opens the portal for a tenant's admin. */
export const CreatePortalLinkInput = z.strictObject({
  surfaceId: Id.optional().describe(
    "The surface the portal belongs to (its theme, its scope ceiling). Default: the secret key's surface.",
  ),
  expiresInSeconds: z
    .number()
    .int()
    .min(60)
    .max(3600)
    .default(300)
    .describe("How long the link can be opened (60–3600 s, default 300)."),
  sessionExpiresInSeconds: z
    .number()
    .int()
    .min(300)
    .max(3600)
    .default(3600)
    .describe("How long the portal session the link opens lasts (300–3600 s, default 3600)."),
  returnUrl: z
    .string()
    .max(2048)
    .refine(isHttpsUrl, "must be an https URL")
    .optional()
    .describe("Where the portal's back link (and its expired screen) sends the admin."),
  actor: z
    .strictObject({
      email: z.email().max(320).optional(),
      name: z.string().trim().min(1).max(200).optional(),
    })
    .optional()
    .describe("The customer admin the product vouches for: recorded in the audit log with everything the portal does."),
  features: z
    .array(z.enum(PORTAL_FEATURES))
    .min(1)
    .max(PORTAL_FEATURES.length)
    .optional()
    .describe("The sections the portal opens (default: all)."),
});
export type CreatePortalLinkInput = z.infer<typeof CreatePortalLinkInput>;

/** PortalLink: a minted link; `token` and `url` are shown once. */
export const PortalLink = z.object({
  id: z.string(),
  tenantId: z.string(),
  surfaceId: z.string(),
  url: z
    .string()
    .describe("The portal's address with the token in its fragment (`/portal#token=…`): never sent to a server."),
  token: z.string().nullable().describe("The link's one-time token, shown once."),
  features: z.array(z.enum(PORTAL_FEATURES)),
  returnUrl: z.string().nullable(),
  actor: z.object({ email: z.string().nullable(), name: z.string().nullable() }),
  expiresAt: Timestamp,
  createdAt: Timestamp,
});
export type PortalLink = z.infer<typeof PortalLink>;

/** StartPortalSessionInput: the link's token, exchanged once. */
export const StartPortalSessionInput = z.strictObject({
  token: z.string().min(1).max(512).describe("The token of a portal link (`bp_pl_…`)."),
});

/** PortalTheme: how a surface's portal looks (unset fields fall back to the plane's look). */
export const PortalTheme = z.object({
  surfaceId: z.string(),
  name: z.string().nullable(),
  logoUrl: z.string().nullable(),
  primaryColor: z.string().nullable(),
  accentColor: z.string().nullable(),
  updatedAt: Timestamp.nullable(),
});
export type PortalTheme = z.infer<typeof PortalTheme>;

/** SetPortalThemeInput: a surface's whole theme (fields left out are cleared). */
export const SetPortalThemeInput = z.strictObject({
  name: z.string().trim().min(1).max(100).optional().describe("The product's name, shown in the portal's header."),
  logoUrl: z
    .string()
    .max(2048)
    .refine(isHttpsUrl, "must be an https URL")
    .optional()
    .describe("An https image URL shown in the header."),
  primaryColor: Color.optional().describe("`#rrggbb`: buttons and links."),
  accentColor: Color.optional().describe("`#rrggbb`: the header's band."),
});
export type SetPortalThemeInput = z.infer<typeof SetPortalThemeInput>;

/** PortalSession: an open portal session; `token` is shown once (the portal page keeps it in memory). */
export const PortalSession = z.object({
  id: z.string(),
  token: z.string().nullable().describe("The session's bearer token (`bp_ps_…`), shown once."),
  tenantId: z.string(),
  expiresAt: Timestamp,
});
export type PortalSession = z.infer<typeof PortalSession>;

/** PortalContext: what the portal page needs to draw itself. */
export const PortalContext = z.object({
  sessionId: z.string(),
  environmentId: z.string(),
  tenant: z.object({ id: z.string(), name: z.string() }),
  features: z.array(z.enum(PORTAL_FEATURES)),
  permissions: z.array(z.string()),
  actor: z.object({ email: z.string().nullable(), name: z.string().nullable() }),
  theme: PortalTheme,
  returnUrl: z.string().nullable(),
  expiresAt: Timestamp,
});
export type PortalContext = z.infer<typeof PortalContext>;

export const RevokedPortalSession = z.object({ id: z.string(), revokedAt: Timestamp });

// The API document's names of this module's resources and inputs (`#/components/schemas/…`).
nameSchemas({
  CreatePortalLinkInput,
  PortalLink,
  StartPortalSessionInput,
  PortalSession,
  PortalContext,
  PortalTheme,
  SetPortalThemeInput,
  RevokedPortalSession,
});
