import { z } from "zod";
import { nameSchemas } from "../../platform/http/schemas.js";
import { MANIFEST_RISKS } from "../../platform/manifest.js";

const Hash = z
  .string()
  .regex(/^sha256:[0-9a-f]{64}$/, "must be sha256: and 64 hex digits")
  .describe("`sha256:` and the hex SHA-256 of the canonical JSON (RFC 8785) it stands for.");

/**
 * EnvironmentManifest is one environment's configuration: section name → items. Each section's
 * items are validated by the module that owns it (GET /v1/manifest/schema has the whole shape).
 */
export const EnvironmentManifest = z
  .record(z.string().max(64), z.array(z.unknown()).max(1000))
  .refine((m) => Object.keys(m).length <= 50, "at most 50 sections")
  .describe("Section name (`roles`, `meters`, `surfaces`, …) → its items. A section left out is not managed.");

export const PlanInput = z.strictObject({ manifest: EnvironmentManifest });

export const ApplyInput = z.strictObject({
  manifest: EnvironmentManifest,
  liveHash: Hash.describe(
    "The plan's `liveHash`: the apply is refused (409 manifest_stale) when the plane changed since.",
  ),
  allowDestructive: z
    .boolean()
    .default(false)
    .describe("Apply destructive changes too (without it, a plan holding any is refused: 409 manifest_destructive)."),
});

export const Affected = z.object({ count: z.number().int(), what: z.string() });

export const ManifestChange = z.object({
  section: z.string(),
  action: z.enum(["create", "update", "delete"]),
  key: z.string().describe("The object's key in its section (a role's key, a surface's name)."),
  risk: z
    .enum(MANIFEST_RISKS as [string, ...string[]])
    .describe(
      "`additive`: nothing that works stops working; `behaviour`: what callers can do or what is counted changes; " +
        "`destructive`: something in use is lost (a held role, a ceiling tightened, a meter with events).",
    ),
  summary: z.string(),
  fields: z.array(z.string()).describe("The fields that differ."),
  before: z.record(z.string(), z.unknown()).nullable().describe("The live object (null for a create)."),
  after: z.record(z.string(), z.unknown()).nullable().describe("The manifest's object (null for a delete)."),
  affected: z
    .array(Affected)
    .describe('What the change touches: `{ "count": 42, "what": "memberships hold role `analyst`" }`.'),
  blocked: z.string().nullable().describe("Why the plane would refuse this change (apply refuses the whole manifest)."),
});

export const RiskSummary = z.object({
  changes: z.number().int(),
  additive: z.number().int(),
  behaviour: z.number().int(),
  destructive: z.number().int(),
  blocked: z.number().int(),
});

export const ManifestPlan = z.object({
  environmentId: z.string(),
  manifestHash: Hash.describe("The hash of the manifest (its sections, items normalized)."),
  liveHash: Hash.describe("The hash of the live configuration of the manifest's sections: pass it to apply."),
  sections: z.array(z.string()),
  changes: z.array(ManifestChange),
  summary: RiskSummary,
});

export const ManifestApplied = ManifestPlan.extend({
  liveHashBefore: Hash,
  liveHash: Hash.describe(
    "The hash of the live configuration after the apply (a new plan of the same manifest shows no change).",
  ),
});

export const ManifestExport = z.object({
  environmentId: z.string(),
  manifest: z.record(z.string(), z.array(z.unknown())),
  liveHash: Hash,
  omitted: z
    .array(z.object({ section: z.string(), reason: z.string() }))
    .describe("Sections the credential may not read (surfaces are operators' only)."),
});

nameSchemas({
  ManifestPlan,
  ManifestApplied,
  ManifestExport,
  ManifestChange,
  ManifestPlanInput: PlanInput,
  ManifestApplyInput: ApplyInput,
});
