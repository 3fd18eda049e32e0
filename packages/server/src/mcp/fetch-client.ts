import { type PlaneClient, PlaneProblem, type PlaneRequest } from "./plane.js";

/** PlaneClientOptions: where the plane is and the credential to act with. */
export interface PlaneClientOptions {
  /** baseUrl of the plane, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** token is the agent key (`bp_ak_…`) every call is made with. */
  token: string;
  /** userAgent is sent with every call (the audit log records it as the request's context). */
  userAgent: string;
  /** timeoutMs bounds one call (default 30 s). */
  timeoutMs?: number;
}

/**
 * createFetchPlaneClient is a `PlaneClient` on `fetch`. Problems become `PlaneProblem`s; a plane
 * that cannot be reached becomes `unreachable` (status 0). It never retries: a tool call that
 * failed is retried by the agent with the same `callId`.
 */
export function createFetchPlaneClient(options: PlaneClientOptions): PlaneClient {
  const base = options.baseUrl.replace(/\/+$/, "");
  return {
    async call<T>(request: PlaneRequest): Promise<T> {
      const url = new URL(`${base}${request.path}`);
      for (const [name, value] of Object.entries(request.query ?? {})) {
        if (value !== undefined) url.searchParams.set(name, String(value));
      }
      const headers: Record<string, string> = {
        authorization: `Bearer ${options.token}`,
        accept: "application/json",
        "user-agent": options.userAgent,
      };
      if (request.body !== undefined) headers["content-type"] = "application/json";
      if (request.idempotencyKey && request.method === "POST") headers["idempotency-key"] = request.idempotencyKey;
      let response: Response;
      try {
        response = await fetch(url, {
          method: request.method,
          headers,
          ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
          signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
        });
      } catch (err) {
        throw new PlaneProblem(0, "unreachable", `The plane at ${base} did not answer: ${(err as Error).message}`);
      }
      const text = await response.text();
      let parsed: unknown = null;
      try {
        parsed = text === "" ? null : JSON.parse(text);
      } catch {
        parsed = null;
      }
      if (!response.ok) {
        const p = (parsed ?? {}) as Record<string, unknown>;
        throw new PlaneProblem(
          response.status,
          typeof p.code === "string" ? p.code : `http_${response.status}`,
          typeof p.detail === "string" ? p.detail : typeof p.title === "string" ? p.title : response.statusText,
          typeof p.requestId === "string" ? p.requestId : response.headers.get("x-request-id"),
          p.errors,
        );
      }
      return (parsed ?? {}) as T;
    },
  };
}
