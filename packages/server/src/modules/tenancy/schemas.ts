import { z } from "zod";
import { refuseCredentialLikeKeys } from "../../platform/facts/index.js";
import { paginationQuery } from "../../platform/http/pagination.js";
import { nameSchemas, Timestamp } from "../../platform/http/schemas.js";
import { isPermission } from "../../platform/permissions.js";

/** isTimeZone: the runtime knows `tz` as an IANA time zone. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Public shapes of the tenancy module: request inputs and response objects (camelCase). */

export const Slug = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, "must be 1–64 lower-case letters, digits and inner hyphens");
export const Name = z.string().trim().min(1).max(200);
export const Origin = z
  .string()
  .max(300)
  .regex(/^https?:\/\/[^/\s?#]+$/, "must be an origin like https://app.example.com (no path)");
export const Permission = z
  .string()
  .max(100)
  .refine(isPermission, "must be resource:action, resource:*, *:action or *");

export const Project = z.object({
  id: z.string(),
  name: z.string(),
  slug: z.string(),
  archivedAt: Timestamp.nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Project = z.infer<typeof Project>;
export const CreateProjectInput = z.strictObject({ name: Name, slug: Slug.optional() });
export const UpdateProjectInput = z.strictObject({ name: Name.optional() });

export const Environment = z.object({
  id: z.string(),
  projectId: z.string(),
  name: z.string(),
  slug: z.string(),
  /** production: live data and real money; test-only tools (billing test clocks) are refused in it. */
  production: z.boolean(),
  archivedAt: Timestamp.nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Environment = z.infer<typeof Environment>;
export const CreateEnvironmentInput = z.strictObject({
  name: Name,
  slug: Slug.optional(),
  /** production: defaults to true for the slugs `production`, `prod` and `live`, false otherwise. */
  production: z.boolean().optional(),
});
export const UpdateEnvironmentInput = z.strictObject({ name: Name.optional() });

export const SurfaceKind = z.enum(["web", "api", "agent", "internal"]);
export const Surface = z.object({
  id: z.string(),
  environmentId: z.string(),
  name: z.string(),
  kind: SurfaceKind,
  allowedOrigins: z.array(z.string()).describe("Browser origins allowed to call the API for this surface."),
  scopeCeiling: z.array(z.string()).describe("No credential issued to this surface can do more than this."),
  selfSignup: z.boolean().describe("Whether end users may sign up themselves through this surface."),
  archivedAt: Timestamp.nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Surface = z.infer<typeof Surface>;
export const CreateSurfaceInput = z.strictObject({
  name: Name,
  kind: SurfaceKind,
  allowedOrigins: z.array(Origin).max(50).default([]),
  scopeCeiling: z.array(Permission).max(200).default(["*"]),
  selfSignup: z.boolean().default(false),
});
export const UpdateSurfaceInput = z.strictObject({
  name: Name.optional(),
  allowedOrigins: z.array(Origin).max(50).optional(),
  scopeCeiling: z.array(Permission).max(200).optional(),
  selfSignup: z.boolean().optional(),
});

/** METADATA_MAX_BYTES bounds a tenant's metadata (as JSON). */
export const METADATA_MAX_BYTES = 8192;
const Metadata = z
  .record(z.string().max(100), z.unknown())
  .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= METADATA_MAX_BYTES, {
    message: `must be at most ${METADATA_MAX_BYTES} bytes as JSON`,
  })
  .superRefine(refuseCredentialLikeKeys)
  .describe(`Free-form JSON object for the product's own use, at most ${METADATA_MAX_BYTES} bytes.`);

export const TenantState = z
  .enum(["active", "suspended", "deactivated"])
  .describe(
    "Lifecycle state. `suspended` pauses the tenant's sessions, tenant keys, agent keys and webhook delivery " +
      "except reading, export and billing recovery; `deactivated` is the same for a tenant that left.",
  );
export const StateCategory = z
  .enum(["billing", "other"])
  .describe("Why the tenant is not active: `billing` answers 402 to its members, `other` 403.");
export const Tenant = z.object({
  id: z.string(),
  environmentId: z.string(),
  name: z.string(),
  slug: z.string(),
  externalId: z.string().nullable().describe("The product's own id for this tenant."),
  metadata: z.record(z.string(), z.unknown()),
  timeZone: z
    .string()
    .describe("IANA time zone: the tenant's calendar months (usage limits, billing periods) are counted in it."),
  state: TenantState,
  stateReason: z.string().nullable(),
  stateCategory: StateCategory.nullable(),
  stateChangedBy: z.string().nullable().describe("The actor id that made the last state change."),
  stateChangedAt: Timestamp,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Tenant = z.infer<typeof Tenant>;
const ExternalId = z.string().min(1).max(200);
const TimeZone = z
  .string()
  .min(1)
  .max(64)
  .refine(isTimeZone, "must be an IANA time zone (e.g. Europe/Berlin)")
  .describe("IANA time zone (default UTC).");
export const CreateTenantInput = z.strictObject({
  name: Name,
  slug: Slug.optional(),
  externalId: ExternalId.optional(),
  metadata: Metadata.optional(),
  timeZone: TimeZone.optional(),
});
export const UpdateTenantInput = z.strictObject({
  name: Name.optional(),
  slug: Slug.optional(),
  externalId: ExternalId.nullable().optional(),
  metadata: Metadata.optional(),
  timeZone: TimeZone.optional(),
});
const Reason = z.string().trim().min(1).max(500);
export const SuspendTenantInput = z.strictObject({
  reason: Reason.describe("Why the tenant is suspended (recorded with the state and in the audit trail)."),
  category: StateCategory.default("other"),
});
export const DeactivateTenantInput = z.strictObject({ reason: Reason });
export const ReactivateTenantInput = z.strictObject({ reason: Reason.optional() });

export const ListTenantsQuery = paginationQuery
  .extend({
    state: TenantState.optional(),
    externalId: ExternalId.optional(),
    q: z.string().min(1).max(200).optional().describe("Search name, slug and external id (case-insensitive)."),
  })
  .strict();

export const ListQuery = paginationQuery
  .extend({
    archived: z.enum(["true", "false"]).optional().describe("Include archived objects (default: only active)."),
  })
  .strict();

/** slugify derives a slug from a display name ("Acme Suite!" → "acme-suite"). */
export function slugify(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 64)
    .replace(/-+$/g, "");
  return slug === "" ? "x" : slug;
}

// The API document's names of this module's resources and inputs (`#/components/schemas/…`).
nameSchemas(
  {
    CreateEnvironmentInput,
    CreateProjectInput,
    CreateSurfaceInput,
    CreateTenantInput,
    DeactivateTenantInput,
    Environment,
    Project,
    ReactivateTenantInput,
    Surface,
    SuspendTenantInput,
    Tenant,
    UpdateEnvironmentInput,
    UpdateProjectInput,
    UpdateSurfaceInput,
    UpdateTenantInput,
  },
  {
    Tenant: {
      description: "A customer organisation of an environment, with its lifecycle state.",
      examples: [
        {
          id: "ten_01JEXQ4Z7M3K9T2V8W5Y6B1C0D",
          environmentId: "env_01JEXPZ3R8N6H4F2D0B9C7A5E3",
          name: "Globex",
          slug: "globex",
          externalId: "cus_42",
          metadata: { plan: "growth" },
          timeZone: "Europe/Berlin",
          state: "active",
          stateReason: null,
          stateCategory: null,
          stateChangedBy: null,
          stateChangedAt: "2026-12-01T09:30:00.000Z",
          createdAt: "2026-12-01T09:30:00.000Z",
          updatedAt: "2026-12-07T10:15:42.000Z",
        },
      ],
    },
    CreateTenantInput: {
      description: "A new tenant: a name, and optionally its slug, your own id for it, metadata and time zone.",
      examples: [{ name: "Globex", externalId: "cus_42", metadata: { plan: "growth" }, timeZone: "Europe/Berlin" }],
    },
  },
);
