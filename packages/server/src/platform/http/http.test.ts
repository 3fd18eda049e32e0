import { Writable } from "node:stream";
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../app.js";
import { loadConfig } from "../../config.js";
import { createTestApp, createTestDatabase, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { probeIds, probeModule } from "../../testing/probe-module.js";
import { isId } from "../ids.js";
import { createLogger } from "../logger.js";

// DESIGN.md §4 (HTTP API conventions) and §7 (bad input changes nothing, never a 5xx);
// checklist A5 (HTTP hygiene) and A6 API8 (headers, CORS).

type Response = LightMyRequestResponse;

const PROBLEM_FIELDS = ["type", "title", "status", "detail", "code", "requestId"];

/** expectProblem asserts an RFC 9457 response with the given status and stable code. */
function expectProblem(res: Response, status: number, code: string): Record<string, unknown> {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
  const body = res.json() as Record<string, unknown>;
  for (const field of PROBLEM_FIELDS) expect(body, `problem field ${field}`).toHaveProperty(field);
  expect(body).toMatchObject({
    status,
    code,
    type: `urn:baseplate:problem:${code}`,
    requestId: res.headers["x-request-id"],
  });
  expect(typeof body.detail).toBe("string");
  expect((body.detail as string).length).toBeGreaterThan(0);
  return body;
}

async function countRows(t: TestApp, table: string): Promise<number> {
  const row = (await t.app.db.kysely
    .selectFrom(table)
    .select((eb) => eb.fn.countAll().as("n"))
    .executeTakeFirstOrThrow()) as { n: number | string };
  return Number(row.n);
}

/** postItem sends POST /v1/probe/items with a bearer token (payload omitted when undefined). */
function postItem(
  t: TestApp,
  token: string,
  payload: string | object | undefined,
  headers: Record<string, string> = {},
) {
  return t.inject({
    method: "POST",
    url: "/v1/probe/items",
    headers: { authorization: `Bearer ${token}`, ...headers },
    ...(payload === undefined ? {} : { payload }),
  } as InjectOptions);
}

describeEachEngine("HTTP: bad input is a problem and changes nothing", (engine) => {
  let t: TestApp;
  let token: string;

  // NOTE: one app for the whole table: no case may write, and each asserts the tables stay empty,
  // so a case that wrongly wrote would fail itself (and the ones after it).
  beforeAll(async () => {
    t = await createTestApp(engine, { env: { BASEPLATE_BODY_LIMIT: "1024" } });
    token = t.token();
  });
  afterAll(async () => t?.close());

  const post = (payload: string | object | undefined, headers: Record<string, string> = {}) =>
    postItem(t, token, payload, headers);

  const json = { "content-type": "application/json" };

  const cases: Array<{
    name: string;
    send: () => Promise<Response>;
    status: number;
    code: string;
    errors?: string[];
  }> = [
    { name: "malformed JSON", send: () => post('{"name": "a"', json), status: 400, code: "invalid_json" },
    { name: "an empty JSON body", send: () => post("", json), status: 400, code: "invalid_json" },
    {
      name: "a text/plain body",
      send: () => post('{"name":"a"}', { "content-type": "text/plain" }),
      status: 415,
      code: "unsupported_media_type",
    },
    {
      name: "a form-urlencoded body",
      send: () => post("name=a", { "content-type": "application/x-www-form-urlencoded" }),
      status: 415,
      code: "unsupported_media_type",
    },
    {
      name: "a body over BASEPLATE_BODY_LIMIT",
      send: () => post({ name: "a", tags: Array.from({ length: 10 }, () => "x".repeat(50)), pad: "y".repeat(600) }),
      status: 413,
      code: "payload_too_large",
    },
    {
      name: "an unknown field",
      send: () => post({ name: "a", extra: 1 }),
      status: 400,
      code: "validation_failed",
      errors: ["body.extra"],
    },
    {
      name: "two unknown fields",
      send: () => post({ name: "a", isAdmin: true, environmentId: "env_x" }),
      status: 400,
      code: "validation_failed",
      errors: ["body.isAdmin", "body.environmentId"],
    },
    {
      name: "a wrong type",
      send: () => post({ name: 5 }),
      status: 400,
      code: "validation_failed",
      errors: ["body.name"],
    },
    {
      name: "a wrong nested type",
      send: () => post({ name: "a", tags: ["ok", 7] }),
      status: 400,
      code: "validation_failed",
      errors: ["body.tags.1"],
    },
    { name: "a missing body", send: () => post(undefined), status: 400, code: "validation_failed", errors: ["body"] },
    {
      name: "a JSON array instead of an object",
      send: () => post("[]", json),
      status: 400,
      code: "validation_failed",
      errors: ["body"],
    },
    {
      name: "a missing required field",
      send: () => post({}),
      status: 400,
      code: "validation_failed",
      errors: ["body.name"],
    },
    {
      name: "a __proto__ poisoning body",
      send: () => post('{"name":"a","__proto__":{"isAdmin":true}}', json),
      status: 400,
      code: "invalid_json",
    },
    {
      name: "a constructor.prototype poisoning body",
      send: () => post('{"name":"a","constructor":{"prototype":{"isAdmin":true}}}', json),
      status: 400,
      code: "invalid_json",
    },
    {
      name: "an invalid cursor",
      send: () =>
        t.inject({
          method: "GET",
          url: "/v1/probe/items?cursor=garbage",
          headers: { authorization: `Bearer ${token}` },
        }),
      status: 400,
      code: "invalid_cursor",
    },
    {
      name: "a cursor that is valid base64url JSON of the wrong shape",
      send: () =>
        t.inject({
          method: "GET",
          url: `/v1/probe/items?cursor=${Buffer.from('{"id":5}').toString("base64url")}`,
          headers: { authorization: `Bearer ${token}` },
        }),
      status: 400,
      code: "invalid_cursor",
    },
    ...["0", "101", "-1", "2.5", "abc"].map((limit) => ({
      name: `limit=${limit}`,
      send: () =>
        t.inject({
          method: "GET",
          url: `/v1/probe/items?limit=${limit}`,
          headers: { authorization: `Bearer ${token}` },
        }),
      status: 400,
      code: "validation_failed",
      errors: ["query.limit"],
    })),
    {
      name: "an unknown query parameter",
      send: () =>
        t.inject({ method: "GET", url: "/v1/probe/items?sort=name", headers: { authorization: `Bearer ${token}` } }),
      status: 400,
      code: "validation_failed",
      errors: ["query.sort"],
    },
    {
      name: "a malformed percent-encoding in the path",
      send: () =>
        t.inject({ method: "GET", url: "/v1/probe/items/%zz", headers: { authorization: `Bearer ${token}` } }),
      status: 400,
      code: "bad_request",
    },
    {
      name: "an overlong path segment",
      send: () =>
        t.inject({
          method: "GET",
          url: `/v1/probe/items/${"x".repeat(300)}`,
          headers: { authorization: `Bearer ${token}` },
        }),
      status: 400,
      code: "bad_request",
    },
    // PostgreSQL cannot store U+0000; it is refused on every engine before reaching the database.
    {
      name: "a NUL character in a body string",
      send: () => post('{"name":"a\\u0000b"}', json),
      status: 400,
      code: "validation_failed",
      errors: ["body.name"],
    },
    {
      name: "a NUL character in a nested body string",
      send: () => post('{"name":"a","tags":["ok","\\u0000"]}', json),
      status: 400,
      code: "validation_failed",
      errors: ["body.tags.1"],
    },
    {
      name: "a NUL character in a path parameter",
      send: () =>
        t.inject({ method: "GET", url: "/v1/probe/items/a%00b", headers: { authorization: `Bearer ${token}` } }),
      status: 400,
      code: "validation_failed",
      errors: ["params.itemId"],
    },
    {
      name: "a NUL character in a query parameter",
      send: () =>
        t.inject({ method: "GET", url: "/v1/probe/items?cursor=%00", headers: { authorization: `Bearer ${token}` } }),
      status: 400,
      code: "validation_failed",
      errors: ["query.cursor"],
    },
    {
      name: "a cursor that decodes to a NUL character",
      send: () =>
        t.inject({
          method: "GET",
          url: `/v1/probe/items?cursor=${Buffer.from('{"id":"\\u0000"}').toString("base64url")}`,
          headers: { authorization: `Bearer ${token}` },
        }),
      status: 400,
      code: "invalid_cursor",
    },
    {
      name: "an unknown route",
      send: () => t.inject({ method: "GET", url: "/v1/nope?x=1" }),
      status: 404,
      code: "route_not_found",
    },
    {
      name: "an unknown method on a known path",
      send: () => t.inject({ method: "DELETE", url: "/v1/probe/items", headers: { authorization: `Bearer ${token}` } }),
      status: 405,
      code: "method_not_allowed",
    },
    // Nesting is bounded before any handler (or anything recursive) sees the body.
    {
      name: "a body nested 400 levels deep",
      send: () => post(`{"name":"a","tags":${"[".repeat(400)}${"]".repeat(400)}}`, json),
      status: 400,
      code: "validation_failed",
      errors: ["body"],
    },
    // A lone UTF-16 surrogate is not Unicode: PostgreSQL refuses it, SQLite would mangle it.
    {
      name: "a lone surrogate in a body string",
      send: () => post('{"name":"a\\ud800b"}', json),
      status: 400,
      code: "validation_failed",
      errors: ["body.name"],
    },
    {
      name: "a lone low surrogate in a nested string",
      send: () => post('{"name":"a","tags":["\\udc00"]}', json),
      status: 400,
      code: "validation_failed",
      errors: ["body.tags.0"],
    },
  ];

  it("a wrong method on a known path names the allowed ones in Allow", async () => {
    const res = await t.inject({
      method: "PUT",
      url: "/v1/probe/items",
      headers: { authorization: `Bearer ${token}` },
    });
    expectProblem(res, 405, "method_not_allowed");
    expect(res.headers.allow).toBe("GET, HEAD, POST");
  });

  it.each(cases)("$name → $status $code", async ({ send, status, code, errors }) => {
    const res = await send();
    const problem = expectProblem(res, status, code);
    if (errors) {
      const paths = (problem.errors as Array<{ path: string; message: string }>).map((e) => e.path);
      expect(paths).toEqual(errors);
      expect(problem.detail).toContain(errors[0]);
    } else {
      expect(problem.errors).toBeUndefined();
    }
    expect(await countRows(t, "probe_item")).toBe(0);
    expect(await countRows(t, "probe_fact")).toBe(0);
    expect(await countRows(t, "job")).toBe(0);
    expect(await countRows(t, "idempotency_record")).toBe(0);
  });

  it("the same unknown-field body with an Idempotency-Key stores nothing either", async () => {
    const res = await post({ name: "a", extra: 1 }, { "idempotency-key": "k-1" });
    expectProblem(res, 400, "validation_failed");
    expect(await countRows(t, "idempotency_record")).toBe(0);
    expect(await countRows(t, "probe_item")).toBe(0);
  });
});

describeEachEngine("HTTP: writes that succeed and writes that fail", (engine) => {
  let t: TestApp;
  let token: string;
  beforeEach(async () => {
    t = await createTestApp(engine, { env: { BASEPLATE_BODY_LIMIT: "1024" } });
    token = t.token();
  });
  afterEach(async () => t.close());

  const post = (payload: object) => postItem(t, token, payload);

  it("a pair of surrogates (an emoji) is valid Unicode and accepted", async () => {
    const res = await t.inject({
      method: "POST",
      url: "/v1/probe/items",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      payload: '{"name":"ok \\ud83d\\ude00"}',
    });
    expect(res.statusCode).toBe(201);
    expect(JSON.parse(res.body).name).toBe("ok \u{1F600}");
  });

  it("a body just under the limit is accepted (the limit is not off by a lot)", async () => {
    const res = await post({ name: "n".repeat(200) });
    expect(res.statusCode).toBe(201);
    expect(await countRows(t, "probe_item")).toBe(1);
  });

  it("an unexpected exception → 500 internal_error; the cause stays out of the response; the write rolled back", async () => {
    const res = await post({ name: "explode-after-write" });
    const problem = expectProblem(res, 500, "internal_error");
    expect(problem.detail).toBe("An unexpected error occurred. Quote the requestId when reporting it.");
    expect(res.body).not.toContain("exploded");
    expect(res.body).not.toContain("probe-module");
    expect(res.body).not.toContain("stack");
    expect(await countRows(t, "probe_item")).toBe(0);
    expect(await countRows(t, "probe_fact")).toBe(0);
    expect(await countRows(t, "job")).toBe(0);
  });

  it("a well-formed request under the same settings is accepted and writes once", async () => {
    const res = await post({ name: "ok", tags: ["x"] });
    expect(res.statusCode).toBe(201);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.json()).toMatchObject({ name: "ok" });
    expect(probeIds.isId("testItem", res.json().id)).toBe(true);
    expect(await countRows(t, "probe_item")).toBe(1);
    expect(await countRows(t, "probe_fact")).toBe(1);
  });
});

