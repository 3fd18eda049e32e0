import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, engines, type TestApp } from "../src/testing/harness.js";
import { freePort, type PlaneProcess, spawnPlane } from "../src/testing/spawn.js";

/** REACH_MS: how soon a change made through one process must be enforced by another. */
const REACH_MS = 1000;

// Two plane processes on one PostgreSQL schema, each with warm caches (tenant state, membership
// permissions, resolved tenant and agent keys). A suspension, a demotion, a removal or a key
// revocation made through one must be enforced by the other at once (LISTEN/NOTIFY), and a
// reactivation must restore what the suspension paused.
describe.runIf(engines().includes("postgres"))(
  "tenant suspension and access changes across processes [postgres]",
  () => {
    let t: TestApp;
    let p: SeededPlane;
    const planes: PlaneProcess[] = [];
    let one: string;
    let two: string;
    let tenantId: string;
    let owner: { id: string; session: string };
    let worker: { id: string; session: string; membershipId: string };
    let tenantKey: string;
    let agentKey: string;

    const call = async (base: string, token: string, method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const ok = async (base: string, token: string, method: string, path: string, body?: unknown) => {
      const res = await call(base, token, method, path, body);
      expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
      return res.body;
    };
    /** until polls `base` until `attempt` answers `status` and returns how long that took. */
    const until = async (status: number, attempt: () => Promise<{ status: number }>): Promise<number> => {
      const start = Date.now();
      for (;;) {
        const res = await attempt();
        if (res.status === status) return Date.now() - start;
        if (Date.now() - start > REACH_MS) throw new Error(`still ${res.status} after ${REACH_MS} ms (want ${status})`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const members = () => `/v1/tenants/${tenantId}/members`;
    const invite = (base: string, token: string) =>
      call(base, token, "POST", `/v1/tenants/${tenantId}/invitations`, {
        email: `x${Math.random().toString(36).slice(2)}@example.com`,
        roles: ["viewer"],
      });

    beforeAll(async () => {
      t = await createTestApp("postgres", { plane: true });
      p = await seedPlane(t);
      const env = {
        ...t.database.env,
        NODE_ENV: "test",
        BASEPLATE_PASSWORD_PROFILE: "test",
        BASEPLATE_WORKERS: "false",
      };
      const [port1, port2] = [await freePort(), await freePort()];
      planes.push(
        ...(await Promise.all([
          spawnPlane("serve-plane", { ...env, BASEPLATE_PORT: String(port1) }),
          spawnPlane("serve-plane", { ...env, BASEPLATE_PORT: String(port2) }),
        ])),
      );
      [one, two] = planes.map((plane) => plane.ready.url as string) as [string, string];
      const key = p.a.secretKey;
      await ok(one, key, "POST", "/v1/roles", { key: "viewer", name: "Viewer", permissions: ["members:read"] });
      tenantId = (await ok(one, key, "POST", "/v1/tenants", { name: "Acme" })).id as string;
      const user = async (name: string, roles: string[]) => {
        const email = `${name}@example.com`;
        const u = await ok(one, key, "POST", "/v1/users", { email, password: TEST_PASSWORD });
        const m = await ok(one, key, "POST", members(), { userId: u.id, roles });
        const login = await fetch(`${one}/v1/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ surfaceId: p.a.surfaceId, email, password: TEST_PASSWORD }),
        });
        const session = ((await login.json()) as { token: string }).token;
        return { id: u.id as string, session, membershipId: m.id as string };
      };
      owner = await user("owner", ["owner"]);
      worker = await user("worker", ["admin"]);
      tenantKey = (
        await ok(one, owner.session, "POST", `/v1/tenants/${tenantId}/keys`, { name: "k", permissions: ["members:*"] })
      ).token as string;
      agentKey = (
        await ok(one, worker.session, "POST", `/v1/tenants/${tenantId}/agent-keys`, {
          name: "a",
          scopes: ["members:*"],
        })
      ).token as string;
    }, 90_000);

    afterAll(async () => {
      for (const plane of planes) plane.child.kill("SIGTERM");
      await Promise.all(planes.map((plane) => plane.exited));
      await t?.close();
    });

    it("a suspension reaches every process at once; reading stays open; reactivation restores everything", async () => {
      const tokens = [owner.session, worker.session, tenantKey, agentKey];
      for (const base of [one, two, one, two])
        for (const token of tokens) expect((await invite(base, token)).status).toBe(201);
      await ok(one, p.a.secretKey, "POST", `/v1/tenants/${tenantId}/suspend`, {
        reason: "chargeback",
        category: "billing",
      });
      for (const token of tokens) {
        const ms = await until(402, () => invite(two, token));
        expect(ms).toBeLessThan(REACH_MS);
        expect((await call(two, token, "GET", members())).status).toBe(200);
      }
      // The secret key still manages the suspended tenant, from any process.
      expect((await invite(two, p.a.secretKey)).status).toBe(201);
      await ok(two, p.a.secretKey, "POST", `/v1/tenants/${tenantId}/reactivate`, { reason: "paid" });
      for (const token of tokens) await until(201, () => invite(one, token));
    });

    it("a demotion shrinks the user's agent in the other process at once; a removal ends it", async () => {
      for (const base of [one, two]) expect((await invite(base, agentKey)).status).toBe(201);
      await ok(one, owner.session, "PATCH", `${members()}/${worker.membershipId}`, { roles: ["viewer"] });
      await until(403, () => invite(two, agentKey));
      await until(403, () => invite(two, worker.session));
      expect((await call(two, agentKey, "GET", members())).status).toBe(200);
      await ok(one, owner.session, "DELETE", `${members()}/${worker.membershipId}`);
      await until(401, () => call(two, agentKey, "GET", members()));
      await until(404, () => call(two, worker.session, "GET", members()));
    });

    it("a revoked tenant key stops in the other process at once", async () => {
      const issued = await ok(one, owner.session, "POST", `/v1/tenants/${tenantId}/keys`, {
        name: "short-lived",
        permissions: ["members:read"],
      });
      const token = issued.token as string;
      for (const base of [one, two, one, two]) expect((await call(base, token, "GET", members())).status).toBe(200);
      await ok(one, owner.session, "POST", `/v1/tenants/${tenantId}/keys/${(issued as { id: string }).id}/revoke`);
      expect(await until(401, () => call(two, token, "GET", members()))).toBeLessThan(REACH_MS);
    });
  },
);
