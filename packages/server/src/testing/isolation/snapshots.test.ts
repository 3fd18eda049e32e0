import { sql } from "kysely";
import { afterEach, beforeEach, expect, it } from "vitest";
import { createTestApp, describeEachEngine, type TestApp } from "../harness.js";
import { changeMark, changesSince, installChangeLog, listTables } from "./snapshots.js";

// The isolation suites prove "a refused call changed nothing" from a change log written by
// triggers. This proves the log itself: every insert, update and delete is seen, netted out as a
// comparison of full snapshots would (a row added then removed, or changed and changed back, is no
// change), volatile columns are ignored, and a rolled-back write leaves nothing.

describeEachEngine("isolation change log", (engine) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(engine);
    await sql`create table scratch_token (id text primary key, name text not null, last_used_at bigint)`.execute(
      t.app.db.kysely,
    );
    await installChangeLog(t, await listTables(t));
  });
  afterEach(async () => t.close());

  const run = (statement: string) => sql.raw(statement).execute(t.app.db.kysely);

  it("sees inserts, updates and deletes, netted out, volatile columns aside", async () => {
    expect(await listTables(t)).not.toContain("iso_change_log");
    const start = await changeMark(t);
    expect(await changesSince(t, start)).toEqual([]);

    await run("insert into scratch_token (id, name, last_used_at) values ('a', 'first', 1)");
    const inserted = await changesSince(t, start);
    expect(inserted).toHaveLength(1);
    expect(inserted[0]?.table).toBe("scratch_token");
    expect(inserted[0]?.added).toHaveLength(1);
    expect(inserted[0]?.added[0]).toContain('"first"');
    expect(inserted[0]?.added[0]).not.toContain("last_used_at");
    expect(inserted[0]?.removed).toEqual([]);

    // Only the volatile column changes: no change.
    const afterInsert = await changeMark(t);
    await run("update scratch_token set last_used_at = 2 where id = 'a'");
    expect(await changesSince(t, afterInsert)).toEqual([]);

    // A real change is one row removed and one added.
    await run("update scratch_token set name = 'renamed' where id = 'a'");
    const renamed = await changesSince(t, afterInsert);
    expect(renamed).toHaveLength(1);
    expect(renamed[0]?.added[0]).toContain('"renamed"');
    expect(renamed[0]?.removed[0]).toContain('"first"');

    // Changed back, and a row inserted then deleted: nothing, net.
    await run("update scratch_token set name = 'first' where id = 'a'");
    await run("insert into scratch_token (id, name) values ('b', 'brief')");
    await run("delete from scratch_token where id = 'b'");
    expect(await changesSince(t, afterInsert)).toEqual([]);

    // A delete is seen.
    await run("delete from scratch_token where id = 'a'");
    const deleted = await changesSince(t, afterInsert);
    expect(deleted[0]?.removed).toHaveLength(1);
    expect(deleted[0]?.added).toEqual([]);
  });

  it("a rolled-back write leaves no record", async () => {
    const start = await changeMark(t);
    await expect(
      t.app.db.kysely.transaction().execute(async (tx) => {
        await sql`insert into scratch_token (id, name) values ('x', 'doomed')`.execute(tx);
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    expect(await changesSince(t, start)).toEqual([]);
  });
});
