import { BaseplateProblem, createTransport } from "@baseplate/sdk";
import { type PlaneClient, PlaneProblem, type PlaneRequest } from "./plane.js";

/** PlaneClientOptions: where the plane is and the credential to act with. */
export interface PlaneClientOptions {
  /** baseUrl of the plane, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** token is the agent key (`bp_ak_…`) every call is made with. */
  token: string;
  /** userAgent is sent with every call (the audit log records it with the request). */
  userAgent: string;
  /** timeoutMs bounds one attempt (default 30 s). */
  timeoutMs?: number;
  /** retries of one call on network errors, 429 and 502–504 (default 2; the SDK's rules). */
  retries?: number;
}

/**
 * createSdkPlaneClient is the `PlaneClient` on `@baseplate/sdk`'s transport: the bearer key, the
 * SDK's retries with backoff (a POST only with its Idempotency-Key, which it keeps on every
 * attempt: the one derived from the agent's `callId` when the tool set it) and its problem
 * parsing. Problems become `PlaneProblem`s; a plane that cannot be reached is `unreachable`
 * (status 0).
 */
export function createSdkPlaneClient(options: PlaneClientOptions): PlaneClient {
  const base = options.baseUrl.replace(/\/+$/, "");
  const send = createTransport({
    token: options.token,
    userAgent: options.userAgent,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.retries !== undefined ? { retries: options.retries } : {}),
  });
  return {
    async call<T>(request: PlaneRequest): Promise<T> {
      const url = new URL(`${base}${request.path}`);
      for (const [name, value] of Object.entries(request.query ?? {})) {
        if (value !== undefined) url.searchParams.set(name, String(value));
      }
      const headers = new Headers({ accept: "application/json" });
      if (request.body !== undefined) headers.set("content-type", "application/json");
      if (request.idempotencyKey && request.method === "POST") headers.set("idempotency-key", request.idempotencyKey);
      let response: Response;
      try {
        response = await send(
          new Request(url, {
            method: request.method,
            headers,
            ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
          }),
        );
      } catch (err) {
        throw new PlaneProblem(0, "unreachable", `The plane at ${base} did not answer: ${(err as Error).message}`);
      }
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text === "" ? null : JSON.parse(text);
      } catch {
        // not JSON: kept as text for the problem's detail
      }
      if (!response.ok) {
        const p = BaseplateProblem.fromResponse(response, parsed);
        throw new PlaneProblem(p.status, p.code, p.detail, p.requestId || null, p.errors);
      }
      return (parsed ?? {}) as T;
    },
  };
}
