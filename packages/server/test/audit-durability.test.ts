import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, createApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { auditModule } from "../src/modules/audit/index.js";
import { fromJson } from "../src/platform/db/db.js";
import { createTestDatabase, describeEachEngine, engines, type TestDatabase } from "../src/testing/harness.js";
import { probeModule } from "../src/testing/probe-module.js";
import { freePort, type PlaneProcess, spawnPlane } from "../src/testing/spawn.js";

// The audit chain under crashes and concurrent writers: a SIGKILL in the middle of many concurrent
// writes leaves every chain verifiable, with exactly one entry per committed change; two processes
// appending to one chain on PostgreSQL never fork or gap it.

const CHAIN = "env_durability"; // the probe token's environment (see testing/child-process.ts)

async function observe(database: TestDatabase): Promise<App> {
  const app = await createApp({
    config: loadConfig({ ...database.env, BASEPLATE_LOG_LEVEL: "silent", BASEPLATE_WORKERS: "false" }),
    modules: [auditModule, probeModule],
  });
  await app.start({ listen: false, workers: false });
  return app;
}

async function verifyChain(app: App) {
  const audit = app.service(auditModule);
  return audit.exports.verifyChain({
    environmentId: CHAIN,
    tenantId: null,
  });
}

function sender(url: string, token: string) {
  return (name: string) =>
    fetch(`${url}/v1/probe/items`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ name }),
    }).then(
      async (res) => ({ name, status: res.status, body: await res.text() }),
      () => ({ name, status: 0, body: "" }),
    );
}

/** consistent checks one entry per committed item, a gap-free chain, and a clean verification. */
async function expectConsistent(app: App): Promise<number> {
  const db = app.db.kysely;
  const items = await db.selectFrom("probe_item").select("id").execute();
  const entries = await db
    .selectFrom("audit_entry")
    .select(["seq", "targets", "action"])
    .where("chain_id", "=", CHAIN)
    .orderBy("seq")
    .execute();
  expect(entries.map((e) => Number(e.seq))).toEqual(entries.map((_, i) => i + 1));
  const targets = entries.map((e) => fromJson<Array<{ id: string }>>(e.targets)[0]?.id);
  expect(new Set(targets).size).toBe(targets.length);
  expect([...targets].sort()).toEqual(items.map((i) => i.id).sort());
  const result = await verifyChain(app);
  expect(result.errors).toEqual([]);
  expect(result.entries).toBe(items.length);
  return items.length;
}

describeEachEngine("audit durability", (engine) => {
  let database: TestDatabase;
  let observer: App;
  const children: PlaneProcess[] = [];

  beforeEach(async () => {
    database = await createTestDatabase(engine);
    observer = await observe(database);
  });
  afterEach(async () => {
    for (const c of children) c.child.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    children.length = 0;
    await observer.stop();
    await database.drop();
  });

  it("SIGKILL during many concurrent writes: after restart every chain verifies, one entry per committed change", async () => {
    const port = await freePort();
    const env = { ...database.env, BASEPLATE_PORT: String(port), BASEPLATE_WORKERS: "false" };
    const server = await spawnPlane("serve-audit", env);
    children.push(server);
    const send = sender(server.ready.url as string, server.ready.token as string);
    const inflight = Array.from({ length: 400 }, (_, i) => send(`item-${i}`));
    const db = observer.db.kysely;
    await waitFor(async () => (await db.selectFrom("audit_entry").select("id").execute()).length >= 40, 20_000, 5);
    server.child.kill("SIGKILL");
    const results = await Promise.all(inflight);
    await server.exited;
    expect(results.some((r) => r.status === 0)).toBe(true); // the kill cut requests off
    const acknowledged = results.filter((r) => r.status === 201).map((r) => JSON.parse(r.body).id as string);
    const before = await expectConsistent(observer);
    const items = (await db.selectFrom("probe_item").select("id").execute()).map((i) => i.id);
    for (const id of acknowledged) expect(items).toContain(id);

    // Restart: the chain continues where it stopped, without a gap.
    const restarted = await spawnPlane("serve-audit", env);
    children.push(restarted);
    const again = sender(restarted.ready.url as string, restarted.ready.token as string);
    const more = await Promise.all(Array.from({ length: 30 }, (_, i) => again(`after-${i}`)));
    expect(more.every((r) => r.status === 201)).toBe(true);
    expect(await expectConsistent(observer)).toBe(before + 30);
  }, 60_000);
});

describe.runIf(engines().includes("postgres"))("audit: two processes appending to one chain on PostgreSQL", () => {
  it("never fork or gap it, and the chain verifies", async () => {
    const database = await createTestDatabase("postgres");
    const observer = await observe(database);
    const children: PlaneProcess[] = [];
    try {
      const start = async () => {
        const port = await freePort();
        return spawnPlane("serve-audit", {
          ...database.env,
          BASEPLATE_PORT: String(port),
          BASEPLATE_WORKERS: "false",
          BASEPLATE_DATABASE_POOL_MAX: "8",
        });
      };
      children.push(...(await Promise.all([start(), start()])));
      const senders = children.map((c) => sender(c.ready.url as string, c.ready.token as string));
      // 16 requests in flight per process: enough to contend for the chain all the time, few enough
      // that a request never waits 10 s for a pooled connection on a loaded machine.
      const results: Array<Awaited<ReturnType<ReturnType<typeof sender>>>> = [];
      let next = 0;
      const worker = async (send: ReturnType<typeof sender>) => {
        while (next < 600) results.push(await send(`concurrent-${next++}`));
      };
      await Promise.all(senders.flatMap((send) => Array.from({ length: 16 }, () => worker(send))));
      const failed = results.filter((r) => r.status !== 201);
      expect(
        failed.length,
        `${failed.length} failed; server logs:\n${children.map((c) => c.stderr().slice(-3000)).join("\n")}`,
      ).toBe(0);
      await observer.service(auditModule).checkpoints.checkpointAll();
      expect(await expectConsistent(observer)).toBe(600);
    } finally {
      for (const c of children) c.child.kill("SIGKILL");
      await Promise.all(children.map((c) => c.exited));
      await observer.stop();
      await database.drop();
    }
  }, 90_000);
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 15_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error("condition not met in time");
}
