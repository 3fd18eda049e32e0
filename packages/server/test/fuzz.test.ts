import fc from "fast-check";
import type { InjectOptions } from "fastify";
import { afterAll, beforeAll, expect, it } from "vitest";
import { errorCodes } from "../src/platform/errors.js";
import type { RouteDefinition } from "../src/platform/http/route.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";
import {
  BAD_TEXT,
  BAD_TEXT_IN_URL,
  countRows,
  fixturesOfApp,
  HUGE,
  queryFields,
  REFUSED_BODY,
  routeKey,
  SSRF_URLS,
  sampleBody,
  stateTables,
  stringLeaves,
} from "../src/testing/isolation.js";

// DESIGN.md §7: "Bad input gets a clear problem+json error and changes nothing. No route answers
// 5xx to any input a client can send." Property-based, on every engine, bounded to run in seconds.

// BASEPLATE_FUZZ_RUNS raises the bound for a deeper local run.
const RUNS = Number(process.env.BASEPLATE_FUZZ_RUNS) || 200;
/** The probe module's deliberate failure triggers (500 and 409 by design); the fuzzer avoids them. */
const PROBE_TRIGGERS = new Set(["explode-after-write", "refuse"]);
const TABLES = ["probe_item", "probe_fact", "job", "idempotency_record"];

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS";

/** A header value a real HTTP client can send: tab, visible ASCII, space and obs-text. */
const headerValue = fc.string({
  unit: fc
    .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constant(0x09))
    .map((c) => String.fromCharCode(c)),
  maxLength: 300,
});
/**
 * A raw URL character a client can put in a request target (no space, `#` or `?`). No backslash
 * either: inject's WHATWG URL parsing reads `/\` as a host, which a real server never sees.
 */
const urlChars = fc.string({
  unit: fc
    .integer({ min: 0x21, max: 0x7e })
    .filter((c) => c !== 0x23 && c !== 0x3f && c !== 0x5c)
    .map((c) => String.fromCharCode(c)),
  maxLength: 80,
});
const anyString = fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" }));
const safeName = fc
  .oneof(fc.string({ maxLength: 250 }), fc.string({ unit: "binary", maxLength: 250 }))
  .filter((s) => !PROBE_TRIGGERS.has(s));

