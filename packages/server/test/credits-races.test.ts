import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, engines, type TestApp } from "../src/testing/harness.js";
import { freePort, type PlaneProcess, spawnPlane } from "../src/testing/spawn.js";

// Prepaid credits never overspent across processes: 50 consumers (immediate consumption and holds)
// spread over two plane processes on one PostgreSQL database race for one wallet; exactly as many
// win as the balance covers, it never goes below zero, and the ledger sums to the balance. (The
// same race in one process runs on both engines in modules/billing/credits.test.ts.)

type Json = Record<string, unknown>;

async function http(base: string, token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

describe.runIf(engines().includes("postgres"))("credit races across two processes [postgres]", () => {
  let t: TestApp;
  let p: SeededPlane;
  let bases: string[] = [];
  const planes: PlaneProcess[] = [];
  beforeAll(async () => {
    t = await createTestApp("postgres", { plane: true });
    p = await seedPlane(t);
    const env = { ...t.database.env, NODE_ENV: "test", BASEPLATE_PASSWORD_PROFILE: "test", BASEPLATE_WORKERS: "false" };
    const ports = [await freePort(), await freePort()];
    planes.push(
      ...(await Promise.all(ports.map((port) => spawnPlane("serve-plane", { ...env, BASEPLATE_PORT: String(port) })))),
    );
    bases = planes.map((plane) => plane.ready.url as string);
  }, 60_000);
  afterAll(async () => {
    for (const plane of planes) plane.child.kill("SIGTERM");
    await Promise.all(planes.map((plane) => plane.exited));
    await t?.close();
  });

  const call = (i: number, method: string, path: string, body?: unknown) =>
    http(bases[i % 2] as string, p.a.secretKey, method, path, body);

  it("50 consumers over two processes never drive one balance below zero", async () => {
    const tenantId = (await call(0, "POST", "/v1/tenants", { name: "Racer" })).body.id as string;
    for (const [amount, expiresAt] of [
      [30, Date.now() + 86_400_000],
      [70, undefined],
    ] as const) {
      const g = await call(1, "POST", "/v1/billing/credits/grants", { tenantId, unit: "tokens", amount, expiresAt });
      expect(g.status, JSON.stringify(g.body)).toBe(201);
    }
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 4 < 2
          ? call(i, "POST", "/v1/billing/credits/consume", { tenantId, unit: "tokens", amount: 7 })
          : call(i, "POST", "/v1/billing/credits/holds", { tenantId, unit: "tokens", amount: 7 }),
      ),
    );
    expect(results.filter((r) => r.status === 200 || r.status === 201)).toHaveLength(14);
    expect(results.every((r) => r.status < 300 || r.body.code === "insufficient_credits")).toBe(true);
    const wallets = await call(0, "GET", `/v1/billing/credits/wallets?tenantId=${tenantId}`);
    const wallet = (wallets.body.data as Json[])[0] as Json;
    expect(wallet.balance).toBe(2);
    const entries = await t.app.db.kysely
      .selectFrom("billing_credit_entry")
      .select("amount")
      .where("wallet_id", "=", wallet.id as string)
      .execute();
    expect(entries.reduce((n, e) => n + Number(e.amount), 0)).toBe(2);
    // The grant expiring first was spent first: nothing is left of it.
    const grants = await call(1, "GET", `/v1/billing/credits/grants?tenantId=${tenantId}`);
    expect((grants.body.data as Json[]).map((g) => [g.amount, g.remaining])).toEqual([
      [70, 2],
      [30, 0],
    ]);
  });
});
