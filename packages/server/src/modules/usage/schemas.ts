import { z } from "zod";
import { paginationQuery } from "../../platform/http/pagination.js";
import { Id, nameSchemas, Timestamp } from "../../platform/http/schemas.js";

/** Public shapes of the usage module: meters, usage events, queries, entitlements and holds. */

/** Bounds on one usage event (beyond the HTTP layer's own body limit and nesting bound). */
export const EVENT_LIMITS = {
  dataMaxBytes: 8_192,
  dataMaxDepth: 8,
  /** maxBackMs / maxAheadMs: the accepted window of an event's `time` around the server's clock. */
  maxBackMs: 35 * 24 * 3_600_000,
  maxAheadMs: 5 * 60_000,
  batchMax: 1_000,
} as const;

export const AGGREGATIONS = ["count", "sum", "max", "min", "unique_count", "latest"] as const;
export const Aggregation = z.enum(AGGREGATIONS);

export const MeterKey = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_]*$/, "must be lower-case letters, digits and `_`, starting with a letter");
export const EventType = z
  .string()
  .min(1)
  .max(120)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, "must be letters, digits and `.`, `_`, `:`, `/`, `-`");
export const ValuePath = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,7}$/, "must be a dotted path into `data` (e.g. `usage.tokens`)");
const DimensionName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-zA-Z0-9_]*$/, "must be a name of letters, digits and `_`, starting with a lower-case letter")
  .refine((n) => n !== "tenantId", "`tenantId` is reserved");
export const GroupBy = z
  .record(DimensionName, ValuePath)
  .refine((g) => Object.keys(g).length <= 5, "at most 5 dimensions")
  .describe("Dimensions to group by: `{ name: path into data }`, at most 5.");

export const Meter = z.object({
  id: z.string(),
  key: z.string(),
  eventType: z.string(),
  aggregation: Aggregation,
  valuePath: z.string().nullable(),
  groupBy: z.record(z.string(), z.string()),
  description: z.string(),
  archivedAt: Timestamp.nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Meter = z.infer<typeof Meter>;

export const CreateMeterInput = z
  .strictObject({
    key: MeterKey,
    eventType: EventType.describe("The `type` of the events this meter counts."),
    aggregation: Aggregation,
    valuePath: ValuePath.optional().describe("Where the value is in `data` (every aggregation but `count`)."),
    groupBy: GroupBy.default({}),
    description: z.string().max(500).default(""),
  })
  .refine((m) => m.aggregation === "count" || m.valuePath !== undefined, {
    message: "is required unless the aggregation is `count`",
    path: ["valuePath"],
  });

export const UpdateMeterInput = z.strictObject({
  description: z.string().max(500).optional(),
  aggregation: Aggregation.optional().describe("Only while the meter has no events."),
  valuePath: ValuePath.nullable().optional().describe("Only while the meter has no events."),
  groupBy: GroupBy.optional().describe("Only while the meter has no events."),
});

export const ListMetersQuery = paginationQuery.extend({
  archived: z.enum(["true", "false"]).optional().describe("Archived meters too (`true`), or only them."),
});

const EventId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, "must be 1–200 visible ASCII characters")
  .refine((v) => !v.startsWith("callid:") && !v.startsWith("hold:"), "`callid:` and `hold:` ids are the plane's");

/**
 * UsageEventInput is one CloudEvents-shaped usage event. Either `id` (the client's, deduplicated
 * per environment) or `callId` (the server derives the id from the credential and the call id).
 */
export const UsageEventInput = z
  .strictObject({
    id: EventId.optional().describe(
      "Your event id: the same id is counted once per environment, whatever its content.",
    ),
    callId: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[\x21-\x7e]+$/, "must be visible ASCII")
      .optional()
      .describe(
        "Instead of `id`: the id of the client's call (an agent's tool-call id). The event id is derived from the calling credential and this id, so a retried call never counts twice. Required for agent keys.",
      ),
    specversion: z.literal("1.0").optional(),
    type: EventType,
    source: z.string().min(1).max(200).optional(),
    subject: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe("The tenant: its id or its `externalId` (tenant and agent keys: their own tenant, the default)."),
    time: z
      .string()
      .datetime({ offset: true })
      .optional()
      .describe("When the usage happened (RFC 3339; default: now). At most 35 days ago, 5 minutes ahead."),
    datacontenttype: z.literal("application/json").optional(),
    data: z.record(z.string(), z.unknown()).default({}),
  })
  .refine((e) => (e.id === undefined) !== (e.callId === undefined), {
    message: "give exactly one of `id` and `callId`",
    path: ["id"],
  });
