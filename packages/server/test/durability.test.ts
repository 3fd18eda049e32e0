import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, createApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { createTestDatabase, describeEachEngine, engines, type TestDatabase } from "../src/testing/harness.js";
import { probeModule } from "../src/testing/probe-module.js";
import { freePort, type PlaneProcess, spawnPlane } from "../src/testing/spawn.js";

// Durability is proven by killing the process (SIGKILL) in the middle of work.
describeEachEngine("durability", (engine) => {
  let database: TestDatabase;
  let observer: App;
  const children: PlaneProcess[] = [];

  beforeEach(async () => {
    database = await createTestDatabase(engine);
    observer = await createApp({
      config: loadConfig({ ...database.env, BASEPLATE_LOG_LEVEL: "silent", BASEPLATE_WORKERS: "false" }),
      modules: [probeModule],
    });
    await observer.start({ listen: false, workers: false });
  });
  afterEach(async () => {
    for (const c of children) c.child.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    children.length = 0;
    await observer.stop();
    await database.drop();
  });

  const spawn = async (mode: string, env: Record<string, string>) => {
    const p = await spawnPlane(mode, { ...database.env, ...env });
    children.push(p);
    return p;
  };
  const db = () => observer.db.kysely;

  it("a committed job survives SIGKILL mid-run and runs after restart; a rolled-back one never runs", async () => {
    const first = await spawn("enqueue", {
      PROBE_ENQUEUE: "6",
      PROBE_JOB_DELAY_MS: "600000",
      BASEPLATE_WORKERS: "true",
      BASEPLATE_WORKER_CONCURRENCY: "4",
      BASEPLATE_JOB_LEASE_MS: "1500",
      BASEPLATE_WORKER_POLL_MS: "50",
    });
    const committed = first.ready.committed as string[];
    const rolledBack = first.ready.rolledBack as string;
    expect(committed).toHaveLength(6);
    await waitFor(
      async () => (await db().selectFrom("job").select("id").where("status", "=", "running").execute()).length === 4,
    );
    first.child.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");
    expect(await db().selectFrom("probe_job_run").selectAll().execute()).toHaveLength(0);

    const second = await spawn("work", {
      BASEPLATE_WORKERS: "true",
      BASEPLATE_JOB_LEASE_MS: "1500",
      BASEPLATE_WORKER_POLL_MS: "50",
    });
    await waitFor(async () => (await db().selectFrom("probe_job_run").select("id").execute()).length >= 6, 20_000);
    const runs = await db().selectFrom("probe_job_run").select("job_id").execute();
    expect(runs.map((r) => r.job_id).sort()).toEqual([...committed].sort());
    const jobs = await db().selectFrom("job").select(["id", "status"]).where("name", "=", "probe.record").execute();
    expect(jobs.every((j) => j.status === "succeeded")).toBe(true);
    expect(jobs.map((j) => j.id)).not.toContain(rolledBack);

    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0); // graceful shutdown
  });

  it("SIGKILL during a burst of idempotent writes: nothing committed is lost, nothing is applied twice", async () => {
    const port = await freePort();
    const env = { BASEPLATE_PORT: String(port), BASEPLATE_WORKERS: "false", BASEPLATE_IDEMPOTENCY_LOCK_SECONDS: "2" };
    const server = await spawn("serve", env);
    const url = server.ready.url as string;
    const keys = Array.from({ length: 600 }, (_, i) => `burst-${i}`);
    const send = (key: string, token: string) =>
      fetch(`${url}/v1/probe/items`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "idempotency-key": key, "content-type": "application/json" },
        body: JSON.stringify({ name: key }),
      }).then(
        async (res) => ({ key, status: res.status, body: await res.text() }),
        () => ({ key, status: 0, body: "" }),
      );

    const inflight = keys.map((k) => send(k, server.ready.token as string));
    await waitFor(async () => (await db().selectFrom("probe_item").select("id").execute()).length >= 20, 20_000, 5);
    // On SQLite the kill lands while writes are coalesced (several requests per commit, see
    // group-commit.test.ts): no acknowledged one may be lost, and none acknowledged before its commit.
    server.child.kill("SIGKILL");
    const firstRound = await Promise.all(inflight);
    await server.exited;
    const acknowledged = firstRound.filter((r) => r.status === 201);
    expect(firstRound.some((r) => r.status === 0)).toBe(true); // the kill really cut requests off

    // Every acknowledged write is durable, with its fact and its job.
    const committed = await db().selectFrom("probe_item").select(["id", "name"]).execute();
    for (const r of acknowledged) expect(committed.map((c) => c.id)).toContain(JSON.parse(r.body).id);
    expect(await db().selectFrom("probe_fact").select("id").execute()).toHaveLength(committed.length);
    expect(await db().selectFrom("job").select("id").execute()).toHaveLength(committed.length);

    // The client retries everything with the same keys after the restart: an acknowledged key
    // replays its response, any other runs once (a claim is recorded only with its write, so the
    // killed process left none behind; 409s are tolerated for planes that recorded claims first).
    const restarted = await spawn("serve", env);
    let secondRound = await Promise.all(keys.map((k) => send(k, restarted.ready.token as string)));
    for (let round = 0; round < 10 && secondRound.some((r) => r.status !== 201); round++) {
      expect(secondRound.every((r) => r.status === 201 || r.status === 409)).toBe(true);
      await new Promise((r) => setTimeout(r, 1000));
      secondRound = await Promise.all(
        secondRound.map((r) => (r.status === 201 ? r : send(r.key, restarted.ready.token as string))),
      );
    }
    expect(secondRound.every((r) => r.status === 201)).toBe(true);
    for (const r of acknowledged) {
      expect(secondRound.find((s) => s.key === r.key)?.body).toBe(r.body);
    }
    const items = await db().selectFrom("probe_item").select("name").execute();
    expect(items).toHaveLength(keys.length);
    expect(new Set(items.map((i) => i.name)).size).toBe(keys.length);
    expect(await db().selectFrom("probe_fact").select("id").execute()).toHaveLength(keys.length);
  }, 90_000);
});

