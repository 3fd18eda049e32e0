import { z } from "zod";
import type { PlaneClient } from "../plane.js";

/** Identity is what the MCP server knows of the agent key it acts with (the `whoami` tool's answer). */
export interface Identity {
  /** keyDisplay is the key as the plane shows it (`bp_ak_…abcd`), never the token. */
  keyDisplay: string;
  agentKeyId: string;
  agentName: string | null;
  /** userId is the delegating user: the agent acts on their behalf. */
  userId: string | null;
  tenantId: string | null;
  surfaceId: string | null;
  /** permissions are the effective ones: scope ∩ the user's current permissions ∩ the surface's ceiling. */
  permissions: string[];
  expiresAt: string | number | null;
}

/** ToolContext is what a tool runs with: the plane as the agent, and the key's identity. */
export interface ToolContext {
  plane: PlaneClient;
  /** identity resolves (once, then cached) who the key is. Throws `PlaneProblem` when the key is refused. */
  identity(): Promise<Identity>;
  /** tenant returns `tenantId` when given, else the key's own tenant (or throws `tenant_required`). */
  tenant(tenantId: string | undefined): Promise<string>;
  /** idempotencyKey is derived from the call's `callId` (mutating tools only). */
  idempotencyKey?: string;
}

/** ToolResult is a tool's structured answer (an object: MCP's `structuredContent`). */
export type ToolResult = Record<string, unknown>;

/**
 * ToolSpec is one MCP tool as data. A `mutating` tool gets a required `callId` argument; the
 * server derives the plane's `Idempotency-Key` from it, so a retried call never acts twice.
 */
export interface ToolSpec<S extends z.ZodRawShape = z.ZodRawShape> {
  name: string;
  title: string;
  description: string;
  input: S;
  mutating: boolean;
  /**
   * replay says who answers a retried call: `plane` (a POST: the plane's idempotency ledger, across
   * processes) or `memory` (PATCH, DELETE: this process remembers the first answer, `ReplayMemo`).
   */
  replay?: "plane" | "memory";
  /** destructive marks a mutation that removes or revokes (a client may ask the person first). */
  destructive?: boolean;
  run(ctx: ToolContext, args: z.infer<z.ZodObject<S>>): Promise<ToolResult>;
  /** render is the short text a client shows beside the structured answer. */
  render(result: ToolResult): string;
}

/** defineTool keeps each tool's argument types tied to its schema. */
export function defineTool<S extends z.ZodRawShape>(spec: ToolSpec<S>): ToolSpec {
  return spec as unknown as ToolSpec;
}

/** CallId is the argument of every mutating tool (see `ToolSpec`). */
export const CallId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, "must be visible ASCII")
  .describe(
    "A unique id you choose for this action (e.g. a UUID). Retrying the same action? Send the same callId: " +
      "the plane replays the first answer instead of acting twice. A new action needs a new callId.",
  );

/** TenantId is the optional tenant argument: the key's own tenant when omitted. */
export const TenantId = z
  .string()
  .min(1)
  .max(64)
  .optional()
  .describe("The tenant (`ten_…`). Omit it to use the agent key's own tenant (see `whoami`).");

export const Id = (what: string) => z.string().min(1).max(64).describe(what);

/** Page: the arguments of every list tool. */
export const Page = {
  limit: z.number().int().min(1).max(100).optional().describe("Page size, 1–100 (default 20)."),
  cursor: z.string().max(512).optional().describe("`nextCursor` of the previous page, to read the next one."),
};

/** listed renders a page of items as one line each. */
export function listed(noun: string, line: (item: Record<string, unknown>) => string) {
  return (result: ToolResult): string => {
    const items = (result.data as Array<Record<string, unknown>> | undefined) ?? [];
    const more = result.nextCursor ? `\nMore: pass cursor "${String(result.nextCursor)}".` : "";
    if (items.length === 0) return `No ${noun}.${more}`;
    return `${items.length} ${noun}:\n${items.map((i) => `- ${line(i)}`).join("\n")}${more}`;
  };
}

/** summary renders an object as `noun id: fields`. */
export function summary(noun: string, ...fields: string[]) {
  return (result: ToolResult): string => {
    const parts = fields
      .filter((f) => result[f] !== undefined && result[f] !== null)
      .map((f) => `${f}=${JSON.stringify(result[f])}`);
    return `${noun} ${String(result.id ?? "")}${parts.length ? ` (${parts.join(", ")})` : ""}`.trim();
  };
}