describeEachEngine("Fuzz: kernel routes", (engine) => {
  let t: TestApp;
  let token: string;
  let itemId: string;
  let codes: Set<string>;

  beforeAll(async () => {
    t = await createTestApp(engine);
    token = t.token();
    const res = await t.inject({
      method: "POST",
      url: "/v1/probe/items",
      headers: { authorization: `Bearer ${token}` },
      payload: { name: "seed" },
    });
    itemId = res.json().id;
    codes = new Set(errorCodes().map((c) => c.code));
  });
  afterAll(async () => t?.close());

  async function rowCounts(): Promise<number[]> {
    return Promise.all(
      TABLES.map(async (table) => {
        const row = (await t.app.db.kysely
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as("n"))
          .executeTakeFirstOrThrow()) as { n: number | string };
        return Number(row.n);
      }),
    );
  }

  /** send injects one request and checks the invariants that hold for every input. */
  async function send(request: InjectOptions): Promise<void> {
    const before = await rowCounts();
    const res = await t.inject(request);
    const after = await rowCounts();
    const where = `${request.method} ${String(request.url)} → ${res.statusCode} ${res.body.slice(0, 300)}`;

    expect(res.statusCode, where).toBeLessThan(500);
    expect(res.headers["x-request-id"], where).toBeTruthy();
    if (res.statusCode >= 400) {
      expect(res.headers["content-type"], where).toBe("application/problem+json; charset=utf-8");
      if (request.method !== "HEAD") {
        const problem = JSON.parse(res.body) as Record<string, unknown>;
        expect(codes.has(problem.code as string), `unknown code in ${where}`).toBe(true);
        expect(problem.status, where).toBe(res.statusCode);
        expect(problem.requestId, where).toBe(res.headers["x-request-id"]);
        expect(problem.type, where).toBe(`urn:baseplate:problem:${problem.code}`);
      }
    }

    const changed = after.some((n, i) => n !== before[i]);
    if (res.statusCode !== 201) expect(changed, `database changed: ${where}`).toBe(false);
    if (res.statusCode === 201) {
      const replayed = res.headers["idempotent-replayed"] === "true";
      expect((after[0] ?? 0) - (before[0] ?? 0), where).toBe(replayed ? 0 : 1);
    }
  }

  const post = (payload: string, headers: Record<string, string> = {}): InjectOptions => ({
    method: "POST",
    url: "/v1/probe/items",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    payload,
  });

  it("arbitrary JSON bodies on POST /v1/probe/items", async () => {
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          name: fc.oneof(safeName, fc.jsonValue()),
          tags: fc.oneof(fc.array(fc.string({ maxLength: 60 }), { maxLength: 12 }), fc.jsonValue()),
          extra: fc.jsonValue(),
        },
        { requiredKeys: [] },
      ),
      fc.record({ name: safeName }),
    );
    const key = fc.option(fc.constantFrom("k-1", "k-2", "k-3"), { nil: undefined });
    await fc.assert(
      fc.asyncProperty(body, key, async (value, idempotencyKey) => {
        if (PROBE_TRIGGERS.has((value as { name?: unknown } | null)?.name as string)) return;
        await send(post(JSON.stringify(value), idempotencyKey ? { "idempotency-key": idempotencyKey } : {}));
      }),
      { numRuns: RUNS },
    );
  });

  it("arbitrary strings as raw bodies, with JSON or random content types", async () => {
    const contentType = fc.oneof(
      fc.constant("application/json"),
      fc.constantFrom(
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/octet-stream",
        "application/problem+json",
      ),
      headerValue,
    );
    await fc.assert(
      fc.asyncProperty(anyString, contentType, async (raw, type) => {
        await send(post(raw, { "content-type": type }));
      }),
      { numRuns: RUNS },
    );
  });

  it("random Idempotency-Key, Content-Type, Authorization and x-request-id headers", async () => {
    const tokenLike = fc.oneof(
      fc.constant("valid"),
      headerValue.map((v) => `Bearer ${v}`),
      headerValue,
      fc.nat({ max: 60 }).map((i) => `Bearer ${token.slice(0, i)}`),
      fc.tuple(fc.nat({ max: 58 }), fc.constantFrom("a", "Z", "0", "_")).map(([i, c]) => {
        const at = i % token.length;
        return `Bearer ${token.slice(0, at)}${c}${token.slice(at + 1)}`;
      }),
    );
    const headers = fc.record(
      {
        "idempotency-key": fc.oneof(headerValue, fc.constantFrom("k-a", "k-b")),
        "content-type": fc.oneof(fc.constant("application/json"), headerValue),
        authorization: tokenLike,
        "x-request-id": headerValue,
      },
      { requiredKeys: [] },
    );
    const method = fc.constantFrom<Method>("POST", "GET");
    await fc.assert(
      fc.asyncProperty(headers, method, async (h, m) => {
        const sent: Record<string, string> = { ...h };
        if (h.authorization === "valid") sent.authorization = `Bearer ${token}`;
        await send({
          method: m,
          url: "/v1/probe/items",
          headers: sent,
          ...(m === "POST" ? { payload: '{"name":"fuzz"}' } : {}),
        });
      }),
      { numRuns: RUNS },
    );
  });

  it("random methods, paths and query strings on the kernel routes", async () => {
    const base = fc.constantFrom(
      "/healthz",
      "/readyz",
      "/v1/probe/items",
      "/v1/probe/items/",
      "/v1/probe/items/ITEM",
      "/v1/probe",
      "/v1",
      "/",
    );
    const path = fc.oneof(
      base,
      fc.webPath(),
      urlChars.map((s) => `/v1/probe/items/${s}`),
      anyString.map((s) => `/v1/probe/items/${encodeURIComponent(s)}`),
      fc.tuple(base, urlChars).map(([b, s]) => `${b}${s}`),
    );
    const query = fc.option(
      fc.oneof(
        fc.webQueryParameters(),
        urlChars,
        fc
          .tuple(anyString, anyString)
          .map(([limit, cursor]) => `limit=${encodeURIComponent(limit)}&cursor=${encodeURIComponent(cursor)}`),
        fc.integer({ min: -5, max: 200 }).map((limit) => `limit=${limit}`),
      ),
      { nil: undefined },
    );
    const method = fc.constantFrom<Method>("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS");
    await fc.assert(
      fc.asyncProperty(method, path, query, fc.boolean(), async (m, p, q, authenticated) => {
        // A request target always starts with "/" (fc.webPath() may be empty).
        const target = p.startsWith("/") ? p : `/${p}`;
        const url = `${target.replace("ITEM", itemId)}${q === undefined ? "" : `?${q}`}`;
        await send({
          method: m,
          url,
          headers: authenticated ? { authorization: `Bearer ${token}` } : {},
          ...(m === "POST" || m === "PUT" || m === "PATCH" ? { payload: { name: "fuzz" } } : {}),
        });
      }),
      { numRuns: RUNS },
    );
  });

  it("random item ids on GET /v1/probe/items/:itemId", async () => {
    const id = fc.oneof(
      fc.string({ maxLength: 100 }),
      fc.string({ unit: "binary", maxLength: 100 }),
      fc.constant(itemId),
    );
    await fc.assert(
      fc.asyncProperty(id, async (value) => {
        await send({
          method: "GET",
          url: `/v1/probe/items/${encodeURIComponent(value)}`,
          headers: { authorization: `Bearer ${token}` },
        });
      }),
      { numRuns: RUNS },
    );
  });
});

