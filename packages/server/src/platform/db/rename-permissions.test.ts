import { expect, it } from "vitest";
import { createTestApp, describeEachEngine } from "../../testing/harness.js";
import { columnTypes } from "./columns.js";
import { fromJson, toJson } from "./db.js";
import { renameStoredPermissions } from "./rename-permissions.js";

describeEachEngine("renameStoredPermissions", (engine) => {
  it("rewrites the named permissions of JSON array columns, and only rows that change", async () => {
    const t = await createTestApp(engine);
    try {
      const db = t.app.db.kysely;
      const c = columnTypes(engine);
      await db.schema
        .createTable("grants")
        .addColumn("id", "text", (col) => col.primaryKey())
        .addColumn("perms", c.json)
        .execute();
      await db
        .insertInto("grants")
        .values([
          { id: "a", perms: toJson(["tenant:read", "members:read"]) },
          { id: "b", perms: toJson(["members:*"]) },
          { id: "c", perms: toJson(["tenant:*", "tenant:update"]) },
        ])
        .execute();
      const renames = { "tenant:read": "tenants:read", "tenant:update": "tenants:update", "tenant:*": "tenants:*" };
      expect(await renameStoredPermissions(db, "grants", "perms", renames)).toBe(2);
      const rows = await db.selectFrom("grants").selectAll().orderBy("id").execute();
      expect(rows.map((r) => fromJson(r.perms))).toEqual([
        ["tenants:read", "members:read"],
        ["members:*"],
        ["tenants:*", "tenants:update"],
      ]);
      expect(await renameStoredPermissions(db, "grants", "perms", renames)).toBe(0);
    } finally {
      await t.close();
    }
  });
});
