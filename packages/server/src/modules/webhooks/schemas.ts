import { z } from "zod";
import { paginationQuery } from "../../platform/http/pagination.js";
import { nameSchemas, Timestamp, TimestampInput } from "../../platform/http/schemas.js";
import { TypePattern } from "../events/index.js";

/** Public shapes of the webhooks module. */

/** RESERVED_HEADERS cannot be set as custom headers: the plane sets them. */
const RESERVED_HEADER =
  /^(webhook-.*|host|content-length|content-type|transfer-encoding|connection|user-agent|te|upgrade|keep-alive|proxy-.*|expect)$/i;

const Headers = z
  .record(
    z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, "must be an HTTP header name")
      .refine((name) => !RESERVED_HEADER.test(name), "is set by the plane"),
    z
      .string()
      .max(1000)
      .regex(/^[\t\x20-\x7e]*$/, "must be visible ASCII"),
  )
  .refine((h) => Object.keys(h).length <= 20, "at most 20 headers");

const Url = z
  .string()
  .min(1)
  .max(2000)
  .refine((v) => URL.canParse(v), "must be an absolute URL")
  .describe("http(s) URL receiving POSTs; private addresses are refused.");
const EventTypes = z
  .array(TypePattern)
  .max(100)
  .describe("Event types or wildcards (`invoice.*`) the endpoint receives; empty: every type.");

export const Endpoint = z.object({
  id: z.string(),
  environmentId: z.string(),
  tenantId: z.string().nullable().describe("Set for a tenant-owned endpoint: it receives only that tenant's events."),
  url: z.string(),
  description: z.string(),
  eventTypes: z.array(z.string()),
  enabled: z.boolean(),
  disabledReason: z
    .string()
    .nullable()
    .describe("`gone` (the receiver answered 410), `failing` (5 days of failures) or `manual`."),
  disabledAt: Timestamp.nullable(),
  rateLimitPerSecond: z.number().int().nullable(),
  headers: z.record(z.string(), z.string()),
  secretRotatingUntil: Timestamp.nullable().describe(
    "Until then deliveries carry a signature with the previous secret too.",
  ),
  failingSince: Timestamp.nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Endpoint = z.infer<typeof Endpoint>;

export const CreateEndpointInput = z.strictObject({
  url: Url,
  description: z.string().trim().max(500).default(""),
  tenantId: z.string().max(64).optional().describe("Make the endpoint tenant-owned (tenant credentials: their own)."),
  eventTypes: EventTypes.default([]),
  enabled: z.boolean().default(true),
  rateLimitPerSecond: z.number().int().min(1).max(10_000).nullable().default(null),
  headers: Headers.default({}),
});

export const UpdateEndpointInput = z.strictObject({
  url: Url.optional(),
  description: z.string().trim().max(500).optional(),
  eventTypes: EventTypes.optional(),
  enabled: z.boolean().optional(),
  rateLimitPerSecond: z.number().int().min(1).max(10_000).nullable().optional(),
  headers: Headers.optional(),
});

/** EndpointWithSecret: a new endpoint (or one with a new secret), its signing secret shown once. */
export const EndpointWithSecret = Endpoint.extend({
  secret: z.string().nullable().describe("The signing secret (`whsec_…`), shown once. Null in an idempotent replay."),
});

export const RotateSecretInput = z.strictObject({
  gracePeriodSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(86_400)
    .describe("How long deliveries are signed with the old secret too."),
});

export const ListEndpointsQuery = paginationQuery.extend({ tenantId: z.string().max(64).optional() });

export const MessageStatus = z.enum(["pending", "paused", "succeeded", "failed"]);

export const Message = z.object({
  id: z.string().describe("The `webhook-id` header of every attempt: receivers deduplicate on it."),
  endpointId: z.string(),
  environmentId: z.string(),
  tenantId: z.string().nullable(),
  eventId: z.string(),
  eventType: z.string(),
  status: MessageStatus,
  attempts: z.number().int(),
  nextAttemptAt: Timestamp.nullable(),
  lastAttemptAt: Timestamp.nullable(),
  lastStatusCode: z.number().int().nullable(),
  deliveredAt: Timestamp.nullable(),
  createdAt: Timestamp,
});
export type Message = z.infer<typeof Message>;

export const ListMessagesQuery = paginationQuery.extend({ status: MessageStatus.optional() });

export const Attempt = z.object({
  id: z.string(),
  messageId: z.string(),
  endpointId: z.string(),
  attempt: z.number().int(),
  outcome: z.enum(["succeeded", "failed"]),
  statusCode: z.number().int().nullable(),
  error: z.string().nullable(),
  durationMs: z.number().int(),
  responseBody: z.string().nullable().describe("The first 1 KiB of the receiver's answer."),
  createdAt: Timestamp,
});
export type Attempt = z.infer<typeof Attempt>;

export const RecoverInput = z.strictObject({
  since: TimestampInput.describe("Resend every failed message of the endpoint created at or after this time."),
});
export const RecoverResult = z.object({ recovered: z.number().int() });
export const DeletedEndpoint = z.object({ id: z.string(), deleted: z.literal(true) });

// The API document's names of this module's resources and inputs (`#/components/schemas/…`).
nameSchemas(
  {
    WebhookAttempt: Attempt,
    CreateEndpointInput,
    DeletedEndpoint,
    Endpoint,
    EndpointWithSecret,
    WebhookMessage: Message,
    RecoverInput,
    RecoverResult,
    RotateSecretInput,
    UpdateEndpointInput,
  },
  {
    Endpoint: {
      description: "An HTTPS endpoint that receives the events it subscribes to, signed (Standard Webhooks).",
      examples: [
        {
          id: "whe_01JEXQ8H2J4K6M8N0P2Q4R6S8T",
          environmentId: "env_01JEXPZ3R8N6H4F2D0B9C7A5E3",
          tenantId: null,
          url: "https://hooks.example.com/baseplate",
          description: "Order fulfilment",
          eventTypes: ["tenant.*", "order.shipped"],
          enabled: true,
          disabledReason: null,
          disabledAt: null,
          rateLimitPerSecond: null,
          headers: {},
          secretRotatingUntil: null,
          failingSince: null,
          createdAt: "2026-12-01T09:30:00.000Z",
          updatedAt: "2026-12-01T09:30:00.000Z",
        },
      ],
    },
  },
);