// The input sweep's generators (src/testing/isolation/hostile.ts), fuzzed: a random route of the
// table, a random field of its body, query or path, and a random hostile value built from the same
// pieces (lone surrogates and NUL inside random text, JSON nested 33 to 6,000 deep, strings up to
// 30 KB, SSRF spellings, arbitrary JSON). Routes are enumerated from the table: new ones join in.
describeEachEngine("Fuzz: hostile values in any field of any route", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let session: string;
  let routes: RouteDefinition[];
  let tables: string[];

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    await t.inject({
      method: "POST",
      url: "/v1/users",
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      payload: { email: "fuzz@example.com", password: TEST_PASSWORD },
    });
    const login = await t.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { surfaceId: p.a.surfaceId, email: "fuzz@example.com", password: TEST_PASSWORD },
    });
    session = login.json().token;
    // Streams never end once accepted (their modules declare them); the input sweep covers them.
    const { isolation } = await fixturesOfApp(t.app);
    routes = t.app.http.routes.filter((r) => isolation.streams?.[routeKey(r)] === undefined);
    tables = await stateTables(t);
  });
  afterAll(async () => t?.close());

  function tokenFor(route: RouteDefinition): string | null {
    if (route.auth === "none") return null;
    if (typeof route.auth === "object" && route.auth.actorTypes !== "any") {
      if (route.auth.actorTypes.includes("service")) return p.a.secretKey;
      if (route.auth.actorTypes.includes("operator")) return p.operatorToken;
      if (route.auth.actorTypes.includes("user")) return session;
    }
    return p.a.secretKey;
  }

  function bodyOf(route: RouteDefinition): Record<string, unknown> {
    try {
      const body = sampleBody(route);
      return body !== null && typeof body === "object" ? (body as Record<string, unknown>) : {};
    } catch {
      return { name: "x" };
    }
  }

  const MARK = "\u0001fuzz\u0001";
  /** A hostile value: JSON text to put in a body, and its URL form for a query or path. */
  const hostile: fc.Arbitrary<{ json: string; url: string }> = fc.oneof(
    fc
      .tuple(
        fc.string({ maxLength: 20 }),
        fc.integer({ min: 0, max: BAD_TEXT.length - 1 }),
        fc.string({ maxLength: 20 }),
      )
      .map(([a, i, b]) => ({
        json: JSON.stringify(`${a}${BAD_TEXT[i]}${b}`),
        url: `${encodeURIComponent(a)}${BAD_TEXT_IN_URL[i]}${encodeURIComponent(b)}`,
      })),
    fc.integer({ min: 33, max: 6_000 }).map((n) => ({
      json: `${"[".repeat(n)}${"]".repeat(n)}`,
      url: `${"%5B".repeat(Math.min(n, 200))}`,
    })),
    fc
      .integer({ min: 1_000, max: HUGE + 10_000 })
      .map((n) => ({ json: JSON.stringify("x".repeat(n)), url: "y".repeat(n) })),
    fc.constantFrom(...SSRF_URLS).map((u) => ({ json: JSON.stringify(u), url: encodeURIComponent(u) })),
    fc.jsonValue({ maxDepth: 3 }).map((v) => ({ json: JSON.stringify(v) ?? "null", url: "%ZZ" })),
  );

  async function expectSafe(route: RouteDefinition, url: string, payload: string | undefined): Promise<void> {
    const before = await countRows(t, tables);
    const token = tokenFor(route);
    const res = await t.inject({
      method: route.method,
      url,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(payload !== undefined ? { "content-type": "application/json" } : {}),
      },
      ...(payload !== undefined ? { payload } : {}),
    });
    const where = `${route.method} ${url.slice(0, 200)} ${payload?.slice(0, 200) ?? ""} → ${res.statusCode} ${res.body.slice(0, 300)}`;
    expect(res.statusCode, where).toBeLessThan(500);
    if (res.statusCode >= 400) {
      expect(res.headers["content-type"], where).toBe("application/problem+json; charset=utf-8");
      expect(await countRows(t, tables), `a refusal changed the database: ${where}`).toBe(before);
    }
  }

  const fill = (route: RouteDefinition, raw: Record<string, string> = {}) =>
    route.url.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => raw[name] ?? `fuzz_${name}`);

  it("a hostile value in any body field, top-level or nested", async () => {
    const bodyRoutes = () => routes.filter((r) => r.method !== "GET");
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), hostile, async (r, f, value) => {
        const list = bodyRoutes();
        const route = list[r % list.length] as RouteDefinition;
        const body = bodyOf(route);
        const positions = [...new Set([...Object.keys(body), ...stringLeaves(body), "fuzz"])];
        const path = (positions[f % positions.length] as string).split(".");
        let node: Record<string, unknown> = structuredClone(body);
        const root = node;
        for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
        node[path[path.length - 1] as string] = MARK;
        await expectSafe(route, fill(route), JSON.stringify(root).replace(JSON.stringify(MARK), value.json));
      }),
      { numRuns: RUNS },
    );
  });

  it("a hostile value in any query field or path parameter", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), fc.boolean(), hostile, async (r, f, inPath, value) => {
        const route = routes[r % routes.length] as RouteDefinition;
        const params = [...route.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1] as string);
        const payload = route.method === "GET" ? undefined : REFUSED_BODY;
        if (inPath && params.length > 0) {
          const name = params[f % params.length] as string;
          await expectSafe(route, fill(route, { [name]: value.url.slice(0, 300) || "x" }), payload);
          return;
        }
        const fields = [...queryFields(route), "fuzz"];
        await expectSafe(route, `${fill(route)}?${fields[f % fields.length]}=${value.url}`, payload);
      }),
      { numRuns: RUNS },
    );
  });
});
