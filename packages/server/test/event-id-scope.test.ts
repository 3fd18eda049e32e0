import { afterEach, beforeEach, expect, it } from "vitest";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";

// A publisher's own event ids (`POST /v1/events` with `id`) are deduplicated within its scope only:
// its tenant (tenant keys, agents, members) or the environment (secret keys). Another tenant's id
// is neither an oracle (no 409 reveals it) nor a claim (it blocks nobody). Each event keeps the
// plane's own `id`, unique in the environment, so an environment-wide consumer never sees two
// events with one id; the publisher's id comes back as `clientId`. A repeat within the scope is an
// idempotent replay: 200 with `idempotent-replayed: true`, the stored event unchanged.

type Json = Record<string, unknown>;

describeEachEngine("event ids are scoped to their publisher", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let tenantA: string;
  let tenantB: string;

  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    tenantA = await tenant("Acme");
    tenantB = await tenant("Globex");
    const type = await call(p.a.secretKey, "POST", "/v1/events/types", {
      name: "order.shipped",
      description: "An order left the warehouse.",
    });
    expect(type.status).toBe(201);
  });
  afterEach(async () => t.close());

  async function call(token: string, method: string, url: string, body?: unknown) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, headers: res.headers, body: (res.body ? JSON.parse(res.body) : {}) as Json };
  }
  async function tenant(name: string): Promise<string> {
    const res = await call(p.a.secretKey, "POST", "/v1/tenants", { name });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }
  const keyOf = (tenantId: string, actorId: string) =>
    t.token({
      actorType: "tenant_key",
      actorId,
      credentialId: actorId,
      environmentId: p.a.id,
      tenantId,
      permissions: ["events:*"],
    });
  const publish = (token: string, body: Json) => call(token, "POST", "/v1/events", body);
  const shipped = (id: string, data: Json = { order: "o-1" }) => ({ id, type: "order.shipped", data });

  it("tenant B publishing tenant A's id gets its own event: no 409, no oracle, and A's retry replays", async () => {
    const a = keyOf(tenantA, "tk_a");
    const b = keyOf(tenantB, "tk_b");
    const first = await publish(a, shipped("X", { order: "o-1", lines: 2 }));
    expect(first.status).toBe(201);
    expect(first.headers["idempotent-replayed"]).toBeUndefined();
    expect(first.body).toMatchObject({ clientId: "X", tenantId: tenantA });
    expect(first.body.id).toMatch(/^evt_/);

    // The same id with other content, from another tenant: a new event, not `event_id_reused`.
    const other = await publish(b, shipped("X", { order: "o-9" }));
    expect(other.status).toBe(201);
    expect(other.headers["idempotent-replayed"]).toBeUndefined();
    expect(other.body).toMatchObject({ clientId: "X", tenantId: tenantB, data: { order: "o-9" } });
    expect(other.body.id).not.toBe(first.body.id);
    // And with A's very content: still B's own event, never A's (whose existence it must not learn).
    const copy = await publish(b, shipped("Y", { order: "o-1" }));
    const copyOfA = await publish(b, shipped("X", { order: "o-1", lines: 2 }));
    expect(copy.status).toBe(201);
    expect(copyOfA.status).toBe(409);
    expect(copyOfA.body.code).toBe("event_id_reused"); // B's own X differs: B's conflict, about B's event

    // A's retry (data keys in another order) is a replay of A's event, marked as such.
    const retry = await publish(a, shipped("X", { lines: 2, order: "o-1" }));
    expect(retry.status).toBe(200);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(retry.body).toEqual(first.body);
    const clash = await publish(a, shipped("X", { order: "o-2" }));
    expect(clash.status).toBe(409);
    expect(clash.body.code).toBe("event_id_reused");

    // B did not block A: a new id of B's is A's to use too.
    const later = await publish(b, shipped("Z"));
    const laterA = await publish(a, shipped("Z"));
    expect([later.status, laterA.status]).toEqual([201, 201]);

    // Each consumer sees its own; the environment-wide log has every event once, ids unique.
    const seenByB = await call(b, "GET", "/v1/events?clientId=X");
    expect((seenByB.body.data as Json[]).map((e) => e.id)).toEqual([other.body.id]);
    const all = (await call(p.a.secretKey, "GET", "/v1/events?types=order.*&limit=100")).body.data as Json[];
    expect(all.map((e) => [e.clientId, e.tenantId])).toEqual([
      ["X", tenantA],
      ["X", tenantB],
      ["Y", tenantB],
      ["Z", tenantB],
      ["Z", tenantA],
    ]);
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    // B cannot read A's event, by its id or by A's client id.
    expect((await call(b, "GET", `/v1/events/${first.body.id}`)).status).toBe(404);
    expect((await call(b, "GET", "/v1/events/X")).status).toBe(404);
  });

  it("a secret key's ids are scoped to the environment, apart from its tenants' ids", async () => {
    const a = keyOf(tenantA, "tk_a");
    const sk = p.a.secretKey;
    const mine = await publish(sk, { ...shipped("S-1"), tenantId: tenantA });
    expect(mine.status).toBe(201);
    // The tenant's own key uses S-1 for itself: no conflict with the secret key's event.
    const tenants = await publish(a, shipped("S-1", { order: "o-7" }));
    expect(tenants.status).toBe(201);
    expect(tenants.body.id).not.toBe(mine.body.id);
    // The secret key's retry replays its own event, not the tenant's.
    const retry = await publish(sk, { ...shipped("S-1"), tenantId: tenantA });
    expect(retry.status).toBe(200);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(retry.body).toEqual(mine.body);
    // One environment scope for the secret key, whatever tenant it names.
    const elsewhere = await publish(sk, { ...shipped("S-1"), tenantId: tenantB });
    expect(elsewhere.status).toBe(409);
    expect(elsewhere.body.code).toBe("event_id_reused");
    // Another environment is another scope.
    const envB = await publish(p.b.secretKey, shipped("S-1"));
    expect(envB.status).toBe(422); // its catalog lacks the type: nothing of A's leaks either way
    expect(envB.body.code).toBe("event_type_unknown");
  });

  it("an Idempotency-Key on a replayed publish stores the replay (200, marked)", async () => {
    const a = keyOf(tenantA, "tk_a");
    const first = await publish(a, shipped("K"));
    expect(first.status).toBe(201);
    const send = () =>
      t.inject({
        method: "POST",
        url: "/v1/events",
        headers: { authorization: `Bearer ${a}`, "idempotency-key": "retry-1" },
        payload: shipped("K"),
      });
    const once = await send();
    const twice = await send();
    for (const res of [once, twice]) {
      expect(res.statusCode).toBe(200);
      expect(res.headers["idempotent-replayed"]).toBe("true");
      expect(JSON.parse(res.body)).toEqual(first.body);
    }
  });

  it("racing publishes of one id: each tenant gets one event, each repeat is a replay", async () => {
    const keys = [keyOf(tenantA, "tk_a"), keyOf(tenantB, "tk_b")];
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => publish(keys[i % 2] as string, shipped("R"))),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 201, 201]);
    for (const tenantId of [tenantA, tenantB]) {
      const mine = results.filter((r) => r.body.tenantId === tenantId);
      expect(new Set(mine.map((r) => r.body.id)).size).toBe(1);
    }
    const all = (await call(p.a.secretKey, "GET", "/v1/events?clientId=R")).body.data as Json[];
    expect(all).toHaveLength(2);
  });
});
