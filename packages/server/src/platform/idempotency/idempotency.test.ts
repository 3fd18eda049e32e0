import { afterEach, beforeEach, expect, it } from "vitest";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { TestClock } from "../clock.js";
import { IdempotencyLedger, IdempotentReplay } from "./ledger.js";

// Checklist A1 (IDEM-01 … IDEM-09), on every engine.
describeEachEngine("Idempotency-Key", (engine) => {
  let t: TestApp;
  let clock: TestClock;
  let token: string;

  beforeEach(async () => {
    clock = new TestClock(Date.UTC(2026, 10, 26, 12));
    t = await createTestApp(engine, { clock });
    token = t.token();
  });
  afterEach(async () => t.close());

  const post = (body: unknown, key?: string, credential = token, url = "/v1/probe/items") =>
    t.inject({
      method: "POST",
      url,
      headers: { authorization: `Bearer ${credential}`, ...(key === undefined ? {} : { "idempotency-key": key }) },
      payload: body as object,
    });
  const count = async (table: string) =>
    Number(
      (
        (await t.app.db.kysely
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as("n"))
          .executeTakeFirstOrThrow()) as {
          n: number;
        }
      ).n,
    );

  it("IDEM-01: same key and body → one side effect, byte-identical replay", async () => {
    const first = await post({ name: "a" }, "key-1");
    const second = await post({ name: "a" }, "key-1");
    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(201);
    expect(second.body).toBe(first.body);
    expect(second.headers["idempotent-replayed"]).toBe("true");
    expect(first.headers["idempotent-replayed"]).toBeUndefined();
    expect(await count("probe_item")).toBe(1);
    expect(await count("probe_fact")).toBe(1);
    expect(await count("job")).toBe(1);
  });

  it("without a key every POST acts", async () => {
    await post({ name: "a" });
    await post({ name: "a" });
    expect(await count("probe_item")).toBe(2);
  });

  it("key order in the body does not change the fingerprint", async () => {
    const first = await post({ name: "a", tags: ["x"] }, "key-order");
    const second = await t.inject({
      method: "POST",
      url: "/v1/probe/items",
      headers: { authorization: `Bearer ${token}`, "idempotency-key": "key-order", "content-type": "application/json" },
      payload: '{"tags":["x"],"name":"a"}',
    });
    expect(second.statusCode).toBe(201);
    expect(second.body).toBe(first.body);
  });

  it("IDEM-02: same key, different body → 422 and no side effect", async () => {
    await post({ name: "a" }, "key-2");
    const res = await post({ name: "b" }, "key-2");
    expect(res.statusCode).toBe(422);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    expect(res.json()).toMatchObject({ code: "idempotency_key_reused", status: 422 });
    expect(await count("probe_item")).toBe(1);
  });

  it("IDEM-03: concurrent duplicates → exactly one executes, the others get 409 or the replay", async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => post({ name: "c" }, "key-3")));
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    const created = results.filter((r) => r.statusCode === 201).map((r) => r.json().id);
    expect(new Set(created).size).toBe(1);
    for (const r of results.filter((x) => x.statusCode === 409)) {
      expect(r.json().code).toBe("idempotency_request_in_progress");
      expect(r.headers["retry-after"]).toBe("1");
    }
    expect(await count("probe_item")).toBe(1);
  });

  it("IDEM-04: a 5xx after execution began is stored and replayed; the write was rolled back", async () => {
    const first = await post({ name: "explode-after-write" }, "key-4");
    expect(first.statusCode).toBe(500);
    expect(first.json()).toMatchObject({ code: "internal_error" });
    expect(first.body).not.toContain("exploded");
    const second = await post({ name: "explode-after-write" }, "key-4");
    expect(second.statusCode).toBe(500);
    expect(second.body).toBe(first.body);
    expect(second.headers["idempotent-replayed"]).toBe("true");
    expect(await count("probe_item")).toBe(0);
    expect(await count("probe_fact")).toBe(0);
    expect(await count("job")).toBe(0);
  });

  it("a business 4xx after execution began is stored too", async () => {
    const first = await post({ name: "refuse" }, "key-4b");
    expect(first.statusCode).toBe(409);
    const second = await post({ name: "refuse" }, "key-4b");
    expect(second.body).toBe(first.body);
    expect(second.headers["idempotent-replayed"]).toBe("true");
  });

  it("IDEM-05: a validation failure stores nothing; the corrected retry with the same key succeeds", async () => {
    const bad = await post({ name: "" }, "key-5");
    expect(bad.statusCode).toBe(400);
    expect(await count("idempotency_record")).toBe(0);
    const good = await post({ name: "fixed" }, "key-5");
    expect(good.statusCode).toBe(201);
    expect(await count("probe_item")).toBe(1);
  });

  it("IDEM-06: keys are scoped by credential, environment and route", async () => {
    const other = t.token({ environmentId: "env_other" });
    const sameEnvOtherCredential = t.token();
    const a = await post({ name: "a" }, "shared");
    const b = await post({ name: "a" }, "shared", other);
    const c = await post({ name: "a" }, "shared", sameEnvOtherCredential);
    expect([a.statusCode, b.statusCode, c.statusCode]).toEqual([201, 201, 201]);
    expect(new Set([a.json().id, b.json().id, c.json().id]).size).toBe(3);
    expect(b.headers["idempotent-replayed"]).toBeUndefined();
    expect(await count("probe_item")).toBe(3);
  });

  it("IDEM-07: after the TTL the key is forgotten (and pruned)", async () => {
    const first = await post({ name: "a" }, "key-7");
    clock.advance(t.config.idempotencyTtlMs + 1);
    const second = await post({ name: "a" }, "key-7");
    expect(second.statusCode).toBe(201);
    expect(second.json().id).not.toBe(first.json().id);
    expect(await count("probe_item")).toBe(2);
    clock.advance(t.config.idempotencyTtlMs + 1);
    expect(await t.app.ledger.prune()).toBe(1);
    expect(await count("idempotency_record")).toBe(0);
  });

  it.each([
    ["too long", "k".repeat(256)],
    ["a space", "has space"],
    ["non-ASCII", "clé"],
    ["empty", ""],
  ])("IDEM-08: a key with %s → 400 and nothing happens", async (_label, key) => {
    const res = await t.inject({
      method: "POST",
      url: "/v1/probe/items",
      headers: { authorization: `Bearer ${token}`, "idempotency-key": key },
      payload: { name: "a" },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("idempotency_key_invalid");
    expect(await count("probe_item")).toBe(0);
  });

  it("accepts a 255-character key", async () => {
    expect((await post({ name: "a" }, "k".repeat(255))).statusCode).toBe(201);
  });

  it("IDEM-09: a claim left by a dead process is taken over once its lock expires; work applies once", async () => {
    // Simulate a crash of an older release, which committed a claim before the work: a claim
    // exists, locked, and its request never completed (its transaction rolled back).
    const res = await post({ name: "a" }, "key-9");
    expect(res.statusCode).toBe(201);
    await t.app.db.kysely
      .updateTable("idempotency_record")
      .set({
        state: "in_progress",
        response_status: null,
        response_body: null,
        locked_until: clock.now() + t.app.ledger.lockMs,
      })
      .execute();
    await t.app.db.kysely.deleteFrom("probe_item").execute();
    const during = await post({ name: "a" }, "key-9");
    expect(during.statusCode).toBe(409);
    clock.advance(t.app.ledger.lockMs + 1);
    const after = await post({ name: "a" }, "key-9");
    expect(after.statusCode).toBe(201);
    expect(await count("probe_item")).toBe(1);
    const replay = await post({ name: "a" }, "key-9");
    expect(replay.body).toBe(after.body);
  });

  it("a write whose key another process completed first rolls back and answers that response", async () => {
    const ledger = t.app.ledger;
    const scope = { environmentId: "env_test", credentialId: "c", method: "POST", path: "/x" };
    const first = await ledger.begin(scope, "k", "fp", 201);
    expect(first.kind).toBe("claimed");
    if (first.kind !== "claimed") return;
    // Nothing is written when a request starts: the key is recorded by the write it answers for.
    expect(await count("idempotency_record")).toBe(0);
    // Meanwhile another process (its own ledger, same database) completes the same key.
    const other = new IdempotencyLedger(t.app.db, clock, t.config.idempotencyTtlMs);
    const second = await other.begin(scope, "k", "fp", 201);
    if (second.kind !== "claimed") throw new Error("expected a claim");
    await t.app.db.write({ idempotency: second.claim }, async () => ({ fresh: true }));
    second.claim.release();
    await expect(
      t.app.db.write({ idempotency: first.claim }, async (tx) => {
        await tx
          .insertInto("probe_item")
          .values({ id: "tst_stale", environment_id: "env_test", name: "stale", created_at: 1 })
          .execute();
        return { stale: true };
      }),
    ).rejects.toBeInstanceOf(IdempotentReplay);
    first.claim.release();
    expect(await count("probe_item")).toBe(0);
    const replay = await ledger.begin(scope, "k", "fp", 201);
    expect(replay).toEqual({ kind: "replay", response: { status: 201, body: '{"fresh":true}' } });
  });

  it("one process answers a second request with a key still in flight 409, and takes it again once released", async () => {
    const ledger = t.app.ledger;
    const scope = { environmentId: "env_test", credentialId: "c", method: "POST", path: "/y" };
    const first = await ledger.begin(scope, "k", "fp", 201);
    await expect(ledger.begin(scope, "k", "fp", 201)).rejects.toMatchObject({
      code: "idempotency_request_in_progress",
    });
    if (first.kind === "claimed") first.claim.release();
    expect((await ledger.begin(scope, "k", "fp", 201)).kind).toBe("claimed");
  });

  it("anonymous requests are never replayed across callers", async () => {
    const res = await t.inject({
      method: "POST",
      url: "/v1/probe/items",
      headers: { "idempotency-key": "anon" },
      payload: { name: "a" },
    });
    expect(res.statusCode).toBe(401);
    expect(await count("idempotency_record")).toBe(0);
  });
});
