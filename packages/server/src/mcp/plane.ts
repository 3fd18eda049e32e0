import { createHash } from "node:crypto";

/**
 * The MCP server's one seam to the plane: every tool acts through `PlaneClient`, which speaks the
 * plane's public HTTP API with the agent key it was built for (never the database), so an agent
 * can do exactly what its delegation allows and the plane audits each call as agent → user.
 */

/** PlaneRequest is one call of the plane's HTTP API. */
export interface PlaneRequest {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** path starts with `/v1/`; path parameters are already encoded (see `segment`). */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** idempotencyKey is sent as `Idempotency-Key` (POST only): a repeat replays the first answer. */
  idempotencyKey?: string;
}

/** PlaneClient calls the plane as one credential. `call` throws `PlaneProblem` for any refusal. */
export interface PlaneClient {
  call<T = Record<string, unknown>>(request: PlaneRequest): Promise<T>;
}

/**
 * PlaneProblem is an RFC 9457 problem the plane answered (or `unreachable` when it answered
 * nothing usable): tools hand it to the agent as a tool error, never as a protocol error.
 */
export class PlaneProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly requestId: string | null = null,
    readonly errors: unknown = undefined,
  ) {
    super(`${code}: ${detail}`);
    this.name = "PlaneProblem";
  }
}

/** segment encodes one path parameter (an id from an agent is never trusted to be URL-safe). */
export function segment(value: string): string {
  return encodeURIComponent(value);
}

/** keyFingerprint identifies a credential without keeping it: SHA-256 of the token, hex. */
export function keyFingerprint(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * deriveIdempotencyKey turns an agent's `callId` into the plane's `Idempotency-Key`: a hash of the
 * credential, the tool and the call id, so a retried tool call (same tool, same callId) replays
 * the first answer, while two keys or two tools never share a ledger entry.
 */
export function deriveIdempotencyKey(fingerprint: string, tool: string, callId: string): string {
  const digest = createHash("sha256").update(`${fingerprint}\n${tool}\n${callId}`).digest("base64url");
  return `mcp_${digest}`;
}
