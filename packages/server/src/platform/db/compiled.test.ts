import { sql } from "kysely";
import { afterEach, beforeEach, expect, it } from "vitest";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";

interface T {
  cq_row: { id: string; env: string; name: string; n: number };
}

// A compiled query is built once and run with new arguments: same rows as the built query, in or
// out of a transaction, on both engines; misuse is refused instead of running the wrong SQL.
describeEachEngine("compiled queries", (engine) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(engine);
    await sql`create table cq_row (id text primary key, env text not null, name text not null, n integer not null)`.execute(
      t.app.db.kysely,
    );
    await sql`insert into cq_row (id, env, name, n) values ('a', 'e1', 'A', 1), ('b', 'e1', 'B', 2), ('c', 'e2', 'C', 3)`.execute(
      t.app.db.kysely,
    );
  });
  afterEach(async () => {
    await sql`drop table if exists cq_row`.execute(t.app.db.kysely);
    await t.close();
  });

  it("answers like the built query for every argument, with constants kept", async () => {
    const db = t.app.db.tables<T>();
    const find = db.compiled((q, env: string, id: string) =>
      q.selectFrom("cq_row").selectAll().where("env", "=", env).where("id", "=", id).where("n", ">", 0),
    );
    expect(await find(undefined, "e1", "a")).toEqual([{ id: "a", env: "e1", name: "A", n: 1 }]);
    expect(await find(undefined, "e1", "c")).toEqual([]);
    expect(await find(undefined, "e2", "c")).toEqual([{ id: "c", env: "e2", name: "C", n: 3 }]);
    // Arguments that look like SQL are values.
    expect(await find(undefined, "e1' or '1'='1", "a")).toEqual([]);
    const inTx = await t.app.db.transaction(async (tx) => {
      await sql`update cq_row set name = 'changed' where id = 'b'`.execute(tx);
      return find(tx, "e1", "b");
    });
    expect(inTx[0]?.name).toBe("changed");
  });

  it("refuses a builder that does not use every argument as a plain value", async () => {
    const db = t.app.db.tables<T>();
    const bad = db.compiled((q, env: string, _unused: string) =>
      q.selectFrom("cq_row").selectAll().where("env", "=", env),
    );
    await expect(bad(undefined, "e1", "x")).rejects.toThrow(/every argument/);
  });
});
