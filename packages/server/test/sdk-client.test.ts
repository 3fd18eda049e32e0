import { BaseplateProblem, createBaseplate, unwrap } from "@baseplate/sdk";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeEachEngine } from "../src/testing/harness.js";
import { type FaultyProxy, type ListeningPlane, listenPlane, startFaultyProxy } from "../src/testing/sdk-plane.js";

describeEachEngine("@baseplate/sdk client against a running plane", (engine) => {
  let plane: ListeningPlane;
  let proxy: FaultyProxy;

  beforeAll(async () => {
    plane = await listenPlane(engine);
    proxy = await startFaultyProxy(plane.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await plane?.close();
  });

  it("a POST whose answer is lost is retried with the same Idempotency-Key: exactly one object is created", async () => {
    const bp = createBaseplate({ baseUrl: proxy.url, token: plane.p.a.secretKey, baseDelayMs: 20 });
    proxy.dropNext((method, path) => method === "POST" && path === "/v1/tenants");
    const before = proxy.seen.length;
    const tenant = await unwrap(bp.POST("/v1/tenants", { body: { name: "Lost answer", externalId: "lost-1" } }));
    expect(tenant.name).toBe("Lost answer");
    const attempts = proxy.seen.slice(before);
    expect(attempts).toHaveLength(2);
    expect(attempts[0]?.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(attempts[1]?.idempotencyKey).toBe(attempts[0]?.idempotencyKey);
    const found = await unwrap(bp.GET("/v1/tenants", { params: { query: { externalId: "lost-1" } } }));
    expect(found.data.map((t) => t.id)).toEqual([tenant.id]);
  });

  it("without retries the lost answer is a network error, and no key is reused by the next call", async () => {
    const bp = createBaseplate({ baseUrl: proxy.url, token: plane.p.a.secretKey, retries: 0 });
    proxy.dropNext((method, path) => method === "POST" && path === "/v1/tenants");
    await expect(bp.POST("/v1/tenants", { body: { name: "Once" } })).rejects.toThrow();
    const before = proxy.seen.length;
    await unwrap(bp.POST("/v1/tenants", { body: { name: "Twice" } }));
    await unwrap(bp.POST("/v1/tenants", { body: { name: "Thrice" } }));
    const [a, b] = proxy.seen.slice(before);
    expect(a?.idempotencyKey).not.toBe(b?.idempotencyKey);
  });

  it("failures are typed problems: code, status, detail, requestId, field errors", async () => {
    const bp = createBaseplate({ baseUrl: plane.url, token: plane.p.a.secretKey });
    await unwrap(bp.POST("/v1/tenants", { body: { name: "Slugged", slug: "slugged" } }));
    const taken = await unwrap(bp.POST("/v1/tenants", { body: { name: "Again", slug: "slugged" } })).catch(
      (err: unknown) => err,
    );
    expect(BaseplateProblem.is(taken, "tenant_slug_taken")).toBe(true);
    const problem = taken as BaseplateProblem;
    expect(problem.status).toBe(409);
    expect(problem.requestId).toMatch(/^req_/);
    expect(problem.detail).toBeTruthy();

    const invalid = await unwrap(bp.POST("/v1/tenants", { body: { name: "" } })).catch((err: unknown) => err);
    expect(BaseplateProblem.is(invalid, "validation_failed")).toBe(true);
    expect((invalid as BaseplateProblem).errors?.[0]?.path).toContain("name");

    const anonymous = createBaseplate({ baseUrl: plane.url });
    const refused = await unwrap(anonymous.GET("/v1/tenants")).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(BaseplateProblem);
    expect((refused as BaseplateProblem).status).toBe(401);
  });

  it("paginate walks every page in order and stops at the last", async () => {
    const bp = createBaseplate({ baseUrl: plane.url, token: plane.p.b.secretKey });
    const created: string[] = [];
    for (let i = 0; i < 7; i++) {
      created.push((await unwrap(bp.POST("/v1/tenants", { body: { name: `Paged ${i}` } }))).id);
    }
    const seen: string[] = [];
    for await (const tenant of bp.paginate("/v1/tenants", { query: { limit: 3 } })) seen.push(tenant.id);
    expect(seen).toHaveLength(7);
    expect(new Set(seen)).toEqual(new Set(created));
    const first = await unwrap(bp.GET("/v1/tenants", { params: { query: { limit: 3 } } }));
    expect(first.data).toHaveLength(3);
    expect(first.nextCursor).toBeTruthy();
    expect(seen.slice(0, 3)).toEqual(first.data.map((t) => t.id));
  });
});
