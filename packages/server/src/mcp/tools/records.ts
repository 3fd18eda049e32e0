import { z } from "zod";
import { segment } from "../plane.js";
import { CallId, defineTool, Id, listed, Page, TenantId, type ToolResult, type ToolSpec } from "./define.js";

const Time = z
  .union([z.string().max(40), z.number().int().min(0)])
  .optional()
  .describe("A time, as the plane's list query takes it: epoch milliseconds (or RFC 3339 where the plane accepts it).");

interface Listing<T> {
  data: T[];
  nextCursor: string | null;
}

/** RECORD_TOOLS: the audit log, the event log and webhook delivery status. */
export const RECORD_TOOLS: ToolSpec[] = [
  defineTool({
    name: "audit_query",
    title: "Query the audit log",
    description:
      "The tenant's audit entries, newest first: who did what (actor, with the user an agent acted for), to what, " +
      "when. Filter by action (`member.*`), actor or target. Needs `audit:read`.",
    input: {
      tenantId: TenantId,
      action: z.string().max(100).optional().describe("An action (`member.added`) or a prefix (`member.*`)."),
      actorId: z.string().max(200).optional(),
      actorType: z
        .string()
        .max(50)
        .optional()
        .describe("`user`, `agent`, `service`, `tenant_key`, `operator`, `system`."),
      targetType: z.string().max(50).optional(),
      targetId: z.string().max(200).optional(),
      from: Time,
      to: Time,
      order: z.enum(["newest", "oldest"]).optional(),
      ...Page,
    },
    mutating: false,
    run: async (ctx, a) => {
      const { tenantId, from, to, ...filters } = a;
      return ctx.plane.call({
        method: "GET",
        path: `/v1/tenants/${segment(await ctx.tenant(tenantId))}/audit/entries`,
        query: { ...filters, from: from, to: to },
      });
    },
    render: listed("audit entries", (e) => {
      const actor = (e.actor ?? {}) as Record<string, unknown>;
      const behalf = actor.onBehalfOf as Record<string, unknown> | null;
      return `${String(e.occurredAt)} ${String(e.action)} by ${String(actor.type)} ${String(actor.id)}${
        behalf ? ` for ${String(behalf.type)} ${String(behalf.id)}` : ""
      }`;
    }),
  }),
  defineTool({
    name: "events_publish",
    title: "Publish an event",
    description:
      "Publishes an event of a type the environment declares into the tenant's event log (webhook endpoints " +
      "subscribed to it receive it). Needs `events:publish`.",
    input: {
      tenantId: TenantId,
      type: z.string().min(1).max(120).describe("A declared event type, e.g. `report.generated`."),
      subject: z.string().min(1).max(200).optional(),
      data: z.record(z.string(), z.unknown()).optional().describe("The event's payload (a JSON object)."),
      callId: CallId,
    },
    mutating: true,
    run: async (ctx, a) =>
      ctx.plane.call({
        method: "POST",
        path: "/v1/events",
        body: {
          type: a.type,
          tenantId: await ctx.tenant(a.tenantId),
          ...(a.subject ? { subject: a.subject } : {}),
          data: a.data ?? {},
        },
        idempotencyKey: ctx.idempotencyKey,
      }),
    render: (r) => `Event ${String(r.id)} ${String(r.type)} published.`,
  }),
  defineTool({
    name: "events_list",
    title: "List events",
    description: "The tenant's events, oldest first, optionally of some types (`invoice.*`). Needs `events:read`.",
    input: {
      tenantId: TenantId,
      types: z.string().max(1000).optional().describe("Comma-separated types or wildcards, e.g. `member.*`."),
      after: z.number().int().min(0).optional().describe("Only events after this sequence number."),
      from: Time,
      to: Time,
      ...Page,
    },
    mutating: false,
    run: async (ctx, a) =>
      ctx.plane.call({
        method: "GET",
        path: "/v1/events",
        query: {
          tenantId: await ctx.tenant(a.tenantId),
          types: a.types,
          after: a.after,
          from: a.from,
          to: a.to,
          limit: a.limit,
          cursor: a.cursor,
        },
      }),
    render: listed("events", (e) => `${String(e.id)} ${String(e.type)} at ${String(e.time)}`),
  }),
  defineTool({
    name: "webhooks_status",
    title: "Webhook delivery status",
    description:
      "The tenant's webhook endpoints (status, failures) with their most recent messages and delivery attempts: " +
      "is anything failing, and why. Needs `webhooks:read`.",
    input: {
      tenantId: TenantId,
      endpointId: Id("Only this endpoint (`whe_…`).").optional(),
      recent: z.number().int().min(1).max(20).optional().describe("Messages per endpoint (default 5)."),
    },
    mutating: false,
    run: async (ctx, a) => {
      const tenantId = await ctx.tenant(a.tenantId);
      const endpoints = a.endpointId
        ? [await ctx.plane.call<ToolResult>({ method: "GET", path: `/v1/webhooks/endpoints/${segment(a.endpointId)}` })]
        : (
            await ctx.plane.call<Listing<ToolResult>>({
              method: "GET",
              path: "/v1/webhooks/endpoints",
              query: { tenantId, limit: 20 },
            })
          ).data;
      const out = [];
      for (const endpoint of endpoints) {
        const messages = await ctx.plane.call<Listing<ToolResult>>({
          method: "GET",
          path: `/v1/webhooks/endpoints/${segment(String(endpoint.id))}/messages`,
          query: { limit: a.recent ?? 5 },
        });
        const recent = [];
        for (const message of messages.data) {
          const attempts = await ctx.plane.call<Listing<ToolResult>>({
            method: "GET",
            path: `/v1/webhooks/messages/${segment(String(message.id))}/attempts`,
            query: { limit: 5 },
          });
          recent.push({ ...message, attempts: attempts.data });
        }
        out.push({ endpoint, messages: recent });
      }
      return { tenantId, endpoints: out };
    },
    render: (r) => {
      const endpoints = r.endpoints as Array<{ endpoint: ToolResult; messages: ToolResult[] }>;
      if (endpoints.length === 0) return "No webhook endpoints.";
      return endpoints
        .map(
          ({ endpoint, messages }) =>
            `${String(endpoint.id)} ${String(endpoint.url)} (${String(endpoint.status ?? (endpoint.disabled ? "disabled" : "enabled"))}): ` +
            `${messages.length} recent message(s)${
              messages.length ? `, ${messages.map((m) => `${String(m.id)} ${String(m.status)}`).join(", ")}` : ""
            }`,
        )
        .join("\n");
    },
  }),
];
