import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { VERSION } from "../app.js";
import { deriveIdempotencyKey, keyFingerprint, type PlaneClient, PlaneProblem } from "./plane.js";
import { type Identity, resolveIdentity, TOOLS, type ToolContext, type ToolResult } from "./tools/index.js";

/** McpSessionOptions: one agent key's view of the plane. */
export interface McpSessionOptions {
  /** plane is a client of the plane that acts with `token`. */
  plane: PlaneClient;
  /** token is the agent key (`bp_ak_…`); it only names the key (fingerprint, display), never leaves. */
  token: string;
  /** replays remembers answers of mutations the plane's ledger does not cover (PATCH, DELETE). */
  replays?: ReplayMemo;
}

/**
 * ReplayMemo remembers, by derived idempotency key, the answers of mutating tools whose plane route
 * has no `Idempotency-Key` (PATCH, DELETE), so a retry in the same process answers the first
 * result instead of failing (a removed member is gone: the second DELETE would answer 404).
 * Bounded (oldest dropped first) and kept for `ttlMs`. NOTE: it lives in memory; a retry after a
 * restart reaches the plane again (harmless for PATCH; a 404 for DELETE).
 */
export class ReplayMemo {
  readonly #entries = new Map<string, { at: number; args: string; result: ToolResult }>();
  constructor(
    private readonly max = 1000,
    private readonly ttlMs = 24 * 3600_000,
  ) {}

  /**
   * get answers the remembered result of `key`, or undefined. Throws `idempotency_key_reused`
   * (422, as the plane's ledger does) when the same callId comes back with other arguments.
   */
  get(key: string, args: string): ToolResult | undefined {
    const hit = this.#entries.get(key);
    if (!hit || Date.now() - hit.at > this.ttlMs) return undefined;
    if (hit.args !== args) {
      throw new PlaneProblem(
        422,
        "idempotency_key_reused",
        "This callId was used with other arguments: use a new callId.",
      );
    }
    return hit.result;
  }

  set(key: string, args: string, result: ToolResult): void {
    this.#entries.delete(key);
    this.#entries.set(key, { at: Date.now(), args, result });
    while (this.#entries.size > this.max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }
}

/** toolError is how a refusal reaches the agent: a tool result with `isError`, its code and detail. */
export function toolError(err: unknown): CallToolResult {
  const p =
    err instanceof PlaneProblem
      ? err
      : new PlaneProblem(0, "internal_error", err instanceof Error ? err.message : String(err));
  const error = {
    code: p.code,
    status: p.status,
    detail: p.detail,
    ...(p.requestId ? { requestId: p.requestId } : {}),
    ...(p.errors !== undefined ? { errors: p.errors } : {}),
  };
  return {
    isError: true,
    content: [{ type: "text", text: `${p.code}${p.status ? ` (${p.status})` : ""}: ${p.detail}` }],
    structuredContent: { error },
  };
}

/**
 * createMcpServer builds the MCP server of one agent key: every tool of `TOOLS`, acting on the plane
 * through `options.plane`. Mutating tools derive the plane's `Idempotency-Key` from the key, the
 * tool and the agent's `callId`. Plane problems become tool errors (`isError`), never protocol
 * errors, so the agent reads why it was refused.
 */
export function createMcpServer(options: McpSessionOptions): McpServer {
  const server = new McpServer(
    { name: "baseplate", title: "Baseplate", version: VERSION },
    {
      instructions:
        "Tools acting on a Baseplate plane with an agent key a user delegated: call `whoami` first. Every call is " +
        "audited as this agent on behalf of its user. Mutating tools need a `callId`: reuse it when retrying.",
    },
  );
  const fingerprint = keyFingerprint(options.token);
  const replays = options.replays ?? new ReplayMemo();
  let identity: Promise<Identity> | null = null;
  const resolve = () => {
    identity ??= resolveIdentity(options.plane, options.token);
    // A failed resolution (plane down, key refused) is retried on the next call.
    identity.catch(() => {
      identity = null;
    });
    return identity;
  };
  const context = (idempotencyKey?: string): ToolContext => ({
    plane: options.plane,
    identity: resolve,
    async tenant(tenantId) {
      if (tenantId) return tenantId;
      const own = (await this.identity()).tenantId;
      if (own) return own;
      throw new PlaneProblem(400, "tenant_required", "This key names no tenant: pass `tenantId`.");
    },
    ...(idempotencyKey ? { idempotencyKey } : {}),
  });

  for (const tool of TOOLS) {
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: z.strictObject(tool.input),
        annotations: {
          title: tool.title,
          readOnlyHint: !tool.mutating,
          destructiveHint: tool.destructive === true,
          idempotentHint: true,
          openWorldHint: false,
        },
      },
      async (args: Record<string, unknown>): Promise<CallToolResult> => {
        const callId = typeof args.callId === "string" ? args.callId : undefined;
        const key = tool.mutating && callId ? deriveIdempotencyKey(fingerprint, tool.name, callId) : undefined;
        const remembered = key && tool.replay === "memory" ? key : undefined;
        const argsJson = JSON.stringify(args);
        try {
          const memo = remembered ? replays.get(remembered, argsJson) : undefined;
          const result = memo ?? (await tool.run(context(key), args as never));
          if (remembered && !memo) replays.set(remembered, argsJson, result);
          return { content: [{ type: "text", text: tool.render(result) }], structuredContent: result };
        } catch (err) {
          return toolError(err);
        }
      },
    );
  }
  return server;
}