export type UsageEventInput = z.infer<typeof UsageEventInput>;

export const BatchInput = z.strictObject({
  events: z
    .array(z.unknown())
    .min(1)
    .max(EVENT_LIMITS.batchMax)
    .describe("1–1,000 usage events (each a `UsageEventInput`); each is answered on its own."),
});

const ItemProblem = z.object({ code: z.string(), status: z.number().int(), title: z.string(), detail: z.string() });

export const IngestResult = z.object({
  id: z.string().nullable().describe("The event's id (derived for `callId`); null when the item had none."),
  status: z
    .enum(["accepted", "duplicate", "rejected"])
    .describe("`accepted`: counted now; `duplicate`: this id was already counted (nothing changed); `rejected`."),
  tenantId: z.string().nullable(),
  problem: ItemProblem.optional(),
});
export type IngestResult = z.infer<typeof IngestResult>;

export const BatchResult = z.object({
  accepted: z.number().int(),
  duplicates: z.number().int(),
  rejected: z.number().int(),
  results: z.array(IngestResult.extend({ index: z.number().int() })),
});

const IsoMinute = z.string().datetime({ offset: true });

export const UsageQuery = z.strictObject({
  tenantId: Id.optional().describe("One tenant (tenant and agent keys: their own); absent: every tenant."),
  from: IsoMinute.optional().describe(
    "Start (inclusive), a whole minute; default: the start of this month in `timeZone`.",
  ),
  to: IsoMinute.optional().describe("End (exclusive), a whole minute; default: the start of next month in `timeZone`."),
  window: z.enum(["minute", "hour", "day", "month"]).optional(),
  timeZone: z.string().min(1).max(64).default("UTC").describe("IANA time zone of the windows."),
  groupBy: z.string().max(400).optional().describe("Comma-separated dimensions of the meter (and `tenantId`)."),
});

const Row = z.object({
  group: z.record(z.string(), z.string().nullable()),
  value: z.number().nullable(),
  events: z.number().int().describe("How many events the value is over."),
});

export const UsageResult = z.object({
  meter: z.object({ id: z.string(), key: z.string(), aggregation: Aggregation }),
  tenantId: z.string().nullable(),
  from: z.string(),
  to: z.string(),
  window: z.string().nullable(),
  timeZone: z.string(),
  groupBy: z.array(z.string()),
  windows: z.array(z.object({ from: z.string(), to: z.string(), rows: z.array(Row) })),
  totals: z.array(Row),
});
export type UsageResult = z.infer<typeof UsageResult>;

const Feature = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_.-]*$/, "must be lower-case letters, digits, `_`, `.` or `-`");

