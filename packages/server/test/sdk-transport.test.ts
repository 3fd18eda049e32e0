import { createTransport } from "@baseplate/sdk";
import { describe, expect, it } from "vitest";
import { SseParser } from "../../sdk/src/sse.js";

// The SDK's retry policy and stream parser, with a scripted fetch: no plane needed.
function scripted(answers: (Response | Error)[]) {
  const requests: Request[] = [];
  const fetch = async (input: Request | string | URL) => {
    requests.push(input as Request);
    const next = answers.shift();
    if (!next) throw new Error("no more answers");
    if (next instanceof Error) throw next;
    return next;
  };
  return { requests, fetch: fetch as typeof globalThis.fetch };
}
const problem = (status: number, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ status, code: "x", detail: "x" }), { status, headers });

describe("@baseplate/sdk transport", () => {
  it("429 waits for Retry-After, then retries with the same Idempotency-Key", async () => {
    const s = scripted([problem(429, { "retry-after": "1" }), new Response("{}", { status: 201 })]);
    const transport = createTransport({ fetch: s.fetch, token: "bp_sk_x" });
    const started = Date.now();
    const res = await transport(new Request("http://plane.test/v1/tenants", { method: "POST", body: "{}" }));
    expect(res.status).toBe(201);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    const [a, b] = s.requests;
    expect(a?.headers.get("idempotency-key")).toBeTruthy();
    expect(b?.headers.get("idempotency-key")).toBe(a?.headers.get("idempotency-key"));
    expect(b?.headers.get("authorization")).toBe("Bearer bp_sk_x");
    expect(await b?.text()).toBe("{}");
  });

  it("an operator's environmentId is sent as Baseplate-Environment on every request, unless the call sets its own", async () => {
    const s = scripted([new Response("{}"), new Response("{}")]);
    const transport = createTransport({ fetch: s.fetch, token: "bp_ot_x", environmentId: "env_a" });
    await transport(new Request("http://plane.test/v1/tenants"));
    await transport(new Request("http://plane.test/v1/tenants", { headers: { "baseplate-environment": "env_b" } }));
    expect(s.requests.map((r) => r.headers.get("baseplate-environment"))).toEqual(["env_a", "env_b"]);
  });

  it("a Retry-After beyond maxDelayMs is answered, not waited for", async () => {
    const s = scripted([problem(429, { "retry-after": "120" })]);
    const res = await createTransport({ fetch: s.fetch })(new Request("http://plane.test/v1/tenants"));
    expect(res.status).toBe(429);
    expect(s.requests).toHaveLength(1);
  });

  it("502/503/504 and network errors retry GET and POST; PATCH is answered as is; 4xx never retries", async () => {
    const fast = { baseDelayMs: 1, retries: 3 };
    const get = scripted([problem(503), problem(502), new TypeError("fetch failed"), new Response("{}")]);
    expect((await createTransport({ ...fast, fetch: get.fetch })(new Request("http://plane.test/x"))).status).toBe(200);
    expect(get.requests).toHaveLength(4);
    const patch = scripted([problem(503)]);
    const patched = await createTransport({ ...fast, fetch: patch.fetch })(
      new Request("http://plane.test/x", { method: "PATCH", body: "{}" }),
    );
    expect(patched.status).toBe(503);
    const notFound = scripted([problem(404)]);
    expect((await createTransport({ ...fast, fetch: notFound.fetch })(new Request("http://plane.test/x"))).status).toBe(
      404,
    );
    expect(notFound.requests).toHaveLength(1);
  });

  it("a caller's Idempotency-Key is kept; the attempt timeout is retried, the caller's abort is not", async () => {
    const s = scripted([new Response("{}", { status: 201 })]);
    await createTransport({ fetch: s.fetch })(
      new Request("http://plane.test/x", { method: "POST", body: "{}", headers: { "idempotency-key": "mine" } }),
    );
    expect(s.requests[0]?.headers.get("idempotency-key")).toBe("mine");

    let calls = 0;
    const hanging = (async (input: Request) => {
      calls++;
      if (calls === 1) {
        return new Promise<Response>((_, reject) =>
          input.signal.addEventListener("abort", () => reject(input.signal.reason)),
        );
      }
      return new Response("{}");
    }) as typeof globalThis.fetch;
    const timed = createTransport({ fetch: hanging, timeoutMs: 50, baseDelayMs: 1 });
    expect((await timed(new Request("http://plane.test/x"))).status).toBe(200);
    expect(calls).toBe(2);

    const controller = new AbortController();
    calls = 0;
    const never = (async (input: Request) => {
      calls++;
      return new Promise<Response>((_, reject) =>
        input.signal.addEventListener("abort", () => reject(input.signal.reason)),
      );
    }) as typeof globalThis.fetch;
    const pending = createTransport({ fetch: never })(
      new Request("http://plane.test/x", { signal: controller.signal }),
    );
    controller.abort();
    await expect(pending).rejects.toBeDefined();
    expect(calls).toBe(1);
  });
});

describe("@baseplate/sdk SSE parser", () => {
  it("parses events split anywhere, CRLF/CR/LF lines, comments, multi-line data, retry", () => {
    const messages: unknown[] = [];
    const retries: number[] = [];
    const parser = new SseParser(
      (m) => messages.push(m),
      (ms) => retries.push(ms),
    );
    const stream =
      ': connected\r\n\r\nretry: 3000\nid: 7\nevent: tenant.created\ndata: {"a":\ndata: 1}\r\n\r\nid: 8\rdata: x\r\r: heartbeat\n';
    for (const ch of stream) parser.feed(ch);
    expect(retries).toEqual([3000]);
    expect(messages).toEqual([
      { id: "7", event: "tenant.created", data: '{"a":\n1}' },
      { id: "8", event: undefined, data: "x" },
    ]);
  });
});
