import { sql } from "kysely";
import { afterEach, beforeEach, expect, it } from "vitest";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { TestClock } from "../clock.js";
import { RetryLaterError } from "./queue.js";

describeEachEngine("job queue", (engine) => {
  let t: TestApp;
  let clock: TestClock;
  beforeEach(async () => {
    clock = new TestClock(Date.UTC(2026, 10, 26, 12, 0, 30));
    t = await createTestApp(engine, { clock });
  });
  afterEach(async () => t.close());

  const jobs = () => t.app.jobs;
  const enqueue = (name: string, payload: unknown = {}, options = {}) =>
    t.app.db.transaction((tx) => jobs().enqueue(tx, name, payload, options));
  const runs = async () =>
    (await t.app.db.kysely.selectFrom("probe_job_run").select("job_id").execute()).map((r) => r.job_id as string);
  const job = (id: string) =>
    t.app.db.kysely.selectFrom("job").selectAll().where("id", "=", id).executeTakeFirstOrThrow();

  it("a job enqueued in a committed transaction runs; one in a rolled-back transaction never does", async () => {
    const committed = await enqueue("probe.record");
    await expect(
      t.app.db.transaction(async (tx) => {
        await jobs().enqueue(tx, "probe.record", {});
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    const queued = await t.app.db.kysely.selectFrom("job").select("id").execute();
    expect(queued.map((j) => j.id)).toEqual([committed]);
    t.app.worker.start();
    await waitFor(async () => (await runs()).length === 1);
    await t.app.worker.stop(5000);
    expect(await runs()).toEqual([committed]);
  });

  it("job handlers' queries run on the jobs' own pool (PostgreSQL), requests' on theirs", async () => {
    const poolOf = async () =>
      engine === "postgres"
        ? (await sql<{ name: string }>`select current_setting('application_name') as name`.execute(t.app.db.kysely))
            .rows[0]?.name
        : "one connection";
    const seen: Array<string | undefined> = [];
    jobs().define({ name: "test.pool", handler: async () => void seen.push(await poolOf()) });
    await enqueue("test.pool");
    t.app.worker.start();
    await waitFor(async () => seen.length === 1);
    await t.app.worker.stop(5000);
    expect(seen).toEqual([engine === "postgres" ? "baseplate-worker" : "one connection"]);
    expect(await poolOf()).toBe(engine === "postgres" ? "baseplate" : "one connection");
  });

  it("the worker runs committed jobs end to end and records success", async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, () => enqueue("probe.record")));
    t.app.worker.start();
    await waitFor(async () => (await runs()).length === 20);
    await t.app.worker.stop(5000);
    expect((await runs()).sort()).toEqual([...ids].sort());
    for (const id of ids) expect((await job(id as string)).status).toBe("succeeded");
    expect((await jobs().stats()).queued).toBe(0);
  });

  it("retries a failing job with backoff, then dead-letters it after max attempts", async () => {
    let calls = 0;
    jobs().define({
      name: "test.flaky",
      maxAttempts: 3,
      handler: async () => {
        calls++;
        throw new Error(`failure ${calls}`);
      },
    });
    const id = (await enqueue("test.flaky")) as string;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [claimed] = await jobs().claim("w1", 1);
      expect(claimed?.id).toBe(id);
      expect(claimed?.attempts).toBe(attempt);
      const outcome = await jobs().fail(claimed as NonNullable<typeof claimed>, new Error(`failure ${attempt}`));
      const row = await job(id);
      if (attempt < 3) {
        expect(outcome).toBe("retry");
        expect(row.status).toBe("queued");
        const delay = Number(row.run_at) - clock.now();
        const base = 1000 * 2 ** (attempt - 1);
        expect(delay).toBeGreaterThanOrEqual(base * 0.8);
        expect(delay).toBeLessThanOrEqual(base * 1.2);
        expect(await jobs().claim("w1", 1)).toEqual([]); // not before its time
        clock.advance(delay);
      } else {
        expect(outcome).toBe("dead");
        expect(row.status).toBe("dead");
        expect(row.last_error).toBe("failure 3");
      }
    }
    clock.advance(10 * 3_600_000);
    expect(await jobs().claim("w1", 1)).toEqual([]);
    expect((await jobs().stats()).dead).toBe(1);
    expect(await jobs().retryDead(id)).toBe(true);
    expect((await jobs().claim("w1", 1))[0]?.attempts).toBe(1);
  });

  it("honours a RetryLaterError delay", async () => {
    jobs().define({ name: "test.later", handler: async () => undefined });
    const id = (await enqueue("test.later")) as string;
    const [claimed] = await jobs().claim("w1", 1);
    await jobs().fail(claimed as NonNullable<typeof claimed>, new RetryLaterError("429", 120_000));
    expect(Number((await job(id)).run_at)).toBe(clock.now() + 120_000);
  });

  it("a job whose worker died is claimed again after its lease; the dead worker cannot complete it", async () => {
    const id = (await enqueue("probe.record")) as string;
    const [first] = await jobs().claim("dead-worker", 1);
    expect(await jobs().claim("other", 1)).toEqual([]); // leased
    clock.advance(jobs().leaseMs + 1);
    const [second] = await jobs().claim("other", 1);
    expect(second?.id).toBe(id);
    expect(second?.attempts).toBe(2);
    expect(await jobs().succeed(first as NonNullable<typeof first>)).toBe(false);
    expect(await jobs().succeed(second as NonNullable<typeof second>)).toBe(true);
    expect((await job(id)).status).toBe("succeeded");
  });

  it("extending a lease keeps the job from being reclaimed", async () => {
    await enqueue("probe.record");
    const [claimed] = await jobs().claim("w1", 1);
    clock.advance(jobs().leaseMs - 1000);
    expect(await jobs().extendLease(claimed as NonNullable<typeof claimed>)).toBe(true);
    clock.advance(2000);
    expect(await jobs().claim("w2", 1)).toEqual([]);
  });

  it("concurrent claimers never receive the same job", async () => {
    await t.app.db.transaction(async (tx) => {
      for (let i = 0; i < 60; i++) await jobs().enqueue(tx, "probe.record", { i });
    });
    const batches = await Promise.all(Array.from({ length: 6 }, (_, i) => jobs().claim(`w${i}`, 15)));
    const ids = batches.flat().map((j) => j.id);
    expect(ids).toHaveLength(60);
    expect(new Set(ids).size).toBe(60);
  });

  it("a claim leases at most its limit, in run_at order", async () => {
    await t.app.db.transaction(async (tx) => {
      for (let i = 0; i < 30; i++) await jobs().enqueue(tx, "probe.record", { i }, { runAt: clock.now() - 1000 + i });
    });
    const first = await jobs().claim("w1", 4);
    expect(first.map((j) => j.payload)).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }]);
    const second = await jobs().claim("w2", 7);
    expect(second).toHaveLength(7);
    const running = await t.app.db.kysely.selectFrom("job").select("id").where("status", "=", "running").execute();
    expect(running).toHaveLength(11);
  });

  it("only claims jobs this process can run", async () => {
    const now = clock.now();
    await t.app.db.kysely
      .insertInto("job")
      .values({
        id: "job_foreign",
        name: "some.future_job",
        payload: "{}",
        status: "queued",
        run_at: now,
        attempts: 0,
        max_attempts: 3,
        created_at: now,
        updated_at: now,
      })
      .execute();
    expect(await jobs().claim("w1", 10)).toEqual([]);
  });

  it("a dedupe key enqueues once", async () => {
    expect(await enqueue("probe.record", {}, { dedupeKey: "once" })).toMatch(/^job_/);
    expect(await enqueue("probe.record", {}, { dedupeKey: "once" })).toBeNull();
  });

  it("enqueues a recurring job once per slot, however many schedulers race", async () => {
    jobs().define({ name: "test.tick", handler: async () => undefined });
    jobs().every("test.tick", "*/5 * * * *");
    const ticks = () =>
      t.app.db.kysely.selectFrom("job").select("dedupe_key").where("name", "=", "test.tick").execute();
    await jobs().enqueueDueSchedules(); // registers the schedule: next slot 12:05
    expect(await ticks()).toHaveLength(0);
    clock.set(Date.UTC(2026, 10, 26, 12, 5, 1));
    await Promise.all([jobs().enqueueDueSchedules(), jobs().enqueueDueSchedules(), jobs().enqueueDueSchedules()]);
    expect(await ticks()).toHaveLength(1);
    await jobs().enqueueDueSchedules();
    expect(await ticks()).toHaveLength(1);
    clock.set(Date.UTC(2026, 10, 26, 12, 10, 0));
    await jobs().enqueueDueSchedules();
    expect((await ticks()).map((r) => r.dedupe_key).sort()).toEqual([
      `schedule:test.tick:${Date.UTC(2026, 10, 26, 12, 5)}`,
      `schedule:test.tick:${Date.UTC(2026, 10, 26, 12, 10)}`,
    ]);
  });

  it("refuses invalid schedules and unknown jobs", async () => {
    expect(() => jobs().every("probe.record", "every minute")).toThrow();
    expect(() => jobs().every("nope.nope", "* * * * *")).toThrow(/unknown job/);
    await expect(enqueue("nope.nope")).rejects.toThrow(/unknown job/);
  });

  it("reports queue depth and the age of the oldest due job", async () => {
    await enqueue("probe.record");
    await enqueue("probe.record", {}, { runAt: clock.now() + 60_000 });
    clock.advance(5000);
    expect(await jobs().stats()).toEqual({ queued: 2, due: 1, running: 0, dead: 0, oldestDueAgeMs: 5000 });
  });

  it("prunes succeeded jobs after their retention, keeping the rest", async () => {
    const done = (await enqueue("probe.record")) as string;
    const [claimed] = await jobs().claim("w1", 1);
    await jobs().succeed(claimed as NonNullable<typeof claimed>);
    await enqueue("probe.record");
    clock.advance(25 * 3_600_000);
    expect(await jobs().prune(clock.now() - 24 * 3_600_000)).toBe(1);
    const left = await t.app.db.kysely.selectFrom("job").select("id").execute();
    expect(left.map((r) => r.id)).not.toContain(done);
    expect(left).toHaveLength(1);
  });

  it("stop waits for a running job to finish", async () => {
    let finished = false;
    jobs().define({
      name: "test.slow",
      handler: async () => {
        await new Promise((r) => setTimeout(r, 300));
        finished = true;
      },
    });
    const id = (await enqueue("test.slow")) as string;
    t.app.worker.start();
    await waitFor(async () => (await job(id)).status === "running");
    await t.app.worker.stop(5000);
    expect(finished).toBe(true);
    expect((await job(id)).status).toBe("succeeded");
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("condition not met in time");
}