export const Entitlement = z.object({
  id: z.string(),
  tenantId: z.string(),
  feature: z.string(),
  kind: z.enum(["boolean", "metered"]),
  enabled: z.boolean(),
  meterId: z.string().nullable(),
  limit: z.number().nullable(),
  period: z.enum(["month", "rolling"]).nullable(),
  rollingDays: z.number().nullable(),
  timeZone: z
    .string()
    .nullable()
    .describe("The IANA time zone of its calendar months; null: the tenant's time zone (`Tenant.timeZone`)."),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Entitlement = z.infer<typeof Entitlement>;

export const SetEntitlementInput = z
  .strictObject({
    feature: Feature,
    enabled: z.boolean().default(true).describe("A boolean feature, or a switch on a metered one."),
    meter: z.string().min(1).max(64).optional().describe("A metered limit: the meter (key or id) it counts."),
    limit: z.number().min(0).max(1e15).optional(),
    period: z
      .enum(["month", "rolling"])
      .optional()
      .describe("`month`: the calendar month in `timeZone`; `rolling`: the last `rollingDays` days."),
    rollingDays: z.number().int().min(1).max(35).optional(),
    timeZone: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe(
        "An IANA time zone for its calendar months; omitted: the tenant's time zone, followed when it changes.",
      ),
  })
  .refine((e) => (e.meter === undefined) === (e.limit === undefined), {
    message: "`meter` and `limit` go together",
    path: ["limit"],
  })
  .refine((e) => e.meter === undefined || e.period !== undefined, {
    message: "a metered limit needs a `period`",
    path: ["period"],
  })
  .refine((e) => (e.period === "rolling") === (e.rollingDays !== undefined), {
    message: "`rollingDays` goes with `period: rolling`",
    path: ["rollingDays"],
  });

export const CheckInput = z.strictObject({
  tenantId: Id.optional().describe("The tenant (tenant and agent keys: their own)."),
  feature: Feature,
  amount: z.number().min(0).max(1e15).default(1).describe("How much the caller is about to use (default 1)."),
});

export const CheckResult = z.object({
  allowed: z.boolean(),
  feature: z.string(),
  kind: z.enum(["boolean", "metered"]).nullable().describe("null: the tenant has no entitlement to the feature."),
  limit: z.number().nullable(),
  used: z.number().nullable(),
  held: z.number().nullable().describe("Reserved by open holds."),
  remaining: z.number().nullable().describe("limit − used − held (never below 0)."),
  resetsAt: Timestamp.nullable().describe("When the period ends (calendar month); null for rolling and boolean."),
});
export type CheckResult = z.infer<typeof CheckResult>;

export const Hold = z.object({
  id: z.string(),
  tenantId: z.string(),
  feature: z.string(),
  amount: z.number(),
  status: z.enum(["open", "committed", "released", "expired"]),
  expiresAt: Timestamp,
  committedAmount: z.number().nullable(),
  eventId: z.string().nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Hold = z.infer<typeof Hold>;

export const ReserveInput = z.strictObject({
  tenantId: Id.optional().describe("The tenant (tenant and agent keys: their own)."),
  feature: Feature,
  amount: z.number().positive().max(1e15),
  ttlSeconds: z.number().int().min(1).max(86_400).default(300),
});

export const ListHoldsQuery = paginationQuery.extend({
  tenantId: Id.optional().describe("One tenant's holds (tenant and agent keys: their own); absent: every tenant's."),
  status: z.enum(["open", "committed", "released", "expired"]).optional(),
  feature: Feature.optional(),
});

export const CommitInput = z.strictObject({
  amount: z.number().min(0).max(1e15).describe("What was actually used: recorded as one usage event."),
  data: z
    .record(z.string(), z.unknown())
    .default({})
    .describe("More data for the event (group-by dimensions); the meter's value path is set to `amount`."),
});

// The API document's names of this module's resources and inputs (`#/components/schemas/…`).
nameSchemas({
  UsageBatchInput: BatchInput,
  UsageBatchResult: BatchResult,
  UsageCheckInput: CheckInput,
  UsageCheckResult: CheckResult,
  CommitInput,
  CreateMeterInput,
  Entitlement,
  UsageHold: Hold,
  IngestResult,
  Meter,
  ReserveInput,
  SetEntitlementInput,
  UpdateMeterInput,
  UsageEventInput,
  UsageResult,
});