describeEachEngine("HTTP: request ids, headers and CORS", (engine) => {
  let t: TestApp;
  // Read-only requests: one app serves the whole suite.
  beforeAll(async () => {
    t = await createTestApp(engine, { env: { BASEPLATE_CORS_ORIGINS: "https://app.example.com" } });
  });
  afterAll(async () => t?.close());

  it("generates an x-request-id (req_…) when the client sends none", async () => {
    const a = await t.inject({ method: "GET", url: "/healthz" });
    const b = await t.inject({ method: "GET", url: "/healthz" });
    expect(isId("request", a.headers["x-request-id"])).toBe(true);
    expect(isId("request", b.headers["x-request-id"])).toBe(true);
    expect(a.headers["x-request-id"]).not.toBe(b.headers["x-request-id"]);
  });

  it("echoes a valid x-request-id, also inside problems", async () => {
    const id = "trace-01.abc:DEF_9";
    const ok = await t.inject({ method: "GET", url: "/healthz", headers: { "x-request-id": id } });
    expect(ok.headers["x-request-id"]).toBe(id);
    const bad = await t.inject({ method: "GET", url: "/v1/nope", headers: { "x-request-id": id } });
    expect(bad.headers["x-request-id"]).toBe(id);
    expect(bad.json().requestId).toBe(id);
  });

  it("accepts a 128-character x-request-id", async () => {
    const id = "a".repeat(128);
    const res = await t.inject({ method: "GET", url: "/healthz", headers: { "x-request-id": id } });
    expect(res.headers["x-request-id"]).toBe(id);
  });

  it.each([
    ["too long", "a".repeat(129)],
    ["a space", "has space"],
    ["a newline", "line\nbreak"],
    ["a carriage return", "line\rbreak"],
    ["angle brackets", "<script>"],
    ["non-ASCII", "réquest"],
  ])("replaces an x-request-id with %s", async (_label, value) => {
    const res = await t.inject({ method: "GET", url: "/v1/nope", headers: { "x-request-id": value } });
    const replaced = res.headers["x-request-id"];
    expect(replaced).not.toBe(value);
    expect(isId("request", replaced)).toBe(true);
    expect(res.json().requestId).toBe(replaced);
  });

  it.each([
    ["a success", { method: "GET", url: "/healthz" }],
    ["a problem", { method: "GET", url: "/v1/nope" }],
    ["an authenticated list", { method: "GET", url: "/v1/probe/items", auth: true }],
  ])("%s carries nosniff and cache-control: no-store", async (_label, req) => {
    const { auth, ...rest } = req as { method: "GET"; url: string; auth?: boolean };
    const res = await t.inject({ ...rest, ...(auth ? { headers: { authorization: `Bearer ${t.token()}` } } : {}) });
    expect(res.statusCode).toBeLessThan(500);
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.headers["cache-control"]).toBe("no-store");
  });

  it("CORS: a preflight from an allowed origin is allowed, with the API's headers", async () => {
    const res = await t.inject({
      method: "OPTIONS",
      url: "/v1/probe/items",
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, idempotency-key",
      },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers["access-control-allow-origin"]).toBe("https://app.example.com");
    expect(String(res.headers["access-control-allow-methods"])).toContain("POST");
    expect(String(res.headers["access-control-allow-headers"])).toContain("idempotency-key");
    expect(res.headers["access-control-allow-credentials"]).toBeUndefined();
  });

  it.each(["https://evil.example.com", "https://app.example.com.evil.com", "http://app.example.com", "null"])(
    "CORS: origin %s gets no access-control-allow-origin",
    async (origin) => {
      const preflight = await t.inject({
        method: "OPTIONS",
        url: "/v1/probe/items",
        headers: { origin, "access-control-request-method": "POST" },
      });
      expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
      const simple = await t.inject({ method: "GET", url: "/healthz", headers: { origin } });
      expect(simple.headers["access-control-allow-origin"]).toBeUndefined();
    },
  );

  it("CORS: an actual request from the allowed origin gets the header and exposes x-request-id", async () => {
    const res = await t.inject({ method: "GET", url: "/healthz", headers: { origin: "https://app.example.com" } });
    expect(res.headers["access-control-allow-origin"]).toBe("https://app.example.com");
    expect(String(res.headers["access-control-expose-headers"])).toContain("x-request-id");
  });
});

