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

/**
 * SendFailure names why an attempt got no response, for logs and alerts: the receiver's name did
 * not resolve (`dns`), it refused or dropped the connection (`refused`, `reset`), it did not answer
 * in time (`timeout`), its TLS failed (`tls`), the SSRF policy refused the target (`ssrf_blocked`),
 * the delivery was aborted (`aborted`), or anything else (`error`).
 */
export type SendFailure = "dns" | "refused" | "reset" | "timeout" | "tls" | "ssrf_blocked" | "aborted" | "error";

/** SendResult is one attempt's outcome: a response (any status) or an error before one. */
export type SendResult =
  | { kind: "response"; status: number; headers: http.IncomingHttpHeaders; body: string; durationMs: number }
  | { kind: "error"; error: string; refused: boolean; failure: SendFailure; durationMs: number };

/** failureOf classifies an error raised before a response (see `SendFailure`). */
export function failureOf(err: Error, refused: boolean): SendFailure {
  if (refused) return "ssrf_blocked";
  const code = (err as { code?: unknown }).code;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "ENODATA") return "dns";
  if (code === "ECONNREFUSED" || code === "EHOSTUNREACH" || code === "ENETUNREACH") return "refused";
  if (code === "ECONNRESET" || code === "EPIPE") return "reset";
  if (code === "ETIMEDOUT" || err.message.startsWith("timed out")) return "timeout";
  if (err.message === "delivery aborted") return "aborted";
  if (typeof code === "string" && (code.startsWith("ERR_TLS") || code.includes("CERT") || code.startsWith("ERR_SSL"))) {
    return "tls";
  }
  return "error";
}

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
    if (refusal) {
      return {
        kind: "error",
        error: `URL refused: ${refusal}`,
        refused: true,
        failure: "ssrf_blocked",
        durationMs: elapsed(),
      };
    }
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
      const fail = (err: Error) => {
        const refused =
          err instanceof TargetRefusedError || (err as { cause?: unknown }).cause instanceof TargetRefusedError;
        finish({
          kind: "error",
          error: err.message.slice(0, 500),
          refused,
          failure: failureOf(err, refused),
          durationMs: elapsed(),
        });
      };
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
