import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, engines, type TestApp } from "../src/testing/harness.js";
import { freePort, type PlaneProcess, spawnPlane } from "../src/testing/spawn.js";

/** REACH_MS: how soon a revocation made in one process must be enforced by another. */
const REACH_MS = 1000;

// Two plane processes on one PostgreSQL schema, each with a warm credential cache: a revocation
// made through one must reach the other through LISTEN/NOTIFY (SQLite planes are one process).
describe.runIf(engines().includes("postgres"))("revocation across processes [postgres]", () => {
  let t: TestApp;
  let p: SeededPlane;
  const planes: PlaneProcess[] = [];
  let one: string;
  let two: string;

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
  }, 60_000);

  afterAll(async () => {
    for (const plane of planes) plane.child.kill("SIGTERM");
    await Promise.all(planes.map((plane) => plane.exited));
    await t?.close();
  });

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
  const status = async (base: string, token: string, path: string) => (await call(base, token, "GET", path)).status;
  /** warm makes successful requests with `token` on both processes, so both cache its principal. */
  const warm = async (token: string, path: string) => {
    for (const base of [one, two, one, two]) expect(await status(base, token, path)).toBe(200);
  };
  /** until401 polls `base` until `token` answers 401 and returns how long that took (fails after REACH_MS). */
  const until401 = async (base: string, token: string, path: string): Promise<number> => {
    const start = Date.now();
    for (;;) {
      const s = await status(base, token, path);
      if (s === 401) return Date.now() - start;
      expect(s).toBe(200);
      if (Date.now() - start > REACH_MS) throw new Error(`still ${s} after ${REACH_MS} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const newKey = async (name: string) =>
    p.identity.secretKeys.createSecretKey(p.operatorCtx, p.a.id, { surfaceId: p.a.surfaceId, name, scopes: ["*"] });
  const signup = async (email: string) => {
    const res = await call(one, p.a.secretKey, "POST", "/v1/auth/signup", {
      surfaceId: p.a.surfaceId,
      email,
      password: TEST_PASSWORD,
    });
    expect(res.status).toBe(201);
    return { token: res.body.token as string, userId: (res.body.user as { id: string }).id };
  };
  const db = () => t.app.db.kysely;

  it("the processes cache credentials: a change made behind the plane's back is not seen at once", async () => {
    // The control for the tests below: were the cache bypassed, they would pass without LISTEN/NOTIFY.
    const key = await newKey("control");
    const user = await signup("control@example.com");
    await warm(key.token, "/v1/tenants");
    await warm(user.token, "/v1/auth/me");
    const now = Date.now();
    await db().updateTable("secret_key").set({ revoked_at: now }).where("id", "=", key.id).execute();
    await db().updateTable("user").set({ disabled_at: now }).where("id", "=", user.userId).execute();
    expect(await status(two, key.token, "/v1/tenants")).toBe(200);
    expect(await status(two, user.token, "/v1/auth/me")).toBe(200);
  });

  it("a secret key revoked through process 1 answers 401 in process 2 within a second", async () => {
    const key = await newKey("revoked elsewhere");
    await warm(key.token, "/v1/tenants");

    const revoked = await call(one, p.operatorToken, "POST", `/v1/secret-keys/${key.id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(await status(one, key.token, "/v1/tenants")).toBe(401);
    expect(await until401(two, key.token, "/v1/tenants")).toBeLessThanOrEqual(REACH_MS);
    // The other keys keep working in both processes.
    expect(await status(two, p.a.secretKey, "/v1/tenants")).toBe(200);
  });

  it("disabling a user through process 1 ends its sessions in process 2 within a second", async () => {
    const user = await signup("disabled@example.com");
    const other = await signup("bystander@example.com");
    await warm(user.token, "/v1/auth/me");
    await warm(other.token, "/v1/auth/me");

    const disabled = await call(one, p.a.secretKey, "PATCH", `/v1/users/${user.userId}`, { disabled: true });
    expect(disabled.status).toBe(200);
    expect(disabled.body).toMatchObject({ disabled: true });
    expect(await status(one, user.token, "/v1/auth/me")).toBe(401);
    expect(await until401(two, user.token, "/v1/auth/me")).toBeLessThanOrEqual(REACH_MS);
    expect(await status(two, other.token, "/v1/auth/me")).toBe(200);
  });

  it("disabling an operator through process 1 ends its session in process 2 within a second", async () => {
    await warm(p.supportToken, "/v1/operator/me");
    const support = await db()
      .selectFrom("operator")
      .select("id")
      .where("email", "=", "support@example.com")
      .executeTakeFirstOrThrow();
    const disabled = await call(one, p.operatorToken, "PATCH", `/v1/operators/${support.id}`, { disabled: true });
    expect(disabled.status).toBe(200);
    expect(await until401(two, p.supportToken, "/v1/operator/me")).toBeLessThanOrEqual(REACH_MS);
  });
});
