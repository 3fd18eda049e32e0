/** RetryOptions shapes the retries of one call. */
export interface RetryOptions {
  /** retries: how many times a failed attempt is tried again (default 2, so at most 3 attempts). */
  retries?: number;
  /** baseDelayMs: the first backoff (default 250); each retry doubles it, with full jitter. */
  baseDelayMs?: number;
  /** maxDelayMs: the longest wait between attempts, `Retry-After` included (default 10 s); longer answers are not retried. */
  maxDelayMs?: number;
}

/** TransportOptions configure the fetch that every SDK call goes through. */
export interface TransportOptions extends RetryOptions {
  /** token: the bearer credential (a `bp_sk_` secret key, a tenant or agent key, a session), or a function giving it. */
  token?: string | (() => string | Promise<string>);
  /**
   * environmentId: the environment an operator credential acts in, sent as `Baseplate-Environment`
   * on every request (environment credentials are bound to theirs and need not send it).
   */
  environmentId?: string;
  /** timeoutMs: the limit of one attempt, until the response headers arrive (default 30 s). */
  timeoutMs?: number;
  /** fetch: the underlying fetch (default the global one). */
  fetch?: typeof fetch;
  /** userAgent: appended to the User-Agent header. */
  userAgent?: string;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
const RETRY_STATUS = new Set([502, 503, 504]);

/**
 * createTransport returns a fetch that adds the credential, gives every POST an `Idempotency-Key`
 * (a UUID, unless the caller set one) that all of that call's attempts share, bounds each attempt by
 * the timeout, and retries with exponential backoff and full jitter:
 * - 429: any method (the plane refused before doing anything), after `Retry-After`;
 * - network errors, timeouts, 502/503/504: GET, HEAD, PUT, DELETE, and POST (its idempotency key makes
 *   a repeat answer the stored response rather than act twice); PATCH is not retried;
 * - 409 `idempotency_request_in_progress`: a POST whose earlier attempt is still running.
 * The caller's own abort signal is never retried. Request bodies are buffered so they can be resent.
 */
export function createTransport(options: TransportOptions = {}): (input: Request) => Promise<Response> {
  const baseFetch = options.fetch ?? globalThis.fetch;
  const retries = options.retries ?? 2;
  const base = options.baseDelayMs ?? 250;
  const maxDelay = options.maxDelayMs ?? 10_000;
  const timeoutMs = options.timeoutMs ?? 30_000;
  return async (input: Request): Promise<Response> => {
    const method = input.method.toUpperCase();
    const headers = new Headers(input.headers);
    if (options.token !== undefined && !headers.has("authorization")) {
      const token = typeof options.token === "function" ? await options.token() : options.token;
      headers.set("authorization", `Bearer ${token}`);
    }
    if (options.environmentId !== undefined && !headers.has("baseplate-environment")) {
      headers.set("baseplate-environment", options.environmentId);
    }
    if (method === "POST" && !headers.has("idempotency-key")) headers.set("idempotency-key", newIdempotencyKey());
    if (options.userAgent) headers.set("user-agent", `${options.userAgent} baseplate-sdk/0.1`);
    const body = input.body === null ? undefined : await input.arrayBuffer();
    const retryable = IDEMPOTENT.has(method) || (method === "POST" && headers.has("idempotency-key"));
    for (let attempt = 0; ; attempt++) {
      // NOTE: the timer stops when the headers arrive, so a long body (an event stream) is not cut.
      const timeout = new AbortController();
      const timer = setTimeout(
        () => timeout.abort(new DOMException(`No response within ${timeoutMs} ms.`, "TimeoutError")),
        timeoutMs,
      );
      const signal = AbortSignal.any([input.signal, timeout.signal]);
      let response: Response;
      try {
        response = await baseFetch(
          new Request(input.url, { method, headers, body: body ?? null, signal, redirect: input.redirect }),
        );
      } catch (err) {
        clearTimeout(timer);
        if (input.signal.aborted || !retryable || attempt >= retries) throw err;
        await sleep(backoff(attempt, base, maxDelay), input.signal);
        continue;
      }
      clearTimeout(timer);
      if (attempt >= retries) return response;
      const wait = await retryDelay(response, method, retryable, attempt, base, maxDelay);
      if (wait === null) return response;
      await response.body?.cancel().catch(() => undefined);
      await sleep(wait, input.signal);
    }
  };
}

/** retryDelay says how long to wait before trying a response's request again, or null not to. */
async function retryDelay(
  response: Response,
  method: string,
  retryable: boolean,
  attempt: number,
  base: number,
  maxDelay: number,
): Promise<number | null> {
  if (response.status === 429) {
    const after = parseRetryAfter(response.headers.get("retry-after"));
    if (after === null) return backoff(attempt, base, maxDelay);
    return after <= maxDelay ? after : null;
  }
  if (RETRY_STATUS.has(response.status)) return retryable ? backoff(attempt, base, maxDelay) : null;
  if (response.status === 409 && method === "POST") {
    const body = (await response
      .clone()
      .json()
      .catch(() => null)) as { code?: unknown } | null;
    if (body?.code === "idempotency_request_in_progress") return backoff(attempt, base, maxDelay);
  }
  return null;
}

/** backoff is full jitter: a random wait in [0, min(maxDelay, base·2^attempt)], at least 10 ms. */
function backoff(attempt: number, base: number, maxDelay: number): number {
  return Math.max(10, Math.random() * Math.min(maxDelay, base * 2 ** attempt));
}

/** parseRetryAfter reads `Retry-After` (delay-seconds or an HTTP date) as milliseconds. */
export function parseRetryAfter(value: string | null): number | null {
  if (value === null || value.trim() === "") return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

/** sleep waits, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * newIdempotencyKey returns a random UUID (v4) through Web Crypto, so the transport runs in Node and
 * in browsers alike. `crypto.randomUUID` exists only in secure contexts (HTTPS, localhost); a page
 * served over plain HTTP elsewhere builds the same UUID from `crypto.getRandomValues`.
 */
function newIdempotencyKey(): string {
  if (typeof globalThis.crypto.randomUUID === "function") return globalThis.crypto.randomUUID();
  const b = globalThis.crypto.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] as number) & 0x0f) | 0x40;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
