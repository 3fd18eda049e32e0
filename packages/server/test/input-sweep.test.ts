import { afterAll, beforeAll, expect, it } from "vitest";
import type { RouteDefinition } from "../src/platform/http/route.js";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";
import { sampleBody } from "../src/testing/isolation.js";

// Every route inherits the input bounds (security issue class 3): the sweep walks the route table
// and sends each route the hostile inputs a fuzzer would find (JSON nested thousands of levels
// deep, lone UTF-16 surrogates in every string of an otherwise valid body, surrogates and NULs in
// path and query) with a credential the route accepts. No answer may be a 5xx or a non-problem
// error. A route added later is swept without anyone listing it here.

const LONE = "\ud800";

const DEEP = `${'{"a":'.repeat(5_000)}1${"}".repeat(5_000)}`;

/** deepBodies puts a value nested 5,000 levels deep in each field of a valid sample body in turn. */
function deepBodies(sample: unknown): string[] {
  const fields = sample !== null && typeof sample === "object" ? Object.keys(sample) : [];
  if (fields.length === 0) return [`{"x":${DEEP}}`];
  return fields.map((field) => JSON.stringify({ ...(sample as object), [field]: "@deep@" }).replace('"@deep@"', DEEP));
}

/** withSurrogates puts a lone surrogate into every string (and key) of a sample body. */
function withSurrogates(value: unknown): unknown {
  if (typeof value === "string") return `${value}${LONE}`;
  if (Array.isArray(value)) return value.map(withSurrogates);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withSurrogates(v)]));
  }
  return value;
}

function safeSample(route: RouteDefinition): unknown {
  try {
    return sampleBody(route);
  } catch {
    return { name: "x" };
  }
}

describeEachEngine("input sweep: every route", (engine) => {
  let t: TestApp;
  let p: SeededPlane;

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
  });
  afterAll(async () => t?.close());

  function tokenFor(route: RouteDefinition): string | null {
    if (route.auth === "none") return null;
    if (typeof route.auth === "object" && route.auth.actorTypes !== "any") {
      if (route.auth.actorTypes.includes("service")) return p.a.secretKey;
      if (route.auth.actorTypes.includes("operator")) return p.operatorToken;
    }
    return p.a.secretKey;
  }

  it("answers hostile bodies, paths and queries with a problem, never a 5xx", async () => {
    const failures: string[] = [];
    const routes = t.app.http.routes.filter((r) => r.method !== "GET" || !r.url.includes("stream"));
    expect(routes.length).toBeGreaterThan(50);
    for (const route of routes) {
      const token = tokenFor(route);
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (token) headers.authorization = `Bearer ${token}`;
      const url = route.url.replace(/:[A-Za-z0-9_]+/g, "x%ED%A0%80");
      const attempts: Array<{ what: string; url: string; payload?: string }> = [
        { what: "surrogate path and query", url: `${url}?limit=1&cursor=%ED%A0%80%00` },
      ];
      if (route.method !== "GET") {
        const plain = route.url.replace(/:[A-Za-z0-9_]+/g, "x");
        for (const payload of deepBodies(safeSample(route))) attempts.push({ what: "deep body", url: plain, payload });
        attempts.push({
          what: "surrogate body",
          url: plain,
          payload: JSON.stringify(withSurrogates(safeSample(route)) ?? {}),
        });
      }
      for (const attempt of attempts) {
        const res = await t.inject({
          method: route.method,
          url: attempt.url,
          headers: attempt.payload === undefined ? { ...headers, "content-type": "" } : headers,
          ...(attempt.payload !== undefined ? { payload: attempt.payload } : {}),
        });
        const problem = res.statusCode >= 400 && String(res.headers["content-type"]).includes("problem+json");
        if (res.statusCode >= 500 || (res.statusCode >= 400 && !problem)) {
          failures.push(`${route.method} ${route.url} (${attempt.what}) → ${res.statusCode} ${res.body.slice(0, 200)}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });
});
