import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { checkUrl, guardedLookup, type Resolver, TargetRefusedError } from "../../../platform/ssrf.js";

export interface SendInput {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** SendResult is one attempt's outcome: a response (any status) or an error before one. */
export type SendResult =
  | { kind: "response"; status: number; headers: http.IncomingHttpHeaders; body: string; durationMs: number }
  | { kind: "error"; error: string; refused: boolean; durationMs: number };

/** RESPONSE_BODY_LIMIT: bytes of a receiver's answer read (and kept in the attempt log). */
export const RESPONSE_BODY_LIMIT = 1024;

/**
 * Sender posts webhook deliveries with node:http(s): the SSRF policy is checked on the URL and, in
 * the socket's `lookup`, on every address the host resolves to (the address connected to is the
 * one checked). Redirects are never followed; the whole attempt is bounded by `timeoutMs`; at
 * most `RESPONSE_BODY_LIMIT` bytes of the answer are read. Connections are kept alive per target.
 */
export class Sender {
  readonly #httpAgent: http.Agent;
  readonly #httpsAgent: https.Agent;

  constructor(private readonly options: { allowPrivate: boolean; resolver: Resolver; maxSockets?: number }) {
    const lookup = guardedLookup(options.resolver, options.allowPrivate) as unknown as http.AgentOptions["lookup"];
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 256, lookup };
    this.#httpAgent = new http.Agent(agentOptions);
    this.#httpsAgent = new https.Agent(agentOptions);
  }

  async send(input: SendInput): Promise<SendResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const refusal = checkUrl(input.url, this.options.allowPrivate);
    if (refusal) return { kind: "error", error: `URL refused: ${refusal}`, refused: true, durationMs: elapsed() };
    const url = new URL(input.url);
    const isHttps = url.protocol === "https:";
    const host = url.hostname.replace(/^\[|\]$/g, "");
    return new Promise<SendResult>((resolve) => {
      let settled = false;
      const finish = (result: SendResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        input.signal?.removeEventListener("abort", onAbort);
        resolve(result);
      };
      const fail = (err: Error) =>
        finish({
          kind: "error",
          error: err.message.slice(0, 500),
          refused:
            err instanceof TargetRefusedError || (err as { cause?: unknown }).cause instanceof TargetRefusedError,
          durationMs: elapsed(),
        });
      const req = (isHttps ? https : http).request({
        protocol: url.protocol,
        hostname: host,
        port: url.port || (isHttps ? 443 : 80),
        path: `${url.pathname}${url.search}`,
        method: "POST",
        agent: isHttps ? this.#httpsAgent : this.#httpAgent,
        headers: {
          ...input.headers,
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(input.body)),
          "user-agent": "Baseplate-Webhooks/1",
        },
        ...(isIP(host) ? {} : { servername: host }),
      });
      const timer = setTimeout(() => req.destroy(new Error(`timed out after ${input.timeoutMs} ms`)), input.timeoutMs);
      const onAbort = () => req.destroy(new Error("delivery aborted"));
      input.signal?.addEventListener("abort", onAbort, { once: true });
      req.on("error", fail);
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () =>
          finish({
            kind: "response",
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8").slice(0, RESPONSE_BODY_LIMIT),
            durationMs: elapsed(),
          });
        res.on("data", (chunk: Buffer) => {
          if (size < RESPONSE_BODY_LIMIT) chunks.push(chunk.subarray(0, RESPONSE_BODY_LIMIT - size));
          size += chunk.length;
          if (size > 64 * 1024) {
            // Never read an unbounded answer: keep what we have and drop the connection.
            done();
            res.destroy();
          }
        });
        res.on("end", done);
        res.on("error", done);
        res.on("aborted", done);
      });
      req.end(input.body);
    });
  }

  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }
}
