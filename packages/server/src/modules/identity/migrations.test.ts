import { sql } from "kysely";
import { afterEach, expect, it } from "vitest";
import { seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describeEachEngine("identity migrations", (engine) => {
  let t: TestApp;
  afterEach(async () => t?.close());

  /** foreignKeys lists identity's foreign keys as `table.column → target`, sorted. */
  const foreignKeys = async (): Promise<string[]> => {
    const tables = ["user", "session", "password_reset", "secret_key", "operator_token"];
    const out: string[] = [];
    if (engine === "sqlite") {
      for (const table of tables) {
        const { rows } = await sql<{
          from: string;
          table: string;
        }>`select * from pragma_foreign_key_list(${table})`.execute(t.app.db.kysely);
        for (const r of rows) out.push(`${table}.${r.from} → ${r.table}`);
      }
    } else {
      const { rows } = await sql<{ table_name: string; column_name: string; target: string }>`
        select kcu.table_name, kcu.column_name, ccu.table_name as target
        from information_schema.table_constraints tc
        join information_schema.key_column_usage kcu
          on kcu.constraint_schema = tc.constraint_schema and kcu.constraint_name = tc.constraint_name
        join information_schema.constraint_column_usage ccu
          on ccu.constraint_schema = tc.constraint_schema and ccu.constraint_name = tc.constraint_name
        where tc.constraint_type = 'FOREIGN KEY' and tc.table_schema = current_schema()`.execute(t.app.db.kysely);
      for (const r of rows)
        if (tables.includes(r.table_name)) out.push(`${r.table_name}.${r.column_name} → ${r.target}`);
    }
    return out.sort();
  };
  const counts = async () => {
    const db = t.app.db.kysely;
    const count = async (table: string) =>
      Number(
        (
          await db
            .selectFrom(table)
            .select((e) => e.fn.countAll().as("n"))
            .executeTakeFirstOrThrow()
        ).n,
      );
    return { user: await count("user"), session: await count("session"), secretKey: await count("secret_key") };
  };

  const OWN = ["operator_token.operator_id → operator", "password_reset.user_id → user", "session.user_id → user"];

  it("holds no foreign key into tenancy's tables; down restores them and up drops them again, keeping every row", async () => {
    t = await createTestApp(engine, { plane: true });
    const p = await seedPlane(t);
    const signUp = await t.inject({
      method: "POST",
      url: "/v1/users",
      headers: bearer(p.a.secretKey),
      payload: { email: "alice@example.com", password: TEST_PASSWORD },
    });
    expect(signUp.statusCode, signUp.body).toBe(201);
    expect(await foreignKeys()).toEqual(OWN);
    const before = await counts();
    expect(before.user).toBeGreaterThan(0);

    // The newest migrations of the plane are reverted first, down to this one.
    const names = t.app.migrator.names;
    const newer = names.slice(names.indexOf("202612011200_identity_drop_tenancy_fks"));
    expect(newer).toEqual(
      expect.arrayContaining(["202612011200_identity_drop_tenancy_fks", "202612021310_identity_tenants_vocabulary"]),
    );
    expect(await t.app.migrator.down(newer.length)).toEqual([...newer].reverse());
    expect(await foreignKeys()).toEqual(
      [
        ...OWN,
        "secret_key.environment_id → environment",
        "secret_key.surface_id → surface",
        "user.environment_id → environment",
      ].sort(),
    );
    expect(await counts()).toEqual(before);

    expect(await t.app.migrate()).toEqual(newer);
    expect(await foreignKeys()).toEqual(OWN);
    expect(await counts()).toEqual(before);

    // The rebuilt tables still serve: the secret key resolves, users are listed, the unique email holds.
    const list = await t.inject({ method: "GET", url: "/v1/users", headers: bearer(p.a.secretKey) });
    expect(list.statusCode, list.body).toBe(200);
    const again = await t.inject({
      method: "POST",
      url: "/v1/users",
      headers: bearer(p.a.secretKey),
      payload: { email: "Alice@example.com", password: TEST_PASSWORD },
    });
    expect(again.statusCode, again.body).toBe(409);
  }, 120_000); // every migration down and up again: slow on PostgreSQL when the suite loads the machine
});