describeEachEngine("HTTP: CORS off by default", (engine) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(engine);
  });
  afterEach(async () => t.close());

  it("no origin is allowed when BASEPLATE_CORS_ORIGINS is empty", async () => {
    const res = await t.inject({
      method: "OPTIONS",
      url: "/v1/probe/items",
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST" },
    });
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
    const get = await t.inject({ method: "GET", url: "/healthz", headers: { origin: "https://app.example.com" } });
    expect(get.headers["access-control-allow-origin"]).toBeUndefined();
  });
});

describeEachEngine("HTTP: operational endpoints", (engine) => {
  let t: TestApp;
  afterEach(async () => t.close());

  it("/healthz → 200 ok", async () => {
    t = await createTestApp(engine);
    const res = await t.inject({ method: "GET", url: "/healthz" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: "ok" });
  });

  it("/readyz → 200 when the database answers and every migration is applied", async () => {
    t = await createTestApp(engine);
    const res = await t.inject({ method: "GET", url: "/readyz" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: "ready", checks: { database: "ok", migrations: "ok" } });
  });

  it("/readyz → 503 naming the pending migrations check before `migrate up`", async () => {
    t = await createTestApp(engine, { migrate: false });
    const res = await t.inject({ method: "GET", url: "/readyz" });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: "unavailable", checks: { database: "ok", migrations: "pending" } });
    await t.app.migrate();
    expect((await t.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);
  });

  it("/readyz → 503 with database unreachable once the database is gone", async () => {
    t = await createTestApp(engine);
    await t.app.db.close();
    const res = await t.inject({ method: "GET", url: "/readyz" });
    expect(res.statusCode).toBe(503);
    expect(res.json().checks.database).toBe("unreachable");
  });

  it("/metrics exposes request latency by route template, queue depth and (PostgreSQL) pool usage", async () => {
    t = await createTestApp(engine);
    const token = t.token();
    const item = await t.inject({
      method: "POST",
      url: "/v1/probe/items",
      headers: { authorization: `Bearer ${token}` },
      payload: { name: "a" },
    });
    await t.inject({
      method: "GET",
      url: `/v1/probe/items/${item.json().id}`,
      headers: { authorization: `Bearer ${token}` },
    });
    await t.inject({ method: "GET", url: "/no/such/path-123" });
    const res = await t.inject({ method: "GET", url: "/metrics" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("text/plain");
    const text = res.body;
    expect(text).toMatch(
      /^baseplate_http_request_duration_seconds_count\{method="POST",route="\/v1\/probe\/items",status_code="201"\} 1$/m,
    );
    // The route label is the template, never the concrete URL, so IDs cannot explode cardinality.
    expect(text).toMatch(/route="\/v1\/probe\/items\/:itemId"/);
    expect(text).not.toContain(item.json().id);
    expect(text).toMatch(/route="unmatched",status_code="404"/);
    expect(text).not.toContain("path-123");
    expect(text).toMatch(/^baseplate_job_queue_depth\{state="queued"\} 1$/m);
    expect(text).toMatch(/^baseplate_job_queue_oldest_due_age_seconds /m);
    if (engine === "postgres") {
      expect(text).toMatch(/^baseplate_db_pool_connections\{pool="requests",state="total"\} \d+$/m);
      expect(text).toMatch(/^baseplate_db_pool_connections\{pool="jobs",state="total"\} \d+$/m);
    } else {
      expect(text).not.toMatch(/^baseplate_db_pool_connections\{/m);
    }
  });

  it("/openapi.json is the app's OpenAPI 3.1 document", async () => {
    t = await createTestApp(engine);
    const res = await t.inject({ method: "GET", url: "/openapi.json" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    const doc = JSON.parse(res.body);
    expect(doc.openapi).toBe("3.1.0");
    expect(doc).toEqual(t.app.openapi());
    expect(Object.keys(doc.paths)).toContain("/v1/probe/items/{itemId}");
  });

  it("/docs serves HTML under a strict Content-Security-Policy, and its allow-listed assets", async () => {
    t = await createTestApp(engine);
    const page = await t.inject({ method: "GET", url: "/docs" });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.body).toContain("<!doctype html>");
    const csp = String(page.headers["content-security-policy"]);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    const bundle = await t.inject({ method: "GET", url: "/docs/swagger-ui-bundle.js" });
    expect(bundle.statusCode).toBe(200);
    expect(bundle.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(bundle.body.length).toBeGreaterThan(10_000);
    const init = await t.inject({ method: "GET", url: "/docs/init.js" });
    expect(init.statusCode).toBe(200);
    expect(init.body).toContain("/openapi.json");
  });

  it("/docs serves nothing outside its allow-list (no path traversal)", async () => {
    t = await createTestApp(engine);
    for (const url of [
      "/docs/../package.json",
      "/docs/%2e%2e%2fpackage.json",
      "/docs/..%2f..%2fpackage.json",
      "/docs/index.html",
      "/docs/swagger-ui-bundle.js.map",
      "/docs/package.json",
    ]) {
      const res = await t.inject({ method: "GET", url });
      expectProblem(res, 404, "route_not_found");
      expect(res.body, url).not.toContain('"name"');
    }
  });
});

describeEachEngine("HTTP: lists and scoping", (engine) => {
  let t: TestApp;
  let token: string;
  beforeEach(async () => {
    t = await createTestApp(engine);
    token = t.token();
  });
  afterEach(async () => t.close());

  const create = async (name: string, credential = token) => {
    const res = await t.inject({
      method: "POST",
      url: "/v1/probe/items",
      headers: { authorization: `Bearer ${credential}` },
      payload: { name },
    });
    expect(res.statusCode).toBe(201);
    return res.json() as { id: string; name: string };
  };
  const get = (url: string, credential = token) =>
    t.inject({ method: "GET", url, headers: { authorization: `Bearer ${credential}` } });

  it("pages through 5 items with limit=2: every item exactly once, in creation order", async () => {
    const created = [];
    for (const name of ["a", "b", "c", "d", "e"]) created.push(await create(name));
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const res = await get(`/v1/probe/items?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(res.statusCode).toBe(200);
      const body = res.json() as { data: Array<{ id: string }>; nextCursor: string | null };
      sizes.push(body.data.length);
      seen.push(...body.data.map((d) => d.id));
      cursor = body.nextCursor;
      if (cursor === null) break;
    }
    expect(sizes).toEqual([2, 2, 1]);
    expect(seen).toEqual(created.map((c) => c.id));
  });

  it("a full last page ends with nextCursor null (no empty extra page)", async () => {
    for (const name of ["a", "b"]) await create(name);
    const res = await get("/v1/probe/items?limit=2");
    expect(res.json().data).toHaveLength(2);
    expect(res.json().nextCursor).toBeNull();
  });

  it("the default page size is 20", async () => {
    for (let i = 0; i < 21; i++) await create(`i${i}`);
    const res = await get("/v1/probe/items");
    expect(res.json().data).toHaveLength(20);
    expect(res.json().nextCursor).not.toBeNull();
  });

  it("another environment's item answers 404 (not 403) and never appears in its lists", async () => {
    const item = await create("mine");
    const other = t.token({ environmentId: "env_other" });
    const res = await get(`/v1/probe/items/${item.id}`, other);
    expectProblem(res, 404, "probe_item_not_found");
    expect((await get("/v1/probe/items", other)).json()).toEqual({ data: [], hasMore: false, nextCursor: null });
    // A cursor taken from one environment does not reveal the other's items.
    await create("mine-too");
    const page = (await get("/v1/probe/items?limit=1")).json();
    expect((await get(`/v1/probe/items?cursor=${page.nextCursor}`, other)).json().data).toEqual([]);
    // The owner still reads it.
    expect((await get(`/v1/probe/items/${item.id}`)).json()).toMatchObject({ id: item.id, name: "mine" });
  });

  it("an unknown item id answers the same 404 as another environment's", async () => {
    const res = await get("/v1/probe/items/tst_01J00000000000000000000000");
    expectProblem(res, 404, "probe_item_not_found");
  });
});

describeEachEngine("HTTP: logs", (engine) => {
  it("never contain the bearer token, and carry the request id", async () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        chunks.push(String(chunk));
        done();
      },
    });
    const database = await createTestDatabase(engine);
    const config = loadConfig({ ...database.env, BASEPLATE_LOG_LEVEL: "info", BASEPLATE_WORKERS: "false" });
    const app = await createApp({ config, modules: [probeModule], logger: createLogger("info", stream) });
    try {
      await app.start({ listen: false, workers: false });
      const probe = app.service(probeModule);
      const token = probe.issueToken({
        actorType: "service",
        actorId: "svc_logs",
        credentialId: "cred_logs",
        environmentId: "env_test",
        permissions: ["*"],
      });
      const corrupted = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
      const inject = app.http.fastify.inject.bind(app.http.fastify);
      const auth = { authorization: `Bearer ${token}` };
      const created = await inject({
        method: "POST",
        url: "/v1/probe/items",
        headers: { ...auth, "x-request-id": "log-trace-1" },
        payload: { name: "a" },
      });
      expect(created.statusCode).toBe(201);
      await inject({ method: "GET", url: "/v1/probe/items", headers: { ...auth, "x-request-id": "log-trace-2" } });
      await inject({ method: "POST", url: "/v1/probe/items", headers: auth, payload: { name: "a", extra: 1 } });
      const boom = await inject({
        method: "POST",
        url: "/v1/probe/items",
        headers: { ...auth, "x-request-id": "log-trace-3" },
        payload: { name: "explode-after-write" },
      });
      expect(boom.statusCode).toBe(500);
      const refused = await inject({
        method: "GET",
        url: "/v1/probe/items",
        headers: { authorization: `Bearer ${corrupted}`, "x-request-id": "log-trace-4" },
      });
      expect(refused.statusCode).toBe(401);

      const text = chunks.join("");
      expect(text.length).toBeGreaterThan(0);
      expect(text).not.toContain(token);
      expect(text).not.toContain(corrupted);
      expect(text).not.toContain(token.slice(9, 30));
      const lines = text
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const completed = lines.filter((l) => l.msg === "request completed");
      expect(completed.map((l) => l.requestId)).toEqual(
        expect.arrayContaining(["log-trace-1", "log-trace-2", "log-trace-3", "log-trace-4"]),
      );
      for (const line of completed) expect(typeof line.requestId).toBe("string");
      expect(completed.find((l) => l.requestId === "log-trace-1")).toMatchObject({
        statusCode: 201,
        route: "/v1/probe/items",
        actor: "service:svc_logs",
        environmentId: "env_test",
      });
      // A refused request's line names the problem code it was answered with; a success names none.
      expect(completed.find((l) => l.requestId === "log-trace-4")).toMatchObject({
        statusCode: 401,
        problemCode: expect.stringMatching(/^[a-z_]+$/),
      });
      expect(completed.find((l) => l.requestId === "log-trace-1")).not.toHaveProperty("problemCode");
      // The unexpected error's cause is in the log (and only there), tied to its request.
      const error = lines.find((l) => l.msg === "unexpected error");
      expect(error).toMatchObject({ requestId: "log-trace-3", level: "error", actor: "service:svc_logs" });
      expect(JSON.stringify(error)).toContain("probe exploded after writing");
    } finally {
      await app.stop();
      await database.drop();
    }
  });
});

describe("HTTP: problem rendering", () => {
  it("every kernel route documents problem+json for its error statuses", async () => {
    // Static check on the document the routes above are served from; the database is not involved.
    const database = await createTestDatabase("sqlite");
    const app = await createApp({
      config: loadConfig({ ...database.env, BASEPLATE_LOG_LEVEL: "silent" }),
      modules: [probeModule],
    });
    try {
      const paths = app.openapi().paths as Record<string, Record<string, { responses: Record<string, unknown> }>>;
      const create = paths["/v1/probe/items"]?.post?.responses ?? {};
      expect(Object.keys(create)).toEqual(expect.arrayContaining(["201", "400", "401", "409", "422"]));
      expect(JSON.stringify(create["400"])).toContain("application/problem+json");
    } finally {
      await app.db.close();
      await database.drop();
    }
  });
});
