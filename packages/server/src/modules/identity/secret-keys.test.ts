import { afterEach, beforeEach, expect, it } from "vitest";
import { MODULES } from "../../app.js";
import { TestClock } from "../../platform/clock.js";
import { parseToken, sha256Hex } from "../../platform/crypto.js";
import type { Fact } from "../../platform/facts/index.js";
import { defineModule } from "../../platform/module.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { probeModule } from "../../testing/probe-module.js";

const HOUR = 3_600_000;
/** SECRET_KEY: prefix, 43 base62 characters of 256 random bits, 6 characters of CRC-32 checksum. */
const SECRET_KEY = /^bp_sk_[0-9A-Za-z]{49}$/;

/** captureModule keeps every recorded fact whole (data and changes included), to prove no token leaks into one. */
function captureModule(facts: Fact[]) {
  return defineModule<null>({
    name: "capture",
    dependsOn: [],
    migrations: [],
    createService: () => null,
    factSinks: () => [{ name: "capture", sink: async (_tx, fact) => void facts.push(fact) }],
  });
}

describeEachEngine("secret keys", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let clock: TestClock;
  let facts: Fact[];

  beforeEach(async () => {
    clock = new TestClock(Date.UTC(2026, 0, 1));
    facts = [];
    t = await createTestApp(engine, {
      clock,
      modules: [...MODULES, probeModule, captureModule(facts)],
    });
    p = await seedPlane(t);
  });
  afterEach(async () => t.close());

  const call = (token: string, method: "GET" | "POST" | "PATCH", url: string, payload?: unknown) =>
    t.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
  const admin = (method: "GET" | "POST" | "PATCH", url: string, payload?: unknown) =>
    call(p.operatorToken, method, url, payload);
  const createKey = async (body: Record<string, unknown> = {}, environmentId = p.a.id) => {
    const res = await admin("POST", `/v1/environments/${environmentId}/secret-keys`, {
      surfaceId: p.a.surfaceId,
      name: "test key",
      ...body,
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { token: string; id: string; display: string; expiresAt: string | null };
  };
  const tenants = (token: string) => call(token, "GET", "/v1/tenants");
  const row = (id: string) =>
    t.app.db.kysely.selectFrom("secret_key").selectAll().where("id", "=", id).executeTakeFirst();

  it("issues a bp_sk_ token with 256 random bits and a checksum; a mistyped one answers 401 without a lookup", async () => {
    const issued = await Promise.all([createKey(), createKey(), createKey()]);
    const tokens = issued.map((i) => i.token);
    for (const token of tokens) {
      expect(token).toMatch(SECRET_KEY);
      expect(parseToken(token, ["bp_sk_"])).toEqual({ prefix: "bp_sk_" });
    }
    expect(new Set(tokens.map((k) => k.slice(6, 49))).size).toBe(3);
    // 43 base62 characters carry log2(62^43) ≈ 256 bits (≥ 128 required).
    expect(43 * Math.log2(62)).toBeGreaterThan(255);

    const token = tokens[0] as string;
    expect((await tenants(token)).statusCode).toBe(200);
    const last = token.at(-1) === "A" ? "B" : "A";
    const mistyped = await tenants(`${token.slice(0, -1)}${last}`);
    expect(mistyped.statusCode).toBe(401);
    expect(mistyped.json()).toMatchObject({ code: "invalid_credentials" });
    expect(mistyped.json().detail).toContain("malformed");
  });

  it("shows the token once: list and get return only the display form; the database holds only its SHA-256", async () => {
    const { token, ...secretKey } = await createKey({ name: "shown once" });
    expect(secretKey.display).toBe(`bp_sk_…${token.slice(-4)}`);
    const body = token.slice(6);

    const list = await admin("GET", `/v1/environments/${p.a.id}/secret-keys`);
    expect(list.statusCode).toBe(200);
    const listed = list.json().data.find((k: { id: string }) => k.id === secretKey.id);
    expect(listed).toMatchObject({ id: secretKey.id, name: "shown once", display: secretKey.display });
    expect(listed).not.toHaveProperty("token");
    const get = await admin("GET", `/v1/secret-keys/${secretKey.id}`);
    expect(get.statusCode).toBe(200);
    expect(get.json()).not.toHaveProperty("token");
    for (const res of [list, get]) {
      expect(res.body).not.toContain(body);
      expect(res.body).not.toContain(sha256Hex(token));
    }

    const stored = await row(secretKey.id);
    expect(stored?.token_hash).toBe(sha256Hex(token));
    expect(JSON.stringify(stored)).not.toContain(body);
  });

  it("refuses scopes beyond the surface's ceiling (422) and enforces the ceiling on use (403)", async () => {
    const surface = await admin("POST", `/v1/environments/${p.a.id}/surfaces`, {
      name: "Reader",
      kind: "api",
      scopeCeiling: ["tenants:read"],
    });
    expect(surface.statusCode).toBe(201);
    const surfaceId = surface.json().id as string;

    for (const scopes of [["*"], ["tenants:*"], ["tenants:write"], ["tenants:read", "users:read"]]) {
      const over = await admin("POST", `/v1/environments/${p.a.id}/secret-keys`, { surfaceId, name: "x", scopes });
      expect(over.statusCode, JSON.stringify(scopes)).toBe(422);
      expect(over.json()).toMatchObject({ code: "scope_exceeds_ceiling" });
    }
    // A surface of another environment is not found.
    const elsewhere = await admin("POST", `/v1/environments/${p.b.id}/secret-keys`, {
      surfaceId,
      name: "x",
      scopes: ["tenants:read"],
    });
    expect(elsewhere.statusCode).toBe(404);
    expect(elsewhere.json()).toMatchObject({ code: "surface_not_found" });

    const { token } = await createKey({ surfaceId, scopes: ["tenants:read"] });
    expect((await tenants(token)).statusCode).toBe(200);
    const write = await call(token, "POST", "/v1/tenants", { name: "Acme" });
    expect(write.statusCode).toBe(403);
    expect(write.json()).toMatchObject({ code: "forbidden" });
    expect(write.json().detail).toContain("tenants:write");
  });

  it("lowering a surface's ceiling applies at once to existing keys, even cached ones", async () => {
    const { token } = await createKey({ scopes: ["*"] });
    // Use the key (its principal is now cached) for reads and writes.
    expect((await tenants(token)).statusCode).toBe(200);
    expect((await call(token, "POST", "/v1/tenants", { name: "Before" })).statusCode).toBe(201);

    const lowered = await admin("PATCH", `/v1/surfaces/${p.a.surfaceId}`, { scopeCeiling: ["tenants:read"] });
    expect(lowered.statusCode).toBe(200);
    expect((await tenants(token)).statusCode).toBe(200);
    expect((await call(token, "POST", "/v1/tenants", { name: "After" })).statusCode).toBe(403);
    // The seeded key of the same surface is bound too; the other environment's is not.
    expect((await call(p.a.secretKey, "POST", "/v1/tenants", { name: "After" })).statusCode).toBe(403);
    expect((await call(p.b.secretKey, "POST", "/v1/tenants", { name: "After" })).statusCode).toBe(201);

    const raised = await admin("PATCH", `/v1/surfaces/${p.a.surfaceId}`, { scopeCeiling: ["*"] });
    expect(raised.statusCode).toBe(200);
    expect((await call(token, "POST", "/v1/tenants", { name: "Again" })).statusCode).toBe(201);
  });

  it("archiving the surface ends its keys at once, even cached ones", async () => {
    const { token } = await createKey();
    expect((await tenants(token)).statusCode).toBe(200);
    expect((await admin("POST", `/v1/surfaces/${p.a.surfaceId}/archive`)).statusCode).toBe(200);
    expect((await tenants(token)).statusCode).toBe(401);
  });

  it("refuses an expiry in the past (400); a key stops working once its expiry passes, even when cached", async () => {
    for (const expiresAt of [clock.now() - 1, clock.now()]) {
      const past = await admin("POST", `/v1/environments/${p.a.id}/secret-keys`, {
        surfaceId: p.a.surfaceId,
        name: "past",
        expiresAt,
      });
      expect(past.statusCode).toBe(400);
      expect(past.json()).toMatchObject({ code: "validation_failed" });
      expect(past.json().errors).toEqual([{ path: "body.expiresAt", message: "must be in the future" }]);
    }

    const { token, ...secretKey } = await createKey({ expiresAt: clock.now() + HOUR });
    expect(Date.parse(String(secretKey.expiresAt))).toBe(clock.now() + HOUR);
    expect((await tenants(token)).statusCode).toBe(200);
    clock.advance(HOUR - 1);
    expect((await tenants(token)).statusCode).toBe(200);
    clock.advance(1);
    const expired = await tenants(token);
    expect(expired.statusCode).toBe(401);
    expect(expired.json()).toMatchObject({ code: "invalid_credentials" });
    // An expired key cannot be rotated back to life.
    const rotate = await admin("POST", `/v1/secret-keys/${secretKey.id}/rotate`, {});
    expect(rotate.statusCode).toBe(409);
    expect(rotate.json()).toMatchObject({ code: "key_revoked" });
  });

  it("revocation is immediate, even right after a successful (cached) request; revoking twice is a no-op", async () => {
    const { token, ...secretKey } = await createKey();
    expect((await tenants(token)).statusCode).toBe(200);
    expect((await tenants(token)).statusCode).toBe(200);

    const revoked = await admin("POST", `/v1/secret-keys/${secretKey.id}/revoke`);
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json()).toMatchObject({ id: secretKey.id, revokedAt: new Date(clock.now()).toISOString() });
    const after = await tenants(token);
    expect(after.statusCode).toBe(401);
    expect(after.json()).toMatchObject({ code: "invalid_credentials" });
    expect(after.headers["www-authenticate"]).toContain("invalid_token");

    const again = await admin("POST", `/v1/secret-keys/${secretKey.id}/revoke`);
    expect(again.statusCode).toBe(200);
    expect(again.json().revokedAt).toBe(revoked.json().revokedAt);
    expect(facts.filter((f) => f.type === "secret_key.revoked")).toHaveLength(1);
    // Other keys are untouched.
    expect((await tenants(p.a.secretKey)).statusCode).toBe(200);

    const missing = await admin("POST", "/v1/secret-keys/sk_doesnotexist/revoke");
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: "secret_key_not_found" });
  });

  it("a revocation that commits while the key is being looked up is not undone by caching the lookup", async () => {
    const { token, ...secretKey } = await createKey();
    // Revoke in the middle of the key's first resolution: after its row was read, before it is cached.
    const surfaces = p.tenancy.surfaces;
    const findActiveSurface = surfaces.findActiveSurface.bind(surfaces);
    let revokeNow = true;
    surfaces.findActiveSurface = async (id: string) => {
      const found = await findActiveSurface(id);
      if (revokeNow) {
        revokeNow = false;
        await p.identity.secretKeys.revokeSecretKey(p.operatorCtx, secretKey.id);
      }
      return found;
    };
    try {
      expect((await tenants(token)).statusCode).toBe(200); // in flight when the revocation committed
      expect(revokeNow).toBe(false);
      expect((await tenants(token)).statusCode).toBe(401);
    } finally {
      surfaces.findActiveSurface = findActiveSurface;
    }
  });

  it("rotation: both keys work during the grace period, the old one stops after it; a revoked key cannot be rotated", async () => {
    const old = await createKey({ name: "rotating", scopes: ["tenants:read"] });
    expect((await tenants(old.token)).statusCode).toBe(200); // cached before the rotation

    const rotated = await admin("POST", `/v1/secret-keys/${old.id}/rotate`, { gracePeriodSeconds: 60 });
    expect(rotated.statusCode).toBe(201);
    const fresh = rotated.json() as { token: string; id: string; name: string; scopes: string[] };
    expect(fresh.token).toMatch(SECRET_KEY);
    expect(fresh.token).not.toBe(old.token);
    expect(fresh).toMatchObject({ name: "rotating", scopes: ["tenants:read"], expiresAt: null });
    const oldAfter = await admin("GET", `/v1/secret-keys/${old.id}`);
    expect(oldAfter.json()).toMatchObject({
      replacedBy: fresh.id,
      expiresAt: new Date(clock.now() + 60_000).toISOString(),
    });

    expect((await tenants(old.token)).statusCode).toBe(200);
    expect((await tenants(fresh.token)).statusCode).toBe(200);
    // The new key inherits the scopes, not more.
    expect((await call(fresh.token, "POST", "/v1/tenants", { name: "x" })).statusCode).toBe(403);
    clock.advance(59_999);
    expect((await tenants(old.token)).statusCode).toBe(200);
    clock.advance(1);
    expect((await tenants(old.token)).statusCode).toBe(401);
    expect((await tenants(fresh.token)).statusCode).toBe(200);

    // Without a body the grace period defaults to 24 h.
    const second = await admin("POST", `/v1/secret-keys/${fresh.id}/rotate`);
    expect(second.statusCode).toBe(201);
    expect((await admin("GET", `/v1/secret-keys/${fresh.id}`)).json().expiresAt).toBe(
      new Date(clock.now() + 24 * HOUR).toISOString(),
    );
    // A key has one successor: rotating it again is refused while it still works in its grace period.
    const again = await admin("POST", `/v1/secret-keys/${fresh.id}/rotate`);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: "key_already_rotated" });
    expect((await tenants(fresh.token)).statusCode).toBe(200);

    const doomed = await createKey();
    expect((await admin("POST", `/v1/secret-keys/${doomed.id}/revoke`)).statusCode).toBe(200);
    const refused = await admin("POST", `/v1/secret-keys/${doomed.id}/rotate`, { gracePeriodSeconds: 0 });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: "key_revoked" });
    expect((await tenants(doomed.token)).statusCode).toBe(401);
  });

  it("rotating with no grace period ends the old key at once, even when cached", async () => {
    const old = await createKey();
    expect((await tenants(old.token)).statusCode).toBe(200);
    const rotated = await admin("POST", `/v1/secret-keys/${old.id}/rotate`, { gracePeriodSeconds: 0 });
    expect(rotated.statusCode).toBe(201);
    expect((await tenants(old.token)).statusCode).toBe(401);
    expect((await tenants(rotated.json().token)).statusCode).toBe(200);
  });

  it("records lastUsedAt in memory and writes it in a batch, not once per request", async () => {
    const { token, ...secretKey } = await createKey();
    const used = clock.now();
    for (let i = 0; i < 50; i++) {
      expect((await tenants(token)).statusCode).toBe(200);
    }
    expect((await row(secretKey.id))?.last_used_at).toBeNull();
    expect((await admin("GET", `/v1/secret-keys/${secretKey.id}`)).json().lastUsedAt).toBeNull();

    clock.advance(1000);
    expect((await tenants(token)).statusCode).toBe(200);
    const identity = p.identity;
    await identity.resolution.flushLastUsed();
    expect(Number((await row(secretKey.id))?.last_used_at)).toBe(used + 1000);
    expect((await admin("GET", `/v1/secret-keys/${secretKey.id}`)).json().lastUsedAt).toBe(
      new Date(used + 1000).toISOString(),
    );
    // Nothing pending: a second flush writes nothing new.
    await identity.resolution.flushLastUsed();
    expect(Number((await row(secretKey.id))?.last_used_at)).toBe(used + 1000);
  });

  it("records secret_key.created, .revoked and .rotated facts, and no fact ever carries a token", async () => {
    const created = await createKey({ name: "audited" });
    const rotated = await admin("POST", `/v1/secret-keys/${created.id}/rotate`, { gracePeriodSeconds: 0 });
    const newId = rotated.json().id as string;
    await admin("POST", `/v1/secret-keys/${newId}/revoke`);

    const stored = await t.app.db.kysely
      .selectFrom("probe_fact")
      .selectAll()
      .where("type", "like", "secret_key.%")
      .orderBy("id")
      .execute();
    const mine = stored
      .map((f) => ({
        type: f.type,
        environmentId: f.environment_id,
        actorId: f.actor_id,
        targets: JSON.parse(f.targets as string),
      }))
      .filter((f) => f.targets.some((x: { id: string }) => x.id === created.id || x.id === newId));
    expect(mine).toEqual([
      {
        type: "secret_key.created",
        environmentId: p.a.id,
        actorId: p.operatorId,
        targets: [{ type: "secret_key", id: created.id }],
      },
      {
        type: "secret_key.rotated",
        environmentId: p.a.id,
        actorId: p.operatorId,
        targets: [
          { type: "secret_key", id: newId },
          { type: "secret_key", id: created.id },
        ],
      },
      {
        type: "secret_key.revoked",
        environmentId: p.a.id,
        actorId: p.operatorId,
        targets: [{ type: "secret_key", id: newId }],
      },
    ]);

    const whole = facts.find((f) => f.type === "secret_key.created" && f.targets[0]?.id === created.id);
    expect(whole?.data).toMatchObject({ name: "audited", display: created.display, scopes: ["*"] });
    const everything = JSON.stringify(facts);
    for (const token of [created.token, rotated.json().token as string, p.a.secretKey, p.b.secretKey]) {
      expect(everything).not.toContain(token.slice(6));
      expect(everything).not.toContain(sha256Hex(token));
    }
  });
});
