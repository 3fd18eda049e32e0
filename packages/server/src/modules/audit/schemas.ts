import { z } from "zod";
import { refuseCredentialLikeKeys } from "../../platform/facts/index.js";
import { paginationQuery } from "../../platform/http/pagination.js";
import { Id, nameSchemas, Timestamp, TimestampQuery } from "../../platform/http/schemas.js";
import { JsonSchemaInput } from "../../platform/json-schema.js";

/** Public shapes of the audit module: request inputs and response objects (camelCase). */

/** Action is `noun.past_verb` (`invoice.paid`, `report.exported`). */
export const Action = z
  .string()
  .max(100)
  .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.[a-z][a-z0-9_]*$/, "must be noun.past_verb, e.g. invoice.paid");
const Target = z.strictObject({ type: z.string().regex(/^[a-z][a-z0-9_]{0,49}$/), id: z.string().min(1).max(200) });

/** METADATA_MAX_BYTES bounds a product entry's metadata and changes (as JSON). */
export const METADATA_MAX_BYTES = 16_384;
const JsonObject = z
  .record(z.string().max(100), z.unknown())
  .superRefine(refuseCredentialLikeKeys)
  .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= METADATA_MAX_BYTES, {
    message: `must be at most ${METADATA_MAX_BYTES} bytes as JSON`,
  });

export const AuditActor = z.object({
  type: z.string(),
  id: z.string().nullable(),
  displayName: z.string().nullable(),
  model: z.string().nullable(),
  onBehalfOf: z.object({ type: z.string(), id: z.string(), reason: z.string().nullable() }).nullable(),
});

