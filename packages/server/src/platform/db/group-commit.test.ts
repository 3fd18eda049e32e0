import { sql } from "kysely";
import { afterEach, beforeEach, expect, it } from "vitest";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { afterCommit, beforeCommit, type Db } from "./db.js";

// Transactions started together share one commit on SQLite (group commit); on both engines each
// caller's transaction stays its own: a caller that throws leaves no trace and its neighbours
// commit, hooks run for their own transaction only, and nobody is answered before the commit.
describeEachEngine("transactions under concurrency (group commit on SQLite)", (engine) => {
  let t: TestApp;
  let db: Db;

  beforeEach(async () => {
    t = await createTestApp(engine);
    db = t.app.db;
    await sql`create table gc_row (id integer primary key, owner text not null)`.execute(db.kysely);
  });
  afterEach(async () => {
    await sql`drop table if exists gc_row`.execute(db.kysely);
    await t.close();
  });

  const rows = async () =>
    (await sql<{ id: number }>`select id from gc_row order by id`.execute(db.kysely)).rows.map((r) => Number(r.id));

  it("200 concurrent transactions: every one commits, in far fewer commits on SQLite", async () => {
    const before = db.groupCommit ? { ...db.groupCommit.stats } : null;
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        db.transaction(async (tx) => {
          await sql`insert into gc_row (id, owner) values (${i}, ${`c${i}`})`.execute(tx);
          return i;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(await rows()).toHaveLength(200);
    if (db.groupCommit && before) {
      const batches = db.groupCommit.stats.batches - before.batches;
      expect(db.groupCommit.stats.transactions - before.transactions).toBe(200);
      expect(batches).toBeLessThanOrEqual(10);
    }
  });

  it("a caller that throws is rolled back alone; its neighbours in the same batch commit", async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        db.transaction(async (tx) => {
          await sql`insert into gc_row (id, owner) values (${i}, ${"x"})`.execute(tx);
          if (i % 3 === 1) throw new Error(`caller ${i} refused`);
          // On SQLite a failing statement that the caller catches does not spoil the batch either
          // (on PostgreSQL it aborts the caller's own transaction, as it always did).
          if (i % 3 === 2 && engine === "sqlite") {
            await sql`insert into gc_row (id, owner) values (${i}, ${"dup"})`.execute(tx).catch(() => undefined);
          }
          return i;
        }),
      ),
    );
    const rejected = outcomes.flatMap((o, i) => (o.status === "rejected" ? [i] : []));
    expect(rejected).toEqual(Array.from({ length: 10 }, (_, k) => k * 3 + 1));
    expect(await rows()).toEqual(Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 3 !== 1));
  });

  it("hooks run for their own transaction only: after-commit never for a rolled-back caller", async () => {
    const ran: string[] = [];
    await Promise.allSettled([
      db.transaction(async (tx) => {
        beforeCommit(tx, async () => void (await sql`insert into gc_row (id, owner) values (1, ${"a"})`.execute(tx)));
        afterCommit(tx, () => void ran.push("a"));
      }),
      db.transaction(async (tx) => {
        afterCommit(tx, () => void ran.push("b"));
        throw new Error("b fails");
      }),
      db.transaction(async (tx) => {
        afterCommit(tx, () => void ran.push("c"));
        beforeCommit(tx, async () => {
          throw new Error("c fails before its commit");
        });
      }),
    ]);
    expect(ran).toEqual(["a"]);
    expect(await rows()).toEqual([1]);
  });

  it("no caller is answered before its write is committed and visible to another connection's read", async () => {
    const seen = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        db
          .transaction(async (tx) => {
            await sql`insert into gc_row (id, owner) values (${i}, ${"v"})`.execute(tx);
          })
          // Read outside the transaction, right after being answered.
          .then(async () => (await rows()).includes(i)),
      ),
    );
    expect(seen.every(Boolean)).toBe(true);
  });
});

describeEachEngine("a transaction that loses a deadlock runs again", (engine) => {
  it("two transactions locking two rows in opposite orders both commit", async () => {
    const t = await createTestApp(engine);
    const db = t.app.db;
    try {
      await sql`create table gc_pair (id integer primary key, n integer not null)`.execute(db.kysely);
      await sql`insert into gc_pair (id, n) values (1, 0), (2, 0)`.execute(db.kysely);
      let arrived = 0;
      let release: () => void = () => {};
      const bothHoldOne = new Promise<void>((resolve) => {
        release = resolve;
      });
      const cross = (first: number, second: number) =>
        db.transaction(async (tx) => {
          await sql`update gc_pair set n = n + 1 where id = ${first}`.execute(tx);
          // On PostgreSQL both wait here holding one row each, then each asks for the other's row.
          if (engine === "postgres" && ++arrived === 2) release();
          if (engine === "postgres" && arrived <= 2) await Promise.race([bothHoldOne, sleep(2000)]);
          await sql`update gc_pair set n = n + 1 where id = ${second}`.execute(tx);
        });
      await Promise.all([cross(1, 2), cross(2, 1)]);
      const rows = (await sql<{ n: number }>`select n from gc_pair order by id`.execute(db.kysely)).rows;
      expect(rows.map((r) => Number(r.n))).toEqual([2, 2]);
    } finally {
      await sql`drop table if exists gc_pair`.execute(db.kysely);
      await t.close();
    }
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
