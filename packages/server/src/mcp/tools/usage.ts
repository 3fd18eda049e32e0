import { z } from "zod";
import { segment } from "../plane.js";
import { CallId, defineTool, Id, TenantId, type ToolSpec } from "./define.js";

const Feature = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_.-]*$/)
  .describe("A feature of the tenant's entitlements, e.g. `ai_tokens`.");

const holdPath = (holdId: string, verb: string) => `/v1/usage/holds/${segment(holdId)}/${verb}`;

const renderHold = (r: Record<string, unknown>) =>
  `Hold ${String(r.id)}: ${String(r.amount)} of ${String(r.feature)}, ${String(r.status)}${
    r.committedAmount !== null && r.committedAmount !== undefined ? ` (committed ${String(r.committedAmount)})` : ""
  }.`;

/** USAGE_TOOLS: metered usage, entitlement checks and holds (reserve, then commit or release). */
export const USAGE_TOOLS: ToolSpec[] = [
  defineTool({
    name: "usage_report",
    title: "Report usage",
    description:
      "Reports one usage event for the agent's tenant (a meter counts it). The plane derives the event id from " +
      "the key and callId, so a retry never counts twice. Needs `usage:report`.",
    input: {
      type: z.string().min(1).max(120).describe("The usage event type a meter counts, e.g. `ai.tokens`."),
      data: z
        .record(z.string(), z.unknown())
        .optional()
        .describe("The event's data (the meter's value path, dimensions)."),
      time: z.string().max(40).optional().describe("When it happened (RFC 3339; default now)."),
      callId: CallId,
    },
    mutating: true,
    run: async (ctx, a) =>
      ctx.plane.call({
        method: "POST",
        path: "/v1/usage/events",
        body: { callId: a.callId, type: a.type, data: a.data ?? {}, ...(a.time ? { time: a.time } : {}) },
        idempotencyKey: ctx.idempotencyKey,
      }),
    render: (r) => `Usage event ${String(r.id)}: ${String(r.status)}.`,
  }),
  defineTool({
    name: "usage_check",
    title: "Check an entitlement",
    description:
      "May the tenant use a feature, and this much? Answers the limit, what is used and held, and what remains. " +
      "Changes nothing. Needs `entitlements:read`.",
    input: {
      tenantId: TenantId,
      feature: Feature,
      amount: z.number().min(0).max(1e15).optional().describe("How much you are about to use (default 1)."),
    },
    mutating: false,
    run: async (ctx, a) =>
      ctx.plane.call({
        method: "POST",
        path: "/v1/entitlements/check",
        body: {
          tenantId: await ctx.tenant(a.tenantId),
          feature: a.feature,
          ...(a.amount !== undefined ? { amount: a.amount } : {}),
        },
      }),
    render: (r) =>
      `${String(r.feature)}: ${r.allowed ? "allowed" : "not allowed"}${
        r.remaining !== null && r.remaining !== undefined ? `, ${String(r.remaining)} remaining` : ""
      }.`,
  }),
  defineTool({
    name: "usage_hold_reserve",
    title: "Reserve usage",
    description:
      "Reserves an amount of a metered feature before using it (concurrent reservations never exceed the limit). " +
      "Commit it with what was used, or release it. Needs `usage:report`.",
    input: {
      feature: Feature,
      amount: z.number().positive().max(1e15),
      ttlSeconds: z.number().int().min(1).max(86_400).optional().describe("Until it expires (default 300)."),
      callId: CallId,
    },
    mutating: true,
    run: async (ctx, a) =>
      ctx.plane.call({
        method: "POST",
        path: "/v1/usage/holds",
        body: { feature: a.feature, amount: a.amount, ...(a.ttlSeconds ? { ttlSeconds: a.ttlSeconds } : {}) },
        idempotencyKey: ctx.idempotencyKey,
      }),
    render: renderHold,
  }),
  defineTool({
    name: "usage_hold_get",
    title: "Get a hold",
    description: "A usage hold and its status. Needs `usage:read`.",
    input: { holdId: Id("The hold (`hld_…`).") },
    mutating: false,
    run: async (ctx, a) => ctx.plane.call({ method: "GET", path: `/v1/usage/holds/${segment(a.holdId)}` }),
    render: renderHold,
  }),
  defineTool({
    name: "usage_hold_commit",
    title: "Commit a hold",
    description: "Commits a hold with the amount actually used (recorded as one usage event). Needs `usage:report`.",
    input: {
      holdId: Id("The hold (`hld_…`)."),
      amount: z.number().min(0).max(1e15).describe("What was actually used."),
      callId: CallId,
    },
    mutating: true,
    run: async (ctx, a) =>
      ctx.plane.call({
        method: "POST",
        path: holdPath(a.holdId, "commit"),
        body: { amount: a.amount },
        idempotencyKey: ctx.idempotencyKey,
      }),
    render: renderHold,
  }),
  defineTool({
    name: "usage_hold_release",
    title: "Release a hold",
    description: "Releases a hold unused. Needs `usage:report`.",
    input: { holdId: Id("The hold (`hld_…`)."), callId: CallId },
    mutating: true,
    run: async (ctx, a) =>
      ctx.plane.call({ method: "POST", path: holdPath(a.holdId, "release"), idempotencyKey: ctx.idempotencyKey }),
    render: renderHold,
  }),
];