describe.runIf(engines().includes("postgres"))("two processes on one PostgreSQL", () => {
  it("run 1,000 jobs: each exactly once, no attempt twice", async () => {
    const database = await createTestDatabase("postgres");
    const observer = await createApp({
      config: loadConfig({ ...database.env, BASEPLATE_LOG_LEVEL: "silent", BASEPLATE_WORKERS: "false" }),
      modules: [probeModule],
    });
    const children: PlaneProcess[] = [];
    try {
      await observer.start({ listen: false, workers: false });
      await observer.db.transaction(async (tx) => {
        for (let i = 0; i < 1000; i++) await observer.jobs.enqueue(tx, "probe.record", { i });
      });
      const env = {
        ...database.env,
        BASEPLATE_WORKERS: "true",
        BASEPLATE_WORKER_CONCURRENCY: "8",
        BASEPLATE_WORKER_POLL_MS: "20",
      };
      children.push(...(await Promise.all([spawnPlane("work", env), spawnPlane("work", env)])));
      const db = observer.db.kysely;
      await waitFor(
        async () =>
          (await db.selectFrom("job").select("id").where("status", "=", "succeeded").execute()).length === 1000,
        // Alone this takes a few seconds; beside the rest of the suite on 2 cores it has taken over a minute.
        150_000,
        250,
      );
      const runs = await db.selectFrom("probe_job_run").select(["job_id", "worker_pid"]).execute();
      expect(runs).toHaveLength(1000);
      expect(new Set(runs.map((r) => r.job_id)).size).toBe(1000);
      const pids = new Set(runs.map((r) => r.worker_pid));
      expect(pids.size).toBe(2); // both processes took part
      const attempts = await db.selectFrom("job").select("attempts").where("name", "=", "probe.record").execute();
      expect(attempts.every((a) => Number(a.attempts) === 1)).toBe(true);
    } finally {
      for (const c of children) c.child.kill("SIGKILL");
      await Promise.all(children.map((c) => c.exited));
      await observer.stop();
      await database.drop();
    }
  }, 200_000);
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 15_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error("condition not met in time");
}