export const AuditEntry = z.object({
  v: z.literal(1),
  id: z.string(),
  chain: z.string().describe("The chain: the tenant id, the environment id, or `plane`."),
  seq: z.number().int().describe("Position in the chain, from 1, without gaps."),
  environmentId: z.string().nullable(),
  tenantId: z.string().nullable(),
  action: z.string(),
  occurredAt: Timestamp,
  actor: AuditActor,
  targets: z.array(z.object({ type: z.string(), id: z.string() })),
  context: z.object({
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    surfaceId: z.string().nullable(),
    requestId: z.string().nullable(),
  }),
  metadata: z.record(z.string(), z.unknown()),
  changes: z.object({ before: z.record(z.string(), z.unknown()), after: z.record(z.string(), z.unknown()) }).nullable(),
  source: z.enum(["fact", "product"]),
  factId: z.string().nullable(),
  prevHash: z.string(),
  hash: z.string().describe("SHA-256(prevHash ‖ canonical JSON of the entry without hash), hex."),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const CreateEntryInput = z.strictObject({
  action: Action,
  tenantId: Id.optional().describe("The tenant the entry belongs to (its chain); tenant credentials write their own."),
  targets: z.array(Target).max(20).default([]),
  metadata: JsonObject.optional(),
  changes: z.strictObject({ before: JsonObject, after: JsonObject }).optional(),
});

export const ListEntriesQuery = paginationQuery.extend({
  tenantId: Id.optional().describe("Only this tenant's chain (tenant-bound credentials always read their own)."),
  action: z
    .string()
    .max(100)
    .regex(/^[a-z0-9_.]+(\.\*)?$/, "must be an action, or a prefix ending in .* (tenant.*)")
    .optional(),
  actorId: z.string().max(200).optional(),
  actorType: z.string().max(50).optional(),
  targetType: z.string().max(50).optional(),
  targetId: z.string().max(200).optional(),
  from: TimestampQuery.optional().describe("Entries at or after this time (ISO 8601; epoch ms still accepted)."),
  to: TimestampQuery.optional().describe("Entries before this time (ISO 8601; epoch ms still accepted)."),
  order: z.enum(["newest", "oldest"]).default("newest"),
});

export const ChainQuery = z.object({
  tenantId: Id.optional().describe("The tenant's chain; the environment's chain when omitted."),
});

export const ExportQuery = z.object({
  tenantId: Id.optional().describe("The tenant's chain; the environment's chain when omitted."),
  format: z.enum(["jsonl", "csv"]).default("jsonl"),
});

export const Checkpoint = z.object({
  id: z.string(),
  v: z.literal(1),
  chain: z.string(),
  environmentId: z.string().nullable(),
  tenantId: z.string().nullable(),
  size: z.number().int(),
  headHash: z.string(),
  time: Timestamp,
  previousCheckpointHash: z.string().nullable(),
  keyId: z.string(),
  signature: z.string().describe("Ed25519 signature of the canonical JSON of the signed fields, base64."),
  checkpointHash: z.string(),
});
export type Checkpoint = z.infer<typeof Checkpoint>;

export const CheckpointPage = z.object({
  chain: z.string().describe("The chain listed."),
  environmentId: z.string().nullable().describe("The chain's environment; null for the plane's own chain."),
  tenantId: z.string().nullable(),
  data: z.array(Checkpoint),
  hasMore: z.boolean(),
  nextCursor: z.string().nullable(),
});

export const ListCheckpointsQuery = paginationQuery.extend({ tenantId: Id.optional() });

/** The plane chain's queries: the same filters, without a tenant (the plane's chain has none). */
export const ListPlaneEntriesQuery = ListEntriesQuery.omit({ tenantId: true });
export const PlaneExportQuery = ExportQuery.omit({ tenantId: true });
export const ListPlaneCheckpointsQuery = ListCheckpointsQuery.omit({ tenantId: true });

export const CreateCheckpointInput = z.strictObject({
  tenantId: Id.optional().describe("The tenant's chain; the environment's chain when omitted."),
});

export const PublicKeys = z.object({
  keys: z.array(
    z.object({
      keyId: z.string(),
      algorithm: z.literal("Ed25519"),
      publicKey: z.string().describe("SPKI PEM."),
      status: z.enum(["active", "retired"]),
      createdAt: Timestamp,
    }),
  ),
});

export const Verification = z.object({
  ok: z.boolean(),
  chain: z.string().nullable(),
  environmentId: z.string().nullable().describe("The chain's environment; null for the plane's own chain."),
  tenantId: z.string().nullable(),
  entries: z.number().int(),
  checkpoints: z.number().int(),
  firstSeq: z.number().int().nullable(),
  lastSeq: z.number().int().nullable(),
  lastCheckpointSize: z.number().int().nullable(),
  uncheckpointed: z.number().int(),
  errors: z.array(
    z.object({
      kind: z.string(),
      message: z.string(),
      seq: z.number().int().optional(),
      entryId: z.string().optional(),
      checkpoint: z.number().int().optional(),
      line: z.number().int().optional(),
    }),
  ),
});

export const AuditSchema = z.object({
  id: z.string(),
  action: z.string(),
  schema: z.record(z.string(), z.unknown()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type AuditSchema = z.infer<typeof AuditSchema>;
export const PutSchemaInput = z.strictObject({
  action: Action,
  schema: JsonSchemaInput,
});

export const RETENTION_DAYS = [30, 365] as const;
export const AuditSettings = z.object({
  environmentId: z.string(),
  retentionDays: z.number().int().nullable().describe("30 or 365; null keeps entries forever."),
  updatedAt: Timestamp.nullable(),
});
export type AuditSettings = z.infer<typeof AuditSettings>;
export const UpdateSettingsInput = z.strictObject({
  retentionDays: z.union([z.literal(30), z.literal(365), z.null()]),
});

// The API document's names of this module's resources and inputs (`#/components/schemas/…`).
nameSchemas(
  {
    AuditActor,
    AuditEntry,
    AuditSchema,
    AuditSettings,
    Checkpoint,
    CheckpointPage,
    CreateCheckpointInput,
    CreateEntryInput,
    PublicKeys,
    PutSchemaInput,
    UpdateSettingsInput,
    Verification,
  },
  {
    AuditEntry: {
      description:
        "One entry of a tamper-evident audit chain: who did what to which objects, hash-linked to the previous entry.",
      examples: [
        {
          v: 1,
          id: "aud_01JEXQAM6N8P0Q2R4S6T8V0W2X",
          chain: "ten_01JEXQ4Z7M3K9T2V8W5Y6B1C0D",
          seq: 12,
          environmentId: "env_01JEXPZ3R8N6H4F2D0B9C7A5E3",
          tenantId: "ten_01JEXQ4Z7M3K9T2V8W5Y6B1C0D",
          action: "membership.created",
          occurredAt: "2026-12-01T09:30:00.000Z",
          actor: {
            type: "service",
            id: "key_01JEXQ0A1B2C3D4E5F6G7H8J9K",
            displayName: "Backend",
            model: null,
            onBehalfOf: null,
          },
          targets: [{ type: "membership", id: "mem_01JEXQBN8P0Q2R4S6T8V0W2X4Y" }],
          context: {
            ip: "203.0.113.7",
            userAgent: "curl/8.5.0",
            surfaceId: null,
            requestId: "req_01JEXQBP0Q2R4S6T8V0W2X4Y6Z",
          },
          metadata: {},
          changes: null,
          source: "fact",
          factId: "fct_01JEXQBQ2R4S6T8V0W2X4Y6Z8A",
          prevHash: "9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f",
          hash: "3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c",
        },
      ],
    },
  },
);
