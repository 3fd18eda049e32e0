import { z } from "zod";
import { paginationQuery } from "../../platform/http/pagination.js";
import { nameSchemas, Timestamp, TimestampQuery } from "../../platform/http/schemas.js";
import { JsonSchemaInput } from "../../platform/json-schema.js";

/** Public shapes of the events module: the CloudEvents-shaped envelope, the catalog, inputs. */

/** EVENT_DATA_MAX_BYTES bounds an event's data (as JSON); webhook payloads ideally stay under 20 KB. */
export const EVENT_DATA_MAX_BYTES = 65_536;

export const EventTypeName = z
  .string()
  .max(120)
  .regex(
    /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/,
    "must be dot-separated lower-case words (`noun.past_verb`, e.g. `invoice.paid`)",
  );

/** TypePattern is an event type or a wildcard over a prefix (`invoice.*`, `*`). */
export const TypePattern = z
  .string()
  .max(120)
  .regex(/^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$/, "must be an event type, `prefix.*` or `*`");

export const EventId = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9_:-]+$/, "must be 1–100 letters, digits, `_`, `:` or `-`");

const Data = z
  .record(z.string(), z.unknown())
  .refine((d) => Buffer.byteLength(JSON.stringify(d)) <= EVENT_DATA_MAX_BYTES, {
    message: `must be at most ${EVENT_DATA_MAX_BYTES} bytes as JSON`,
  });

export const Event = z.object({
  id: z
    .string()
    .describe("The plane's id of the event (`evt_…`): unique in the environment, what consumers deduplicate on."),
  clientId: z
    .string()
    .nullable()
    .describe(
      "The id the publisher gave (`id` of the publish request), unique within the publisher's scope (its tenant, or the environment for a secret key); null when none was given.",
    ),
  specversion: z.literal("1.0").describe("CloudEvents spec version."),
  type: z.string(),
  source: z.string().describe("Who emitted the event: `baseplate` for the plane's own facts, else the publisher's."),
  subject: z.string().nullable().describe("What the event is about, e.g. `tenant/ten_…`."),
  time: Timestamp.describe("When it happened (ISO 8601 UTC with milliseconds)."),
  datacontenttype: z.literal("application/json"),
  data: z.record(z.string(), z.unknown()),
  environmentId: z.string(),
  tenantId: z.string().nullable().describe("The tenant the event belongs to (null: environment-wide)."),
  sequence: z.number().int().describe("Position in the environment's log: gap-free, increasing in commit order."),
});
export type Event = z.infer<typeof Event>;

export const PublishEventInput = z.strictObject({
  id: EventId.optional().describe(
    "Your id for the event (returned as `clientId`): publishing it again within your scope (your tenant, or the environment for a secret key) returns the stored event with 200 and `idempotent-replayed: true` instead of storing it twice.",
  ),
  type: EventTypeName,
  source: z.string().min(1).max(200).optional().describe("Defaults to the calling surface."),
  subject: z.string().min(1).max(200).optional(),
  tenantId: z.string().max(64).optional().describe("The tenant the event belongs to (tenant credentials: their own)."),
  data: Data.default({}),
});

const TypesFilter = z
  .string()
  .max(1000)
  .refine(
    (v) => v.split(",").every((p) => TypePattern.safeParse(p.trim()).success),
    "must be comma-separated event types or wildcards (`invoice.*`)",
  );

export const ListEventsQuery = paginationQuery.extend({
  types: TypesFilter.optional().describe("Comma-separated types or wildcards, e.g. `invoice.*,tenant.created`."),
  tenantId: z.string().max(64).optional(),
  clientId: EventId.optional().describe("Only events published with this id (`clientId`)."),
  after: z.coerce.number().int().min(0).optional().describe("Only events with a greater sequence."),
  from: TimestampQuery.optional().describe("Only events at or after this time (ISO 8601; epoch ms still accepted)."),
  to: TimestampQuery.optional().describe("Only events before this time (ISO 8601; epoch ms still accepted)."),
});

export const StreamEventsQuery = z.object({
  types: TypesFilter.optional(),
  tenantId: z.string().max(64).optional(),
  lastEventId: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .describe("Resume after this sequence (as the `Last-Event-ID` header does)."),
});

export const EventType = z.object({
  id: z.string().nullable().describe("Null for the plane's own types."),
  name: z.string(),
  description: z.string(),
  version: z.number().int(),
  schema: z.record(z.string(), z.unknown()).nullable().describe("JSON Schema of `data` (null: any object)."),
  origin: z.enum(["plane", "environment"]),
  deprecatedAt: Timestamp.nullable(),
  createdAt: Timestamp.nullable(),
  updatedAt: Timestamp.nullable(),
});
export type EventType = z.infer<typeof EventType>;

export const CreateEventTypeInput = z.strictObject({
  name: EventTypeName,
  description: z.string().trim().min(1).max(1000),
  schema: JsonSchemaInput.optional().describe(
    "A JSON Schema (subset, see the platform's policy) that `data` must match.",
  ),
});

export const UpdateEventTypeInput = z.strictObject({
  description: z.string().trim().min(1).max(1000).optional(),
  schema: JsonSchemaInput.nullable().optional().describe("A new schema bumps the version."),
  deprecated: z.boolean().optional(),
});

export const ListEventTypesQuery = z.object({
  tenantId: z.string().max(64).optional().describe("The tenant a user acts in (users read the catalog as members)."),
  includeDeprecated: z
    .enum(["true", "false"])
    .default("true")
    .transform((v) => v === "true"),
});

export const EventSettings = z.object({
  environmentId: z.string(),
  retentionDays: z.number().int(),
});
export type EventSettings = z.infer<typeof EventSettings>;
export const UpdateEventSettingsInput = z.strictObject({ retentionDays: z.number().int().min(1).max(3650) });

// The API document's names of this module's resources and inputs (`#/components/schemas/…`).
nameSchemas(
  {
    CreateEventTypeInput,
    Event,
    EventSettings,
    EventType,
    PublishEventInput,
    UpdateEventSettingsInput,
    UpdateEventTypeInput,
  },
  {
    Event: {
      description: "An event of the log (a CloudEvents 1.0 envelope), as listed, streamed and delivered to webhooks.",
      examples: [
        {
          id: "evt_01JEXQ9K4M6N8P0Q2R4S6T8V0W",
          clientId: null,
          specversion: "1.0",
          type: "tenant.created",
          source: "baseplate",
          subject: "ten_01JEXQ4Z7M3K9T2V8W5Y6B1C0D",
          time: "2026-12-01T09:30:00.000Z",
          datacontenttype: "application/json",
          data: { id: "ten_01JEXQ4Z7M3K9T2V8W5Y6B1C0D", name: "Globex" },
          environmentId: "env_01JEXPZ3R8N6H4F2D0B9C7A5E3",
          tenantId: "ten_01JEXQ4Z7M3K9T2V8W5Y6B1C0D",
          sequence: 1842,
        },
      ],
    },
  },
);
