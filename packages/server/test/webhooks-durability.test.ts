import { Webhook } from "standardwebhooks";
import { afterEach, beforeEach, expect, it } from "vitest";
import { type App, createApp, MODULES } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { eventsModule } from "../src/modules/events/index.js";
import { seedPlane } from "../src/testing/fixtures.js";
import { createTestDatabase, describeEachEngine, type TestApp, type TestDatabase } from "../src/testing/harness.js";
import { probeModule } from "../src/testing/probe-module.js";
import { type PlaneProcess, spawnPlane } from "../src/testing/spawn.js";
import { WebhookReceiver } from "../src/testing/webhook-receiver.js";

// Webhook delivery is at-least-once across crashes and processes (checklist WH-10): a worker
// process killed with SIGKILL while hundreds of deliveries are in flight loses none of them (the
// outbox and job leases bring them back after a restart), every delivery verifies with the
// external `standardwebhooks` library, and a message delivered twice carries the same webhook-id.
// Two processes on one PostgreSQL never attempt the same message at the same time.
// Scale: the 10,000 messages are scaled down (1,000 for the kill, 2,000 for two processes)
// to keep CI under a minute; the mechanisms do not depend on the count.

const WORKER_ENV = {
  BASEPLATE_WORKERS: "true",
  BASEPLATE_WORKER_CONCURRENCY: "32",
  BASEPLATE_WORKER_POLL_MS: "50",
  BASEPLATE_JOB_LEASE_MS: "2000",
  BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: "true",
  BASEPLATE_DATABASE_POOL_MAX: "8",
};

describeEachEngine("webhook delivery durability", (engine) => {
  let database: TestDatabase;
  let observer: App;
  let receiver: WebhookReceiver;
  const children: PlaneProcess[] = [];

  beforeEach(async () => {
    database = await createTestDatabase(engine);
    observer = await createApp({
      config: loadConfig({
        ...database.env,
        BASEPLATE_LOG_LEVEL: "silent",
        BASEPLATE_WORKERS: "false",
        BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: "true",
        BASEPLATE_PASSWORD_PROFILE: "test",
        NODE_ENV: "test",
      }),
      modules: [...MODULES, probeModule],
    });
    await observer.start({ listen: false, workers: false });
    receiver = new WebhookReceiver();
    await receiver.listen();
  });
  afterEach(async () => {
    for (const c of children) c.child.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    children.length = 0;
    await receiver.close();
    await observer.stop();
    await database.drop();
  });

  const spawn = async () => {
    const p = await spawnPlane("work-plane", { ...database.env, ...WORKER_ENV });
    children.push(p);
    return p;
  };
  const db = () => observer.db.kysely;

  /** setup seeds a plane, an endpoint on the loopback receiver and `n` events (so `n` messages). */
  async function setup(n: number): Promise<{ secret: string; messageIds: string[] }> {
    const plane = await seedPlane({ app: observer } as TestApp);
    const inject = (method: string, url: string, payload: object) =>
      observer.http.fastify.inject({
        method: method as "POST",
        url,
        headers: { authorization: `Bearer ${plane.a.secretKey}` },
        payload,
      });
    await inject("POST", "/v1/events/types", { name: "load.tested", description: "load" });
    const created = await inject("POST", "/v1/webhooks/endpoints", {
      url: `${receiver.url}/hook`,
      eventTypes: ["load.*"],
    });
    expect(created.statusCode, created.body).toBe(201);
    const events = observer.service(eventsModule);
    for (let i = 0; i < n; i += 250) {
      await observer.db.transaction(async (tx) => {
        for (let j = i; j < Math.min(n, i + 250); j++) {
          await events.log.append(tx, {
            environmentId: plane.a.id,
            tenantId: null,
            type: "load.tested",
            source: "test",
            subject: null,
            time: Date.now(),
            data: { j },
          });
        }
      });
    }
    const rows = await db().selectFrom("webhook_message").select("id").execute();
    expect(rows).toHaveLength(n);
    return { secret: created.json().secret, messageIds: rows.map((r) => r.id as string) };
  }

  async function settled(): Promise<number> {
    const rows = await db().selectFrom("webhook_message").select("id").where("status", "=", "succeeded").execute();
    return rows.length;
  }

  function checkDeliveries(secret: string, messageIds: string[]): void {
    const byId = new Map<string, string>();
    const webhook = new Webhook(secret);
    for (const d of receiver.received) {
      webhook.verify(d.body, d.headers as Record<string, string>);
      const id = String(d.headers["webhook-id"]);
      const body = byId.get(id);
      // A duplicate is the same message: same webhook-id, same body.
      if (body !== undefined) expect(d.body).toBe(body);
      byId.set(id, d.body);
    }
    expect([...byId.keys()].sort()).toEqual([...messageIds].sort());
  }

  it("WH-10: SIGKILL with deliveries in flight loses none; duplicates only with the same webhook-id", async () => {
    const n = 1000;
    const { secret, messageIds } = await setup(n);
    receiver.answer = () => ({ status: 200, delayMs: 30 });
    const first = await spawn();
    await waitFor(() => receiver.received.length >= n / 4, 30_000);
    first.child.kill("SIGKILL");
    await first.exited;
    const before = await settled();
    expect(before).toBeLessThan(n);

    const second = await spawn();
    await waitFor(async () => (await settled()) === n, 60_000);
    checkDeliveries(secret, messageIds);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  }, 120_000);

  if (engine === "postgres") {
    it("two processes on one database deliver every message, never the same one at the same time", async () => {
      const n = 2000;
      const { secret, messageIds } = await setup(n);
      receiver.answer = () => ({ status: 200, delayMs: 5 });
      const [a, b] = await Promise.all([spawn(), spawn()]);
      await waitFor(async () => (await settled()) === n, 60_000);
      checkDeliveries(secret, messageIds);
      expect(receiver.maxConcurrentPerId).toBe(1);
      expect(receiver.received).toHaveLength(n);
      const attempts = await db().selectFrom("webhook_attempt").select("message_id").execute();
      expect(attempts).toHaveLength(n);
      for (const p of [a, b]) p?.child.kill("SIGTERM");
    }, 120_000);
  }
});

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
