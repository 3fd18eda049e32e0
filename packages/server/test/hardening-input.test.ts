import { connect } from "node:net";
import { afterEach, beforeEach, expect, it } from "vitest";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";

// Client input can never stall or crash the plane (security issue class 3), tried as an attacker
// would on the shipped routes: lone UTF-16 surrogates, a backtracking regular expression smuggled
// in through a client-supplied schema, and what Node's HTTP parser refuses before any route runs.
// Every answer is a problem document, and nothing changes. Deep JSON, surrogates, NUL, huge query
// strings and SSRF spellings on every route are the input sweep's (test/input-sweep.test.ts).

type Json = Record<string, unknown>;

/** raw sends bytes over a socket to a listening server and returns the whole answer as text. */
function raw(address: string, request: string): Promise<string> {
  const { hostname, port } = new URL(address);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => {
      answer += chunk;
    });
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
    socket.setTimeout(5_000, () => {
      socket.destroy();
      resolve(answer);
    });
    socket.write(request);
  });
}

function problemOf(answer: string): { status: number; contentType: string; body: Json } {
  const [head = "", body = ""] = answer.split("\r\n\r\n");
  const status = Number(head.split(" ")[1]);
  const contentType = /content-type: ([^\r\n]+)/i.exec(head)?.[1] ?? "";
  return { status, contentType, body: JSON.parse(body) as Json };
}

describeEachEngine("hardening: client input", (engine) => {
  let t: TestApp;
  let p: SeededPlane;

  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
  });
  afterEach(async () => t.close());

  async function call(method: string, url: string, payload?: unknown) {
    const res = await t.inject({
      method: method as "POST",
      url,
      headers: { authorization: `Bearer ${p.a.secretKey}`, "content-type": "application/json" },
      ...(payload !== undefined ? { payload: typeof payload === "string" ? payload : JSON.stringify(payload) } : {}),
    });
    return {
      status: res.statusCode,
      type: String(res.headers["content-type"]),
      body: JSON.parse(res.body || "{}") as Json,
    };
  }
  async function tenantCount(): Promise<number> {
    const res = await call("GET", "/v1/tenants?limit=100");
    return (res.body.data as unknown[]).length;
  }

  it("a lone UTF-16 surrogate in any string or key is refused the same way on both engines", async () => {
    const bodies = [
      '{"name":"Acme \\ud800"}',
      '{"name":"Acme","metadata":{"note":"\\udfff"}}',
      '{"name":"Acme","metadata":{"\\ud83d":"key"}}',
    ];
    for (const body of bodies) {
      const res = await call("POST", "/v1/tenants", body);
      expect(res.status, body).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      expect(String(res.body.detail)).toMatch(/valid Unicode/);
    }
    expect(await tenantCount()).toBe(0);
    // A surrogate pair is one valid character and is stored as sent.
    const ok = await call("POST", "/v1/tenants", '{"name":"Acme \\ud83d\\ude00"}');
    expect(ok.status).toBe(201);
    expect(ok.body.name).toBe("Acme \u{1F600}");
  });

  it("a client schema cannot run a backtracking regular expression: pattern is refused where schemas are registered", async () => {
    const evil = { type: "object", properties: { s: { type: "string", pattern: "^(a+)+$" } } };
    const eventType = await call("POST", "/v1/events/types", { name: "evil.thing", description: "x", schema: evil });
    expect(eventType.status).toBe(400);
    expect(eventType.body.code).toBe("validation_failed");
    const auditSchema = await call("POST", "/v1/audit/schemas", { action: "evil.thing", schema: evil });
    expect(auditSchema.status).toBe(400);
    // Had it been accepted, this 27-byte string would take seconds under a backtracking engine.
    const started = performance.now();
    const publish = await call("POST", "/v1/events", { type: "evil.thing", data: { s: `${"a".repeat(27)}!` } });
    expect(publish.status).toBe(422);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("a wrong method on a known path answers 405 naming the methods in Allow", async () => {
    const res = await t.inject({
      method: "DELETE",
      url: "/v1/tenants",
      headers: { authorization: `Bearer ${p.a.secretKey}` },
    });
    expect(res.statusCode).toBe(405);
    expect(JSON.parse(res.body).code).toBe("method_not_allowed");
    expect(res.headers.allow).toBe("GET, HEAD, POST");
    const head = await t.inject({
      method: "PUT",
      url: "/v1/tenants/ten_x",
      headers: { authorization: `Bearer ${p.a.secretKey}` },
    });
    expect(head.statusCode).toBe(405);
    expect(head.headers.allow).toBe("GET, HEAD, PATCH");
  });

  it("what the HTTP parser refuses (a 20 KB query string on every route, a short Content-Length) is a problem document too", async () => {
    const server = await createTestApp(engine, { plane: true, migrate: false });
    try {
      const address = await server.app.http.fastify.listen({ host: "127.0.0.1", port: 0 });
      const routes = server.app.http.routes;
      expect(routes.length).toBeGreaterThan(50);
      for (const route of routes) {
        const path = route.url.replace(/:[A-Za-z0-9_]+/g, "x");
        const target = `${path}?q=${"x".repeat(20_000)}`;
        const huge = problemOf(await raw(address, `${route.method} ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`));
        expect(huge.status, `${route.method} ${route.url}`).toBe(431);
        expect(huge.contentType).toContain("application/problem+json");
        expect(huge.body.code).toBe("headers_too_large");
      }

      const short = problemOf(
        await raw(
          address,
          `POST /v1/tenants HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{"name":"Acme"}`,
        ),
      );
      expect(short.status).toBeGreaterThanOrEqual(400);
      expect(short.status).toBeLessThan(500);
      expect(short.contentType).toContain("application/problem+json");
    } finally {
      await server.close();
    }
  });
});
